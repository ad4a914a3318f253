"""A backend that replays scripted completions: for unit-testing pipeline logic only."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from l2l.backends.base import ChatBackend, GenerationParams, Message
from l2l.types import Completion


class ScriptedBackend(ChatBackend):
    """Returns completions from a list (in order, cycling on the last) or from a function
    `fn(messages, params) -> str`. Records every request in `.calls`.

    >>> b = ScriptedBackend(["hi"]); b.chat([{"role": "user", "content": "x"}])[0].text
    'hi'
    """

    name = "scripted"

    def __init__(self, script: Iterable[str] | Callable[[list[Message], GenerationParams], str] = (), **_: object):
        self._fn = script if callable(script) else None
        self._items = [] if callable(script) else list(script)
        self._i = 0
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
        return [Completion(text=self._next(messages, params), completion_tokens=1) for _ in range(params.n)]
