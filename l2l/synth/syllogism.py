"""ProntoQA-style syllogism chains over fictional categories, with distractors (True/False).

"Max is a wumpus. Every wumpus is a yumpus. Yumpuses are not sour. ... Is Max sour?"
The query property hangs off the end of a chain `depth` subtype steps long; distractors
are extra categories (some giving the opposite property) that do not apply to the entity.
"""

from __future__ import annotations

import random

from l2l.synth.base import Family, PuzzleRecord, Z3Model, commented, constraint, formulation, ident, option_lines, pick, program_text, reject, truth_value

CATEGORIES = ["wumpus", "yumpus", "zumpus", "dumpus", "rompus", "numpus", "tumpus", "vumpus", "impus", "jompus",
              "gorpus", "shumpus", "lempus", "sterpus", "grimpus", "lorpus", "brimpus", "felpus", "quimpus", "borpus"]
PROPERTIES = ["shy", "aggressive", "wooden", "red", "opaque", "sour", "earthy", "small", "bright", "cold", "transparent",
              "feisty", "happy", "fruity", "spicy", "metallic", "luminous", "dull", "nervous", "kind", "large", "hot",
              "floral", "liquid", "blue", "amenable", "angry", "sweet", "muffled", "bitter"]
ENTITIES = ["Max", "Sam", "Alex", "Polly", "Rex", "Wren", "Fae", "Stella", "Sally", "Leo", "Nia"]

ISA = ["Every {a} is a {b}.", "Each {a} is a {b}.", "{A}es are {b}es.", "All {a}es are {b}es.", "A {a} is always a {b}."]
HAS = ["{A}es are {p}.", "Every {a} is {p}.", "Each {a} is {p}.", "All {a}es are {p}."]
HASNOT = ["{A}es are not {p}.", "No {a} is {p}.", "Every {a} is not {p}.", "{A}es are never {p}."]
ASK = ["Is the following statement true or false? {s}", "True or false: {s}", "Based on the statements above, is this true or false? {s}",
       "Decide whether the following claim follows or is refuted: {s}"]


class Syllogism(Family):
    name = "syllogism"
    description = (
        "ProntoQA-style syllogism chains over made-up category names (wumpus, yumpus, ...): 'Every A is a B', "
        "'Bs are (not) P' and 'X is an A'. Following the subtype chain from the entity's category decides whether the "
        "entity has the queried property. Distractor sentences mention categories the entity does not belong to, some "
        "with the opposite property. Sentences are shuffled. The answer is A) True or B) False."
    )
    difficulty_knobs = {"depth": (1, 5), "distractors": (0, 4)}

    def build(self, rng: random.Random, depth: int, distractors: int) -> PuzzleRecord:
        cats = rng.sample(CATEGORIES, depth + 1 + distractors)
        chain, extra = cats[: depth + 1], cats[depth + 1 :]
        props = rng.sample(PROPERTIES, depth + 1 + distractors)
        ent = rng.choice(ENTITIES)
        used: list[str] = []
        facts: list[tuple[str, str]] = []  # (text, formula over x: a rule for every individual x)
        var = lambda w: f"{w}(x)"  # noqa: E731  (a property: "x is (a) <w>", one Bool per individual from p.Pred)

        def isa(a, b):
            facts.append((pick(rng, ISA, used, "isa", a=a, b=b, A=a.capitalize()), f"Implies({var(a)}, {var(b)})"))

        def has(a, p, positive):
            tpl = HAS if positive else HASNOT
            facts.append((pick(rng, tpl, used, "has" if positive else "hasnot", a=a, p=p, A=a.capitalize()),
                          f"Implies({var(a)}, {var(p) if positive else f'Not({var(p)})'})"))

        for a, b in zip(chain, chain[1:]):
            isa(a, b)
        polar = {}
        for i, c in enumerate(chain):
            if i == 0 and depth > 0 and rng.random() < 0.5:
                continue  # not every link carries a property
            polar[c] = rng.random() < 0.5
            has(c, props[i], polar[c])
        if chain[-1] not in polar:
            polar[chain[-1]] = True
            has(chain[-1], props[depth], True)
        qprop = props[depth]
        for j, d in enumerate(extra):
            # Distractor: either the opposite property on an unrelated category, or a fresh one.
            if j == 0:
                has(d, qprop, not polar[chain[-1]])
            else:
                has(d, props[depth + 1 + j], rng.random() < 0.5)
            if rng.random() < 0.5:
                isa(d, rng.choice(chain[1:] + extra[:j]))
        rng.shuffle(facts)
        who = ident(ent)
        fact = (f"{ent} is a {chain[0]}.", f'{chain[0]}("{who}")')

        asked_positive = rng.random() < 0.5
        stmt = f"{ent} is {'' if asked_positive else 'not '}{qprop}."
        q = f'{qprop}("{who}")' if asked_positive else f'Not({qprop}("{who}"))'
        words = list(dict.fromkeys(w for _, e in facts for w in _atoms(e)))  # categories and properties, in order of use
        lines = ["p = Puzzle()", f'people = ["{who}"]']
        lines += [f'{w} = p.Pred("{w}", people)' for w in words]
        lines.append("for x in people:")
        lines += [commented(f"p.add({e})", t, "    ") for t, e in facts]
        lines.append(commented(f"p.add({fact[1]})", fact[0]))
        # Generation-time check, on the gold program's own lines: the claim is proved or refuted.
        m = Z3Model.from_program(lines)
        label = truth_value(m, q) if m.sat() else "Unknown"
        if label == "Unknown":
            reject("query not decided")
        answer = "A" if label == "True" else "B"
        options = option_lines(["True", "False"])
        question = " ".join(t_ for t_, _ in facts + [fact]) + "\n" + pick(rng, ASK, used, "ask", s=stmt) + "\n" + "\n".join(options)
        program = program_text(lines, [commented(f"answer(p.truth({q}))", stmt)])
        form = formulation(
            summary=f"Decide from the category rules whether '{stmt}' is true or false.",
            model_type="logic",
            variables=[{"name": ", ".join(words), "type": "bool", "domain": f"true/false for each individual ({who})",
                        "description": "the categories and properties of each individual"}],
            constraints=[constraint(f"for every x: {e}", t_) for t_, e in facts] + [constraint(fact[1].replace('"', ""), fact[0])],
            objective=f"truth value of {q.replace(chr(34), '')}: True or False",
        )
        return PuzzleRecord(id="", family=self.name, question=question, options=options, answer=answer, formulation=form,
                            program=program, difficulty={"sentences": len(facts) + 1}, meta={"templates": used})


def _atoms(expr: str) -> list[str]:
    import re

    return re.findall(r"([a-z_]+)\(x\)", expr)
