"""Markdown table of several (model, method) runs on the held-out synthetic families, paired on the
items every run finished, with Wilson intervals, the paired difference against a reference run and
failures by stage (read from the predictions, `l2l.eval.failures`).

    python bench/synth_table.py l2l-0.5b-sft:l2l qwen2.5-coder-0.5b:l2l qwen2.5-coder-0.5b:cot \
        --ref qwen2.5-coder-0.5b:l2l

Reads runs/synth/<model>/<family>/<method>/predictions.jsonl (written by bench/synth_compare.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(root: Path, pair: str, family: str) -> dict[str, dict]:
    model, method = pair.split(":")
    path = root / model / family / method / "predictions.jsonl"
    if not path.exists():
        return {}
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines()) if r.get("id") is not None}


def main(argv: list[str] | None = None) -> int:
    from l2l.eval.failures import STAGE_LABELS, failure_counts
    from l2l.eval.stats import compare_paired, wilson_interval

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pairs", nargs="+", help="MODEL:METHOD run folders under --root")
    p.add_argument("--ref", help="MODEL:METHOD the others are compared with (paired, same items)")
    p.add_argument("--root", default="runs/synth", help="folder of the runs (default runs/synth)")
    args = p.parse_args(argv)
    root = Path(args.root)
    families = sorted({d.name for pair in args.pairs for d in (root / pair.split(":")[0]).glob("*") if d.is_dir()})
    pooled: dict[str, dict[str, bool]] = {pair: {} for pair in args.pairs}
    stages: dict[str, list[dict]] = {pair: [] for pair in args.pairs}
    print("| family | n | " + " | ".join(f"`{m}` {p}" for m, p in (x.split(":") for x in args.pairs)) + " |")
    print("|---|---:|" + "---:|" * len(args.pairs))
    for fam in families:
        runs = {pair: _load(root, pair, fam) for pair in args.pairs}
        common = sorted(set.intersection(*(set(r) for r in runs.values())))
        if not common:
            continue
        cells = []
        for pair in args.pairs:
            right = sum(bool(runs[pair][i]["correct"]) for i in common)
            cells.append(f"{right}/{len(common)}")
            pooled[pair].update({f"{fam}/{i}": bool(runs[pair][i]["correct"]) for i in common})
            stages[pair] += [runs[pair][i] for i in common]
        print(f"| {fam} | {len(common)} | " + " | ".join(cells) + " |")
    n = len(next(iter(pooled.values())))
    cells = []
    for pair in args.pairs:
        k = sum(pooled[pair].values())
        lo, hi = wilson_interval(k, n)
        cells.append(f"**{k}/{n}** ({100 * k / n:.1f}%, {100 * lo:.0f}-{100 * hi:.0f})" if n else "-")
    print("| **all** | " + str(n) + " | " + " | ".join(cells) + " |")
    if args.ref:
        print(f"\nPaired against `{args.ref}` on the same {n} items (difference in points, bootstrap 95% interval, exact McNemar p):\n")
        for pair in args.pairs:
            if pair == args.ref:
                continue
            c = compare_paired(pooled[pair], pooled[args.ref])
            print(f"- `{pair}` minus `{args.ref}`: {100 * c.diff:+.1f} points ({100 * c.ci_low:+.0f} to "
                  f"{100 * c.ci_high:+.0f}); right only here {c.a_only}, only there {c.b_only}; McNemar p = {c.p_mcnemar:.3f}")
    print("\nFailures by stage (wrong items only):\n")
    print("| run | " + " | ".join(STAGE_LABELS.values()) + " |")
    print("|---|" + "---:|" * len(STAGE_LABELS))
    for pair in args.pairs:
        counts = failure_counts(stages[pair])
        print(f"| `{pair}` | " + " | ".join(str(counts.get(s, 0)) for s in STAGE_LABELS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
