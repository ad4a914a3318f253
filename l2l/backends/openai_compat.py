"""OpenAI-compatible HTTP backend: vLLM, llama.cpp's server, Ollama or a hosted API.

Each backend instance owns its `openai.OpenAI` client (base URL and key are per instance,
never process-global). JSON-schema output is requested with `response_format`; servers
that reject a form are retried with the next weaker one (json_schema -> llama.cpp's
json_object+schema -> json_object -> prompt only), and the form that worked is remembered.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from l2l.backends.base import BackendError, ChatBackend, GenerationParams, Message
from l2l.types import Completion

_JSON_MODES = ("json_schema", "json_object_schema", "json_object", "none")


def _response_format(mode: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":  # OpenAI, vLLM, llama.cpp's llama-server
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    if mode == "json_object_schema":  # llama-cpp-python's server
        return {"type": "json_object", "schema": schema}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


class OpenAIBackend(ChatBackend):
    """Chat completions from an OpenAI-compatible server.

    >>> b = OpenAIBackend("qwen", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
    >>> b.chat([{"role": "user", "content": "hi"}])[0].text  # doctest: +SKIP
    """

    name = "openai"
    supports_json_schema = True

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 1,
        concurrency: int = 4,
        seed: int = 0,
        json_mode: str = "auto",
    ):
        try:
            import openai
        except ImportError:
            raise BackendError("the openai package is not installed: pip install 'l2l[openai]'") from None
        base_url = base_url or os.environ.get("L2L_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if not base_url:
                raise BackendError(
                    "openai backend: set OPENAI_API_KEY (hosted API) or a base URL "
                    "(base_url=..., L2L_OPENAI_BASE_URL or OPENAI_BASE_URL) for a local server"
                )
            api_key = "no-key"  # local servers ignore the key, but the client requires one
        if json_mode != "auto" and json_mode not in _JSON_MODES:
            raise BackendError(f"json_mode must be 'auto' or one of {', '.join(_JSON_MODES)}")
        self.model = model
        self.base_url = base_url or "https://api.openai.com/v1"
        self.seed = int(seed)
        self.concurrency = max(1, int(concurrency))
        self._json_modes = list(_JSON_MODES) if json_mode == "auto" else [json_mode]
        self._openai = openai
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)

    @property
    def json_mode(self) -> str:
        """The strongest response_format form not (yet) rejected by the server."""
        return self._json_modes[0]

    def _request(self, messages: list[Message], params: GenerationParams, seed: int) -> Completion:
        openai = self._openai
        kwargs: dict[str, Any] = dict(
            model=self.model,
            messages=messages,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=seed,
        )
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.repeat_penalty != 1.0:
            # Not an OpenAI field; llama.cpp and vLLM servers read it from the body, others ignore it.
            kwargs["extra_body"] = {"repeat_penalty": params.repeat_penalty, "repetition_penalty": params.repeat_penalty}
        modes = self._json_modes if params.json_schema is not None else ["none"]
        last: Exception | None = None
        for mode in list(modes):
            rf = _response_format(mode, params.json_schema) if params.json_schema is not None else None
            if rf is not None:
                kwargs["response_format"] = rf
            else:
                kwargs.pop("response_format", None)
            t0 = time.perf_counter()
            try:
                resp = self.client.chat.completions.create(**kwargs)
            except openai.APIStatusError as e:
                # A server that does not understand this response_format answers 400/422, or 500 with a
                # validation message (llama-cpp-python's server): try the next weaker form.
                msg = _msg(e)
                rejected_format = e.status_code in (400, 422) or "response_format" in msg or "json_schema" in msg
                if rf is not None and rejected_format and mode in self._json_modes and len(self._json_modes) > 1:
                    last = e
                    self._json_modes.remove(mode)
                    continue
                if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
                    raise BackendError(f"{self.base_url}: authentication failed (check OPENAI_API_KEY): {msg}") from None
                if isinstance(e, openai.NotFoundError):
                    raise BackendError(f"{self.base_url}: model {self.model!r} not found: {msg}") from None
                raise BackendError(f"{self.base_url} answered {e.status_code}: {msg}") from None
            except openai.APIConnectionError as e:  # includes APITimeoutError
                raise BackendError(f"cannot reach the OpenAI-compatible server at {self.base_url}: {_msg(e)}") from None
            except openai.APIError as e:
                raise BackendError(f"{self.base_url}: {type(e).__name__}: {_msg(e)}") from None
            elapsed = time.perf_counter() - t0
            if not resp.choices:
                raise BackendError(f"{self.base_url}: response without choices")
            choice = resp.choices[0]
            usage = resp.usage
            return Completion(
                text=(choice.message.content or "") if choice.message else "",
                prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                elapsed_s=elapsed,
                finish_reason=choice.finish_reason,
            )
        raise BackendError(f"{self.base_url} rejected every response_format: {_msg(last)}")

    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        # Many servers ignore `n`, so n samples are n requests with distinct seeds, sent concurrently.
        base = self.seed if params.seed is None else params.seed
        n = max(1, params.n)
        if n == 1:
            return [self._request(messages, params, base)]
        with ThreadPoolExecutor(min(n, self.concurrency)) as pool:
            return list(pool.map(lambda i: self._request(messages, params, base + i), range(n)))

    def chat_batch(self, conversations: list[list[Message]], params: GenerationParams | None = None, **kw: Any) -> list[list[Completion]]:
        """Send the conversations concurrently (`concurrency` requests in flight)."""
        if len(conversations) <= 1:
            return [self.chat(m, params, **kw) for m in conversations]
        with ThreadPoolExecutor(min(len(conversations), self.concurrency)) as pool:
            return list(pool.map(lambda m: self.chat(m, params, **kw), conversations))

    def close(self) -> None:
        self.client.close()

    def describe(self) -> str:
        return f"openai:{self.model}@{self.base_url}"


def _msg(e: Exception | None) -> str:
    """One line of an openai exception, preferring the server's own message."""
    if e is None:
        return "unknown error"
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        m = err.get("message") if isinstance(err, dict) else body.get("message") or body.get("detail")
        if m:
            return " ".join(str(m).split())[:300]
    return " ".join(str(e).split())[:300] or type(e).__name__
