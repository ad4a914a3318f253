"""What voting over samples costs against one `l2l` candidate, with and without decoding the sampled
candidates in waves (issue 16's target: `l2l_vote` with 5 samples at most 2.5x a single `l2l` item).

    flock /tmp/l2l-model.lock python bench/bench_vote.py --data runs/heldout/knights_knaves.jsonl -n 5
    python bench/bench_vote.py --model qwen2.5-coder-0.5b --data runs/heldout/arithmetic.jsonl -n 3 --samples 5

For each item it solves three ways on one loaded model (one llama.cpp context, `parallel_sequences`
from the config): `l2l` (1 candidate), `vote` (k samples, waves: the sampled formulations drafted
in one request, their programs in one batch) and `vote-seq` (the same k samples one at a time, with
the same seeds; on the quantised models batched decoding rounds differently, so texts and answers
can differ between the two). Prints
seconds, tokens and answers per item and the mean ratios. Items: a JSONL of {question, options,
answer} (`python bench/synth_heldout.py runs/heldout -n 20` writes the synthetic held-out sets).
Not a test: the figures depend on the machine and its load, so say what else ran.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model name (default: the configured default)")
    ap.add_argument("--data", required=True, help="JSONL items with question, options, answer")
    ap.add_argument("-n", type=int, default=5, help="items")
    ap.add_argument("--samples", type=int, default=5, help="k of the vote")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()

    from l2l.config import SolveConfig
    from l2l.data.answers import match_answer
    from l2l.pipeline.solve import Solver, build_solver

    class OneAtATime(Solver):
        def _wave_size(self, i: int, k: int) -> int:
            return 1

    items = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()][: args.n]
    base = SolveConfig() if args.model is None else SolveConfig(model=args.model)
    single, load_s = build_solver(base)
    print(f"model {base.model}: loaded in {load_s:.1f} s; parallel sequences "
          f"{getattr(single.formulator, 'parallel_sequences', 1)}; {len(items)} items from {args.data}", flush=True)
    voting = base.update(formulations=args.samples)
    ways = {
        "l2l": single,
        "vote": Solver(voting, single.formulator, single.generator),
        "vote-seq": OneAtATime(voting, single.formulator, single.generator),
    }
    rows = []
    for idx, item in enumerate(items):
        row = {"item": idx}
        for name, solver in ways.items():
            t = time.perf_counter()
            r = solver.solve(item["question"], item.get("options") or None)
            row[name] = {
                "seconds": round(time.perf_counter() - t, 1),
                "answer": r.answer,
                "correct": match_answer(r.answer, item.get("answer"), item.get("options")).correct,
                "candidates": len(r.candidates),
                "completion_tokens": r.tokens.get("completion", 0),
            }
            print(f"item {idx} {name:<9} {row[name]['seconds']:7.1f} s  {row[name]['candidates']} candidates  "
                  f"{row[name]['completion_tokens']:5d} tokens  answer {r.answer!r} ({'right' if row[name]['correct'] else 'wrong'})",
                  flush=True)
        rows.append(row)
    mean = {name: statistics.mean(r[name]["seconds"] for r in rows) for name in ways}
    print("\nmean seconds per item: " + ", ".join(f"{k} {v:.1f}" for k, v in mean.items()))
    print(f"vote / l2l: {mean['vote'] / mean['l2l']:.2f}x; vote-seq / l2l: {mean['vote-seq'] / mean['l2l']:.2f}x; "
          f"waves save {100 * (1 - mean['vote'] / mean['vote-seq']):.0f}% of the sequential vote's time")
    print("correct: " + ", ".join(f"{k} {sum(r[k]['correct'] for r in rows)}/{len(rows)}" for k in ways))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
