"""Does decoding the formulation under its JSON-schema grammar change accuracy, cost or speed?

    flock /tmp/l2l-model.lock python bench/bench_constrained.py                      # defaults below
    flock /tmp/l2l-model.lock python bench/bench_constrained.py --datasets logiclm_logicaldeduction \
        --limit 20 --model qwen2.5-coder-1.5b --out runs/bench_constrained
    python bench/bench_constrained.py --report-only --out runs/bench_constrained    # table from finished runs

Runs `l2l eval --method l2l` twice per dataset on the same seeded items, once with
`constrained_formulation=true` (the default: llama.cpp grammar from FORMULATION_SCHEMA) and once
with `false` (free text, parsed afterwards, one parse-repair round). The two runs advance
together, `--step` items at a time, so both see the same machine load; each is an ordinary
resumable eval folder (`<out>/<dataset>/constrained`, `.../free`), so an interrupted run
continues where it stopped and `bench/bench_tokens.py <out>` shows their tokens by stage.

Printed per dataset and variant: accuracy, exec rate, items whose formulation never parsed,
formulation parse-repair rounds, generated tokens per formulation call, generated tokens/s in
the formulation stage (the grammar's decode cost: measured 7.1 vs 8.5 tokens/s on one
96-token formulation, issue 16), mean and max latency. Run it with nothing else on the
machine (or under the model lock), and read small differences in accuracy as noise: 20
items give a 95% interval of about +/-20 points.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATASETS = ["logiclm_logicaldeduction", "logiclm_prontoqa", "bbh_web_of_lies"]
VARIANTS = {"constrained": True, "free": False}


def run(args: argparse.Namespace) -> None:
    from l2l.config import SolveConfig
    from l2l.eval.runner import EvalRun, run_eval

    for dataset in args.datasets:
        for n in range(args.step, args.limit + args.step, args.step):
            for name, constrained in VARIANTS.items():
                config = SolveConfig(model=args.model, seed=args.seed).update(constrained_formulation=constrained, **dict(args.overrides))
                run_eval(EvalRun(dataset, "l2l", Path(args.out) / dataset / name, split=args.split, limit=min(n, args.limit),
                                 seed=args.seed, model=config.model, config=config,
                                 command=f"python bench/bench_constrained.py {' '.join(sys.argv[1:])}"),
                         progress=not args.quiet)


def _records(folder: Path) -> list[dict]:
    path = folder / "predictions.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("status") != "error":
            out.append(rec)
    return out


def row(dataset: str, name: str, recs: list[dict]) -> dict:
    n = len(recs)
    form = [r.get("usage", {}).get("formulation", {}) for r in recs]
    calls = sum(u.get("calls", 0) for u in form)
    gen = sum(u.get("completion_tokens", 0) for u in form)
    secs = sum(u.get("seconds", 0.0) for u in form)
    unparsed = sum(1 for r in recs if r.get("formulation") is None)
    repairs = sum(r.get("usage", {}).get("formulation_repair", {}).get("calls", 0) for r in recs)
    lat = [float(r.get("timings", {}).get("total", 0.0)) for r in recs]
    return {
        "dataset": dataset, "variant": name, "n": n,
        "accuracy": round(sum(bool(r.get("correct")) for r in recs) / n, 3) if n else None,
        "exec_rate": round(sum(bool(r.get("executed")) for r in recs) / n, 3) if n else None,
        "no_formulation": unparsed, "formulation_repairs": repairs,
        "gen_per_formulation": round(gen / calls, 1) if calls else None,
        "formulation_tok_per_s": round(gen / secs, 2) if secs else None,
        "mean_latency_s": round(statistics.fmean(lat), 1) if lat else None,
        "max_latency_s": round(max(lat), 1) if lat else None,
    }


def report(args: argparse.Namespace) -> list[dict]:
    rows = []
    for dataset in args.datasets:
        recs = {name: _records(Path(args.out) / dataset / name) for name in VARIANTS}
        # Compare on the items both variants finished.
        common = set.intersection(*({r["id"] for r in rs} for rs in recs.values())) if all(recs.values()) else set()
        for name, rs in recs.items():
            rows.append(row(dataset, name, [r for r in rs if r["id"] in common]))
    head = (f"{'dataset':28s} {'variant':12s} {'n':>4s} {'acc':>6s} {'exec':>6s} {'no form.':>8s} {'f.repairs':>9s} "
            f"{'gen/form.':>9s} {'form tok/s':>10s} {'mean s':>7s} {'max s':>7s}")
    print(head)
    print("-" * len(head))
    fmt = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
    for r in rows:
        print(f"{r['dataset'][:28]:28s} {r['variant']:12s} {r['n']:4d} {fmt(r['accuracy'], '6.3f'):>6s} {fmt(r['exec_rate'], '6.3f'):>6s} "
              f"{r['no_formulation']:8d} {r['formulation_repairs']:9d} {fmt(r['gen_per_formulation'], '9.1f'):>9s} "
              f"{fmt(r['formulation_tok_per_s'], '10.2f'):>10s} {fmt(r['mean_latency_s'], '7.1f'):>7s} {fmt(r['max_latency_s'], '7.1f'):>7s}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=DATASETS)
    ap.add_argument("--split", help="default: each dataset's report split")
    ap.add_argument("--limit", type=int, default=20, help="items per dataset")
    ap.add_argument("--step", type=int, default=2, help="items each variant runs before the other catches up")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="default: SolveConfig's model")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="SolveConfig override for both variants (as l2l eval --set)")
    ap.add_argument("--out", default="runs/bench_constrained")
    ap.add_argument("--report-only", action="store_true", help="print the table from finished runs, run nothing")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    from l2l.cli.eval_cmd import _config
    from l2l.config import SolveConfig

    parsed = _config(argparse.Namespace(set=args.set, model=None, seed=args.seed))
    default = SolveConfig(seed=args.seed)
    args.overrides = [(k, v) for k, v in parsed.to_dict().items() if v != getattr(default, k) and k not in ("model", "constrained_formulation")]
    if args.model is None:
        args.model = default.model
    if not args.report_only:
        run(args)
    rows = report(args)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
