"""Run (or summarise) a bi-level GRPO training run and print a markdown report of its metrics.

    # the documented real CPU run with the 0.5B model (export it first):
    l2l models export-hf qwen2.5-coder-0.5b runs/base/qwen2.5-coder-0.5b
    python bench/bench_train.py --out bench/results/train_cpu_0.5b.md -- \\
        +experiment=bilevel out_dir=runs/bench-0.5b loop.rounds=1 loop.limit=40 loop.val_size=6 \\
        loop.questions_per_round=2 loop.formulations_per_question=1 grpo.num_generations=2 \\
        grpo.per_device_train_batch_size=2 grpo.generator.steps=1 grpo.formulator.steps=1 \\
        grpo.generator.max_completion_length=256 grpo.formulator.max_completion_length=256 rewards.formulator.m=2

    # only summarise an existing run:
    python bench/bench_train.py --summarise runs/bench-0.5b

Prints seconds per round and per stage, reward means per level, exec rates, tokens/s and the
validation accuracy before (round -1) and after each round. Not a test: figures vary with load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def report(out_dir: Path, command: str | None, wall_s: float | None) -> str:
    recs = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    lines = [f"# Bi-level GRPO run: {out_dir.name}", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    if wall_s is not None:
        lines += [f"Wall time: {wall_s:.0f} s", ""]
    stages = sorted({k for r in recs for k in r.get("seconds", {}) if k != "round"})
    lines += ["| round | " + " | ".join(f"{s} (s)" for s in stages) + " | round (s) |", "|---" * (len(stages) + 2) + "|"]
    for r in recs:
        sec = r.get("seconds", {})
        lines.append(f"| {r['round']} | " + " | ".join(f"{sec.get(s, 0):.0f}" for s in stages) + f" | {sec.get('round', 0):.0f} |")
    keys = [
        "generator/reward", "generator/reward_std", "generator/frac_reward_zero_std", "generator/exec_rate",
        "generator/certified_rate", "generator/accuracy", "formulator/reward", "formulator/reward_std",
        "formulator/frac_reward_zero_std", "formulator/valid_rate", "formulator/exec_rate", "formulator/certified_rate",
        "formulator/accuracy", "tokens_per_s", "val/accuracy", "val/formulation_valid", "val/exec_rate", "val/n",
    ]
    lines += ["", "| round | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in recs:
        lines.append(f"| {r['round']} | " + " | ".join(_fmt(r.get(k)) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--summarise", metavar="OUT_DIR", help="only print the report of an existing run")
    ap.add_argument("--out", help="also write the markdown report to this file")
    ap.add_argument("overrides", nargs="*", help="hydra overrides passed to train.py (after --)")
    a = ap.parse_args()
    if a.summarise:
        text = report(Path(a.summarise), None, None)
    else:
        out_dir = next((o.split("=", 1)[1] for o in a.overrides if o.startswith("out_dir=")), None)
        if not out_dir:
            print("error: pass out_dir=... among the overrides", file=sys.stderr)
            return 2
        cmd = [sys.executable, "train.py", *a.overrides]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT)
        wall = time.perf_counter() - t0
        if p.returncode:
            print(f"error: train.py exited with {p.returncode}", file=sys.stderr)
            return p.returncode
        text = report(ROOT / out_dir if not Path(out_dir).is_absolute() else Path(out_dir), "python train.py " + " ".join(a.overrides), wall)
    print(text)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
