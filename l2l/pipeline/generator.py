"""Stage 2: question + Formulation -> Program, and repair rounds that show the generator
the solver's error."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from l2l.backends.base import ChatBackend, GenerationParams, Message
from l2l.parsing import extract_program
from l2l.prompts import generator_messages, program_messages, repair_messages
from l2l.types import Completion, Formulation, Program


@dataclass
class ProgramAttempt:
    program: Program | None
    raw: str
    messages: list[Message]
    error: str | None = None
    completions: list[Completion] = field(default_factory=list)
    # Messages after the system prompt that hold the worked example (0: none).
    example_turns: int = 0


def _attempt(backend: ChatBackend, messages: list[Message], solver_backend: str, params: GenerationParams, stage: str = "program") -> ProgramAttempt:
    completion = backend.chat(messages, replace(params, n=1, json_schema=None))[0]
    return _from_completion(completion, messages, solver_backend, stage)


def _from_completion(completion: Completion, messages: list[Message], solver_backend: str, stage: str = "program") -> ProgramAttempt:
    completion.stage = stage
    attempt = ProgramAttempt(None, completion.text, messages, completions=[completion])
    try:
        attempt.program = Program(solver_backend, extract_program(completion.text))
    except ValueError as e:
        attempt.error = str(e)
        if completion.finish_reason == "time_budget":
            attempt.error = f"time budget reached while writing the program ({e})"
    return attempt


def write_program(backend: ChatBackend, question: str, formulation: Formulation, options: list[str] | None, params: GenerationParams) -> ProgramAttempt:
    """One program for one formulation; the solver backend follows the formulation's model type."""
    messages = generator_messages(question, formulation, options)
    attempt = _attempt(backend, messages, formulation.backend, params)
    attempt.example_turns = 2  # the example's question and program
    return attempt


def write_programs(backend: ChatBackend, question: str, formulations: list[Formulation], options: list[str] | None,
                   params: GenerationParams, seeds: list[int]) -> list[ProgramAttempt]:
    """One program for each formulation, decoded together (`chat_batch`); program t is the draw
    `write_program` makes with seed `seeds[t]`."""
    convs = [generator_messages(question, f, options) for f in formulations]
    outs = backend.chat_batch(convs, replace(params, n=1, json_schema=None), seeds=seeds)
    attempts = [_from_completion(out[0], msgs, f.backend) for out, msgs, f in zip(outs, convs, formulations)]
    for a in attempts:
        a.example_turns = 2
    return attempts


def write_program_one_stage(backend: ChatBackend, question: str, options: list[str] | None, params: GenerationParams, solver_backend: str = "z3") -> ProgramAttempt:
    """The one-stage baseline: a program straight from the question."""
    return _attempt(backend, program_messages(question, options, solver_backend), solver_backend, params)


def repair_program(backend: ChatBackend, previous: ProgramAttempt, error: str, params: GenerationParams, keep_example: bool = True) -> ProgramAttempt:
    """A corrected program, given the previous attempt and what went wrong when it ran."""
    code = previous.program.code if previous.program else previous.raw
    solver_backend = previous.program.backend if previous.program else "z3"
    history = previous.messages
    if not keep_example and previous.example_turns:
        # Measured on LogicalDeduction: with the example still in the conversation, the
        # repaired program often declared the example's objects instead of the problem's.
        history = history[:1] + history[1 + previous.example_turns:]
    messages = repair_messages(history, code, error)
    return _attempt(backend, messages, solver_backend, replace(params, temperature=0.0), stage="repair")
