"""Token accounting per stage: every model call lands in exactly one stage, candidates add up to the
solve, and the totals reach `predictions.jsonl`, `summary.json`, `l2l solve --json` and bench_tokens."""

import json
import subprocess
import sys
from pathlib import Path

from l2l.backends.scripted import ScriptedBackend
from l2l.config import SolveConfig
from l2l.pipeline.solve import Solver
from l2l.types import STAGES, add_usage

from test_pipeline import FORMULATION, GOOD_PROGRAM, QUESTION, UNDER_CONSTRAINED, by_stage

ROOT = Path(__file__).resolve().parents[1]


def _sum(usage):
    return (sum(u["prompt_tokens"] for u in usage.values()), sum(u["completion_tokens"] for u in usage.values()),
            sum(u["calls"] for u in usage.values()))


def _check_totals(result, calls):
    """Stages add up to the solve's token totals, candidates add up to the stages, and every
    model call the backend saw is counted once."""
    assert set(result.usage) <= set(STAGES)
    prompt, gen, n = _sum(result.usage)
    assert (prompt, gen) == (result.tokens["prompt"], result.tokens["completion"])
    assert n == calls
    merged = {}
    for c in result.candidates:
        add_usage(merged, c.usage, as_stage="reformulation" if c.phase == "reformulation" else None)
    assert _sum(merged) == (prompt, gen, n)


def test_formulation_program_and_repair_are_counted_separately():
    model = by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM])
    result = Solver(SolveConfig(repair_rounds=1), model).solve(QUESTION)
    assert result.answer == "A is a knight, B is a knave"
    assert {k: u["calls"] for k, u in result.usage.items()} == {"formulation": 1, "program": 1, "repair": 1}
    # The scripted backend counts words: the formulation stage generated the formulation's words.
    assert result.usage["formulation"]["completion_tokens"] == len(FORMULATION.split())
    assert result.usage["repair"]["completion_tokens"] == len(GOOD_PROGRAM.split())
    # The repair prompt holds the first program and the solver's error: longer than the first prompt.
    assert result.usage["repair"]["prompt_tokens"] > result.usage["program"]["prompt_tokens"]
    _check_totals(result, len(model.calls))
    d = result.to_dict()
    assert d["usage"] == result.usage and d["candidates"][0]["usage"] == result.candidates[0].usage


def test_formulation_repair_round_is_its_own_stage():
    model = by_stage(["Here is my answer, no JSON", FORMULATION], [GOOD_PROGRAM])
    result = Solver(SolveConfig(), model).solve(QUESTION)
    assert result.answer is not None
    assert result.usage["formulation"]["calls"] == 1 and result.usage["formulation_repair"]["calls"] == 1
    _check_totals(result, len(model.calls))


def test_coverage_round_is_counted():
    # Leaves out B's statement: the coverage round asks for it.
    partial = json.loads(FORMULATION)
    partial["constraints"] = partial["constraints"][:1]
    model = by_stage([json.dumps(partial), FORMULATION], [GOOD_PROGRAM])
    result = Solver(SolveConfig(coverage_repair=True), model).solve(QUESTION)
    assert result.usage["coverage"]["calls"] == 1
    assert "leave out" in [m for m, _ in model.calls][1][-1]["content"]
    _check_totals(result, len(model.calls))


def test_reformulation_rounds_are_counted_under_reformulation():
    # First formulation -> a program with two solutions (no answer, no repair); the reformulation's
    # program answers.
    model = by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM])
    result = Solver(SolveConfig(repair_rounds=0, reformulations=2), model).solve(QUESTION)
    assert result.answer == "A is a knight, B is a knave"
    assert [c.phase for c in result.candidates] == ["initial", "reformulation"]
    assert result.usage["formulation"]["calls"] == 1 and result.usage["program"]["calls"] == 1
    assert result.usage["reformulation"]["calls"] == 2  # its formulation and its program
    assert set(result.candidates[1].usage) == {"formulation", "program"}  # the candidate keeps the detail
    _check_totals(result, len(model.calls))


def test_a_formulation_shared_by_several_programs_is_counted_once():
    model = by_stage([FORMULATION], [GOOD_PROGRAM])
    result = Solver(SolveConfig(programs_per_formulation=3, early_stop_agree=0), model).solve(QUESTION)
    assert len(result.candidates) == 3
    assert [("formulation" in c.usage) for c in result.candidates] == [True, False, False]
    assert result.usage["formulation"]["calls"] == 1 and result.usage["program"]["calls"] == 3
    _check_totals(result, len(model.calls))


def test_eval_predictions_and_summary_carry_usage_per_stage(tmp_path):
    from l2l.eval.runner import EvalRun, run_eval

    data = tmp_path / "d.jsonl"
    rows = [{"id": f"q{i}", "question": QUESTION, "options": None, "answer": "A is a knight, B is a knave"} for i in range(2)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = by_stage([FORMULATION], [GOOD_PROGRAM])
    summary = run_eval(EvalRun(str(data), "l2l", tmp_path / "out"), backend=model, progress=False)
    recs = [json.loads(x) for x in (tmp_path / "out/predictions.jsonl").read_text().splitlines()]
    assert all(set(r["usage"]) == {"formulation", "program"} for r in recs)
    on_disk = json.loads((tmp_path / "out/summary.json").read_text())
    u = on_disk["usage"]
    assert u == summary["usage"]
    assert u["formulation"]["calls"] == 2 and u["program"]["calls"] == 2
    assert u["formulation"]["mean_completion_tokens"] == len(FORMULATION.split())
    assert u["program"]["completion_tokens"] + u["formulation"]["completion_tokens"] == on_disk["tokens"]["completion"]
    assert summary["accuracy"] == 1.0


def test_cot_usage_is_one_answer_stage(tmp_path):
    from l2l.eval.runner import EvalRun, run_eval

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "1", "question": "Is 2 even?", "options": ["A) yes", "B) no"], "answer": "A"}) + "\n")
    summary = run_eval(EvalRun(str(data), "cot", tmp_path / "out"), backend=ScriptedBackend(["2 is even. Answer: A"]), progress=False)
    assert set(summary["usage"]) == {"answer"} and summary["usage"]["answer"]["calls"] == 1


def test_solve_json_reports_usage(monkeypatch, capsys):
    from l2l.cli import main
    from l2l.pipeline import solve as solve_mod

    monkeypatch.setenv("L2L_NO_BUSY_CHECK", "1")
    monkeypatch.setattr(solve_mod, "build_solver", lambda config, progress=None, **kw: (
        solve_mod.Solver(config, by_stage([FORMULATION], [GOOD_PROGRAM]), progress=progress), 0.0))
    code = main(["solve", "--json", "--quiet", QUESTION])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and set(out["usage"]) == {"formulation", "program"}
    assert out["usage"]["program"]["completion_tokens"] == len(GOOD_PROGRAM.split())
    assert out["stopped_by"] is None
    main(["solve", "--quiet", QUESTION])
    assert "Tokens: formulation" in capsys.readouterr().out


def test_bench_tokens_prints_stages_per_dataset(tmp_path):
    from l2l.eval.runner import EvalRun, run_eval

    data = tmp_path / "kk.jsonl"
    data.write_text(json.dumps({"id": "1", "question": QUESTION, "options": None, "answer": "A is a knight, B is a knave"}) + "\n")
    run_eval(EvalRun(str(data), "l2l", tmp_path / "a", config=SolveConfig(repair_rounds=1)), backend=by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM]), progress=False)
    # An old-format record (no per-stage usage) counts under "all".
    old = tmp_path / "old" / "predictions.jsonl"
    old.parent.mkdir()
    old.write_text(json.dumps({"id": "1", "dataset": "old_set", "method": "cot", "status": "answered",
                               "tokens": {"prompt": 100, "completion": 40}, "timings": {"llm": 2.0, "total": 2.1}}) + "\n")
    # A published table cell keeps its predictions gzipped (bench/results/eval/...): read as well.
    import gzip

    published = tmp_path / "published"
    published.mkdir()
    (published / "predictions.jsonl.gz").write_bytes(gzip.compress((tmp_path / "a" / "predictions.jsonl").read_bytes()))
    r = subprocess.run([sys.executable, str(ROOT / "bench/bench_tokens.py"), str(tmp_path / "a"), str(old), str(published),
                        "--json", str(tmp_path / "rows.json")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "rows.json").read_text())
    rows = report["stages"]
    # The repair round ran on both copies of the item (the first program left several solutions) and
    # rescued it each time: what the round bought, and nothing spent on items it did not rescue.
    [repair] = [x for x in report["extra_rounds"] if x["dataset"] == "kk"]
    assert (repair["round"], repair["items"], repair["answered"], repair["right"]) == ("repair", 2, 2, 2)
    assert repair["model_s_no_answer"] == 0 and "extra rounds" in r.stdout
    kk = {x["stage"]: x for x in rows if x["dataset"] == "kk"}
    assert set(kk) == {"formulation", "program", "repair", "total"}
    assert kk["total"]["items"] == 2 and kk["repair"]["gen_per_item"] == len(GOOD_PROGRAM.split())
    assert kk["total"]["gen_per_item"] == sum(kk[s]["gen_per_item"] for s in ("formulation", "program", "repair"))
    assert abs(sum(kk[s]["gen_share"] for s in ("formulation", "program", "repair")) - 1.0) < 0.01
    old_rows = {x["stage"]: x for x in rows if x["dataset"] == "old_set"}
    assert old_rows["all"]["gen_per_item"] == 40 and old_rows["all"]["tok_per_s"] == 20.0
    assert "repair" in r.stdout and "old_set" in r.stdout
