"""Replay the programs of stored `l2l eval` predictions under today's preludes and scoring: what a
change to a prelude (or to answer matching) does to programs the model really wrote, with no
language model loaded.

    nice python3 bench/bench_replay_programs.py bench/results/eval/qwen2.5-coder-1.5b/*/l2l/predictions.jsonl.gz
    nice python3 bench/bench_replay_programs.py 0290c37:bench/results/eval/qwen2.5-coder-1.5b/logiclm_proofwriter/l2l/predictions.jsonl.gz
    nice python3 bench/bench_replay_programs.py --fix-programs on bench/results/eval/qwen2.5-coder-1.5b/*/l2l/predictions.jsonl.gz

An argument `REV:PATH` reads the file as it was at git revision REV. Programs run through the
evaluation's own path (`l2l.pipeline.execute.run_programs`, the default `SolveConfig`'s time and
memory limits and program fixes) and are scored with `l2l.data.is_correct`, as `l2l eval` scores
them. Only the program stage is replayed: an item whose stored answer came from elsewhere (a vote,
a fallback) counts with its program's replayed answer. Prints per file: items with a program,
right as stored, right replayed, and how many changed each way.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def read_records(spec: str) -> list[dict[str, Any]]:
    """The records of a predictions file, or of `REV:PATH` as it was at git revision REV."""
    if ":" in spec and not Path(spec).exists():
        rev, path = spec.split(":", 1)
        data = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True, capture_output=True).stdout
    else:
        data = Path(spec).read_bytes()
    if spec.endswith(".gz"):
        data = gzip.decompress(data)
    return [json.loads(line) for line in io.StringIO(data.decode("utf-8")) if line.strip()]


def replay(records: list[dict[str, Any]], fix_programs: bool | None = None) -> list[Any]:
    from bench.bench_program_fixes import _backend  # the record's solver backend, as that replay reads it
    from l2l.config import SolveConfig
    from l2l.pipeline.execute import ExecLimits, run_programs
    from l2l.types import Program

    limits = ExecLimits.from_config(SolveConfig())  # what `l2l solve` and `l2l eval` run programs with
    if fix_programs is not None:  # the pipeline.fix_programs setting, for an A/B without a model
        limits = dataclasses.replace(limits, fix_programs=fix_programs)
    programs = [Program(_backend(r), r["program"]) for r in records]
    return run_programs(programs, limits)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="predictions files, or REV:PATH")
    ap.add_argument("--show", action="store_true", help="print every item whose verdict changed")
    ap.add_argument("--fix-programs", choices=("on", "off"), default=None,
                    help="replay with pipeline.fix_programs on or off (default: the pipeline's default)")
    args = ap.parse_args(argv)
    from l2l.data import is_correct

    print("| file | items with a program | right as stored | right replayed | wrong -> right | right -> wrong | replayed statuses |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for spec in args.files:
        records = [r for r in read_records(spec) if r.get("program")]
        results = replay(records, None if args.fix_programs is None else args.fix_programs == "on")
        gained = lost = now = 0
        statuses: Counter = Counter()
        for r, res in zip(records, results):
            statuses[res.status] += 1
            right = bool(res.ok and is_correct(res.answer, str(r["gold"]), r.get("options")))
            now += right
            gained += right and not r["correct"]
            lost += r["correct"] and not right
            if args.show and right != bool(r["correct"]):
                print(f"  {r['id']}: stored {r['prediction']!r} ({r['status']}), replayed {res.status} {res.answer!r}, gold {r['gold']!r}")
        stored = sum(bool(r["correct"]) for r in records)
        print(f"| {spec} | {len(records)} | {stored} | {now} | {gained} | {lost} | {dict(statuses.most_common())} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
