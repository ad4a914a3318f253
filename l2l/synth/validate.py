"""Check a proposed problem (self-play proposer output) before it joins the training pool.

A proposal is admitted only on the solver's word, never on text the proposer printed:
1. its formulation passes `l2l.types.Formulation.from_dict`;
2. the question is non-empty text, and the program parses and imports no source of
   nondeterminism (random, time, datetime, secrets, uuid);
3. running the program `runs` times through the one execution path
   (`l2l.pipeline.execute.run_programs`, with the prelude of the formulation's solver) gives a
   *certified* answer every time (`l2l.pipeline.execute.certified`: a prelude solver helper
   decided a unique model / one option / an entailed truth value / an optimum, no helper
   reported a contradiction or several solutions, and the answer was printed by `answer`);
4. every run gives the same answer, and with `options` the answer is one of the option letters.

The gold answer is what the solver printed. A program that prints `UNIQUE: yes` (the old
convention) or a constant answer without calling a solver helper is rejected. What is still
not checked: that the question text says what the program encodes; the proposer's
learnability reward (l2l.train.rewards.ProposerReward) pays only when the current solver
sometimes, not always, recovers the certified answer from the question alone.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

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


def _run(program: str, backend: str, runs: int, timeout_s: float) -> list[Any]:
    from l2l.pipeline.execute import ExecLimits, run_programs
    from l2l.types import Program

    return run_programs([Program(backend, program)] * runs, ExecLimits(timeout_s=timeout_s))


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
    from l2l.pipeline.execute import certified
    from l2l.types import Formulation, FormulationError

    try:
        parsed = Formulation.from_dict(formulation)
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

    results = _run(program, parsed.backend, runs, timeout_s)
    answers = []
    for i, res in enumerate(results):
        if res.status != "ok":
            detail = res.error or (res.stderr.strip().splitlines() or [""])[-1]
            return ProposalCheck(False, None, f"run {i + 1}: status {res.status}: {detail}".rstrip(": "))
        if not certified(res):
            return ProposalCheck(False, res.answer, f"run {i + 1}: the answer is not certified by a solver helper "
                                 "(solve/choose/truth/maximize/... then answer(...), with no failed solver call)")
        answers.append(res.answer)
    if len(set(answers)) != 1:
        return ProposalCheck(False, None, f"nondeterministic: runs gave different answers {answers}")
    answer = answers[0]
    if options:
        from l2l.data.answers import normalise_answer

        # `p.truth` prints True/False/Unknown, which maps onto the options as inference maps it.
        letters = [o.split(")", 1)[0].strip().strip("(") for o in options]
        mapped = normalise_answer(answer, options)
        if mapped not in letters:
            return ProposalCheck(False, answer, f"answer {answer!r} is not one of the option letters {letters}")
        answer = mapped
    return ProposalCheck(True, answer, "ok")
