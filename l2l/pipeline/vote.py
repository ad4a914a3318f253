"""Self-consistency: a plurality vote over executed answers that says when voters disagree."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass
class Vote:
    answer: str | None
    counts: dict[str, int]
    status: str  # "solved" (all answered candidates agree), "disagreement", "no_answer"

    @property
    def top_count(self) -> int:
        return self.counts.get(self.answer, 0) if self.answer is not None else 0


def vote(answers: list[str | None]) -> Vote:
    """Plurality over non-None answers; ties go to the answer that appeared first.

    >>> vote(["B", None, "A", "B"]).answer, vote(["B", "A", "B"]).status
    ('B', 'disagreement')
    """
    given = [a for a in answers if a is not None]
    if not given:
        return Vote(None, {}, "no_answer")
    counts = Counter(given)
    first_seen = {a: i for i, a in reversed(list(enumerate(given)))}
    winner = max(counts, key=lambda a: (counts[a], -first_seen[a]))
    status = "solved" if len(counts) == 1 else "disagreement"
    return Vote(winner, dict(counts), status)
