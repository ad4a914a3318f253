"""The whole training recipe as one resumable command (`python train.py +experiment=recipe`,
l2l/train/recipe.py): the plan and its estimate from the composed config, and on the tiny random
Qwen2 of conftest.py (real tokenizer) the real stages: SFT cold start (round 0), one GRPO round with
llama.cpp rollouts (the tiny checkpoint gets its own float32 GGUF), the GGUF LoRA export and the
pack command; a second launch that trains nothing; a run killed in the GRPO stage that resumes
and ends with the same outputs.

Cost on 2 cores shared with a real training run (load average 5, under nice, OMP_NUM_THREADS=1): the
plan tests under a second each; the uninterrupted tiny run ~2.3 minutes with the fixtures (SFT over
~2,000-token prompts against a 151k-token vocabulary dominates); the killed-and-resumed run ~45 s (it
starts from a copy of the first run's out_dir as the SFT stage left it); the no-op launches 2 s.
About 3.2 minutes for the module.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("formulator", "generator")

# The tiny recipe: gold SFT pairs, 1 step per adapter (and its Trainer checkpoint); one GRPO round
# (round 1) of the formulator phase alone, one group of 2 short completions sampled by llama.cpp on one
# thread; validation of 2 questions after each round (through llama.cpp too: 16-token formulations).
# (The generator phase is the same grpo_phase code over ~2,000-token prompts instead of ~1,000: twice
# the cost, and the 151k-token vocabulary projection over the prompt is most of a tiny step.)
TINY = [
    "model=tiny", "sft.steps=1", "sft.save_steps=1", "sft.gradient_accumulation_steps=1",
    "loop.rounds=2", "loop.phases=[formulator]", "loop.limit=6", "loop.val_size=2", "loop.questions_per_round=1",
    "loop.validate_before=false", "loop.validate_every=1", "dedup.enabled=false",
    "grpo.num_generations=2", "grpo.per_device_train_batch_size=2", "grpo.gradient_accumulation_steps=1",
    "grpo.formulator.steps=1", "grpo.generator.max_completion_length=16", "grpo.formulator.max_completion_length=16",
    "grpo.rollout_threads=1", "grpo.rollout_n_ctx=4096",
]


def _overrides(out: Path, tiny_dir: Path, *extra: str) -> list[str]:
    return ["+experiment=recipe", f"out_dir={out}", *TINY, f"model.name_or_path={tiny_dir}", *extra]


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def _files(out: Path) -> dict[str, tuple[int, int]]:
    """Every file under out_dir -> (size, mtime_ns); recipe.json (one entry per launch) and hydra's
    own logs of a train.py launch (`<out_dir>/hydra/`) left out."""
    return {str(p.relative_to(out)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "recipe.json" and p.relative_to(out).parts[0] != "hydra"}


def _rounds(out: Path) -> list[int]:
    return [json.loads(line)["round"] for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _run_logged(cfg) -> tuple[dict, str, str]:
    """recipe.run(cfg) with its log (INFO) and stdout captured; returns (summary, log, stdout)."""
    from l2l.train import recipe

    logger, buf, out = logging.getLogger(recipe.__name__), io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(buf)
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(out):
            summary = recipe.run(cfg)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    return summary, buf.getvalue(), out.getvalue()


# --- the plan: stages, steps and estimates from the composed config and out_dir -------------------------


def _figures(cfg):
    """The recipe's measured seconds from the composed config: SFT step per role, one validation,
    one GRPO round without its validation, and which GRPO rounds validate."""
    r = cfg.recipe
    val = int(cfg.loop.val_size) * float(r.seconds_per_val_question)
    per_round = (int(cfg.grpo.generator.steps) * float(r.seconds_per_grpo_step.generator)
                 + int(cfg.grpo.formulator.steps) * float(r.seconds_per_grpo_step.formulator)
                 + int(cfg.loop.questions_per_round) * int(cfg.loop.formulations_per_question) * float(r.seconds_per_formulation))
    every = int(cfg.loop.validate_every)
    validated = [k for k in range(1, int(cfg.loop.rounds)) if every and (k + 1) % every == 0]
    return float(r.seconds_per_sft_step.formulator), float(r.seconds_per_sft_step.generator), val, per_round, validated


def test_default_recipe_plans_the_three_stages_within_the_budget(tmp_path):
    from l2l.train.recipe import plan

    cfg = _cfg("+experiment=recipe", f"out_dir={tmp_path / 'run'}")
    assert cfg.mode == "recipe" and cfg.grpo.rollout == "llamacpp" and cfg.loop.rounds == 3
    stages = plan(cfg)
    assert [s.name for s in stages] == ["sft", "grpo", "export"] and not any(s.done for s in stages)
    sft, grpo, export = stages
    form, gen, val, per_round, validated = _figures(cfg)
    steps = int(cfg.sft.steps)
    # the measured figures of conf/experiment/recipe.yaml: SFT steps per adapter, validation before and after
    assert sft.seconds == pytest.approx(steps * form + steps * gen + 2 * val)
    # 2 GRPO rounds (round 0 is the SFT), validated where loop.validate_every says (the last one)
    assert "rounds 1-2" in grpo.work and validated == [2]
    assert grpo.seconds == pytest.approx(2 * per_round + len(validated) * val)
    total = sum(s.seconds for s in stages)
    assert 1.5 * 3600 < total <= cfg.recipe.budget_hours * 3600 <= 2.5 * 3600
    assert "from round 2" in export.work


def test_plan_reads_what_out_dir_already_holds(tmp_path):
    from l2l.train.recipe import plan

    out = tmp_path / "run"
    cfg = _cfg("+experiment=recipe", f"out_dir={out}")
    fresh = plan(cfg)
    steps = int(cfg.sft.steps)
    form, gen, val, per_round, _ = _figures(cfg)
    # killed in the generator's SFT phase: the formulator finished (its last checkpoint), the generator saved step 4
    for role, step in (("formulator", 4), ("formulator", steps), ("generator", 4)):
        (out / "trainer" / f"sft-{role}" / f"checkpoint-{step}").mkdir(parents=True)
    (out / "sft_triples.jsonl").write_text("")  # the data was made, so validation-before ran already
    sft = plan(cfg)[0]
    assert not sft.done and f"formulator 0 of {steps} steps" in sft.work and "resumes after step 4" in sft.work
    assert sft.seconds == pytest.approx((steps - 4) * gen + val)  # the rest of the generator + validation after
    assert fresh[0].seconds - sft.seconds == pytest.approx(steps * form + 4 * gen + val)
    for r in (0, 1):  # SFT round 0 and GRPO round 1 completed
        d = out / "checkpoints" / f"round-{r:04d}"
        d.mkdir(parents=True)
        (d / "state.json").write_text(json.dumps({"round": r}))
    sft, grpo, export = plan(cfg)
    assert sft.done and sft.seconds == 0
    assert not grpo.done and "round 2 (round 1 saved)" in grpo.work
    assert grpo.seconds == pytest.approx(fresh[1].seconds - per_round)  # round 2 and its validation are left
    assert not export.done
    (out / "checkpoints" / "round-0002").mkdir()
    (out / "checkpoints" / "round-0002" / "state.json").write_text(json.dumps({"round": 2}))
    assert plan(cfg)[1].done and not plan(cfg)[2].done  # trained, not exported yet


def test_refuses_another_runs_out_dir_and_bad_settings(tmp_path):
    from l2l.errors import InputError
    from l2l.train.recipe import run

    out = tmp_path / "bilevel"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"round": 0}\n')  # a run some other command left there
    with pytest.raises(InputError, match="did not start"):
        run(_cfg("+experiment=recipe", f"out_dir={out}"))
    assert not (out / "recipe.json").exists()
    with pytest.raises(InputError, match="stop_after"):
        run(_cfg("+experiment=recipe", f"out_dir={tmp_path / 'x'}", "recipe.stop_after=grpo_round"))
    with pytest.raises(InputError, match="loop.rounds must be >= 1"):
        run(_cfg("+experiment=recipe", f"out_dir={tmp_path / 'y'}", "loop.rounds=0"))


# --- the real stages on the tiny model ------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_run(tiny_qwen2_dir, tmp_path_factory):
    """One uninterrupted tiny recipe run: (out_dir, summary, log, stdout, files, after_sft, live), where
    after_sft is a copy of out_dir taken the moment the SFT stage returned: what a kill between the
    two stages leaves behind (test_killed_... resumes from it instead of training the SFT again); live:
    the llama.cpp samplers still holding a model when the GRPO stage started."""
    import gc
    import shutil

    from l2l.train import bilevel, sft_coldstart
    from l2l.train.llamacpp_sampler import LlamaCppSampler

    root = tmp_path_factory.mktemp("recipe")
    out, after_sft = root / "full", root / "after_sft"
    real_sft, real_grpo = sft_coldstart.run, bilevel.run
    live: list[int] = []

    def holding() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, LlamaCppSampler) and getattr(o, "model", None) is not None)

    gc.collect()
    before = holding()  # samplers other tests of this process may have left: not the recipe's

    def sft_then_snapshot(cfg):
        result = real_sft(cfg)
        shutil.copytree(out, after_sft)  # copy2: sizes and mtimes kept
        return result

    def count_then_grpo(cfg):
        live.append(holding() - before)
        return real_grpo(cfg)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sft_coldstart, "run", sft_then_snapshot)
        mp.setattr(bilevel, "run", count_then_grpo)
        summary, logged, printed = _run_logged(_cfg(*_overrides(out, tiny_qwen2_dir)))
    return out, summary, logged, printed, _files(out), after_sft, live


@pytest.mark.slow
def test_recipe_runs_sft_grpo_and_export_end_to_end(full_run, tiny_qwen2_dir):
    from gguf import GGUFReader

    from l2l.models.lora_gguf import adapter_digest, lora_tensors

    out, summary, logged, printed, files, _, live = full_run
    assert summary["stages"] == {"sft": "ran", "grpo": "ran", "export": "ran"}
    # the SFT stage's llama.cpp model (it validated and sampled through it) was released before GRPO loaded its own
    assert live == [0]
    # the plan was logged first, every stage with its estimate
    plan_at = logged.index("recipe plan for")
    assert all(logged.index(f"recipe stage {s}: running") > plan_at for s in ("sft", "grpo", "export"))
    assert "formulator 1 of 1 step" in logged and "round 1; per round: formulator 1 step" in logged
    # round 0 from the SFT stage, round 1 from GRPO with llama.cpp rollouts
    assert [r["round"] for r in summary["records"]] == [0, 1] and _rounds(out) == [0, 1]
    sft_rec, grpo_rec = summary["records"]
    assert sft_rec["mode"] == "sft" and sft_rec["sft/formulator/steps"] == 1 and sft_rec["sft/generator/steps"] == 1
    assert sft_rec["val/n"] == 2 and grpo_rec["val/n"] == 2
    assert grpo_rec["formulator/adapter_exports"] == 1 and grpo_rec["formulator/rollout_tokens"] > 0
    assert json.loads((out / "checkpoints" / "round-0000" / "state.json").read_text())["mode"] == "sft"
    final = out / "checkpoints" / "round-0001"
    assert (final / "state.json").exists() and not (out / "checkpoints" / "round-0002").exists()
    assert (Path(tiny_qwen2_dir) / "model-f32.gguf").is_file()  # the tiny base llama.cpp sampled from
    for role in ROLES:
        # adapters/ is the final round's copy
        assert (out / "adapters" / role / "adapter_model.safetensors").read_bytes() == \
            (final / role / "adapter_model.safetensors").read_bytes()
        # the GGUF LoRA is the final round's adapter, tensor for tensor (f16)
        gguf = out / "gguf" / f"{role}.gguf"
        assert summary["exports"][role] == str(gguf)
        reader = GGUFReader(gguf)
        kv = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
        assert kv["general.type"] == "adapter" and kv["general.name"] == f"l2l-0.5b-recipe-{role}"
        _, want = lora_tensors(final / role)
        got = {t.name: np.asarray(t.data, dtype=np.float32) for t in reader.tensors}
        assert got.keys() == want.keys() and len(got) == 2 * 4 * 2  # 2 layers x q, k, v, o x (a, b)
        for name, value in want.items():
            assert np.allclose(got[name].reshape(value.shape), value, rtol=1e-3, atol=1e-4), name
        state = json.loads((out / "gguf" / "export.json").read_text())
        assert state["round"] == 1 and state["files"][role]["peft_sha256"] == adapter_digest(final / role)
    # the pack command, printed: the final round's adapters, the exact command, a placeholder base for a tiny model
    assert summary["pack_command"] in printed
    cmd = summary["pack_command"]
    assert cmd.startswith("l2l models pack l2l-0.5b-recipe --base '<registered base>'")
    assert f"--formulator {final / 'formulator'}" in cmd and f"--generator {final / 'generator'}" in cmd
    assert "--command 'python train.py +experiment=recipe" in cmd
    assert "cannot be packed" in logged
    assert json.loads((out / "recipe.json").read_text())["launches"][0]["command"].startswith("python train.py")


@pytest.mark.slow
def test_second_launch_after_completion_trains_nothing(full_run, tiny_qwen2_dir, monkeypatch):
    from l2l.train import bilevel, recipe, sft_coldstart

    out, first, _, _, files, _, _ = full_run
    metrics = (out / "metrics.jsonl").read_bytes()

    def must_not_run(*a, **k):
        raise AssertionError("a complete stage ran again")

    # in process, with every stage's work replaced by a failure: a complete stage must not even start
    for module, name in ((sft_coldstart, "run"), (bilevel, "run"), (recipe, "export")):
        monkeypatch.setattr(module, name, must_not_run)
    summary, logged, printed = _run_logged(_cfg(*_overrides(out, tiny_qwen2_dir)))
    assert summary["stages"] == {"sft": "skipped", "grpo": "skipped", "export": "skipped"}
    assert summary["records"] == []
    for stage in ("sft", "grpo", "export"):
        assert f"recipe stage {stage}: complete, skipped" in logged
    assert summary["pack_command"] == first["pack_command"] and first["pack_command"] in printed
    assert _files(out) == files and (out / "metrics.jsonl").read_bytes() == metrics
    monkeypatch.undo()

    # through train.py, as a user reruns it: mode=recipe dispatch, the same skips, the pack command on stdout
    p = subprocess.run([sys.executable, "train.py", *_overrides(out, tiny_qwen2_dir)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr[-3000:]
    text = p.stdout + p.stderr
    assert text.count("complete, skipped") == 3 and "l2l models pack l2l-0.5b-recipe" in p.stdout
    assert f"done: {out}" in p.stdout
    assert _files(out) == files  # no new checkpoint, metrics record, trainer state or export
    assert len(json.loads((out / "recipe.json").read_text())["launches"]) == 3


class Killed(Exception):
    """Stands in for SIGKILL: raised in the first GRPO step, after the SFT stage saved round 0."""


@pytest.mark.slow
def test_killed_in_the_grpo_stage_resumes_to_the_same_outputs(full_run, tiny_qwen2_dir, tmp_path, monkeypatch):
    import shutil

    from trl import GRPOTrainer

    from l2l.train import sft_coldstart

    _, _, _, _, full_files, after_sft, _ = full_run
    out = tmp_path / "killed"
    shutil.copytree(after_sft, out)  # the out_dir as the SFT stage left it, recipe.json included
    # what the SFT stage trained and saved (dedup.json, metrics.jsonl and rollout/ are rewritten by every launch)
    sft_files = {k: v for k, v in _files(out).items()
                 if k.startswith(("trainer/sft-", "checkpoints/round-0000/", "sft_triples"))}
    assert any(k.startswith("trainer/sft-generator/checkpoint-") for k in sft_files)
    assert "checkpoints/round-0000/state.json" in sft_files and not (out / "checkpoints" / "round-0001").exists()

    def must_not_run(*a, **k):
        raise AssertionError("the SFT stage ran again")

    # recipe.stop_after=sft: a launch that ends after the (complete) SFT stage trains and exports nothing
    monkeypatch.setattr(sft_coldstart, "run", must_not_run)
    summary, logged, _ = _run_logged(_cfg(*_overrides(out, tiny_qwen2_dir, "recipe.stop_after=sft")))
    assert summary["stages"] == {"sft": "skipped"} and summary["pack_command"] is None
    assert "stopping after sft" in logged and not (out / "checkpoints" / "round-0001").exists()

    def dying_step(self, *a, **k):
        raise Killed

    # the next launch is killed in its first GRPO step: the GRPO stage had loaded everything, nothing of it is saved
    real_step = GRPOTrainer.training_step
    monkeypatch.setattr(GRPOTrainer, "training_step", dying_step)
    with pytest.raises(Killed):
        _run_logged(_cfg(*_overrides(out, tiny_qwen2_dir)))
    assert _rounds(out) == [0] and not (out / "checkpoints" / "round-0001").exists() and not (out / "gguf").exists()

    # and the same command once more: SFT skipped, GRPO round 1 from round 0, export
    monkeypatch.setattr(GRPOTrainer, "training_step", real_step)
    summary, logged, printed = _run_logged(_cfg(*_overrides(out, tiny_qwen2_dir)))
    assert summary["stages"] == {"sft": "skipped", "grpo": "ran", "export": "ran"}
    assert "recipe stage sft: complete, skipped" in logged
    assert [r["round"] for r in summary["records"]] == [1] and _rounds(out) == [0, 1]  # round 0 kept once
    files = _files(out)
    # the same set of outputs as the uninterrupted run, and the SFT stage's files untouched
    assert set(files) == set(full_files)
    assert {k: files[k] for k in sft_files} == sft_files
    assert summary["pack_command"] in printed and "round-0001" in summary["pack_command"]
    assert len(json.loads((out / "recipe.json").read_text())["launches"]) == 4  # full run's, stop_after, killed, this
