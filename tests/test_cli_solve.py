"""`l2l solve` as a user meets it: bad input gets a message and an exit code, never a traceback."""

import json
import subprocess
import sys

import pytest

from l2l.backends.scripted import ScriptedBackend
from l2l.cli import main
from l2l.config import SolveConfig
from l2l.pipeline import solve as solve_mod


def run_cli(*args, stdin=b""):
    return subprocess.run([sys.executable, "-m", "l2l", "solve", *args], input=stdin, capture_output=True, timeout=120)


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["   "], b"", "question is empty"),
        (["-"], b"", "question is empty"),
        (["-"], b"\xff\xfe not utf8", "not UTF-8"),
        (["--file", "/nonexistent/q.txt"], b"", "cannot read /nonexistent/q.txt"),
        (["--samples", "0", "q"], b"", "at least 1"),
        (["--reformulations", "-1", "q"], b"", "0 or more"),
    ],
)
def test_bad_input_exits_2_with_a_message(args, stdin, message):
    r = run_cli(*args, stdin=stdin)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert message in err and "Traceback" not in err


def test_one_megabyte_question_is_refused(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("Who is a knight? " * 65_000)  # about 1 MB
    r = run_cli("--file", str(big))
    assert r.returncode == 2 and b"limit" in r.stderr and b"Traceback" not in r.stderr


def test_non_utf8_file_is_refused(tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes("Qui est chevalier ? \xe9t\xe9".encode("latin-1"))
    r = run_cli("--file", str(f), "--json")
    assert r.returncode == 2
    out = json.loads(r.stdout)
    assert out["status"] == "error" and "not UTF-8" in out["error"]


def _scripted_solver(monkeypatch, replies):
    def fake_build(config: SolveConfig, progress=None, **_):
        return solve_mod.Solver(config, ScriptedBackend(replies), progress=progress), 0.0

    monkeypatch.setattr(solve_mod, "build_solver", fake_build)


def test_model_without_json_gives_status_and_error_in_json(monkeypatch, capsys):
    _scripted_solver(monkeypatch, ["no json here", "still none"])
    code = main(["solve", "--json", "--quiet", "Who is a knight?"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["status"] == "no_answer" and "no JSON" in out["error"]
    assert out["answer"] is None


def test_json_output_has_answer_formulation_and_program(monkeypatch, capsys):
    form = json.dumps({"summary": "s", "model_type": "smt", "variables": ["x"], "constraints": ["x == 2"], "objective": "x"})
    prog = "```python\np = Puzzle()\nx = p.Int('x', 0, 5)\np.add(x == 2)\nanswer(p.solve()[x])\n```"

    def reply(messages, params):
        return prog if "Python program" in messages[0]["content"] else form

    _scripted_solver(monkeypatch, reply)
    code = main(["solve", "--json", "--quiet", "What is x if x is 2?"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["answer"] == "2" and out["status"] == "solved"
    assert set(out["formulation"]) == {"summary", "model_type", "variables", "constraints", "objective"}
    assert "p.add(x == 2)" in out["program"]
    # Human-readable account with the program shown.
    code = main(["solve", "--show-program", "--quiet", "What is x if x is 2?"])
    text = capsys.readouterr().out
    assert code == 0 and "Answer: 2" in text and "p.add(x == 2)" in text and "Status: solved" in text


def test_help_does_not_import_torch_or_load_a_model():
    code = "import sys, l2l, l2l.cli; l2l.cli.build_parser(); print(sorted(m for m in ('torch', 'transformers', 'llama_cpp', 'trl', 'z3') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "[]", r.stderr
