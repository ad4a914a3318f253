"""`l2l eval` through the real CLI entry point, and `--compare` (table + PNG). (~6 s)"""

from __future__ import annotations

import json

import pytest
from eval_fixtures import scripted_model, tiny_dataset

import l2l.cli as cli
import l2l.eval.runner as runner


@pytest.fixture()
def l2l_eval(monkeypatch):
    """`l2l ...` with only the eval subcommand registered (other subcommands are other modules'
    business) and the model loader replaced by a scripted model."""
    monkeypatch.setattr(cli, "COMMANDS", {"eval": "l2l.cli.eval_cmd"})
    models = []

    def fake_load(run):
        models.append(scripted_model())
        return models[-1], None

    monkeypatch.setattr(runner, "_load_backends", fake_load)

    def run(*argv):
        return cli.main(list(map(str, argv)))

    run.models = models
    return run


def test_eval_writes_outputs_and_prints_the_table(l2l_eval, tmp_path, capsys):
    data = tiny_dataset(tmp_path)
    rc = l2l_eval("eval", "--dataset", data, "--method", "cot", "--out", tmp_path / "cot", "-q")
    out = capsys.readouterr().out
    assert rc == 0 and "| cot |" in out and "50.0%" in out
    summary = json.loads((tmp_path / "cot" / "summary.json").read_text())
    assert summary["n"] == 4 and summary["command"] == f"l2l eval --dataset {data} --method cot --seed 0 --out {tmp_path / 'cot'}"


def test_model_is_not_loaded_when_everything_is_finished(l2l_eval, tmp_path):
    data = tiny_dataset(tmp_path)
    assert l2l_eval("eval", "-d", data, "--method", "cot", "--out", tmp_path / "r", "-q") == 0
    assert l2l_eval("eval", "-d", data, "--method", "cot", "--out", tmp_path / "r", "-q") == 0
    assert len(l2l_eval.models) == 1  # the second run found nothing to do


def test_set_overrides_reach_the_pipeline_config(l2l_eval, tmp_path):
    data = tiny_dataset(tmp_path)
    assert l2l_eval("eval", "-d", data, "--method", "program", "--out", tmp_path / "d", "-q") == 0
    assert l2l_eval("eval", "-d", data, "--method", "program", "--set", "repair_rounds=1", "--out", tmp_path / "r", "-q") == 0
    default = json.loads((tmp_path / "d" / "summary.json").read_text())
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert default["config"]["repair_rounds"] == 0 and default["accuracy"] == 0.25  # no repair by default
    assert summary["config"]["repair_rounds"] == 1 and summary["accuracy"] == 0.5  # q3 repaired


def test_boolean_settings_are_parsed_not_passed_as_strings(l2l_eval, tmp_path):
    # "false" as a string would be truthy and silently leave the setting on.
    data = tiny_dataset(tmp_path)
    assert l2l_eval("eval", "-d", data, "--method", "cot", "--set", "repair_with_example=false",
                    "--set", "coverage_repair=No", "--out", tmp_path / "b", "-q") == 0
    config = json.loads((tmp_path / "b" / "summary.json").read_text())["config"]
    assert config["repair_with_example"] is False and config["coverage_repair"] is False


@pytest.mark.parametrize(
    "argv,message",
    [
        (["eval", "--dataset", "no_such_set", "--method", "cot", "--out", "{tmp}/x"], "unknown dataset"),
        (["eval", "--dataset", "{data}", "--method", "cot"], "missing --out"),
        (["eval", "--dataset", "{data}", "--method", "cot", "--samples", "3", "--out", "{tmp}/x"], "l2l_vote only"),
        (["eval", "--dataset", "{data}", "--method", "cot", "--set", "nonsense=1", "--out", "{tmp}/x"], "--set"),
        (["eval", "--dataset", "{data}", "--method", "cot", "--set", "timeout_s=soon", "--out", "{tmp}/x"], "not a valid"),
        (["eval", "--dataset", "{data}", "--method", "cot", "--set", "coverage_repair=maybe", "--out", "{tmp}/x"], "not a valid"),
        (["eval", "--compare", "{tmp}"], "no summary.json"),
        (["eval", "--compare", "{tmp}", "--method", "cot"], "only output folders"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(l2l_eval, tmp_path, capsys, argv, message):
    data = tiny_dataset(tmp_path)
    rc = l2l_eval(*[a.format(tmp=tmp_path, data=data) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and message in err and "Traceback" not in err


def test_compare_prints_a_table_and_writes_a_png(l2l_eval, tmp_path, capsys):
    data = tiny_dataset(tmp_path)
    for method in ("cot", "program", "direct"):
        # one repair round, so the program row shows a repaired item (the default is none)
        assert l2l_eval("eval", "-d", data, "--method", method, "--set", "repair_rounds=1", "--out", tmp_path / method, "-q") == 0
    capsys.readouterr()
    png = tmp_path / "plots" / "cmp.png"
    rc = l2l_eval("eval", "--compare", tmp_path / "cot", tmp_path / "program", tmp_path / "direct", "--plot", png)
    table = capsys.readouterr().out
    assert rc == 0
    header = table.splitlines()[0]
    assert header.split("|")[3:6] == [" cot ", " program ", " direct "]
    row = next(line for line in table.splitlines() if line.startswith("| tiny"))
    assert "50.0" in row and "exec 75%" in row  # program accuracy with its exec rate
    assert "| **mean** |" in table
    data_bytes = png.read_bytes()
    assert data_bytes[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[0] > 100  # decodes as an image


def test_compare_refuses_two_runs_of_the_same_cell(l2l_eval, tmp_path, capsys):
    data = tiny_dataset(tmp_path)
    for name in ("a", "b"):
        assert l2l_eval("eval", "-d", data, "--method", "cot", "--out", tmp_path / name, "-q") == 0
    rc = l2l_eval("eval", "--compare", tmp_path / "a", tmp_path / "b", "--plot", tmp_path / "x.png")
    assert rc == 2 and "both cot on tiny" in capsys.readouterr().err
