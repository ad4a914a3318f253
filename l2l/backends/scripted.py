"""A backend that replays scripted completions: for unit-testing pipeline logic only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from l2l.backends.base import ChatBackend, GenerationParams, Message
from l2l.types import Completion


class ScriptedBackend(ChatBackend):
    """Returns completions from a list (in order, cycling on the last) or from a function
    `fn(messages, params) -> str`. Records every request in `.calls`.

    Token counts are whitespace-separated words (prompt: all message contents; completion:
    the reply, at least 1). `delay_s` makes every call take that long (wall clock), and a call
    that would run past `params.deadline` stops there with half its text and finish_reason
    "time_budget", as the llama.cpp backend does, so time budgets can be tested.

    >>> b = ScriptedBackend(["hi"]); b.chat([{"role": "user", "content": "x"}])[0].text
    'hi'
    """

    name = "scripted"
    supports_deadline = True

    def __init__(self, script: Iterable[str] | Callable[[list[Message], GenerationParams], str] = (), delay_s: float = 0.0, **_: object):
        self._fn = script if callable(script) else None
        self._items = [] if callable(script) else list(script)
        self._i = 0
        self.delay_s = float(delay_s)
        self.calls: list[tuple[list[Message], GenerationParams]] = []

    def _next(self, messages: list[Message], params: GenerationParams) -> str:
        if self._fn is not None:
            return self._fn(messages, params)
        if not self._items:
            return ""
        text = self._items[min(self._i, len(self._items) - 1)]
        self._i += 1
        return text

    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        self.calls.append((messages, params))
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        out = []
        for _ in range(params.n):
            text, finish, t0 = self._next(messages, params), "stop", time.perf_counter()
            delay = self.delay_s
            if params.deadline is not None and time.monotonic() + delay > params.deadline:
                delay, text, finish = max(0.0, params.deadline - time.monotonic()), text[: len(text) // 2], "time_budget"
            if delay:
                time.sleep(delay)
            out.append(Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=max(1, len(text.split())),
                                  elapsed_s=time.perf_counter() - t0, finish_reason=finish))
        return out
