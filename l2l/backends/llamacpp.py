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
import threading
import time
from pathlib import Path
from typing import Any

from l2l.backends.base import BackendError, ChatBackend, GenerationParams, Message
from l2l.config import DEFAULT_PARALLEL_SEQUENCES
from l2l.types import Completion


# One decode at a time in this process, whatever the number of Llama objects (a formulator and a
# generator of different models) or threads (eval workers) using them: llama.cpp's threads
# spin, so two decodes on the same cores run many times slower than one after the other, and
# a Llama object is not safe to call from two threads at once.
_DECODE_LOCK = threading.Lock()


# KV cells of the default context: one completion's window, and each further parallel sequence's
# worst case (a program's token budget; its prompt is shared). Sequences are grouped so that every
# one can use its whole budget, so with 4096 cells and ~2,000-token program prompts only two programs
# would fit. Cost per cell (f16 KV): 12 kB for the 0.5B model, 28 kB for the 1.5B (+86 MB at 4).
BASE_CONTEXT = 4096
CONTEXT_PER_EXTRA_SEQUENCE = 1024


def default_context(parallel_sequences: int) -> int:
    """KV cells of a context for `parallel_sequences` sequences when none is given.

    >>> default_context(1), default_context(4)
    (4096, 7168)
    """
    return BASE_CONTEXT + CONTEXT_PER_EXTRA_SEQUENCE * (max(1, parallel_sequences) - 1)


def default_threads() -> int:
    """Cores this process may use: affinity and cgroup CPU quota, not the host's count (see
    `l2l.machine.usable_cores`; `L2L_THREADS` overrides), at least 1."""
    from l2l.machine import usable_cores

    return usable_cores()


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _parallel_context(n_seq_max: int):
    """Make the `llama_cpp.Llama` built inside this block give its context `n_seq_max` sequences in
    one unified KV cache (all of `n_ctx` for any one sequence, as with a single one, and a group's
    shared prompt cells tagged, not copied). llama-cpp-python's `Llama` takes no such argument (it
    sets them for embeddings only) but reads its context parameters from
    `llama_context_default_params()`, which is wrapped for the duration of the load."""
    if n_seq_max <= 1:
        yield
        return
    import llama_cpp.llama_cpp as lib

    with _PARAMS_LOCK:
        original = lib.llama_context_default_params

        def params() -> Any:
            p = original()
            p.n_seq_max = n_seq_max
            p.kv_unified = True
            return p

        lib.llama_context_default_params = params
        try:
            yield
        finally:
            lib.llama_context_default_params = original


class _DeadlineReached(Exception):
    pass


class _Deadline:
    """Ends a llama-cpp-python completion at a `time.monotonic()` deadline (None: never), and
    reads the prompt's last token on its own.

    The last token alone: the logits of the first draw then come from a one-token decode whether
    the prompt was read cold or found in the KV or prompt cache (llama-cpp-python decodes only the
    last token again then). A one-token and a many-token batch can take different matmul kernels
    (ggml's repacked weights have separate gemv and gemm paths, AVX-512 variants among them), so
    without this a warm call could sample differently from a cold one with the same seed: CI saw
    it on an AVX-512 machine (`test_seeds_make_samples_reproducible`). Costs one decode step.

    `create_chat_completion` takes no stopping criteria, and an exception raised in a logits
    processor is swallowed by ctypes, but `Llama.generate` calls `Llama.eval` from Python once
    for the prompt and once per generated token. Shadowing `eval` on the instance lets us raise
    between tokens; what was generated so far is still in `llm.input_ids`, so the cut
    completion keeps its text and exact token counts.

    The prompt is read in chunks with the deadline checked between them (measured on a loaded
    2-core machine: one 816-token prompt took 34 s to read, which a single `eval` call cannot
    cut; a 128-token chunk of the 0.5B model took 1.7-1.9 s). The first chunk is FIRST_CHUNK
    tokens; later ones are sized from the speed measured so far to end before the deadline
    (SAFETY of the time left), between MIN_CHUNK and `n_batch` tokens: far from the deadline the
    prompt is read in full batches as without one, near it in small chunks, so a call ends about
    one small chunk (or one token) late. Measured with the first chunk at 32 tokens and chunks
    capped at 0.5 s: reading a 1,012-token prompt took 18% longer than unchunked (0.5B, loaded
    machine); hence no cap. `eval` on consecutive chunks leaves the same KV cache as one call:
    it loops over `n_batch` chunks itself."""

    FIRST_CHUNK = 64
    MIN_CHUNK = 16
    SAFETY = 0.8

    def __init__(self, llm: Any, deadline: float):
        self.llm, self.deadline = llm, deadline
        self.prompt_len: int | None = None  # the whole prompt, including a prefix already cached
        self.prompt_read = False
        self.pending: list[int] = []  # a sampled token not yet evaluated when the deadline hit
        self.wrapped = False  # whether `eval` is shadowed on the instance (undone on exit)
        self.saved_eval: Any = None  # an eval already set on the instance (a test's counter), restored on exit

    def _late(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def __enter__(self) -> "_Deadline":
        original = getattr(self.llm, "eval", None)
        if original is None:  # a stand-in model without eval (tests): nothing to read or cut
            return self
        self.saved_eval = self.llm.__dict__.get("eval")

        def eval_until_deadline(tokens):
            tokens = list(tokens)
            if self.prompt_len is None:  # the first call reads the prompt (the part not cached)
                self.prompt_len = self.llm.n_tokens + len(tokens)
                self._read_prompt(original, tokens)
                self.prompt_read = True
                return None
            if self._late():
                self.pending = tokens
                raise _DeadlineReached
            return original(tokens)

        self.llm.eval = eval_until_deadline
        self.wrapped = True
        return self

    def _read_prompt(self, original: Any, tokens: list[int]) -> None:
        if len(tokens) > 1:
            self._read_chunks(original, tokens[:-1])
        if self._late():  # a deadline already past reads nothing more
            raise _DeadlineReached
        original(tokens[-1:])  # the last token alone (see the class docstring)

    def _read_chunks(self, original: Any, tokens: list[int]) -> None:
        if self.deadline is None:
            original(tokens)
            return
        i, rate = 0, None  # prompt tokens per second, measured on this prompt
        while i < len(tokens):
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise _DeadlineReached
            size = self.FIRST_CHUNK if rate is None else int(rate * left * self.SAFETY)
            size = max(self.MIN_CHUNK, min(int(self.llm.n_batch), size))
            chunk = tokens[i:i + size]
            t = time.monotonic()
            original(chunk)
            if chunk:
                rate = len(chunk) / max(1e-3, time.monotonic() - t)
            i += len(chunk)

    def __exit__(self, *exc: Any) -> bool:
        if not self.wrapped:
            return False
        if self.saved_eval is not None:
            self.llm.eval = self.saved_eval
        else:
            with contextlib.suppress(AttributeError):
                del self.llm.eval
        return False

    def partial(self, elapsed: float) -> Completion:
        """The completion as far as it got when the deadline stopped it."""
        if not self.prompt_read:
            return Completion("", self.prompt_len or 0, 0, elapsed, finish_reason="time_budget")
        generated = [int(t) for t in self.llm.input_ids[self.prompt_len:self.llm.n_tokens]] + self.pending
        text = self.llm.detokenize(generated).decode("utf-8", errors="ignore")
        return Completion(text, self.prompt_len, len(generated), elapsed, finish_reason="time_budget")


def prompt_cache_dir(model_path: Path, lora_path: Path | None = None) -> Path:
    """Where the disk prompt cache of a GGUF file lives: one directory per model file and LoRA
    adapter (a state is only valid for the weights that computed it)."""
    from l2l.models.gguf_assembly import cache_dir

    st = model_path.stat()
    name = f"{model_path.stem}-{st.st_size}"
    if lora_path is not None:
        from l2l.models.lora_gguf import sha256_file

        name += f"+{lora_path.stem}-{sha256_file(lora_path)[:16]}"
    return cache_dir() / "prompt-cache" / name


class _SharedLlama:
    """One llama.cpp model and context for the backends that differ only in their LoRA adapter
    (a trained model's formulator and generator). Two `Llama` objects on one file would share
    the mmapped weights' pages, but not the KV cache, compute buffers or weights llama.cpp
    repacks into CPU-specific layouts: measured for the 0.5B (PSS, prompt cache off), one base
    605 MB, base + both adapters shared 613 MB, two separate loads 738 MB.

    llama.cpp applies adapters at decode time, per context, and swaps them at run time
    (`llama_set_adapters_lora`, llama-cpp-python 0.3.x), so a switch costs no reload. The KV
    cache, though, holds keys and values computed under the previous adapter: a switch clears
    it and puts in the backend's own prompt cache (states its adapter computed), so a backend
    with a prompt cache reloads its prompt prefix instead of recomputing it. All switching and
    decoding happens under `_DECODE_LOCK`."""

    _pool: dict[tuple, "_SharedLlama"] = {}
    _pool_lock = threading.Lock()

    def __init__(self, key: tuple, llm: Any):
        self.key, self.llm = key, llm
        self.users = 0
        self.adapters: dict[str, Any] = {}  # adapter file -> llama_adapter_lora_p (freed with the model)
        self.active: Any = None  # the backend whose adapter and prompt cache are in place

    @classmethod
    def acquire(cls, key: tuple, open_llama: Any) -> "_SharedLlama":
        with cls._pool_lock:
            shared = cls._pool.get(key)
            if shared is None:
                shared = cls._pool[key] = cls(key, open_llama())
            shared.users += 1
            return shared

    def adapter(self, path: Path) -> Any:
        """Load a GGUF LoRA onto the model once (llama.cpp checks architecture and shapes)."""
        import llama_cpp

        key = str(path)
        if key not in self.adapters:
            ptr = llama_cpp.llama_adapter_lora_init(self.llm._model.model, key.encode("utf-8"))
            if not ptr:
                raise BackendError(f"llama.cpp could not load the LoRA adapter {path} on {self.key[0]} "
                                   "(llama.cpp's reason is on stderr: not a GGUF LoRA, or made for another base model)")
            self.adapters[key] = ptr
        return self.adapters[key]

    def activate(self, backend: "LlamaCppBackend") -> None:
        """Put `backend`'s adapter and prompt cache in place (call under `_DECODE_LOCK`)."""
        if self.active is backend:
            return
        import ctypes

        import llama_cpp

        if backend._adapter is None:
            rc = llama_cpp.llama_set_adapters_lora(self.llm._ctx.ctx, None, 0, None)
        else:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(backend._adapter)
            scales = (ctypes.c_float * 1)(backend.lora_scale)
            rc = llama_cpp.llama_set_adapters_lora(self.llm._ctx.ctx, adapters, 1, scales)
        if rc:
            raise BackendError(f"llama.cpp could not set the LoRA adapter of {backend.display_name} (code {rc})")
        self.llm.reset()  # the KV cache was computed under the previous adapter
        self.llm.set_cache(backend._cache if backend.prompt_cache != "off" else None)
        self.active = backend

    def release(self, backend: "LlamaCppBackend") -> None:
        with _DECODE_LOCK, self._pool_lock:
            if self.active is backend:
                self.active = None
            self.users -= 1
            if self.users > 0:
                return
            self._pool.pop(self.key, None)
            with contextlib.suppress(Exception):
                self.llm.close()
            self.llm = None


class LlamaCppBackend(ChatBackend):
    """A GGUF model run by llama-cpp-python, optionally with a GGUF LoRA adapter on top.

    Backends with `lora_path` on the same base file (and context settings) share one loaded
    model and context, switching adapters per call (see `_SharedLlama`).

    With `parallel_sequences` > 1 the context holds that many sequences, and the n samples of a
    request and the conversations of a `chat_batch` decode together as parallel sequences
    (`l2l.backends.llamacpp_parallel`, also under a JSON-schema grammar); one completion of one
    conversation takes the sequential path (`create_chat_completion`), unchanged.

    >>> b = LlamaCppBackend("/path/model.gguf", n_ctx=4096)  # doctest: +SKIP
    >>> b.chat([{"role": "user", "content": "hi"}], max_tokens=16)[0].text  # doctest: +SKIP
    >>> f = LlamaCppBackend("/path/model.gguf", lora_path="formulator.gguf")  # doctest: +SKIP
    >>> b.chat([{"role": "user", "content": "hi"}], n=4, temperature=0.8)  # doctest: +SKIP
    """

    name = "llamacpp"
    supports_json_schema = True
    supports_deadline = True

    def __init__(
        self,
        model_path: str | os.PathLike,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        chat_format: str | None = None,
        display_name: str | None = None,
        progress: bool = True,
        prompt_cache: str | None = "disk",
        prompt_cache_dir: str | os.PathLike | None = None,
        prompt_cache_mb: int = 512,
        lora_path: str | os.PathLike | None = None,
        lora_scale: float = 1.0,
        parallel_sequences: int = DEFAULT_PARALLEL_SEQUENCES,
    ):
        try:
            import llama_cpp
        except ImportError:
            raise BackendError("llama-cpp-python is not installed: pip install 'l2l[llamacpp]'") from None
        parallel_sequences = int(parallel_sequences)
        if not 1 <= parallel_sequences <= llama_cpp.llama_max_parallel_sequences():
            raise BackendError(f"parallel_sequences must be 1 to {llama_cpp.llama_max_parallel_sequences()}, "
                               f"not {parallel_sequences}")
        n_ctx = default_context(parallel_sequences) if n_ctx is None else int(n_ctx)
        path = Path(model_path)
        if not path.is_file():
            raise BackendError(f"GGUF file {path} does not exist")
        self.model_path = path
        self.seed = int(seed)
        self.n_threads = int(n_threads or default_threads())
        self.display_name = display_name or path.name
        self.lora_path = Path(lora_path).resolve() if lora_path else None
        if self.lora_path is not None and not self.lora_path.is_file():
            raise BackendError(f"LoRA adapter {self.lora_path} does not exist")
        self.lora_scale = float(lora_scale)
        self._shared: _SharedLlama | None = None
        self._adapter: Any = None
        self._cache: Any = None
        self._parallel: Any = None  # the parallel decoding engine on this context, made on first use
        from l2l.models.progress import spinner

        def open_llama() -> Any:
            try:
                with _parallel_context(parallel_sequences):
                    return llama_cpp.Llama(
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

        with spinner(f"loading {self.display_name} (llama.cpp, {self.n_threads} threads)", enabled=progress):
            if self.lora_path is None:
                self.llm = open_llama()
            else:
                key = (str(path.resolve()), int(n_ctx), self.n_threads, int(n_batch), chat_format, parallel_sequences)
                self._shared = _SharedLlama.acquire(key, open_llama)
                self.llm = self._shared.llm
                try:
                    with _DECODE_LOCK:
                        self._adapter = self._shared.adapter(self.lora_path)
                except BackendError:
                    self._shared.release(self)
                    raise
        self.n_ctx = self.llm.n_ctx()
        self.parallel_sequences = self._context_sequences(parallel_sequences)
        with _DECODE_LOCK:  # a shared context may be decoding for another backend
            self.prompt_cache = self._attach_prompt_cache(prompt_cache, prompt_cache_dir, int(prompt_cache_mb))
            if self._shared is not None:
                self._cache = self.llm.cache
                self._shared.active = None  # the next call puts its own adapter and cache in place

    def _context_sequences(self, requested: int) -> int:
        """The sequences the loaded context really holds (1: decode one completion at a time)."""
        ctx = getattr(getattr(self.llm, "_ctx", None), "ctx", None)
        if requested <= 1 or ctx is None:  # ctx None: a stand-in for llama_cpp.Llama (tests)
            return 1
        import llama_cpp

        got = int(llama_cpp.llama_n_seq_max(ctx))
        if got < requested:
            import warnings

            warnings.warn(f"llama.cpp made a context of {got} sequences, not {requested}; "
                          "samples decode in groups of that size", stacklevel=3)
        return got

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
        directory = Path(directory) if directory else prompt_cache_dir(self.model_path, self.lora_path)
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
        with _DECODE_LOCK:
            if self._shared is not None:
                self._shared.activate(self)
            return self._one_locked(kwargs, params.deadline)

    def _one_locked(self, kwargs: dict[str, Any], deadline: float | None) -> Completion:
        t0 = time.perf_counter()
        guard = _Deadline(self.llm, deadline)  # with no deadline it only reads the last prompt token alone
        try:
            with guard:
                return self._complete(kwargs, t0)
        except _DeadlineReached:
            return guard.partial(time.perf_counter() - t0)

    def _complete(self, kwargs: dict[str, Any], t0: float) -> Completion:
        try:
            out = self.llm.create_chat_completion(**kwargs)
        except ValueError as e:  # e.g. "Requested tokens (5000) exceed context window of 4096"
            raise BackendError(f"llama.cpp: {e}") from None
        except RuntimeError as e:
            if not self._drop_unusable_cache(e):
                raise BackendError(f"llama.cpp: {e}") from None
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

    def _drop_unusable_cache(self, error: Exception) -> bool:
        """A cached state llama.cpp refuses (written by another llama.cpp build, or a damaged file):
        drop the cache so the call can be answered without it rather than fail. False: not that."""
        if self.llm.cache is None or "state" not in str(error):
            return False
        import warnings

        warnings.warn(f"prompt cache unusable ({error}); continuing without it", stacklevel=3)
        self.llm.set_cache(None)
        self.llm.reset()
        self.prompt_cache = "off"
        return True

    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        return self.chat_batch([messages], params)[0]

    def chat_batch(self, conversations: list[list[Message]], params: GenerationParams | None = None, *,
                   seeds: list[int] | None = None, **kw: Any) -> list[list[Completion]]:
        """`params.n` completions of each conversation. With `parallel_sequences` > 1 they decode together
        (see `l2l.backends.llamacpp_parallel`) unless it is one greedy completion; otherwise one
        `create_chat_completion` call each, sample i seeded with seed + i (the shared prompt prefix
        stays in the KV cache, so only the first call pays for it). `seeds`: a base seed per
        conversation (see `ChatBackend.chat_batch`)."""
        params = params or GenerationParams()
        if kw:
            params = GenerationParams(**{**params.__dict__, **kw})
        n = max(1, params.n)
        base = self.seed if params.seed is None else params.seed
        if seeds is not None and len(seeds) != len(conversations):
            raise ValueError(f"{len(seeds)} seeds for {len(conversations)} conversations")
        bases = list(seeds) if seeds is not None else [base] * len(conversations)
        # A single sampled completion also takes the parallel engine when it is on: sample i of
        # seed s then draws seed s+i's random numbers however many samples a request asks for
        # (seed 11's second sample takes seed 12's stream; the texts match too unless a draw falls
        # where logits decoded in a batch of n differ in the last bits from a batch of one). A single
        # greedy completion keeps the sequential path, unless it is schema-constrained: under a
        # grammar the engine decodes the same greedy text faster (it checks the best candidates
        # against the grammar first, llama-cpp-python's sampler the whole vocabulary): measured on the 1.5B, 197 formulation tokens took ~23.5 s of decode instead of
        # ~28 (bench/results/parallel_sequences.md).
        single_greedy = n * len(conversations) < 2 and params.temperature <= 0 and params.json_schema is None
        if self.parallel_sequences < 2 or single_greedy:
            return [[self._one(m, params, b + i) for i in range(n)] for m, b in zip(conversations, bases)]
        from l2l.backends.llamacpp_parallel import chat_parallel

        with _DECODE_LOCK:
            if self._shared is not None:
                self._shared.activate(self)
            engine = self.parallel_engine()
            try:
                return chat_parallel(engine, self.llm, conversations, params, bases)
            except BackendError:
                raise
            except ValueError as e:  # a chat template refusing the messages, as in the sequential path
                raise BackendError(f"llama.cpp: {e}") from None
            except RuntimeError as e:
                if not self._drop_unusable_cache(e):
                    raise BackendError(f"llama.cpp: {e}") from None
                return chat_parallel(engine, self.llm, conversations, params, bases)

    @property
    def engine(self) -> Any:
        """The parallel decoding engine on this context (None until a parallel call made it); its
        `stats` count prompts read and decode steps."""
        return self._parallel

    def parallel_engine(self) -> Any:
        """The parallel decoding engine on this context, made on first use (it borrows the model and
        context: nothing is loaded). Benchmarks call it to drive the engine directly."""
        if self._parallel is None:
            from l2l.train.llamacpp_sampler import LlamaCppSampler

            self._parallel = LlamaCppSampler.borrow(self.llm)
        return self._parallel

    def next_token_logits(self, tokens: list[int]) -> Any:
        """Logits (numpy float32, one per vocabulary entry) of the token after `tokens`, under
        this backend's adapter; evaluates from an empty KV cache (for checks, not generation)."""
        import llama_cpp
        import numpy as np

        with _DECODE_LOCK:
            if self._shared is not None:
                self._shared.activate(self)
            self.llm.reset()
            self.llm.eval(list(tokens))
            ptr = llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
            out = np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).copy()
            self.llm.reset()  # the next completion must not reuse this evaluation as a cached prefix
            return out

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under this model's tokenizer."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def close(self) -> None:
        if getattr(self, "_parallel", None) is not None:
            self._parallel.close()
            self._parallel = None
        shared = getattr(self, "_shared", None)
        if shared is not None:
            self._shared = None
            self.llm = None
            shared.release(self)
            return
        llm = getattr(self, "llm", None)
        if llm is not None:
            with contextlib.suppress(Exception):
                llm.close()
            self.llm = None

    def describe(self) -> str:
        return f"llamacpp:{self.display_name}"
