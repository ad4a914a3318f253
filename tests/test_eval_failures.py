"""Failure stages of wrong predictions, table-driven, with records shaped as the runner writes them. (<1 s)"""

from __future__ import annotations

import pytest

from l2l.eval.failures import STAGES, failure_counts, failure_stage

FORM = {"summary": "s", "model_type": "csp", "variables": [], "constraints": [], "objective": None}
SEVERAL = {"status": "runtime_error", "solver_events": [{"call": "solve", "ok": False, "verdict": "several"}]}

# (record, expected stage)
CASES = [
    ({"method": "l2l", "correct": True, "prediction": "A"}, None),  # right: not a failure
    ({"method": "cot", "correct": False, "prediction": "B"}, "wrong_answer"),  # an answer, the wrong one
    ({"method": "cot", "correct": False, "prediction": None}, "no_answer"),  # no answer line
    ({"method": "l2l", "correct": False, "prediction": None, "formulation": None}, "no_formulation"),  # formulator failed
    ({"method": "l2l_vote", "correct": False, "prediction": None, "formulation": FORM, "program": None}, "no_program"),  # no code block
    ({"method": "program", "correct": False, "prediction": None, "program": None}, "no_program"),  # program has no formulation stage
    ({"method": "program", "correct": False, "prediction": None, "program": "x",
      "solver_output": {"status": "syntax_error"}}, "did_not_run"),  # the program is not Python
    ({"method": "l2l", "correct": False, "prediction": None, "formulation": FORM, "program": "x",
      "solver_output": {"status": "timeout"}}, "did_not_run"),  # ran out of time
    ({"method": "l2l", "correct": False, "prediction": None, "formulation": FORM, "program": "x",
      "solver_output": SEVERAL}, "no_unique_solution"),  # the helper's "several solutions" ends in a runtime error
    ({"method": "program", "correct": False, "prediction": None, "program": "x",
      "solver_output": {"status": "runtime_error", "stderr": "PuzzleError: no solution: the constraints contradict"}},
     "no_unique_solution"),  # the same read from the error text when the record has no events
    ({"method": "l2l", "correct": False, "prediction": None, "formulation": FORM, "program": "x",
      "solver_output": {"status": "no_answer"}}, "no_answer"),  # ran, never called answer(...)
    ({"method": "l2l", "correct": False, "prediction": None, "formulation": FORM, "program": "x",
      "solver_output": {"status": "ok", "answer": "purple"}}, "no_answer"),  # printed an answer that is no option
    ({"method": "l2l", "correct": False, "prediction": "C", "formulation": FORM, "program": "x",
      "solver_output": {"status": "ok", "answer": "C"}}, "wrong_answer"),  # a certified but wrong answer
]


@pytest.mark.parametrize("record,expected", CASES)
def test_failure_stage(record, expected):
    assert failure_stage(record) == expected


def test_failure_counts_cover_every_stage():
    counts = failure_counts([r for r, _ in CASES])
    assert list(counts) == list(STAGES)  # every column present, in pipeline order
    assert sum(counts.values()) == len(CASES) - 1  # the one right record is not counted
