"""Each evaluation method on scripted completions, with the real sandboxed executor and solvers. (~8 s: sandbox start)"""

from __future__ import annotations

import pytest
from eval_fixtures import REPLIES, called_tags, code, scripted_model, tiny_dataset

from l2l.config import SolveConfig
from l2l.data import load_dataset
from l2l.eval import METHODS, EvalContext


@pytest.fixture()
def examples(tmp_path):
    return load_dataset(str(tiny_dataset(tmp_path)))


def test_registry_has_the_five_methods():
    assert list(METHODS) == ["direct", "cot", "program", "l2l", "l2l_vote"]
    assert [m for m, v in METHODS.items() if v.uses_programs] == ["program", "l2l", "l2l_vote"]


def test_direct_and_cot_parse_the_answer_line_and_normalise_it(examples):
    ctx = EvalContext(backend=scripted_model())
    direct = METHODS["direct"].run_batch(examples, ctx)
    assert [p.prediction for p in direct] == ["B", "B", "4", "Yes"]
    cot = METHODS["cot"].run_batch(examples, ctx)
    assert [p.prediction for p in cot] == ["A", "A", "5", "Hmm"]  # "5.0" -> "5"; last line when no Answer:
    assert all(p.executed is None for p in direct + cot)  # no programs: not part of exec_rate


def test_cot_uses_one_batched_request_per_batch(examples):
    model = scripted_model()
    calls = []
    original = model.chat_batch

    def spy(conversations, params=None, **kw):
        calls.append(len(conversations))
        return original(conversations, params, **kw)

    model.chat_batch = spy
    METHODS["cot"].run_batch(examples, EvalContext(backend=model))
    assert calls == [4]


def test_program_runs_in_the_sandbox_and_repairs_a_crash(examples):
    model = scripted_model()
    preds = METHODS["program"].run_batch(examples, EvalContext(backend=model, config=SolveConfig(repair_rounds=1)))
    q1, q2, q3, q4 = preds
    assert (q1.prediction, q1.status, q1.executed) == ("A", "solved", True)  # "True" mapped onto option A
    assert q1.solver_output["stdout"].strip() == "ANSWER: True"  # the real executor ran it
    assert q2.prediction == "A"
    assert (q3.prediction, q3.extra["repairs"]) == ("5", 1)  # crashed, repaired with the error
    assert (q4.prediction, q4.status, q4.executed) == (None, "no_program", False)
    repair_prompt = next(m for m, _ in model.calls if m[-1]["content"].startswith("Running your program failed"))
    assert "boom" in repair_prompt[-1]["content"]  # the solver's error reached the model
    assert sorted(called_tags(model)) == ["q1", "q2", "q3", "q3", "q4", "q4"]


def test_program_without_repair_reports_the_runtime_error(examples):
    preds = METHODS["program"].run_batch(examples[2:3], EvalContext(backend=scripted_model(), config=SolveConfig(repair_rounds=0)))
    assert preds[0].prediction is None and preds[0].status == "runtime_error" and "boom" in preds[0].error


def test_program_repairs_get_the_pipelines_hints_and_example_setting(examples):
    # Fairness (issue 17): the one-stage baseline is told what l2l's repair is told, so the two
    # differ only in the formulation stage.
    replies = {**REPLIES, "program": {"q3": code("answer(apples - 2)")}, "repair": {"q3": code("answer(5)")}}
    model = scripted_model(replies)
    config = SolveConfig(repair_rounds=1, repair_with_example=False)
    pred = METHODS["program"].run_batch(examples[2:3], EvalContext(backend=model, config=config))[0]
    assert pred.prediction == "5"
    repair = model.calls[-1][0]
    assert "Hint: `apples` is used but never declared" in repair[-1]["content"]  # solve.repair_feedback's hint
    assert len(repair) == 4  # system, question, failed program, repair request: the worked example was dropped


def test_program_answer_that_matches_no_option_is_unmapped(examples):
    replies = {**REPLIES, "program": {"q1": "```python\nanswer('purple')\n```"}}
    preds = METHODS["program"].run_batch(examples[:1], EvalContext(backend=scripted_model(replies), config=SolveConfig(repair_rounds=0)))
    assert preds[0].status == "unmapped" and preds[0].executed is True and preds[0].prediction is None


def test_l2l_goes_through_the_pipeline(examples):
    model = scripted_model()
    preds = [METHODS["l2l"].run(e, EvalContext(backend=model, config=SolveConfig(repair_rounds=1))) for e in examples]
    assert [p.prediction for p in preds] == ["A", "A", "5", None]  # q3's program crashed and was repaired
    assert preds[0].formulation["model_type"] == "sat" and preds[0].program.startswith("answer(")
    assert preds[3].status == "no_answer" and "formulator" in preds[3].error
    assert {"formulation", "generation", "execution", "total"} <= set(preds[0].timings)


def test_l2l_vote_samples_several_candidates_and_stops_when_two_agree(examples):
    model = scripted_model()
    pred = METHODS["l2l_vote"].run(examples[0], EvalContext(backend=model, samples=5))
    assert pred.prediction == "A" and pred.extra["candidates"] == 2  # early stop at 2 agreeing (config default)
    assert pred.extra["votes"] == {"A": 2}
    temps = [params.temperature for _, params in model.calls]
    assert temps[0] == 0.0 and max(temps) > 0  # first greedy, later ones sampled
