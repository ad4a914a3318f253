"""Write a held-out synthetic evaluation set per puzzle family (JSONL, one file per family).

    python bench/synth_heldout.py data/heldout          # 50 records per family, seed 900000
    python bench/synth_heldout.py /tmp/ho -n 20 --seed 900001

The seed is far from the training seeds in conf/data/synthetic.yaml (1000 + entry index), so
no held-out record is a training record. Records have the `l2l.synth.PuzzleRecord` fields
(id, family, question, options, answer, formulation, program, difficulty, meta); the eval
harness reads id/question/options/answer. Prints per-family counts, answer spread and time.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HELDOUT_SEED = 900_000


def main(argv: list[str] | None = None) -> int:
    from l2l.synth import FAMILIES, generate_records

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outdir", help="directory to write <family>.jsonl files into (created if missing)")
    p.add_argument("-n", type=int, default=50, help="records per family (default 50)")
    p.add_argument("--seed", type=int, default=HELDOUT_SEED, help=f"seed (default {HELDOUT_SEED})")
    p.add_argument("--families", nargs="*", default=list(FAMILIES), help="families (default: all)")
    args = p.parse_args(argv)
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown or args.n < 1:
        print(f"error: unknown families {unknown} (valid: {', '.join(FAMILIES)})" if unknown else "error: -n must be >= 1", file=sys.stderr)
        return 2
    os.makedirs(args.outdir, exist_ok=True)
    for fam in args.families:
        t = time.perf_counter()
        recs = generate_records(fam, args.n, args.seed)
        path = os.path.join(args.outdir, f"{fam}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for r in recs:
                f.write(r.to_json() + "\n")
        spread = collections.Counter(r.answer for r in recs) if recs[0].options else {"numeric": len(recs)}
        print(f"{fam:15s} {len(recs):4d} records  {time.perf_counter() - t:6.2f}s  answers {dict(sorted(spread.items()))}  -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
