"""Gold in the prompts' own format, for every synthetic family, and every solver reachable.

Each case generates a few records of one family at one difficulty and checks their gold the
way the pipeline would meet it: the formulation parses with the project's parser and reads
like the formulator prompt asks (one ``formula # statement`` constraint per statement, quoting
it); the program is written like the generator prompt asks (prelude helpers, one final
``answer(...)``, no ``UNIQUE:`` line, no raw ``Solver()``) and, run through the one execution
path with the formulation's backend, prints the record's answer through a solver helper.

Cost: about 20 s on 2 cores (generation plus ~60 sandboxed runs in one parallel batch).
"""

from __future__ import annotations

import json
import re

import pytest

from l2l.data import is_correct
from l2l.parsing import parse_formulation
from l2l.pipeline.coverage import uncovered_statements
from l2l.pipeline.execute import ExecLimits, certified, run_programs
from l2l.synth import FAMILIES, generate_records
from l2l.types import BACKEND_FOR_MODEL_TYPE, Program

N = 3  # records per case

# (family, seed, difficulty, backend of the gold)
CASES = [
    # island knights: the statements fix every type; p.choose(mode="true") over single-person options or sets of knights
    ("knights_knaves", 0, {"style": "island", "people": 3}, "z3"),
    # the largest island, with compound statements (implications, "either", "both knaves")
    ("knights_knaves", 1, {"style": "island", "people": 6, "compound": 1}, "z3"),
    # web of lies: Yes/No options, answered with p.truth (True/False maps onto Yes/No)
    ("knights_knaves", 2, {"style": "web", "people": 5}, "z3"),
    # the smallest ordering, p.Order with p.choose(mode="true")
    ("ordering", 0, {"objects": 3, "extra_clues": 0}, "z3"),
    # seven objects with redundant clues; "k-th from the right" written n - (k - 1) as the formulator prompt asks
    ("ordering", 1, {"objects": 7, "extra_clues": 2}, "z3"),
    # grouping, "could be true": p.Assign, group names as numbers, p.size for counts
    ("grouping", 0, {"question": "could", "suppose": 0}, "z3"),
    # "must be true" after the question's supposition, which becomes a constraint of its own
    ("grouping", 1, {"question": "must", "suppose": 1}, "z3"),
    # "CANNOT be true" with four groups (days are ordered, so "earlier than" is <)
    ("grouping", 2, {"question": "cannot", "groups": 4}, "z3"),
    # one-step syllogism, no distractors: p.Pred per category, rules in a `for x in people` loop, p.truth
    ("syllogism", 0, {"depth": 1, "distractors": 0}, "z3"),
    # the deepest chain with the most distractors
    ("syllogism", 1, {"depth": 5, "distractors": 4}, "z3"),
    # closed world: Clark's completion written as one constraint per property, True/False
    ("rules_negation", 0, {"world": "closed", "entities": 2}, "z3"),
    # open world with negated facts and conclusions: True/False/Unknown from p.truth
    ("rules_negation", 1, {"world": "open", "rules": 7}, "z3"),
    # temporal with the fewest sightings: the visit hour outside every sighting, p.choose(mode="must")
    ("temporal", 0, {"sightings": 3}, "z3"),
    # the most sightings
    ("temporal", 1, {"sightings": 6}, "z3"),
    # production planning: p.maximize
    ("optimisation", 0, {"kind": "maximise", "side_rules": 0}, "z3"),
    # shopping for requirements with side rules: p.minimize
    ("optimisation", 1, {"kind": "minimise", "side_rules": 2}, "z3"),
    # two unknowns from a total and a weighted total: sympy's solve_one
    ("arithmetic", 0, {"unknowns": 2, "relations": 0}, "sympy"),
    # three unknowns with "more than" / "times as many" relations
    ("arithmetic", 1, {"unknowns": 3, "relations": 1}, "sympy"),
    # the smallest matching puzzle, "who keeps ...": python-constraint's solve_unique
    ("matching", 0, {"houses": 3, "attributes": 1, "ask": "who"}, "constraint"),
    # the largest: five houses, three attributes, "which pet does ... keep"
    ("matching", 1, {"houses": 5, "attributes": 3, "ask": "which"}, "constraint"),
    # "in which house does ... live": a number
    ("matching", 2, {"houses": 4, "ask": "where"}, "constraint"),
]
IDS = [f"{f}-s{s}-" + "-".join(f"{k}={v}" for k, v in d.items()) for f, s, d, _ in CASES]

# The helper a gold program of each backend must decide its answer with (the prompts' API).
SOLVER_HELPER = {
    "z3": re.compile(r"\bp\.(solve|choose|truth|maximize|minimize)\("),
    "sympy": re.compile(r"\bsolve_one\("),
    "constraint": re.compile(r"\bsolve_unique\("),
}
# Families whose every statement (not only every constraint) is checked for a constraint that
# quotes it. Left out: optimisation and arithmetic state per-item data (costs, resources) that
# only feeds other constraints, and a syllogism's question has no "?" so it reads as a statement.
EVERY_STATEMENT_QUOTED = {"knights_knaves", "ordering", "grouping", "rules_negation", "temporal", "matching"}


@pytest.fixture(scope="module")
def gold():
    """Every case's records and their executions, run in one parallel batch."""
    recs = {case_id: generate_records(fam, N, seed=seed, **knobs) for case_id, (fam, seed, knobs, _b) in zip(IDS, CASES)}
    flat = [(case_id, r) for case_id in IDS for r in recs[case_id]]
    programs = [Program(parse_formulation(json.dumps(r.formulation)).backend, r.program) for _, r in flat]
    results = run_programs(programs, ExecLimits(timeout_s=30))
    runs: dict[str, list] = {case_id: [] for case_id in IDS}
    for (case_id, r), res in zip(flat, results):
        runs[case_id].append((r, res))
    return runs


def test_every_family_has_a_case():
    assert {f for f, *_ in CASES} == set(FAMILIES)


def _quoted(statement: str, question: str) -> bool:
    """Each sentence of a constraint's statement occurs in the question (a trailing remark in
    parentheses, such as the knights' "a speaker is a knight exactly when ...", is the
    formulation's own)."""
    statement = re.sub(r"\s*\([^()]*\)\s*$", "", statement.strip())
    return all(s in question for s in re.split(r"(?<=[.?!])\s+", statement) if s)


@pytest.mark.parametrize("case_id, family, backend", [(i, f, b) for i, (f, _s, _d, b) in zip(IDS, CASES)], ids=IDS)
def test_gold_formulation_reads_like_the_formulator_prompt(gold, case_id, family, backend):
    for r, _res in gold[case_id]:
        f = parse_formulation(json.dumps(r.formulation))  # the parser the pipeline reads model output with
        assert f.backend == backend and BACKEND_FOR_MODEL_TYPE[f.model_type] == backend
        assert f.summary and f.objective and f.variables and f.constraints
        assert all(v.name and v.type and v.domain and v.description for v in f.variables)
        for c in f.constraints:
            formula, sep, statement = c.partition(" # ")
            assert sep and formula.strip() and statement.strip(), c  # "formula # statement", never "statement : formula"
            if not statement.startswith(("closed world:", "Suppose that")):  # the completion and the question's supposition
                assert _quoted(statement, r.question), (r.id, statement)
        if family in EVERY_STATEMENT_QUOTED:
            text = r.question.split("\n" + r.options[0])[0] if r.options else r.question  # option lines are not statements
            assert uncovered_statements(text, f) == [], r.id


@pytest.mark.parametrize("case_id, family, backend", [(i, f, b) for i, (f, _s, _d, b) in zip(IDS, CASES)], ids=IDS)
def test_gold_program_is_written_like_the_generator_prompt_and_answers(gold, case_id, family, backend):
    from l2l.pipeline.solve import _off_model

    for r, res in gold[case_id]:
        code = r.program
        assert "UNIQUE:" not in code and "Solver()" not in code and "print(" not in code, r.id
        assert SOLVER_HELPER[backend].search(code), r.id
        if backend == "z3":
            assert code.startswith("p = Puzzle()\n")
        lines = [ln for ln in code.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        assert lines[-1].startswith("answer(") and code.count("answer(") == 1, r.id  # exactly one final answer(...)
        # the pipeline runs it: it neither copies the worked example's names nor ignores the formulation's variables
        assert _off_model(code, parse_formulation(json.dumps(r.formulation)), r.question, r.options) is None, r.id
        # run through the one execution path: right answer, decided by a solver helper, printed by answer(...)
        assert res.status == "ok", (r.id, res.status, res.error, res.stderr[-500:])
        assert is_correct(res.answer, r.answer, r.options), (r.id, res.answer, r.answer)
        assert certified(res), (r.id, res.solver_events)
        assert [ln for ln in res.stdout.splitlines() if ln.startswith("ANSWER:")] == [f"ANSWER: {res.answer}"]


def test_every_solver_backend_is_reachable():
    """z3, sympy and python-constraint each have a model type that routes to them, listed in the
    formulator prompt, a worked example, and a family whose gold uses them."""
    from l2l.prompts import examples, template
    from solvers.registry import SOLVER_BACKENDS

    prompt = template("formulator_system.txt")
    family_backends = {parse_formulation(json.dumps(generate_records(f, 1, seed=0)[0].formulation)).backend for f in FAMILIES}
    for backend in SOLVER_BACKENDS:
        routes = [t for t, b in BACKEND_FOR_MODEL_TYPE.items() if b == backend]
        assert any(f'"{t}"' in prompt for t in routes), (backend, routes)
        assert any(ex["backend"] == backend and parse_formulation(json.dumps(ex["formulation"])).backend == backend
                   for ex in examples()), backend
        assert backend in family_backends, backend
