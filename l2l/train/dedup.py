"""Keep evaluation puzzles out of training rows (on by default: `dedup.enabled` in conf/train.yaml).

Logic-LM's LogicalDeduction `train` holds 134 of the 136 dev puzzles (with other questions) and
every BIG-Bench Hard logical_deduction puzzle, so training on it as is trains on the table.
A training row is dropped when its puzzle text matches any held-out puzzle:

* `exact`: the same normalised puzzle text (`l2l.data.puzzle_key`: case, spacing, punctuation);
* `near`: the same sentences in any order with the names masked (a name is any capitalised
  word but a function word), so a copy that renames "Eve" to "Ann" or reorders
  the clues is caught too.

Held out: the `report_split` of every `conf/data/*` benchmark and every BIG-Bench Hard task file
(whole: the BBH tasks have no training split of their own).

    >>> rows, report = dedup_rows(rows)      # doctest: +SKIP
    >>> report.dropped, report.reasons       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("l2l.train")

_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_FUNCTION_WORDS = frozenset(
    "a an the on in at of for to by with from as if then there it its this that these those each every all some "
    "no not none which who whom what when where how is are was were be and but or so one two three four five six "
    "seven options question true false unknown yes".split())


def _puzzle_text(row: dict[str, Any]) -> str:
    return str(row.get("puzzle") or row.get("question") or "")


def exact_key(text: str) -> str:
    """Case, spacing and punctuation removed (the same rule as `l2l.data.puzzle_key`)."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def near_key(text: str) -> str:
    """Sentences sorted, names masked: equal for copies that rename people or reorder clues.

    >>> near_key("Eve is left of Bob. Bob is tall.") == near_key("Bob is tall. Ann is left of Bob.")
    True
    """
    sentences = [s.strip() for s in _SENTENCE_RE.split(text) if s.strip()]
    masked = []
    for s in sentences:
        words = _WORD_RE.findall(s)
        # Any capitalised word but a function word is taken for a name, sentence-initial ones too
        # ("Eve finished first."). Over-masking can only drop more training rows, never fewer.
        masked.append(" ".join("N" if w[0].isupper() and w.lower() not in _FUNCTION_WORDS else w.lower() for w in words))
    return " | ".join(sorted(set(masked)))


@dataclass
class DedupReport:
    """How many rows were dropped, why, and against which held-out sets."""

    kept: int = 0
    dropped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    held_out_sets: list[str] = field(default_factory=list)
    held_out_puzzles: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"kept": self.kept, "dropped": self.dropped, "reasons": dict(self.reasons),
                "held_out_sets": list(self.held_out_sets), "held_out_puzzles": self.held_out_puzzles}


def held_out_texts() -> tuple[list[str], list[str]]:
    """Puzzle texts of every report split and every BBH task file; returns (texts, set names).
    A set whose files are missing on this machine is skipped with a warning."""
    from l2l.data import load_dataset
    from l2l.data.bbh import bbh_puzzles
    from l2l.data.registry import benchmarks_root, read_registry

    texts: list[str] = []
    names: list[str] = []
    for spec in read_registry().values():
        if spec.format == "bbh" or not spec.report_split:
            continue
        try:
            examples = load_dataset(spec.name, split=spec.report_split)
        except Exception as exc:  # noqa: BLE001 - a missing benchmark must not stop training
            log.warning("dedup: cannot load %s %s (%s); not held out", spec.name, spec.report_split, exc)
            continue
        texts += [e.meta.get("puzzle") or e.question for e in examples]
        names.append(f"{spec.name}:{spec.report_split}")
    bbh = benchmarks_root() / "bbh"
    for path in sorted(bbh.glob("*.json")) if bbh.is_dir() else []:
        try:  # puzzles only: a task file's unreadable gold record must not release its puzzles
            puzzles = bbh_puzzles(path)
        except Exception as exc:  # noqa: BLE001
            log.warning("dedup: cannot load %s (%s); not held out", path, exc)
            continue
        texts += puzzles
        names.append(f"bbh:{path.stem}")
    return texts, names


def dedup_rows(rows: list[dict[str, Any]], held_out: tuple[list[str], list[str]] | None = None
               ) -> tuple[list[dict[str, Any]], DedupReport]:
    """The rows whose puzzle matches no held-out puzzle, and a report of what was dropped."""
    texts, names = held_out if held_out is not None else held_out_texts()
    exact = {exact_key(t) for t in texts}
    near = {near_key(t) for t in texts}
    report = DedupReport(held_out_sets=names, held_out_puzzles=len(texts))
    kept = []
    for row in rows:
        text = _puzzle_text(row)
        reason = "exact" if exact_key(text) in exact else "near" if near_key(text) in near else None
        if reason:
            report.reasons[reason] = report.reasons.get(reason, 0) + 1
        else:
            kept.append(row)
    report.kept, report.dropped = len(kept), len(rows) - len(kept)
    log.info("dedup: kept %d of %d training rows; dropped %s (held out: %d puzzles from %d sets)",
             report.kept, len(rows), report.reasons or "none", report.held_out_puzzles, len(names))
    return kept, report
