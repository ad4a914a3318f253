"""Training rows from a `conf/data/*` config: benchmark datasets or synthetic puzzle families.

Three forms of data config:
    mix: [{family, n, difficulty}, ...]   synthetic puzzles, one entry per family x difficulty
                                          (conf/data/synthetic.yaml); wins over `families`
    families: [...] (+ n, difficulty)     synthetic puzzles, the same n and knobs for every family
    name / path (+ split)                 a registered benchmark dataset

A row is a plain dict (it becomes a `datasets.Dataset` row and a reward kwarg column):
    id, question, options (list[str] | None), answer (str),
    formulation (JSON str | None), program (str | None), family (str),
    difficulty (JSON str of the record's knobs | None)

    >>> rows = load_rows({"families": ["ordering"], "n": 4, "seed": 0})  # doctest: +SKIP
    >>> rows = load_rows({"seed": 0, "mix": [{"family": "ordering", "n": 4, "difficulty": {"objects": 3}}]})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

from l2l.errors import InputError

log = logging.getLogger("l2l.train")


def _plain(cfg: Any) -> dict[str, Any]:
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except ImportError:
        pass
    return dict(cfg or {})


def _record_row(rec: Any) -> dict[str, Any]:
    return {
        "id": rec.id,
        "question": rec.question,
        "options": rec.options,
        "answer": str(rec.answer),
        "formulation": json.dumps(rec.formulation),
        "program": rec.program,
        "family": rec.family,
        "difficulty": json.dumps(rec.difficulty),
    }


def _allocate(sizes: list[int], limit: int | None) -> list[int]:
    """Scale `sizes` down to sum to `limit` (largest remainder, ties to the earlier entry); as is when they fit."""
    total = sum(sizes)
    if not limit or limit >= total:
        return list(sizes)
    quotas = [n * limit / total for n in sizes]
    out = [int(q) for q in quotas]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(quotas[i] - out[i]), i))
    for i in by_remainder[: limit - sum(out)]:
        out[i] += 1
    return out


def entry_records(family: str, n: int, seed: int, difficulty: dict[str, Any]) -> list[Any]:
    """`n` records of one mix entry. A knob given as `[lo, hi]` is drawn per record from lo..hi (a
    sub-range of the family's range, which is how the curriculum raises a sampled knob's floor);
    other knobs are fixed, and knobs left out are sampled by the family as usual."""
    from l2l.synth import generate_records, get_family
    from l2l.synth.base import make_rng

    fam = get_family(family)
    ranges = {}
    for knob, value in difficulty.items():
        if isinstance(value, (list, tuple)):
            spec = fam.difficulty_knobs.get(knob)
            ok = spec is not None and all(len(t) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in t) for t in (spec, value))
            if not ok or not spec[0] <= value[0] <= value[1] <= spec[1]:
                raise InputError(f"{family}: difficulty {knob}={list(value)} must be [lo, hi] inside the family's integer range {spec}")
            ranges[knob] = (int(value[0]), int(value[1]))
    if not ranges:
        return generate_records(family, n, seed, **difficulty)
    out = []
    for i in range(n):  # as l2l.synth.iter_records, with the ranged knobs drawn per record
        knobs = dict(difficulty)
        for knob, (lo, hi) in ranges.items():
            knobs[knob] = random.Random(f"l2l-mix/{family}/{seed}/{i}/{knob}").randint(lo, hi)
        rec = fam.generate(make_rng(family, seed, i), **knobs)
        rec.id, rec.family = f"{family}-s{seed}-{i:05d}", family
        out.append(rec)
    return out


def _mix_rows(cfg: dict[str, Any], limit: int | None) -> list[dict[str, Any]]:
    """Rows of a `mix` config: entry i draws its `n` records with seed `seed + i` (as l2l.synth.mix, so two
    entries of one family never replay the same puzzles) and the union is shuffled with `seed`. A `limit`
    below the total scales every entry's n proportionally; each entry's records are then a prefix of
    its unlimited ones."""
    mix = cfg["mix"]
    if not isinstance(mix, list) or not all(isinstance(e, dict) and e.get("family") for e in mix):
        raise InputError("data.mix must be a list of {family, n, difficulty} entries")
    seed = int(cfg.get("seed", 0))
    sizes = _allocate([int(e.get("n", 1)) for e in mix], limit)
    records = []
    for i, (entry, n) in enumerate(zip(mix, sizes)):
        if n > 0:
            records += entry_records(str(entry["family"]), n, seed + i, dict(entry.get("difficulty") or {}))
    random.Random(seed).shuffle(records)
    return [_record_row(r) for r in records]


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
            rows.append(_record_row(rec))
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
            "difficulty": None,
            # the puzzle without its question, for deduplication against evaluation sets
            "puzzle": str(ex.meta.get("puzzle") or ex.question),
        }
        for ex in examples
    ]


def load_rows(data_cfg: Any, limit: int | None = None, seed: int = 0, split: str | None = None) -> list[dict[str, Any]]:
    """All rows named by a data config (synthetic when it has `mix` or `families`); `split` overrides its split."""
    cfg = _plain(data_cfg)
    if split:
        cfg["split"] = split
    if cfg.get("mix"):
        if cfg.get("families") is not None:  # e.g. +experiment=smoke data=synthetic: the experiment's families merge in
            log.info("data config has both `mix` and `families`: using `mix`")
        rows = _mix_rows(cfg, limit)
    elif cfg.get("families") is not None or cfg.get("format") == "synthetic":
        rows = _synthetic_rows(cfg, limit)
    else:
        rows = _dataset_rows(cfg, limit, seed)
    if not rows:
        raise InputError("the data config produced no examples")
    return rows[:limit] if limit else rows


def filter_rows(cfg: Any, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Training rows after deduplication against every evaluation set (`dedup.enabled`, on by
    default; see l2l/train/dedup.py), and what was dropped (also logged)."""
    from l2l.train.dedup import dedup_rows

    dedup = cfg.get("dedup") if hasattr(cfg, "get") else None
    if dedup is not None and not dedup.get("enabled", True):
        log.warning("dedup.enabled=false: training rows are NOT checked against the evaluation sets")
        return rows, {"enabled": False}
    kept, report = dedup_rows(rows)
    if not kept:
        raise InputError(f"every training row ({len(rows)}) shares a puzzle with an evaluation set; "
                         "choose other training data")
    return kept, {"enabled": True, **report.to_dict()}


def split_rows(rows: list[dict[str, Any]], val_size: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shuffle once (seeded) and hold out `val_size` rows for validation."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    if val_size >= len(rows):
        raise InputError(f"val_size={val_size} leaves no training rows out of {len(rows)}")
    return rows[val_size:], rows[:val_size]
