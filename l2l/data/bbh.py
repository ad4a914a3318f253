"""Loader for BIG-Bench Hard task files: `{"examples": [{"input": ..., "target": ...}]}`."""

from __future__ import annotations

import re
from pathlib import Path

from l2l.data.answers import normalise_answer, parse_options
from l2l.data.example import Example
from l2l.data.jsonl import read_json
from l2l.errors import InputError

_OPTIONS_HEADER = re.compile(r"\n\s*Options:\s*\n")
_LETTERED = re.compile(r"^\(([A-Z])\)\s*(.*)$")
_DASHED = re.compile(r"^-\s*(.+?)\s*$")


def load_bbh(path: str | Path, dataset: str | None = None) -> list[Example]:
    """Read one BBH task file. Lettered options ("(A) circle") become `options` and the gold its
    letter; dashed choices ("- Yes", "- valid") stay in the question (they are the answer
    vocabulary) and go to `meta["choices"]`, with the gold as a canonical word."""
    path = Path(path)
    task = path.stem
    dataset = dataset or f"bbh_{task}"
    out = []
    for i, r in enumerate(_task_examples(path)):
        if not isinstance(r, dict) or "input" not in r or "target" not in r:
            raise InputError(f"{path} example {i}: expected an object with 'input' and 'target'")
        out.append(_example(str(r["input"]), str(r["target"]), i, task, dataset, path))
    return out


def bbh_puzzles(path: str | Path) -> list[str]:
    """The puzzle text (the input before its options block) of every example in a BBH task file,
    gold or not: what deduplication holds out. Unlike `load_bbh` it does not read the targets, so a
    file with one unreadable gold record (ruin_names' example 81 has a target that no option letter
    matches) still holds out all of its puzzles."""
    return [_puzzle(str(r["input"])) for r in _task_examples(Path(path)) if isinstance(r, dict) and "input" in r]


def _task_examples(path: Path) -> list:
    """The `examples` list of a BBH task file (what `load_bbh` and `bbh_puzzles` both read)."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
        raise InputError(f"{path}: a BBH task file is an object with an 'examples' list")
    return data["examples"]


def _puzzle(text: str) -> str:
    """The input before its options block: the puzzle, as evaluation and deduplication read it."""
    return _OPTIONS_HEADER.split(text, maxsplit=1)[0].strip()


def _example(text: str, target: str, i: int, task: str, dataset: str, path: Path) -> Example:
    where = f"{path} example {i}"
    meta: dict = {"task": task, "source": str(path), "target": target}
    parts = _OPTIONS_HEADER.split(text, maxsplit=1)
    options = None
    question = text.strip()
    if len(parts) == 2:
        lines = [ln.strip() for ln in parts[1].strip().splitlines() if ln.strip()]
        if lines and all(_LETTERED.match(ln) for ln in lines):
            options = lines
            question = parts[0].strip()
        elif lines and all(_DASHED.match(ln) for ln in lines):
            meta["choices"] = [_DASHED.match(ln).group(1) for ln in lines]
        else:
            raise InputError(f"{where}: cannot read the options block")
    meta["puzzle"] = _puzzle(text)
    if options is not None:
        letters = [L for L, _ in parse_options(options)]
        answer = normalise_answer(target)
        if answer not in letters:
            raise InputError(f"{where}: target {target!r} is not one of the option letters {letters}")
    else:
        answer = normalise_answer(target)
        if not answer:
            raise InputError(f"{where}: empty target")
    return Example(id=f"{task}_{i}", question=question, options=options, answer=answer, dataset=dataset, meta=meta)
