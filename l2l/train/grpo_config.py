"""The one place where the hydra config becomes a `trl.GRPOConfig`.

Everything TRL-specific about a phase (group size, lengths, KL coefficient, precision, vLLM)
is decided here, so a TRL upgrade touches one function.

    >>> args = grpo_args(cfg, "generator", "/tmp/run/trainer/generator", round_index=0)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from l2l.errors import InputError


# TRL's vllm_importance_sampling_mode values, plus none (no correction)
IS_MODES = ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask", "none")


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    try:
        value = cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)
    except Exception:  # omegaconf raises on missing keys in struct mode
        return default
    return default if value is None else value


def phase_settings(cfg: Any, role: str) -> dict[str, Any]:
    """The per-role block (`grpo.generator` / `grpo.formulator` / `grpo.proposer`) over `grpo` defaults."""
    grpo = cfg.grpo
    if role not in ("generator", "formulator", "proposer"):
        raise InputError(f"unknown policy role {role!r}")
    block = _get(grpo, role, {}) or {}
    shared = {k: v for k, v in dict(grpo).items() if k not in ("generator", "formulator", "proposer")}
    return {**shared, **dict(block)}


def cpu_has_fast_bf16(cpuinfo: str | None = None) -> bool:
    """True when this x86 CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX): there a bf16
    matmul ran about 4x faster than fp32 on 2 threads (320 vs 80 GFLOP/s measured on such a CPU);
    without them torch emulates bf16 and it is slower than fp32."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_bf16(setting: Any, use_cpu: bool) -> bool:
    """`bf16: auto | true | false` -> whether to train with bf16 autocast. auto: on CPU when
    `cpu_has_fast_bf16()`, on GPU when torch says the device supports it. Logged once per call
    site by the caller (l2l.train.bilevel logs the decision at start)."""
    if isinstance(setting, str) and setting.lower() == "auto":
        if use_cpu:
            return cpu_has_fast_bf16()
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if isinstance(setting, str):
        if setting.lower() not in ("true", "false"):
            raise InputError(f"grpo.bf16 must be auto, true or false, got {setting!r}")
        return setting.lower() == "true"
    return bool(setting)


def grpo_args(cfg: Any, role: str, output_dir: str, round_index: int = 0) -> Any:
    """Build the `GRPOConfig` for one phase of one round."""
    from trl import GRPOConfig

    kwargs = grpo_kwargs(cfg, role, output_dir, round_index)
    try:
        return GRPOConfig(**kwargs)
    except (TypeError, ValueError) as e:
        raise InputError(f"invalid GRPO settings for {role}: {e}") from None


def grpo_kwargs(cfg: Any, role: str, output_dir: str, round_index: int = 0) -> dict[str, Any]:
    """The GRPOConfig keyword arguments for one phase (checkable without the hardware they ask for)."""
    s = phase_settings(cfg, role)
    use_cpu = bool(s.get("use_cpu", False))
    # GRPOConfig turns bf16 on by default; we decide explicitly (fp32 weights, bf16 autocast when fast)
    bf16 = resolve_bf16(s.get("bf16", "auto"), use_cpu)
    num_generations = int(s["num_generations"])
    batch = int(s.get("per_device_train_batch_size") or num_generations)
    accum = int(s.get("gradient_accumulation_steps", 1))
    if (batch * accum) % num_generations:
        raise InputError(
            f"grpo: per_device_train_batch_size*gradient_accumulation_steps ({batch}*{accum}) must be a multiple "
            f"of num_generations ({num_generations})"
        )
    if int(s["steps"]) < 1:
        raise InputError(f"grpo.{role}.steps must be >= 1")
    kwargs: dict[str, Any] = dict(
        output_dir=output_dir,
        max_steps=int(s["steps"]),
        learning_rate=float(s["learning_rate"]),
        lr_scheduler_type=str(s.get("lr_scheduler_type", "constant")),
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accum,
        num_generations=num_generations,
        max_completion_length=int(s["max_completion_length"]),
        temperature=float(s.get("temperature", 1.0)),
        repetition_penalty=float(s.get("repetition_penalty", 1.0)),
        beta=float(s.get("beta", 0.0)),
        num_iterations=int(s.get("num_iterations", 1)),
        loss_type=str(s.get("loss_type", "dapo")),
        scale_rewards=s.get("scale_rewards", "group"),
        use_cpu=use_cpu,
        bf16=bf16,
        gradient_checkpointing=bool(s.get("gradient_checkpointing", False)),
        use_vllm=bool(s.get("use_vllm", False)),
        vllm_mode=str(s.get("vllm_mode", "colocate")),
        logging_steps=1,
        save_strategy="no",  # the bi-level loop checkpoints whole rounds itself (l2l.train.checkpoint)
        report_to=list(s.get("report_to", []) or []) or "none",
        seed=int(_get(cfg, "seed", 0)) + round_index,  # fresh sampling each round, reproducible per round
        disable_tqdm=not bool(s.get("progress", False)),
        dataloader_num_workers=0,
        # Multi-process (DDP) runs: the active LoRA adapter is used whole in every forward (inactive
        # adapters are frozen, so DDP does not track them); transformers would otherwise default to
        # True for a PeftModel, an extra autograd traversal per step that also breaks checkpointing.
        ddp_find_unused_parameters=bool(s.get("ddp_find_unused_parameters", False)),
    )
    if s.get("use_vllm"):
        kwargs["vllm_gpu_memory_utilization"] = float(s.get("vllm_gpu_memory_utilization", 0.3))
    from l2l.train.rollout_llamacpp import RolloutSettings

    rollout = RolloutSettings.from_config(s).rollout  # checks the rollout keys
    if s.get("use_vllm") or rollout == "llamacpp":
        # Rollouts not sampled by the policy itself: TRL weighs each token by the (capped) ratio of the
        # policy's probability to the sampler's (l2l/train/rollout_llamacpp.py).
        mode = str(s.get("importance_sampling", "token_truncate"))
        if mode not in IS_MODES:
            raise InputError(f"grpo.importance_sampling must be one of {', '.join(IS_MODES)}, got {mode!r}")
        kwargs["vllm_importance_sampling_correction"] = mode != "none"
        if mode != "none":
            kwargs["vllm_importance_sampling_mode"] = mode
            kwargs["vllm_importance_sampling_clip_max"] = float(s.get("importance_sampling_clip_max", 3.0))
    return kwargs
