"""What the deterministic program fixes (l2l/pipeline/program_fixes.py) recover, measured on
programs the models really wrote: the stored predictions of `l2l eval` and the synthetic
held-out runs, replayed through the real sandbox (`run_programs`) with the fixes off and on.

    OMP_NUM_THREADS=1 L2L_SANDBOX_WORKERS=1 nice -n 19 python3 bench/bench_program_fixes.py
    OMP_NUM_THREADS=1 L2L_SANDBOX_WORKERS=1 nice -n 19 python3 bench/bench_program_fixes.py --extra '/tmp/x/**/predictions.jsonl'

No language model is loaded. Programs are deduplicated by (backend, text). Controls: every
stored program that runs today, plus the gold programs of the held-out sets
(runs/heldout/*.jsonl), must give the same answer with the fixes on (the fixes are only tried
after a failure, so this checks the wiring, not luck). Prints, per dataset and error class of
the replayed failure: programs, how many a fix applies to, how many then run, how many give
the gold answer.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREDICTIONS = ("runs/**/predictions.jsonl*", "bench/results/**/predictions.jsonl*")
CONTROLS = ("runs/heldout/*.jsonl",)


@dataclass
class Item:
    source: str  # file it came from (relative to the repo)
    dataset: str
    backend: str
    code: str
    gold: str | None
    options: list[str] | None
    stored_status: str | None  # what the stored run reported (None: a gold program)


def _open(path: str):
    return gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")


def _backend(record: dict[str, Any]) -> str:
    from l2l.types import Formulation

    if record.get("formulation"):
        return Formulation.from_dict(record["formulation"]).backend
    return "z3"  # the one-stage `program` method writes z3 (EvalContext.solver_backend)


def collect(patterns: list[str]) -> tuple[list[Item], list[Item]]:
    """(programs from prediction records, gold programs of the held-out sets), deduplicated."""
    seen: set[tuple[str, str]] = set()
    preds: list[Item] = []
    controls: list[Item] = []
    files = sorted({f for p in patterns for f in glob.glob(str(ROOT / p) if not p.startswith("/") else p, recursive=True)})
    for path in files:
        rel = str(Path(path).relative_to(ROOT)) if path.startswith(str(ROOT)) else path
        heldout = "/heldout/" in path
        if not heldout and not re.search(r"predictions\.jsonl(\.gz)?$", path):
            continue
        with _open(path) as fh:
            for line in fh:
                if not line.strip():
                    continue
                r = json.loads(line)
                code = r.get("program")
                if not code:
                    continue
                backend = _backend(r)
                if (backend, code) in seen:
                    continue
                seen.add((backend, code))
                stored = None if heldout else ((r.get("solver_output") or {}).get("status") or "not_run")
                item = Item(rel, r.get("dataset") or r.get("family") or "?", backend, code,
                            r.get("gold", r.get("answer")), r.get("options"), stored)
                (controls if heldout else preds).append(item)
    return preds, controls


def error_class(code: str, backend: str, res: Any) -> str:
    """The kind of failure, named for what a fix would have to do."""
    from l2l.pipeline.program_fixes import _bound_names, _pred_declarations, _predicate_like_calls, _prelude_names

    if res.ok:
        return "ran"
    text = f"{res.error or ''}\n{res.stderr or ''}"
    if res.status == "syntax_error":
        m = re.search(r"SyntaxError: ([^\n]*)", text)
        msg = re.sub(r"\s*\(detected at line \d+\)|\s*\(<program>, line \d+\)|'[^']*'", "", m.group(1) if m else "?")
        return f"SyntaxError: {msg.strip()}"
    if res.status != "runtime_error":
        return res.status
    if "cannot be cast to concrete Boolean" in text:
        return "z3 expression used as a Python bool"
    m = re.search(r"NameError: name '(\w+)' is not defined", text)
    if m:
        import ast

        try:
            tree = ast.parse(code)
        except SyntaxError:
            return "NameError: other undeclared name"
        bound = _bound_names(tree) | (_prelude_names(backend) if backend in ("z3", "sympy", "constraint") else frozenset())
        called = m.group(1) in _predicate_like_calls(tree, set(bound) | set(dir(__builtins__)))
        if called and _pred_declarations(code, tree):
            return "NameError: undeclared predicate name(x) (program declares p.Pred)"
        return "NameError: undeclared name called like a function" if called else "NameError: other undeclared name"
    m = re.search(r"PuzzleError: (several solutions|no solution|[^:\n]*)", text)
    if m:
        return f"PuzzleError: {m.group(1)}"
    m = re.search(r"line \d+: ([\w.]+):", res.error or "")
    return m.group(1).split(".")[-1] if m else "runtime_error: other"


def replay(items: list[Item]) -> tuple[list[Any], list[Any]]:
    from l2l.pipeline.execute import ExecLimits, run_programs
    from l2l.types import Program

    programs = [Program(i.backend, i.code) for i in items]
    off = run_programs(programs, ExecLimits(timeout_s=20, fix_programs=False))
    on = run_programs(programs, ExecLimits(timeout_s=20, fix_programs=True))
    return off, on


def gold_ok(item: Item, res: Any) -> bool:
    from l2l.data import is_correct

    return bool(res is not None and res.ok and item.gold is not None and is_correct(res.answer, str(item.gold), item.options))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extra", action="append", default=[], help="more prediction files (glob, ** allowed)")
    ap.add_argument("--show", action="store_true", help="print each failing program's fixes and outcome")
    args = ap.parse_args(argv)
    from l2l.pipeline.program_fixes import fix_program

    preds, controls = collect(list(PREDICTIONS) + args.extra + list(CONTROLS))
    print(f"programs (deduplicated): {len(preds)} from predictions, {len(controls)} held-out gold programs")
    stored = Counter(i.stored_status for i in preds)
    print("stored statuses:", dict(stored.most_common()))
    off, on = replay(preds + controls)
    # The fixed texts' own runs (run_programs keeps the original failure when a fixed run
    # fails, so its error is read here from the raw sandbox).
    fixes = [fix_program(i.code, i.backend, a) if not a.ok else None for i, a in zip(preds + controls, off)]
    from solvers import execute_many

    todo = [k for k, f in enumerate(fixes) if f is not None]
    fixed_runs = dict(zip(todo, execute_many([fixes[k].code for k in todo], backend=[(preds + controls)[k].backend for k in todo],
                                             timeout_s=20)))

    # Failures: programs that do not run today (replayed without fixes).
    rows: dict[tuple[str, str], Counter] = defaultdict(Counter)
    kinds: Counter = Counter()
    changed = 0
    ran_before = 0
    for k, (item, a, b) in enumerate(zip(preds + controls, off, on)):
        if a.ok:
            ran_before += 1
            same = b.ok and b.answer == a.answer and not b.fixes
            changed += not same
            continue
        cls = error_class(item.code, item.backend, a)
        row = rows[(item.dataset, cls)]
        row["failing"] += 1
        fix = fixes[k]
        row["fix applies"] += fix is not None
        row["runs fixed"] += bool(b.ok and b.fixes)
        row["gold before"] += gold_ok(item, a)
        row["gold fixed"] += gold_ok(item, b)
        for f in b.fixes:
            kinds[f.split(":")[0]] += 1
        if args.show:
            print(f"--- {item.source} [{item.dataset}] {cls}: {a.error}")
            own = fixed_runs.get(k)
            print(f"    fixes: {fix.fixes if fix else None} -> {b.status} {b.answer!r} (gold {item.gold!r})"
                  + ("" if b.ok or own is None else f"; the fixed text still fails: {own.error}"))

    header = ("dataset", "error class (replayed, fixes off)", "failing", "fix applies", "runs fixed", "gold fixed")
    table = [header, tuple("---" for _ in header)]
    totals: Counter = Counter()
    for (ds, cls), c in sorted(rows.items(), key=lambda kv: (kv[0][0], -kv[1]["failing"], kv[0][1])):
        table.append((ds, cls, c["failing"], c["fix applies"], c["runs fixed"], c["gold fixed"]))
        totals.update(c)
    table.append(("**all**", "", totals["failing"], totals["fix applies"], totals["runs fixed"], totals["gold fixed"]))
    print()
    for r in table:
        print("| " + " | ".join(str(x) for x in r) + " |")
    print()
    print(f"fixes applied in programs that then ran: {dict(kinds.most_common())}")
    print(f"controls: {ran_before} programs ran without fixes ({len(controls)} held-out gold programs among the "
          f"replayed set); answers changed with fixes on: {changed}")
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
