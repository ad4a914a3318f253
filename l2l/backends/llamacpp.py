"""llama.cpp backend (GGUF on CPU, the default): `llama_cpp.Llama` with the chat template
stored in the GGUF file, and JSON-schema constrained decoding through llama.cpp grammars.

Prompt cache: on 2 CPU cores the 1.5B model reads a prompt at only a few hundred tokens
per second, and every formulator/generator prompt starts with the same long system text
and worked example. llama.cpp keeps the KV state of the last prompt, but the pipeline
alternates between two prompts, so we attach llama-cpp-python's state cache: "ram"
keeps states for the life of the process (eval runs, voting), "disk" also keeps them
across processes, so a second `l2l solve` only reads its own question.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from l2l.backends.base import BackendError, ChatBackend, GenerationParams, Message
from l2l.types import Completion


def default_threads() -> int:
    """Cores this process may use (respects taskset/cgroup affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def prompt_cache_dir(model_path: Path) -> Path:
    """Where the disk prompt cache of a GGUF file lives: one directory per model file
    (a state is only valid for the weights that computed it)."""
    from l2l.models.gguf_assembly import cache_dir

    st = model_path.stat()
    return cache_dir() / "prompt-cache" / f"{model_path.stem}-{st.st_size}"


class LlamaCppBackend(ChatBackend):
    """A GGUF model run by llama-cpp-python.

    >>> b = LlamaCppBackend("/path/model.gguf", n_ctx=4096)  # doctest: +SKIP
    >>> b.chat([{"role": "user", "content": "hi"}], max_tokens=16)[0].text  # doctest: +SKIP
    """

    name = "llamacpp"
    supports_json_schema = True

    def __init__(
        self,
        model_path: str | os.PathLike,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        chat_format: str | None = None,
        display_name: str | None = None,
        progress: bool = True,
        prompt_cache: str | None = "disk",
        prompt_cache_dir: str | os.PathLike | None = None,
        prompt_cache_mb: int = 512,
    ):
        try:
            import llama_cpp
        except ImportError:
            raise BackendError("llama-cpp-python is not installed: pip install 'l2l[llamacpp]'") from None
        path = Path(model_path)
        if not path.is_file():
            raise BackendError(f"GGUF file {path} does not exist")
        self.model_path = path
        self.seed = int(seed)
        self.n_threads = int(n_threads or default_threads())
        self.display_name = display_name or path.name
        from l2l.models.progress import spinner

        with spinner(f"loading {self.display_name} (llama.cpp, {self.n_threads} threads)", enabled=progress):
            try:
                self.llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=int(n_ctx),
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    n_batch=int(n_batch),
                    seed=self.seed,
                    chat_format=chat_format,  # None: use the Jinja chat template stored in the GGUF
                    verbose=False,  # also routes llama.cpp's C-level log chatter away from stderr
                )
            except (ValueError, RuntimeError) as e:
                raise BackendError(f"llama.cpp could not load {path}: {e}") from None
        self.n_ctx = self.llm.n_ctx()
        self.prompt_cache = self._attach_prompt_cache(prompt_cache, prompt_cache_dir, int(prompt_cache_mb))

    def _attach_prompt_cache(self, kind: str | None, directory: str | os.PathLike | None, capacity_mb: int) -> str:
        """Attach a KV-state cache to the model; returns the kind attached ("off" if none)."""
        kind = (kind or "off").lower()
        if kind not in ("disk", "ram", "off"):
            raise BackendError(f"prompt_cache must be 'disk', 'ram' or 'off', not {kind!r}")
        if kind == "off":
            return kind
        from l2l.backends.llamacpp_cache import SlimDiskCache, SlimRAMCache

        capacity = capacity_mb << 20
        if kind == "ram":
            self.llm.set_cache(SlimRAMCache(capacity_bytes=capacity))
            return kind
        directory = Path(directory) if directory else prompt_cache_dir(self.model_path)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.llm.set_cache(SlimDiskCache(cache_dir=str(directory), capacity_bytes=capacity))
        except OSError as e:  # read-only home, full disk: still work, just without reuse across runs
            import warnings

            warnings.warn(f"prompt cache in {directory} unavailable ({e}); keeping it in memory", stacklevel=2)
            self.llm.set_cache(SlimRAMCache(capacity_bytes=capacity))
            return "ram"
        return kind

    def _one(self, messages: list[Message], params: GenerationParams, seed: int) -> Completion:
        kwargs: dict[str, Any] = dict(
            messages=messages,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=list(params.stop) or None,
            seed=seed,
            repeat_penalty=params.repeat_penalty,
        )
        if params.json_schema is not None:
            # llama-cpp-python compiles the schema to a GBNF grammar: decoding cannot leave it.
            kwargs["response_format"] = {"type": "json_object", "schema": params.json_schema}
        t0 = time.perf_counter()
        try:
            out = self.llm.create_chat_completion(**kwargs)
        except ValueError as e:  # e.g. "Requested tokens (5000) exceed context window of 4096"
            raise BackendError(f"llama.cpp: {e}") from None
        except RuntimeError as e:
            # A cached state llama.cpp refuses (written by another llama.cpp build, or a
            # damaged file): drop the cache and answer without it rather than fail.
            if self.llm.cache is None or "state" not in str(e):
                raise BackendError(f"llama.cpp: {e}") from None
            import warnings

            warnings.warn(f"prompt cache unusable ({e}); continuing without it", stacklevel=2)
            self.llm.set_cache(None)
            self.llm.reset()
            self.prompt_cache = "off"
            out = self.llm.create_chat_completion(**kwargs)
        elapsed = time.perf_counter() - t0
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            elapsed_s=elapsed,
            finish_reason=choice.get("finish_reason"),
        )

    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        # llama.cpp has one sequence per call here: n samples are n calls with seeds base, base+1, ...
        # (the shared prompt prefix stays in the KV cache, so only the first call pays for it).
        base = self.seed if params.seed is None else params.seed
        return [self._one(messages, params, base + i) for i in range(max(1, params.n))]

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under this model's tokenizer."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            with contextlib.suppress(Exception):
                llm.close()
            self.llm = None

    def describe(self) -> str:
        return f"llamacpp:{self.display_name}"
