"""Inference settings shared by `l2l solve`, `l2l.reason`, `l2l eval` and the training rewards.

`conf/pipeline/default.yaml` mirrors these defaults for hydra (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from l2l.errors import InputError

DEFAULT_MODEL = "qwen2.5-coder-1.5b"


@dataclass
class SolveConfig:
    # Model registry name, local GGUF/HF path, hub id, or "openai:<model>" (see `l2l models list`).
    model: str = DEFAULT_MODEL
    # Separate models for the two policies; None means "same as `model`" (loaded once).
    formulator_model: str | None = None
    generator_model: str | None = None
    # Self-consistency: k formulations x m programs each, then a vote over executed answers.
    formulations: int = 1
    programs_per_formulation: int = 1
    # Stop sampling once this many executed candidates agree (0 = always run all k x m).
    early_stop_agree: int = 2
    # Fresh formulations tried one at a time (sampled) when no candidate produced an answer.
    # A contradiction or several solutions usually come from a wrong formulation, which program
    # repair cannot fix. Off by default: on 20 LogicalDeduction items it turned 8/20 into 9/20,
    # and items that needed it took 66-184 s instead of ~30 (bench/results/eval_logicaldeduction.md).
    reformulations: int = 0
    # The first candidate is greedy; the rest are sampled at this temperature.
    sample_temperature: float = 0.8
    # Rounds that feed the solver's error back to the generator for a corrected program.
    repair_rounds: int = 1
    # Keep the worked example in the repair conversation (False: drop it, so the repaired
    # program cannot copy the example's names).
    repair_with_example: bool = True
    # Ask the formulator once more when its constraints leave out statements of the problem.
    coverage_repair: bool = True
    # Sandbox limits per program.
    timeout_s: float = 20.0
    memory_mb: int = 2048
    # Token budgets per stage.
    formulation_max_tokens: int = 768
    program_max_tokens: int = 1024
    repeat_penalty: float = 1.1
    # Longest question accepted, in characters (bigger inputs are refused with a clear error).
    max_question_chars: int = 20_000
    seed: int = 0
    # llama.cpp KV-state cache for the long, fixed prompt prefixes: "disk" (reused across
    # runs, under the model cache directory), "ram" (this process only) or "off".
    prompt_cache: str = "disk"

    def update(self, **overrides: Any) -> "SolveConfig":
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise InputError(f"unknown setting(s): {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
        return SolveConfig(**{**asdict(self), **{k: v for k, v in overrides.items()}})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
