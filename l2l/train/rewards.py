"""Reward functions for bi-level GRPO, with TRL's reward signature.

Every reward is a callable `fn(prompts, completions, **kwargs) -> list[float | None]`; dataset
columns (`answer`, `options`, `question`, `formulation`, ...) arrive as keyword arguments, one
value per completion. Parametrised rewards are small classes so they pickle (TRL and accelerate
may ship them to other processes).

Nothing here re-implements the inference path: programs are pulled out of completions by
`l2l.parsing.extract_program`, formulations by `l2l.parsing.parse_formulation`, run by
`solvers.execute_many`, and compared with the gold answer by `l2l.data.is_correct`.

    >>> r = GeneratorReward(correct=1.0, executes=0.1, well_formed=0.05)
    >>> r(["q"], ["```python\\nprint('ANSWER: 4')\\n```"], answer=["4"])  # doctest: +SKIP
    [1.15]
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "completion_text",
    "GeneratorReward",
    "FormulatorReward",
    "ProposerReward",
    "Proposal",
    "parse_proposal",
    "learnability",
    "REWARDS",
]


def completion_text(completion: Any) -> str:
    """The text of one TRL completion: plain string (standard format) or a list of messages
    (conversational format: the assistant turn(s) are concatenated)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    if isinstance(completion, (list, tuple)):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def _column(kwargs: dict[str, Any], name: str, n: int, default: Any = None) -> list[Any]:
    """One value per completion for dataset column `name` (TRL passes columns as lists)."""
    value = kwargs.get(name)
    if value is None:
        return [default] * n
    if isinstance(value, (list, tuple)) and len(value) == n:
        return list(value)
    return [value] * n


def _options(value: Any) -> list[str] | None:
    # Datasets store "no options" as None or []; `is_correct` wants None for free-form answers.
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return list(value) or None


def _programs(texts: Sequence[str]) -> list[str | None]:
    from l2l.parsing import extract_program

    out: list[str | None] = []
    for t in texts:
        try:
            out.append(extract_program(t))
        except ValueError:
            out.append(None)
    return out


def _execute(programs: Sequence[str | None], timeout_s: float, backend: str | None) -> list[Any]:
    """Run the extractable programs in one batch through the shared sandbox; None stays None."""
    from solvers import execute_many

    idx = [i for i, p in enumerate(programs) if p]
    results: list[Any] = [None] * len(programs)
    if idx:
        kw: dict[str, Any] = {"timeout_s": timeout_s}
        if backend:
            kw["backend"] = backend
        for i, res in zip(idx, execute_many([programs[i] for i in idx], **kw)):
            results[i] = res
    return results


def _correct(result: Any, gold: Any, options: list[str] | None) -> bool:
    from l2l.data import is_correct

    if result is None or not result.ok or result.answer is None or gold is None:
        return False
    return bool(is_correct(result.answer, str(gold), options))


@dataclass
class GeneratorReward:
    """Generator reward: `correct` for a correct executed answer, plus shaping.

    shaping: `executes` when the program runs and prints an `ANSWER:` line, `well_formed` when
    a program can be extracted at all. The sum for a correct program is correct+executes+well_formed.
    """

    correct: float = 1.0
    executes: float = 0.1
    well_formed: float = 0.05
    timeout_s: float = 10.0
    backend: str | None = None
    __name__: str = field(default="generator_reward", repr=False)
    # Running counts since the last `reset_stats()`, read by the loop for logging.
    stats: dict[str, int] = field(default_factory=lambda: {"programs": 0, "extracted": 0, "ran": 0, "correct": 0}, repr=False)

    def reset_stats(self) -> None:
        self.stats = {k: 0 for k in self.stats}

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        n = len(completions)
        programs = _programs([completion_text(c) for c in completions])
        results = _execute(programs, self.timeout_s, self.backend)
        golds = _column(kwargs, "answer", n)
        options = _column(kwargs, "options", n)
        scores: list[float | None] = []
        for prog, res, gold, opts in zip(programs, results, golds, options):
            s = 0.0
            self.stats["programs"] += 1
            if prog:
                s += self.well_formed
                self.stats["extracted"] += 1
            if res is not None and res.ok:
                s += self.executes
                self.stats["ran"] += 1
            if _correct(res, gold, _options(opts)):
                s += self.correct
                self.stats["correct"] += 1
            scores.append(s)
        return scores


@dataclass
class FormulatorReward:
    """The bi-level reward: how well the *current* generator does on each sampled formulation.

    For each completion, parse the formulation; if it parses, ask `generator` (a ChatBackend
    wrapping the live generator policy, see `l2l.train.policies.PolicyBackend`) for `m` programs
    built from question + formulation, execute them and reward the mean correctness, plus
    `valid` for a formulation that parses. Unparseable formulations get 0.
    """

    generator: Any = None  # ChatBackend; set by the loop (not pickled across processes: see bilevel.py)
    m: int = 2
    correct: float = 1.0
    valid: float = 0.1
    temperature: float = 0.8
    max_tokens: int = 256
    timeout_s: float = 10.0
    backend: str | None = None
    __name__: str = field(default="formulator_reward", repr=False)
    # Running counts since the last `reset_stats()`, read by the loop for logging.
    stats: dict[str, int] = field(
        default_factory=lambda: {"formulations": 0, "valid": 0, "programs": 0, "ran": 0, "correct": 0}, repr=False
    )

    def reset_stats(self) -> None:
        self.stats = {k: 0 for k in self.stats}

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        from l2l.backends.base import GenerationParams
        from l2l.parsing import parse_formulation
        from l2l.prompts import generator_messages

        if self.generator is None:
            raise RuntimeError("FormulatorReward.generator is not set: the loop must attach the generator policy")
        n = len(completions)
        questions = _column(kwargs, "question", n, "")
        golds = _column(kwargs, "answer", n)
        options = _column(kwargs, "options", n)
        formulations: list[Any] = []
        for c in completions:
            try:
                formulations.append(parse_formulation(completion_text(c)))
            except ValueError:  # FormulationError is a ValueError
                formulations.append(None)
        convs = [
            generator_messages(q, f, _options(o)) for q, f, o in zip(questions, formulations, options) if f is not None
        ]
        params = GenerationParams(max_tokens=self.max_tokens, temperature=self.temperature, n=self.m)
        sampled = iter(self.generator.chat_batch(convs, params) if convs else [])
        # Flatten all m*k programs into one executor batch: the sandbox pool runs them in parallel.
        per_item: list[list[str | None] | None] = []
        flat: list[str | None] = []
        for f in formulations:
            if f is None:
                per_item.append(None)
                continue
            progs = _programs([c.text for c in next(sampled)])
            per_item.append(progs)
            flat.extend(progs)
        flat_results = iter(_execute(flat, self.timeout_s, self.backend))
        scores: list[float | None] = []
        self.stats["formulations"] += n
        for progs, gold, opts in zip(per_item, golds, options):
            if progs is None:
                scores.append(0.0)
                continue
            results = [next(flat_results) for _ in progs]
            hits = [_correct(r, gold, _options(opts)) for r in results]
            self.stats["valid"] += 1
            self.stats["programs"] += len(results)
            self.stats["ran"] += sum(1 for r in results if r is not None and r.ok)
            self.stats["correct"] += sum(hits)
            mean = sum(hits) / len(hits) if hits else 0.0
            scores.append(self.valid + self.correct * mean)
        return scores


# ---------------------------------------------------------------- self-play proposer


@dataclass
class Proposal:
    """A problem the proposer wrote: natural-language text, options, formulation and gold program."""

    question: str
    formulation: dict[str, Any]
    program: str
    options: list[str] | None = None


_JSON_BLOCK = re.compile(r"\{.*\}", re.S)


def parse_proposal(text: str) -> Proposal:
    """Parse a proposer completion: one JSON object with `question`, `formulation`, `program`
    (and optional `options`). Raises ValueError with the reason."""
    m = _JSON_BLOCK.search(text)
    if not m:
        raise ValueError("no JSON object in the proposal")
    try:
        obj = json.loads(m.group(0))
    except ValueError as e:
        raise ValueError(f"proposal is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError("proposal must be a JSON object")
    q, f, p = obj.get("question"), obj.get("formulation"), obj.get("program")
    if not isinstance(q, str) or not q.strip():
        raise ValueError("proposal.question must be a non-empty string")
    if not isinstance(f, dict):
        raise ValueError("proposal.formulation must be an object")
    if not isinstance(p, str) or not p.strip():
        raise ValueError("proposal.program must be a non-empty string")
    opts = obj.get("options")
    return Proposal(question=q.strip(), formulation=f, program=p, options=list(opts) if opts else None)


def learnability(success_rate: float) -> float:
    """Absolute-Zero style proposer reward: 1 - s when 0 < s < 1, else 0 (trivial or impossible)."""
    return 1.0 - success_rate if 0.0 < success_rate < 1.0 else 0.0


@dataclass
class ProposerReward:
    """Self-play proposer reward: validate the proposal with `l2l.synth.validate_proposal`, then
    measure the current solver's success rate `s` over `attempts` tries and reward learnability.

    `solver` is a callable `solver(question, options, n) -> list[str | None]` (n predicted answers
    from the current formulator+generator pipeline). Valid proposals are appended to `pool` (dicts
    with question/options/answer/formulation/program/solve_rate) for the solver's training set.
    """

    solver: Any = None
    attempts: int = 2
    __name__: str = field(default="proposer_reward", repr=False)
    pool: list[dict[str, Any]] = field(default_factory=list, repr=False)
    last_stats: dict[str, Any] = field(default_factory=dict, repr=False)

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        from l2l.data import is_correct
        from l2l.synth import validate_proposal

        families = _column(kwargs, "family", len(completions), "")
        scores: list[float | None] = []
        valid = 0
        rates: list[float] = []
        for c, fam in zip(completions, families):
            try:
                prop = parse_proposal(completion_text(c))
                check = validate_proposal(prop.formulation, prop.program, prop.question, options=prop.options)
            except ValueError:
                scores.append(0.0)
                continue
            if not check.valid:
                scores.append(0.0)
                continue
            valid += 1
            preds = self.solver(prop.question, prop.options, self.attempts) if self.solver else []
            hits = [p is not None and is_correct(p, str(check.answer), prop.options) for p in preds]
            s = sum(hits) / len(hits) if hits else 0.0
            rates.append(s)
            self.pool.append(
                {
                    "id": f"selfplay-{len(self.pool)}",
                    "question": prop.question,
                    "options": prop.options,
                    "answer": str(check.answer),
                    "formulation": json.dumps(prop.formulation),
                    "program": prop.program,
                    "family": fam,
                    "solve_rate": s,
                }
            )
            scores.append(learnability(s))
        self.last_stats = {"proposals": len(completions), "valid": valid, "solve_rates": rates}
        return scores


# One registry for the rewards the config may name.
REWARDS: dict[str, type] = {
    "generator": GeneratorReward,
    "formulator": FormulatorReward,
    "proposer": ProposerReward,
}
