"""The training config composes for every experiment and translates into TRL's GRPOConfig."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from l2l.errors import InputError
from l2l.train.grpo_config import cpu_has_fast_bf16, grpo_args, grpo_kwargs, phase_settings, resolve_bf16

CONF = str(Path(__file__).resolve().parents[1] / "conf")
EXPERIMENTS = sorted(p.stem for p in Path(CONF, "experiment").glob("*.yaml"))


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_every_expected_experiment_exists():
    assert {"bilevel", "generator_only", "formulator_only", "sft_coldstart", "smoke", "selfplay"} <= set(EXPERIMENTS)


def test_experiment_is_not_in_the_defaults_list():
    cfg = compose_train()
    assert "experiment" not in cfg  # `+experiment=...` must add it, not override it
    assert cfg.pipeline.model  # the shared inference settings are part of the training config


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_translates(name, tmp_path):
    cfg = compose_train(f"+experiment={name}", f"out_dir={tmp_path}")
    assert cfg.experiment_name == name
    for role in cfg.loop.phases:
        args = grpo_args(cfg, role, str(tmp_path / role))
        # CPU default: bf16 autocast exactly where the CPU does bf16 in hardware
        assert args.use_cpu is True and args.bf16 is cpu_has_fast_bf16()
        assert args.num_generations == phase_settings(cfg, role)["num_generations"]
        assert args.max_steps == phase_settings(cfg, role)["steps"]
        assert args.save_strategy == "no"


def test_ablations_differ_only_in_phases():
    phases = {n: list(compose_train(f"+experiment={n}").loop.phases) for n in ("bilevel", "generator_only", "formulator_only")}
    assert phases == {"bilevel": ["generator", "formulator"], "generator_only": ["generator"], "formulator_only": ["formulator"]}


def test_smoke_is_shrunk_and_uses_tiny_model():
    cfg = compose_train("+experiment=smoke")
    assert cfg.model.build_tiny is True
    assert cfg.loop.rounds == 1 and cfg.grpo.generator.steps == 1
    assert cfg.data.families  # synthetic data with gold formulations


def test_gpu_group_turns_on_vllm_bf16_checkpointing(tmp_path):
    cfg = compose_train("+experiment=bilevel", "grpo=gpu")
    # GRPOConfig itself refuses bf16 on a CPU-only machine, so check the translated arguments
    kw = grpo_kwargs(cfg, "generator", str(tmp_path))
    assert kw["use_vllm"] and kw["vllm_mode"] == "colocate" and kw["bf16"] and kw["gradient_checkpointing"]
    assert kw["use_cpu"] is False and kw["per_device_train_batch_size"] % kw["num_generations"] == 0


def test_per_role_settings_override_shared(tmp_path):
    cfg = compose_train("+experiment=bilevel", "grpo.generator.learning_rate=3e-4", "grpo.beta=0.02")
    assert grpo_args(cfg, "generator", str(tmp_path)).learning_rate == pytest.approx(3e-4)
    assert grpo_args(cfg, "formulator", str(tmp_path)).beta == pytest.approx(0.02)


@pytest.mark.parametrize(
    "override,match",
    [
        ("grpo.per_device_train_batch_size=3", "multiple of num_generations"),
        ("grpo.generator.steps=0", "steps must be >= 1"),
    ],
)
def test_bad_grpo_settings_give_clear_errors(override, match, tmp_path):
    cfg = compose_train("+experiment=bilevel", override)
    with pytest.raises(InputError, match=match):
        grpo_args(cfg, "generator", str(tmp_path))


def test_accelerate_configs_present():
    names = {p.name for p in Path(CONF, "accelerate").glob("*.yaml")}
    assert {"multi_gpu.yaml", "zero2.yaml", "zero3.yaml", "cpu_2proc.yaml"} <= names


# (cpuinfo flags line, fast bf16?)
BF16_CASES = [
    ("flags\t: fpu avx avx2 fma", False),                       # AVX2 only (AMD EPYC here): emulated bf16
    ("flags\t: fpu avx2 avx512f avx512_bf16", True),            # AVX-512 BF16
    ("flags\t: fpu avx2 avx512f amx_bf16 amx_tile", True),      # AMX
    ("", False),                                                 # nothing readable
]


@pytest.mark.parametrize("cpuinfo,expected", BF16_CASES)
def test_cpu_bf16_detection(cpuinfo, expected):
    assert cpu_has_fast_bf16(cpuinfo) is expected


def test_bf16_setting_values():
    assert resolve_bf16("auto", True) is cpu_has_fast_bf16()
    assert resolve_bf16(True, True) is True and resolve_bf16("false", True) is False
    with pytest.raises(InputError, match="auto, true or false"):
        resolve_bf16("sometimes", True)
