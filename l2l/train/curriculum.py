"""Difficulty curriculum over a synthetic `mix` data config (`data.curriculum` in conf/data/synthetic.yaml).

Level 0 is the mix as configured. Each further level raises the next knob of `knob_order` (cycling,
skipping knobs that no entry can raise any more) by one step in every mix entry whose family has it
as an integer knob, clamped to the family's range:

    fixed value v      ->  v + 1                 (at most the family's maximum)
    [lo, hi] sub-range ->  [lo + 1, hi]          (drawn per record; see l2l.train.data.entry_records)
    left out (sampled) ->  [min + 1, max]        (the family's range with its floor raised)

`update(val_accuracy)` moves up one level when the accuracy reaches `raise_at_accuracy` and a harder
level exists. The level is saved in each round checkpoint (`state_dict`) and restored on resume.

    >>> c = Curriculum([{"family": "ordering", "n": 4, "difficulty": {"objects": 3}}], ["objects"], 0.5)
    >>> c.update(0.6), c.level, c.mix[0]["difficulty"]
    (True, 1, {'objects': 4})
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from l2l.errors import InputError


def _int_range(spec: Any) -> tuple[int, int] | None:
    if isinstance(spec, (list, tuple)) and len(spec) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in spec):
        return int(spec[0]), int(spec[1])
    return None


def _families() -> dict[str, Any]:
    from l2l.synth import FAMILIES

    return FAMILIES


def _raise_entry(entry: dict[str, Any], knob: str) -> dict[str, Any]:
    """`entry` with `knob` one step harder (unchanged when its family lacks the knob or it is at the maximum)."""
    fam = _families().get(str(entry["family"]))
    spec = _int_range(fam.difficulty_knobs.get(knob)) if fam else None
    if spec is None:
        return entry
    lo, hi = spec
    difficulty = dict(entry.get("difficulty") or {})
    value = difficulty.get(knob)
    if value is None:  # sampled from the whole range: raise its floor
        value = [lo, hi]
    if isinstance(value, (list, tuple)):
        a, b = int(value[0]), int(value[1])
        if a >= b:
            return entry
        new: Any = b if a + 1 == b else [a + 1, b]
    else:
        if int(value) >= hi:
            return entry
        new = int(value) + 1
    return {**entry, "difficulty": {**difficulty, knob: new}}


@dataclass
class Curriculum:
    """The current difficulty level of a `mix` (level 0 = `base_mix` as configured)."""

    base_mix: list[dict[str, Any]]
    knob_order: list[str]
    raise_at_accuracy: float
    level: int = 0
    # (level reached, validation accuracy that unlocked it), for the checkpoint and logs
    history: list[tuple[int, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.base_mix:
            raise InputError("data.curriculum needs a `mix` data config (conf/data/synthetic.yaml)")
        if not self.knob_order:
            raise InputError("data.curriculum.knob_order is empty")
        known = {k for f in _families().values() for k, spec in f.difficulty_knobs.items() if _int_range(spec)}
        unknown = [k for k in self.knob_order if k not in known]
        if unknown:
            raise InputError(f"data.curriculum.knob_order: {', '.join(unknown)} is no family's integer knob; valid: {', '.join(sorted(known))}")
        self.base_mix = [dict(e, difficulty=dict(e.get("difficulty") or {})) for e in self.base_mix]
        self.knob_order = [str(k) for k in self.knob_order]
        self.raise_at_accuracy = float(self.raise_at_accuracy)

    @classmethod
    def from_config(cls, data_cfg: Any) -> "Curriculum | None":
        """The curriculum of a data config, or None when `curriculum.enabled` is not true."""
        from l2l.train.data import _plain

        cfg = _plain(data_cfg)
        cur = cfg.get("curriculum") or {}
        if not cur.get("enabled"):
            return None
        return cls(
            base_mix=list(cfg.get("mix") or []),
            knob_order=list(cur.get("knob_order") or []),
            raise_at_accuracy=float(cur.get("raise_at_accuracy", 0.7)),
        )

    # ------------------------------------------------------------------ levels

    def mix_at(self, level: int) -> list[dict[str, Any]]:
        """The mix entries at `level` (levels past the hardest one give the hardest mix)."""
        mix = copy.deepcopy(self.base_mix)
        pos = 0
        for _ in range(level):
            for _ in range(len(self.knob_order)):
                knob = self.knob_order[pos % len(self.knob_order)]
                pos += 1
                raised = [_raise_entry(e, knob) for e in mix]
                if raised != mix:
                    mix = raised
                    break
            else:  # a whole cycle changed nothing: every knob is at its maximum
                break
        return mix

    @property
    def mix(self) -> list[dict[str, Any]]:
        return self.mix_at(self.level)

    @property
    def at_max(self) -> bool:
        return self.mix_at(self.level + 1) == self.mix

    def update(self, val_accuracy: float) -> bool:
        """Move up one level when `val_accuracy >= raise_at_accuracy` (and a harder level exists)."""
        if float(val_accuracy) < self.raise_at_accuracy or self.at_max:
            return False
        self.level += 1
        self.history.append((self.level, float(val_accuracy)))
        return True

    def data_config(self, data_cfg: Any) -> dict[str, Any]:
        """`data_cfg` as a plain dict with its `mix` at the current level."""
        from l2l.train.data import _plain

        return {**_plain(data_cfg), "mix": self.mix}

    def train_rows(self, data_cfg: Any, limit: int | None, seed: int, val_size: int, val_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Training rows at the current level: the same load and split as level 0 (so the held-out
        positions match), minus any question that is in the fixed validation rows."""
        from l2l.train.data import load_rows, split_rows

        rows = load_rows(self.data_config(data_cfg), limit=limit, seed=seed)
        train, _ = split_rows(rows, val_size, seed=seed)
        held = {r["question"] for r in val_rows}
        return [r for r in train if r["question"] not in held]

    # ------------------------------------------------------------------ checkpoint state

    def state_dict(self) -> dict[str, Any]:
        return {"level": self.level, "history": [list(h) for h in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.level = int(state.get("level", 0))
        self.history = [(int(lv), float(acc)) for lv, acc in state.get("history", [])]
