"""Several completions decoded together in one llama.cpp context: the n samples of one request
(`GenerationParams(n=k)`) and the conversations of one `chat_batch`, as parallel sequences.

On a CPU one decode step of several sequences costs little more than a step of one (the weights
are read once per step for all of them), so k sampled formulations or programs take about the
wall time of one instead of k. The engine is the training rollouts' (`l2l.train.llamacpp_sampler`:
`fork` and `run`, numpy sampling from the raw logits), borrowed on the backend's own context (made
with `parallel_sequences` sequences and a unified KV cache), so no second model or context is
loaded. What inference adds, per sequence, is what llama-cpp-python's `create_chat_completion`
does for one completion, so a sequence decoded here is the completion a sequential call makes:

* the prompt, stop strings and grammar come from the model's own chat handler (captured, not
  re-implemented: the same Jinja template, the EOS text as a stop, the JSON-schema grammar);
* tokens are drawn as llama-cpp-python's sampler chain draws them: repetition penalty over the
  last 64 generated tokens, grammar, then greedy at temperature 0, else top-k 40, top-p, min-p
  0.05, temperature (`SamplingSettings(penalty_last_n=64, temperature_last=True)`);
* a sequence ends at an end-of-generation token (not counted, as there), at the first stop string
  found in its text (the text is cut before it; every token drawn is counted, as there), at its
  token budget (clamped to the context as there), or at the deadline (all sequences at once,
  finish_reason "time_budget", keeping the tokens drawn);
* constrained formulations decode in parallel too: each sequence has its own llama.cpp grammar
  sampler, applied to its logits before the draw and advanced with its token (the same grammar
  llama.cpp applies sequentially, so the same constraint and cost per token).

The prompt's shared prefix (all of it for n samples of one prompt; the common system text and
worked example of a batch's conversations) is read once, through `Llama.eval` and the prompt
cache as a sequential call reads it (prefix reuse, cached states, the deadline's chunked reading);
each conversation's own tokens follow in batches, and its samples share its cells. Afterwards
the context keeps the first prompt in sequence 0, as after a sequential call.

Differences from n sequential calls, by design: sampled (temperature > 0) tokens come from numpy's
generator seeded with seed + i, not llama.cpp's, so samples differ from the sequential path's for
the same seed (greedy ones do not); `elapsed_s` of each completion is its share of the group's
wall time (the shares add up to the time spent); each completion still reports its whole prompt
as `prompt_tokens` (what it was conditioned on), while the prompt is read once per group
(`LlamaCppSampler.stats` counts what was read and decoded).

    >>> b = LlamaCppBackend("model.gguf", parallel_sequences=4)                      # doctest: +SKIP
    >>> [len(c.text) for c in b.chat(msgs, n=4, temperature=0.8, max_tokens=64)]     # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2l.backends.base import BackendError, GenerationParams, Message
from l2l.backends.llamacpp_cache import _lcp  # longest common token prefix
from l2l.train.llamacpp_sampler import LlamaCppSampler, Sample, SamplingSettings, SequenceHooks
from l2l.types import Completion

# llama-cpp-python's defaults for what GenerationParams does not set (create_chat_completion's
# chat handler: top_k 40, min_p 0.05, typical_p 1), so parallel samples follow the same distribution.
TOP_K = 40
MIN_P = 0.05


@dataclass
class ChatPrompt:
    """What the model's chat handler would hand to `create_completion` for one conversation."""

    ids: list[int]
    stop: list[str]  # the caller's stop strings, then the handler's (the EOS text)
    grammar: Any  # llama_cpp.LlamaGrammar or None


class _Captured(Exception):
    def __init__(self, kwargs: dict[str, Any]):
        self.kwargs = kwargs


class _CapturingLlama:
    """Stands in for the `Llama` a chat handler formats for, and stops it at `create_completion`."""

    def __init__(self, llm: Any):
        self._llm = llm

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def create_completion(self, **kwargs: Any) -> Any:
        raise _Captured(kwargs)


def format_chat(llm: Any, messages: list[Message], params: GenerationParams) -> ChatPrompt:
    """The prompt ids, stop strings and grammar `llm.create_chat_completion` would decode with."""
    import llama_cpp.llama_chat_format as chat_format

    handler = (llm.chat_handler or llm._chat_handlers.get(llm.chat_format)
               or chat_format.get_chat_completion_handler(llm.chat_format))
    kwargs: dict[str, Any] = dict(messages=messages, stop=list(params.stop) or None)
    if params.json_schema is not None:
        kwargs["response_format"] = {"type": "json_object", "schema": params.json_schema}
    try:
        handler(llama=_CapturingLlama(llm), **kwargs)
    except _Captured as c:
        prompt = c.kwargs["prompt"]
        ids = list(prompt) if not isinstance(prompt, str) else llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        stop = c.kwargs.get("stop") or []
        return ChatPrompt([int(t) for t in ids], [stop] if isinstance(stop, str) else list(stop), c.kwargs.get("grammar"))
    raise BackendError(f"llama.cpp chat format {llm.chat_format!r} does not end in create_completion; "
                       "parallel decoding cannot use it (set parallel_sequences=1)")


def sampling_settings(params: GenerationParams, max_tokens: int, last_n: int) -> SamplingSettings:
    """`params` as llama-cpp-python's sampler chain applies them (see the module docstring)."""
    return SamplingSettings(max_tokens=max_tokens, temperature=params.temperature, top_p=params.top_p, top_k=TOP_K,
                            min_p=MIN_P, repetition_penalty=params.repeat_penalty, penalty_last_n=last_n,
                            temperature_last=True)


class GrammarBuffers:
    """llama_token_data_arrays a group's grammar samplers are applied to, one sequence at a time:
    the whole vocabulary (ids 0..n-1, set once) and a window of candidates."""

    def __init__(self, n_vocab: int, window: int):
        from llama_cpp import _internals as internals

        self.full = internals.LlamaTokenDataArray(n_vocab=n_vocab)
        self.full.copy_logits(np.zeros(n_vocab, dtype=np.float32))
        self.window = internals.LlamaTokenDataArray(n_vocab=window)


class InferenceHooks(SequenceHooks):
    """One sequence's grammar, stop strings, end-of-generation tokens and token budget.

    The grammar costs: llama.cpp checks every candidate token's text against it, and applied to the
    whole 152k vocabulary that is most of a small model's time per token (sequentially about 16% of
    the 1.5B's, issue 16), once per sequence per step. But only the top-k tokens (after the penalty)
    can be drawn, so the grammar is first applied to the WINDOW best raw logits plus the recently
    generated (penalised) ids: if at least `top_k` of the unpenalised ones pass, no token outside
    the window can reach the top k, and the draw is exactly the one over the fully masked vocabulary
    (greedy included: its argmax is in the top k). Otherwise (a structural position where few tokens
    are allowed, or the end) the whole vocabulary is masked, as llama.cpp does."""

    WINDOW = 512

    def __init__(self, llm: Any, stop: list[str], max_tokens: int, grammar: Any = None,
                 buffers: GrammarBuffers | None = None, top_k: int = TOP_K, last_n: int = 64):
        import llama_cpp

        self.llm = llm
        self.vocab = llm._model.vocab
        self.stops = [s.encode("utf-8") for s in stop if s]
        self.max_tokens = max_tokens
        self.eog = False  # ended by an end-of-generation token (not part of the completion)
        self.cut: int | None = None  # byte offset of the stop string that ended it
        self.sampler = None
        self.buffers = buffers
        self.top_k, self.last_n = top_k, last_n
        self.recent = np.zeros(0, dtype=np.int64)  # the ids the repetition penalty sees
        if grammar is not None:
            from llama_cpp import _internals as internals

            self.sampler = internals.LlamaSampler()
            self.sampler.add_grammar(llm._model, grammar)
        self._apply = llama_cpp.llama_sampler_apply
        self._is_eog = llama_cpp.llama_vocab_is_eog

    def mask(self, logits: np.ndarray) -> np.ndarray:
        if self.sampler is None:
            return logits
        if self.top_k and logits.size > self.WINDOW + len(self.recent):
            out = self._mask_window(logits)
            if out is not None:
                return out
        arr = self.buffers.full
        data = arr.candidates_data
        data.logit[:] = logits  # ids stay 0..n-1: the grammar sets logits to -inf, it does not reorder
        arr.candidates.size, arr.candidates.sorted, arr.candidates.selected = logits.size, False, -1
        self._apply(self.sampler.sampler, ctypes.byref(arr.candidates))
        if int(arr.candidates.size) == logits.size:
            return np.array(data.logit)
        out = np.full(logits.shape, -np.inf, dtype=np.float32)
        size = int(arr.candidates.size)
        out[data.id[:size]] = data.logit[:size]
        return out

    def _mask_window(self, logits: np.ndarray) -> np.ndarray | None:
        """The grammar applied to the window only, or None when that cannot decide the top k."""
        ids = np.union1d(np.argpartition(logits, -self.WINDOW)[-self.WINDOW:], self.recent).astype(np.intc)
        arr = self.buffers.window
        data = arr.candidates_data
        data.id[:ids.size] = ids
        data.logit[:ids.size] = logits[ids]
        arr.candidates.size, arr.candidates.sorted, arr.candidates.selected = ids.size, False, -1
        self._apply(self.sampler.sampler, ctypes.byref(arr.candidates))
        size = int(arr.candidates.size)
        kept_ids, kept = np.array(data.id[:size]), np.array(data.logit[:size])
        allowed = np.isfinite(kept)
        if np.count_nonzero(allowed & ~np.isin(kept_ids, self.recent)) < self.top_k:
            return None
        out = np.full(logits.shape, -np.inf, dtype=np.float32)
        out[kept_ids[allowed]] = kept[allowed]
        return out

    def stop(self, sample: Sample) -> str | None:
        tok = sample.completion_ids[-1]
        if self._is_eog(self.vocab, tok):
            self.eog = True
            return "stop"
        if self.sampler is not None:
            self.sampler.accept(tok)
            self.recent = np.asarray(sample.completion_ids[-self.last_n:], dtype=np.int64) if self.last_n > 0 else self.recent
        if self.stops:
            text = self.llm.detokenize(sample.completion_ids)
            for s in self.stops:  # the first stop string of the list that occurs, as llama-cpp-python
                if s in text:
                    self.cut = text.index(s)
                    return "stop"
        if len(sample.completion_ids) >= self.max_tokens:
            return "length"
        return None

    def completion(self, sample: Sample, elapsed: float) -> Completion:
        ids = sample.completion_ids[:-1] if self.eog else sample.completion_ids
        text = self.llm.detokenize(ids)
        if self.cut is not None:
            text = text[:self.cut]
        return Completion(text.decode("utf-8", errors="ignore"), len(sample.prompt_ids), len(ids), elapsed,
                          finish_reason=sample.finish_reason)

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None


@dataclass
class _Seq:
    """One sequence to decode: conversation `conv`, its sample number `index`."""

    conv: int
    index: int


def _shared_len(prompts: list[list[int]]) -> int:
    n = len(prompts[0])
    for p in prompts[1:]:
        n = min(n, _lcp(prompts[0], p))
    return n


def plan_groups(prompts: list[list[int]], n: int, budgets: list[int], n_seq_max: int, n_ctx: int) -> list[list[_Seq]]:
    """The n samples of every prompt, in order, packed into groups that decode together: at most
    `n_seq_max` sequences, and KV cells for the shared prefix, each prompt's own tokens and every
    sequence's whole budget (`budgets[r]` tokens for prompt r) within `n_ctx`.

    >>> [[(s.conv, s.index) for s in g] for g in plan_groups([[1, 2, 3]], 3, [4], n_seq_max=2, n_ctx=100)]
    [[(0, 0), (0, 1)], [(0, 2)]]
    >>> len(plan_groups([[1, 2, 3], [1, 2, 4]], 1, [40, 40], n_seq_max=8, n_ctx=80))  # 2 + 1 + 1 + 80 > 80
    2
    """
    def cells(group: list[_Seq]) -> int:
        convs = sorted({s.conv for s in group})
        shared = _shared_len([prompts[r] for r in convs])
        return shared + sum(len(prompts[r]) - shared for r in convs) + sum(budgets[s.conv] for s in group)

    groups: list[list[_Seq]] = [[]]
    for r in range(len(prompts)):
        for i in range(n):
            seq = _Seq(r, i)
            if groups[-1] and (len(groups[-1]) >= n_seq_max or cells(groups[-1] + [seq]) > n_ctx):
                groups.append([])
            groups[-1].append(seq)
    return groups


def _read_shared(llm: Any, tokens: list[int], need_logits: bool, deadline: float | None) -> tuple[np.ndarray | None, int]:
    """Put `tokens` in sequence 0 as `create_completion` would: a cached state with a longer common
    prefix is loaded, the common prefix with what the context holds is kept, the rest is read (in
    chunks that stop at the deadline: raises _DeadlineReached). Returns the logits after the last
    token when `need_logits` (a live decode of that token alone, never a restored state's, so a cold
    and a warm read give the same logits), and how many tokens were read."""
    import llama_cpp

    from l2l.backends.llamacpp import _Deadline

    if llm.cache is not None and tokens:
        try:
            item = llm.cache[tokens]
        except KeyError:
            item = None
        if item is not None and _lcp(item.input_ids.tolist(), tokens) > _lcp(llm._input_ids.tolist(), tokens):
            llm.load_state(item)
    keep = _lcp(llm._input_ids.tolist(), tokens)
    if need_logits and keep == len(tokens):
        keep -= 1  # the last token is decoded again for its logits
    if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
        llm.n_tokens = keep
    else:
        llm.reset()
        llm._ctx.kv_cache_clear()
    rest = tokens[llm.n_tokens:]
    if rest:
        with _Deadline(llm, deadline):  # reads the last token alone, as a sequential call does
            llm.eval(rest)
    llm._requires_eval = True  # the next sequential call decodes its last prompt token again
    if not need_logits:
        return None, len(rest)
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy(), len(rest)


def _settle(llm: Any, prompt: list[int] | None) -> None:
    """Leave the context as a sequential call on `prompt` would: sequence 0 holding it, the other
    sequences gone (None: nothing reusable, e.g. cut while reading)."""
    ctx = llm._ctx
    if prompt is None:
        ctx.kv_cache_clear()
        llm.reset()
        return
    ctx.kv_cache_seq_keep(0)
    ctx.kv_cache_seq_rm(0, len(prompt), -1)
    llm.input_ids[:len(prompt)] = prompt
    llm.n_tokens = len(prompt)
    llm._requires_eval = True


def _read_group(engine: LlamaCppSampler, llm: Any, prompts: list[list[int]], counts: list[int],
                deadline: float | None) -> list[np.ndarray] | None:
    """Read a group's distinct prompts (`counts[r]` sequences for prompt r): their shared prefix into
    sequence 0 as a sequential call reads a prompt, then `engine.fork`. None when the deadline passed."""
    from l2l.backends.llamacpp import _DeadlineReached

    if deadline is not None and time.monotonic() >= deadline:
        return None
    shared = _shared_len(prompts)
    t = time.perf_counter()
    try:
        # logits after the prefix are needed when it is a whole prompt (n samples of one prompt, or a
        # batch holding a conversation twice)
        shared_logits, read = _read_shared(llm, prompts[0][:shared], any(len(p) == shared for p in prompts), deadline)
    except _DeadlineReached:
        return None
    engine.stats.prompt_tokens += read
    engine.stats.prompt_s += time.perf_counter() - t
    return engine.fork(prompts, counts, shared, shared_logits, deadline)


def chat_parallel(engine: LlamaCppSampler, llm: Any, conversations: list[list[Message]], params: GenerationParams,
                  seed: int | list[int]) -> list[list[Completion]]:
    """`params.n` completions of each conversation, decoded in parallel groups on `llm`'s context
    (call under the backend's decode lock, with its adapter in place). Sample i of conversation t
    draws from numpy's generator seeded with seed + i (seed[t] + i for a list of per-conversation seeds)."""
    n = max(1, params.n)
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [int(seed)] * len(conversations)
    chats = [format_chat(llm, m, params) for m in conversations]
    n_ctx = engine.n_ctx
    budgets = []
    for c in chats:
        if len(c.ids) >= n_ctx:  # create_completion's own check and message
            raise BackendError(f"llama.cpp: Requested tokens ({len(c.ids)}) exceed context window of {n_ctx}")
        want = params.max_tokens if params.max_tokens and params.max_tokens > 0 else n_ctx
        budgets.append(min(want, n_ctx - len(c.ids)))
    out: list[list[Completion | None]] = [[None] * n for _ in chats]
    last_n = int(llm.last_n_tokens_size)
    buffers = None
    if any(c.grammar is not None for c in chats):
        buffers = GrammarBuffers(engine.n_vocab, InferenceHooks.WINDOW + max(0, last_n))
    last = None
    for group in plan_groups([c.ids for c in chats], n, budgets, engine.n_seq_max, n_ctx):
        t = time.perf_counter()
        convs = list(dict.fromkeys(s.conv for s in group))
        prompts = [chats[r].ids for r in convs]
        hooks = [InferenceHooks(llm, chats[s.conv].stop, budgets[s.conv], chats[s.conv].grammar, buffers, TOP_K, last_n)
                 for s in group]
        samples = [Sample(list(chats[s.conv].ids)) for s in group]
        try:
            logits = _read_group(engine, llm, prompts, [sum(1 for s in group if s.conv == r) for r in convs], params.deadline)
            if logits is None:  # the deadline passed before or while reading the prompts
                for smp in samples:
                    smp.finish_reason = "time_budget"
                _settle(llm, None)
                last = None
            else:
                settings = sampling_settings(params, max(budgets[s.conv] for s in group), last_n)
                rngs = [np.random.default_rng(seeds[s.conv] + s.index) for s in group]
                engine.run(samples, list(range(len(group))), logits, settings, rngs, set(), hooks, params.deadline)
                _settle(llm, prompts[0])
                last = prompts[0]
        except BaseException:
            _settle(llm, None)
            raise
        finally:
            for h in hooks:
                h.close()
        elapsed = (time.perf_counter() - t) / len(group)
        for s, smp, h in zip(group, samples, hooks):
            out[s.conv][s.index] = h.completion(smp, elapsed)
    if last is not None and llm.cache is not None:
        llm.cache[last] = llm.save_state()  # as a sequential call leaves its prompt's state for the next process
    return out  # type: ignore[return-value]
