"""Fill in the README accuracy table: every dataset x method with one model, resumably.

    python bench/run_eval_table.py                         # default model, report splits, 100 per set
    python bench/run_eval_table.py --limit 50 --datasets logiclm_folio bbh_web_of_lies
    python bench/run_eval_table.py --dry-run               # the commands, and which cells are done
    python bench/run_eval_table.py --table-only            # regenerate the markdown from the results only
    nohup flock /tmp/l2l-model.lock python bench/run_eval_table.py > runs/eval-table.log 2>&1 &   # in the background
    pkill -f bench/run_eval_table.py                       # stop it: SIGTERM (or SIGINT) publishes the finished items

Each cell is one `l2l eval` run (printed by --dry-run; its work folder is
runs/eval/<model>/<dataset>/<method>) on the dataset's `report_split` (conf/data/<name>.yaml:
the split minus the first 20 items, kept for prompt tuning), at most `--limit` items chosen with
`--seed`, the same items for every method. Cells run in this process (one model load for the
table), only their missing items, and each cell's finished predictions (gzip), summary and run
identity are published to bench/results/eval/<model>/<dataset>/<method>/ with the commit and
command of every session, also when interrupted. A later run, on this machine or on a fresh clone
elsewhere, continues from those files and re-does nothing (`l2l/eval/cells.py`).

The markdown (bench/results/eval/TABLE.md, and the README between `<!-- eval-table:start -->` and
`<!-- eval-table:end -->`) is generated from the published files only (`l2l/eval/table.py`).
`l2l eval --compare bench/results/eval/<model>/*/*` draws the bar chart of the same cells.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
ROOT = Path(__file__).resolve().parents[1]


def cells_for(args: argparse.Namespace) -> list:
    """The table's cells in run order: dataset by dataset, so each row fills in across methods."""
    from l2l.data import DATASETS as REGISTRY
    from l2l.errors import InputError
    from l2l.eval.cells import Cell
    from l2l.eval.methods import METHODS

    cells = []
    for name in args.datasets:
        if name not in REGISTRY:
            raise InputError(f"unknown dataset {name}")
        split = REGISTRY[name].report_split or REGISTRY[name].split
        for method in args.methods:
            cells.append(Cell(args.model, name, method, split=split, limit=args.limit, seed=args.seed,
                              samples=args.samples if method == "l2l_vote" else None, sets=tuple(args.set),
                              batch_size=args.l2l_batch_size if getattr(METHODS.get(method), "concurrent", False)
                              else args.batch_size))
    return cells


def write_table(args: argparse.Namespace) -> str:
    """Regenerate TABLE.md and the README section from the published cells; returns TABLE.md."""
    from l2l.eval.table import render, splice

    results = Path(args.results)
    models = list(dict.fromkeys([args.model, *args.also_models]))
    # The whole table, whatever subset this run fills in: a run of a few cells must not drop the others.
    datasets = list(dict.fromkeys([*DATASETS, *args.datasets]))
    methods = list(dict.fromkeys([*METHODS, *args.methods]))
    full, section = render(results, models, datasets, methods)
    results.mkdir(parents=True, exist_ok=True)
    (results / "TABLE.md").write_text(full, encoding="utf-8")
    if args.readme:
        readme = Path(args.readme)
        readme.write_text(splice(readme.read_text(encoding="utf-8"), section), encoding="utf-8")
    return full


def print_plan(cells: list, results: str, runs: Path) -> None:
    """Each cell's command with how far it is and the model time its missing items should take,
    then the total: what is left of the table, for planning it over several sessions."""
    from l2l.eval.cells import cell_progress

    known, unknown = 0.0, 0
    for p in cell_progress(cells, results):
        note = []
        if p.finished:
            note.append("done" if p.left == 0 else f"{p.finished} finished")
        if p.left and p.hours_left is not None:
            rate = "its own items" if p.rate_from == "cell" else "this method's items on other datasets"
            note.append(f"~{p.hours_left:.1f} h left at {p.seconds_per_item:.0f} s/item ({rate})")
            known += p.hours_left
        elif p.left:
            unknown += 1
        print(shlex.join(p.cell.command(runs)) + (f"  # {', '.join(note)}" if note else ""))
    print(f"# model time left: ~{known:.1f} h for the cells with a rate"
          + (f", plus {unknown} cell(s) of a method not run yet" if unknown else ""))


def main(argv: list[str] | None = None) -> int:
    from l2l.config import DEFAULT_MODEL
    from l2l.errors import L2LError
    from l2l.eval.cells import model_label, run_cell

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--datasets", nargs="+", default=DATASETS)
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--limit", type=int, default=100, help="items per dataset (the whole report split if smaller)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=5, help="l2l_vote candidates")
    p.add_argument("--batch-size", type=int, default=1,
                   help="items of cot/direct/program cells decoded together as parallel sequences (l2l eval --batch-size)")
    p.add_argument("--l2l-batch-size", type=int, default=1,
                   help="questions of l2l/l2l_vote cells solved concurrently (l2l eval --batch-size); 1 here: on 2 cores "
                        "it does not pay (bench/results/concurrent_l2l.md)")
    p.add_argument("--runs", default=None, help="work folders (default runs/eval/<model>)")
    p.add_argument("--results", default=str(ROOT / "bench/results/eval"), help="published cells and TABLE.md")
    p.add_argument("--readme", default=str(ROOT / "README.md"), help="README to update between the markers ('' to skip)")
    p.add_argument("--also-models", nargs="*", default=[], help="other models whose published cells the table shows")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to every l2l eval")
    p.add_argument("--dry-run", action="store_true", help="print each cell's command (# done / # n of N finished)")
    p.add_argument("--table-only", action="store_true", help="only regenerate the markdown from the published cells")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)

    try:
        cells = cells_for(args)
    except L2LError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs = Path(args.runs or f"runs/eval/{model_label(args.model)}")
    if args.dry_run:
        print_plan(cells, args.results, runs)
        return 0
    if not args.table_only:
        _stop_like_ctrl_c()
        session = shlex.join(["python", "bench/run_eval_table.py", *(sys.argv[1:] if argv is None else argv)])
        for cell in cells:
            print("+", shlex.join(cell.command(runs)), file=sys.stderr, flush=True)
            try:
                outcome = run_cell(cell, args.results, runs, session_command=session, progress=not args.quiet)
            except L2LError as e:
                write_table(args)
                print(f"error: {e}\n(finished items are published; rerun this script to resume)", file=sys.stderr)
                return 1
            except KeyboardInterrupt as e:  # Ctrl-C, SIGINT or SIGTERM: run_cell has published; no traceback
                write_table(args)
                print(f"stopped ({e or 'Ctrl-C'}): finished items are published; rerun this script to resume",
                      file=sys.stderr)
                return 130
            print(f"  {outcome.after} items finished ({outcome.after - outcome.before} new)", file=sys.stderr)
            write_table(args)  # after every cell, so the table is current while the next one runs
    print(write_table(args), end="")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _stop_like_ctrl_c() -> None:
    """SIGINT and SIGTERM end the run the way Ctrl-C does: the item under way is dropped, every
    finished item is published. Needed because a job started with `&` from a non-interactive shell
    (`nohup ... &`, as documented above) inherits SIGINT *ignored*, and `kill` sends SIGTERM, whose
    default would end the process before publishing."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


if __name__ == "__main__":
    sys.exit(main())
