"""The one interface every model backend implements.

A backend turns chat messages into completions. The pipeline, the evaluation
harness and the training rewards only ever talk to this interface, so the same
formulator/generator code runs on llama.cpp, transformers, an OpenAI-compatible
server or vLLM.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from l2l.errors import L2LError
from l2l.types import Completion

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}


class BackendError(L2LError, RuntimeError):
    """A model backend could not load or could not answer; the message says why in one line.
    An L2LError, so the CLI prints it as `error: ...` without a traceback."""


@dataclass
class GenerationParams:
    """Sampling settings for one request. `json_schema` asks for schema-constrained output
    where the backend supports it (llama.cpp grammar, OpenAI response_format, vLLM guided decoding)."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    json_schema: dict[str, Any] | None = None
    repeat_penalty: float = 1.0  # >1 discourages loops (the 0.5B model repeats itself at temperature 0)
    # A `time.monotonic()` instant at which generation must end (a solve's time budget). Backends
    # with `supports_deadline` end the completion there (finish_reason "time_budget"); the others
    # are only kept from starting new calls after it, by the pipeline.
    deadline: float | None = None

    def expired(self) -> bool:
        """True once the deadline has passed (never without one)."""
        import time

        return self.deadline is not None and time.monotonic() >= self.deadline


class ChatBackend(abc.ABC):
    """Base class of model backends. Subclasses implement `_chat`; `chat` adds nothing but
    argument normalisation so behaviour is the same everywhere."""

    name: str = "base"
    # True where `json_schema` is enforced by the decoder rather than only requested in the prompt.
    supports_json_schema: bool = False
    # True where `GenerationParams.deadline` cuts a completion that is under way.
    supports_deadline: bool = False
    # Completions that decode together in one call (llama.cpp's parallel sequences); 1: one at a
    # time, so a caller gains nothing by asking for several at once.
    parallel_sequences: int = 1

    def chat(self, messages: list[Message], params: GenerationParams | None = None, **kw: Any) -> list[Completion]:
        """Return `params.n` completions for one conversation."""
        params = params or GenerationParams()
        if kw:
            params = GenerationParams(**{**params.__dict__, **kw})
        return self._chat(messages, params)

    def chat_batch(self, conversations: list[list[Message]], params: GenerationParams | None = None, *,
                   seeds: list[int] | None = None, **kw: Any) -> list[list[Completion]]:
        """Completions for many conversations. Backends that batch (hf, vllm, openai with
        concurrency) override this; the default runs them one after another. `seeds`: one base
        seed per conversation instead of `params.seed` for all (sample i of conversation t is then
        the draw a `chat` with seed `seeds[t]` would make as its sample i)."""
        if seeds is not None and len(seeds) != len(conversations):
            raise ValueError(f"{len(seeds)} seeds for {len(conversations)} conversations")
        if seeds is None:
            return [self.chat(m, params, **kw) for m in conversations]
        return [self.chat(m, params, **{**kw, "seed": s}) for m, s in zip(conversations, seeds)]

    @abc.abstractmethod
    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        ...

    def close(self) -> None:
        """Free the model (weights, server connections)."""

    def describe(self) -> str:
        return self.name
