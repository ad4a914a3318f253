"""Temporal sequences (BIG-Bench Hard style): when could someone have gone somewhere?

The day from waking up to the place's closing time is cut into slots; every slot but one
is covered by a sighting. The visit is an interval [start, end) with start < end that
overlaps no sighting; z3 checks that exactly one option interval can contain it.
"""

from __future__ import annotations

import random

from l2l.synth.base import (LETTERS, Family, PuzzleRecord, Z3Model, add_lines, commented, constraint, fitting_options, formulation, option_lines,
                            options_block, pick, program_text, reject)

PEOPLE = ["Elizabeth", "Sarah", "Jessica", "Betty", "James", "Mark", "Linda", "Tiffany", "David", "Emily", "Hannah",
          "Leslie", "Nancy", "Richard", "Samantha", "Sean", "Susan", "Thomas", "Ashley", "Jason", "Kimberly", "William"]
PLACES = ["the amusement park", "the library", "the bakery", "the museum", "the beach", "the swimming pool", "the art studio",
          "the coffee shop", "the bookstore", "the zoo", "the botanical garden", "the market", "the post office"]
ACTIVITIES = ["taking photos near the Eiffel Tower", "working out at the gym", "watching a movie at the theater",
              "stretching at a yoga studio", "reading at the cafe", "buying clothes at the mall", "walking in the park",
              "waiting at the train station", "playing tennis at the tennis court", "fixing their computer at the electronic store",
              "getting a coffee at the cafe", "sitting on a rooftop", "buying lunch at the deli", "driving to the water park",
              "attending class at the school", "buying a bike at the bike shop"]

INTRO = ["Today, {p} went to {place}. Between what times could they have gone?\nWe know that:",
         "{p} visited {place} at some point today. Here is what we know:",
         "At some time today {p} went to {place}. The following facts are known:"]
WAKE = ["{p} woke up at {t}.", "{p} got up at {t}.", "{p} was asleep until {t}."]
SEEN = ["{w} saw {p} {act} from {a} to {b}.", "From {a} to {b}, {w} saw {p} {act}.", "{w} spotted {p} {act} between {a} and {b}."]
CLOSE = ["{Place} was closed after {t}.", "{Place} closes at {t}.", "Nobody can enter {place} after {t}."]
ASK = ["Between what times could {p} have gone to {place}?", "When could {p} have visited {place}?",
       "During which time window could {p} have been at {place}?"]


def fmt(h: int) -> str:
    return "12pm" if h == 12 else f"{h}am" if h < 12 else f"{h - 12}pm"


class Temporal(Family):
    name = "temporal"
    description = (
        "Temporal sequence puzzles: a person wakes up at some hour, is seen by witnesses doing activities during several "
        "back-to-back time intervals, and a place closes at some hour. The person visited the place during a period when "
        "they were awake, the place was open, and nobody saw them elsewhere. The question asks between what times they "
        "could have gone; the answer is the option letter of the only feasible interval."
    )
    difficulty_knobs = {"sightings": (3, 6)}

    def build(self, rng: random.Random, sightings: int) -> PuzzleRecord:
        p = rng.choice(PEOPLE)
        place = rng.choice(PLACES)
        wake = rng.randint(5, 9)
        close = rng.randint(max(wake + sightings + 2, 17), 22)
        cuts = sorted(rng.sample(range(wake + 1, close), sightings))
        bounds = [wake] + cuts + [close]
        slots = list(zip(bounds, bounds[1:]))
        free = rng.randrange(len(slots))
        witnesses = rng.sample([x for x in PEOPLE if x != p], sightings)
        acts = rng.sample(ACTIVITIES, sightings)
        used: list[str] = []
        seen = []
        for (a, b), w, act in zip([s for i, s in enumerate(slots) if i != free], witnesses, acts):
            seen.append((pick(rng, SEEN, used, "seen", w=w, p=p, act=act, a=fmt(a), b=fmt(b)), a, b))
        if rng.random() < 0.4:
            rng.shuffle(seen)
        wake_t = pick(rng, WAKE, used, "wake", p=p, t=fmt(wake))
        close_t = pick(rng, CLOSE, used, "close", Place=place[0].upper() + place[1:], place=place, t=fmt(close))

        right = slots[free]
        distract = [(a, b) for (_, a, b) in seen]
        if wake > 5:
            distract.append((rng.randint(4, wake - 1), wake))
        distract = rng.sample(distract, min(3, len(distract)))
        intervals = [right] + distract
        if len(set(intervals)) != len(intervals):
            reject("duplicate option")
        rng.shuffle(intervals)
        options = option_lines([f"{fmt(a)} to {fmt(b)}" for a, b in intervals])
        answer = LETTERS[intervals.index(right)]

        # The model the worked example teaches: the hour the visit began, outside every sighting.
        # (statement, program expression, formulation formula): the example writes `not` in the formulation.
        cons = [(wake_t, f'visit >= hour("{fmt(wake)}")', f'visit >= hour("{fmt(wake)}")')]
        cons += [(t, f'Not(between(visit, "{fmt(a)}", "{fmt(b)}"))', f'not between(visit, "{fmt(a)}", "{fmt(b)}")') for t, a, b in seen]
        cons.append((close_t, f'visit < hour("{fmt(close)}")', f'visit < hour("{fmt(close)}")'))
        opt_exprs = {LETTERS[i]: f'between(visit, "{fmt(a)}", "{fmt(b)}")' for i, (a, b) in enumerate(intervals)}
        lines = ["p = Puzzle()", commented('visit = p.Int("visit", 0, 23)', "the hour of the day the visit began")] + add_lines([(t, e) for t, e, _ in cons])
        # Generation-time check, on the gold program's own lines: only the answer's interval holds in every solution.
        m = Z3Model.from_program(lines)
        feasible = fitting_options(m, opt_exprs, "must") if m.sat() else []
        if feasible != [answer]:
            reject(f"options feasible: {feasible}")

        question = "\n".join([pick(rng, INTRO, used, "intro", p=p, place=place), wake_t] + [t for t, _, _ in seen] + [close_t,
                             pick(rng, ASK, used, "ask", p=p, place=place), "Options:"] + options)
        tail = options_block({k: (e, t) for (k, e), t in zip(opt_exprs.items(), [f"{fmt(a)} to {fmt(b)}" for a, b in intervals])})
        tail.append(commented('answer(p.choose(options, mode="must"))', "the time range that holds whenever the visit was"))
        program = program_text(lines, tail)
        form = formulation(
            summary=f"Find the time slot in which {p} could have visited {place}: awake, before closing, not seen anywhere else.",
            model_type="csp",
            variables=[{"name": "visit", "type": "int", "domain": f'hour("{fmt(wake)}")..hour("{fmt(close)}") - 1', "description": "hour of the day the visit began"}],
            constraints=[constraint(f, t) for t, _, f in cons],
            objective="the option whose time range contains the visit in every solution: " + "; ".join(f"{k}) {e}" for k, e in opt_exprs.items()),
        )
        return PuzzleRecord(id="", family=self.name, question=question, options=options, answer=answer, formulation=form,
                            program=program, difficulty={}, meta={"templates": used})
