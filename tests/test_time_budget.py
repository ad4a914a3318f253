"""The time budget: nothing starts after it, a completion under way is cut at it, and the vote over
the candidates so far is returned with `stopped_by == "time_budget"`. The scripted backend sleeps
`delay_s` per call (wall clock) and honours deadlines as the llama.cpp backend does."""

import json
import time

import pytest

from l2l.backends.base import GenerationParams
from l2l.backends.scripted import ScriptedBackend
from l2l.config import SolveConfig
from l2l.pipeline.solve import Solver

from test_pipeline import FORMULATION, GOOD_PROGRAM, QUESTION, UNDER_CONSTRAINED


def timed(formulations, programs, delay_s):
    f_queue, p_queue = list(formulations), list(programs)

    def reply(messages, params: GenerationParams):
        queue = p_queue if "Python program" in messages[0]["content"] else f_queue
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return ScriptedBackend(reply, delay_s=delay_s)


class StubExec(Solver):
    """Programs "run" in `exec_s` seconds without the sandbox, so the timings are the test's own:
    GOOD_PROGRAM answers, anything else reports several solutions."""

    exec_s = 0.0

    def _execute(self, attempt, ledger):
        from l2l.types import ExecutionResult

        time.sleep(self.exec_s)
        if attempt.program.code.strip() == GOOD_PROGRAM.split("```python")[1].split("```")[0].strip():
            return ExecutionResult("ok", answer="A is a knight, B is a knave")
        return ExecutionResult("runtime_error", error="Puzzle.solve: several solutions")


def test_without_a_budget_every_candidate_runs():
    model = timed([FORMULATION], [GOOD_PROGRAM], 0.0)
    result = Solver(SolveConfig(formulations=4, early_stop_agree=0), model).solve(QUESTION)
    assert len(result.candidates) == 4 and result.stopped_by is None


def test_sampling_stops_at_the_budget_and_keeps_the_answer_so_far():
    # Each candidate costs two calls of 0.3 s; four would take 2.4 s. At 1.35 s the third
    # formulation (started at 1.2 s) is under way.
    model = timed([FORMULATION], [GOOD_PROGRAM], 0.3)
    t = time.perf_counter()
    result = StubExec(SolveConfig(formulations=4, early_stop_agree=0, time_budget_s=1.35), model).solve(QUESTION)
    wall = time.perf_counter() - t
    assert result.stopped_by == "time_budget"
    assert wall < 1.35 + 0.25, wall  # the last call is cut at the deadline, not run to its end
    assert result.answer == "A is a knight, B is a knave" and result.status == "solved"
    answered = [c for c in result.candidates if c.answer is not None]
    assert len(answered) == 2 and len(result.candidates) == 3
    # The call under way at the deadline was cut, and its candidate says so.
    cut = [c for c in result.candidates if c.error and "time budget" in c.error]
    assert cut, [c.error for c in result.candidates]
    assert result.to_dict()["stopped_by"] == "time_budget"


def test_a_budget_shorter_than_the_first_formulation_gives_no_answer_and_says_why():
    model = timed([FORMULATION], [GOOD_PROGRAM], 1.0)
    t = time.perf_counter()
    result = Solver(SolveConfig(time_budget_s=0.3), model).solve(QUESTION)
    assert time.perf_counter() - t < 0.9
    assert result.answer is None and result.status == "no_answer" and result.stopped_by == "time_budget"
    assert "time budget" in result.error
    assert len(model.calls) == 1  # no repair round of the cut formulation after the deadline
    assert result.usage["formulation"]["calls"] == 1


def test_no_repair_round_starts_after_the_budget():
    # formulation 0-0.2 s, program 0.2-0.4 s, running it 0.4-0.7 s: the budget ends meanwhile.
    model = timed([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM], 0.2)
    solver = StubExec(SolveConfig(repair_rounds=3, time_budget_s=0.55), model)
    solver.exec_s = 0.3
    result = solver.solve(QUESTION)
    assert result.stopped_by == "time_budget" and result.answer is None
    assert result.candidates[0].repairs == 0 and "several solutions" in result.candidates[0].error
    assert [p.deadline is not None for _, p in model.calls] == [True, True]


def test_a_budget_that_is_not_reached_changes_nothing():
    model = timed([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM], 0.0)
    result = StubExec(SolveConfig(repair_rounds=1, time_budget_s=60), model).solve(QUESTION)
    assert result.stopped_by is None and result.answer == "A is a knight, B is a knave" and result.best.repairs == 1


def test_reformulations_stop_at_the_budget():
    # 0.4 s per formulation + program: the initial one, one reformulation, the second one's
    # formulation (started at 0.8 s) cut at 0.9 s.
    model = timed([FORMULATION], [UNDER_CONSTRAINED], 0.2)
    result = StubExec(SolveConfig(repair_rounds=0, reformulations=10, time_budget_s=0.9), model).solve(QUESTION)
    assert result.stopped_by == "time_budget"
    assert [c.phase for c in result.candidates] == ["initial", "reformulation", "reformulation"]
    assert "time budget" in result.candidates[-1].error


def test_solve_cli_time_budget_reaches_the_config(monkeypatch, capsys):
    from l2l.cli import main
    from l2l.pipeline import solve as solve_mod

    seen = {}

    def fake_build(config, progress=None, **kw):
        seen["budget"] = config.time_budget_s
        return solve_mod.Solver(config, timed([FORMULATION], [GOOD_PROGRAM], 0.4), progress=progress), 0.0

    monkeypatch.setenv("L2L_NO_BUSY_CHECK", "1")
    monkeypatch.setattr(solve_mod, "build_solver", fake_build)
    code = main(["solve", "--json", "--quiet", "--time-budget", "0.5", QUESTION])
    out = json.loads(capsys.readouterr().out)
    assert seen["budget"] == 0.5
    assert code == 1 and out["stopped_by"] == "time_budget" and "time budget" in out["error"]
    main(["solve", "--quiet", "--time-budget", "0.5", QUESTION])
    assert "stopped by the time budget" in capsys.readouterr().out
    assert main(["solve", "--json", "--quiet", "--time-budget", "0", QUESTION]) == 2


def test_eval_set_time_budget_is_per_item(tmp_path):
    import argparse

    from l2l.cli.eval_cmd import _config
    from l2l.eval.runner import EvalRun, run_eval

    config = _config(argparse.Namespace(set=["time_budget_s=0.6"], model=None, seed=0))
    assert config.time_budget_s == 0.6
    assert _config(argparse.Namespace(set=["time_budget_s=none"], model=None, seed=0)).time_budget_s is None
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "question": QUESTION, "options": None, "answer": "x"}) + "\n" for i in range(2)))
    model = timed([FORMULATION], [GOOD_PROGRAM], 0.4)
    t = time.perf_counter()
    summary = run_eval(EvalRun(str(data), "l2l_vote", tmp_path / "out", samples=5, config=config), backend=model, progress=False)
    assert time.perf_counter() - t < 5  # each item gets its own 0.6 s (+ running a program), not 5 x 0.8 s
    recs = [json.loads(x) for x in (tmp_path / "out/predictions.jsonl").read_text().splitlines()]
    assert [r["extra"]["stopped_by"] for r in recs] == ["time_budget", "time_budget"]
    assert summary["stopped_by_time_budget"] == 2


@pytest.mark.parametrize("method", ["cot", "program"])
def test_single_pass_methods_are_cut_at_the_budget_too(tmp_path, method):
    from l2l.eval.runner import EvalRun, run_eval

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "1", "question": "Is 2 even?", "options": ["A) yes", "B) no"], "answer": "A"}) + "\n")
    reply = "2 is even. Answer: A" if method == "cot" else '```python\nanswer("A")\n```'
    # Without a budget the reply is right.
    quick = run_eval(EvalRun(str(data), method, tmp_path / "quick"), backend=ScriptedBackend([reply]), progress=False)
    assert quick["correct"] == 1
    model = ScriptedBackend([reply], delay_s=1.0)
    t = time.perf_counter()
    summary = run_eval(EvalRun(str(data), method, tmp_path / "out", config=SolveConfig(time_budget_s=0.3)), backend=model, progress=False)
    assert time.perf_counter() - t < 0.9 and summary["correct"] == 0
    assert len(model.calls) == 1  # no repair round after the budget


@pytest.mark.slow
def test_llamacpp_completion_is_cut_at_the_deadline_and_the_model_state_survives(llama_05b):
    msgs = [{"role": "user", "content": "Count from 1 to 300, one number per line, nothing else."}]
    full = llama_05b.chat(msgs, GenerationParams(max_tokens=48))[0]
    t = time.monotonic()
    cut = llama_05b.chat(msgs, GenerationParams(max_tokens=600, deadline=t + 1.0))[0]
    elapsed = time.monotonic() - t
    assert cut.finish_reason == "time_budget" and elapsed < 1.0 + 0.5, elapsed
    assert 0 < cut.completion_tokens < 600 and cut.prompt_tokens == full.prompt_tokens
    # Greedy: the cut text is the start of the uncut one (or the other way round).
    short, long_ = sorted((cut.text, full.text), key=len)
    assert long_.startswith(short) and short.strip(), (cut.text, full.text)
    # The interrupted call left the context usable: the same request gives the same answer.
    assert llama_05b.chat(msgs, GenerationParams(max_tokens=48))[0].text == full.text
    # A deadline already past: nothing is generated. Under a JSON-schema grammar too.
    late = llama_05b.chat(msgs, GenerationParams(max_tokens=48, deadline=time.monotonic() - 1))[0]
    assert (late.text, late.completion_tokens, late.finish_reason) == ("", 0, "time_budget")
    # A long prompt not in the KV cache is read in chunks, so the deadline cuts its reading too.
    long_msgs = [{"role": "user", "content": " ".join(f"item{i} weighs {i % 7} kg;" for i in range(300)) + " Which items weigh 3 kg?"}]
    t = time.monotonic()
    reading = llama_05b.chat(long_msgs, GenerationParams(max_tokens=16, deadline=t + 0.3))[0]
    # Cut by the deadline before its 16 tokens (while reading, or a few tokens in when an earlier
    # test left the prompt's prefix in the KV state and reading was quick).
    assert reading.finish_reason == "time_budget" and reading.completion_tokens < 16, reading
    assert time.monotonic() - t < 0.3 + 1.0 and reading.prompt_tokens > 1500
    assert llama_05b.chat(long_msgs, GenerationParams(max_tokens=4))[0].completion_tokens > 0  # still usable
    schema = {"type": "object", "properties": {"numbers": {"type": "array", "items": {"type": "integer"}}}, "required": ["numbers"]}
    g = llama_05b.chat(msgs, GenerationParams(max_tokens=600, json_schema=schema, deadline=time.monotonic() + 0.8))[0]
    assert g.finish_reason == "time_budget" and g.text.lstrip().startswith("{")
