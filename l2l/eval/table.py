"""The published accuracy table, rendered only from the cell folders under bench/results/eval
(`l2l.eval.cells`): per cell n, accuracy and its Wilson 95% interval; paired differences on the
same items (bootstrap 95% interval, exact McNemar p); failures by stage; answers per matching
rule; and the commit and command behind every cell. Cells with no data show as "not run".

    >>> from l2l.eval.table import render
    >>> full, readme = render("bench/results/eval", ["qwen2.5-coder-1.5b"], ["bbh_web_of_lies"], ["cot", "l2l"])  # doctest: +SKIP

`splice` puts the README part between `README_START` and `README_END`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l2l.eval.cells import model_label, read_published, read_summary
from l2l.eval.failures import STAGE_LABELS, STAGES, failure_counts
from l2l.eval.stats import compare_paired, wilson_interval

README_START = "<!-- eval-table:start -->"
README_END = "<!-- eval-table:end -->"
NOT_RUN = "not run"
# (A, B): A - B on the items both ran. l2l vs cot is the headline; l2l_vote vs program checks
# that the formulation stage, not the solver or the voting alone, carries the gain.
DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (("l2l", "cot"), ("l2l_vote", "cot"), ("l2l_vote", "program"))


@dataclass
class CellData:
    """One published cell as the table reads it."""

    dataset: str
    method: str
    records: list[dict[str, Any]]
    summary: dict[str, Any]

    @property
    def correct_by_id(self) -> dict[str, bool]:
        return {str(r["id"]): bool(r.get("correct")) for r in self.records}

    @property
    def complete(self) -> bool:
        """Every selected item finished (a cell being filled in is partial)."""
        target = self.summary.get("items_selected")
        return not target or len(self.records) >= target

    @property
    def accuracy(self) -> float:
        return sum(bool(r.get("correct")) for r in self.records) / len(self.records)


def load_cells(results: str | Path, model: str) -> dict[tuple[str, str], CellData]:
    """Every published cell of `model`, by (dataset, method); cells with no records are left out."""
    cells: dict[tuple[str, str], CellData] = {}
    root = Path(results) / model_label(model)
    for folder in sorted(root.glob("*/*")):
        summary = read_summary(folder)
        records = read_published(folder) if summary is not None else []
        if records:
            cells[(folder.parent.name, folder.name)] = CellData(folder.parent.name, folder.name, records, summary)
    return cells


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _signed(x: float) -> str:
    return f"{100 * x:+.1f}"


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def accuracy_text(cell: CellData | None) -> str:
    """ "45.0 [35.6, 54.8] n=100" (percent, Wilson 95%); "n=40/100" while a cell is partial."""
    if cell is None:
        return NOT_RUN
    n = len(cell.records)
    k = sum(bool(r.get("correct")) for r in cell.records)
    lo, hi = wilson_interval(k, n)
    size = f"n={n}" if cell.complete else f"n={n}/{cell.summary['items_selected']}"
    return f"{_pct(k / n)} [{_pct(lo)}, {_pct(hi)}] {size}"


def paired_text(a: CellData | None, b: CellData | None) -> tuple[str, float | None]:
    """ "+12.0 [+3.0, +21.0] p=0.012 n=100" for A - B in points on their common items, and the
    difference itself (None when either cell is missing or they share no item). While either
    cell is partial the text says so and no difference is returned: a handful of first items
    would otherwise enter the mean with the weight of a finished dataset."""
    if a is None or b is None:
        return NOT_RUN, None
    c = compare_paired(a.correct_by_id, b.correct_by_id)
    if c.n == 0:
        return "no common items", None
    text = f"{_signed(c.diff)} [{_signed(c.ci_low)}, {_signed(c.ci_high)}] {_p(c.p_mcnemar)} n={c.n}"
    if not (a.complete and b.complete):
        return f"{text} (partial, not in the mean)", None
    return text, c.diff


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def accuracy_table(cells: dict[tuple[str, str], CellData], datasets: list[str], methods: list[str]) -> list[str]:
    lines = [_row(["dataset", *methods]), _row(["---"] * (len(methods) + 1))]
    for d in datasets:
        lines.append(_row([d, *(accuracy_text(cells.get((d, m))) for m in methods)]))
    # A mean is only comparable over the datasets every method has run on.
    complete = [d for d in datasets if all((d, m) in cells for m in methods)]
    if complete:
        means = [sum(cells[(d, m)].accuracy for d in complete) / len(complete) for m in methods]
        label = f"mean over the {len(complete)} dataset{'s' * (len(complete) != 1)} with every method"
        lines.append(_row([label, *(_pct(x) for x in means)]))
    return lines


def paired_table(cells: dict[tuple[str, str], CellData], datasets: list[str], pairs: list[tuple[str, str]]) -> list[str]:
    lines = [_row(["dataset", *(f"{a} − {b}" for a, b in pairs)]), _row(["---"] * (len(pairs) + 1))]
    diffs: dict[tuple[str, str], list[float]] = {p: [] for p in pairs}
    for d in datasets:
        row = [d]
        for a, b in pairs:
            text, diff = paired_text(cells.get((d, a)), cells.get((d, b)))
            row.append(text)
            if diff is not None:
                diffs[(a, b)].append(diff)
        if any(text != NOT_RUN for text in row[1:]):  # a row of "not run" says nothing the accuracy table does not
            lines.append(_row(row))
    if len(lines) == 2:
        return ["No pair of methods has run on the same dataset yet."]
    if any(diffs.values()):
        lines.append(_row(["mean of the differences (finished cells)", *(f"{_signed(sum(v) / len(v))} over {len(v)} dataset{'s' * (len(v) != 1)}"
                                                          if v else "" for v in diffs.values())]))
    return lines


def failure_table(cells: dict[tuple[str, str], CellData], datasets: list[str], methods: list[str]) -> list[str]:
    lines = [_row(["dataset", "method", "n", "right", *(STAGE_LABELS[s] for s in STAGES)]),
             _row(["---", "---", *(["---:"] * (len(STAGES) + 2))])]
    for d in datasets:
        for m in methods:
            cell = cells.get((d, m))
            if cell is None:
                continue
            counts = failure_counts(cell.records)
            right = sum(cell.correct_by_id.values())
            lines.append(_row([d, m, str(len(cell.records)), str(right), *(str(counts[s]) for s in STAGES)]))
    return lines


def rule_table(cells: dict[tuple[str, str], CellData], datasets: list[str], methods: list[str]) -> list[str]:
    from l2l.data.answers import RULES
    from l2l.eval.runner import match_rule_counts

    per_cell = {k: match_rule_counts(c.records) for k, c in cells.items()}
    seen = {r for counts in per_cell.values() for r in counts}
    rules = [r for r in RULES if r in seen] + sorted(seen - set(RULES))
    lines = [_row(["dataset", "method", *rules]), _row(["---", "---", *(["---:"] * len(rules))])]
    for d in datasets:
        for m in methods:
            counts = per_cell.get((d, m))
            if counts is None:
                continue
            lines.append(_row([d, m, *(f"{counts[r]['answers']} ({counts[r]['correct']})" if r in counts else "" for r in rules)]))
    return lines


def provenance_table(cells: dict[tuple[str, str], CellData], datasets: list[str], methods: list[str]) -> list[str]:
    lines = [_row(["dataset", "method", "commits", "command"]), _row(["---"] * 4)]
    for d in datasets:
        for m in methods:
            cell = cells.get((d, m))
            if cell is None:
                continue
            commits = ", ".join(f"`{c}`" for c in cell.summary.get("commits") or []) or "unrecorded"
            lines.append(_row([d, m, commits, f"`{cell.summary.get('command') or ''}`"]))
    sessions: dict[tuple[str, str], int] = {}
    for cell in cells.values():
        for h in cell.summary.get("history") or []:
            key = (str(h.get("commit")), str(h.get("command")))
            sessions[key] = sessions.get(key, 0) + int(h.get("items_after", 0)) - int(h.get("items_before", 0))
    if sessions:
        lines += ["", "Sessions that added items (the table script's own command line):", "",
                  _row(["commit", "command", "items added"]), _row(["---", "---", "---:"])]
        lines += [_row([f"`{c}`", f"`{cmd}`", str(n)]) for (c, cmd), n in sessions.items()]
    return lines


def _datasets(cells: dict[tuple[str, str], CellData], datasets: list[str]) -> list[str]:
    """The requested datasets, then any other dataset that has published cells."""
    return list(datasets) + sorted({d for d, _ in cells} - set(datasets))


def _label(path: Path) -> str:
    """A path as the repository sees it (bench/results/eval), not this machine's absolute path."""
    from l2l.data import project_root

    try:
        return path.resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return path.as_posix()


def render(results: str | Path, models: list[str], datasets: list[str], methods: list[str],
           pairs: list[tuple[str, str]] | None = None) -> tuple[str, str]:
    """(TABLE.md, the README section) for `models`, from the published cells only."""
    pairs = list(pairs or [p for p in DEFAULT_PAIRS if p[0] in methods and p[1] in methods])
    source = _label(Path(results))
    full = ["# Accuracy table", "",
            f"Generated by `python bench/run_eval_table.py --table-only` from the cell folders under `{source}/`",
            "(`predictions.jsonl.gz`, `summary.json`); do not edit by hand. Accuracy in percent with its Wilson 95%",
            "interval and the items finished (`n=40/100` while a cell is partial). Paired differences are in points,",
            "on the items both methods finished, with a paired bootstrap 95% interval (10,000 resamples, seed 0) and",
            "the exact McNemar p; a pair with a partial cell is shown but left out of the mean of the differences."]
    readme: list[str] = []
    for model in models:
        cells = load_cells(results, model)
        rows = _datasets(cells, datasets)
        acc, paired = accuracy_table(cells, rows, methods), paired_table(cells, rows, pairs)
        full += ["", f"## {model_label(model)}", "", "### Accuracy", "", *acc]
        readme += [f"Accuracy of `{model_label(model)}` (%, Wilson 95% interval, items):", "", *acc, ""]
        if pairs:
            full += ["", "### Paired differences (same items)", "", *paired]
            readme += ["Paired differences on the same items (points, bootstrap 95% interval, exact McNemar p):", "", *paired, ""]
        if cells:
            full += ["", "### Failures by stage (`l2l/eval/failures.py`)", "", *failure_table(cells, rows, methods),
                     "", "### Answers per matching rule: answers (of them right) (`l2l/data/answers.py` RULES)", "",
                     *rule_table(cells, rows, methods),
                     "", "### Provenance", "", *provenance_table(cells, rows, methods)]
    readme.append(f"Failures by stage, answers per matching rule and each cell's commit and command: `{source}/TABLE.md`.")
    return "\n".join(full) + "\n", "\n".join(readme) + "\n"


def splice(text: str, section: str) -> str:
    """`text` with everything between the README markers replaced by `section`.

    >>> splice("a\\n<!-- eval-table:start -->\\nold\\n<!-- eval-table:end -->\\nb\\n", "new\\n")
    'a\\n<!-- eval-table:start -->\\nnew\\n<!-- eval-table:end -->\\nb\\n'
    """
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {README_START} ... {README_END} markers")
    return text[:start + len(README_START)] + "\n" + section + text[end:]


__all__ = ["DEFAULT_PAIRS", "README_END", "README_START", "CellData", "load_cells", "render", "splice"]
