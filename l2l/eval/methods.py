"""The reasoning methods `l2l eval` compares, one registry: `METHODS[name].run(example, ctx)`.

| method | what the model does | answer comes from |
|---|---|---|
| `direct` | answers at once | the "Answer:" line |
| `cot` | reasons step by step | the last "Answer:" line |
| `program` | writes one solver program from the question (Logic-LM / PAL) | the program's `ANSWER:` line |
| `l2l` | formulates, then writes a program from the formulation | the executed program (l2l.pipeline) |
| `l2l_vote` | `l2l` with k samples and a vote (self-consistency) | the plurality answer |

`program` gets the same helpers, worked-example style, repair rounds, repair hints
(`l2l.pipeline.solve.repair_feedback`) and answer mapping as `l2l`; the differences are the
formulation stage and what comes with it (the solver library chosen by the formulation's model
type, where `program` always writes z3; the coverage and off-model checks that need a
formulation), so the comparison measures that stage. A failed program
is a failed prediction: the optional `cot` fallback is applied by the runner and reported
separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from l2l.backends.base import ChatBackend, GenerationParams, Message
from l2l.config import SolveConfig
from l2l.data.answers import normalise_answer
from l2l.data.example import Example
from l2l.types import Completion, Program, add_usage, usage_of

# Runs programs, several at once where it can: list of Programs -> list of ExecutionResults.
Executor = Callable[[list[Program], SolveConfig], list[Any]]


@dataclass
class Prediction:
    """What one method produced for one example (one line of predictions.jsonl, minus the gold)."""

    prediction: str | None  # normalised: option letter, True/False, number string, ...
    raw: str = ""  # the model's final text (for l2l: the winning program's stdout answer)
    # The answer as the method read it, before normalisation (cot's final line, the program's
    # printed answer): the runner scores this text so it can record which matching rule read it.
    answer_text: str | None = None
    status: str = "no_answer"
    formulation: dict[str, Any] | None = None
    program: str | None = None
    solver_output: dict[str, Any] | None = None  # ExecutionResult.to_dict() of the answer's program
    executed: bool | None = None  # a program ran and printed an answer; None for methods without programs
    timings: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Model calls, prompt and generated tokens and model seconds per stage (l2l.types.STAGES for
    # l2l; "answer" for direct and cot; "program" and "repair" for program).
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalContext:
    """What every method needs: the model(s), the pipeline settings and the executor."""

    backend: ChatBackend
    config: SolveConfig = field(default_factory=SolveConfig)
    generator: ChatBackend | None = None  # separate generator model for l2l (None: same as backend)
    samples: int = 5  # l2l_vote: candidates (formulations) per question
    solver_backend: str = "z3"  # solver library the one-stage `program` baseline writes for
    direct_max_tokens: int = 48
    cot_max_tokens: int = 768
    executor: Executor | None = None  # None: solvers.execute_many

    def run_programs(self, programs: list[Program]) -> list[Any]:
        return (self.executor or default_executor)(programs, self.config)


def default_executor(programs: list[Program], config: SolveConfig) -> list[Any]:
    """Run programs in parallel through the sandboxed executor's worker pool (the one path)."""
    from l2l.pipeline.execute import ExecLimits, run_programs

    return run_programs(programs, ExecLimits.from_config(config))


def _deadline(ctx: EvalContext, items: int) -> float | None:
    """When a batch of `items` examples must end under `config.time_budget_s` (per example)."""
    budget = ctx.config.time_budget_s
    return None if budget is None else time.monotonic() + float(budget) * max(1, items)


def _usage(completions: list[Completion]) -> tuple[dict[str, float], dict[str, int]]:
    return (
        {"llm": sum(c.elapsed_s for c in completions)},
        {"prompt": sum(c.prompt_tokens for c in completions), "completion": sum(c.completion_tokens for c in completions)},
    )


def _add(acc: dict, more: dict) -> None:
    for k, v in more.items():
        acc[k] = acc.get(k, 0) + v


class Method:
    """A reasoning method. Subclasses implement `run_batch`; `run` is the one-example case."""

    name = "base"
    uses_programs = False  # counts towards exec_rate, and may fall back to cot
    batches = False  # decodes a batch's examples together (`l2l eval --batch-size`, chat_batch)
    # Runs `--batch-size` examples at once, one thread each, their model calls decoded together
    # (l2l.backends.gather): for methods whose examples go through different stages at once.
    concurrent = False
    # The pipeline settings (SolveConfig) its answers depend on, which an output folder's identity
    # records (None: all of them). A method that reads few lists them, so a changed program-pipeline
    # default does not orphan its half-finished table cells.
    config_keys: tuple[str, ...] | None = None

    def run(self, example: Example, ctx: EvalContext) -> Prediction:
        return self.run_batch([example], ctx)[0]

    def run_batch(self, examples: list[Example], ctx: EvalContext) -> list[Prediction]:
        raise NotImplementedError


class _AnswerMethod(Method):
    """Prompt -> completion -> final-answer line (direct and cot); batched through chat_batch."""

    batches = True
    config_keys = ("seed", "repeat_penalty", "time_budget_s")  # what params() and _deadline read

    def messages(self, example: Example) -> list[Message]:
        raise NotImplementedError

    def params(self, ctx: EvalContext) -> GenerationParams:
        raise NotImplementedError

    def run_batch(self, examples: list[Example], ctx: EvalContext) -> list[Prediction]:
        from l2l.parsing import extract_final_answer

        t = time.perf_counter()
        params = replace(self.params(ctx), deadline=_deadline(ctx, len(examples)))
        outs = ctx.backend.chat_batch([self.messages(e) for e in examples], params)
        wall = (time.perf_counter() - t) / max(1, len(examples))
        preds = []
        for e, completions in zip(examples, outs):
            text = completions[0].text if completions else ""
            final = extract_final_answer(text)
            answer = normalise_answer(final, e.options) if final is not None else None
            timings, tokens = _usage(completions)
            timings["total"] = wall
            status = "answered" if answer is not None else ("unmapped" if final else "no_answer")
            preds.append(Prediction(answer, raw=text, answer_text=final, status=status, timings=timings, tokens=tokens,
                                    extra={"final_line": final}, usage=usage_of(completions, "answer")))
        return preds


class DirectMethod(_AnswerMethod):
    name = "direct"

    def messages(self, example: Example) -> list[Message]:
        from l2l.prompts import direct_messages

        return direct_messages(example.question, example.options)

    def params(self, ctx: EvalContext) -> GenerationParams:
        return GenerationParams(max_tokens=ctx.direct_max_tokens, temperature=0.0, seed=ctx.config.seed,
                                repeat_penalty=ctx.config.repeat_penalty)


class CotMethod(_AnswerMethod):
    name = "cot"

    def messages(self, example: Example) -> list[Message]:
        from l2l.prompts import cot_messages

        return cot_messages(example.question, example.options)

    def params(self, ctx: EvalContext) -> GenerationParams:
        return GenerationParams(max_tokens=ctx.cot_max_tokens, temperature=0.0, seed=ctx.config.seed,
                                repeat_penalty=ctx.config.repeat_penalty)


@dataclass
class _ProgramState:
    """One example's program attempt across repair rounds."""

    messages: list[Message]
    program: Program | None = None
    raw: str = ""
    execution: Any = None
    answer: str | None = None
    error: str | None = None  # recorded in the prediction
    feedback: str | None = None  # what the repair round tells the model (the pipeline's hints)
    repairs: int = 0
    example_turns: int = 2  # messages after the system prompt holding the worked example
    timings: dict[str, float] = field(default_factory=lambda: {"generation": 0.0, "execution": 0.0, "llm": 0.0})
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)


class ProgramMethod(Method):
    """One stage: question -> solver program -> sandbox, with the pipeline's repair rounds.

    Generation is batched (chat_batch) and the programs of a batch run in parallel."""

    name = "program"
    uses_programs = True
    batches = True

    def run_batch(self, examples: list[Example], ctx: EvalContext) -> list[Prediction]:
        from l2l.prompts import program_messages

        c = ctx.config
        states = [_ProgramState(program_messages(e.question, e.options, ctx.solver_backend)) for e in examples]
        params = GenerationParams(max_tokens=c.program_max_tokens, temperature=0.0, seed=c.seed, repeat_penalty=c.repeat_penalty,
                                  deadline=_deadline(ctx, len(examples)))
        pending = list(range(len(examples)))
        for round_ in range(c.repair_rounds + 1):
            if not pending or (round_ > 0 and params.expired()):
                break
            self._generate([states[i] for i in pending], ctx, params, repair=round_ > 0)
            self._execute([states[i] for i in pending], [examples[i] for i in pending], ctx)
            pending = [i for i in pending if states[i].answer is None]
        return [self._prediction(s) for s in states]

    def _generate(self, states: list[_ProgramState], ctx: EvalContext, params: GenerationParams, repair: bool) -> None:
        from l2l.parsing import extract_program
        from l2l.prompts import repair_messages

        for s in states:
            if repair:
                s.repairs += 1
                history = s.messages
                if not ctx.config.repair_with_example and s.example_turns:
                    # As l2l's repair_program: without the example the repair cannot copy its names.
                    history, s.example_turns = history[:1] + history[1 + s.example_turns:], 0
                code = s.program.code if s.program else s.raw
                s.messages = repair_messages(history, code, s.feedback or s.error or "no answer")
        t = time.perf_counter()
        outs = ctx.backend.chat_batch([s.messages for s in states], params)
        wall = (time.perf_counter() - t) / max(1, len(states))
        for s, completions in zip(states, outs):
            s.raw = completions[0].text if completions else ""
            timings, tokens = _usage(completions)
            s.timings["generation"] += wall
            _add(s.timings, timings)
            _add(s.tokens, tokens)
            add_usage(s.usage, usage_of(completions, "repair" if repair else "program"))
            try:
                s.program = Program(ctx.solver_backend, extract_program(s.raw))
                s.error = None
            except ValueError as e:
                s.program, s.error = None, f"generator: {e}"
            s.feedback = s.error

    def _execute(self, states: list[_ProgramState], examples: list[Example], ctx: EvalContext) -> None:
        from l2l.pipeline.solve import repair_feedback

        runnable = [(s, e) for s, e in zip(states, examples) if s.program is not None]
        if not runnable:
            return
        t = time.perf_counter()
        results = ctx.run_programs([s.program for s, _ in runnable])
        wall = (time.perf_counter() - t) / len(runnable)
        for (s, e), r in zip(runnable, results):
            s.execution = r
            s.timings["execution"] += wall
            if r.ok:
                s.answer = normalise_answer(r.answer, e.options)
                s.error = None if s.answer is not None else f"the program's answer {r.answer!r} matches no option"
                s.feedback = s.error
            else:
                s.answer = None
                s.error = f"{r.status}: {r.error or (r.stderr or '')[-500:]}"
                # The same hints l2l's repair gets (undeclared names, spaced names, no answer(...)).
                s.feedback = repair_feedback(r, s.program.code)

    @staticmethod
    def _prediction(s: _ProgramState) -> Prediction:
        ex = s.execution
        if s.answer is not None:
            status = "solved"
        elif s.program is None:
            status = "no_program"
        elif ex is not None and ex.ok:
            status = "unmapped"
        else:
            status = ex.status if ex is not None else "no_answer"
        timings = dict(s.timings)
        timings["total"] = timings["generation"] + timings["execution"]
        return Prediction(
            s.answer,
            raw=s.raw,
            answer_text=ex.answer if ex is not None and ex.ok else None,
            status=status,
            program=s.program.code if s.program else None,
            solver_output=ex.to_dict() if ex is not None else None,
            executed=bool(ex is not None and ex.ok),
            timings=timings,
            tokens=dict(s.tokens),
            error=s.error,
            extra={"repairs": s.repairs},
            usage=s.usage,
        )


class L2LMethod(Method):
    """formulator -> generator -> solver through `l2l.pipeline.solve.Solver` (one candidate)."""

    name = "l2l"
    uses_programs = True
    concurrent = True

    def solve_config(self, ctx: EvalContext) -> SolveConfig:
        return replace(ctx.config, formulations=1, programs_per_formulation=1)

    def run_batch(self, examples: list[Example], ctx: EvalContext) -> list[Prediction]:
        from l2l.pipeline.solve import Solver

        solver = Solver(self.solve_config(ctx), formulator=ctx.backend, generator=ctx.generator)
        return [self._prediction(solver.solve(e.question, e.options), e) for e in examples]

    @staticmethod
    def _prediction(result: Any, example: Example) -> Prediction:
        best = result.best
        execution = best.execution if best is not None else None
        answer = normalise_answer(result.answer, example.options) if result.answer is not None else None
        executed = any(c.execution is not None and c.execution.ok for c in result.candidates)
        return Prediction(
            answer,
            raw=str(execution.answer) if execution is not None and execution.answer is not None else "",
            answer_text=execution.answer if execution is not None and execution.ok else None,
            status=result.status,
            formulation=result.formulation.to_dict() if result.formulation is not None else None,
            program=result.program.code if result.program is not None else None,
            solver_output=execution.to_dict() if execution is not None else None,
            executed=executed,
            timings=dict(result.timings),
            tokens=dict(result.tokens),
            error=result.error,
            usage=result.usage,
            extra={
                "stopped_by": result.stopped_by,
                "votes": dict(result.votes),
                "candidates": len(result.candidates),
                "repairs": sum(c.repairs for c in result.candidates),
                "candidate_errors": [c.error for c in result.candidates if c.error],
            },
        )


class L2LVoteMethod(L2LMethod):
    """`l2l` with self-consistency: `ctx.samples` formulations (first greedy, rest sampled), one
    program each, plurality vote; stops early once `config.early_stop_agree` answers agree."""

    name = "l2l_vote"

    def solve_config(self, ctx: EvalContext) -> SolveConfig:
        return replace(ctx.config, formulations=max(1, ctx.samples), programs_per_formulation=1)


METHODS: dict[str, Method] = {m.name: m for m in (DirectMethod(), CotMethod(), ProgramMethod(), L2LMethod(), L2LVoteMethod())}

__all__ = ["METHODS", "EvalContext", "Method", "Prediction", "default_executor"]
