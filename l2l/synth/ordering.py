"""Logical-deduction ordering puzzles (BIG-Bench Hard style): objects in a line, positional clues.

The generator samples a hidden arrangement, draws true clues until z3 finds exactly one
arrangement, drops clues that are not needed, optionally adds redundant ones, and asks
which of n statements about one position is true.
"""

from __future__ import annotations

import random
from typing import Any

from l2l.synth.base import (Family, PuzzleRecord, Z3Model, add_lines, commented, constraint, fitting_options, formulation, ident, join_names,
                            minimal_unique_clues, names_text, option_lines, options_block, pick, program_text, reject)

ORD = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh"]

# Each scene: the objects, how the intro names the setting, and how clues talk about
# position 1 (the "low" end) and the high end.
SCENES: list[dict[str, Any]] = [
    {
        "key": "shelf",
        "pool": ["red book", "blue book", "green book", "black book", "white book", "orange book", "purple book", "gray book", "yellow book", "brown book"],
        "intro": ["On a shelf, there are {n} books: {objs}.", "A shelf holds {n} books in a row: {objs}.", "Someone arranged {n} books on a shelf: {objs}."],
        "less": ["the {a} is to the left of the {b}", "the {b} is to the right of the {a}", "the {a} sits somewhere left of the {b}"],
        "adj": ["the {a} is immediately to the left of the {b}", "the {b} is directly to the right of the {a}"],
        "low": ["the {a} is the {k} from the left", "counting from the left, the {a} is in {k} place"],
        "high": ["the {a} is the {k} from the right", "counting from the right, the {a} is in {k} place"],
        "low1": ["the {a} is the leftmost", "the {a} is at the far left"],
        "high1": ["the {a} is the rightmost", "the {a} is at the far right"],
    },
    {
        "key": "branch",
        "pool": ["owl", "robin", "crow", "hawk", "falcon", "blue jay", "quail", "cardinal", "hummingbird", "raven"],
        "intro": ["On a branch, there are {n} birds: {objs}.", "{n} birds perch in a line on a branch: {objs}."],
        "less": ["the {a} is to the left of the {b}", "the {b} is to the right of the {a}"],
        "adj": ["the {a} is directly to the left of the {b}", "the {b} sits right next to the {a}, on its right"],
        "low": ["the {a} is the {k} from the left", "the {a} perches {k} from the left"],
        "high": ["the {a} is the {k} from the right", "the {a} perches {k} from the right"],
        "low1": ["the {a} is the leftmost", "no bird is to the left of the {a}"],
        "high1": ["the {a} is the rightmost", "no bird is to the right of the {a}"],
    },
    {
        "key": "race",
        "pool": ["Ana", "Eli", "Joe", "Mya", "Rob", "Eve", "Dan", "Amy", "Mel", "Ada"],
        "intro": ["In a golf tournament, there were {n} golfers: {objs}.", "{n} runners took part in a race: {objs}.", "The results of a race with {n} participants ({objs}) are described below."],
        "less": ["{a} finished above {b}", "{b} finished below {a}", "{a} finished ahead of {b}", "{b} came in behind {a}"],
        "adj": ["{a} finished directly ahead of {b}", "{b} finished immediately after {a}"],
        "low": ["{a} finished {k}", "{a} came in {k}"],
        "high": ["{a} finished {k}-to-last", "{a} was {k} counting from the last place"],
        "low1": ["{a} finished first", "{a} won"],
        "high1": ["{a} finished last", "{a} came in last"],
    },
    {
        "key": "age",
        "pool": ["sedan", "convertible", "bus", "tractor", "minivan", "limousine", "truck", "hatchback", "station wagon", "motorcycle"],
        "intro": ["In an antique car show, there are {n} vehicles: {objs}.", "An antique show displays {n} vehicles: {objs}."],
        "less": ["the {a} is older than the {b}", "the {b} is newer than the {a}", "the {a} was built before the {b}"],
        "adj": ["the {b} was built right after the {a}", "the {a} is the next older vehicle before the {b}"],
        "low": ["the {a} is the {k}-oldest"],
        "high": ["the {a} is the {k}-newest"],
        "low1": ["the {a} is the oldest", "no vehicle is older than the {a}"],
        "high1": ["the {a} is the newest", "no vehicle is newer than the {a}"],
    },
    {
        "key": "price",
        "pool": ["apples", "pears", "plums", "kiwis", "mangoes", "peaches", "loquats", "oranges", "melons", "cherries"],
        "intro": ["A fruit stand sells {n} fruits: {objs}.", "At a market stall there are {n} kinds of fruit: {objs}."],
        "less": ["the {a} are cheaper than the {b}", "the {b} are more expensive than the {a}", "the {a} cost less than the {b}"],
        "adj": ["the {b} are the next more expensive fruit after the {a}"],
        "low": ["the {a} are the {k}-cheapest"],
        "high": ["the {a} are the {k}-most expensive"],
        "low1": ["the {a} are the cheapest"],
        "high1": ["the {a} are the most expensive"],
    },
]

PREFACE = [
    "The following paragraph describes a set of {n} objects arranged in a fixed order. The statements are logically consistent.",
    "Read the description below; its statements are consistent and fix a single order.",
    "",
]
ASK = ["Which of the following is true?", "Which statement is correct?", "Options:"]


def _pos_phrase(scene: dict, end: str, k: int, obj: str, rng: random.Random, used: list[str]) -> str:
    if k == 1:
        return pick(rng, scene, used, end + "1", a=obj)
    return pick(rng, scene, used, end, a=obj, k=ORD[k - 1])


# What position 1 means in each scene (the formulator prompt's direction: 1 = leftmost, oldest,
# cheapest, first to finish) and what the position variables hold.
LOW_END = {"shelf": "leftmost", "branch": "leftmost", "race": "first to finish", "age": "oldest", "price": "cheapest"}
POSITION_OF = {"shelf": "position of each book from the left", "branch": "position of each bird from the left",
               "race": "finishing place of each golfer or runner", "age": "rank of each vehicle by age, oldest first",
               "price": "rank of each fruit by price, cheapest first"}


def _from_end(k: int) -> str:
    """The position k-th from the high end, written as the formulator prompt asks: n, n - 1, ..."""
    return "n" if k == 1 else f"n - {k - 1}"


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


class Ordering(Family):
    name = "ordering"
    description = (
        "Logical-deduction ordering puzzles: 3 to 7 objects (books on a shelf, birds on a branch, race finishers, "
        "vehicles by age, fruits by price) stand in a strict order, and clues relate two objects (one is left of / "
        "older than / finished above another, possibly immediately) or fix one object's position counted from either "
        "end. The clues determine exactly one arrangement. The question lists one statement per object about the same "
        "position and asks which is true; the answer is an option letter."
    )
    difficulty_knobs = {"objects": (3, 7), "extra_clues": (0, 2)}

    def build(self, rng: random.Random, objects: int, extra_clues: int) -> PuzzleRecord:
        n = objects
        scene = rng.choice(SCENES)
        objs = rng.sample(scene["pool"], n)
        names = {o: ident(o) for o in objs}
        perm = objs[:]
        rng.shuffle(perm)
        pos = {o: i + 1 for i, o in enumerate(perm)}  # position 1 = left / first / oldest / cheapest

        def random_clue() -> tuple[str, tuple]:
            r = rng.random()
            if r < 0.55:
                a, b = rng.sample(objs, 2)
                if pos[a] > pos[b]:
                    a, b = b, a
                return f"{names[a]} < {names[b]}", ("less", a, b)
            if r < 0.7 and n > 3:
                i = rng.randrange(n - 1)
                a, b = perm[i], perm[i + 1]
                return f"{names[a]} + 1 == {names[b]}", ("adj", a, b)
            a = rng.choice(objs)
            if rng.random() < 0.5:
                return f"{names[a]} == {pos[a]}", ("low", a, pos[a])
            return f"{names[a]} == {pos[a]}", ("high", a, n + 1 - pos[a])

        base = [f"And({v} >= 1, {v} <= {n})" for v in names.values()] + [f"Distinct({', '.join(names.values())})"]

        def unique_with(cs: list[tuple[str, tuple]]) -> int:
            m = Z3Model({v: "Int" for v in names.values()})
            for e in base + [c[0] for c in cs]:
                m.add(e)
            return m.count(list(names.values()))

        clues: list[tuple[str, tuple]] = minimal_unique_clues(random_clue, unique_with, n - 1, 4 * n)
        pool = [random_clue() for _ in range(8)]
        extras = [c for c in pool if c[0] not in {x[0] for x in clues}][:extra_clues]
        clues += extras
        rng.shuffle(clues)

        used: list[str] = []
        texts = []
        for expr, (kind, a, b) in clues:
            if kind in ("less", "adj"):
                texts.append(pick(rng, scene, used, kind, a=a, b=b) + ".")
            else:
                texts.append(_pos_phrase(scene, kind, b, a, rng, used) + ".")

        fixed = {a for _, (kind, a, _b) in clues if kind in ("low", "high")}
        candidates = [k for k in range(1, n + 1) if perm[k - 1] not in fixed] or list(range(1, n + 1))
        k = rng.choice(candidates)
        end = rng.choice(["low", "high"])
        kk = k if end == "low" else n + 1 - k
        opt_texts = [_pos_phrase(scene, end, kk, o, rng, None) for o in objs]
        opts = option_lines(opt_texts)
        answer = "ABCDEFG"[objs.index(perm[k - 1])]

        intro = pick(rng, scene, used, "intro", n=n, objs=join_names([o if scene["key"] in ("race", "price") else _article(o) for o in objs]))
        preface = pick(rng, PREFACE, used, "preface", n=n)
        ask = pick(rng, ASK, used, "ask")
        question = " ".join(x for x in [preface, intro, " ".join(texts)] if x) + "\n" + ask + "\n" + "\n".join(opts)

        cond = f"== {k}" if end == "low" else f"== {_from_end(kk)}"
        opt_exprs = {"ABCDEFG"[i]: f"{names[o]} {cond}" for i, o in enumerate(objs)}
        low_end = LOW_END[scene["key"]]
        idents = [names[o] for o in objs]
        lines = ["p = Puzzle()", commented(f"{', '.join(idents)} = p.Order({names_text(idents)})", f"position 1 = {low_end}, n = {n} = the other end")]
        # "k-th from the right" is written == n - (k - 1), as the formulator prompt asks
        formulas = [f"{names[a]} == {_from_end(b)}" if kind == "high" else e for e, (kind, a, b) in clues]
        lines += add_lines(list(zip(texts, formulas)))
        # Generation-time check, on the program's own lines: one arrangement, and only the answer holds in it.
        m = Z3Model.from_program(lines)
        if m.count(idents) != 1 or fitting_options(m, opt_exprs, "true") != [answer]:
            reject("gold program does not fix the answer")
        tail = options_block({k_: (e, t) for (k_, e), t in zip(opt_exprs.items(), opt_texts)})
        tail.append(commented('answer(p.choose(options, mode="true"))', "the option that is true in the unique arrangement"))
        program = program_text(lines, tail)
        form = formulation(
            summary=f"Arrange {n} objects in order ({scene['key']}) from the clues and find which option is true.",
            model_type="csp",
            variables=[{"name": ", ".join(idents), "type": "int", "domain": f"distinct positions 1..{n} (1 = {low_end}, n = {n})",
                        "description": POSITION_OF[scene["key"]]}],
            constraints=[constraint(e, t) for t, e in zip(texts, formulas)],
            objective="the option that is true in the unique arrangement: " + "; ".join(f"{l}) {e}" for l, e in opt_exprs.items()),
        )
        return PuzzleRecord(
            id="", family=self.name, question=question, options=opts, answer=answer,
            formulation=form, program=program, difficulty={"clues": len(clues)}, meta={"templates": used},
        )
