"""The training entry point end to end on a tiny random Qwen2 (CPU): smoke, resume, self-play.

Cost: each train.py run is 1-3 minutes on 2 busy cores (the 151k-token vocabulary projection over
the long solver prompts dominates); about 6-8 minutes for the module.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def train(*overrides: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *overrides], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def tiny(tiny_qwen2_dir) -> list[str]:
    return [f"model.name_or_path={tiny_qwen2_dir}", "model.build_tiny=false"]


@pytest.mark.slow
def test_smoke_runs_both_phases_and_writes_adapters_and_metrics(tiny_qwen2_dir, tmp_path):
    out = tmp_path / "smoke"
    p = train("+experiment=smoke", f"out_dir={out}", *tiny(tiny_qwen2_dir))
    assert p.returncode == 0, p.stderr[-3000:]
    recs = metrics(out)
    assert [r["round"] for r in recs] == [-1, 0]  # validation before, then one round
    r0 = recs[1]
    for stage in ("sample_formulations", "generator_phase", "formulator_phase", "validate", "checkpoint"):
        assert r0["seconds"][stage] > 0
    for key in ("generator/reward", "formulator/reward", "generator/exec_rate", "val/accuracy", "tokens_per_s"):
        assert key in r0
    # the tiny model never writes a parseable formulation, so the gold ones fed the generator
    assert r0["gold_fallbacks"] == 2
    for role in ("formulator", "generator"):
        d = out / "adapters" / role
        cfg = json.loads((d / "adapter_config.json").read_text())
        assert Path(cfg["base_model_name_or_path"]) == Path(tiny_qwen2_dir)
        assert (d / "adapter_model.safetensors").exists()
        assert (out / "checkpoints" / "round-0000" / f"optim-{role}.pt").exists()
    # the adapter directory loads as a PEFT model on its own (what the hf backend does)
    from peft import AutoPeftModelForCausalLM

    model = AutoPeftModelForCausalLM.from_pretrained(out / "adapters" / "generator")
    assert any("lora_A" in n for n, _ in model.named_parameters())
    # ... and through the project's model loader (`l2l solve --model <dir>` uses the hf backend)
    from l2l.models import load_model

    backend = load_model(str(out / "adapters" / "formulator"))
    assert backend.name == "hf" and len(backend.chat([{"role": "user", "content": "hi"}], max_tokens=3)) == 1
    # a second run into the same out_dir without resume=true is refused with a clear error
    again = train("+experiment=smoke", f"out_dir={out}", *tiny(tiny_qwen2_dir), "loop.validate_before=false")
    assert again.returncode == 2 and "resume=true" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.slow
def test_resume_after_kill_continues_from_last_completed_round(tiny_qwen2_dir, tmp_path):
    out = tmp_path / "resume"
    args = [
        "+experiment=smoke", f"out_dir={out}", *tiny(tiny_qwen2_dir),
        "loop.rounds=2", "loop.phases=[generator]", "loop.validate_before=false", "loop.validate_every=0",
    ]
    proc = subprocess.Popen([sys.executable, "train.py", *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    state = out / "checkpoints" / "round-0000" / "state.json"
    deadline = time.monotonic() + 500
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert state.exists(), proc.stderr.read()[-3000:] if proc.poll() is not None else "round 0 never finished"
    proc.send_signal(signal.SIGKILL)  # the "crash": mid round 1 (or just after round 0)
    proc.wait()
    saved = (out / "checkpoints" / "round-0000" / "generator" / "adapter_model.safetensors").read_bytes()

    p = train(*args, "resume=true")
    assert p.returncode == 0, p.stderr[-3000:]
    recs = metrics(out)
    assert [r["round"] for r in recs] == [0, 1]  # round 0 kept once, round 1 run after the resume
    assert (out / "checkpoints" / "round-0001" / "state.json").exists()
    # round 0's checkpoint was not redone
    assert (out / "checkpoints" / "round-0000" / "generator" / "adapter_model.safetensors").read_bytes() == saved


def test_policies_resume_loads_saved_adapters_and_optimizer(tiny_qwen2_dir, tmp_path):
    """In-process: what resume restores equals what the checkpoint saved (weights and optimizer)."""
    import torch

    from l2l.train import checkpoint
    from l2l.train.policies import Policies

    pol = Policies(str(tiny_qwen2_dir), mode="shared")
    pol.activate("generator")
    params = pol.trainable_parameters("generator")
    assert params and all(p.requires_grad for p in params)
    opt = torch.optim.AdamW(params, lr=1e-2)
    # one real optimisation step so adapters and optimizer state are non-trivial
    loss = sum((p.float() ** 2).sum() for p in params) + sum(p.sum() for p in params)
    loss.backward()
    opt.step()
    ckpt = checkpoint.save_round(str(tmp_path), 0, pol, {"generator": opt, "formulator": None}, {"note": "x"})
    assert checkpoint.latest(str(tmp_path)) == ckpt and checkpoint.load_state(ckpt)["round"] == 0

    pol2 = Policies(str(tiny_qwen2_dir), mode="shared", resume_from=ckpt)
    for a, b in zip(pol.trainable_parameters("generator"), pol2.trainable_parameters("generator")):
        assert torch.equal(a.detach(), b.detach())
    # the formulator adapter was untouched by the step and restored as well
    for a, b in zip(pol.trainable_parameters("formulator"), pol2.trainable_parameters("formulator")):
        assert torch.equal(a.detach(), b.detach())
    opt2 = torch.optim.AdamW(pol2.trainable_parameters("generator"), lr=1e-2)
    assert checkpoint.load_optimizer(ckpt, "generator", opt2)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)


def test_policy_backend_switches_adapter_and_restores(tiny_qwen2_dir):
    from l2l.backends.base import GenerationParams
    from l2l.train.policies import Policies

    pol = Policies(str(tiny_qwen2_dir), mode="shared")
    model = pol.activate("formulator")
    out = pol.backend("generator").chat_batch(
        [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "a longer question here"}]],
        GenerationParams(max_tokens=4, temperature=1.0, n=3),
    )
    assert [len(g) for g in out] == [3, 3] and all(c.completion_tokens <= 4 for g in out for c in g)
    assert model.active_adapter == "formulator"  # the training policy is active again afterwards
    assert all(p.requires_grad for p in pol.trainable_parameters("formulator"))


@pytest.mark.slow
def test_selfplay_smoke_round(tiny_qwen2_dir, tmp_path):
    out = tmp_path / "selfplay"
    p = train(
        "+experiment=selfplay", f"out_dir={out}", *tiny(tiny_qwen2_dir),
        "loop.rounds=1", "loop.phases=[proposer,generator]", "loop.validate_before=false", "loop.limit=6",
        "loop.val_size=2", "loop.questions_per_round=2", "loop.formulations_per_question=1",
        "data.n=2", "selfplay.prompts_per_round=2", "selfplay.examples_per_prompt=1",
        "grpo.num_generations=2", "grpo.per_device_train_batch_size=2",
        "grpo.proposer.steps=1", "grpo.proposer.max_completion_length=16",
        "grpo.generator.steps=1", "grpo.generator.max_completion_length=16", "grpo.formulator.max_completion_length=16",
        "rewards.proposer.attempts=2",
    )
    assert p.returncode == 0, p.stderr[-3000:]
    (r0,) = metrics(out)
    assert r0["selfplay/proposals"] == 2  # one step x 2 completions were scored
    assert 0 <= r0["selfplay/valid"] <= r0["selfplay/proposals"]
    assert r0["selfplay/pool_size"] == r0["selfplay/valid"]
    assert r0["seconds"]["proposer_phase"] > 0 and r0["seconds"]["generator_phase"] > 0
    assert (out / "adapters" / "formulator" / "adapter_config.json").exists()
