"""KV-state caches for llama-cpp-python that keep only what prompt-prefix reuse needs.

llama-cpp-python's `LlamaRAMCache` / `LlamaDiskCache` store with every KV state the model's
whole score matrix (batch rows x vocabulary floats: 311 MB for Qwen2.5's 152k-token
vocabulary), so a 1 GB cache holds three states and each save writes hundreds of MB; the
disk cache also prints to stderr on every save. Prefix reuse never reads those scores:
after a state is loaded, `Llama.generate` always decodes at least the last prompt token
again, which recomputes the logits it samples from. So we store one zero row instead
(`Llama.load_state` broadcasts it), which leaves the KV cells: about 29 kB per token for
the 1.5B model.

Which states are kept: each completion leaves the state of its prompt + completion. Most
of it is the fixed prefix (system prompt, worked example) that the next call with the same
prompt template will share, so a new state replaces any older one that is mostly a prefix
of it; prompts built from different templates keep separate states. Lookups never remove a
state (llama-cpp-python's disk cache pops the entry it finds even when it is not used,
which lost the formulator's state each time the generator looked one up).

Imported only by the llama.cpp backend, after llama_cpp itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import llama_cpp
import numpy as np
from llama_cpp.llama_cache import LlamaDiskCache, LlamaRAMCache


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def superseded(old: Sequence[int], new: Sequence[int]) -> bool:
    """True when most of `old` is a prefix of `new`: same template, different question."""
    return _lcp(old, new) * 2 >= len(old)


def slim_state(state: llama_cpp.LlamaState) -> llama_cpp.LlamaState:
    """The same state without the score matrix (see the module docstring)."""
    n_vocab = state.scores.shape[1] if state.scores.ndim == 2 else 1
    return llama_cpp.LlamaState(
        input_ids=state.input_ids,
        scores=np.zeros((1, n_vocab), dtype=np.single),
        n_tokens=state.n_tokens,
        llama_state=state.llama_state,
        llama_state_size=state.llama_state_size,
        seed=state.seed,
    )


class SlimRAMCache(LlamaRAMCache):
    """States kept in this process, least recently used dropped first."""

    def __setitem__(self, key: Sequence[int], value: llama_cpp.LlamaState) -> None:
        key = tuple(key)
        for old in [k for k in self.cache_state if superseded(k, key)]:
            del self.cache_state[old]
        self.cache_state[key] = slim_state(value)
        while self.cache_size > self.capacity_bytes and len(self.cache_state) > 1:
            self.cache_state.popitem(last=False)


class SlimDiskCache(LlamaDiskCache):
    """States kept in a directory (diskcache), so later processes reuse them; oldest dropped
    first."""

    def __getitem__(self, key: Sequence[int]) -> llama_cpp.LlamaState:
        found = self._find_longest_prefix_key(tuple(key))
        if found is None:
            raise KeyError("no cached state shares a prefix with this prompt")
        return self.cache[found]

    def __setitem__(self, key: Sequence[int], value: llama_cpp.LlamaState) -> None:
        key = tuple(key)
        for old in [k for k in self.cache.iterkeys() if superseded(k, key)]:
            self.cache.pop(old, None)
        self.cache[key] = slim_state(value)
        while self.cache_size > self.capacity_bytes and len(self.cache) > 1:
            del self.cache[next(iter(self.cache))]
