"""Wall time of solving the README examples with each offline model, split by stage.

    python bench/bench_solve.py                          # both offline models, all examples
    python bench/bench_solve.py --models qwen2.5-coder-0.5b --repeat 2

Prints, per model and example: model load, formulation, generation, execution, total, the
backends' own generation time (llm) and the pipeline's overhead over it
(total - llm - execution: prompt building, parsing, scheduling). Run in one process so the
models are compared under the same machine load.
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
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    ap.add_argument("--examples", nargs="+", default=sorted(str(p) for p in (ROOT / "data/examples").glob("*.txt")))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--prompt-cache", choices=["disk", "ram", "off"], default="disk",
                    help="llama.cpp prompt cache; 'disk' starts from an empty temporary directory, so the "
                         "first solve of each model is cold and the rest show the warm cost")
    ap.add_argument("--json", help="also write the raw rows to this file")
    args = ap.parse_args()

    from l2l.config import SolveConfig
    from l2l.pipeline.solve import build_solver, clear_model_cache

    import tempfile

    rows = []
    for model in args.models:
        overrides = {}
        if args.prompt_cache == "disk":
            overrides["prompt_cache_dir"] = tempfile.mkdtemp(prefix="l2l-bench-cache-")
        t = time.perf_counter()
        solver, _ = build_solver(SolveConfig(model=model, prompt_cache=args.prompt_cache), **overrides)
        load_s = time.perf_counter() - t
        for path in args.examples:
            question = Path(path).read_text()
            for r in range(args.repeat):
                res = solver.solve(question)
                tm = res.timings
                row = {
                    "model": model, "example": Path(path).stem, "repeat": r, "answer": res.answer, "status": res.status,
                    "load_s": load_s, **{k: tm.get(k, 0.0) for k in ("formulation", "generation", "execution", "total", "llm")},
                    "completion_tokens": res.tokens.get("completion", 0), "prompt_tokens": res.tokens.get("prompt", 0),
                }
                row["overhead_s"] = row["total"] - row["llm"] - row["execution"]
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
        clear_model_cache()

    hdr = f"{'model':<20} {'example':<16} {'load':>6} {'form.':>6} {'gen.':>6} {'exec':>6} {'total':>6} {'llm':>6} {'ovh':>5} {'tok/s':>6}  status / answer"
    print(hdr)
    print("-" * len(hdr))
    for row in rows:
        tps = row["completion_tokens"] / row["llm"] if row["llm"] else 0.0
        print(
            f"{row['model']:<20} {row['example']:<16} {row['load_s']:6.1f} {row['formulation']:6.1f} {row['generation']:6.1f} "
            f"{row['execution']:6.2f} {row['total']:6.1f} {row['llm']:6.1f} {row['overhead_s']:5.2f} {tps:6.1f}  {row['status']} / {row['answer']}"
        )
    for model in args.models:
        mine = [r for r in rows if r["model"] == model]
        if mine:
            ovh = [r["overhead_s"] / r["total"] for r in mine if r["total"]]
            print(f"{model}: median total {statistics.median(r['total'] for r in mine):.1f}s, "
                  f"pipeline overhead median {100 * statistics.median(ovh):.1f}% of solve time")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
