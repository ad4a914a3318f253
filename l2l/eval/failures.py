"""Where a wrong prediction stopped, read from its predictions.jsonl record: the accuracy table's
"failures by stage", so a dataset that stays below `cot` can be explained from counts.

Stages in pipeline order; each wrong record gets the first one that applies:

| stage | meaning |
|---|---|
| `no_formulation` | l2l methods: the formulator gave no usable formulation |
| `no_program` | program methods: no code block came back (after the repair rounds) |
| `did_not_run` | the program failed: syntax or runtime error, timeout, memory, blocked |
| `no_unique_solution` | a solver helper found several solutions, none, or could not decide |
| `no_answer` | it ran but printed no answer, or one that maps onto no option; cot/direct: no answer line |
| `wrong_answer` | an answer, and the wrong one |

    >>> failure_stage({"method": "cot", "correct": False, "prediction": "B"})
    'wrong_answer'
    >>> failure_stage({"method": "l2l", "correct": False, "prediction": None, "formulation": None})
    'no_formulation'
"""

from __future__ import annotations

from typing import Any

STAGES: tuple[str, ...] = ("no_formulation", "no_program", "did_not_run", "no_unique_solution", "no_answer", "wrong_answer")
STAGE_LABELS: dict[str, str] = {
    "no_formulation": "no formulation",
    "no_program": "no program",
    "did_not_run": "program did not run",
    "no_unique_solution": "several/no solutions",
    "no_answer": "no answer",
    "wrong_answer": "wrong answer",
}
# Verdicts the prelude's solver helpers report when they could not decide a unique model
# (solvers/preludes/_record.py: verdict_of).
_UNDECIDED = frozenset({"several", "no_solution", "no_option", "neither_prove", "unknown", "unbounded"})
_FORMULATING = frozenset({"l2l", "l2l_vote"})


def failure_stage(record: dict[str, Any]) -> str | None:
    """The stage at which a prediction record failed (see STAGES); None when it is correct."""
    if record.get("correct"):
        return None
    if record.get("prediction") is not None:
        return "wrong_answer"
    method = record.get("method")
    if method not in _FORMULATING and method != "program":
        return "no_answer"
    if method in _FORMULATING and record.get("formulation") is None:
        return "no_formulation"
    if not record.get("program"):
        return "no_program"
    out = record.get("solver_output") or {}
    if _undecided(out):
        # Before "did not run": a helper that raises "several solutions" ends the program with a
        # runtime error, but the program itself was fine as Python.
        return "no_unique_solution"
    if out.get("status") in (None, "ok", "no_answer"):
        return "no_answer"
    return "did_not_run"


def _undecided(out: dict[str, Any]) -> bool:
    events = out.get("solver_events") or []
    if any(isinstance(e, dict) and e.get("ok") is False and e.get("verdict") in _UNDECIDED for e in events):
        return True
    # Records from programs that bypassed the helpers' record still say so in their error text.
    text = f"{out.get('error') or ''}\n{out.get('stderr') or ''}"
    return "PuzzleError" in text and ("several solutions" in text or "no solution" in text)


def failure_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    """Wrong records per stage, every stage present (0 where none failed there).

    >>> failure_counts([{"method": "cot", "correct": True}, {"method": "cot", "prediction": None}])["no_answer"]
    1
    """
    counts = dict.fromkeys(STAGES, 0)
    for r in records:
        stage = failure_stage(r)
        if stage is not None:
            counts[stage] += 1
    return counts


__all__ = ["STAGES", "STAGE_LABELS", "failure_counts", "failure_stage"]
