"""Training rows from a `conf/data/*` config: benchmark datasets or synthetic puzzle families.

A row is a plain dict (it becomes a `datasets.Dataset` row and a reward kwarg column):
    id, question, options (list[str] | None), answer (str),
    formulation (JSON str | None), program (str | None), family (str)

    >>> rows = load_rows({"families": ["ordering"], "n": 4, "seed": 0})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
from typing import Any

from l2l.errors import InputError


def _plain(cfg: Any) -> dict[str, Any]:
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except ImportError:
        pass
    return dict(cfg or {})


def _synthetic_rows(cfg: dict[str, Any], limit: int | None) -> list[dict[str, Any]]:
    from l2l.synth import FAMILIES, generate_records

    families = cfg.get("families") or list(FAMILIES)
    if isinstance(families, dict):  # {family: {difficulty knobs}} or {family: weight}
        items = [(f, v if isinstance(v, dict) else {}) for f, v in families.items()]
    else:
        items = [(f, {}) for f in families]
    per = int(cfg.get("n_per_family") or cfg.get("n") or 8)
    if limit:
        per = max(1, min(per, -(-limit // len(items))))
    difficulty = dict(cfg.get("difficulty") or {})
    rows = []
    for fam, knobs in items:
        for rec in generate_records(fam, per, seed=int(cfg.get("seed", 0)), **{**difficulty, **knobs}):
            rows.append(
                {
                    "id": rec.id,
                    "question": rec.question,
                    "options": rec.options,
                    "answer": str(rec.answer),
                    "formulation": json.dumps(rec.formulation),
                    "program": rec.program,
                    "family": rec.family,
                }
            )
    return rows


def _dataset_rows(cfg: dict[str, Any], limit: int | None, seed: int) -> list[dict[str, Any]]:
    from l2l.data import load_dataset

    # Registered datasets load by name (their yaml's path is relative to the benchmarks root).
    source = cfg.get("name") or cfg.get("path")
    if not source:
        raise InputError("data config needs `name` or `path` (or `families` for synthetic puzzles)")
    examples = load_dataset(source, split=cfg.get("split"), limit=limit, seed=seed)
    return [
        {
            "id": str(ex.id),
            "question": ex.question,
            "options": list(ex.options) if ex.options else None,
            "answer": str(ex.answer),
            "formulation": None,
            "program": None,
            "family": str(getattr(ex, "dataset", "") or ""),
        }
        for ex in examples
    ]


def load_rows(data_cfg: Any, limit: int | None = None, seed: int = 0, split: str | None = None) -> list[dict[str, Any]]:
    """All rows named by a data config (synthetic when it lists `families`); `split` overrides its split."""
    cfg = _plain(data_cfg)
    if split:
        cfg["split"] = split
    if cfg.get("families") is not None or cfg.get("format") == "synthetic":
        rows = _synthetic_rows(cfg, limit)
    else:
        rows = _dataset_rows(cfg, limit, seed)
    if not rows:
        raise InputError("the data config produced no examples")
    return rows[:limit] if limit else rows


def split_rows(rows: list[dict[str, Any]], val_size: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shuffle once (seeded) and hold out `val_size` rows for validation."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    if val_size >= len(rows):
        raise InputError(f"val_size={val_size} leaves no training rows out of {len(rows)}")
    return rows[val_size:], rows[:val_size]
