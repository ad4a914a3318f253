"""Knights and knaves (and the BIG-Bench Hard "web of lies" chain).

Island style: a hidden knight/knave assignment, then statements that are true exactly when
their speaker is a knight (encoded as ``speaker == content``), added until z3 finds one
assignment; unneeded statements are dropped. Web style: one person's honesty is given and
each next person comments on the previous one.
"""

from __future__ import annotations

import random

from l2l.synth.base import (LETTERS, Family, PuzzleRecord, Z3Model, add_lines, commented, constraint, fitting_options, formulation, ident,
                            join_names, option_lines, option_texts, options_block, pick, program_text, reject, truth_value)

NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Kevin", "Laura", "Mallory",
         "Nina", "Oscar", "Peggy", "Quinn", "Rupert", "Sybil", "Trent", "Uma", "Victor", "Wendy", "Xavier", "Yara", "Zane"]

VOCAB = [
    {"good": "knight", "bad": "knave", "goods": "knights", "bads": "knaves",
     "intro": ["On an island, every inhabitant is either a knight, who always tells the truth, or a knave, who always lies. You meet {n} inhabitants: {names}.",
               "Each of {names} is either a knight (who always tells the truth) or a knave (who always lies).",
               "A village is home to knights, who never lie, and knaves, who never tell the truth. You talk to {names}."]},
    {"good": "truth-teller", "bad": "liar", "goods": "truth-tellers", "bads": "liars",
     "intro": ["{names} are each either a truth-teller, whose every statement is true, or a liar, whose every statement is false.",
               "In a group of {n} people ({names}), every person either always tells the truth (a truth-teller) or always lies (a liar)."]},
]

SAY = ["{x} says that {c}.", "{x} claims that {c}.", "According to {x}, {c}.", "{x} tells you that {c}.", "{x} states that {c}."]

CONTENT = {
    "is_good": ["{y} is a {good}", "{y} always tells the truth"],
    "is_bad": ["{y} is a {bad}", "{y} is lying"],
    "both_good": ["{y} and {z} are both {goods}", "both {y} and {z} are {goods}"],
    "both_bad": ["{y} and {z} are both {bads}", "neither {y} nor {z} is a {good}"],
    "some_bad": ["at least one of {y} and {z} is a {bad}", "{y} and {z} are not both {goods}"],
    "same": ["{y} and {z} are of the same kind", "{y} is a {good} exactly when {z} is"],
    "diff": ["{y} and {z} are of different kinds", "exactly one of {y} and {z} is a {good}"],
    "implies": ["if {y} is a {good}, then {z} is a {bad}", "{z} is a {bad} whenever {y} is a {good}"],
    "either": ["{y} is a {good} or {z} is a {good}", "at least one of {y} and {z} is a {good}"],
}

WEB_FACT = ["{x} tells the truth.", "{x} lies."]
WEB_SAY = {True: ["{x} says {y} tells the truth.", "{x} claims that {y} is honest."], False: ["{x} says {y} lies.", "{x} claims that {y} is a liar."]}


def _content(kind: str, y: str, z: str) -> tuple[str, callable]:
    """z3 source of a statement's content and its truth under an assignment."""
    table = {
        "is_good": (f"{y}", lambda a: a[y]),
        "is_bad": (f"Not({y})", lambda a: not a[y]),
        "both_good": (f"And({y}, {z})", lambda a: a[y] and a[z]),
        "both_bad": (f"And(Not({y}), Not({z}))", lambda a: not a[y] and not a[z]),
        "some_bad": (f"Or(Not({y}), Not({z}))", lambda a: not (a[y] and a[z])),
        "same": (f"{y} == {z}", lambda a: a[y] == a[z]),
        "diff": (f"{y} != {z}", lambda a: a[y] != a[z]),
        "implies": (f"Implies({y}, Not({z}))", lambda a: (not a[y]) or not a[z]),
        "either": (f"Or({y}, {z})", lambda a: a[y] or a[z]),
    }
    return table[kind]


class KnightsKnaves(Family):
    name = "knights_knaves"
    description = (
        "Knights-and-knaves puzzles: every person is either a knight (truth-teller, every statement true) or a knave "
        "(liar, every statement false). People make statements about others: that someone is a knight or knave, that two "
        "people are both knights, of the same or different kinds, or conditional claims. A statement is true exactly when "
        "its speaker is a knight, and the statements determine everyone's type uniquely. The web-of-lies variant gives "
        "one person's honesty and a chain of 'X says Y lies/tells the truth'. The question asks about one person's type or "
        "the complete list of knights; the answer is an option letter."
    )
    difficulty_knobs = {"people": (3, 6), "compound": (0, 1), "style": ("island", "web")}

    def build(self, rng: random.Random, people: int, compound: int, style: str) -> PuzzleRecord:
        names = rng.sample(NAMES, people)
        var = {p: ident(p) for p in names}
        assign = {var[p]: rng.random() < 0.5 for p in names}
        used: list[str] = []
        if style == "web":
            return self._web(rng, names, var, assign, used)

        vocab = rng.choice(VOCAB)
        kinds = ["is_good", "is_bad", "same", "diff", "both_good", "some_bad"]
        if compound:
            kinds += ["implies", "either", "both_bad"]
        stmts: list[tuple[str, str, str, str]] = []  # (expr, speaker, kind, subjects)

        def count(ss) -> int:
            m = Z3Model({v: "Bool" for v in var.values()})
            for s in ss:
                m.add(s[0])
            return m.count(list(var.values()))

        seen = set()
        for _ in range(60):
            x = rng.choice(names)
            others = [p for p in names if p != x]
            kind = rng.choice(kinds)
            y, z = (rng.sample(others, 2) if len(others) >= 2 else (others[0], others[0]))
            src, truth = _content(kind, var[y], var[z])
            if truth(assign) != assign[var[x]]:
                continue
            # parenthesised when the content is a comparison: Python would chain `a == b != c`
            expr = f"{var[x]} == ({src})" if " == " in src or " != " in src else f"{var[x]} == {src}"
            if expr in seen:
                continue
            seen.add(expr)
            stmts.append((expr, x, kind, (y, z)))
            if count(stmts) == 1:
                break
        else:
            reject("statements never became unique")
        for st in list(stmts):
            trial = [s for s in stmts if s is not st]
            if count(trial) == 1:
                stmts = trial
        rng.shuffle(stmts)

        texts = []
        for expr, x, kind, (y, z) in stmts:
            c = pick(rng, CONTENT, used, kind, y=y, z=z, **vocab)
            if not c.startswith(tuple(names)):  # pick() capitalised a sentence start; this is mid-sentence
                c = c[0].lower() + c[1:]
            texts.append(pick(rng, SAY, used, "say", x=x, c=c))
        intro = pick(rng, vocab["intro"], used, "intro", n=people, names=join_names(names))

        if rng.random() < 0.5:
            who = rng.choice(names)
            opts = [f"{who} is a {vocab['good']}", f"{who} is a {vocab['bad']}"]
            opt_exprs = {"A": var[who], "B": f"Not({var[who]})"}
            answer = "A" if assign[var[who]] else "B"
            ask = pick(rng, [f"Is {who} a {vocab['good']} or a {vocab['bad']}?", f"What is {who}?", f"Which of the following is true about {who}?"], used, "ask1")
        else:
            truth_set = frozenset(p for p in names if assign[var[p]])
            # A list, not a set: a set of frozensets iterates in string-hash order, which changes
            # from one process to the next (PYTHONHASHSEED), so the same seed gave other options.
            sets = [truth_set]
            while len(sets) < 4:
                s = frozenset(p for p in names if rng.random() < 0.5)
                if s not in sets:
                    sets.append(s)
            rng.shuffle(sets)
            opts = [join_names(sorted(s, key=names.index)) if s else f"none of them" for s in sets]
            opt_exprs = {LETTERS[i]: "And(" + ", ".join(var[p] if p in s else f"Not({var[p]})" for p in names) + ")" for i, s in enumerate(sets)}
            answer = LETTERS[sets.index(truth_set)]
            ask = pick(rng, [f"Which of the following is exactly the set of {vocab['goods']}?", f"Who are the {vocab['goods']}?", f"Which option lists all of the {vocab['goods']} and nobody else?"], used, "ask2")
        options = option_lines(opts)
        question = intro + " " + " ".join(texts) + "\n" + ask + "\n" + "\n".join(options)
        cons = [(t, e) for t, (e, *_rest) in zip(texts, stmts)]
        return self._record(names, var, cons, opt_exprs, question, options, answer, used, "island", vocab, ask)

    def _web(self, rng, names, var, assign, used) -> PuzzleRecord:
        first = names[0]
        texts = [pick(rng, WEB_FACT[0:1] if assign[var[first]] else WEB_FACT[1:2], used, "fact", x=first)]
        # in the statements' own words, as the speakers worked example writes them
        exprs = [f"tells_truth({var[first]})" if assign[var[first]] else f"lies({var[first]})"]
        for prev, cur in zip(names, names[1:]):
            says_honest = assign[var[cur]] == assign[var[prev]]  # a truthful speaker reports correctly
            texts.append(pick(rng, WEB_SAY[says_honest], used, f"web{int(says_honest)}", x=cur, y=prev))
            exprs.append(f"{var[cur]} == tells_truth({var[prev]})" if says_honest else f"{var[cur]} == lies({var[prev]})")
        last = names[-1]
        ask = pick(rng, ["Does {x} tell the truth?", "Is {x} telling the truth?", "Question: does {x} tell the truth?"], used, "ask", x=last)
        options = option_lines(["Yes", "No"])
        answer = "A" if assign[var[last]] else "B"
        question = " ".join(texts) + "\n" + ask + "\n" + "\n".join(options)
        # uniqueness is checked by _record on the program's own lines, through the prelude
        vocab = {"good": "truth-teller", "bad": "liar"}
        return self._record(names, var, list(zip(texts, exprs)), {"A": var[last], "B": f"Not({var[last]})"}, question, options, answer, used, "web", vocab, ask)

    def _record(self, names, var, cons, opt_exprs, question, options, answer, used, style, vocab, ask) -> PuzzleRecord:
        vs = list(var.values())
        web = style == "web"
        good, bad = ("tells the truth", "lies") if web else (vocab["good"], vocab["bad"])
        rule = f"A speaker {'tells the truth' if web else 'is a ' + vocab['good']} exactly when the statement is true"
        lines = ["p = Puzzle()", commented(f"{', '.join(vs)} = p.Bools(\"{' '.join(vs)}\")", f"True = {good}, False = {bad}"),
                 f"# {rule}: speaker == (statement)."]
        lines += add_lines(cons)
        # Generation-time check, on the program's own lines: one assignment, and the answer is the one option it fits.
        m = Z3Model.from_program(lines)
        if m.count(vs) != 1:
            reject("statements do not fix everyone's type")
        texts = option_texts(options)
        if web:
            claim = var[names[-1]]
            if {"True": "A", "False": "B"}.get(truth_value(m, claim)) != answer:
                reject("web answer not verified")
            tail = [commented(f"answer(p.truth({claim}))", ask)]
            objective = f"truth value of {claim}: does {names[-1]} tell the truth?"
        else:
            if fitting_options(m, opt_exprs, "true") != [answer]:
                reject("not exactly the answer option holds")
            tail = options_block({k: (e, t) for (k, e), t in zip(opt_exprs.items(), texts)})
            tail.append(commented('answer(p.choose(options, mode="true"))', "the option that holds in the unique solution"))
            objective = "the option that is true in the unique solution: " + "; ".join(f"{k}) {e}" for k, e in opt_exprs.items())
        said = next(i for i, (_t, e) in enumerate(cons) if "==" in e)  # the rule goes with the first speaker's statement, as in the worked example
        statements = [f"{t} ({rule[0].lower() + rule[1:]})" if i == said else t for i, (t, _e) in enumerate(cons)]
        form = formulation(
            summary=f"Decide for {join_names(names)} whether each {'tells the truth or lies' if web else 'is a ' + vocab['good'] + ' (always truthful) or a ' + vocab['bad'] + ' (always lying)'}, then answer the question.",
            model_type="sat",
            variables=[{"name": var[p], "type": "bool", "domain": f"true = {good}, false = {bad}", "description": f"{p} {'tells the truth' if web else 'is a ' + vocab['good']}"} for p in names],
            constraints=[constraint(e, s) for s, (_t, e) in zip(statements, cons)],
            objective=objective,
        )
        return PuzzleRecord(id="", family=self.name, question=question, options=options, answer=answer,
                            formulation=form, program=program_text(lines, tail), difficulty={"statements": len(cons)}, meta={"templates": used})
