"""Model calls from several threads decoded together: continuous batching across questions.

`l2l eval --batch-size N` with `l2l` runs N questions at once, each a whole `Solver.solve` in its
own thread (formulation, coverage round, program, repair: every question at its own stage). Each
thread talks to a `GatheredBackend` view; a call waits until every question still running is
waiting on the model too (or `max_wait_s` has passed, e.g. while another one's program runs in
the sandbox), and then the waiting calls with the same generation settings go to the real backend
as one `chat_batch`, so llama.cpp decodes them as parallel sequences (the prompt prefix they share,
the system prompt and worked example, is read once). Measured on the 1.5B: 4 sequences decode at
1.67x the aggregate tokens/s of one (bench/results/parallel_sequences.md).

A call that is alone, or whose settings no other waiting call shares, goes to the backend exactly
as it would without the gatherer (`chat` stays `chat`), so one question at a time gives the same
texts as before. Merged calls differ only where the backend's batched decoding rounds differently
from its single-sequence decoding (the quantised llama.cpp models do; see `l2l.backends.llamacpp`).

Only one call runs on the real backend at a time (llama.cpp serialises decodes anyway); the
thread whose arrival completes a batch runs it and hands the others their completions.

    >>> g = Gatherer(members=2)                                   # doctest: +SKIP
    >>> view = g.view(backend)                                    # used by both threads
    >>> # thread 1: view.chat(m1, p)   thread 2: view.chat(m2, p)  -> backend.chat_batch([m1, m2], p, seeds=...)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from l2l.backends.base import ChatBackend, GenerationParams, Message
from l2l.types import Completion


class GatherCancelled(RuntimeError):
    """The gatherer was cancelled (the evaluation is stopping): the waiting call gets no completion."""


@dataclass
class _Request:
    backend: ChatBackend
    conversations: list[list[Message]]
    params: GenerationParams
    seeds: list[int] | None
    single: bool  # came in through `chat` (one conversation)
    arrived: float = field(default_factory=time.monotonic)
    released: bool = False  # may run without waiting for more calls (see Gatherer._ready_group)
    result: list[list[Completion]] | None = None
    error: BaseException | None = None
    done: bool = False

    def __post_init__(self) -> None:
        self.key = self._key()  # compared on every wake-up of every waiting thread: computed once

    def _key(self) -> tuple:
        """Requests with equal keys can share one `chat_batch`: same backend, same settings but the seed."""
        p = self.params
        return (id(self.backend), p.max_tokens, p.temperature, p.top_p, p.n, tuple(p.stop),
                json.dumps(p.json_schema, sort_keys=True) if p.json_schema is not None else None,
                p.repeat_penalty, p.deadline, p.seed is None and self.seeds is None)

    def seed_list(self) -> list[int] | None:
        if self.seeds is not None:
            return list(self.seeds)
        return None if self.params.seed is None else [int(self.params.seed)] * len(self.conversations)


class Gatherer:
    """Coordinates `members` threads' model calls (see the module docstring). `leave()` when a
    thread has no more work, so the others stop waiting for it; `cancel()` ends every waiting call."""

    def __init__(self, members: int, max_wait_s: float = 3.0):
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        self.members = int(members)
        self.max_wait_s = float(max_wait_s)
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._running = False
        self._cancelled = False
        # what was dispatched: sizes of the merged calls (for benchmarks and tests)
        self.batches: list[int] = []

    def view(self, backend: ChatBackend) -> "GatheredBackend":
        return GatheredBackend(self, backend)

    def leave(self) -> None:
        with self._cond:
            self.members = max(0, self.members - 1)
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            for r in self._pending:
                r.error, r.done = GatherCancelled("evaluation stopped"), True
            self._pending.clear()
            self._cond.notify_all()

    def submit(self, req: _Request) -> list[list[Completion]]:
        with self._cond:
            if self._cancelled:
                raise GatherCancelled("evaluation stopped")
            self._pending.append(req)
            self._cond.notify_all()
            while not req.done:
                group = self._ready_group()
                if group is None:
                    # wake for a new arrival, a finished batch, a member leaving, or the wait limit
                    oldest = min((r.arrived for r in self._pending), default=time.monotonic())
                    self._cond.wait(timeout=max(0.05, oldest + self.max_wait_s - time.monotonic()))
                    continue
                self._running = True
                self._cond.release()
                try:
                    self._dispatch(group)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
        if req.error is not None:
            raise req.error
        return req.result  # type: ignore[return-value]

    def _ready_group(self) -> list[_Request] | None:
        """The requests to run now (under the lock), or None to keep waiting. When no batch is
        running and every member is waiting (or the oldest call waited `max_wait_s`), every call
        waiting then is released, and they run group by group, oldest first (a group: the calls
        with the same settings), without waiting again between the groups."""
        if self._running or not self._pending:
            return None
        if not any(r.released for r in self._pending):
            if len(self._pending) < self.members and time.monotonic() - self._pending[0].arrived < self.max_wait_s:
                return None
            for r in self._pending:
                r.released = True
        key = next(r for r in self._pending if r.released).key
        group = [r for r in self._pending if r.key == key]
        self._pending = [r for r in self._pending if r.key != key]
        return group

    def _dispatch(self, group: list[_Request]) -> None:
        self.batches.append(sum(len(r.conversations) for r in group))
        try:
            if len(group) == 1:
                r = group[0]
                if r.single:
                    outs = [r.backend.chat(r.conversations[0], r.params)]
                else:
                    outs = r.backend.chat_batch(r.conversations, r.params, seeds=r.seeds)
                r.result = outs
            else:
                convs = [c for r in group for c in r.conversations]
                seeds = None
                if group[0].seed_list() is not None:
                    seeds = [s for r in group for s in r.seed_list()]  # type: ignore[union-attr]
                outs = group[0].backend.chat_batch(convs, replace(group[0].params, seed=None), seeds=seeds)
                at = 0
                for r in group:
                    r.result = outs[at:at + len(r.conversations)]
                    at += len(r.conversations)
        except BaseException as e:  # every caller of the batch sees the failure as its own call's
            for r in group:
                r.error = e
        finally:
            with self._cond:
                for r in group:
                    r.done = True


def _with(params: GenerationParams | None, kw: dict[str, Any]) -> GenerationParams:
    """`params` (default settings if None) with the keyword overrides, as `ChatBackend.chat` reads them."""
    params = params or GenerationParams()
    return GenerationParams(**{**params.__dict__, **kw}) if kw else params


class GatheredBackend(ChatBackend):
    """One thread's handle on a `Gatherer` for `inner`: a ChatBackend whose calls may be decoded
    together with other threads' calls. Everything else is `inner`'s."""

    def __init__(self, gatherer: Gatherer, inner: ChatBackend):
        self.gatherer = gatherer
        self.inner = inner

    def __getattr__(self, item: str) -> Any:
        if item in ("inner", "gatherer"):  # not set yet (copy, pickle): no recursion
            raise AttributeError(item)
        return getattr(self.inner, item)

    def chat(self, messages: list[Message], params: GenerationParams | None = None, **kw: Any) -> list[Completion]:
        return self.gatherer.submit(_Request(self.inner, [messages], _with(params, kw), None, single=True))[0]

    def chat_batch(self, conversations: list[list[Message]], params: GenerationParams | None = None, *,
                   seeds: list[int] | None = None, **kw: Any) -> list[list[Completion]]:
        params = _with(params, kw)
        if seeds is not None and len(seeds) != len(conversations):
            raise ValueError(f"{len(seeds)} seeds for {len(conversations)} conversations")
        if not conversations:
            return []
        return self.gatherer.submit(_Request(self.inner, list(conversations), params, seeds, single=False))

    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        return self.chat(messages, params)

    def close(self) -> None:
        """The real backend belongs to whoever made it: closing a view does not close it."""

    def describe(self) -> str:
        return self.inner.describe()


# The capability flags the pipeline reads (class attributes on ChatBackend, so __getattr__ would
# never see them) are the real backend's.
for _flag in ("name", "supports_json_schema", "supports_deadline", "parallel_sequences"):
    setattr(GatheredBackend, _flag, property(lambda self, _f=_flag: getattr(self.inner, _f)))
