"""The multi-process training path: `accelerate launch` with two CPU processes (gloo) on the smoke run.

Cost: ~1 minute on 2 busy cores (two processes each load the tiny model; one GRPO step per phase).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# one process per rank: the smoke run's per_device_train_batch_size x steps completions are scored
# on each of them
WORLD_SIZE = 2
COMPLETIONS_PER_PROCESS = 2  # grpo.per_device_train_batch_size=2, grpo.*.steps=1 (conf/experiment/smoke.yaml)


def launch(*overrides: str, timeout: float = 600) -> tuple[int, str, str]:
    """`accelerate launch --config_file conf/accelerate/cpu_2proc.yaml train.py ...`; kills the whole
    process group on timeout (torchrun's workers would otherwise outlive the launcher)."""
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", "conf/accelerate/cpu_2proc.yaml",
        "train.py", *overrides,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"2-process launch timed out after {timeout} s (a deadlock at a barrier?)\n{err[-3000:]}")
    return proc.returncode, out, err


@pytest.mark.slow
def test_smoke_trains_with_two_cpu_processes(qwen_tokenizer_dir, tmp_path):
    out = tmp_path / "run"
    tiny = tmp_path / "tiny"  # built during the run: process 0 writes it, process 1 waits and loads it
    rc, stdout, stderr = launch(
        "+experiment=smoke", f"out_dir={out}", f"model.name_or_path={tiny}", f"model.tokenizer_source={qwen_tokenizer_dir}",
    )
    assert rc == 0, stderr[-4000:]

    # both processes ran to the end of the loop (each prints its own line)
    for rank in range(WORLD_SIZE):
        assert f"done: {out} (process {rank} of {WORLD_SIZE})" in stdout, stdout[-2000:]

    # one record per round, written by process 0 only (process 1 appending would duplicate them),
    # and the run saw two processes in one process group
    lines = [line for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    recs = [json.loads(line) for line in lines]
    assert [r["round"] for r in recs] == [-1, 0]
    assert all(r["world_size"] == WORLD_SIZE for r in recs)
    r0 = recs[1]
    # reward counts are summed over processes: each one scored only its own share of the completions,
    # so these equal per-process completions x 2 only if process 1 really trained and was gathered
    assert r0["generator/programs"] == COMPLETIONS_PER_PROCESS * WORLD_SIZE
    assert r0["formulator/formulations"] == COMPLETIONS_PER_PROCESS * WORLD_SIZE
    for stage in ("sample_formulations", "generator_phase", "formulator_phase", "validate", "checkpoint"):
        assert r0["seconds"][stage] > 0

    # both adapters and the round checkpoint were written (once, by process 0)
    for role in ("formulator", "generator"):
        d = out / "adapters" / role
        assert (d / "adapter_model.safetensors").exists()
        assert Path(json.loads((d / "adapter_config.json").read_text())["base_model_name_or_path"]) == tiny
        assert (out / "checkpoints" / "round-0000" / f"optim-{role}.pt").exists()
    assert json.loads((out / "checkpoints" / "round-0000" / "state.json").read_text())["round"] == 0
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["round-0000"]  # no stray .tmp dir


@pytest.mark.slow
@pytest.mark.parametrize("experiment, what", [("selfplay", "self-play"), ("sft_coldstart", "the SFT cold start")])
def test_single_process_experiments_refuse_a_multi_process_launch(experiment, what, qwen_tokenizer_dir, tmp_path):
    # Their data is generated outside TRL's trainers, identically by every process: refused up
    # front with a clear message and exit code 2, before any model is loaded.
    out = tmp_path / "run"
    rc, stdout, stderr = launch(
        f"+experiment={experiment}", "model=tiny", f"out_dir={out}", f"model.name_or_path={tmp_path / 'tiny'}",
        f"model.tokenizer_source={qwen_tokenizer_dir}", timeout=300,
    )
    assert rc != 0
    assert f"error: {what}" in stderr and "runs in one process" in stderr, stderr[-3000:]
    # torchrun prints its own ChildFailedError traceback after the workers exit; what the workers
    # themselves wrote before that must be the error line alone, with exit code 2
    workers, _, launcher = stderr.partition("failed (exitcode")
    assert "Traceback" not in workers, workers[-3000:]
    assert launcher.startswith(": 2)"), launcher[:200]
    assert not (tmp_path / "tiny").exists()
