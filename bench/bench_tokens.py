"""Where the tokens and seconds of an evaluation go: per dataset and method, per pipeline stage.

    python bench/bench_tokens.py runs/eval/*                     # existing `l2l eval` output folders
    python bench/bench_tokens.py runs/eval/ld-l2l/predictions.jsonl --json runs/tokens.json
    flock /tmp/l2l-model.lock python bench/bench_tokens.py --run logiclm_logicaldeduction \
        --method l2l --limit 3 --out runs/bench_tokens          # run a small eval first, then report

Reads `predictions.jsonl` files (each record's `usage`: calls, prompt and generated tokens and
model seconds per stage; see `l2l.types.STAGES`) and prints, for each dataset x method, one row
per stage with means per item, the generated-token distribution over items (p50/p90/max, for
setting per-stage token budgets), generation speed, and the stage's share of all generated
tokens and model time. Records written before per-stage usage existed appear as stage "all"
(from their `tokens` and `timings.llm`).

Then, for the rounds that run only when something fell short (formulation repair, coverage, program
repair, reformulation): the items that ran each, how many then ended with an answer and a right one,
and the model seconds spent in it on items that still ended without an answer, i.e. what each round
buys. Published table cells (`predictions.jsonl.gz` under bench/results/eval) are read too.

Model seconds include reading the prompt, so "tok/s" (generated tokens per model second) is a
lower bound on decode speed. `--run` calls `l2l eval`'s own runner in this process (resumable,
same output folder layout); wrap it in `flock /tmp/l2l-model.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGE_ORDER = ("formulation", "formulation_repair", "coverage", "program", "repair", "reformulation", "answer", "all")


def prediction_files(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted([*p.rglob("predictions.jsonl"), *p.rglob("predictions.jsonl.gz")]))
        elif p.is_file():
            out.append(p)
        else:
            raise SystemExit(f"bench_tokens: {p} is neither a predictions.jsonl file nor a folder")
    return out


def read_records(files: list[Path]) -> list[dict]:
    import gzip

    records = []
    for f in files:
        text = gzip.decompress(f.read_bytes()).decode("utf-8") if f.suffix == ".gz" else f.read_text(encoding="utf-8")
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a killed run
            if rec.get("status") == "error":
                continue  # retried on resume; not a finished item
            rec["_file"] = str(f)
            records.append(rec)
    return records


def _usage(rec: dict) -> dict:
    usage = rec.get("usage")
    if usage:
        return usage
    tok = rec.get("tokens") or {}
    if not tok:
        return {}
    return {"all": {"calls": 0, "prompt_tokens": int(tok.get("prompt", 0)), "completion_tokens": int(tok.get("completion", 0)),
                    "seconds": float((rec.get("timings") or {}).get("llm", 0.0))}}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def table(records: list[dict]) -> list[dict]:
    """One row per (dataset, method, stage), plus a "total" row per (dataset, method)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r.get("dataset") or "?", r.get("method") or "?")].append(r)
    rows = []
    for (dataset, method), recs in sorted(groups.items()):
        n = len(recs)
        per_stage: dict[str, list[dict]] = defaultdict(list)
        for r in recs:
            for stage, u in _usage(r).items():
                per_stage[stage].append(u)
        all_gen = sum(u["completion_tokens"] for us in per_stage.values() for u in us)
        all_s = sum(u["seconds"] for us in per_stage.values() for u in us)
        latency = [float((r.get("timings") or {}).get("total", 0.0)) for r in recs]
        stages = sorted(per_stage, key=lambda s: (STAGE_ORDER.index(s) if s in STAGE_ORDER else len(STAGE_ORDER), s))
        for stage in stages + ["total"]:
            us = [u for s in stages for u in per_stage[s]] if stage == "total" else per_stage[stage]
            calls = sum(u.get("calls", 0) for u in us)
            prompt = sum(u["prompt_tokens"] for u in us)
            gen = sum(u["completion_tokens"] for u in us)
            secs = sum(u["seconds"] for u in us)
            if stage == "total":
                per_item = [sum(u["completion_tokens"] for u in _usage(r).values()) for r in recs]
            else:
                per_item = [u["completion_tokens"] for u in us] + [0] * (n - len(us))
            rows.append({
                "dataset": dataset, "method": method, "stage": stage, "items": n, "items_with_stage": len(us) if stage != "total" else n,
                "calls_per_item": round(calls / n, 2), "prompt_per_item": round(prompt / n, 1), "gen_per_item": round(gen / n, 1),
                "gen_per_call": round(gen / calls, 1) if calls else None,
                "gen_p50": _pct(per_item, 0.5), "gen_p90": _pct(per_item, 0.9), "gen_max": max(per_item) if per_item else 0,
                "seconds_per_item": round(secs / n, 2), "tok_per_s": round(gen / secs, 2) if secs else None,
                "gen_share": round(gen / all_gen, 3) if all_gen else 0.0, "time_share": round(secs / all_s, 3) if all_s else 0.0,
                "latency_mean_s": round(statistics.fmean(latency), 2) if stage == "total" and latency else None,
                "latency_max_s": round(max(latency), 2) if stage == "total" and latency else None,
            })
    return rows


def render(rows: list[dict]) -> str:
    head = (f"{'dataset':26s} {'method':9s} {'stage':18s} {'n':>4s} {'calls':>6s} {'prompt':>8s} {'gen':>7s} "
            f"{'gen/call':>8s} {'p50':>6s} {'p90':>6s} {'max':>6s} {'model s':>8s} {'tok/s':>6s} {'gen%':>5s} {'time%':>5s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['dataset'][:26]:26s} {r['method'][:9]:9s} {r['stage'][:18]:18s} {r['items_with_stage']:4d} {r['calls_per_item']:6.2f} "
            f"{r['prompt_per_item']:8.1f} {r['gen_per_item']:7.1f} {r['gen_per_call'] if r['gen_per_call'] is not None else '':>8} "
            f"{r['gen_p50']:6.0f} {r['gen_p90']:6.0f} {r['gen_max']:6.0f} {r['seconds_per_item']:8.2f} "
            f"{r['tok_per_s'] if r['tok_per_s'] is not None else '':>6} {100 * r['gen_share']:5.1f} {100 * r['time_share']:5.1f}"
        )
        if r["stage"] == "total":
            lines.append(f"{'':26s} {'':9s} wall latency per item: mean {r['latency_mean_s']} s, max {r['latency_max_s']} s")
    lines.append("per item means (prompt, gen, calls, model s) are over all n items of the dataset; n is the items that ran the stage")
    return "\n".join(lines)


# Rounds that run only when an earlier step failed or fell short; what each bought is below.
EXTRA_ROUNDS = ("formulation_repair", "coverage", "repair", "reformulation")


def extra_rounds(records: list[dict]) -> list[dict]:
    """Per (dataset, method, round): the items that ran the round, how many of them ended with an
    answer and a right one, and the model seconds the round cost on them, split by whether the item
    still ended without an answer. For `repair` and `reformulation`, which run only after a candidate
    failed, "answered" is what the round rescued; `coverage` rewrites a formulation that parsed, so
    its items would have had one anyway (no counterfactual here)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        for stage in EXTRA_ROUNDS:
            if stage in (r.get("usage") or {}):
                groups[(r.get("dataset") or "?", r.get("method") or "?", stage)].append(r)
    rows = []
    for (dataset, method, stage), recs in sorted(groups.items()):
        answered = [r for r in recs if r.get("prediction") is not None]
        secs = [float(r["usage"][stage]["seconds"]) for r in recs]
        wasted = sum(float(r["usage"][stage]["seconds"]) for r in recs if r.get("prediction") is None)
        rows.append({"dataset": dataset, "method": method, "round": stage, "items": len(recs), "answered": len(answered),
                     "right": sum(bool(r.get("correct")) for r in recs), "model_s": round(sum(secs), 1),
                     "model_s_no_answer": round(wasted, 1),
                     "gen_per_item": round(statistics.fmean(r["usage"][stage]["completion_tokens"] for r in recs), 1)})
    return rows


def render_rounds(rows: list[dict]) -> str:
    head = (f"{'dataset':26s} {'method':9s} {'round':18s} {'items':>5s} {'answered':>8s} {'right':>5s} "
            f"{'gen/item':>8s} {'model s':>8s} {'of it, no answer':>16s}")
    lines = ["", "extra rounds: what they bought (items that ran the round; model seconds spent in it)", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['dataset'][:26]:26s} {r['method'][:9]:9s} {r['round']:18s} {r['items']:5d} {r['answered']:8d} "
                     f"{r['right']:5d} {r['gen_per_item']:8.1f} {r['model_s']:8.1f} {r['model_s_no_answer']:16.1f}")
    return "\n".join(lines)


def run_small_eval(args: argparse.Namespace) -> Path:
    from l2l.cli.eval_cmd import _config
    from l2l.eval.runner import EvalRun, run_eval

    config = _config(argparse.Namespace(set=args.set, model=args.model, seed=args.seed))  # `l2l eval --set` parsing
    out = Path(args.out) / f"{args.run}-{args.method}"
    run_eval(EvalRun(args.run, args.method, out, split=args.split, limit=args.limit, seed=args.seed, model=config.model,
                     config=config, command=" ".join(sys.argv)), progress=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help="predictions.jsonl files or folders holding them")
    ap.add_argument("--run", metavar="DATASET", help="first run a small `l2l eval` on this dataset")
    ap.add_argument("--method", default="l2l", help="--run: method (default l2l)")
    ap.add_argument("--split", help="--run: split (default: the dataset's report split)")
    ap.add_argument("--limit", type=int, default=3, help="--run: items (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", help="--run: model (default: SolveConfig's)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="--run: SolveConfig override, as `l2l eval --set`")
    ap.add_argument("--out", default="runs/bench_tokens", help="--run: output folder root")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    paths = list(args.paths)
    if args.run:
        paths.append(str(run_small_eval(args)))
    if not paths:
        ap.error("give predictions files/folders, or --run DATASET")
    records = read_records(prediction_files(paths))
    if not records:
        print("bench_tokens: no finished predictions found", file=sys.stderr)
        return 1
    rows = table(records)
    rounds = extra_rounds(records)
    print(render(rows))
    if rounds:
        print(render_rounds(rounds))
    if args.json:
        Path(args.json).write_text(json.dumps({"stages": rows, "extra_rounds": rounds}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
