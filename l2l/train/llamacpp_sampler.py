"""Sample completions from token ids, with each token's log-probability, on a GGUF base + LoRA in llama.cpp.

What GRPO needs from a generator that is not the policy itself (TRL's vLLM contract): the prompt
and completion token ids, and for every completion token the log-probability it had under the
distribution it was drawn from, so the trainer can weigh the sample by policy/sampler (truncated
importance sampling). llama-cpp-python's samplers do not report that probability, so the draw is
made here from the raw logits: repetition penalty (transformers' rule), temperature, top-k,
top-p and min-p, then one categorical draw from the renormalised distribution, whose log is the
reported value. With top-k/top-p/min-p off (TRL's defaults) that is exactly the distribution TRL
recomputes with the policy (log-softmax of logits / temperature).

A group (the same prompt sampled n times) is decoded in parallel: the prompt is read once into
sequence 0, shared with sequences 1..n-1 (`llama_memory_seq_cp`; one unified KV cache, no copy),
and each step decodes one token of every unfinished sequence in one batch.

Inference uses the same engine (`l2l.backends.llamacpp_parallel`): `LlamaCppSampler.borrow` wraps the
context of the backend's `llama_cpp.Llama` instead of loading a model, `fork` gives several prompts
(a chat_batch) their own sequences after a shared prefix, and per-sequence `SequenceHooks` add what
inference needs on top of `run`'s loop (grammars, stop strings, end-of-generation tokens), with
`SamplingSettings(penalty_last_n=64, temperature_last=True)` drawing as llama.cpp's sampler chain does.

    >>> s = LlamaCppSampler("tiny-f32.gguf", n_threads=1)                       # doctest: +SKIP
    >>> s.set_adapter("generator.gguf")                                          # doctest: +SKIP
    >>> out = s.sample([151644, 872], 4, SamplingSettings(max_tokens=16), stop_ids={151645},
    ...                rng=np.random.default_rng(0))                            # doctest: +SKIP
    >>> out[0].completion_ids, out[0].logprobs                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l2l.backends.base import BackendError


@dataclass
class SamplingSettings:
    """How tokens are drawn (TRL's names and defaults: 0 / 1.0 switch a filter off)."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    # Which tokens the repetition penalty sees. None: the prompt and the whole completion (transformers'
    # rule, what TRL's policy recomputes); N: only the last N generated tokens, as llama.cpp's penalties
    # sampler does (llama-cpp-python accepts only sampled tokens into it, and keeps 64).
    penalty_last_n: int | None = None
    # False: temperature, then top-k/top-p/min-p (TRL, vLLM). True: the filters see the untempered
    # logits and the temperature applies to what they keep (llama.cpp's sampler chain: ... min_p, temp, dist).
    temperature_last: bool = False

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0: greedy), got {self.temperature}")


@dataclass
class Sample:
    """One completion: token ids and the log-probability each token was drawn with."""

    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    # "stop": a stop token ended it (and is its last token), or a hook did; "time_budget": the deadline
    finish_reason: str = "length"


class SequenceHooks:
    """What a caller adds to the decoding of one sequence; the defaults add nothing (training)."""

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """The logits the next token is drawn from (a grammar sets what it forbids to -inf)."""
        return logits

    def stop(self, sample: Sample) -> str | None:
        """Called after each token is appended: a finish reason ends the sequence there."""
        return None


@dataclass
class DecodeStats:
    """Counters of one `LlamaCppSampler` (for benchmarks and tests): how much was read and decoded."""

    prompt_reads: int = 0  # `fork` calls: prompts read for one parallel group
    prompt_tokens: int = 0  # prompt tokens decoded for parallel groups (a prefix its caller read is added by it)
    prompt_s: float = 0.0
    steps: int = 0  # decode calls of `run`, one token of every live sequence each
    max_sequences: int = 0  # most sequences decoded in one step


def token_logprobs(logits: np.ndarray, s: SamplingSettings, seen: np.ndarray | None = None) -> np.ndarray:
    """Log-probabilities (float64, -inf where filtered out) of the distribution the next token is
    drawn from, given raw `logits` and the ids already in the sequence (`seen`, for the penalty)."""
    x = _penalised(logits, s, seen)
    if s.top_k and 0 < s.top_k < x.size:
        kth = np.partition(x, -s.top_k)[-s.top_k]
        x[x < kth] = -np.inf
    return _filtered(x, s)


def choose(logits: np.ndarray, s: SamplingSettings, seen: np.ndarray | None, rng: np.random.Generator) -> tuple[int, float]:
    """The next token (drawn, or greedy at temperature 0) and its log-probability under
    `token_logprobs`, the same token for the same random number. With top-k on, only candidates
    are worked on: the k + m best raw logits and the m penalised ids (a token outside both cannot
    be in the penalised top k), in id order so the draw's cumulative sum is the full one's (over
    152k entries, float64 copies, exp and cumsum cost ~6 ms a token in numpy, more than a small
    model's decode step)."""
    if not (s.top_k and 0 < s.top_k < logits.size):
        logp = token_logprobs(logits, s, seen)
        tok = draw(logp, rng) if s.temperature > 0 else int(np.argmax(logp))
        return tok, float(logp[tok])
    k = s.top_k
    penalised = np.zeros(0, dtype=np.int64)
    if s.repetition_penalty != 1.0 and seen is not None and len(seen):
        penalised = np.unique(seen)
    m = len(penalised)
    if k + m < logits.size:
        cand = np.union1d(np.argpartition(logits, -(k + m))[-(k + m):], penalised)
    else:
        cand = np.arange(logits.size)
    x = logits[cand].astype(np.float64)
    if m:
        hit = np.isin(cand, penalised, assume_unique=True)
        v = x[hit]
        x[hit] = np.where(v > 0, v / s.repetition_penalty, v * s.repetition_penalty)
    top = np.sort(np.argpartition(x, -k)[-k:])
    logp = _filtered(x[top], s)
    i = draw(logp, rng) if s.temperature > 0 else int(np.argmax(logp))
    return int(cand[top[i]]), float(logp[i])


def _penalised(logits: np.ndarray, s: SamplingSettings, seen: np.ndarray | None) -> np.ndarray:
    x = logits.astype(np.float64)
    if s.repetition_penalty != 1.0 and seen is not None and len(seen):
        ids = np.unique(seen)
        v = x[ids]
        x[ids] = np.where(v > 0, v / s.repetition_penalty, v * s.repetition_penalty)
    return x


def _filtered(x: np.ndarray, s: SamplingSettings) -> np.ndarray:
    """Log-probabilities from penalised, top-k filtered logits `x` (modified): temperature, top-p, min-p."""
    if s.temperature > 0 and not s.temperature_last:  # 0 is greedy: the reported value is then untempered
        x /= s.temperature
    x -= x.max()
    logp = x - np.log(np.exp(x).sum())
    if s.top_p < 1.0:
        order = np.argsort(-logp)
        cum = np.cumsum(np.exp(logp[order]))
        keep = int(np.searchsorted(cum, s.top_p)) + 1  # the smallest prefix reaching top_p
        logp[order[keep:]] = -np.inf
    if s.min_p and s.min_p > 0:
        logp[logp < logp.max() + np.log(s.min_p)] = -np.inf
    if s.top_p < 1.0 or (s.min_p and s.min_p > 0):
        finite = np.isfinite(logp)
        logp[finite] -= np.log(np.exp(logp[finite]).sum())
    if s.temperature_last and s.temperature > 0 and s.temperature != 1.0:
        finite = np.isfinite(logp)
        y = logp[finite] / s.temperature
        y -= y.max()
        logp[finite] = y - np.log(np.exp(y).sum())
    return logp


def penalty_context(prompt: np.ndarray, completion: list[int], s: SamplingSettings) -> np.ndarray | None:
    """The token ids the repetition penalty applies to (see `SamplingSettings.penalty_last_n`)."""
    if s.repetition_penalty == 1.0:
        return None
    if s.penalty_last_n is None:
        return np.concatenate([prompt, np.asarray(completion, dtype=np.int64)])
    if s.penalty_last_n <= 0 or not completion:
        return None
    return np.asarray(completion[-s.penalty_last_n:], dtype=np.int64)


def draw(logp: np.ndarray, rng: np.random.Generator) -> int:
    """One token id from a log-probability vector (inverse CDF: ~1 ms for 152k entries)."""
    cdf = np.cumsum(np.exp(logp))
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), logp.size - 1))


class LlamaCppSampler:
    """A GGUF base loaded once with a context for `n_seq_max` parallel sequences, one LoRA adapter
    at a time (replaced, and the old one freed, by `set_adapter`); or, made by `borrow`, the same
    engine on the context of an existing `llama_cpp.Llama` (which keeps owning it)."""

    def __init__(self, gguf_path: str | os.PathLike, *, n_ctx: int = 8192, n_seq_max: int = 8,
                 n_threads: int | None = None, n_batch: int = 512):
        try:
            import llama_cpp
            from llama_cpp import _internals as internals
        except ImportError:
            raise BackendError("llama.cpp rollouts need llama-cpp-python: pip install 'l2l[llamacpp]'") from None
        from llama_cpp._logger import set_verbose

        from l2l.backends.llamacpp import default_threads

        set_verbose(False)  # llama.cpp's context set-up log (what Llama(verbose=False) also silences)
        self.path = Path(gguf_path)
        if not self.path.is_file():
            raise BackendError(f"GGUF base {self.path} does not exist")
        self.n_threads = int(n_threads or default_threads())
        mp = llama_cpp.llama_model_default_params()
        try:
            self.model = internals.LlamaModel(path_model=str(self.path), params=mp, verbose=False)
        except ValueError as e:
            raise BackendError(f"llama.cpp could not load {self.path}: {e}") from None
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = int(n_ctx)
        cp.n_batch = cp.n_ubatch = int(n_batch)
        cp.n_threads = cp.n_threads_batch = self.n_threads
        cp.n_seq_max = int(n_seq_max)
        cp.kv_unified = True  # one cell pool: the prompt's cells are shared by the group, not copied
        cp.no_perf = True
        self.ctx = internals.LlamaContext(model=self.model, params=cp, verbose=False)
        self._setup(owned=True)

    @classmethod
    def borrow(cls, llm: Any) -> "LlamaCppSampler":
        """The engine on `llm`'s model and context (a `llama_cpp.Llama` whose context was made with
        several sequences and a unified KV cache); `close` leaves them to `llm`. No adapter handling:
        whatever adapter `llm`'s owner set applies."""
        self = cls.__new__(cls)
        self.path = Path(llm.model_path)
        self.n_threads = int(llm.n_threads)
        self.model, self.ctx = llm._model, llm._ctx
        self._setup(owned=False)
        return self

    def _setup(self, owned: bool) -> None:
        import llama_cpp
        from llama_cpp import _internals as internals

        self._owned = owned
        self.n_ctx = int(self.ctx.n_ctx())
        self.n_seq_max = int(llama_cpp.llama_n_seq_max(self.ctx.ctx))
        self.n_batch = int(llama_cpp.llama_n_batch(self.ctx.ctx))
        self.n_vocab = int(self.model.n_vocab())
        self.batch = internals.LlamaBatch(n_tokens=max(self.n_batch, self.n_seq_max), embd=0, n_seq_max=1, verbose=False)
        self.adapter: Any = None
        self.adapter_path: Path | None = None
        self.adapter_owner: Any = None  # who exported the adapter in place (a rollout, a policy backend)
        self.tokens_generated = 0
        self.decode_s = 0.0
        self.stats = DecodeStats()

    # ------------------------------------------------------------------ adapters

    def set_adapter(self, path: str | os.PathLike | None, scale: float = 1.0, owner: Any = None) -> None:
        """Use the GGUF LoRA at `path` (None: the bare base) for every later sample. The file is
        read now, so it may be overwritten afterwards; the previous adapter is freed. `owner` is
        recorded, so a user can tell whether the adapter in place is still its own."""
        import ctypes

        import llama_cpp

        from l2l.backends.llamacpp import _DECODE_LOCK

        new = None
        if path is not None:
            new = llama_cpp.llama_adapter_lora_init(self.model.model, str(path).encode("utf-8"))
            if not new:
                raise BackendError(f"llama.cpp could not load the LoRA adapter {path} on {self.path.name} "
                                   "(not a GGUF LoRA, or made for another base model)")
        with _DECODE_LOCK:
            if new is None:
                rc = llama_cpp.llama_set_adapters_lora(self.ctx.ctx, None, 0, None)
            else:
                arr = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(new)
                rc = llama_cpp.llama_set_adapters_lora(self.ctx.ctx, arr, 1, (ctypes.c_float * 1)(scale))
            if rc:
                raise BackendError(f"llama.cpp could not set the LoRA adapter {path} (code {rc})")
            old, self.adapter = self.adapter, new
            self.adapter_path = Path(path) if path is not None else None
            self.adapter_owner = owner
            if old:
                llama_cpp.llama_adapter_lora_free(old)  # else one dead adapter per training step stays in memory

    # ------------------------------------------------------------------ sampling

    def _logits(self, i: int) -> np.ndarray:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self.ctx.ctx, i)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def _decode(self) -> None:
        t = time.perf_counter()
        try:
            self.ctx.decode(self.batch)
        except RuntimeError as e:
            raise BackendError(f"llama.cpp: {e} (context {self.n_ctx} tokens, {self.n_seq_max} sequences)") from None
        self.decode_s += time.perf_counter() - t

    def _read_prompt(self, prompt_ids: list[int]) -> np.ndarray:
        """Decode the prompt into sequence 0 of an empty cache; the next-token logits after it."""
        self.ctx.kv_cache_clear()
        t = time.perf_counter()
        for i in range(0, len(prompt_ids), self.n_batch):
            self.batch.set_batch(prompt_ids[i:i + self.n_batch], n_past=i, logits_all=False)
            self._decode()
        self.stats.prompt_tokens += len(prompt_ids)
        self.stats.prompt_s += time.perf_counter() - t
        return self._logits(self.batch.n_tokens() - 1).copy()

    def group_size(self, prompt_len: int, n: int, max_tokens: int) -> int:
        """How many of n samples of one prompt fit in one parallel decode (cells: prompt + each completion)."""
        room = (self.n_ctx - prompt_len) // max(1, max_tokens)
        if room < 1 or prompt_len + max_tokens > self.n_ctx:
            raise BackendError(f"a {prompt_len}-token prompt + {max_tokens} completion tokens do not fit llama.cpp's "
                               f"{self.n_ctx}-token context (grpo.rollout_n_ctx)")
        return max(1, min(n, self.n_seq_max, room))

    def sample(self, prompt_ids: list[int], n: int, s: SamplingSettings, stop_ids: set[int],
               rng: np.random.Generator) -> list[Sample]:
        """n completions of one prompt, in parallel groups that fit the context."""
        from l2l.backends.llamacpp import _DECODE_LOCK

        prompt_ids = [int(t) for t in prompt_ids]
        if not prompt_ids:
            raise BackendError("llama.cpp rollouts need a non-empty prompt")
        out: list[Sample] = []
        k = self.group_size(len(prompt_ids), n, s.max_tokens)
        with _DECODE_LOCK:
            try:
                while len(out) < n:
                    out += self._sample_group(prompt_ids, min(k, n - len(out)), s, stop_ids, rng)
            finally:
                self.ctx.kv_cache_clear()
        return out

    def _sample_group(self, prompt_ids: list[int], n: int, s: SamplingSettings, stop_ids: set[int],
                      rng: np.random.Generator) -> list[Sample]:
        first = self._read_prompt(prompt_ids)
        logits = self.fork([prompt_ids], [n], len(prompt_ids), first)
        samples = [Sample(list(prompt_ids)) for _ in range(n)]
        return self.run(samples, list(range(n)), logits, s, [rng] * n, stop_ids)

    def fork(self, prompts: list[list[int]], counts: list[int], shared: int, shared_logits: np.ndarray | None,
             deadline: float | None = None) -> list[np.ndarray] | None:
        """Give prompt r to `counts[r]` sequences, numbered from 0 in order, when sequence 0 already
        holds the first `shared` tokens, common to every prompt (`shared_logits`: the logits after
        them, needed when a prompt is no longer than that). The shared cells are not copied but
        tagged with every sequence (unified KV cache); each prompt's own tokens are read once, several
        prompts per batch, into its first sequence, whose cells its other sequences then share too.
        Returns every sequence's next-token logits, or None when `deadline` (time.monotonic()) passed
        between two batches."""
        bases = np.cumsum([0, *counts[:-1]]).tolist()
        for base in bases[1:]:
            self.ctx.kv_cache_seq_cp(0, base, -1, -1)
        jobs = [(r, int(tok), pos, pos == len(p) - 1) for r, p in enumerate(prompts) for pos, tok in enumerate(p)
                if pos >= shared]
        first = {r: shared_logits for r, p in enumerate(prompts) if len(p) <= shared}
        t = time.perf_counter()
        b = self.batch.batch
        for i in range(0, len(jobs), self.n_batch):
            if deadline is not None and time.monotonic() >= deadline:
                return None
            chunk = jobs[i:i + self.n_batch]
            for j, (r, tok, pos, last) in enumerate(chunk):
                b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = tok, pos, 1, last
                b.seq_id[j][0] = bases[r]
            b.n_tokens = len(chunk)
            self._decode()
            first.update({r: self._logits(j).copy() for j, (r, _, _, last) in enumerate(chunk) if last})
        for r, base in enumerate(bases):
            for c in range(1, counts[r]):
                self.ctx.kv_cache_seq_cp(base, base + c, -1, -1)
        self.stats.prompt_reads += 1
        self.stats.prompt_tokens += len(jobs)
        self.stats.prompt_s += time.perf_counter() - t
        return [first[r] for r, c in enumerate(counts) for _ in range(c)]

    def run(self, samples: list[Sample], seq_ids: list[int], logits: list[np.ndarray], s: SamplingSettings,
            rngs: list[np.random.Generator], stop_ids: set[int], hooks: list[SequenceHooks] | None = None,
            deadline: float | None = None) -> list[Sample]:
        """Decode `samples` (their prompts already in `seq_ids`, `logits` the next-token logits of each)
        in parallel until each one stops: a token of `stop_ids` (kept as its last token), its hook's
        `stop`, `s.max_tokens`, or `deadline` (time.monotonic(); the tokens drawn so far are kept).
        Each step draws one token per live sequence (sequence i from `rngs[i]`) and decodes them all in
        one batch."""
        prompts = [np.asarray(smp.prompt_ids, dtype=np.int64) for smp in samples]
        live = list(range(len(samples)))
        b = self.batch.batch
        while live:
            fed = []
            for i in live:
                smp, hook = samples[i], hooks[i] if hooks else None
                x = hook.mask(logits[i]) if hook is not None else logits[i]
                if not np.isfinite(x).any():  # a grammar that allows nothing more
                    smp.finish_reason = "stop"
                    continue
                tok, logp = choose(x, s, penalty_context(prompts[i], smp.completion_ids, s), rngs[i])
                smp.completion_ids.append(tok)
                smp.logprobs.append(logp)
                self.tokens_generated += 1
                if tok in stop_ids:
                    smp.finish_reason = "stop"
                elif hook is not None and (reason := hook.stop(smp)) is not None:
                    smp.finish_reason = reason
                elif len(smp.completion_ids) < s.max_tokens:
                    fed.append((i, tok))
            live = [i for i, _ in fed]
            if not fed:
                break
            if deadline is not None and time.monotonic() >= deadline:
                for i in live:  # the token just drawn stays, as a sequential completion cut there keeps it
                    samples[i].finish_reason = "time_budget"
                break
            for j, (i, tok) in enumerate(fed):
                pos = len(samples[i].prompt_ids) + len(samples[i].completion_ids) - 1
                b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = tok, pos, 1, True
                b.seq_id[j][0] = seq_ids[i]
            b.n_tokens = len(fed)
            self._decode()
            self.stats.steps += 1
            self.stats.max_sequences = max(self.stats.max_sequences, len(fed))
            for j, (i, _) in enumerate(fed):
                logits[i] = self._logits(j).copy()
        return samples

    def tokenize(self, text: str) -> list[int]:
        """llama.cpp's tokens of `text` (special tokens parsed), for checking it against the HF tokenizer."""
        return list(self.model.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def close(self) -> None:
        if not getattr(self, "_owned", True):  # borrowed: the model and context are the Llama's
            if getattr(self, "batch", None) is not None:
                self.batch.close()
                self.batch = None
            self.model = self.ctx = None
            return
        for part in ("batch", "ctx"):
            obj = getattr(self, part, None)
            if obj is not None:
                obj.close()
                setattr(self, part, None)
        if getattr(self, "model", None) is not None:
            if self.adapter:
                import llama_cpp

                llama_cpp.llama_adapter_lora_free(self.adapter)
                self.adapter = None
            self.model.close()
            self.model = None
