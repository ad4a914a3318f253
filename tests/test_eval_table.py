"""The accuracy table: cells resume from their published files without re-running a finished item
(also on a fresh clone), and the markdown comes from those files only. Scripted model, real
sandbox; no model is loaded. (~10 s)"""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from eval_fixtures import called_tags, scripted_model, tiny_dataset

from l2l.eval.cells import Cell, read_published, read_summary, run_cell
from l2l.eval.table import README_END, README_START, render, splice

MODEL = "scripted-test"


class Killed(KeyboardInterrupt):
    pass


@pytest.fixture()
def table(tmp_path):
    """A tiny dataset, a results root (what git would hold) and a work root (runs/, not in git)."""
    data = str(tiny_dataset(tmp_path))
    return {"cell": lambda method: Cell(MODEL, data, method), "results": tmp_path / "results",
            "runs": tmp_path / "runs" / MODEL}


def _dying_model(after_calls: int):
    model = scripted_model()
    original = model._chat

    def dies(messages, params):
        if len(model.calls) == after_calls:
            raise Killed()  # Ctrl-C, or the machine went away, in the middle of an item
        return original(messages, params)

    model._chat = dies
    return model


def test_a_partial_table_resumes_without_rerunning_a_finished_item(table):
    cot = table["cell"]("cot")
    published = table["results"] / cot.key
    assert cot.key == Path(MODEL, "tiny", "cot")

    # 1. Killed during the third item: the two finished ones are published (compressed) anyway.
    with pytest.raises(KeyboardInterrupt):
        run_cell(cot, table["results"], table["runs"], backend=_dying_model(2), progress=False)
    assert [r["id"] for r in read_published(published)] == ["q1", "q2"]
    with gzip.open(published / "predictions.jsonl.gz", "rt") as f:  # really gzip, one record per line
        assert len(f.read().splitlines()) == 2
    first = read_summary(published)
    assert first["n"] == 2 and first["items_selected"] == 4 and len(first["history"]) == 1
    assert first["command"].startswith("l2l eval --dataset") and "--method cot" in first["command"]

    # 2. Another machine: only the published files (no work folder). Only q3 and q4 reach the model.
    shutil.rmtree(table["runs"])
    resumed = scripted_model()
    outcome = run_cell(cot, table["results"], table["runs"], backend=resumed, progress=False,
                       session_command="python bench/run_eval_table.py --limit 4")
    assert called_tags(resumed) == ["q3", "q4"]
    assert (outcome.before, outcome.after, outcome.ran) == (2, 4, True)
    summary = read_summary(published)
    assert [r["id"] for r in read_published(published)] == ["q1", "q2", "q3", "q4"]
    assert summary["n"] == 4 and summary["accuracy"] == 0.5
    assert [h["items_after"] for h in summary["history"]] == [2, 4]  # both sessions, each with its commit
    assert summary["history"][1]["command"] == "python bench/run_eval_table.py --limit 4"
    assert "commit" in summary["history"][1] and "match_rules" in summary

    # 3. A complete cell: no model call, and its files are not touched.
    before = {p.name: p.read_bytes() for p in published.iterdir()}
    again = scripted_model()
    outcome = run_cell(cot, table["results"], table["runs"], backend=again, progress=False)
    assert again.calls == [] and not outcome.ran
    assert {p.name: p.read_bytes() for p in published.iterdir()} == before


def test_a_cell_killed_before_any_item_stays_not_run(table):
    cot = table["cell"]("cot")
    with pytest.raises(KeyboardInterrupt):
        run_cell(cot, table["results"], table["runs"], backend=_dying_model(0), progress=False)
    assert not (table["results"] / cot.key).exists()  # no empty cell that would read as "0%"


def test_table_markdown_from_the_published_files(table, tmp_path):
    for method in ("cot", "program", "l2l"):
        # one repair round, so program and l2l rescue q3's crash (the default is none)
        cell = replace(table["cell"](method), sets=("repair_rounds=1",))
        run_cell(cell, table["results"], table["runs"], backend=scripted_model(), progress=False)
    shutil.rmtree(table["runs"])  # the table reads the published files only
    full, section = render(table["results"], [MODEL], ["tiny"], ["cot", "program", "l2l", "l2l_vote"])

    # cot: q1 and q3 right of 4 -> 50% with the Wilson interval of 2/4.
    assert "| tiny | 50.0 [15.0, 85.0] n=4 | 50.0 [15.0, 85.0] n=4 | 50.0 [15.0, 85.0] n=4 | not run |" in full
    # l2l and cot are right on the same items: difference 0, nothing discordant, p = 1.
    assert "| tiny | +0.0 [+0.0, +0.0] p=1.000 n=4 | not run | not run |" in full
    assert "mean over the" not in full  # l2l_vote never ran, so no dataset has every method
    # Failures by stage: cot's q2 and q4 gave wrong answers; program's q4 wrote no code;
    # l2l's q4 got no formulation (the formulator wrote no JSON).
    assert "| tiny | cot | 4 | 2 | 0 | 0 | 0 | 0 | 0 | 2 |" in full
    assert "| tiny | program | 4 | 2 | 0 | 1 | 0 | 0 | 0 | 1 |" in full
    assert "| tiny | l2l | 4 | 2 | 1 | 0 | 0 | 0 | 0 | 1 |" in full
    # Answers per matching rule, and where each cell came from.
    assert "option_text" in full and "| tiny | program |" in full
    assert "`l2l eval --dataset " in full and "--method l2l " in full
    # The README part has the accuracy and paired tables and points at TABLE.md.
    assert "50.0 [15.0, 85.0] n=4" in section and "l2l − cot" in section and "TABLE.md" in section
    readme = f"intro\n{README_START}\nold table\n{README_END}\nrest\n"
    assert splice(readme, section) == f"intro\n{README_START}\n{section}{README_END}\nrest\n"


def test_a_partial_cell_is_marked_and_left_out_of_the_mean_difference(table):
    # cot finishes all 4 items; l2l is stopped in its second item (the third model call dies).
    run_cell(table["cell"]("cot"), table["results"], table["runs"], backend=scripted_model(), progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_cell(table["cell"]("l2l"), table["results"], table["runs"], backend=_dying_model(2), progress=False)
    full, _ = render(table["results"], [MODEL], ["tiny"], ["cot", "l2l"])
    assert "| tiny | +0.0 [+0.0, +0.0] p=1.000 n=1 (partial, not in the mean) |" in full
    assert "| mean of the differences" not in full  # the only pair is partial: there is no mean yet

    # Once l2l finishes, the same pair enters the mean (cot 2/4 right, l2l 1/4: no repair round by
    # default, so q3's crashing program stays unanswered).
    run_cell(table["cell"]("l2l"), table["results"], table["runs"], backend=scripted_model(), progress=False)
    full, _ = render(table["results"], [MODEL], ["tiny"], ["cot", "l2l"])
    assert "(partial, not in the mean)" not in full and "| mean of the differences (finished cells) | -25.0 over 1 dataset |" in full


def _script():
    path = Path(__file__).resolve().parents[1] / "bench" / "run_eval_table.py"
    spec = importlib.util.spec_from_file_location("run_eval_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_table_only_and_dry_run(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\n{README_END}\n")
    script = _script()
    common = ["--results", str(tmp_path / "results"), "--readme", str(readme), "--datasets", "bbh_web_of_lies",
              "--methods", "cot", "l2l"]
    assert script.main([*common, "--table-only"]) == 0
    table_md = (tmp_path / "results" / "TABLE.md").read_text()
    assert "| bbh_web_of_lies | not run | not run |" in table_md  # cells with no data say so
    assert "No pair of methods has run on the same dataset yet." in table_md  # no rows of "not run" pairs
    assert "| bbh_web_of_lies | not run | not run |" in readme.read_text()
    # a run of some cells regenerates the whole table: the other datasets and methods keep their rows
    assert "| logiclm_prontoqa | not run |" in table_md and "| dataset | cot | program | l2l | l2l_vote |" in table_md
    capsys.readouterr()
    assert script.main([*common, "--dry-run", "--limit", "50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("l2l eval --dataset bbh_web_of_lies --split 'test[20:]' --method cot")
    assert "--limit 50" in lines[0] and len(lines) == 3 and lines[2].startswith("# model time left")


def test_summary_json_is_valid_json_with_the_session(table):
    run_cell(table["cell"]("cot"), table["results"], table["runs"], backend=scripted_model(), progress=False)
    raw = (table["results"] / table["cell"]("cot").key / "summary.json").read_text()
    summary = json.loads(raw)
    assert summary["commits"] == [h["commit"] for h in summary["history"] if h.get("commit")]


def test_sigint_and_sigterm_stop_a_background_table_like_ctrl_c():
    """A table run started with `nohup ... &` from a script inherits SIGINT ignored, and `kill` sends
    SIGTERM; both must raise KeyboardInterrupt (run_cell then publishes the finished items)."""
    import signal
    import subprocess
    import sys

    path = Path(__file__).resolve().parents[1] / "bench" / "run_eval_table.py"
    code = f"""
import importlib.util, os, signal
spec = importlib.util.spec_from_file_location("run_eval_table", {str(path)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # as a background job inherits it
m._stop_like_ctrl_c()
for sig in (signal.SIGINT, signal.SIGTERM):
    try:
        os.kill(os.getpid(), sig)
        signal.sigtimedwait([], 0.5) if hasattr(signal, "sigtimedwait") else None
        print("survived", sig.name)
    except KeyboardInterrupt:
        print("interrupted", sig.name)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["interrupted SIGINT", "interrupted SIGTERM"]


def test_a_stopped_table_run_exits_130_with_a_message_and_the_table(tmp_path, capsys, monkeypatch):
    """A stop (Ctrl-C, or SIGTERM turned into KeyboardInterrupt) while a cell runs: no traceback, exit
    130 and the table regenerated from what was published."""
    import signal

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\n{README_END}\n")
    script = _script()

    def stopped(*a, **k):
        raise KeyboardInterrupt("signal SIGTERM")

    monkeypatch.setattr("l2l.eval.cells.run_cell", stopped)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        rc = script.main(["--results", str(tmp_path / "results"), "--readme", str(readme), "--datasets",
                          "bbh_web_of_lies", "--methods", "cot", "--quiet"])
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
    assert rc == 130
    assert "stopped (signal SIGTERM): finished items are published" in capsys.readouterr().err
    assert "| bbh_web_of_lies | not run |" in (tmp_path / "results" / "TABLE.md").read_text()


def test_batch_size_is_a_throughput_setting_a_cell_resumes_across(table, tmp_path, capsys):
    """A cot cell started one item at a time resumes with --batch-size 2 (items decoded together):
    the finished items are not re-run, the rest run in batches, and the answers are the ones an
    unbatched run gives. l2l cells get it too (questions run concurrently, l2l/backends/gather.py)."""
    cot = table["cell"]("cot")
    with pytest.raises(KeyboardInterrupt):
        run_cell(cot, table["results"], table["runs"], backend=_dying_model(1), progress=False)
    batched = Cell(cot.model, cot.dataset, "cot", batch_size=2)
    assert batched.key == cot.key and "--batch-size 2" in " ".join(batched.command(table["runs"]))
    model = scripted_model()
    run_cell(batched, table["results"], table["runs"], backend=model, progress=False)
    assert len(model.calls) == 3  # q2..q4 only
    got = {r["id"]: (r["prediction"], r["correct"]) for r in read_published(table["results"] / cot.key)}

    plain_results = tmp_path / "plain"
    run_cell(cot, plain_results, tmp_path / "plain_runs", backend=scripted_model(), progress=False)
    assert got == {r["id"]: (r["prediction"], r["correct"]) for r in read_published(plain_results / cot.key)}

    assert "--batch-size 4" in " ".join(Cell(cot.model, cot.dataset, "l2l", batch_size=4).command(table["runs"]))
    script = _script()
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\n{README_END}\n")
    assert script.main(["--results", str(tmp_path / "results"), "--readme", str(readme), "--datasets", "bbh_web_of_lies",
                        "--methods", "cot", "l2l", "--batch-size", "4", "--dry-run"]) == 0
    cot_line, l2l_line, _total = capsys.readouterr().out.splitlines()
    assert "--batch-size 4" in cot_line and "--batch-size" not in l2l_line  # l2l: --l2l-batch-size, default 1
    assert script.main(["--results", str(tmp_path / "results"), "--readme", str(readme), "--datasets", "bbh_web_of_lies",
                        "--methods", "l2l", "--l2l-batch-size", "3", "--dry-run"]) == 0
    assert "--batch-size 3" in capsys.readouterr().out.splitlines()[0]


def test_dry_run_plan_estimates_the_model_time_left_from_finished_items(table, tmp_path, capsys):
    """The planning estimate: a partial cell is priced at its own items' mean seconds, a cell not
    started at the same method's items on other datasets, a method never run has no rate; the
    items left come from the cell's selection."""
    from l2l.eval.cells import cell_progress

    cot = table["cell"]("cot")
    with pytest.raises(KeyboardInterrupt):
        run_cell(cot, table["results"], table["runs"], backend=_dying_model(2), progress=False)
    records = read_published(table["results"] / cot.key)
    own = sum(r["timings"]["total"] for r in records) / len(records)
    other = tmp_path / "other"
    other.mkdir()
    second = Cell(MODEL, str(shutil.copy(tiny_dataset(other), other / "second.jsonl")), "cot", limit=3)
    progress = cell_progress([cot, second, table["cell"]("l2l")], table["results"])

    assert (progress[0].finished, progress[0].selected, progress[0].left, progress[0].rate_from) == (2, 4, 2, "cell")
    assert progress[0].seconds_per_item == pytest.approx(own)
    assert progress[0].hours_left == pytest.approx(2 * own / 3600)
    assert (progress[1].finished, progress[1].left, progress[1].rate_from) == (0, 3, "method")  # --limit 3
    assert progress[1].seconds_per_item == pytest.approx(own)
    assert (progress[2].left, progress[2].seconds_per_item, progress[2].hours_left) == (None, None, None)

    script = _script()
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\n{README_END}\n")
    assert script.main(["--results", str(tmp_path / "results"), "--readme", str(readme), "--datasets", "bbh_web_of_lies",
                        "--methods", "cot", "l2l", "--limit", "50", "--dry-run"]) == 0
    *lines, total = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "# " not in lines[0]  # nothing of bbh_web_of_lies published here
    assert total == "# model time left: ~0.0 h for the cells with a rate, plus 2 cell(s) of a method not run yet"
