"""Loader for Hugging Face `datasets`: a hub id (or a local dataset folder/file) plus a column mapping.

    >>> load_hf("tasksource/folio", split="validation",
    ...         columns={"question": "conclusion", "context": "premises", "answer": "label"})  # doctest: +SKIP

The mapping names, for each Example field, the dataset column that holds it:
`question` (required), `answer` (required), `options`, `id`, `context` (prepended to the
question). Without a mapping, columns with those names are used, then the common aliases
below. An integer answer with options is read as an index into the options.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from l2l.data.answers import parse_options
from l2l.data.example import Example
from l2l.data.jsonl import record_to_example
from l2l.errors import InputError

# Column names other datasets use for our fields, tried in order when no mapping is given.
_ALIASES: dict[str, tuple[str, ...]] = {
    "question": ("question", "input", "prompt", "problem", "query"),
    "answer": ("answer", "target", "label", "solution", "gold"),
    "options": ("options", "choices", "candidates"),
    "id": ("id", "idx", "example_id", "uid"),
    "context": ("context", "premises", "passage"),
}
_LETTERED = re.compile(r"^\s*(?:\([A-Z]\)|[A-Z]\))\s")
_LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}


def load_hf(
    hub_id: str,
    split: str = "train",
    *,
    columns: dict[str, str] | None = None,
    config: str | None = None,
    dataset: str | None = None,
    **load_kwargs: Any,
) -> list[Example]:
    """Load a split with `datasets.load_dataset` and map its columns onto `Example`s.

    `hub_id` may be a hub id, a local dataset folder, or a local data file (loaded with the
    matching builder: json, csv, parquet). Extra keyword arguments go to `datasets.load_dataset`.
    """
    try:
        import datasets  # heavy: only when a hub dataset is asked for
    except ImportError:
        raise InputError("loading hf: datasets needs the `datasets` package: pip install 'l2l[eval]'") from None

    path = Path(hub_id).expanduser()
    if path.is_file():
        builder = _LOCAL_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise InputError(f"{hub_id}: unsupported data file type {path.suffix!r} for the hf loader")
        args: tuple = (builder,)
        load_kwargs.setdefault("data_files", {split: str(path)})
    else:
        args = (str(path) if path.exists() else hub_id,)
        if config:
            args += (config,)
    try:
        ds = datasets.load_dataset(*args, split=split, **load_kwargs)
    except Exception as e:  # offline hub, unknown id, bad split: one clear line, no traceback
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"could not load hf dataset {hub_id!r} split {split!r}: {msg}") from None
    name = dataset or f"hf:{hub_id}"
    mapping = _resolve_columns(list(ds.column_names), columns or {}, hub_id)
    return [_example(row, i, mapping, name, hub_id) for i, row in enumerate(ds)]


def _resolve_columns(available: list[str], columns: dict[str, str], hub_id: str) -> dict[str, str]:
    unknown_fields = sorted(set(columns) - set(_ALIASES))
    if unknown_fields:
        raise InputError(f"column mapping: unknown field(s) {unknown_fields}; map any of {sorted(_ALIASES)}")
    mapping: dict[str, str] = {}
    for fld, aliases in _ALIASES.items():
        if fld in columns:
            if columns[fld] not in available:
                raise InputError(f"{hub_id}: column {columns[fld]!r} (for {fld}) not in the dataset's columns {available}")
            mapping[fld] = columns[fld]
            continue
        for alias in aliases:
            if alias in available:
                mapping[fld] = alias
                break
    for required in ("question", "answer"):
        if required not in mapping:
            raise InputError(
                f"{hub_id}: no column for {required!r} among {available}; pass a mapping such as "
                f"columns={{'{required}': '<column>'}} (in conf/data/*.yaml: `columns:`)"
            )
    return mapping


def _example(row: dict[str, Any], i: int, mapping: dict[str, str], dataset: str, hub_id: str) -> Example:
    question = row[mapping["question"]]
    if "context" in mapping and row.get(mapping["context"]):
        ctx = row[mapping["context"]]
        ctx = "\n".join(map(str, ctx)) if isinstance(ctx, list) else str(ctx)
        question = f"{ctx}\n\n{question}"
    options = row.get(mapping["options"]) if "options" in mapping else None
    answer = row[mapping["answer"]]
    if options:
        options = [str(o) for o in options]
        if not any(_has_letter(o) for o in options):
            # Unlettered choices get letters so prompts and answers can name them.
            options = [f"{chr(65 + k)}) {o}" for k, o in enumerate(options)]
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(options):
                raise InputError(f"{hub_id} row {i}: answer index {answer} out of range for {len(options)} options")
            answer = parse_options(options)[answer][0]
    record = {"question": question, "answer": answer, "options": options or None}
    if "id" in mapping:
        record["id"] = row[mapping["id"]]
    record["hf_row"] = i
    return record_to_example(record, i, dataset, f"{hub_id} row {i}")


def _has_letter(option: str) -> bool:
    return _LETTERED.match(option) is not None
