"""ProofWriter-style facts and rules with negation, under the closed- or open-world assumption.

Closed world: facts are positive, rules may have negated conditions ("if something is not
big then it is red") and conclude positive attributes; attributes are layered so the rules
are not recursive. Anything not derivable is false, which z3 checks through Clark's
completion (each attribute holds iff a fact or a rule body supports it): for non-recursive
rules the completion has exactly one model. Answers: True / False.

Open world: facts and conclusions may be negative; a statement is True if entailed,
False if its negation is entailed, else Unknown. Puzzles where z3 proves more than
rule-chaining does (through contraposition) are rejected, so the answer also agrees with
the forward-chaining reading that ProofWriter uses.
"""

from __future__ import annotations

import json
import random

from l2l.synth.base import Family, PuzzleRecord, Z3Model, commented, constraint, formulation, ident, option_lines, pick, program_text, reject, truth_value

PEOPLE = ["Anne", "Bob", "Charlie", "Dave", "Erin", "Fiona", "Gary", "Harry"]
ATTRS = ["big", "cold", "red", "kind", "quiet", "rough", "round", "smart", "white", "young", "furry", "green", "blue", "nice"]

FACT = ["{e} is {a}.", "It is known that {e} is {a}."]
NEG_FACT = ["{e} is not {a}.", "It is known that {e} is not {a}."]
RULE1 = ["If something is {p} then it is {c}.", "All {p} things are {c}.", "Anything that is {p} is also {c}.", "{P} things are {c}."]
RULE2 = ["If something is {p} and {q} then it is {c}.", "{P}, {q} things are {c}.", "All {p}, {q} things are {c}.", "If someone is {p} and {q} then they are {c}."]
RULE_GENERIC = ["If something is {body} then it is {c}.", "If someone is {body} then they are {c}."]
RULE_ONE = ["If {e} is {body} then {e} is {c}."]
ASK_OWA = ["Based on the above information, is the following statement true, false, or unknown? {s}",
           "Is the following statement true, false, or unknown given the facts and rules above? {s}",
           "Does the following statement follow (true), contradict the information (false), or neither (unknown)? {s}"]
ASK_CWA = ["Assume that anything which is neither stated nor derivable from the rules is false (closed world). Is the following statement true or false? {s}",
           "Under the closed-world assumption (what cannot be derived is false), is this statement true or false? {s}"]


class RulesNegation(Family):
    name = "rules_negation"
    description = (
        "ProofWriter-style reasoning over facts ('Bob is big', 'Bob is not red') and if-then rules about attributes, "
        "possibly with negated conditions or conclusions ('If something is big and not cold then it is rough'). Under the "
        "closed-world assumption anything not derivable is false and the answer is True or False; under the open-world "
        "assumption a statement is True if it follows, False if its negation follows, otherwise Unknown."
    )
    difficulty_knobs = {"entities": (1, 3), "rules": (2, 7), "depth": (0, 3), "world": ("closed", "open")}

    def build(self, rng: random.Random, entities: int, rules: int, depth: int, world: str) -> PuzzleRecord:
        cwa = world == "closed"
        ents = rng.sample(PEOPLE, entities)
        attrs = rng.sample(ATTRS, min(len(ATTRS), 3 + rules // 2 + 1))
        order = {a: i for i, a in enumerate(attrs)}  # rules only conclude later attributes (closed world)
        used: list[str] = []

        # facts: (entity, attr, positive)
        facts = set()
        for e in ents:
            for a in rng.sample(attrs[: max(2, len(attrs) // 2)], rng.randint(1, 2)):
                facts.add((e, a, cwa or rng.random() < 0.7))
        # rules: (entity or None, [(attr, positive)], (attr, positive))
        rule_list = []
        for _ in range(rules):
            c = rng.choice(attrs[1:])
            earlier = [a for a in attrs if order[a] < order[c]] if cwa else [a for a in attrs if a != c]
            k = min(len(earlier), rng.choice([1, 1, 2]))
            body = [(a, rng.random() >= (0.2 if cwa else 0.15)) for a in rng.sample(earlier, k)]
            head = (c, True if cwa else rng.random() >= 0.3)
            who = rng.choice(ents) if rng.random() < 0.15 else None
            rule_list.append((who, body, head))

        model = _forward_chain(ents, attrs, facts, rule_list, cwa)  # (e, a) -> (value or None, depth)

        # Pick the label first so answers are balanced, then an atom that has it at the wanted depth.
        labels = ["True", "False"] + ([] if cwa else ["Unknown"])
        want = rng.choice(labels)
        cands = []
        for e in ents:
            for a in attrs:
                val, d = model[(e, a)]
                for positive in (True, False):
                    if val is None:
                        label, dd = "Unknown", 0
                    else:
                        label, dd = ("True" if val == positive else "False"), d
                    if label == want and (label == "Unknown" or dd >= min(depth, rules)):
                        cands.append((e, a, positive))
        if not cands:
            reject("no query with the wanted label and depth")
        e, a, positive = rng.choice(cands)
        stmt = f"{e} is {'' if positive else 'not '}{a}."

        # The encoding the prompts teach: a p.Pred per attribute over the individuals; a rule about
        # "something" holds for every x. Each constraint: (statement, formula, for every x?).
        things = [ident(x) for x in ents]
        cons: list[tuple[str, str, bool]] = []
        for (fe, fa, fp) in sorted(facts):
            lit = f'{ident(fa)}("{ident(fe)}")'
            text = pick(rng, FACT if fp else NEG_FACT, used, "fact" if fp else "negfact", e=fe, a=fa)
            cons.append((text, lit if fp else f"Not({lit})", False))
        for who, body, (c, cp) in rule_list:
            text = _rule_text(rng, used, who, body, c, cp)
            arg = f'"{ident(who)}"' if who else "x"
            lits = [f"{ident(b)}({arg})" if bp else f"Not({ident(b)}({arg}))" for b, bp in body]
            prem = lits[0] if len(lits) == 1 else f"And({', '.join(lits)})"
            concl = f"{ident(c)}({arg})" if cp else f"Not({ident(c)}({arg}))"
            cons.append((text, f"Implies({prem}, {concl})", not who))
        rng.shuffle(cons)
        completion: list[tuple[str, str]] = []
        if cwa:  # Clark's completion: an attribute holds exactly when a fact or a rule body supports it
            for at in attrs:
                supports = []
                fact_things = sorted(ident(fe) for (fe, fa, _) in facts if fa == at)
                if fact_things:
                    supports.append(f'x == "{fact_things[0]}"' if len(fact_things) == 1 else f"x in {json.dumps(fact_things)}")
                for who, body, (c, _) in rule_list:
                    if c != at:
                        continue
                    lits = [f"{ident(b)}(x)" if bp else f"Not({ident(b)}(x))" for b, bp in body]
                    if who:
                        lits.insert(0, f'x == "{ident(who)}"')
                    supports.append(lits[0] if len(lits) == 1 else f"And({', '.join(lits)})")
                if not supports:
                    rhs = f"Not({ident(at)}(x))"
                elif len(supports) == 1:
                    rhs = f"{ident(at)}(x) == ({supports[0]})" if supports[0].startswith("x ") else f"{ident(at)}(x) == {supports[0]}"
                else:
                    rhs = f"{ident(at)}(x) == Or({', '.join(supports)})"
                completion.append((f"closed world: {at} holds only when a fact or a rule gives it", rhs))

        words = [ident(at) for at in attrs]
        lines = ["p = Puzzle()", f"people = {json.dumps(things)}"] + [f'{w} = p.Pred("{w}", people)' for w in words]
        in_loop = False
        for text, formula, every in cons:
            if every and not in_loop:
                lines.append("for x in people:")
            in_loop = every
            lines.append(commented(f"p.add({formula})", text, "    " if every else ""))
        if completion:
            lines.append("# Closed world: what is neither stated nor derivable is false, so each property holds")
            lines.append("# exactly when a fact or a rule gives it.")
            lines.append("for x in people:")
            lines += [commented(f"p.add({formula})", text, "    ") for text, formula in completion]

        q = f'{ident(a)}("{ident(e)}")'
        q = q if positive else f"Not({q})"
        # Generation-time check, on the gold program's own lines.
        m = Z3Model.from_program(lines)
        if not m.sat():
            reject("inconsistent facts and rules")
        z3_label = truth_value(m, q)
        if z3_label != want:
            reject("z3 disagrees with rule chaining (contraposition)")
        if cwa:
            if m.count([f'{w}("{x}")' for w in words for x in things]) != 1:
                reject("closed-world completion is not unique")
            opts = ["True", "False"]
        else:
            opts = ["True", "False", "Unknown"]
        answer = "ABC"[opts.index(want)]
        options = option_lines(opts)
        question = " ".join(t_ for t_, _, _ in cons) + "\n" + pick(rng, ASK_CWA if cwa else ASK_OWA, used, "ask", s=stmt) + "\n" + "\n".join(options)
        program = program_text(lines, [commented(f"answer(p.truth({q}))", stmt)])
        plain = lambda f: f.replace('"', "")  # noqa: E731  formulations name individuals bare: big(anne)
        form = formulation(
            summary=f"Decide whether '{stmt}' is {'/'.join(opts).lower()} from the facts and rules ({world}-world assumption).",
            model_type="logic",
            variables=[{"name": ", ".join(words), "type": "bool", "domain": f"true/false for each individual ({', '.join(things)})",
                        "description": "the properties of each individual"}],
            constraints=[constraint(("for every x: " if every else "") + plain(f), t_) for t_, f, every in cons]
            + [constraint("for every x: " + plain(f), t_) for t_, f in completion],
            objective=(f"truth value of {plain(q)} in the unique closed-world model: True or False" if cwa
                       else f"truth value of {plain(q)}: True if it follows, False if its negation follows, else Unknown"),
        )
        return PuzzleRecord(id="", family=self.name, question=question, options=options, answer=answer, formulation=form,
                            program=program, difficulty={"query_depth": model[(e, a)][1]}, meta={"templates": used})


def _rule_text(rng, used, who, body, c, cp) -> str:
    concl = c if cp else f"not {c}"
    if who:
        parts = [f"{b}" if bp else f"not {b}" for b, bp in body]
        return pick(rng, RULE_ONE, used, "rule_one", e=who, body=" and ".join(parts), c=concl)
    if all(bp for _, bp in body) and cp:
        if len(body) == 1:
            return pick(rng, RULE1, used, "rule1", p=body[0][0], P=body[0][0].capitalize(), c=c)
        return pick(rng, RULE2, used, "rule2", p=body[0][0], P=body[0][0].capitalize(), q=body[1][0], c=c)
    parts = [f"{b}" if bp else f"not {b}" for b, bp in body]
    return pick(rng, RULE_GENERIC, used, "rule_generic", body=" and ".join(parts), c=concl)


def _forward_chain(ents, attrs, facts, rules, cwa):
    """ProofWriter's reading of the theory: (e, a) -> (True/False/None, derivation depth).

    Closed world: attributes are layered, so evaluate them in order; an attribute is true
    if it is a fact or some rule body holds, else false (negation as failure, depth 0).
    Open world: chain rules over known literals until nothing changes; unknown stays None.
    """
    fact_val = {(e, a): p for e, a, p in facts}
    if cwa:
        val: dict[tuple[str, str], tuple[bool, int]] = {}
        for a in attrs:  # attrs is the layer order
            for e in ents:
                if fact_val.get((e, a)):
                    val[(e, a)] = (True, 0)
                    continue
                best = None
                for who, body, (c, _) in rules:
                    if c != a or who not in (None, e):
                        continue
                    if all(val[(e, b)][0] == bp for b, bp in body):
                        d = 1 + max((val[(e, b)][1] for b, bp in body if bp), default=0)
                        best = d if best is None else min(best, d)
                val[(e, a)] = (True, best) if best is not None else (False, 0)
        return val
    known: dict[tuple[str, str], tuple[bool, int]] = {k: (p, 0) for k, p in fact_val.items()}
    changed = True
    while changed:
        changed = False
        for who, body, (c, cp) in rules:
            for e in ([who] if who else ents):
                vs = [known.get((e, b)) for b, _ in body]
                if all(v is not None and v[0] == bp for v, (_, bp) in zip(vs, body)) and (e, c) not in known:
                    known[(e, c)] = (cp, 1 + max(v[1] for v in vs))
                    changed = True
    return {(e, a): known.get((e, a), (None, 0)) for e in ents for a in attrs}
