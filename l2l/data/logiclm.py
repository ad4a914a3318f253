"""Loader for Logic-LM records: a JSON list of `{id, context, question, options, answer}`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from l2l.data.answers import parse_options
from l2l.data.example import Example
from l2l.data.jsonl import read_json
from l2l.errors import InputError


def load_logiclm(path: str | Path, dataset: str) -> list[Example]:
    """Read one Logic-LM split file (e.g. `logic-lm/FOLIO/dev.json`).

    The model sees `context` then `question`; the options stay separate; the gold is the letter.
    """
    path = Path(path)
    records = read_json(path)
    if not isinstance(records, list):
        raise InputError(f"{path}: a Logic-LM file is a JSON list of records, got {type(records).__name__}")
    return [_example(r, i, path, dataset) for i, r in enumerate(records)]


def _example(r: Any, i: int, path: Path, dataset: str) -> Example:
    where = f"{path} record {i}"
    if not isinstance(r, dict):
        raise InputError(f"{where}: expected an object, got {type(r).__name__}")
    missing = [k for k in ("context", "question", "options", "answer") if k not in r]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
    options = [str(o) for o in r["options"]]
    letters = [L for L, _ in parse_options(options)]
    answer = str(r["answer"]).strip().strip("()")
    if answer not in letters:
        raise InputError(f"{where}: answer {r['answer']!r} is not one of the option letters {letters}")
    context, question = str(r["context"]).strip(), str(r["question"]).strip()
    meta = {k: v for k, v in r.items() if k not in ("id", "context", "question", "options", "answer")}
    meta.update(context=context, question_only=question, puzzle=context, source=str(path))
    return Example(
        id=str(r.get("id", f"{dataset}_{i}")),
        question=f"{context}\n\n{question}" if context else question,
        options=options,
        answer=answer,
        dataset=dataset,
        meta=meta,
    )
