"""What to do when the first program of a solve fails: four next steps compared on the same failures.

    flock /tmp/l2l-model.lock python bench/bench_after_failure.py                 # 1.5B, LogicalDeduction + BBH five_objects tune items
    flock /tmp/l2l-model.lock python bench/bench_after_failure.py --datasets bbh_web_of_lies --limit 10

For each tune-split item (the slice prompts may be tuned on, never reported), the default pipeline's
first candidate is made: the greedy formulation and its greedy program, run in the sandbox, no repair.
Where that gives no answer (no solution, several, an error, the worked example's objects), each of
these is tried from the same point, through the Solver's own methods and the default configuration:

    repair_example  one repair round, worked example kept in the conversation (default today)
    repair_plain    one repair round, worked example dropped (repair_with_example=false)
    resample        a second program for the same formulation, sampled (temperature, seed + 1)
    reformulate     a fresh sampled formulation and its program (what `reformulations: 1` runs)

Each attempt's answer is scored with the evaluation's own `match_answer`; its model seconds and
generated tokens are its own calls only. Results go to runs/bench_after_failure/<model>/<dataset>.jsonl
one item at a time, and a rerun resumes there (a session may end mid-run). Printed: first-program
accuracy, then per step how many failures it turned into a right answer, and at what cost.

A change to what runs the programs (a prelude helper, the answer mapping) is measured on the same
first programs without a model: `--replay` runs the stored ones again through the Solver as the code
is now; `--first-only` makes new first candidates (into <dataset>.first.jsonl) where none are stored.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

STEPS = ("repair_example", "repair_plain", "resample", "reformulate")


def _cost(usage: dict, skip: tuple[str, ...] = ()) -> tuple[float, int]:
    """Model seconds and generated tokens of the stages in `usage` not in `skip`."""
    stages = [u for s, u in usage.items() if s not in skip]
    return round(sum(u["seconds"] for u in stages), 2), sum(u["completion_tokens"] for u in stages)


def _outcome(cand, example, seconds: float, tokens: int) -> dict:
    from l2l.data import match_answer

    status = cand.execution.status if cand.execution is not None else None
    return {"answer": cand.answer, "correct": cand.answer is not None and match_answer(cand.answer, example.answer, example.options).correct,
            "status": status, "error": (cand.error or "")[:200] or None, "seconds": seconds, "tokens": tokens}


def run_item(solver, example, steps: tuple[str, ...] = STEPS) -> dict:
    """The first candidate and, where it gave no answer, each of `steps` from the same point."""
    from l2l.pipeline.formulator import formulate
    from l2l.pipeline.generator import write_program
    from l2l.pipeline.solve import Solver, _Ledger
    from l2l.types import usage_of

    c = solver.config
    first_solver = Solver(replace(c, repair_rounds=0), solver.formulator, solver.generator)
    q, opts = example.question, example.options
    ledger = _Ledger()
    fa = formulate(solver.formulator, q, opts, first_solver._params(0, c.formulation_max_tokens),
                   coverage=c.coverage_repair, constrained=c.constrained_formulation)
    f_cost = _cost(usage_of(fa.completions))
    row = {"id": example.id, "gold": example.answer, "formulation_s": f_cost[0], "formulation_tokens": f_cost[1]}
    if fa.formulation is None:
        row["first"] = {"answer": None, "correct": False, "status": None, "error": f"formulator: {fa.error}"[:200], "seconds": 0, "tokens": 0}
        return row  # nothing to repair or resample from; reformulation is the only step, and the table's runs count it
    attempt = write_program(solver.generator, q, fa.formulation, opts, first_solver._params(0, c.program_max_tokens))
    first = first_solver._program_candidate(q, opts, fa.formulation, 0, ledger, attempt)
    row["first"] = _outcome(first, example, *_cost(first.usage))
    # kept for reading the failures (tune items only): what the formulator and the generator wrote
    row["formulation"], row["program"] = fa.formulation.to_dict(), attempt.raw
    if first.answer is not None:
        return row
    for step in steps:
        if step.startswith("repair"):
            s = Solver(replace(c, repair_rounds=1, repair_with_example=step == "repair_example"), solver.formulator, solver.generator)
            cand = s._program_candidate(q, opts, fa.formulation, 0, ledger, attempt)
            cost = _cost(cand.usage, skip=("program",))  # the first program is shared, not this step's
        elif step == "resample":
            cand = first_solver._program_candidate(q, opts, fa.formulation, 1, ledger)
            cost = _cost(cand.usage)
        else:
            cand = next(first_solver._formulation_candidates(q, opts, 1, 1, ledger))
            cost = _cost(cand.usage)
        row[step] = _outcome(cand, example, *cost)
    return row


def summarise(rows: list[dict]) -> str:
    n = len(rows)
    right = sum(r["first"]["correct"] for r in rows)
    failed = [r for r in rows if r["first"]["answer"] is None]
    lines = [f"items {n}: first program right {right}, answered wrong {n - right - len(failed)}, no answer {len(failed)}",
             f"{'step after a failure':22s} {'right':>6s} {'answered':>9s} {'model s/try':>12s} {'tokens/try':>11s}"]
    tried = [r for r in failed if all(s in r for s in STEPS)]
    for step in STEPS:
        outs = [r[step] for r in tried]
        if not outs:
            continue
        lines.append(f"{step:22s} {sum(o['correct'] for o in outs):3d}/{len(outs):<2d} {sum(o['answer'] is not None for o in outs):6d}/{len(outs):<2d} "
                     f"{sum(o['seconds'] for o in outs) / len(outs):12.1f} {sum(o['tokens'] for o in outs) / len(outs):11.0f}")
    return "\n".join(lines)


def replay(rows: list[dict], examples: dict, config) -> list[dict]:
    """Each stored first program run again as the Solver runs it now (e.g. after a prelude change),
    no model loaded: rows with the new outcome under "first" and the stored one under "first_before"."""
    from l2l.pipeline.generator import _from_completion
    from l2l.pipeline.solve import Solver, _Ledger
    from l2l.types import Completion, Formulation

    solver = Solver(replace(config, repair_rounds=0), None)
    out = []
    for r in rows:
        if "program" not in r:
            continue
        e = examples[r["id"]]
        f = Formulation.from_dict(r["formulation"])
        # the stored reply parsed as the generator parses a fresh one
        attempt = _from_completion(Completion(r["program"]), [], f.backend)
        cand = solver._program_candidate(e.question, e.options, f, 0, _Ledger(), attempt)
        out.append({**r, "first_before": r["first"], "first": _outcome(cand, e, r["first"]["seconds"], r["first"]["tokens"])})
    return out


def _read_rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model (default: the configured one)")
    ap.add_argument("--datasets", nargs="+", default=["logiclm_logicaldeduction", "bbh_logical_deduction_five_objects"])
    ap.add_argument("--limit", type=int, default=None, help="items per dataset (default: the whole tune split)")
    ap.add_argument("--out", default="runs/bench_after_failure")
    ap.add_argument("--first-only", action="store_true",
                    help="only the first candidate (no steps), into <dataset>.first.jsonl: the first program's outcome as the code is now")
    ap.add_argument("--replay", action="store_true",
                    help="no model: run the stored first programs again as the code is now and count what changed")
    args = ap.parse_args()

    from l2l.config import SolveConfig

    config = SolveConfig() if args.model is None else SolveConfig().update(model=args.model)
    if args.replay:
        return print_replay(args, config)

    from tqdm import tqdm

    from l2l.data import DATASETS, load_dataset
    from l2l.pipeline.solve import build_solver

    steps = () if args.first_only else STEPS
    solver, load_s = build_solver(config)
    print(f"{config.model} loaded in {load_s:.1f} s; steps: {', '.join(STEPS)}", flush=True)
    all_rows: list[dict] = []
    for name in args.datasets:
        split = DATASETS[name].tune_split
        items = load_dataset(name, split, limit=args.limit, seed=0)
        path = Path(args.out) / config.model / f"{name}{'.first' if args.first_only else ''}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = _read_rows(path)
        done = {r["id"] for r in rows}
        with path.open("a") as fh, tqdm(items, desc=f"{name} {split}", unit="item") as bar:
            for e in bar:
                if e.id in done:
                    continue
                t = time.perf_counter()
                row = run_item(solver, e, steps)
                row["wall_s"] = round(time.perf_counter() - t, 1)
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                rows.append(row)
        print(f"\n{name} {split} ({path})\n{summarise(rows)}", flush=True)
        all_rows += rows
    if len(args.datasets) > 1:
        print(f"\nall\n{summarise(all_rows)}")


def print_replay(args, config) -> None:
    from l2l.data import DATASETS, load_dataset

    for name in args.datasets:
        rows = _read_rows(Path(args.out) / config.model / f"{name}.jsonl")
        examples = {e.id: e for e in load_dataset(name, DATASETS[name].tune_split, limit=args.limit, seed=0)}
        moved = replay(rows, examples, config)
        print(f"\n{name}: {len(moved)} of {len(rows)} stored first programs run again as the code is now")
        for r in moved:
            a, b = r["first_before"], r["first"]
            if (a["answer"], a["correct"]) != (b["answer"], b["correct"]):
                print(f"  {r['id']}: {a['answer']} ({'right' if a['correct'] else 'wrong'}; {(a['error'] or '')[:60]}) -> "
                      f"{b['answer']} ({'right' if b['correct'] else 'wrong'}; {(b['error'] or '')[:60]})")
        before = sum(r["first_before"]["correct"] for r in moved)
        after = sum(r["first"]["correct"] for r in moved)
        print(f"  first program right: {before} -> {after} of {len(moved)}")


if __name__ == "__main__":
    main()
