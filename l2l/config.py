"""Inference settings shared by `l2l solve`, `l2l.reason`, `l2l eval` and the training rewards.

`conf/pipeline/default.yaml` mirrors these defaults for hydra (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from l2l.errors import InputError

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
# Sequences one llama.cpp context decodes together (see SolveConfig.parallel_sequences).
DEFAULT_PARALLEL_SEQUENCES = 4


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
    # Off by default: on the 1.5B default model a repair round turned 0 of 15 failed first
    # programs on the LogicalDeduction and BBH five_objects tune items into a right answer
    # (0 of 34 more in the published table cells) at ~33 s each, where a failing item costs
    # ~100 s in all (bench/results/after_failure.md). Worth turning on for stronger models.
    repair_rounds: int = 0
    # Keep the worked example in the repair conversation (False: drop it, so the repaired
    # program cannot copy the example's names).
    repair_with_example: bool = True
    # Ask the formulator once more when its constraints leave out statements of the problem.
    coverage_repair: bool = True
    # Sandbox limits per program.
    timeout_s: float = 20.0
    memory_mb: int = 2048
    # Run generated programs even on a machine whose sandbox has no isolation layer beyond
    # the Python audit hook (no Landlock, no seccomp, no namespaces); they then run with all
    # of this user's rights. Off: L2L refuses (solvers/executor.py, `l2l doctor`).
    unsafe_exec: bool = False
    # A failed program runs once more with deterministic fixes of mechanical slips (undeclared
    # predicates, `not_x(a)`; l2l/pipeline/program_fixes.py) before a model repair is asked for;
    # a program that runs is never changed. Off by default: measured on 24 stored failures it
    # made 4 run and 1 right (bench/results/program_fixes.md), and a wrong fixed answer would
    # pre-empt the model's repair round; an eval A/B with it on decides.
    fix_programs: bool = False
    # Wall seconds one solve may take (model loading excluded); None: no limit. No model call
    # or program starts after it, a llama.cpp completion under way is cut at it, and the vote
    # over the candidates so far is returned (SolveResult.stopped_by == "time_budget").
    time_budget_s: float | None = None
    # Decode formulations under a grammar made from their JSON schema (backends that enforce
    # schemas: llama.cpp, OpenAI-compatible, vLLM), so they always parse; False: free text,
    # parsed afterwards (bench/bench_constrained.py compares the two).
    constrained_formulation: bool = True
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
    # Completions one llama.cpp context decodes together as parallel sequences: the n samples of one
    # request and the conversations of one batch (l2l/backends/llamacpp_parallel.py); 1: one after
    # another, as before. The solver uses it for sampled candidates: after the greedy first one, up
    # to this many sampled formulations are drafted in one request and their programs written in one
    # batch (each keeps its one-at-a-time seed; an early vote stop then comes at most a wave late).
    # Aggregate decode on the real 0.5B, 2 cores: 1.03x at 2 sequences, 1.39x at 4, 1.66x at 8
    # and on the default 1.5B 1.33x at 2, 1.67x at 4 and only 1.35x at 8 (bench/results/parallel_sequences.md);
    # 4 covers `l2l_vote --samples 5`'s sampled formulations.
    parallel_sequences: int = DEFAULT_PARALLEL_SEQUENCES

    def __post_init__(self) -> None:
        # A trained model (`l2l models list`: a base plus one LoRA adapter per policy) stands for
        # two models: its formulator adapter formulates, its generator adapter writes programs.
        from l2l.models.registry import stage_models

        formulator, generator = stage_models(self.model)
        if formulator is not None:
            self.formulator_model = self.formulator_model or formulator
            self.generator_model = self.generator_model or generator

    def update(self, **overrides: Any) -> "SolveConfig":
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise InputError(f"unknown setting(s): {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
        current = asdict(self)
        if overrides.get("model", self.model) != self.model:
            # stage models filled in from the previous (trained) model go with it
            from l2l.models.registry import stage_models

            for key, derived in zip(("formulator_model", "generator_model"), stage_models(self.model)):
                if derived is not None and current[key] == derived:
                    current[key] = None
        return SolveConfig(**{**current, **{k: v for k, v in overrides.items()}})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
