"""Bi-level GRPO training of the formulator and generator (TRL + PEFT + hydra).

Entry point: `python train.py +experiment=<smoke|bilevel|generator_only|formulator_only|sft_coldstart|selfplay|recipe>`.

Modules (heavy imports stay inside functions, so importing this package is cheap):
    rewards       TRL-signature rewards: GeneratorReward, FormulatorReward (bi-level), ProposerReward
    bilevel       the alternating loop as named, timed stages (BilevelRun, run)
    grpo_config   the one translation of the hydra config into trl.GRPOConfig
    policies      the two LoRA policies (shared base or separate bases) and a ChatBackend over them
    sft_coldstart rejection sampling + synthetic gold pairs -> TRL SFTTrainer
    recipe        the whole recipe in one resumable command: SFT -> bi-level GRPO -> GGUF export
    selfplay      proposer phase: the formulator invents puzzles, rewarded for learnability
    checkpoint    round checkpoints and resume
    metrics       metrics.jsonl and stage timers
    data          training rows from conf/data/* (datasets or synthetic families)
    tiny          a tiny random Qwen2 for smoke runs
    rollout_llamacpp  grpo.rollout=llamacpp: TRL's rollout_func on llama.cpp, live adapter export, IS correction
    llamacpp_sampler  parallel sampling on a GGUF base + LoRA with each token's log-probability (also inference's parallel decoding engine)
    llamacpp_backend  the policies' other sampling (formulations, reward programs, rejection, validation) on llama.cpp
"""
