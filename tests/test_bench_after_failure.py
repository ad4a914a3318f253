"""bench/bench_after_failure.py: every step after a failed first program starts from the same
formulation and program, runs through the Solver's own methods and the real sandbox, and is
scored with the evaluation's answer matching."""

import importlib.util
from pathlib import Path

from l2l.config import SolveConfig
from l2l.data import Example
from l2l.pipeline.solve import Solver
from tests.test_pipeline import FORMULATION, GOOD_PROGRAM, QUESTION, UNDER_CONSTRAINED, by_stage

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_after_failure", ROOT / "bench/bench_after_failure.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

EXAMPLE = Example("k1", QUESTION, None, "A is a knight, B is a knave", "test")


def test_each_step_starts_from_the_failed_first_program():
    # Generator calls in order: first program, repair with example, repair without, resample, the
    # reformulation's program; the formulator answers the first formulation and the reformulation.
    model = by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM, UNDER_CONSTRAINED, GOOD_PROGRAM, UNDER_CONSTRAINED])
    row = bench.run_item(Solver(SolveConfig(), model), EXAMPLE)
    assert row["first"]["answer"] is None and "several solutions" in row["first"]["error"]
    assert row["repair_example"]["correct"] and row["resample"]["correct"]
    assert not row["repair_plain"]["correct"] and row["repair_plain"]["answer"] is None
    assert row["reformulate"]["answer"] is None
    gen = [(msgs, params) for msgs, params in model.calls if "Python program" in msgs[0]["content"]]
    first, with_example, plain, resample, reformulated = gen
    # both repairs show the same failed program; only one keeps the worked example
    assert len(with_example[0]) == 6 and len(plain[0]) == 4
    assert with_example[0][-2] == plain[0][-2]
    # the resample is a fresh sampled program for the same formulation, not a repair
    assert resample[0] == first[0] and first[1].temperature == 0.0 and resample[1].temperature > 0
    formulator_calls = [p for msgs, p in model.calls if "Python program" not in msgs[0]["content"]]
    assert len(formulator_calls) == 2 and formulator_calls[1].temperature > 0


def test_a_right_first_program_tries_no_step_and_the_summary_counts_only_failures():
    solved = bench.run_item(Solver(SolveConfig(), by_stage([FORMULATION], [GOOD_PROGRAM])), EXAMPLE)
    assert solved["first"]["correct"] and not set(bench.STEPS) & set(solved)
    failed = bench.run_item(Solver(SolveConfig(), by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM])), EXAMPLE)
    text = bench.summarise([solved, failed])
    assert "items 2: first program right 1, answered wrong 0, no answer 1" in text
    assert [line.split()[1] for line in text.splitlines()[2:]] == ["1/1", "1/1", "1/1", "1/1"]


def test_replay_runs_the_stored_first_program_as_the_solver_runs_it_now():
    failed = bench.run_item(Solver(SolveConfig(), by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM])), EXAMPLE)
    assert failed["program"] == UNDER_CONSTRAINED and failed["formulation"]["model_type"] == "sat"
    # the same row as if its first program had been the right one, recorded as a failure then
    fixed = {**failed, "program": GOOD_PROGRAM}
    [again, now_fixed] = bench.replay([failed, fixed], {EXAMPLE.id: EXAMPLE}, SolveConfig())
    assert again["first"]["answer"] is None and "several solutions" in again["first"]["error"]
    assert now_fixed["first"]["correct"] and not now_fixed["first_before"]["correct"]
