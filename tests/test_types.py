"""Formulation validation and JSON round-trips."""

import json

import pytest

from l2l.types import Candidate, Formulation, FormulationError, Program, SolveResult, Variable
from solvers.result import ExecutionResult

GOOD = {
    "summary": "Order three books.",
    "model_type": "Constraint Satisfaction",
    "variables": [{"name": "red", "type": "int", "domain": "1..3"}, "green"],
    "constraints": ["red < green # The red book is left of the green one."],
    "objective": "which option holds",
}


def test_formulation_validates_and_round_trips():
    f = Formulation.from_dict(GOOD)
    assert f.model_type == "csp"  # spelled-out model types map onto the canonical names
    assert [v.name for v in f.variables] == ["red", "green"]
    again = Formulation.from_json(f.to_json())
    assert again == f
    assert set(json.loads(f.to_json())) == set(Formulation.FIELDS)


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"summary": ""}, "summary"),
        ({"model_type": "astrology"}, "model_type"),
        ({"variables": 3}, "variables"),
        ({"variables": [{"type": "int"}]}, "variables[0].name"),
        ({"constraints": [""]}, "constraints[0]"),
    ],
)
def test_malformed_formulation_names_the_field(patch, message):
    with pytest.raises(FormulationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Formulation.from_dict({**GOOD, **patch})


def test_missing_fields_are_listed():
    with pytest.raises(FormulationError, match="missing field.*constraints"):
        Formulation.from_dict({"summary": "s", "model_type": "sat", "variables": []})


def test_bad_json_reports_position():
    with pytest.raises(FormulationError, match="not valid JSON.*line 1"):
        Formulation.from_json('{"summary": ')


def test_objective_none_spellings_become_none():
    assert Formulation.from_dict({**GOOD, "objective": "none"}).objective is None


def test_backend_follows_model_type():
    assert Formulation.from_dict({**GOOD, "model_type": "symbolic math"}).backend == "sympy"
    assert Formulation.from_dict(GOOD).backend == "z3"


def test_solve_result_json_has_the_documented_fields():
    f = Formulation.from_dict(GOOD)
    cand = Candidate(f, Program("z3", "answer(1)"), ExecutionResult("ok", "1", "ANSWER: 1\n"), answer="1")
    r = SolveResult("q", "1", "solved", [cand], {"1": 1})
    d = json.loads(json.dumps(r.to_dict()))
    assert d["answer"] == "1" and d["status"] == "solved"
    assert set(d["formulation"]) == set(Formulation.FIELDS)
    assert d["program"] == "answer(1)"
    assert r.formulation == f and r.program.code == "answer(1)"
    assert Variable.from_any({"name": "x", "domain": [1, 2]}, "v").domain == "1, 2"
