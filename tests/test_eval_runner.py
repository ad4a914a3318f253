"""The eval runner: outputs, resume after a kill, refusing to mix runs, errors, cot fallback. (~8 s)"""

from __future__ import annotations

import json

import pytest
from eval_fixtures import called_tags, scripted_model, tiny_dataset

from l2l.backends.scripted import ScriptedBackend
from l2l.config import SolveConfig
from l2l.errors import InputError, L2LError
from l2l.eval import EvalRun, read_predictions, run_eval

FIELDS = {"id", "question", "gold", "prediction", "correct", "status", "formulation", "program", "solver_output", "timings", "tokens"}


# The scripted q3 program crashes and its repair answers: one repair round (the default is none).
REPAIR_ONCE = SolveConfig(repair_rounds=1)


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture()
def data(tmp_path):
    return str(tiny_dataset(tmp_path))


def test_outputs_one_line_per_example_and_a_summary(tmp_path, data):
    out = tmp_path / "run"
    summary = run_eval(EvalRun(data, "program", out, command="l2l eval ...", config=REPAIR_ONCE), backend=scripted_model(), progress=False)
    recs = lines(out / "predictions.jsonl")
    assert [r["id"] for r in recs] == ["q1", "q2", "q3", "q4"]
    assert all(FIELDS <= set(r) for r in recs)
    assert [r["correct"] for r in recs] == [True, False, True, False]
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["n"] == summary["n"] == 4
    assert on_disk["accuracy"] == 0.5 and on_disk["exec_rate"] == 0.75  # q4 wrote no program
    assert on_disk["method"] == "program" and on_disk["command"] == "l2l eval ..." and "mean_latency_s" in on_disk
    table = (out / "summary.md").read_text()
    assert "| program |" in table and "50.0%" in table and "75.0%" in table


def test_each_prediction_records_the_matching_rule_and_the_summary_counts_them(tmp_path, data):
    out = tmp_path / "run"
    summary = run_eval(EvalRun(data, "program", out, config=REPAIR_ONCE), backend=scripted_model(), progress=False)
    recs = {r["id"]: r for r in lines(out / "predictions.jsonl")}
    # q1/q2: the program printed "True", read as option A's text (right for q1, wrong for q2);
    # q3: it printed 5 for gold "5"; q4 wrote no program, so there was no answer to read.
    assert {k: (r["match_rule"], r["answer_text"]) for k, r in recs.items()} == {
        "q1": ("option_text", "True"), "q2": ("option_text", "True"), "q3": ("exact", "5"), "q4": ("none", None)}
    assert summary["match_rules"] == {"option_text": {"answers": 2, "correct": 1}, "exact": {"answers": 1, "correct": 1},
                                      "none": {"answers": 1, "correct": 0}}


def test_rerun_with_same_out_redoes_nothing(tmp_path, data):
    out = tmp_path / "run"
    run_eval(EvalRun(data, "cot", out), backend=scripted_model(), progress=False)
    again = scripted_model()
    summary = run_eval(EvalRun(data, "cot", out), backend=again, progress=False)
    assert again.calls == [] and summary["n"] == 4


class Killed(KeyboardInterrupt):
    pass


def test_killed_run_resumes_without_redoing_finished_examples(tmp_path, data):
    out = tmp_path / "run"
    model = scripted_model()
    original = model._chat

    def dies_on_third_call(messages, params):
        if len(model.calls) == 2:
            raise Killed()  # like Ctrl-C / SIGINT in the middle of the third example
        return original(messages, params)

    model._chat = dies_on_third_call
    with pytest.raises(KeyboardInterrupt):
        run_eval(EvalRun(data, "cot", out), backend=model, progress=False)
    assert [r["id"] for r in lines(out / "predictions.jsonl")] == ["q1", "q2"]  # finished ones were flushed

    # A torn half line, as if the kill hit during a write: dropped and rewritten, not fatal.
    with open(out / "predictions.jsonl", "a") as f:
        f.write('{"id": "q3", "predic')
    resumed = scripted_model()
    summary = run_eval(EvalRun(data, "cot", out), backend=resumed, progress=False)
    assert called_tags(resumed) == ["q3", "q4"]  # only the unfinished examples reached the model
    assert sorted(r["id"] for r in lines(out / "predictions.jsonl")) == ["q1", "q2", "q3", "q4"]
    assert summary["n"] == 4 and summary["accuracy"] == 0.5


def test_larger_limit_extends_a_smaller_run(tmp_path, data):
    out = tmp_path / "run"
    run_eval(EvalRun(data, "cot", out, limit=2, seed=1), backend=scripted_model(), progress=False)
    first = {r["id"] for r in lines(out / "predictions.jsonl")}
    more = scripted_model()
    summary = run_eval(EvalRun(data, "cot", out, limit=4, seed=1), backend=more, progress=False)
    assert set(called_tags(more)) == {"q1", "q2", "q3", "q4"} - first and summary["n"] == 4


def test_refuses_to_mix_another_method_or_dataset_unless_overwrite(tmp_path, data):
    out = tmp_path / "run"
    run_eval(EvalRun(data, "cot", out), backend=scripted_model(), progress=False)
    with pytest.raises(InputError, match="different run.*method"):
        run_eval(EvalRun(data, "direct", out), backend=scripted_model(), progress=False)
    with pytest.raises(InputError, match="dataset"):
        run_eval(EvalRun("bbh_web_of_lies", "cot", out, limit=1), backend=scripted_model(), progress=False)
    summary = run_eval(EvalRun(data, "direct", out, overwrite=True), backend=scripted_model(), progress=False)
    assert summary["method"] == "direct" and {r["status"] for r in lines(out / "predictions.jsonl")} == {"answered"}


def test_an_exception_is_recorded_then_retried_on_resume(tmp_path, data):
    out = tmp_path / "run"
    good = scripted_model()

    def flaky(messages, params):
        if "[q2]" in messages[-1]["content"]:
            raise RuntimeError("server hiccup")
        return good._next(messages, params)

    summary = run_eval(EvalRun(data, "cot", out), backend=ScriptedBackend(flaky), progress=False)
    assert summary["n"] == 3  # q2 is not finished
    assert any(r["status"] == "error" and "server hiccup" in r["error"] for r in lines(out / "predictions.jsonl"))
    retry = scripted_model()
    summary = run_eval(EvalRun(data, "cot", out), backend=retry, progress=False)
    assert called_tags(retry) == ["q2"] and summary["n"] == 4
    assert read_predictions(out / "predictions.jsonl")["q2"]["status"] == "answered"


def test_a_dead_backend_stops_the_run_with_a_message(tmp_path):
    rows = [{"id": f"x{i}", "question": f"[q{i}] q", "answer": "1"} for i in range(8)]
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))

    def dead(messages, params):
        raise ConnectionError("connection refused")

    with pytest.raises(L2LError, match="5 examples in a row failed.*connection refused"):
        run_eval(EvalRun(str(path), "cot", tmp_path / "run"), backend=ScriptedBackend(dead), progress=False)


def test_cot_fallback_is_reported_separately(tmp_path, data):
    out = tmp_path / "run"
    summary = run_eval(EvalRun(data, "program", out, fallback="cot", config=REPAIR_ONCE), backend=scripted_model(), progress=False)
    assert summary["accuracy"] == 0.5  # the program's own accuracy, unchanged by the fallback
    fb = summary["fallback"]
    assert fb["used"] == 1  # only q4 failed
    q4 = read_predictions(out / "predictions.jsonl")["q4"]
    assert q4["prediction"] is None and q4["correct"] is False  # the main columns stay the program's
    assert q4["fallback"]["prediction"] == "Hmm" and fb["accuracy_with_fallback"] == 0.5


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"method": "magic"}, "unknown method"),
        ({"method": "cot", "fallback": "cot"}, "program methods"),
        ({"method": "cot", "samples": 3}, "l2l_vote only"),
        ({"method": "l2l_vote", "samples": 0}, ">= 1"),
        ({"method": "cot", "limit": 0}, ">= 1"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tmp_path, data, kwargs, message):
    model = scripted_model()
    with pytest.raises(InputError, match=message):
        run_eval(EvalRun(data, out=tmp_path / "run", **kwargs), backend=model, progress=False)
    assert model.calls == []


def test_a_config_field_added_later_resumes_at_its_default_and_refuses_otherwise(tmp_path, data):
    """A folder started before a SolveConfig field existed (its run.json lacks the key) resumes when
    the run leaves the field at its default, the behaviour its items were made with; a changed
    value is another experiment."""
    out = tmp_path / "run"
    run_eval(EvalRun(data, "program", out, limit=2, seed=1), backend=scripted_model(), progress=False)
    run_file = out / "run.json"
    recorded = json.loads(run_file.read_text())
    assert "fix_programs" in recorded["identity"]["config"]
    del recorded["identity"]["config"]["fix_programs"]  # as written before the field existed
    run_file.write_text(json.dumps(recorded))
    more = scripted_model()
    summary = run_eval(EvalRun(data, "program", out, limit=4, seed=1), backend=more, progress=False)
    assert summary["n"] == 4 and len(called_tags(more)) == 2  # resumed: only the new items ran
    run_file.write_text(json.dumps(recorded))
    changed = EvalRun(data, "program", out, limit=4, seed=1, config=SolveConfig(fix_programs=True))
    with pytest.raises(InputError, match="different run"):
        run_eval(changed, backend=scripted_model(), progress=False)


def test_a_cot_folder_records_only_the_settings_cot_reads(tmp_path, data):
    """cot reads the seed, the repeat penalty and the time budget, not the program pipeline: a
    changed repair or prelude setting leaves its half-finished folder resumable (a table cell made
    over several sessions), while a program folder, which those settings change, refuses."""
    out, prog = tmp_path / "cot", tmp_path / "program"
    run_eval(EvalRun(data, "cot", out, limit=2, seed=1), backend=scripted_model(), progress=False)
    run_eval(EvalRun(data, "program", prog, limit=2, seed=1), backend=scripted_model(), progress=False)
    assert set(json.loads((out / "run.json").read_text())["identity"]["config"]) == {"seed", "repeat_penalty", "time_budget_s"}
    other = SolveConfig(repair_rounds=3, fix_programs=True)
    more = scripted_model()
    summary = run_eval(EvalRun(data, "cot", out, limit=4, seed=1, config=other), backend=more, progress=False)
    assert summary["n"] == 4 and len(called_tags(more)) == 2  # resumed: only the new items ran
    with pytest.raises(InputError, match="different run"):
        run_eval(EvalRun(data, "program", prog, limit=4, seed=1, config=other), backend=scripted_model(), progress=False)
    with pytest.raises(InputError, match="different run"):  # what cot does read still counts
        run_eval(EvalRun(data, "cot", out, limit=4, seed=1, config=SolveConfig(repeat_penalty=1.3)), backend=scripted_model(), progress=False)


def test_a_cot_folder_written_with_the_whole_config_resumes(tmp_path, data):
    # Folders made before cot's identity kept only its own settings hold every SolveConfig field
    # (the published table cells): they resume when the settings cot reads agree.
    out = tmp_path / "cot"
    run_eval(EvalRun(data, "cot", out, limit=2, seed=1), backend=scripted_model(), progress=False)
    run_file = out / "run.json"
    recorded = json.loads(run_file.read_text())
    recorded["identity"]["config"] = {**SolveConfig(repair_rounds=1).to_dict(), **recorded["identity"]["config"]}
    recorded["identity"]["config"].pop("model")
    run_file.write_text(json.dumps(recorded))
    more = scripted_model()
    summary = run_eval(EvalRun(data, "cot", out, limit=4, seed=1), backend=more, progress=False)
    assert summary["n"] == 4 and len(called_tags(more)) == 2


def _batch_sizes(model):
    """Record how many conversations each call to `model` carried (a gathered batch: several)."""
    sizes, original = [], model.chat_batch

    def chat_batch(conversations, params=None, **kw):
        sizes.append(len(conversations))
        return original(conversations, params, **kw)

    model.chat_batch = chat_batch
    return sizes


@pytest.mark.parametrize("method", ["l2l", "l2l_vote"])
def test_l2l_with_a_batch_size_runs_questions_concurrently_with_the_one_at_a_time_answers(tmp_path, data, method):
    """--batch-size 3 for l2l: three questions solved at once, their model calls merged into one
    chat_batch where their settings agree; the predictions are the ones a one-at-a-time run writes."""
    keys = ("prediction", "correct", "status", "program", "formulation")
    samples = 2 if method == "l2l_vote" else None
    alone = run_eval(EvalRun(data, method, tmp_path / "one", config=REPAIR_ONCE, samples=samples),
                     backend=scripted_model(), progress=False)
    model = scripted_model()
    model.delay_s = 0.02  # calls take time, as a model's do, so the questions overlap
    sizes = _batch_sizes(model)
    together = run_eval(EvalRun(data, method, tmp_path / "three", config=REPAIR_ONCE, samples=samples, batch_size=3),
                        backend=model, progress=False)
    one = {r["id"]: tuple(r[k] for k in keys) for r in lines(tmp_path / "one" / "predictions.jsonl")}
    three = {r["id"]: tuple(r[k] for k in keys) for r in lines(tmp_path / "three" / "predictions.jsonl")}
    assert three == one and len(three) == 4
    assert max(sizes) == 3  # the three first formulations went out as one call
    assert together["accuracy"] == alone["accuracy"]


def test_a_concurrent_l2l_run_stopped_midway_keeps_what_finished_and_resumes_the_rest(tmp_path, data):
    out = tmp_path / "run"
    model = scripted_model()
    original = model._chat

    def dies_after_the_first_questions(messages, params):
        if len(model.calls) >= 5:
            raise Killed()  # Ctrl-C while the last questions are under way
        return original(messages, params)

    model._chat = dies_after_the_first_questions
    with pytest.raises(KeyboardInterrupt):
        run_eval(EvalRun(data, "l2l", out, config=REPAIR_ONCE, batch_size=2), backend=model, progress=False)
    kept = [r["id"] for r in lines(out / "predictions.jsonl")]
    assert 0 < len(kept) < 4, kept  # some questions finished before the stop, not all
    assert all(r["status"] != "error" for r in lines(out / "predictions.jsonl"))
    resumed = scripted_model()
    summary = run_eval(EvalRun(data, "l2l", out, config=REPAIR_ONCE, batch_size=2), backend=resumed, progress=False)
    assert not set(called_tags(resumed)) & set(kept)  # nothing finished was asked again
    assert summary["n"] == 4
