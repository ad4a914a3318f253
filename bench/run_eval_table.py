"""Produce the README results table: every dataset x method with one model, then one comparison.

    python bench/run_eval_table.py                         # default model, report splits, 100 per set
    python bench/run_eval_table.py --model qwen2.5-coder-0.5b --limit 10 --methods cot l2l
    python bench/run_eval_table.py --dry-run               # print the commands only

Each cell is one `l2l eval` run into runs/eval/<model>/<dataset>/<method>, so an interrupted
table resumes where it stopped (rerun the same command). Each dataset is evaluated on its
`report_split` (conf/data/<name>.yaml: the split minus the first 20 items, which are kept for
prompt tuning), at most `--limit` items chosen with `--seed`. The table (markdown) goes to
stdout and to <runs>/table.md, the chart to <runs>/table.png, and the exact commands to
<runs>/commands.sh.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

DATASETS = [
    "logiclm_prontoqa",
    "logiclm_proofwriter",
    "logiclm_folio",
    "logiclm_logicaldeduction",
    "logiclm_arlsat",
    "bbh_logical_deduction_three_objects",
    "bbh_logical_deduction_five_objects",
    "bbh_logical_deduction_seven_objects",
    "bbh_temporal_sequences",
    "bbh_geometric_shapes",
    "bbh_web_of_lies",
    "bbh_boolean_expressions",
    "bbh_date_understanding",
]
METHODS = ["cot", "program", "l2l", "l2l_vote"]


def main(argv: list[str] | None = None) -> int:
    from l2l.config import DEFAULT_MODEL
    from l2l.data import DATASETS as REGISTRY

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--datasets", nargs="+", default=DATASETS)
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--limit", type=int, default=100, help="items per dataset (the whole report split if smaller)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=5, help="l2l_vote candidates")
    p.add_argument("--runs", default=None, help="output root (default runs/eval/<model>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to every l2l eval")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)

    runs = Path(args.runs or f"runs/eval/{Path(args.model).name}")
    commands: list[list[str]] = []
    dirs: list[str] = []
    for name in args.datasets:
        if name not in REGISTRY:
            print(f"error: unknown dataset {name}", file=sys.stderr)
            return 2
        split = REGISTRY[name].report_split or REGISTRY[name].split
        for method in args.methods:
            out = runs / name / method
            cmd = ["l2l", "eval", "--dataset", name, "--split", split, "--method", method, "--model", args.model,
                   "--limit", str(args.limit), "--seed", str(args.seed), "--out", str(out)]
            if method == "l2l_vote":
                cmd += ["--samples", str(args.samples)]
            for item in args.set:
                cmd += ["--set", item]
            commands.append(cmd)
            dirs.append(str(out))
    compare = ["l2l", "eval", "--compare", *dirs, "--plot", str(runs / "table.png")]
    script = "\n".join(shlex.join(c) for c in commands + [compare]) + "\n"
    if args.dry_run:
        print(script, end="")
        return 0
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "commands.sh").write_text(script)
    for cmd in commands:
        print("+", shlex.join(cmd), file=sys.stderr, flush=True)
        rc = subprocess.call([sys.executable, "-m", "l2l", *cmd[1:]])
        if rc != 0:
            print(f"failed (exit {rc}): {shlex.join(cmd)}; rerun this script to resume", file=sys.stderr)
            return rc
    table = subprocess.run([sys.executable, "-m", "l2l", *compare[1:]], capture_output=True, text=True)
    if table.returncode != 0:
        print(table.stderr, file=sys.stderr, end="")
        return table.returncode
    (runs / "table.md").write_text(table.stdout)
    print(table.stdout, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
