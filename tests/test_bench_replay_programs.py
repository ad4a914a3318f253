"""bench/bench_replay_programs.py: stored programs replayed through the real sandbox and scored with
the evaluation's answer matching, from a file or from a git revision."""

import gzip
import importlib.util
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_replay_programs", ROOT / "bench/bench_replay_programs.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

OPTIONS = ["A) True", "B) False", "C) Unknown"]
FACTS = 'p = Puzzle()\np.add("""\nDave is nice. => nice(dave) -> true\nAll nice things are big. => nice(x) -> big(x)\n""")\n'


def record(i, program, gold, correct):
    return {"id": f"r{i}", "program": program, "formulation": None, "gold": gold, "options": OPTIONS,
            "correct": correct, "prediction": None, "status": "no_answer"}


def test_replay_counts_gains_and_losses(tmp_path, capsys):
    rows = [
        record(0, FACTS + 'answer(p.truth("big(dave)"))\n', "A", False),   # now True: a gain
        record(1, FACTS + 'answer(p.truth("big(erin)"))\n', "C", True),    # Unknown, still right
        record(2, FACTS + 'answer(p.truth("big(dave)"))\n', "B", True),    # stored right, now wrong
        record(3, "p = Puzzle(\n", "A", False),                            # does not parse
    ]
    path = tmp_path / "predictions.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    assert bench.main([str(path)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:6] == ["4", "2", "2", "1", "1"], line
    assert "'syntax_error': 1" in cells[6]


def test_a_revision_and_path_read_the_file_as_committed():
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    path = "bench/results/eval/qwen2.5-coder-1.5b/bbh_web_of_lies/cot/predictions.jsonl.gz"
    records = bench.read_records(f"{head.stdout.strip()}:{path}")
    assert len(records) == 50 and all("gold" in r for r in records)


def test_fix_programs_on_replays_with_the_deterministic_fixes(tmp_path, capsys):
    # the text block the 1.5B opened with three quotes and closed as a list (program_fixes.close_text_block)
    drifted = 'p = Puzzle()\np.add("""\nDave is nice. => nice(dave) -> true\n"All nice things are big. => nice(x) -> big(x)"\n])\nanswer(p.truth("big(dave)"))\n'
    path = tmp_path / "predictions.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(record(0, drifted, "A", False)) + "\n")
    rows = {}
    for setting in ("off", "on"):
        assert bench.main(["--fix-programs", setting, str(path)]) == 0
        rows[setting] = [c.strip() for c in capsys.readouterr().out.strip().splitlines()[-1].strip("|").split("|")]
    assert rows["off"][3] == "0" and "'syntax_error': 1" in rows["off"][6]
    assert rows["on"][3:5] == ["1", "1"] and "'ok': 1" in rows["on"][6]
