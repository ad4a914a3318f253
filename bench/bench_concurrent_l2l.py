"""`l2l eval --method l2l` one question at a time against `--batch-size N` (N questions solved
concurrently, their model calls decoded together: l2l/backends/gather.py), on the same items and
one loaded model. Prints wall seconds per item, accuracy, how many answers agree between the two
runs, and the sizes of the merged model calls.

    flock /tmp/l2l-model.lock python bench/bench_concurrent_l2l.py --dataset bbh_logical_deduction_five_objects \\
        --split 'test[:20]' --limit 8 --batch-size 4

Use a tune split (the report splits are the table's). Both runs go through `run_eval`, the path
`l2l eval` and `bench/run_eval_table.py` take, into fresh folders under --out. On the quantised
models batched decoding rounds differently from one sequence, so answers can differ between the
two runs; the accuracy on the same items says whether that matters. Not a test: the figures
depend on the machine and its load, so say what else ran.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default=None)
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--method", default="l2l", choices=["l2l", "l2l_vote"])
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--model", default=None, help="model (default: the configured default)")
    ap.add_argument("--out", default="runs/bench_concurrent", help="work folder (emptied first)")
    ap.add_argument("--order", choices=["one-first", "batched-first"], default="one-first")
    args = ap.parse_args()

    from l2l.config import DEFAULT_MODEL, SolveConfig
    from l2l.eval import EvalRun, run_eval
    from l2l.pipeline.solve import get_model

    model_name = args.model or DEFAULT_MODEL
    config = SolveConfig(model=model_name)
    t = time.perf_counter()
    backend = get_model(model_name, prompt_cache=config.prompt_cache)
    print(f"model {model_name}: loaded in {time.perf_counter() - t:.1f} s, parallel sequences "
          f"{getattr(backend, 'parallel_sequences', 1)}", flush=True)
    sizes: list[int] = []
    original = backend.chat_batch

    def recording(conversations, params=None, **kw):
        sizes.append(len(conversations))
        return original(conversations, params, **kw)

    backend.chat_batch = recording  # type: ignore[method-assign]
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    runs = {"1": 1, str(args.batch_size): args.batch_size}
    order = list(runs) if args.order == "one-first" else list(runs)[::-1]
    results = {}
    for name in order:
        sizes.clear()
        folder = out / f"batch{name}"
        t = time.perf_counter()
        summary = run_eval(EvalRun(args.dataset, args.method, folder, split=args.split, limit=args.limit, model=model_name,
                                   batch_size=runs[name], config=config), backend=backend)
        wall = time.perf_counter() - t
        recs = {json.loads(x)["id"]: json.loads(x) for x in (folder / "predictions.jsonl").read_text().splitlines() if x.strip()}
        gen = sum((r.get("tokens") or {}).get("completion", 0) for r in recs.values())
        results[name] = (summary, wall, recs, list(sizes), gen)
        print(f"batch {name}: {summary['n']} items, {summary['accuracy'] * 100:.1f}% right, wall {wall:.1f} s "
              f"({wall / max(1, summary['n']):.1f} s/item), generated tokens {gen} ({gen / wall:.1f}/s of wall); "
              f"merged calls: {sum(1 for s in sizes if s > 1)} of {len(sizes)} chat_batch calls, sizes {sorted(sizes, reverse=True)[:12]}",
              flush=True)
    (s1, w1, r1, _, _), (sn, wn, rn, _, _) = results["1"], results[str(args.batch_size)]
    same = sum(1 for k in r1 if k in rn and r1[k]["prediction"] == rn[k]["prediction"])
    print(f"\n| run | items | right | wall s | s/item |\n| --- | ---: | ---: | ---: | ---: |")
    for name, (s, w, r, _, _) in results.items():
        print(f"| batch {name} | {s['n']} | {sum(1 for x in r.values() if x['correct'])} | {w:.1f} | {w / max(1, s['n']):.1f} |")
    print(f"\nspeed-up {w1 / wn:.2f}x; same answer on {same}/{len(r1)} items; "
          f"median per-item model seconds (batched: shares of merged calls) "
          f"{statistics.median(x['timings'].get('total', 0) for x in r1.values()):.1f} vs "
          f"{statistics.median(x['timings'].get('total', 0) for x in rn.values()):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
