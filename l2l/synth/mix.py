"""Build a training pool from a data config that mixes families and difficulties (conf/data/synthetic.yaml).

    >>> from omegaconf import OmegaConf  # doctest: +SKIP
    >>> recs = records_from_config(OmegaConf.load("conf/data/synthetic.yaml"))  # doctest: +SKIP
"""

from __future__ import annotations

import random
from typing import Any

from l2l.errors import InputError
from l2l.synth import PuzzleRecord, generate_records


def records_from_config(cfg: Any, scale: float = 1.0) -> list[PuzzleRecord]:
    """Generate every `mix` entry (n scaled by `scale`, at least 1) and shuffle the union with `cfg.seed`.

    Entry i uses seed `cfg.seed + i`, so entries of the same family never share records.
    """
    mix = cfg["mix"] if isinstance(cfg, dict) else getattr(cfg, "mix", None)
    seed = int(cfg["seed"] if isinstance(cfg, dict) else getattr(cfg, "seed", 0))
    if not mix:
        raise InputError("data config has no 'mix' entries")
    out: list[PuzzleRecord] = []
    for i, entry in enumerate(mix):
        entry = dict(entry)
        if "family" not in entry:
            raise InputError(f"mix[{i}] has no 'family'")
        n = max(1, round(int(entry.get("n", 1)) * scale))
        out += generate_records(entry["family"], n, seed + i, **dict(entry.get("difficulty") or {}))
    random.Random(seed).shuffle(out)
    return out
