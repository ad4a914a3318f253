"""`l2l eval --compare DIR...`: one table across methods and datasets, and a bar chart.

    >>> from l2l.eval.compare import compare
    >>> table = compare(["runs/folio-cot", "runs/folio-l2l"], plot="compare.png")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from l2l.errors import InputError


def load_summaries(dirs: list[str | Path]) -> list[dict[str, Any]]:
    """The summary.json of each folder (a clear error for a folder without one)."""
    out = []
    for d in dirs:
        path = Path(d) / "summary.json"
        if not path.is_file():
            raise InputError(f"{d}: no summary.json (is it an `l2l eval --out` folder that finished at least once?)")
        try:
            s = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: not valid JSON ({e.msg})") from None
        if not isinstance(s, dict) or "accuracy" not in s or "method" not in s:
            raise InputError(f"{path}: not an l2l eval summary (no accuracy/method)")
        s["_dir"] = str(d)
        out.append(s)
    return out


def _column(s: dict[str, Any], models: set[str]) -> str:
    """Column label: the method, plus the model when several models are compared."""
    label = s["method"]
    if s.get("fallback") is not None:
        label += "+fallback"
    if len(models) > 1:
        label += f" ({s.get('model')})"
    return label


def build_table(summaries: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """Rows (datasets), columns (methods) and the summary at each cell, in first-seen order."""
    models = {str(s.get("model")) for s in summaries}
    rows: list[str] = []
    cols: list[str] = []
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for s in summaries:
        row, col = str(s.get("dataset")), _column(s, models)
        if row not in rows:
            rows.append(row)
        if col not in cols:
            cols.append(col)
        if (row, col) in cells:
            raise InputError(f"{s['_dir']} and {cells[(row, col)]['_dir']} are both {col} on {row}; compare one of them")
        cells[(row, col)] = s
    return rows, cols, cells


def markdown_table(summaries: list[dict[str, Any]]) -> str:
    """Accuracy (%) per dataset x method, with n, exec rate for program methods, and the mean."""
    rows, cols, cells = build_table(summaries)
    lines = ["| dataset | n | " + " | ".join(cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    for row in rows:
        ns = sorted({cells[(row, c)]["n"] for c in cols if (row, c) in cells})
        parts = []
        for c in cols:
            s = cells.get((row, c))
            if s is None:
                parts.append("")
                continue
            text = f"{100 * s['accuracy']:.1f}"
            if s.get("exec_rate") is not None:
                text += f" (exec {100 * s['exec_rate']:.0f}%)"
            if s.get("fallback"):
                text += f" / {100 * s['fallback']['accuracy_with_fallback']:.1f} w/ cot"
            parts.append(text)
        lines.append(f"| {row} | {'/'.join(map(str, ns))} | " + " | ".join(parts) + " |")
    means = []
    for c in cols:
        accs = [cells[(r, c)]["accuracy"] for r in rows if (r, c) in cells]
        complete = len(accs) == len(rows)
        means.append(f"{100 * sum(accs) / len(accs):.1f}" + ("" if complete else f" ({len(accs)}/{len(rows)} sets)") if accs else "")
    lines.append("| **mean** | | " + " | ".join(means) + " |")
    return "\n".join(lines) + "\n"


def plot_bars(summaries: list[dict[str, Any]], path: str | Path) -> Path:
    """Grouped bar chart of accuracy: one group per dataset, one bar per method."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers and CI
    import matplotlib.pyplot as plt

    rows, cols, cells = build_table(summaries)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width = 0.8 / max(1, len(cols))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(rows) * max(1, len(cols)) / 2 + 2), 4.5))
    for j, c in enumerate(cols):
        xs = [i + (j - (len(cols) - 1) / 2) * width for i in range(len(rows))]
        ys = [100 * cells[(r, c)]["accuracy"] if (r, c) in cells else 0.0 for r in rows]
        ax.bar(xs, ys, width, label=c)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(rows, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    models = sorted({str(s.get("model")) for s in summaries})
    ax.set_title("l2l eval: " + ", ".join(models))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
    return path


def compare(dirs: list[str | Path], plot: str | Path | None = None) -> str:
    """The markdown table for `dirs`; writes the bar chart to `plot` when given."""
    if not dirs:
        raise InputError("--compare needs at least one output folder")
    summaries = load_summaries(dirs)
    table = markdown_table(summaries)
    if plot:
        plot_bars(summaries, plot)
    return table
