"""Bi-level GRPO training of the formulator and generator (LoRA adapters, TRL + PEFT + hydra).

    python train.py +experiment=smoke                      # tiny random Qwen2, 1 round, ~1 min on CPU
    python train.py +experiment=bilevel                    # the method on the exported 0.5B model
    python train.py +experiment=bilevel resume=true        # continue after the last completed round
    python train.py +experiment=generator_only             # ablations: one level only
    python train.py +experiment=formulator_only
    python train.py +experiment=sft_coldstart              # rejection-sampled SFT before GRPO
    python train.py +experiment=selfplay                   # formulator proposes puzzles (Absolute Zero style)
    python train.py +experiment=recipe out_dir=runs/recipe_0.5b   # SFT -> GRPO -> GGUF export, resumable (~2.2 h)
    python train.py +experiment=bilevel loop.rounds=5 grpo.generator.steps=8 out_dir=runs/try1

First export a trainable checkpoint of an offline model (the GGUF cannot be trained):

    l2l models export-hf qwen2.5-coder-0.5b runs/base/qwen2.5-coder-0.5b

Multi-GPU / DeepSpeed (see conf/accelerate/):

    accelerate launch --config_file conf/accelerate/multi_gpu.yaml train.py +experiment=bilevel grpo=gpu model.dtype=bfloat16
    accelerate launch --config_file conf/accelerate/zero2.yaml train.py +experiment=bilevel grpo=gpu model.dtype=bfloat16
    accelerate launch --config_file conf/accelerate/zero3.yaml train.py +experiment=bilevel grpo=gpu model.dtype=bfloat16

Two CPU processes (gloo): the multi-process path without GPUs (tests/test_train_multiprocess.py):

    accelerate launch --config_file conf/accelerate/cpu_2proc.yaml train.py +experiment=smoke

Outputs under out_dir (default runs/<experiment>): adapters/{formulator,generator}/ (load with
`l2l solve --model <dir>`), checkpoints/round-NNNN/, metrics.jsonl (one record per round).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from l2l.errors import L2LError

    mode = str(cfg.get("mode", "grpo"))
    try:
        if mode == "sft":
            from l2l.train.sft_coldstart import run
        elif mode == "recipe":
            from l2l.train.recipe import run
        else:
            from l2l.train.bilevel import run
        summary = run(cfg)
    except L2LError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    # Every process prints its own line, so a multi-process launch shows that each one finished.
    print(f"done: {summary['out_dir']} (process {summary.get('process_index', 0)} of {summary.get('world_size', 1)})")


if __name__ == "__main__":
    main()
