"""`l2l models` through a real subprocess, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def l2l(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "l2l", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_models_list_table(gguf_05b_path):
    out = l2l("models", "list")
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.startswith("qwen")}
    assert set(lines) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"}
    assert lines["qwen2.5-coder-1.5b"][-1] == "*" and lines["qwen2.5-coder-0.5b"][-1] != "*"
    assert lines["qwen2.5-coder-0.5b"][1] == "llamacpp"
    assert "469 MiB" in " ".join(lines["qwen2.5-coder-0.5b"])
    # the 0.5B was assembled by the fixture: installed yes, assembled yes
    assert lines["qwen2.5-coder-0.5b"][4:6] == ["yes", "yes"]


def test_models_list_json():
    out = l2l("models", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["qwen2.5-coder-1.5b"]["default"] is True and rows["qwen2.5-coder-0.5b"]["default"] is False
    assert rows["qwen2.5-coder-0.5b"]["size_bytes"] == 491_400_064


def test_models_path_prints_the_verified_file(gguf_05b_path):
    out = l2l("models", "path", "qwen2.5-coder-0.5b", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == gguf_05b_path
    assert Path(out.stdout.strip()).stat().st_size == 491_400_064


def test_models_path_unknown_name_is_a_clean_error():
    out = l2l("models", "path", "no-such-model")
    assert out.returncode == 2
    assert out.stderr.startswith("error: unknown model 'no-such-model'")
    assert "Traceback" not in out.stderr


def test_export_hf_refuses_bad_input(tmp_path):
    (tmp_path / "x").write_text("occupied")
    out = l2l("models", "export-hf", "qwen2.5-coder-0.5b", str(tmp_path))
    assert out.returncode == 2 and "not an empty directory" in out.stderr
    out = l2l("models", "export-hf", "no-such-model", str(tmp_path / "new"))
    assert out.returncode == 2 and "neither a registered model" in out.stderr
