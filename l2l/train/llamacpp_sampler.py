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

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0: greedy), got {self.temperature}")


@dataclass
class Sample:
    """One completion: token ids and the log-probability each token was drawn with."""

    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: str = "length"  # "stop": a stop token ended it (and is its last token)


def token_logprobs(logits: np.ndarray, s: SamplingSettings, seen: np.ndarray | None = None) -> np.ndarray:
    """Log-probabilities (float64, -inf where filtered out) of the distribution the next token is
    drawn from, given raw `logits` and the ids already in the sequence (`seen`, for the penalty)."""
    x = logits.astype(np.float64)
    if s.repetition_penalty != 1.0 and seen is not None and len(seen):
        ids = np.unique(seen)
        v = x[ids]
        x[ids] = np.where(v > 0, v / s.repetition_penalty, v * s.repetition_penalty)
    if s.temperature > 0:  # 0 is greedy: the reported value is then the untempered log-probability
        x /= s.temperature
    if s.top_k and 0 < s.top_k < x.size:
        kth = np.partition(x, -s.top_k)[-s.top_k]
        x[x < kth] = -np.inf
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
    return logp


def draw(logp: np.ndarray, rng: np.random.Generator) -> int:
    """One token id from a log-probability vector (inverse CDF: ~1 ms for 152k entries)."""
    cdf = np.cumsum(np.exp(logp))
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), logp.size - 1))


class LlamaCppSampler:
    """A GGUF base loaded once with a context for `n_seq_max` parallel sequences, one LoRA adapter
    at a time (replaced, and the old one freed, by `set_adapter`)."""

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
        self.n_ctx = int(self.ctx.n_ctx())
        self.n_seq_max = int(n_seq_max)
        self.n_batch = int(n_batch)
        self.n_vocab = int(self.model.n_vocab())
        self.batch = internals.LlamaBatch(n_tokens=max(self.n_batch, self.n_seq_max), embd=0, n_seq_max=1, verbose=False)
        self.adapter: Any = None
        self.adapter_path: Path | None = None
        self.adapter_owner: Any = None  # who exported the adapter in place (a rollout, a policy backend)
        self.tokens_generated = 0
        self.decode_s = 0.0

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
        for i in range(0, len(prompt_ids), self.n_batch):
            self.batch.set_batch(prompt_ids[i:i + self.n_batch], n_past=i, logits_all=False)
            self._decode()
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
        for seq in range(1, n):
            self.ctx.kv_cache_seq_cp(0, seq, -1, -1)
        samples = [Sample(list(prompt_ids)) for _ in range(n)]
        prompt = np.asarray(prompt_ids, dtype=np.int64)
        logits = {seq: first for seq in range(n)}
        live = list(range(n))
        pos = len(prompt_ids)
        while live:
            fed = []
            for seq in live:
                smp = samples[seq]
                seen = np.concatenate([prompt, np.asarray(smp.completion_ids, dtype=np.int64)]) \
                    if s.repetition_penalty != 1.0 else None
                logp = token_logprobs(logits[seq], s, seen)
                tok = draw(logp, rng) if s.temperature > 0 else int(np.argmax(logp))
                smp.completion_ids.append(tok)
                smp.logprobs.append(float(logp[tok]))
                if tok in stop_ids:
                    smp.finish_reason = "stop"
                elif len(smp.completion_ids) < s.max_tokens:
                    fed.append((seq, tok))
            self.tokens_generated += len(live)
            live = [seq for seq, _ in fed]
            if not fed:
                break
            b = self.batch.batch
            for j, (seq, tok) in enumerate(fed):
                b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = tok, pos, 1, True
                b.seq_id[j][0] = seq
            b.n_tokens = len(fed)
            self._decode()
            logits = {seq: self._logits(j).copy() for j, (seq, _) in enumerate(fed)}
            pos += 1
        return samples

    def tokenize(self, text: str) -> list[int]:
        """llama.cpp's tokens of `text` (special tokens parsed), for checking it against the HF tokenizer."""
        return list(self.model.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def close(self) -> None:
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
