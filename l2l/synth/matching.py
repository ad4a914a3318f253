"""Matching (zebra-style) puzzles: people in a row of houses, each with a different pet, drink, colour.

A hidden arrangement puts every person and every attribute value (the dog, tea, the red
house) in one of n houses, each value of a kind in a different house. Clues true of it are
drawn until z3 finds one arrangement, clues that are not needed are dropped, and the
question asks who has some value, which value someone has, or where someone lives.

The gold is a python-constraint program (`solve_unique`): the route of the formulator's
"matching" model type. z3 verifies at generation time that the arrangement is unique.
"""

from __future__ import annotations

import random
from typing import Any

from l2l.synth.base import Family, PuzzleRecord, Z3Model, commented, constraint, formulation, ident, join_names, minimal_unique_clues, names_text, pick, program_text, reject

PEOPLE = ["Ann", "Ben", "Cal", "Dee", "Eve", "Finn", "Gus", "Hana", "Ivy", "Jon", "Kai", "Lena"]
ORD = ["first", "second", "third", "fourth", "fifth"]

# The kinds of attribute. subj: how a clue names the holder of a value; verb / neg: what a person
# does with it; loc: how a clue names the house where the value is.
KINDS: list[dict[str, Any]] = [
    {"key": "pets", "values": ["dog", "cat", "fish", "bird", "horse", "rabbit"],
     "intro": ["Each person keeps a different pet: {vals}.", "Every resident has one pet, all different: {vals}."],
     "subj": ["the {v} owner", "the person who keeps the {v}"], "verb": "keeps the {v}", "neg": "does not keep the {v}",
     "loc": "the house with the {v}", "who": ["Who keeps the {v}?", "Who owns the {v}?"], "which": ["Which pet does {P} keep?"],
     "description": "the house where each pet lives"},
    {"key": "drinks", "values": ["tea", "coffee", "milk", "juice", "water", "cocoa"],
     "intro": ["Each person drinks something different: {vals}.", "Every resident has a different favourite drink: {vals}."],
     "subj": ["the {v} drinker", "the person who drinks {v}"], "verb": "drinks {v}", "neg": "does not drink {v}",
     "loc": "the house of the {v} drinker", "who": ["Who drinks {v}?"], "which": ["What does {P} drink?"],
     "description": "the house of the person who drinks each drink"},
    {"key": "colours", "values": ["red", "green", "blue", "yellow", "white", "grey"],
     "intro": ["Each house is painted a different colour: {vals}.", "The houses are painted in different colours: {vals}."],
     "subj": ["the person in the {v} house", "whoever lives in the {v} house"], "verb": "lives in the {v} house",
     "neg": "does not live in the {v} house", "loc": "the {v} house", "who": ["Who lives in the {v} house?"],
     "which": ["What colour is {P}'s house?"], "description": "the house painted each colour"},
]
PERSON = {"key": "people", "subj": ["{P}"], "loc": "{P}'s house", "description": "the house of each person"}

INTRO = ["{n} houses stand in a row, numbered 1 to {n} from left to right. {names} live in them, one person per house.",
         "There are {n} houses in a row, house 1 on the left and house {n} on the right. Each of {names} lives in a different one."]
CLUE = {
    "same": ["{Subj} {verb}."],
    "not": ["{Subj} {neg}."],
    "at": ["{Loc} is the {k} house from the left.", "{Loc} is house number {i}."],
    "left": ["{Loc} is somewhere to the left of {loc2}.", "{Loc} is further left than {loc2}."],
    "adj": ["{Loc} is directly to the left of {loc2}.", "{Loc2} is immediately to the right of {loc}."],
    "next": ["{Loc} is next to {loc2}.", "{Loc} and {loc2} are neighbours."],
}
WHERE = ["In which house does {subj} live?", "What is the number of {loc}?"]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


class Matching(Family):
    name = "matching"
    description = (
        "Zebra-style matching puzzles: 3 to 5 people live in a row of houses, one per house, and each has a different "
        "value of one to three attributes (pet, drink, house colour). Clues say that two values go together or not, "
        "that a value is in a given house, or that one value's house is left of, directly left of, or next to "
        "another's. The clues fix one arrangement; the question asks who has a value, which value a person has, or "
        "in which house someone lives, and the answer is a name, a value or a house number."
    )
    difficulty_knobs = {"houses": (3, 5), "attributes": (1, 3), "ask": ("who", "which", "where")}

    def build(self, rng: random.Random, houses: int, attributes: int, ask: str) -> PuzzleRecord:
        n = houses
        people = rng.sample(PEOPLE, n)
        kinds = [PERSON] + rng.sample(KINDS, attributes)
        values = {k["key"]: (people if k is PERSON else rng.sample(k["values"], n)) for k in kinds}
        var = {v: ident(v) for vs in values.values() for v in vs}
        kind_of = {v: k for k in kinds for v in values[k["key"]]}
        house = {}
        for k in kinds:
            order = values[k["key"]][:]
            rng.shuffle(order)
            house.update({v: i + 1 for i, v in enumerate(order)})
        everything = list(var)
        used: list[str] = []

        def random_clue() -> tuple[str, tuple]:
            r = rng.random()
            a = rng.choice(everything)
            others = [b for b in everything if kind_of[b] is not kind_of[a]]
            if r < 0.35:
                b = rng.choice([b for b in others if house[b] == house[a]])
                return f"{var[a]} == {var[b]}", ("same", a, b)
            if r < 0.5:
                b = rng.choice([b for b in others if house[b] != house[a]])
                return f"{var[a]} != {var[b]}", ("not", a, b)
            if r < 0.62:
                return f"{var[a]} == {house[a]}", ("at", a, house[a])
            apart = [b for b in everything if house[b] != house[a]]
            if r < 0.77:
                b = rng.choice(apart)
                a, b = (a, b) if house[a] < house[b] else (b, a)
                return f"{var[a]} < {var[b]}", ("left", a, b)
            near = [b for b in apart if abs(house[a] - house[b]) == 1]
            b = rng.choice(near)
            if r < 0.88:
                a, b = (a, b) if house[a] < house[b] else (b, a)
                return f"{var[a]} + 1 == {var[b]}", ("adj", a, b)
            return f"abs({var[a]} - {var[b]}) == 1", ("next", a, b)

        def count(cs: list[tuple[str, tuple]]) -> int:
            m = Z3Model({var[v]: "Int" for v in everything})
            m.exec_decls(["def abs(v):", "    return If(v >= 0, v, -v)"])  # the clues' abs() on z3 integers
            for k in kinds:
                group = [var[v] for v in values[k["key"]]]
                m.add(f"And([And(v >= 1, v <= {n}) for v in [{', '.join(group)}]])")
                m.add(f"Distinct({', '.join(group)})")
            for e, _ in cs:
                m.add(e)
            return m.count([var[v] for v in everything])

        clues: list[tuple[str, tuple]] = minimal_unique_clues(random_clue, count, n - 1, 6 * n * len(kinds))
        rng.shuffle(clues)

        def subj(v: str) -> str:
            k = kind_of[v]
            return k["subj"][0].format(P=v) if k is PERSON else pick(rng, k["subj"], used, f"subj-{k['key']}", v=v).lower()

        def loc(v: str) -> str:
            k = kind_of[v]
            return k["loc"].format(P=v, v=v)

        texts = []
        for _e, (kind, a, b) in clues:
            if kind in ("same", "not"):
                if kind_of[b] is PERSON:  # the person speaks first: "Ann keeps the dog", not "The dog owner is Ann"
                    a, b = b, a
                texts.append(pick(rng, CLUE, used, kind, Subj=_cap(subj(a)), verb=kind_of[b]["verb"].format(v=b), neg=kind_of[b]["neg"].format(v=b)))
            elif kind == "at":
                texts.append(pick(rng, CLUE, used, kind, Loc=_cap(loc(a)), k=ORD[b - 1], i=b))
            else:
                texts.append(pick(rng, CLUE, used, kind, Loc=_cap(loc(a)), loc=loc(a), Loc2=_cap(loc(b)), loc2=loc(b)))

        # The question.
        attrs = kinds[1:]
        if ask == "who":
            k = rng.choice(attrs)
            target = rng.choice(values[k["key"]])
            answer = next(p for p in people if house[p] == house[target])
            ask_text = pick(rng, k["who"], used, "who", v=target)
            result = f'[person for person in people if s[person] == s["{var[target]}"]][0]'
            objective = f"the person whose house is the house of {var[target]}"
        elif ask == "which":
            k = rng.choice(attrs)
            who = rng.choice(people)
            answer = next(v for v in values[k["key"]] if house[v] == house[who])
            ask_text = pick(rng, k["which"], used, "which", P=who)
            result = f'[x for x in {k["key"]} if s[x] == s["{var[who]}"]][0]'
            objective = f"the value among {k['key']} whose house is the house of {var[who]}"
        else:
            target = rng.choice(everything)
            answer = str(house[target])
            ask_text = pick(rng, WHERE, used, "where", subj=subj(target), loc=loc(target))
            result = f's["{var[target]}"]'
            objective = f"the house number of {var[target]}"

        intro = pick(rng, INTRO, used, "intro", n=n, names=join_names(people))
        kind_texts = [pick(rng, k["intro"], used, f"intro-{k['key']}", vals=join_names(values[k["key"]], "and")) for k in attrs]
        question = " ".join([intro] + kind_texts + texts + [ask_text])

        lines = ["problem = Problem()", commented(f"houses = range(1, {n + 1})", "house 1 is the leftmost")]
        for k in kinds:
            lines.append(f"{k['key']} = {names_text([var[v] for v in values[k['key']]])}")
        # One house per person and a different value of each kind per house: the intro's statements.
        distinct = list(zip([intro] + kind_texts, kinds))
        for t, k in distinct:
            lines.append(f"problem.addVariables({k['key']}, houses)")
            lines.append(commented(f"problem.addConstraint(AllDifferentConstraint(), {k['key']})", t))
        for (e, (_kind, a, b)), t in zip(clues, texts):
            args = [var[a]] if _kind == "at" else [var[a], var[b]]
            lines.append(commented(f"problem.addConstraint(lambda {', '.join(args)}: {e}, {names_text(args)})", t))
        lines.append("s = solve_unique(problem)")
        lines.append(commented(f"answer({result})", ask_text))

        form = formulation(
            summary=f"Match {n} people to {n} houses in a row" + (f" and to their {join_names([k['key'] for k in attrs])}" if attrs else "")
            + " from the clues, then answer the question.",
            model_type="matching",
            variables=[{"name": ", ".join(var[v] for v in values[k["key"]]), "type": "int", "domain": f"distinct houses 1..{n} (1 = leftmost)",
                        "description": k["description"]} for k in kinds],
            constraints=[constraint(f"all_different({', '.join(var[v] for v in values[k['key']])})", t) for t, k in distinct]
            + [constraint(e, t) for (e, _), t in zip(clues, texts)],
            objective=objective,
        )
        return PuzzleRecord(id="", family=self.name, question=question, options=None, answer=answer, formulation=form,
                            program=program_text(lines), difficulty={"clues": len(clues)}, meta={"templates": used})
