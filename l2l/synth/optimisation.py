"""Small integer optimisation word problems (production planning, shopping for requirements).

The answer is the optimal objective value, found with z3's Optimize; the gold program then
proves optimality by asserting a strictly better objective and getting unsat (the value is
unique even when several plans reach it).
"""

from __future__ import annotations

import random

from l2l.synth.base import Family, PuzzleRecord, Z3Model, add_lines, commented, constraint, formulation, ident, join_names, pick, program_text, reject

PRODUCTION = [
    {"maker": "A carpentry workshop", "items": ["chairs", "tables", "shelves", "stools", "desks"],
     "resources": [("wood", "planks of wood"), ("labour", "hours of labour"), ("varnish", "litres of varnish")]},
    {"maker": "A bakery", "items": ["cakes", "pies", "loaves", "tarts", "muffin trays"],
     "resources": [("flour", "kilograms of flour"), ("oven", "hours of oven time"), ("sugar", "kilograms of sugar")]},
    {"maker": "A small factory", "items": ["gadgets", "widgets", "sprockets", "gizmos", "brackets"],
     "resources": [("steel", "kilograms of steel"), ("machine", "machine hours"), ("paint", "cans of paint")]},
]
SHOPPING = [
    {"who": "A zoo keeper", "items": ["bags of pellets", "bales of hay", "crates of carrots", "boxes of fruit"],
     "needs": [("protein", "units of protein"), ("fibre", "units of fibre"), ("vitamins", "units of vitamins")]},
    {"who": "A camp organiser", "items": ["packs of rice", "cans of beans", "boxes of oats", "jars of peanut butter"],
     "needs": [("calories", "thousand calories"), ("protein", "units of protein"), ("iron", "units of iron")]},
]
ASK_MAX = ["What is the largest total profit, in dollars, that can be made?", "What is the maximum profit (in dollars)?",
           "How many dollars of profit can be earned at most?"]
ASK_MIN = ["What is the smallest total cost, in dollars, that meets all the requirements?", "What is the minimum cost (in dollars)?",
           "How many dollars must be spent at least?"]


def _unit(n: int, plural: str) -> str:
    """'1 hours of labour' -> '1 hour of labour' (units are stored in the plural)."""
    if n != 1 or plural.startswith("thousand"):
        return plural
    head, sep, rest = plural.partition(" of ")
    return (head[:-1] if head.endswith("s") else head) + sep + rest


class Optimisation(Family):
    name = "optimisation"
    description = (
        "Small integer optimisation word problems: decide how many whole units of each product to make (maximising profit "
        "under limited resources, possibly with minimum or maximum production rules) or of each item to buy (minimising "
        "cost while meeting requirements). All quantities are non-negative integers. The answer is the optimal objective "
        "value as a number."
    )
    difficulty_knobs = {"items": (2, 4), "resources": (1, 3), "side_rules": (0, 2), "kind": ("maximise", "minimise")}

    def build(self, rng: random.Random, items: int, resources: int, side_rules: int, kind: str) -> PuzzleRecord:
        used: list[str] = []
        maximise = kind == "maximise"
        scene = rng.choice(PRODUCTION if maximise else SHOPPING)
        things = rng.sample(scene["items"], items)
        res = rng.sample(scene["resources"] if maximise else scene["needs"], resources)
        var = {t: ident(t) for t in things}
        coef = {(t, r[0]): rng.randint(0 if not maximise else 1, 6) for t in things for r in res}
        value = {t: rng.randint(2, 15) for t in things}
        if not maximise:
            for r in res:  # every requirement must be coverable by something
                if all(coef[(t, r[0])] == 0 for t in things):
                    coef[(rng.choice(things), r[0])] = rng.randint(1, 5)
        bound = {r[0]: rng.randint(8, 40) for r in res}

        cons: list[tuple[str, str]] = []  # whole, non-negative numbers: the variables' declarations say so
        sentences = []
        for t in things:
            parts = [f"{coef[(t, r[0])]} {_unit(coef[(t, r[0])], r[1])}" for r in res if coef[(t, r[0])]]
            if maximise:
                sentences.append(pick(rng, ["Each of the {t} needs {parts} and earns ${v} profit.", "Making one of the {t} uses {parts}; it sells for a profit of ${v}.",
                                            "The {t} take {parts} apiece and bring in ${v} each."], used, "item", t=t, parts=join_names(parts), v=value[t]))
            else:
                parts = parts or ["nothing useful"]
                sentences.append(pick(rng, ["One of the {t} costs ${v} and provides {parts}.", "The {t} cost ${v} each, giving {parts}.",
                                            "Each of the {t} ({parts}) is priced at ${v}."], used, "item", t=t, parts=join_names(parts), v=value[t]))
        for r in res:
            total = " + ".join(var[t] if coef[(t, r[0])] == 1 else f"{coef[(t, r[0])]}*{var[t]}" for t in things if coef[(t, r[0])]) or "0"
            if maximise:
                text = pick(rng, ["Only {b} {unit} are available.", "There are {b} {unit} in stock.", "At most {b} {unit} can be used."], used, "cap", b=bound[r[0]], unit=r[1])
                cons.append((text, f"{total} <= {bound[r[0]]}"))
            else:
                text = pick(rng, ["At least {b} {unit} are needed.", "The requirement is {b} {unit} or more.", "They need no fewer than {b} {unit}."], used, "need", b=bound[r[0]], unit=r[1])
                cons.append((text, f"{total} >= {bound[r[0]]}"))
            sentences.append(text)
        for _ in range(side_rules):
            t = rng.choice(things)
            c = rng.randint(1, 3)
            if rng.random() < 0.5:
                text = pick(rng, ["At least {c} of the {t} must be included.", "The plan has to include no fewer than {c} {t}."], used, "min", c=c, t=t)
                cons.append((text, f"{var[t]} >= {c}"))
            else:
                text = pick(rng, ["No more than {c} of the {t} can be included.", "At most {c} {t} are allowed."], used, "max", c=c, t=t)
                cons.append((text, f"{var[t]} <= {c}"))
            sentences.append(text)

        objective = " + ".join(f"{value[t]}*{var[t]}" for t in things)
        verb = "made" if maximise else "bought"
        lines = ["p = Puzzle()"] + [commented(f'{var[t]} = p.Int("{var[t]}", 0)', f"number of {t} {verb}: whole, never negative") for t in things]
        lines += add_lines(cons)
        # Generation-time check, on the gold program's own lines.
        m = Z3Model.from_program(lines)
        if not m.sat():
            reject("infeasible")
        best = m.optimize(objective, maximise)
        if best is None or best <= 0:
            reject("unbounded or trivial optimum")
        # Reject when the greedy "all of the single best item" plan is optimal: too easy to guess.
        if maximise and any(best == value[t] * min((bound[r[0]] // coef[(t, r[0])]) for r in res if coef[(t, r[0])]) for t in things if any(coef[(t, r[0])] for r in res)) and rng.random() < 0.7:
            reject("single-item plan is optimal")

        intro = pick(rng, [f"{scene['maker'] if maximise else scene['who']} is planning {'production of' if maximise else 'a purchase of'} {join_names(things)}.",
                           f"{scene['maker'] if maximise else scene['who']} has to decide how many {join_names(things, 'and')} to {'make' if maximise else 'buy'}."], used, "intro")
        body = sentences[:]
        rng.shuffle(body)
        cons.sort(key=lambda c: body.index(c[0]))  # the gold follows the statements in the problem's order
        lines = lines[: 1 + len(things)] + add_lines(cons)
        ask = pick(rng, ASK_MAX if maximise else ASK_MIN, used, "ask")
        question = " ".join([intro] + body + ["Only whole units can be " + ("made." if maximise else "bought."), ask])
        program = program_text(lines, [commented(f"answer(p.{'maximize' if maximise else 'minimize'}({objective}))",
                                                 "the largest total profit in dollars" if maximise else "the smallest total cost in dollars")])
        form = formulation(
            summary=f"Choose whole numbers of {join_names(things)} that {'maximise profit within the limits' if maximise else 'minimise cost while meeting the requirements'}.",
            model_type="milp",
            variables=[{"name": var[t], "type": "int", "domain": ">= 0", "description": f"number of {t} {verb}"} for t in things],
            constraints=[constraint(e, t_) for t_, e in cons],
            objective=f"{'maximize' if maximise else 'minimize'} {objective}",
        )
        return PuzzleRecord(id="", family=self.name, question=question, options=None, answer=str(best), formulation=form,
                            program=program, difficulty={}, meta={"templates": used})
