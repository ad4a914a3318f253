"""Stage 1: question -> Formulation, with schema-constrained decoding where the backend has it
and one repair round (the parse error fed back) where it does not."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from l2l.backends.base import ChatBackend, GenerationParams
from l2l.parsing import parse_formulation
from l2l.prompts import formulator_messages
from l2l.types import MODEL_TYPES, Completion, Formulation, FormulationError

# JSON schema handed to backends with constrained decoding (llama.cpp grammar, OpenAI
# response_format, vLLM guided decoding). Kept permissive on strings: the grammar's job is
# the shape; `Formulation.from_dict` does the semantic validation. minItems: without it the
# 1.5B model sometimes closed both lists at once (`"variables": [], "constraints": []`, seen on
# held-out temporal puzzles), which leaves the generator nothing to translate.
FORMULATION_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "model_type": {"type": "string", "enum": list(MODEL_TYPES)},
        "variables": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string"},
                    "domain": {"type": "string"},
                    "description": {"type": "string"},
                },
                "required": ["name", "type", "domain"],
            },
            "minItems": 1,
        },
        "constraints": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "objective": {"type": "string"},
    },
    "required": ["summary", "model_type", "variables", "constraints", "objective"],
}

REPAIR_PROMPT = "Your reply is not a valid formulation: {error}. Reply with the corrected JSON object only."
COVERAGE_PROMPT = (
    "Your constraints leave out these statements of the problem:\n{missing}\n"
    "Add one constraint for each (statement => formula), check the others against their statements, "
    "and reply with the whole corrected JSON object only."
)


@dataclass
class FormulationAttempt:
    formulation: Formulation | None
    raw: str
    error: str | None = None
    completions: list[Completion] = field(default_factory=list)


def formulate(
    backend: ChatBackend, question: str, options: list[str] | None, params: GenerationParams, *, repair: bool = True, coverage: bool = True,
    constrained: bool = True,
) -> FormulationAttempt:
    """One formulation of `question`. Never raises for bad model output: the attempt
    carries `error` instead. With `coverage`, a formulation that leaves out statements of
    the problem (see `coverage.py`) gets one round asking for them; the answer is kept only
    if it parses and leaves out fewer. With `constrained` (and a backend that enforces JSON
    schemas), decoding follows FORMULATION_SCHEMA's grammar, so the reply always parses unless
    it is cut by max_tokens or the time budget. Follow-up rounds are skipped once
    `params.deadline` has passed. Each completion's `stage` says which round made it."""
    params = _schema_params(backend, params, constrained)
    messages = formulator_messages(question, options)
    completion = backend.chat(messages, replace(params, n=1))[0]
    return finish_formulation(backend, question, messages, completion, params, repair=repair, coverage=coverage)


def formulate_many(
    backend: ChatBackend, question: str, options: list[str] | None, params: GenerationParams, n: int, *, repair: bool = True,
    coverage: bool = True, constrained: bool = True,
) -> list[FormulationAttempt]:
    """`n` sampled formulations whose first drafts decode together (one request for n samples:
    llama.cpp's parallel sequences read the prompt once), each then finished like `formulate`'s.
    On llama.cpp, draft i draws the random numbers `formulate` draws with seed `params.seed + i` (the
    same text unless batched logits differ in the last bits at a draw)."""
    params = _schema_params(backend, params, constrained)
    messages = formulator_messages(question, options)
    drafts = backend.chat(messages, replace(params, n=n))
    return [finish_formulation(backend, question, messages, d, params, repair=repair, coverage=coverage) for d in drafts]


def _schema_params(backend: ChatBackend, params: GenerationParams, constrained: bool) -> GenerationParams:
    if constrained and backend.supports_json_schema:
        return replace(params, json_schema=FORMULATION_SCHEMA)
    return replace(params, json_schema=None)


def finish_formulation(
    backend: ChatBackend, question: str, messages: list, completion: Completion, params: GenerationParams, *, repair: bool = True,
    coverage: bool = True,
) -> FormulationAttempt:
    """Parse a first draft; then the coverage round (parsed) or one repair round (not parsed)."""
    completion = _tagged(completion, "formulation")
    attempt = FormulationAttempt(None, completion.text, completions=[completion])
    try:
        attempt.formulation = parse_formulation(completion.text)
    except FormulationError as e:
        attempt.error = str(e)
        if completion.finish_reason == "time_budget":
            attempt.error = f"time budget reached while formulating ({e})"
    else:
        if coverage and not params.expired():
            _complete(backend, question, messages, params, attempt)
        return attempt
    if repair and not params.expired():
        follow_up = [*messages, {"role": "assistant", "content": completion.text}, {"role": "user", "content": REPAIR_PROMPT.format(error=attempt.error)}]
        second = _tagged(backend.chat(follow_up, replace(params, n=1, temperature=0.0))[0], "formulation_repair")
        attempt.completions.append(second)
        try:
            attempt.formulation = parse_formulation(second.text)
            attempt.raw, attempt.error = second.text, None
        except FormulationError as e:
            attempt.error = f"{attempt.error}; after one repair round: {e}"
    return attempt


def _complete(backend: ChatBackend, question: str, messages: list, params: GenerationParams, attempt: FormulationAttempt) -> None:
    from l2l.pipeline.coverage import uncovered_statements

    missing = uncovered_statements(question, attempt.formulation)
    if not missing:
        return
    follow_up = [
        *messages,
        {"role": "assistant", "content": attempt.raw},
        {"role": "user", "content": COVERAGE_PROMPT.format(missing="\n".join(f"- {m}" for m in missing))},
    ]
    second = _tagged(backend.chat(follow_up, replace(params, n=1, temperature=0.0))[0], "coverage")
    attempt.completions.append(second)
    try:
        better = parse_formulation(second.text)
    except FormulationError:
        return
    if len(uncovered_statements(question, better)) < len(missing):
        attempt.formulation, attempt.raw = better, second.text


def _tagged(completion: Completion, stage: str) -> Completion:
    completion.stage = stage
    return completion
