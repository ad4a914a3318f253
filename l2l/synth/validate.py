"""Check a proposed problem (self-play proposer output) before it joins the training pool.

A proposal is valid when
1. its formulation passes `l2l.types.Formulation.from_dict`;
2. the question is non-empty text, and the program parses and imports no source of
   nondeterminism (random, time, datetime, secrets, uuid);
3. running the program `runs` times through `solvers.execute` gives status "ok" every time,
   with exactly one ``ANSWER:`` line and exactly one ``UNIQUE: yes`` line (the uniqueness
   convention of `l2l.synth.base`: the program blocked its answer and re-checked to unsat,
   or tested every option and exactly one passed), and no ``UNIQUE: no``;
4. every run gives the same answer (deterministic), and with `options` the answer is one
   of the option letters.

What it cannot check: that the program's uniqueness test is honest. A program that prints
``UNIQUE: yes`` unconditionally passes; the proposer's reward (solve rate strictly between
0 and 1) is what discourages degenerate problems.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

UNIQUE_YES = "UNIQUE: yes"
NONDETERMINISTIC_MODULES = frozenset({"random", "time", "datetime", "secrets", "uuid"})


@dataclass
class ProposalCheck:
    """Outcome of `validate_proposal`: `answer` is the program's answer when it ran cleanly."""

    valid: bool
    answer: str | None
    reason: str


def _static_problem(program: str) -> str | None:
    try:
        tree = ast.parse(program)
    except SyntaxError as e:
        return f"program has a syntax error: {e.msg} (line {e.lineno})"
    for node in ast.walk(tree):
        mods: list[str] = []
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            mods = [node.module]
        for m in mods:
            if m.split(".")[0] in NONDETERMINISTIC_MODULES:
                return f"program imports {m!r}: nondeterministic programs are not allowed"
    return None


def _run(program: str, runs: int, timeout_s: float) -> list[Any]:
    from solvers import execute, execute_many

    if runs == 1:
        return [execute(program, timeout_s=timeout_s)]
    return list(execute_many([program] * runs, timeout_s=timeout_s))


def validate_proposal(
    formulation: dict,
    program: str,
    question: str,
    *,
    options: list[str] | None = None,
    runs: int = 2,
    timeout_s: float = 10.0,
) -> ProposalCheck:
    """Run the checks above; never raises on bad proposals, it reports them in `reason`.

    >>> from l2l.synth import generate_records
    >>> r = generate_records("syllogism", 1, seed=0)[0]
    >>> validate_proposal(r.formulation, r.program, r.question, options=r.options).valid  # doctest: +SKIP
    True
    """
    from l2l.types import Formulation, FormulationError

    try:
        Formulation.from_dict(formulation)
    except FormulationError as e:
        return ProposalCheck(False, None, f"formulation: {e}")
    if not isinstance(question, str) or not question.strip():
        return ProposalCheck(False, None, "question is empty")
    if not isinstance(program, str) or not program.strip():
        return ProposalCheck(False, None, "program is empty")
    if runs < 1:
        return ProposalCheck(False, None, f"runs must be >= 1, got {runs}")
    problem = _static_problem(program)
    if problem:
        return ProposalCheck(False, None, problem)

    results = _run(program, runs, timeout_s)
    answers = []
    for i, res in enumerate(results):
        if res.status != "ok":
            detail = res.error or (res.stderr.strip().splitlines() or [""])[-1]
            return ProposalCheck(False, None, f"run {i + 1}: status {res.status}: {detail}".rstrip(": "))
        lines = [ln.strip() for ln in res.stdout.splitlines()]
        n_answers = sum(1 for ln in lines if ln.startswith("ANSWER:"))
        if n_answers != 1:
            return ProposalCheck(False, res.answer, f"run {i + 1}: printed {n_answers} ANSWER lines, expected exactly one")
        if any(ln.startswith("UNIQUE:") and ln != UNIQUE_YES for ln in lines):
            return ProposalCheck(False, res.answer, f"run {i + 1}: the program found several solutions (UNIQUE: no)")
        if sum(1 for ln in lines if ln == UNIQUE_YES) != 1:
            return ProposalCheck(False, res.answer, f"run {i + 1}: no '{UNIQUE_YES}' line: the program must prove its answer is unique")
        answers.append(res.answer)
    if len(set(answers)) != 1:
        return ProposalCheck(False, None, f"nondeterministic: runs gave different answers {answers}")
    answer = answers[0]
    if options:
        letters = [o.split(")", 1)[0].strip().strip("(") for o in options]
        if answer not in letters:
            return ProposalCheck(False, answer, f"answer {answer!r} is not one of the option letters {letters}")
    return ProposalCheck(True, answer, "ok")
