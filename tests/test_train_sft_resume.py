"""The SFT cold start resumes after an interruption from the Trainer's last checkpoint, losing
nothing saved: a tiny random Qwen2, gold rows of the real synthetic mix, real TRL SFT steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]


class Killed(Exception):
    """Stands in for SIGKILL: raised inside a training step, so nothing after it is written."""


def _cfg(out: Path, tiny_dir: Path, resume: bool):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[
            "+experiment=sft_coldstart", f"out_dir={out}", f"resume={str(resume).lower()}",
            f"model.name_or_path={tiny_dir}", "model.build_tiny=false",
            # gold pairs only (sampling from a random model yields nothing), 4 steps, a checkpoint every 2
            "sft.samples_per_question=0", "sft.learning_rate=3e-4", "sft.steps=4", "sft.save_steps=2", "sft.batch_size=1", "sft.max_length=3072",
            "loop.limit=8", "loop.val_size=2", "loop.validate_before=false", "loop.validate_every=0",
        ])


def _one_step_cfg(out, tiny_dir, *overrides: str):
    """One SFT step per role on the tiny model's gold rows, with `overrides`."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[
            "+experiment=sft_coldstart", f"out_dir={out}", f"model.name_or_path={tiny_dir}", "model.build_tiny=false",
            "sft.samples_per_question=0", "sft.steps=1", "sft.max_length=3072", *overrides,
            "loop.limit=8", "loop.val_size=2", "loop.validate_before=false", "loop.validate_every=0",
        ])


def _lora(model, role: str) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if f".{role}." in n and "lora_" in n}


@pytest.mark.slow
def test_sft_killed_mid_generator_phase_resumes_from_its_last_checkpoint(tiny_qwen2_dir, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file
    from trl import SFTTrainer

    from l2l.train import sft_coldstart

    out = tmp_path / "run"
    real_step = SFTTrainer.training_step
    calls: list[str] = []

    def dying_step(self, model, inputs, *a, **k):
        role = model.active_adapter if isinstance(model.active_adapter, str) else model.active_adapters[0]
        calls.append(role)
        # formulator: 4 steps (checkpoints 2, 4); generator: killed in step 3, after checkpoint-2
        if calls.count("generator") == 3:
            raise Killed
        return real_step(self, model, inputs, *a, **k)

    monkeypatch.setattr(SFTTrainer, "training_step", dying_step)
    with pytest.raises(Killed):
        sft_coldstart.run(_cfg(out, tiny_qwen2_dir, resume=False))
    gen_dir, form_dir = out / "trainer" / "sft-generator", out / "trainer" / "sft-formulator"
    assert sorted(p.name for p in gen_dir.glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (out / "checkpoints").exists()  # no round was completed
    saved_gen = load_file(gen_dir / "checkpoint-2" / "generator" / "adapter_model.safetensors")
    saved_form = load_file(form_dir / "checkpoint-4" / "formulator" / "adapter_model.safetensors")

    # Resume: the formulator phase is complete (no step runs), the generator continues at step 3
    # from exactly the weights checkpoint-2 holds.
    calls.clear()
    at_resume: dict = {}

    def spying_step(self, model, inputs, *a, **k):
        role = model.active_adapter if isinstance(model.active_adapter, str) else model.active_adapters[0]
        if not calls:
            at_resume.update(_lora(model, role))
        calls.append(role)
        return real_step(self, model, inputs, *a, **k)

    monkeypatch.setattr(SFTTrainer, "training_step", spying_step)
    result = sft_coldstart.run(_cfg(out, tiny_qwen2_dir, resume=True))
    rec = result["records"][0]
    assert calls == ["generator", "generator"]
    assert rec["sft/formulator/resumed_from_step"] == 4 and rec["sft/generator/resumed_from_step"] == 2
    assert rec["sft/generator/steps"] == 4
    # the live generator weights at the first resumed step are checkpoint-2's, tensor for tensor
    assert at_resume and len(at_resume) == len(saved_gen)
    for name, value in saved_gen.items():
        live = next(v for n, v in at_resume.items() if n.replace(".generator", "").endswith(name.split("base_model.model.", 1)[-1].replace(".weight", "") + ".weight"))
        assert torch.equal(live, value), name
    # the finished round holds the formulator exactly as its last SFT checkpoint saved it
    final = load_file(out / "checkpoints" / "round-0000" / "formulator" / "adapter_model.safetensors")
    assert final.keys() == saved_form.keys()
    for name in final:
        assert torch.equal(final[name], saved_form[name]), name
    state = json.loads((out / "checkpoints" / "round-0000" / "state.json").read_text())
    assert state["mode"] == "sft"
    # SFT trained at sft.learning_rate (TRL ignores its own argument for an optimizer passed in), and the
    # saved round carries GRPO's rate again, so `+experiment=bilevel resume=true` does not inherit 3e-4
    logged = json.loads((gen_dir / "checkpoint-4" / "trainer_state.json").read_text())["log_history"]
    assert {h["learning_rate"] for h in logged if "learning_rate" in h} == {3e-4}
    saved = torch.load(out / "checkpoints" / "round-0000" / "optim-generator.pt", weights_only=True)
    assert saved["param_groups"][0]["lr"] == pytest.approx(1e-5)


@pytest.mark.slow
def test_a_roles_own_block_sets_its_micro_batch(tiny_qwen2_dir, tmp_path, monkeypatch):
    # the 1.5B's generator rows were OOM-killed three at a time in bf16 while its formulator rows fit:
    # `+sft.generator.batch_size=2` shrinks the generator's micro-batch only; a role's block sets its
    # gradient accumulation too (one long 1.5B generator row per micro-batch, three per step)
    from trl import SFTTrainer

    from l2l.train import sft_coldstart

    real_step = SFTTrainer.training_step
    seen: list[tuple[str, int, int, int]] = []

    def spying_step(self, model, inputs, *a, **k):
        role = model.active_adapter if isinstance(model.active_adapter, str) else model.active_adapters[0]
        seen.append((role, int(self.args.per_device_train_batch_size), int(self.args.gradient_accumulation_steps),
                     int(inputs["input_ids"].shape[0])))
        return real_step(self, model, inputs, *a, **k)

    monkeypatch.setattr(SFTTrainer, "training_step", spying_step)
    sft_coldstart.run(_one_step_cfg(tmp_path / "run", tiny_qwen2_dir, "sft.batch_size=1", "+sft.generator.batch_size=2",
                                    "+sft.formulator.gradient_accumulation_steps=2", "sft.shared_prefix=false"))
    # the formulator's one step is two micro-batches of one row, the generator's one of two
    assert seen == [("formulator", 1, 2, 1), ("formulator", 1, 2, 1), ("generator", 2, 1, 2)]


@pytest.mark.slow
def test_a_roles_own_block_turns_on_activation_checkpointing(tiny_qwen2_dir, tmp_path, monkeypatch):
    # `+sft.generator.gradient_checkpointing=true`: the generator's micro-batches run checkpointed (so the
    # full way, no shared prefix: a checkpointed model keeps no KV cache) and still train its LoRA weights;
    # the formulator's share their prefix unchecked; the model is left unchecked for what follows
    from trl import SFTTrainer

    from l2l.train import sft_coldstart

    real_step = SFTTrainer.training_step
    seen: list[tuple[str, bool, bool]] = []
    before: dict = {}

    def spying_step(self, model, inputs, *a, **k):
        role = model.active_adapter if isinstance(model.active_adapter, str) else model.active_adapters[0]
        if role == "generator" and not before:
            before.update(_lora(model, "generator"))
        seen.append((role, bool(model.is_gradient_checkpointing), bool(self.args.gradient_checkpointing)))
        return real_step(self, model, inputs, *a, **k)

    monkeypatch.setattr(SFTTrainer, "training_step", spying_step)
    cfg = _one_step_cfg(tmp_path / "run", tiny_qwen2_dir, "sft.batch_size=2", "sft.learning_rate=3e-4",
                        "+sft.generator.gradient_checkpointing=true")
    from l2l.train.bilevel import BilevelRun

    runs: list = []
    real_init = BilevelRun.__init__

    def keep(self, *a, **k):
        real_init(self, *a, **k)
        runs.append(self)

    monkeypatch.setattr(BilevelRun, "__init__", keep)
    metrics = sft_coldstart.run(cfg)
    assert seen == [("formulator", False, False), ("generator", True, True)]
    model = runs[0].policies.models["generator"]
    assert not model.is_gradient_checkpointing
    after = _lora(model, "generator")
    assert any(not (after[n] == before[n]).all() for n in before)  # gradients flowed through the checkpointed layers
    [rec] = metrics["records"]
    assert rec["sft/generator/full_batches"] == 1 and rec["sft/generator/shared_prefix_batches"] == 0
    assert rec["sft/formulator/shared_prefix_batches"] == 1
