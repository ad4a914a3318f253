"""Procedural puzzle families with solver-verified, unique answers (issue 6).

    >>> from l2l.synth import FAMILIES, generate_records
    >>> recs = generate_records("ordering", 2, seed=0, objects=3)
    >>> recs[0].answer in "ABC", recs[0].options is not None
    (True, True)

Every record carries gold in the prompts' own format (`l2l.synth.base`): a five-field
formulation with one ``formula # statement`` constraint per statement, and a program for the
formulation's backend that uses the prelude helpers and prints its answer with ``answer(...)``.
Most families' gold is z3; `arithmetic` is sympy ("symbolic") and `matching` is
python-constraint ("matching"), so every solver the prompts offer has gold. Every answer is
verified unique by z3 at generation time. `validate_proposal` checks a proposed problem.
Importing this package is cheap; z3 is imported when a puzzle is generated.
"""

from __future__ import annotations

from typing import Any, Iterator

from l2l.errors import InputError
from l2l.synth.arithmetic import Arithmetic
from l2l.synth.base import Family, GenerationError, PuzzleRecord, make_rng
from l2l.synth.grouping import Grouping
from l2l.synth.knights_knaves import KnightsKnaves
from l2l.synth.matching import Matching
from l2l.synth.optimisation import Optimisation
from l2l.synth.ordering import Ordering
from l2l.synth.rules_negation import RulesNegation
from l2l.synth.syllogism import Syllogism
from l2l.synth.temporal import Temporal
from l2l.synth.validate import ProposalCheck, validate_proposal

# One registry of puzzle families: name -> Family instance.
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (KnightsKnaves(), Ordering(), Grouping(), Syllogism(), RulesNegation(), Temporal(), Optimisation(), Arithmetic(), Matching())
}


def get_family(name: str) -> Family:
    """The family called `name`; an InputError listing the valid names otherwise."""
    if name not in FAMILIES:
        raise InputError(f"unknown puzzle family {name!r}; valid: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def iter_records(family: str, n: int, seed: int, **difficulty: Any) -> Iterator[PuzzleRecord]:
    """Yield `n` records lazily (for progress bars); same arguments, same records."""
    fam = get_family(family)
    if not isinstance(n, int) or n < 0:
        raise InputError(f"n must be a non-negative integer, got {n!r}")
    for i in range(n):
        rec = fam.generate(make_rng(family, seed, i), **difficulty)
        rec.id = f"{family}-s{seed}-{i:05d}"
        rec.family = family
        yield rec


def generate_records(family: str, n: int, seed: int, **difficulty: Any) -> list[PuzzleRecord]:
    """Generate `n` solver-verified puzzles of `family`; deterministic for the same seed.

    Knobs left out of `difficulty` are sampled per record from the family's ranges.
    """
    return list(iter_records(family, n, seed, **difficulty))


__all__ = [
    "FAMILIES",
    "Family",
    "GenerationError",
    "ProposalCheck",
    "PuzzleRecord",
    "generate_records",
    "get_family",
    "iter_records",
    "validate_proposal",
]
