"""Seconds per SFT step of one adapter on the real cold-start rows, through the cold start's own
`sft_phase` (same trainer, same rows, same config composition as `python train.py +experiment=...`).

    # the recipe's SFT (real 0.5B exported to runs/base/qwen2.5-coder-0.5b), shared prefix on / off:
    flock /tmp/l2l-model.lock python bench/bench_sft_step.py --role generator --steps 1 -- \\
        +experiment=recipe sft.batch_size=4 sft.gradient_accumulation_steps=1
    flock /tmp/l2l-model.lock python bench/bench_sft_step.py --role generator --steps 1 -- \\
        +experiment=recipe sft.batch_size=4 sft.gradient_accumulation_steps=1 sft.shared_prefix=false \\
        sft.gradient_checkpointing=true
    # the 1.5B's generator (export it: l2l models export-hf qwen2.5-coder-1.5b runs/base/qwen2.5-coder-1.5b),
    # its two longest micro-batches, checkpointed or not: the peak memory that limits it on 24 GiB
    flock /tmp/l2l-model.lock python bench/bench_sft_step.py --role generator --steps 2 --longest -- \\
        +experiment=recipe model=qwen1.5b model.dtype=bfloat16 +sft.generator.batch_size=2 \\
        +sft.generator.gradient_checkpointing=true
    flock /tmp/l2l-model.lock python bench/bench_sft_step.py --role generator --steps 2 --longest -- \\
        +experiment=recipe model=qwen1.5b model.dtype=bfloat16 +sft.generator.batch_size=1

Prints the wall seconds of the phase, seconds per step, the sequences and tokens it trained on, the
shared-prefix counters and the process's peak resident memory. Not a test: figures vary with load.
The first micro-batches are the same rows for every setting (the rows are ordered by the sampler of
`l2l/train/sft_shared_prefix.py` when it is on; with it off, TRL's seeded random order), so compare
seconds per training token, which the script prints too.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing it


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["formulator", "generator"], default="generator")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--longest", action="store_true",
                    help="train on the longest rows only (steps x micro-batch of them): the peak memory of the phase")
    ap.add_argument("overrides", nargs="*", help="hydra overrides (after --)")
    a = ap.parse_args()

    import logging

    from hydra import compose, initialize_config_dir

    from l2l.train.bilevel import BilevelRun
    from l2l.train.sft_coldstart import _triples, role_setting, sft_datasets, sft_phase

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = tempfile.mkdtemp(prefix="bench-sft-")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[*a.overrides, f"out_dir={out}", "resume=false", "sft.samples_per_question=0",
                                          f"sft.steps={a.steps}", "loop.validate_before=false", "loop.validate_every=0"])
    run = BilevelRun(cfg)
    rows = sft_datasets(_triples(run, cfg, {}))[a.role]
    s = cfg.sft
    batch = int(role_setting(s, a.role, "batch_size"))
    accumulate = int(role_setting(s, a.role, "gradient_accumulation_steps", 1))
    if a.longest:
        tok = run.policies.tokenizer
        size = {id(r): len(tok.apply_chat_template(r["prompt"] + r["completion"], tokenize=True, return_dict=True)["input_ids"])
                for r in rows}
        rows = sorted(rows, key=lambda r: -size[id(r)])[: a.steps * batch * accumulate]
        print(f"the {len(rows)} longest rows: {min(size[id(r)] for r in rows)}-{max(size[id(r)] for r in rows)} tokens "
              f"(all rows: {len(size)}, median {sorted(size.values())[len(size) // 2]})")
    t = time.perf_counter()
    rec = sft_phase(run, a.role, rows)
    wall = time.perf_counter() - t
    seqs = a.steps * batch * accumulate
    tokens = float(rec.get(f"sft/{a.role}/num_tokens", 0))
    print(f"role={a.role} steps={a.steps} batch={batch}x{accumulate} "
          f"shared_prefix={s.get('shared_prefix', True)} "
          f"gradient_checkpointing={role_setting(s, a.role, 'gradient_checkpointing', False)}")
    print(f"wall {wall:.1f} s (trainer construction and tokenising included), {wall / a.steps:.1f} s per step, "
          f"{seqs} sequences, {wall / seqs:.1f} s per sequence, {tokens:.0f} tokens, "
          f"{1000 * wall / max(tokens, 1):.1f} s per 1,000 tokens")
    for k, v in rec.items():
        print(f"  {k}: {v}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024:.2f} GiB; 1-min load average at end "
          f"{os.getloadavg()[0]:.2f}; out_dir {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
