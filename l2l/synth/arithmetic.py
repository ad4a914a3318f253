"""Arithmetic word problems that are systems of linear equations (heads and legs, coins, tickets).

Each unknown is a whole number of items; the statements are totals ("30 heads in all"),
weighted totals ("74 legs"), differences ("3 more cows than ducks") and multiples ("twice as
many chickens as cows"), sampled to be true of hidden values and added until the system has
one solution. The gold is a sympy program (`solve_one`), the route the formulator's "symbolic"
model type takes; z3 checks at generation time that the real-valued system has exactly one
solution, so the answer is unique whatever the solver.
"""

from __future__ import annotations

import random
from typing import Any

from l2l.synth.base import Family, PuzzleRecord, Z3Model, commented, constraint, formulation, ident, join_names, pick, program_text, reject

# Each scene: the kinds of item (name, weight), what one item counts as ("heads") and what the
# weights add up to ("legs"), and whether the weights are fixed (legs) or drawn (prices).
SCENES: list[dict[str, Any]] = [
    {"key": "farm", "items": [("chickens", 2), ("cows", 4), ("ducks", 2), ("goats", 4), ("spiders", 8)], "fixed": True,
     "intro": ["A farm keeps {items}.", "In a barnyard there are {items}."],
     "total": ["There are {N} heads in all.", "Together the animals have {N} heads."],
     "weighted": ["There are {W} legs in all.", "Together they have {W} legs."],
     "weight": "{w} legs", "ask": ["How many {x} are there?", "How many {x} does the farm keep?"]},
    {"key": "coins", "items": [("nickels", 5), ("dimes", 10), ("quarters", 25), ("pennies", 1)], "fixed": True,
     "intro": ["A jar holds only {items}.", "A piggy bank contains {items} and nothing else."],
     "total": ["There are {N} coins in all.", "The jar holds {N} coins altogether."],
     "weighted": ["The coins are worth {W} cents in total.", "Their total value is {W} cents."],
     "weight": "{w} cents", "ask": ["How many {x} are there?", "How many {x} are in it?"]},
    {"key": "tickets", "items": [("adult tickets", 0), ("child tickets", 0), ("senior tickets", 0)], "fixed": False,
     "intro": ["A theatre sold {items} for one show.", "For a concert, the box office sold {items}."],
     "total": ["It sold {N} tickets in all.", "Altogether {N} tickets were sold."],
     "weighted": ["The tickets brought in {W} dollars.", "Ticket sales came to {W} dollars."],
     "weight": "{w} dollars each", "ask": ["How many {x} were sold?", "How many {x} did it sell?"]},
    {"key": "shop", "items": [("pens", 0), ("notebooks", 0), ("folders", 0)], "fixed": False,
     "intro": ["A student bought {items}.", "For school, Sam bought {items}."],
     "total": ["That was {N} items in all.", "Sam came home with {N} items."],
     "weighted": ["The bill was {W} dollars.", "Everything cost {W} dollars."],
     "weight": "{w} dollars each", "ask": ["How many {x} were bought?", "How many {x} did they buy?"]},
]
MORE = ["There are {d} more {a} than {b}.", "The {a} outnumber the {b} by {d}."]
TIMES = ["There are {k} times as many {a} as {b}.", "The number of {a} is {k} times the number of {b}."]
PRICE = ["{A} cost {w} dollars each.", "Each of the {a} costs {w} dollars."]


def _sum(terms: list[tuple[int, str]]) -> str:
    """2*chickens + 4*cows (a coefficient of 1 is left out)."""
    return " + ".join(v if c == 1 else f"{c}*{v}" for c, v in terms)


class Arithmetic(Family):
    name = "arithmetic"
    description = (
        "Arithmetic word problems that are small systems of linear equations: how many of each kind of animal, coin, "
        "ticket or item there are, given the total number, a weighted total (legs, cents, dollars), how many more of "
        "one kind there are than another, or how many times as many. The numbers determine every count uniquely; the "
        "answer is one count as a number."
    )
    difficulty_knobs = {"unknowns": (2, 3), "relations": (0, 1)}

    def build(self, rng: random.Random, unknowns: int, relations: int) -> PuzzleRecord:
        scene = rng.choice(SCENES)
        kinds = rng.sample(scene["items"], unknowns)
        names = [k for k, _ in kinds]
        var = {k: ident(k) for k in names}
        weight = {k: (w if scene["fixed"] else rng.randint(2, 12)) for k, w in kinds}
        if len(set(weight.values())) < unknowns:
            reject("two kinds with the same weight cannot be told apart by the weighted total")
        hidden = {k: rng.randint(2, 25) for k in names}
        used: list[str] = []

        # Statements: (text, left side, right side), true of the hidden counts.
        eqs: list[tuple[str, str, str]] = []
        n_total = sum(hidden.values())
        eqs.append((pick(rng, scene["total"], used, "total", N=n_total), _sum([(1, var[k]) for k in names]), str(n_total)))
        w_total = sum(weight[k] * hidden[k] for k in names)
        weighted_lhs = _sum([(weight[k], var[k]) for k in names])
        eqs.append((pick(rng, scene["weighted"], used, "weighted", W=w_total), weighted_lhs, str(w_total)))
        # Relations between two kinds: as many as the knob asks for, plus what a third unknown needs.
        for _ in range(relations + (unknowns - 2)):
            a, b = rng.sample(names, 2)
            if hidden[a] < hidden[b]:
                a, b = b, a
            if hidden[b] > 0 and hidden[a] % hidden[b] == 0 and hidden[a] // hidden[b] >= 2 and rng.random() < 0.5:
                k = hidden[a] // hidden[b]
                eqs.append((pick(rng, TIMES, used, "times", k=k, a=a, b=b), var[a], f"{k}*{var[b]}"))
            elif hidden[a] > hidden[b]:
                d = hidden[a] - hidden[b]
                eqs.append((pick(rng, MORE, used, "more", d=d, a=a, b=b), var[a], f"{var[b]} + {d}"))
            else:
                reject("two equal counts give no relation")
        if len({(lhs, rhs) for _, lhs, rhs in eqs}) != len(eqs):
            reject("a relation was drawn twice")
        # With relations beyond what the unknowns need, one of the totals becomes redundant: drop
        # it when the rest still fixes every count (each remaining statement carries information).
        vs = [var[k] for k in names]

        def unique(es: list[tuple[str, str, str]]) -> bool:
            m = Z3Model({v: "Real" for v in vs})  # real-valued: the system itself must have one solution
            for _, lhs, rhs in es:
                m.add(f"{lhs} == {rhs}")
            return m.count(vs) == 1

        if not unique(eqs):
            reject("the statements leave several solutions")
        if len(eqs) > unknowns:
            drop = rng.choice([0, 1])
            if unique(eqs[:drop] + eqs[drop + 1:]):
                eqs = eqs[:drop] + eqs[drop + 1:]
        target = rng.choice(names)

        sentences = [t for t, _, _ in eqs]
        rng.shuffle(sentences)
        order = {t: i for i, t in enumerate(sentences)}
        eqs.sort(key=lambda e: order[e[0]])  # the gold follows the statements in the problem's order
        item_list = join_names(names)
        intro = pick(rng, scene["intro"], used, "intro", items=item_list)
        # Prices are stated; legs and coin values are common knowledge.
        prices = [] if scene["fixed"] else [pick(rng, PRICE, used, "price", a=k, A=k[0].upper() + k[1:], w=weight[k]) for k in names]
        ask = pick(rng, scene["ask"], used, "ask", x=target)
        question = " ".join([intro] + prices + sentences + [ask])

        # The weighted total's constraint also quotes the prices it uses (they have no constraint of their own).
        said = {t: (" ".join(prices + [t]) if lhs == weighted_lhs else t) for t, lhs, _ in eqs}
        lines = [commented(f'{", ".join(vs)} = symbols("{" ".join(vs)}")', "how many of each kind"), "s = solve_one(["]
        lines += [commented(f"Eq({lhs}, {rhs}),", said[t], "    ") for t, lhs, rhs in eqs]
        lines += [f"], [{', '.join(vs)}])", commented(f"answer(s[{var[target]}])", ask)]
        form = formulation(
            summary=f"Find how many {target} there are from the totals and relations between the numbers of {item_list}.",
            model_type="symbolic",
            variables=[{"name": var[k], "type": "int", "domain": ">= 0", "description": f"number of {k}"} for k in names],
            constraints=[constraint(f"{lhs} == {rhs}", said[t]) for t, lhs, rhs in eqs],
            objective=f"the value of {var[target]}",
        )
        return PuzzleRecord(id="", family=self.name, question=question, options=None, answer=str(hidden[target]), formulation=form,
                            program=program_text(lines), difficulty={"statements": len(eqs)}, meta={"templates": used})
