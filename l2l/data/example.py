"""The one record every dataset loader returns, and helpers that work on lists of them."""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from l2l.errors import InputError


@dataclass
class Example:
    """One evaluation or training item.

    question: everything the model sees (context + question) *without* the options.
    options: the options as in the source ("A) True", "(A) circle"), or None.
    answer: the gold answer in canonical form (`l2l.data.normalise_answer`): the option letter
        ("A") when there are options, else "True"/"Yes"/"Valid"/a number string/a word list.
    meta: source-specific extras; `meta["puzzle"]` is the puzzle text used for de-duplication.
    """

    id: str
    question: str
    options: list[str] | None
    answer: str
    dataset: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Example":
        return cls(
            id=str(d["id"]),
            question=str(d["question"]),
            options=list(d["options"]) if d.get("options") else None,
            answer=str(d["answer"]),
            dataset=str(d.get("dataset", "")),
            meta=dict(d.get("meta") or {}),
        )


_SLICE = re.compile(r"^(?P<split>[\w.\-]*)\[(?P<start>-?\d*):(?P<stop>-?\d*)\]$")


def parse_split(split: str | None) -> tuple[str | None, slice | None]:
    """Split "dev[20:]" into ("dev", slice(20, None)); "dev" into ("dev", None).

    >>> parse_split("dev[:50]")
    ('dev', slice(None, 50, None))
    """
    if split is None:
        return None, None
    m = _SLICE.match(split.strip())
    if not m:
        if not re.fullmatch(r"[\w.\-]+", split.strip()):
            raise InputError(f"bad split {split!r}: use a name like 'dev' or a slice like 'dev[20:]'")
        return split.strip(), None
    start, stop = m.group("start"), m.group("stop")
    return (m.group("split") or None), slice(int(start) if start else None, int(stop) if stop else None)


def subset(examples: list[Example], limit: int | None, seed: int = 0) -> list[Example]:
    """A deterministic random subset of `limit` examples, kept in source order.

    Subsets are nested: for one seed, the `limit=3` subset is inside the `limit=100` one, so a
    larger run can resume a smaller one.
    """
    if limit is None or limit >= len(examples):
        return list(examples)
    if limit < 0:
        raise InputError(f"--limit must be >= 0, got {limit}")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    keep = sorted(order[:limit])
    return [examples[i] for i in keep]


def puzzle_key(example: Example) -> str:
    """Normalised puzzle text: two items with the same key are the same puzzle, whatever the question."""
    text = example.meta.get("puzzle") or example.question
    return re.sub(r"\W+", " ", str(text).lower()).strip()


def dedup_against(train: list[Example], eval_examples: list[Example]) -> list[Example]:
    """The training examples whose puzzle does not occur in `eval_examples`.

    Logic-LM's LogicalDeduction dev shares most puzzles with its train split (and BBH's
    logical_deduction tasks are nearly all in that train split), with different questions:
    train on the result of this, never on the raw train split.
    """
    held_out = {puzzle_key(e) for e in eval_examples}
    return [e for e in train if puzzle_key(e) not in held_out]
