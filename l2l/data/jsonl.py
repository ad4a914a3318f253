"""Reading JSON/JSONL files, and the loader for plain records `{id, question, options, answer}`.

This is the format of the project's own synthetic puzzles and the easiest way to bring a new
dataset: one JSON object per line (or a JSON list) with `question` and `answer`; `id` and
`options` are optional, any other field is kept in `meta`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from l2l.data.answers import normalise_answer
from l2l.data.example import Example
from l2l.errors import InputError


def read_json(path: Path) -> Any:
    """Parse a JSON file with a clear error for a missing or malformed file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None


def read_records(path: Path) -> list[Any]:
    """Records of a `.jsonl` file (one object per line, blank lines skipped) or a `.json` list."""
    if path.suffix.lower() == ".json":
        data = read_json(path)
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON list of records")
        return data
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise InputError(f"{path} line {n}: not valid JSON ({e.msg})") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason})") from None
    return records


def record_to_example(r: Any, i: int, dataset: str, where: str) -> Example:
    """Validate one `{id?, question, options?, answer}` record and canonicalise its answer."""
    if not isinstance(r, dict):
        raise InputError(f"{where}: expected an object, got {type(r).__name__}")
    missing = [k for k in ("question", "answer") if r.get(k) in (None, "")]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
    options = r.get("options") or None
    if options is not None:
        if not isinstance(options, list) or not all(isinstance(o, (str, int, float)) for o in options):
            raise InputError(f"{where}: 'options' must be a list of strings")
        options = [str(o) for o in options]
    raw = str(r["answer"])
    answer = normalise_answer(raw, options)
    if answer is None:
        raise InputError(f"{where}: answer {raw!r} does not name one of the options {options}")
    meta = {k: v for k, v in r.items() if k not in ("id", "question", "options", "answer")}
    meta.setdefault("puzzle", r["question"])
    return Example(
        id=str(r.get("id", f"{dataset}_{i}")),
        question=str(r["question"]),
        options=options,
        answer=answer,
        dataset=dataset,
        meta=meta,
    )


def load_jsonl(path: str | Path, dataset: str | None = None) -> list[Example]:
    """Load plain records from `.jsonl` or a `.json` list."""
    path = Path(path)
    dataset = dataset or path.stem
    return [record_to_example(r, i, dataset, f"{path} record {i}") for i, r in enumerate(read_records(path))]
