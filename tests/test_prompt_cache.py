"""The llama.cpp prompt cache: slimmed states, which states are kept, and real prefix reuse on
the 0.5B GGUF across two backend instances (a second process in miniature). ~30 s."""

from __future__ import annotations

import numpy as np
import pytest

from l2l.backends.base import BackendError, GenerationParams
from l2l.prompts import formulator_messages, generator_messages
from l2l.types import Formulation

llama_cpp = pytest.importorskip("llama_cpp")  # installed by `scripts/setup.sh dev`; the import is real
from l2l.backends.llamacpp_cache import SlimDiskCache, SlimRAMCache, slim_state, superseded  # noqa: E402


def _state(tokens: list[int], vocab: int = 50) -> "llama_cpp.LlamaState":
    return llama_cpp.LlamaState(
        input_ids=np.array(tokens, dtype=np.intc), scores=np.ones((512, vocab), dtype=np.single),
        n_tokens=len(tokens), llama_state=b"kv" * len(tokens), llama_state_size=2 * len(tokens), seed=1,
    )


def test_slim_state_drops_scores_but_keeps_kv():
    s = slim_state(_state([1, 2, 3]))
    assert s.scores.shape == (1, 50) and not s.scores.any()
    assert s.llama_state == b"kvkvkv" and s.n_tokens == 3 and list(s.input_ids) == [1, 2, 3]


def test_superseded_means_mostly_a_prefix():
    template = list(range(100))
    assert superseded(template + [7, 8], template + [9, 9, 9])  # same template, new question
    assert not superseded(template[:10] + [5] * 90, template + [1])  # other template, shared opening
    assert not superseded([1, 2], [3, 4])


@pytest.mark.parametrize("make", [lambda d: SlimRAMCache(capacity_bytes=1 << 20), lambda d: SlimDiskCache(str(d), 1 << 20)])
def test_caches_keep_one_state_per_template_and_lookups_do_not_remove(tmp_path, make):
    cache = make(tmp_path)
    a, b = list(range(100)), list(range(1000, 1100))
    cache[a + [1]] = _state(a + [1])
    cache[b + [2]] = _state(b + [2])
    cache[a + [3]] = _state(a + [3])  # replaces a + [1]
    assert cache[a + [5]].input_ids.tolist() == a + [3]
    assert cache[b + [5]].input_ids.tolist() == b + [2]
    assert cache[a + [6]].input_ids.tolist() == a + [3]  # still there after being looked up
    with pytest.raises(KeyError):
        cache[[99999]]


def test_disk_cache_respects_capacity(tmp_path):
    cache = SlimDiskCache(str(tmp_path), capacity_bytes=1)  # smaller than any state: keeps only the newest
    cache[[1, 2, 3]] = _state([1, 2, 3])
    cache[[7, 8, 9]] = _state([7, 8, 9])
    assert len(cache.cache) == 1 and cache[[7, 8]].input_ids.tolist() == [7, 8, 9]


def _count_decoded(backend) -> list[int]:
    """Record how many tokens each llama.cpp decode is given (what prefix reuse saves)."""
    decoded: list[int] = []
    original = backend.llm.eval

    def counting_eval(tokens):
        decoded.append(len(tokens))
        return original(tokens)

    backend.llm.eval = counting_eval
    return decoded


def _open(path, cache_dir, kind="disk"):
    from l2l.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(path, n_ctx=4096, seed=0, progress=False, prompt_cache=kind, prompt_cache_dir=cache_dir)


@pytest.mark.model
def test_second_instance_reuses_the_prompt_prefix_from_disk(gguf_05b_path, tmp_path):
    params = GenerationParams(max_tokens=24, temperature=0.0)
    first_q = formulator_messages("Ann is older than Bob. Who is older?")
    second_q = formulator_messages("Cy is taller than Dee. Who is taller?")
    cold = _open(gguf_05b_path, tmp_path)
    cold_decoded = _count_decoded(cold)
    [c1] = cold.chat(first_q, params)
    cold.close()
    assert sum(cold_decoded) >= c1.prompt_tokens  # nothing to reuse the first time

    warm = _open(gguf_05b_path, tmp_path)  # a new model instance: only the disk cache connects them
    warm_decoded = _count_decoded(warm)
    [c2] = warm.chat(second_q, params)
    prompt_part = warm_decoded[0]  # first decode = what was left of the prompt
    assert prompt_part < c2.prompt_tokens / 4, (prompt_part, c2.prompt_tokens)

    # Reused state gives the same greedy text as computing the prompt from scratch.
    fresh = _open(gguf_05b_path, tmp_path / "empty")
    [c3] = fresh.chat(second_q, params)
    assert c3.text == c2.text
    warm.close()
    fresh.close()


@pytest.mark.model
@pytest.mark.parametrize("kind", ["ram", "disk"])
def test_alternating_templates_keep_both_prefixes(gguf_05b_path, tmp_path, kind):
    backend = _open(gguf_05b_path, tmp_path, kind=kind)
    decoded = _count_decoded(backend)
    params = GenerationParams(max_tokens=8, temperature=0.0)
    form = Formulation.from_dict({"summary": "s", "model_type": "csp", "variables": ["a"], "constraints": ["a > 1"], "objective": "a"})
    backend.chat(formulator_messages("Ann is older than Bob."), params)
    backend.chat(generator_messages("Ann is older than Bob.", form), params)
    decoded.clear()
    [c] = backend.chat(formulator_messages("Cy is taller than Dee."), params)  # back to the first template
    assert decoded[0] < c.prompt_tokens / 4, (decoded[0], c.prompt_tokens)
    backend.close()


@pytest.mark.model
def test_unknown_cache_kind_is_a_clear_error(gguf_05b_path):
    with pytest.raises(BackendError, match="prompt_cache must be"):
        _open(gguf_05b_path, None, kind="bogus")


@pytest.mark.model
def test_a_state_llama_cpp_refuses_is_dropped_not_fatal(gguf_05b_path, tmp_path):
    params = GenerationParams(max_tokens=8, temperature=0.0)
    messages = formulator_messages("Ann is older than Bob. Who is older?")
    first = _open(gguf_05b_path, tmp_path)
    [expected] = first.chat(messages, params)
    first.close()
    cache = SlimDiskCache(str(tmp_path))
    [key] = list(cache.cache.iterkeys())
    state = cache[key]
    state.llama_state = b"\0" * 64  # what a damaged file or another llama.cpp build looks like
    state.llama_state_size = 64
    cache.cache[key] = state
    second = _open(gguf_05b_path, tmp_path)
    with pytest.warns(UserWarning, match="prompt cache unusable"):
        [c] = second.chat(messages, params)
    assert c.text == expected.text and second.prompt_cache == "off"
    second.close()
