"""Reward functions for bi-level GRPO, with TRL's reward signature.

Every reward is a callable `fn(prompts, completions, **kwargs) -> list[float | None]`; dataset
columns (`answer`, `options`, `question`, `formulation`, ...) arrive as keyword arguments, one
value per completion. Parametrised rewards are small classes so they pickle (TRL and accelerate
may ship them to other processes).

Nothing here re-implements the inference path: programs are pulled out of completions by
`l2l.parsing.extract_program`, formulations by `l2l.parsing.parse_formulation`, run by
`l2l.pipeline.execute.run_programs` (the prelude of the row's solver backend, the inference
limits), judged by `l2l.pipeline.execute.certified` and compared with the gold answer by
`l2l.data.is_correct`.

    >>> r = GeneratorReward(correct=1.0, executes=0.1, well_formed=0.05)
    >>> r(["q"], ["```python\\np = Puzzle(); x = p.Int('x', 0, 9); p.add(x * 2 == 8)\\nanswer(p.solve()[x])\\n```"],
    ...   answer=["4"], backend=["z3"])  # doctest: +SKIP
    [1.15]
    >>> r(["q"], ["```python\\nprint('ANSWER: 4')\\n```"], answer=["4"], backend=["z3"])  # doctest: +SKIP
    [0.05]
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
    "generator_reward",
    "formulator_reward",
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


def _programs(texts: Sequence[str], backends: Sequence[str]) -> list[Any]:
    """`Program`s pulled out of completions the way inference does (`extract_program`); None
    where a completion holds no program."""
    from l2l.parsing import extract_program
    from l2l.types import Program

    out: list[Any] = []
    for t, b in zip(texts, backends):
        try:
            out.append(Program(str(b or "z3"), extract_program(t)))
        except ValueError:
            out.append(None)
    return out


def _correct(result: Any, gold: Any, options: list[str] | None) -> bool:
    """A certified answer (see `l2l.pipeline.execute.certified`) that equals the gold answer."""
    from l2l.data import is_correct
    from l2l.pipeline.execute import certified

    if gold is None or not certified(result):
        return False
    return bool(is_correct(result.answer, str(gold), options))


def _count_runs(stats: dict[str, int], results: list[Any]) -> None:
    """Add the results to a reward's run counts: `ran` for programs that ran as the model wrote them,
    `fixed` for those that ran only after a program fix (`pipeline.fix_programs`)."""
    from l2l.pipeline.execute import ran_as_written

    for r in results:
        if ran_as_written(r):
            stats["ran"] += 1
        elif r is not None and r.ok:
            stats["fixed"] += 1


def _limits(limits: Any) -> Any:
    from l2l.pipeline.execute import ExecLimits

    return limits if limits is not None else ExecLimits()


@dataclass
class GeneratorReward:
    """Generator reward: `correct` for a correct certified answer, plus shaping.

    Only answers that came out of the prelude's solver helpers count (`certified`): `executes`
    is paid when the program ran to a certified answer, `correct` when that answer is also
    right, `well_formed` when a program could be extracted at all. So an honest program that
    fails earns `well_formed`, and so does a program that prints a constant letter, every
    option or `UNIQUE: yes`, whether or not the letter happens to be right: guessing never
    beats trying. Programs run through `l2l.pipeline.execute.run_programs` with the prelude of
    the row's `backend` column (the formulation's solver), as inference runs them.
    """

    correct: float = 1.0
    executes: float = 0.1
    well_formed: float = 0.05
    limits: Any = None  # ExecLimits; None: the defaults
    __name__: str = field(default="generator_reward", repr=False)
    # Running counts since the last `reset_stats()`, read by the loop for logging.
    stats: dict[str, int] = field(
        default_factory=lambda: {"programs": 0, "extracted": 0, "ran": 0, "fixed": 0, "certified": 0, "correct": 0}, repr=False)

    def reset_stats(self) -> None:
        self.stats = {k: 0 for k in self.stats}

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        from l2l.pipeline.execute import certified, run_programs

        n = len(completions)
        programs = _programs([completion_text(c) for c in completions], _column(kwargs, "backend", n, "z3"))
        results = run_programs(programs, _limits(self.limits))
        golds = _column(kwargs, "answer", n)
        options = _column(kwargs, "options", n)
        scores: list[float | None] = []
        for prog, res, gold, opts in zip(programs, results, golds, options):
            s = 0.0
            self.stats["programs"] += 1
            if prog is not None:
                s += self.well_formed
                self.stats["extracted"] += 1
            _count_runs(self.stats, [res])
            if certified(res):
                s += self.executes
                self.stats["certified"] += 1
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
    built from question + formulation, run them with the formulation's solver prelude and
    reward `valid` + `executes` x (share of the m programs that reached a certified answer) +
    `correct` x (share that reached the gold answer). The `executes` term keeps groups from
    being flat while the generator is rarely right: a formulation the generator can turn into
    a program that solves *something* beats one it cannot. Unparseable formulations get 0.
    """

    generator: Any = None  # ChatBackend; set by the loop (not pickled across processes: see bilevel.py)
    m: int = 2
    correct: float = 1.0
    valid: float = 0.1
    executes: float = 0.2
    temperature: float = 0.8
    max_tokens: int = 256
    limits: Any = None  # ExecLimits; None: the defaults
    __name__: str = field(default="formulator_reward", repr=False)
    # Running counts since the last `reset_stats()`, read by the loop for logging.
    stats: dict[str, int] = field(
        default_factory=lambda: {"formulations": 0, "valid": 0, "programs": 0, "ran": 0, "fixed": 0,
                                 "certified": 0, "correct": 0},
        repr=False,
    )

    def reset_stats(self) -> None:
        self.stats = {k: 0 for k in self.stats}

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        from l2l.backends.base import GenerationParams
        from l2l.parsing import parse_formulation
        from l2l.pipeline.execute import certified, run_programs
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
        per_item: list[list[Any] | None] = []
        flat: list[Any] = []
        for f in formulations:
            if f is None:
                per_item.append(None)
                continue
            texts = [c.text for c in next(sampled)]
            progs = _programs(texts, [f.backend] * len(texts))
            per_item.append(progs)
            flat.extend(progs)
        flat_results = iter(run_programs(flat, _limits(self.limits)))
        scores: list[float | None] = []
        self.stats["formulations"] += n
        for progs, gold, opts in zip(per_item, golds, options):
            if progs is None:
                scores.append(0.0)
                continue
            results = [next(flat_results) for _ in progs]
            hits = [_correct(r, gold, _options(opts)) for r in results]
            solved = [certified(r) for r in results]
            self.stats["valid"] += 1
            self.stats["programs"] += len(results)
            _count_runs(self.stats, results)
            self.stats["certified"] += sum(solved)
            self.stats["correct"] += sum(hits)
            k = len(results) or 1
            scores.append(self.valid + self.executes * sum(solved) / k + self.correct * sum(hits) / k)
        return scores


def generator_reward(cfg: Any) -> GeneratorReward:
    """The generator reward of a composed training config (conf/train.yaml + experiment)."""
    from l2l.pipeline.execute import ExecLimits

    r = cfg.rewards.generator
    return GeneratorReward(correct=float(r.correct), executes=float(r.executes), well_formed=float(r.well_formed),
                           limits=ExecLimits.from_config(cfg.pipeline, cfg.get("executor")))


def formulator_reward(cfg: Any, generator: Any, max_tokens: int) -> FormulatorReward:
    """The formulator reward of a composed training config, scored against `generator`."""
    from l2l.pipeline.execute import ExecLimits

    r = cfg.rewards.formulator
    return FormulatorReward(generator=generator, m=int(r.m), correct=float(r.correct), valid=float(r.valid),
                            executes=float(r.get("executes", 0.0)), temperature=float(r.temperature),
                            max_tokens=int(max_tokens), limits=ExecLimits.from_config(cfg.pipeline, cfg.get("executor")))


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
    """Self-play proposer reward: validate the proposal with `l2l.synth.validate_proposal` (the
    sandboxed solver must certify a unique answer, which becomes the gold), then measure the
    current solver's success rate `s` over `attempts` tries and reward learnability.

    `solver` is a callable `solver(question, options, n) -> list[str | None]` (n predicted answers
    from the current formulator+generator pipeline). Only certified proposals earn anything, and
    only those with 0 < s < 1 join `pool` (dicts with question/options/answer/formulation/program/
    solve_rate), the solver's training set: s = 0 may mean the question does not say what the
    program encodes (arbitrary gold), s = 1 teaches nothing.
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
        valid = admitted = 0
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
            if learnability(s) > 0:
                admitted += 1
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
        self.last_stats = {"proposals": len(completions), "valid": valid, "admitted": admitted, "solve_rates": rates}
        return scores


# One registry for the rewards the config may name.
REWARDS: dict[str, type] = {
    "generator": GeneratorReward,
    "formulator": FormulatorReward,
    "proposer": ProposerReward,
}
