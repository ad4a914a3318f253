"""The accuracy table's cells: one `l2l eval` run per model x dataset x method, kept in the
repository so the table fills in over days and machines and never re-does an item.

A cell lives in two places:
- its work folder (`runs/eval/<model>/<dataset>/<method>`, not in git): the plain, resumable
  `l2l eval --out` folder the runner appends to;
- its published folder (`bench/results/eval/<model>/<dataset>/<method>/`, in git):
  `predictions.jsonl.gz` (the finished records, in dataset order), `summary.json` (the runner's
  summary plus `history`: the commit, command and item counts of every session that added items)
  and `run.json` (the runner's identity, so another machine resumes the same experiment).

`run_cell` first merges the published predictions into the work folder (a fresh clone has none),
runs only the missing items through `l2l.eval.runner.run_eval`, and publishes again, also when
interrupted, so a later run anywhere continues from the last finished item.

    >>> cell = Cell("qwen2.5-coder-1.5b", "bbh_web_of_lies", "cot", split="test[20:]", limit=100)
    >>> " ".join(cell.command("runs/eval/qwen2.5-coder-1.5b"))
    'l2l eval --dataset bbh_web_of_lies --split test[20:] --method cot --model qwen2.5-coder-1.5b --limit 100 --seed 0 --out runs/eval/qwen2.5-coder-1.5b/bbh_web_of_lies/cot'
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREDICTIONS_GZ = "predictions.jsonl.gz"


@dataclass(frozen=True)
class Cell:
    """One table cell: what to evaluate; `command()` is the `l2l eval` line that does it."""

    model: str
    dataset: str  # registry name or a file path
    method: str
    split: str | None = None
    limit: int | None = None
    seed: int = 0
    samples: int | None = None  # l2l_vote only
    sets: tuple[str, ...] = ()  # --set KEY=VALUE overrides
    # Items decoded together as parallel sequences (`l2l eval --batch-size`): a throughput setting for
    # the methods that batch (`Method.batches`) or run examples concurrently (`Method.concurrent`), not part
    # of the result; the others run one at a time.
    batch_size: int = 1

    @property
    def key(self) -> Path:
        """model/dataset/method, the cell's folder under a results or runs root."""
        return Path(model_label(self.model)) / dataset_label(self.dataset) / self.method

    def command(self, runs: str | Path) -> list[str]:
        """The `l2l eval` argv for this cell, writing to `<runs>/<dataset>/<method>`."""
        out = Path(runs) / dataset_label(self.dataset) / self.method
        cmd = ["l2l", "eval", "--dataset", self.dataset]
        if self.split:
            cmd += ["--split", self.split]
        cmd += ["--method", self.method, "--model", self.model]
        if self.limit is not None:
            cmd += ["--limit", str(self.limit)]
        cmd += ["--seed", str(self.seed), "--out", str(out)]
        if self.samples is not None and self.method == "l2l_vote":
            cmd += ["--samples", str(self.samples)]
        if self.batch_size > 1 and _batches(self.method):
            cmd += ["--batch-size", str(self.batch_size)]
        for item in self.sets:
            cmd += ["--set", item]
        return cmd


def _batches(method: str) -> bool:
    from l2l.eval.methods import METHODS

    m = METHODS.get(method)
    return bool(getattr(m, "batches", False) or getattr(m, "concurrent", False))


def model_label(model: str) -> str:
    """A folder name for a model: the registry name, or a path's or hub id's last part."""
    return Path(model.split(":", 1)[-1]).name or model


def dataset_label(dataset: str) -> str:
    """A folder name for a dataset: the registry name, or a file's stem."""
    return Path(dataset).stem if ("/" in dataset or dataset.endswith((".jsonl", ".json"))) else dataset


def current_commit(root: str | Path | None = None) -> str | None:
    """The checked-out commit (short), with "+dirty" when tracked files have uncommitted changes;
    None outside a git checkout. Recorded with every session that adds items to a cell."""
    from l2l.data import project_root

    cwd = str(root or project_root())
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def read_published(folder: str | Path) -> list[dict[str, Any]]:
    """The records of a published cell folder (empty when it has none)."""
    path = Path(folder) / PREDICTIONS_GZ
    if not path.is_file():
        return []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_summary(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / "summary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@dataclass(frozen=True)
class CellProgress:
    """How far a cell is, and the model time its missing items should take (for planning a table
    built over several sessions: `bench/run_eval_table.py --dry-run`)."""

    cell: Cell
    finished: int
    selected: int | None  # items the cell selects: known once it has run, else its --limit
    seconds_per_item: float | None  # mean wall seconds of a finished item (None: nothing to go by)
    rate_from: str  # "cell" (its own items), "method" (the same model and method on other datasets) or ""

    @property
    def left(self) -> int | None:
        return None if self.selected is None else max(0, self.selected - self.finished)

    @property
    def hours_left(self) -> float | None:
        if self.left is None or self.seconds_per_item is None:
            return None
        return self.left * self.seconds_per_item / 3600


def _item_seconds(records: list[dict[str, Any]]) -> list[float]:
    return [float(r["timings"]["total"]) for r in records
            if r.get("status") != "error" and isinstance(r.get("timings"), dict) and r["timings"].get("total") is not None]


def cell_progress(cells: list[Cell], results: str | Path) -> list[CellProgress]:
    """Each cell's finished items and an estimate of the time its missing ones take: the mean
    seconds per item of its own finished items, else of every published item of the same model and
    method (other datasets: a rough guide, items differ in length), else unknown."""
    results = Path(results)
    # every published cell read once: model/dataset/method -> its finished records
    published = {folder.relative_to(results): [r for r in read_published(folder) if r.get("status") != "error"]
                 for folder in results.glob("*/*/*") if (folder / PREDICTIONS_GZ).is_file()}
    by_method: dict[tuple[str, str], list[float]] = {}
    for key, records in published.items():
        by_method.setdefault((key.parts[0], key.parts[2]), []).extend(_item_seconds(records))
    out = []
    for cell in cells:
        records = published.get(cell.key, [])
        own = _item_seconds(records)
        shared = by_method.get((model_label(cell.model), cell.method), [])
        if own:
            rate, source = sum(own) / len(own), "cell"
        elif shared:
            rate, source = sum(shared) / len(shared), "method"
        else:
            rate, source = None, ""
        summary = read_summary(results / cell.key) or {}
        out.append(CellProgress(cell, len(records), summary.get("items_selected", cell.limit), rate, source))
    return out


def _write_gzip(path: Path, text: str) -> None:
    # mtime=0 and no file name in the header: the same records give the same bytes, so
    # republishing an unchanged cell changes nothing in git.
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def restore(published: Path, work: Path) -> int:
    """Merge the published records into the work folder's predictions.jsonl (records the work
    folder already has win) and bring run.json along; returns how many records were added."""
    from l2l.eval.runner import PREDICTIONS, RUN_FILE, read_predictions

    records = read_published(published)
    if not records:
        return 0
    work.mkdir(parents=True, exist_ok=True)
    if not (work / RUN_FILE).exists() and (published / RUN_FILE).exists():
        (work / RUN_FILE).write_text((published / RUN_FILE).read_text(encoding="utf-8"), encoding="utf-8")
    have = read_predictions(work / PREDICTIONS)
    new = [r for r in records if str(r["id"]) not in have or have[str(r["id"])].get("status") == "error"]
    if new:
        with open(work / PREDICTIONS, "a", encoding="utf-8") as f:
            for r in new:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(new)


def publish(run: Any, examples: list[Any], work: Path, published: Path, session: dict[str, Any] | None) -> dict[str, Any]:
    """Write the cell's finished records (the selected examples, dataset order, gzip), summary
    and run.json to `published`; `session` (commit, command, ...) is appended to its history."""
    from l2l.eval.runner import PREDICTIONS, RUN_FILE, read_predictions, summarise

    done = {k: r for k, r in read_predictions(work / PREDICTIONS).items() if r.get("status") != "error"}
    records = [done[e.id] for e in examples if e.id in done]
    old = read_summary(published) or {}
    if not records and not old:
        return {}  # nothing finished yet: an empty cell stays "not run"
    published.mkdir(parents=True, exist_ok=True)
    _write_gzip(published / PREDICTIONS_GZ, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    if (work / RUN_FILE).exists():
        (published / RUN_FILE).write_text((work / RUN_FILE).read_text(encoding="utf-8"), encoding="utf-8")
    summary = summarise(records, run, dataset_name=examples[0].dataset if examples else None)
    summary["items_selected"] = len(examples)
    history = list(old.get("history") or [])
    if session is not None and len(records) > session.get("items_before", 0):
        history.append({**session, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "items_after": len(records)})
    summary["history"] = history
    summary["commits"] = list(dict.fromkeys(h["commit"] for h in history if h.get("commit")))
    (published / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary


def eval_run(argv: list[str]) -> Any:
    """The `EvalRun` of an `l2l eval ...` argv, parsed by `l2l eval`'s own parser."""
    import argparse

    from l2l.cli.eval_cmd import add_arguments, run_spec

    parser = argparse.ArgumentParser(prog="l2l eval")
    add_arguments(parser)
    return run_spec(parser.parse_args(argv[2:]))


@dataclass
class CellOutcome:
    """What `run_cell` did: items it found finished, items it added, and the summary."""

    cell: Cell
    before: int
    after: int
    summary: dict[str, Any] | None

    @property
    def ran(self) -> bool:
        return self.after > self.before


def run_cell(cell: Cell, results: str | Path, runs: str | Path, *, session_command: str | None = None,
             backend: Any = None, progress: bool = True) -> CellOutcome:
    """Bring one cell up to date: restore, run the missing items only, publish (also when the
    run is interrupted). A complete cell is left untouched and loads no model.

    `results`: the published root (bench/results/eval); `runs`: the work root for this model
    (runs/eval/<model>); `backend`: a model to use instead of loading `cell.model` (tests)."""
    from l2l.data import load_dataset
    from l2l.errors import InputError
    from l2l.eval.runner import run_eval

    run = eval_run(cell.command(runs))
    published = Path(results) / cell.key
    work = Path(run.out)
    examples = load_dataset(run.dataset, run.split, limit=run.limit, seed=run.seed)
    finished = {str(r["id"]) for r in read_published(published) if r.get("status") != "error"}
    before = sum(e.id in finished for e in examples)
    if before == len(examples) and read_summary(published) is not None:
        return CellOutcome(cell, before, before, read_summary(published))
    restore(published, work)
    session = {"commit": current_commit(), "command": session_command or shlex.join(cell.command(runs)),
               "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "items_before": before}
    try:
        run_eval(run, backend=backend, progress=progress)
    except InputError as e:
        # Nothing ran: bad settings, or the work folder holds another experiment (e.g. the
        # pipeline settings changed since the cell's history began). Publish nothing.
        raise InputError(f"cell {cell.key}: {e}") from None
    except BaseException:
        publish(run, examples, work, published, session)  # keep what finished (Ctrl-C, dead backend)
        raise
    summary = publish(run, examples, work, published, session)
    return CellOutcome(cell, before, summary.get("n", 0), summary or None)


__all__ = ["Cell", "CellProgress", "cell_progress", "CellOutcome", "PREDICTIONS_GZ", "current_commit", "dataset_label", "model_label", "publish",
           "read_published", "read_summary", "restore", "run_cell"]
