"""AR-LSAT-style grouping and scheduling with conditional rules (multiple choice).

People are assigned to groups (days, teams, committees) under rules sampled to be true of a
hidden assignment, so the rules are satisfiable but usually leave several assignments open,
as on the LSAT. The question asks which option could be true / must be true / cannot be
true (optionally after an extra "If ..." supposition); z3 classifies every candidate option
and the generator keeps exactly one that passes.
"""

from __future__ import annotations

import random

from l2l.synth.base import (LETTERS, Family, PuzzleRecord, Z3Model, add_lines, commented, constraint, fitting_options, formulation, ident,
                            join_names, names_text, option_lines, options_block, pick, program_text, reject)

NAMES = ["Fred", "Juan", "Marc", "Paul", "Nita", "Rachel", "Trisha", "Gina", "Hugo", "Irene", "Kent", "Lola", "Mona",
         "Olaf", "Pia", "Rosa", "Sven", "Tara", "Ulla", "Vera", "Will", "Yuki"]
SETTINGS = [
    {"key": "days", "groups": ["Monday", "Tuesday", "Wednesday", "Thursday"], "ordered": True,
     "intro": ["A clinic schedules {n} employees ({names}) to work on exactly one of {k} days: {groups}.",
               "Each of {names} will give exactly one talk, on {groups}."],
     "in": "{x} is scheduled on {g}", "notin": "{x} is not scheduled on {g}", "before": "{x} is scheduled on an earlier day than {y}"},
    {"key": "teams", "groups": ["the red team", "the blue team", "the green team", "the gold team"], "ordered": False,
     "intro": ["{n} players ({names}) are divided among {k} teams: {groups}. Each player joins exactly one team.",
               "A coach splits {names} into {k} teams: {groups}."],
     "in": "{x} plays on {g}", "notin": "{x} does not play on {g}", "before": ""},
    {"key": "committees", "groups": ["the budget committee", "the events committee", "the safety committee", "the outreach committee"], "ordered": False,
     "intro": ["Each of {n} volunteers ({names}) serves on exactly one of {k} committees: {groups}.",
               "The {n} members {names} must each be placed on one of the following {k} committees: {groups}."],
     "in": "{x} serves on {g}", "notin": "{x} does not serve on {g}", "before": ""},
]
RULE = {
    "same": ["{x} and {y} must be in the same group.", "{y} is assigned wherever {x} is assigned."],
    "diff": ["{x} and {y} cannot be in the same group.", "{x} is not assigned together with {y}."],
    "notin": ["{notin}.", "It is not the case that {inn}."],
    "cond": ["If {inn}, then {inn2}.", "{Inn2} if {inn}."],
    "condnot": ["If {inn}, then {notin2}.", "Whenever {inn}, {notin2}."],
    "atleast": ["At least {c} of the {n} are in {g}.", "{G} gets at least {c} of them."],
    "atmost": ["At most {c} of the {n} are in {g}.", "No more than {c} of them are in {g}."],
    "before": ["{before}.", "{before}, as required."],
}
ASK = {
    "could": ["Which one of the following could be true?", "Which one of the following is possible?"],
    "must": ["Which one of the following must be true?", "Which one of the following is necessarily true?"],
    "cannot": ["Which one of the following CANNOT be true?", "Each of the following could be true EXCEPT:"],
}
SUPPOSE = ["If {inn}, which one of the following {verb}?", "Suppose that {inn}. Which one of the following {verb}?"]
VERB = {"could": "could be true", "must": "must be true", "cannot": "CANNOT be true"}


GROUP_WORD = {"days": "day", "teams": "team", "committees": "committee"}


def _group_name(group: str) -> str:
    """The Python name of a group: "the red team" -> red_team, "Monday" -> monday."""
    return ident(group[4:] if group.lower().startswith("the ") else group)


class Grouping(Family):
    name = "grouping"
    description = (
        "AR-LSAT-style grouping and scheduling: several people are each assigned to exactly one group (a day, a team or "
        "a committee) under conditions such as 'X and Y are in the same group', 'X is not on Monday', 'If X is on Monday "
        "then Y is on Tuesday', 'at least two are on the red team' or 'X is on an earlier day than Y'. The rules allow "
        "several assignments; the question (possibly with an extra supposition) asks which option could be true, must "
        "be true, or cannot be true, and exactly one option qualifies. The answer is an option letter."
    )
    difficulty_knobs = {"people": (4, 7), "groups": (2, 4), "rules": (3, 7), "question": ("could", "must", "cannot"), "suppose": (0, 1)}

    def build(self, rng: random.Random, people: int, groups: int, rules: int, question: str, suppose: int) -> PuzzleRecord:
        st = rng.choice(SETTINGS)
        names = rng.sample(NAMES, people)
        gnames = st["groups"][:groups]
        v = {p: ident(p) for p in names}
        gv = [_group_name(g) for g in gnames]  # p.Assign binds each group's name to its number 1..k
        hidden = {p: rng.randrange(groups) for p in names}
        used: list[str] = []

        def inn(x, g):
            return st["in"].format(x=x, g=gnames[g])

        def notin(x, g):
            return st["notin"].format(x=x, g=gnames[g])

        kinds = ["same", "diff", "notin", "cond", "condnot", "atleast", "atmost"] + (["before"] if st["ordered"] else [])
        cons: list[tuple[str, str]] = []
        seen: set[str] = set()
        for _ in range(200):
            if len(cons) == rules:
                break
            k = rng.choice(kinds)
            x, y = rng.sample(names, 2)
            g, g2 = rng.randrange(groups), rng.randrange(groups)
            count = sum(1 for p in names if hidden[p] == g)
            if k == "same":
                e, ok = f"{v[x]} == {v[y]}", hidden[x] == hidden[y]
            elif k == "diff":
                e, ok = f"{v[x]} != {v[y]}", hidden[x] != hidden[y]
            elif k == "notin":
                e, ok = f"{v[x]} != {gv[g]}", hidden[x] != g
            elif k == "cond":
                e, ok = f"Implies({v[x]} == {gv[g]}, {v[y]} == {gv[g2]})", hidden[x] != g or hidden[y] == g2
            elif k == "condnot":
                e, ok = f"Implies({v[x]} == {gv[g]}, {v[y]} != {gv[g2]})", hidden[x] != g or hidden[y] != g2
            elif k == "before":
                e, ok = f"{v[x]} < {v[y]}", hidden[x] < hidden[y]
            else:
                c = max(1, count)
                if (k == "atleast" and count == 0) or (k == "atmost" and c >= people - 1):
                    continue
                op = ">=" if k == "atleast" else "<="
                e = f"p.size({gv[g]}) {op} {c}"
                ok = count >= c if k == "atleast" else count <= c
            if not ok or e in seen:
                continue
            seen.add(e)
            inn2 = inn(y, g2)
            text = pick(rng, RULE, used, k, x=x, y=y, n=people, c=c if k in ("atleast", "atmost") else 0, g=gnames[g], G=gnames[g][0].upper() + gnames[g][1:],
                        inn=inn(x, g), Inn2=inn2[0].upper() + inn2[1:], inn2=inn2, notin=notin(x, g), notin2=notin(y, g2),
                        before=st["before"].format(x=x, y=y))
            cons.append((text, e))
        rng.shuffle(cons)
        idents = [v[p] for p in names]
        lines = ["p = Puzzle()", commented(f"{', '.join(idents)} = p.Assign({names_text(idents)}, {names_text(gv)})",
                                           f"the {GROUP_WORD[st['key']]} of each person (several may share one)")]
        m = Z3Model.from_program(lines)
        for _, e in cons:
            m.add(e)
        sup_text = None
        if suppose:
            sx, sg = rng.choice(names), rng.randrange(groups)
            if m.sat(f"{v[sx]} == {gv[sg]}") and not m.entails(f"{v[sx]} == {gv[sg]}"):
                sup_text = inn(sx, sg)
                m.add(f"{v[sx]} == {gv[sg]}")
                cons_sup = [(f"Suppose that {sup_text} (the question's supposition).", f"{v[sx]} == {gv[sg]}")]
            else:
                suppose = 0
        # Candidate statements, each classified by z3.
        cands: dict[str, str] = {}
        for p in names:
            for g in range(groups):
                cands[inn(p, g)] = f"{v[p]} == {gv[g]}"
        for _ in range(2 * people):
            x, y = rng.sample(names, 2)
            g = rng.randrange(groups)
            cands[f"{x} and {y} are both assigned to {gnames[g]}"] = f"And({v[x]} == {gv[g]}, {v[y]} == {gv[g]})"
            cands[f"{x} and {y} are in different groups"] = f"{v[x]} != {v[y]}"
        if suppose:  # restating the supposition is not an answer
            cands = {t: e for t, e in cands.items() if e != cons_sup[0][1]}
        status = {t: (m.sat(e), m.entails(e)) for t, e in cands.items()}
        stated = {e for _, e in cons}
        if question == "could":
            good = [t for t, (s, ent) in status.items() if s and not ent]
            bad = [t for t, (s, _) in status.items() if not s]
        elif question == "must":
            good = [t for t, (_, ent) in status.items() if ent and cands[t] not in stated]
            bad = [t for t, (s, ent) in status.items() if s and not ent]
        else:
            good = [t for t, (s, _) in status.items() if not s]
            bad = [t for t, (s, ent) in status.items() if s and not ent]
        n_opts = 5 if len(bad) >= 4 else 4
        if not good or len(bad) < n_opts - 1:
            reject(f"not enough options for a '{question}' question")
        chosen = [rng.choice(good)] + rng.sample(bad, n_opts - 1)
        rng.shuffle(chosen)
        correct = [t for t in chosen if t in good]
        answer = LETTERS[chosen.index(correct[0])]
        options = option_lines(chosen)
        opt_exprs = {LETTERS[i]: cands[t] for i, t in enumerate(chosen)}

        intro = pick(rng, st["intro"], used, "intro", n=people, k=groups, names=join_names(names), groups=join_names(gnames))
        if suppose:
            ask = pick(rng, SUPPOSE, used, "suppose", inn=sup_text, verb=VERB[question])
            cons_all = cons + cons_sup
        else:
            ask = pick(rng, ASK, used, question)
            cons_all = cons
        rules_text = pick(rng, ["The assignment must satisfy these conditions:", "The following conditions apply:", "The conditions are:"], used, "conds")
        question_text = f"{intro} {rules_text}\n" + "\n".join(t for t, _ in cons) + f"\n{ask}\n" + "\n".join(options)
        lines += add_lines(cons_all)
        # Generation-time check, on the gold program's own lines: exactly the answer fits the question's mode.
        check = Z3Model.from_program(lines)
        if not check.sat() or fitting_options(check, opt_exprs, question) != [answer]:
            reject("gold program does not single out the answer")
        tail = options_block({k: (e, t) for (k, e), t in zip(opt_exprs.items(), chosen)})
        tail.append(commented(f'answer(p.choose(options, mode="{question}"))', f"the option that {VERB[question]}"))
        program = program_text(lines, tail)
        word = GROUP_WORD[st["key"]]
        form = formulation(
            summary=f"Assign {people} people to {groups} {word}s under the conditions and find the option that {VERB[question]}.",
            model_type="csp",
            variables=[{"name": ", ".join(idents), "type": "int",
                        "domain": f"one of the {word}s {', '.join(gv)} (several people may share a {word}" + ("; numbered 1.." + str(groups) + " in calendar order)" if st["ordered"] else ")"),
                        "description": f"the {word} of each person"}],
            constraints=[constraint(e.replace("p.size(", "size("), t) for t, e in cons_all],
            objective=f"the option that {VERB[question]}" + {"could": " (holds in some valid assignment)", "must": " (holds in every valid assignment)",
                                                              "cannot": " (holds in no valid assignment)"}[question]
            + ": " + "; ".join(f"{k}) {e}" for k, e in opt_exprs.items()),
        )
        return PuzzleRecord(id="", family=self.name, question=question_text, options=options, answer=answer, formulation=form,
                            program=program, difficulty={"suppose": int(bool(suppose))}, meta={"templates": used})
