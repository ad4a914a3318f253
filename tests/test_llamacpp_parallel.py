"""Parallel sequences in one llama.cpp context (l2l/backends/llamacpp_parallel.py): n samples of a
request and the conversations of a chat_batch decode together, and each one is the completion the
sequential path (create_chat_completion) makes: same greedy text, stop strings, token counts,
grammar, deadline.

On a tiny random Qwen2 (the real Qwen2.5 tokenizer and chat template, untied output layer so
greedy text is varied, not one repeated token) written as a float32 GGUF, llama.cpp on one
thread. Cost on 2 busy cores: the tiny model ~20 s once, then 0.1-7 s per test; ~40 s in all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from l2l.backends.base import GenerationParams

SYSTEM = {"role": "system", "content": "You are a careful assistant. Answer briefly and check every step."}


def ask(q: str) -> list[dict]:
    return [SYSTEM, {"role": "user", "content": q}]


MSGS = ask("Alice is older than Bob. Who is older?")
OTHER = ask("List three fruits.")
SCHEMA = {"type": "object", "properties": {"a": {"enum": ["x", "y"]}, "n": {"type": "integer"}}, "required": ["a"]}


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, qwen_tokenizer_dir) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from l2l.models.qwen2_gguf import checkpoint_to_gguf

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=False, initializer_range=0.1,
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"), eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_untied")
    Qwen2ForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return checkpoint_to_gguf(out)


def _backend(gguf: Path, parallel: int, **kw):
    from l2l.backends.llamacpp import LlamaCppBackend

    kw.setdefault("prompt_cache", "off")
    return LlamaCppBackend(gguf, n_ctx=kw.pop("n_ctx", 2048), n_threads=1, progress=False, parallel_sequences=parallel, **kw)


@pytest.fixture(scope="module")
def seq(tiny_gguf):
    b = _backend(tiny_gguf, 1)
    yield b
    b.close()


@pytest.fixture(scope="module")
def par(tiny_gguf):
    b = _backend(tiny_gguf, 4)
    yield b
    b.close()


def _fresh_stats(backend):
    from l2l.train.llamacpp_sampler import DecodeStats

    backend.chat(MSGS, max_tokens=1, n=2)  # makes the engine
    backend.engine.stats = DecodeStats()
    return backend.engine.stats


def test_contexts_hold_the_sequences_asked_for(seq, par):
    import llama_cpp

    assert seq.parallel_sequences == 1 and llama_cpp.llama_n_seq_max(seq.llm.ctx) == 1
    assert par.parallel_sequences == 4 and llama_cpp.llama_n_seq_max(par.llm.ctx) == 4
    assert par.n_ctx == seq.n_ctx == 2048  # unified KV cache: one sequence may still use all of it


def test_n_samples_are_decoded_together_after_one_prompt_read(par):
    stats = _fresh_stats(par)
    out = par.chat(MSGS, GenerationParams(max_tokens=16, temperature=0.9, n=4, seed=5))
    assert len(out) == 4 and len({c.text for c in out}) > 1  # four draws, not one copied
    assert stats.prompt_reads == 1  # the prompt was read once for all four
    assert stats.max_sequences == 4  # every step decoded the four sequences in one batch
    generated = sum(c.completion_tokens for c in out)
    assert stats.steps < generated and stats.steps <= 16  # interleaved, not one after another
    assert all(c.prompt_tokens == out[0].prompt_tokens > 20 for c in out)
    # reproducible, and sample i is seeded with seed + i (as n sequential calls are), whatever the group
    again = par.chat(MSGS, GenerationParams(max_tokens=16, temperature=0.9, n=4, seed=5))
    assert [c.text for c in again] == [c.text for c in out]
    shifted = par.chat(MSGS, GenerationParams(max_tokens=16, temperature=0.9, n=2, seed=6))
    assert [c.text for c in shifted] == [c.text for c in out[1:3]]


def test_more_samples_than_sequences_decode_in_groups(par):
    stats = _fresh_stats(par)
    out = par.chat(MSGS, GenerationParams(max_tokens=8, temperature=0.9, n=6, seed=1))
    assert len(out) == 6 and stats.prompt_reads == 2 and stats.max_sequences == 4
    first4 = par.chat(MSGS, GenerationParams(max_tokens=8, temperature=0.9, n=4, seed=1))
    assert [c.text for c in out[:4]] == [c.text for c in first4]


def test_greedy_is_the_sequential_text(seq, par):
    params = GenerationParams(max_tokens=32, temperature=0.0, repeat_penalty=1.1)
    want = seq.chat(MSGS, params)[0]
    assert want.completion_tokens == 32 and len(set(want.text)) > 5  # varied text, a real comparison
    [one] = par.chat(MSGS, params)  # n=1: the sequential path, in a 4-sequence context
    assert (one.text, one.completion_tokens, one.finish_reason) == (want.text, 32, "length")
    for c in par.chat(MSGS, GenerationParams(max_tokens=32, temperature=0.0, repeat_penalty=1.1, n=3)):
        assert (c.text, c.completion_tokens, c.prompt_tokens, c.finish_reason) == \
               (want.text, want.completion_tokens, want.prompt_tokens, want.finish_reason)


def test_default_backend_gives_the_text_of_the_one_sequence_4096_context(tiny_gguf):
    """The defaults (4 sequences, unified KV cache of default_context(4) cells) against the backend as
    it was built before them (one sequence, 4096 cells): the same greedy completion, with and without
    a grammar."""
    from l2l.backends.llamacpp import LlamaCppBackend

    old = LlamaCppBackend(tiny_gguf, n_ctx=4096, n_threads=1, progress=False, prompt_cache="off", parallel_sequences=1)
    new = LlamaCppBackend(tiny_gguf, n_threads=1, progress=False, prompt_cache="off")
    try:
        assert new.parallel_sequences == 4 and new.n_ctx == 7168 and old.n_ctx == 4096
        for params in (GenerationParams(max_tokens=32, repeat_penalty=1.1), GenerationParams(max_tokens=32, json_schema=SCHEMA)):
            a, b = old.chat(MSGS, params)[0], new.chat(MSGS, params)[0]
            assert (a.text, a.completion_tokens, a.finish_reason) == (b.text, b.completion_tokens, b.finish_reason)
    finally:
        old.close()
        new.close()


def test_chat_batch_shares_the_common_prefix_and_matches_sequential(seq, par):
    params = GenerationParams(max_tokens=24, temperature=0.0, repeat_penalty=1.1)
    want = seq.chat_batch([MSGS, OTHER, MSGS], params)
    stats = _fresh_stats(par)
    got = par.chat_batch([MSGS, OTHER, MSGS], params)
    assert [[c.text for c in cs] for cs in got] == [[c.text for c in cs] for cs in want]
    assert [cs[0].completion_tokens for cs in got] == [cs[0].completion_tokens for cs in want]
    assert stats.prompt_reads == 1 and stats.max_sequences == 3
    # the system text is read once: fewer prompt tokens read than the three prompts hold
    assert stats.prompt_tokens < sum(cs[0].prompt_tokens for cs in want) - 2 * 10
    # a conversation twice in one batch: its whole prompt is the shared prefix
    twice = par.chat_batch([MSGS, MSGS], GenerationParams(max_tokens=8, temperature=0.0, repeat_penalty=1.1))
    assert [cs[0].text for cs in twice] == [want[0][0].text[:len(twice[0][0].text)]] * 2


def test_chat_batch_seeds_per_conversation_are_the_draws_of_single_requests(par):
    """`seeds=[...]`: conversation t draws what a request of its own with seed seeds[t] draws (how the
    solver decodes the programs of several sampled formulations together without changing them)."""
    params = GenerationParams(max_tokens=12, temperature=0.9)
    got = par.chat_batch([MSGS, OTHER, MSGS], params, seeds=[3, 8, 4])
    for conv, seed, out in zip([MSGS, OTHER, MSGS], [3, 8, 4], got):
        assert out[0].text == par.chat(conv, params, seed=seed)[0].text
    assert got[0][0].text != got[2][0].text  # the same conversation with another seed: another draw
    with pytest.raises(ValueError, match="2 seeds for 3 conversations"):
        par.chat_batch([MSGS, OTHER, MSGS], params, seeds=[1, 2])


def test_stop_strings_cut_each_sequence_as_the_sequential_path_does(seq, par):
    base = GenerationParams(max_tokens=32, temperature=0.0, repeat_penalty=1.1)
    texts = [seq.chat(m, base)[0].text for m in (MSGS, OTHER)]
    stops = [texts[0][12:15], texts[1][20:22]]  # a stop inside each conversation's greedy text
    params = GenerationParams(max_tokens=32, temperature=0.0, repeat_penalty=1.1, stop=stops)
    want = [seq.chat(m, params)[0] for m in (MSGS, OTHER)]
    got = par.chat_batch([MSGS, OTHER], GenerationParams(**{**params.__dict__, "n": 2}))
    for w, cs, text in zip(want, got, texts):
        assert w.finish_reason == "stop" and len(w.text) < len(text)
        for c in cs:
            assert (c.text, c.completion_tokens, c.finish_reason) == (w.text, w.completion_tokens, "stop")
            assert not any(s in c.text for s in stops)
    # sampled sequences: each one stops at its own first space (most tokens start with one)
    for c in par.chat(MSGS, GenerationParams(max_tokens=32, temperature=1.0, n=4, seed=2, stop=[" "])):
        assert " " not in c.text and c.finish_reason in ("stop", "length")
        assert c.finish_reason == "stop" or c.completion_tokens == 32


def test_grammar_constrained_samples_decode_in_parallel_and_parse(seq, par):
    greedy = GenerationParams(max_tokens=48, temperature=0.0, json_schema=SCHEMA)
    want = seq.chat(MSGS, greedy)[0]
    assert want.finish_reason == "stop"  # the grammar closed the object, then only end-of-generation was allowed
    for c in par.chat(MSGS, GenerationParams(**{**greedy.__dict__, "n": 2})):
        assert (c.text, c.completion_tokens, c.finish_reason) == (want.text, want.completion_tokens, "stop")
    stats = _fresh_stats(par)
    out = par.chat(MSGS, GenerationParams(max_tokens=48, temperature=1.0, json_schema=SCHEMA, n=4, seed=3))
    assert stats.max_sequences == 4
    for c in out:
        obj = json.loads(c.text)
        assert obj["a"] in ("x", "y") and c.finish_reason == "stop"
        # the end-of-generation token is not counted, as in create_chat_completion
        assert c.completion_tokens >= par.count_tokens(c.text) - 2 and c.completion_tokens > 3


def test_the_deadline_stops_every_sequence_and_the_context_stays_usable(seq, par):
    params = GenerationParams(max_tokens=32, temperature=0.0, repeat_penalty=1.1)
    before = par.chat(MSGS, params)[0].text
    stats = _fresh_stats(par)
    t = time.monotonic()
    out = par.chat(MSGS, GenerationParams(max_tokens=400, temperature=1.0, n=3, seed=4, deadline=t + 0.5))
    took = time.monotonic() - t
    assert took < 0.5 + 1.0
    assert all(c.finish_reason == "time_budget" and 0 < c.completion_tokens < 400 for c in out)
    assert stats.steps < 400
    late = par.chat(MSGS, GenerationParams(max_tokens=16, n=3, deadline=time.monotonic() - 1))
    assert [(c.text, c.completion_tokens, c.finish_reason) for c in late] == [("", 0, "time_budget")] * 3
    assert all(c.prompt_tokens > 20 for c in late)
    assert par.chat(MSGS, params)[0].text == before == seq.chat(MSGS, params)[0].text


def test_prompt_cache_and_sequential_calls_around_parallel_ones(tiny_gguf, seq, tmp_path):
    """A parallel call leaves the context as a sequential call would: the next greedy completion
    (which reuses the KV prefix and the RAM prompt cache) is unchanged."""
    b = _backend(tiny_gguf, 4, prompt_cache="ram")
    try:
        params = GenerationParams(max_tokens=24, temperature=0.0, repeat_penalty=1.1)
        want = seq.chat(MSGS, params)[0].text
        assert b.chat(MSGS, params)[0].text == want
        b.chat(MSGS, GenerationParams(max_tokens=24, temperature=1.0, n=3))
        assert b.chat(MSGS, params)[0].text == want
        b.chat_batch([OTHER, MSGS], GenerationParams(max_tokens=24, temperature=1.0))
        assert b.chat(MSGS, params)[0].text == want
        assert [c.text for c in b.chat(MSGS, GenerationParams(**{**params.__dict__, "n": 2}))] == [want, want]
    finally:
        b.close()


def test_context_overflow_is_a_clear_error_and_budgets_are_clamped(par):
    from l2l.backends.base import BackendError

    with pytest.raises(BackendError, match="exceed context window"):
        par.chat(ask("word " * 3000), max_tokens=4, n=2)
    # a budget bigger than the context is clamped per sequence, and the samples go one per group
    out = par.chat(MSGS, GenerationParams(max_tokens=5000, temperature=1.0, n=2, stop=[" "]))
    assert len(out) == 2


def test_group_planning():
    from l2l.backends.llamacpp_parallel import plan_groups

    groups = plan_groups([[1, 2, 3], [1, 2, 4]], 3, [10, 10], n_seq_max=4, n_ctx=1000)
    assert [[(s.conv, s.index) for s in g] for g in groups] == [[(0, 0), (0, 1), (0, 2), (1, 0)], [(1, 1), (1, 2)]]
    # cells: the shared prefix once, each prompt's own tokens once, every sequence's whole budget
    assert [len(g) for g in plan_groups([[1] * 100], 4, [300], n_seq_max=8, n_ctx=1000)] == [3, 1]


def test_parallel_sequences_setting_reaches_the_backend(monkeypatch):
    import l2l.models
    from l2l.config import DEFAULT_PARALLEL_SEQUENCES, SolveConfig
    from l2l.pipeline import solve as solve_mod

    seen = []

    class Loaded:
        def close(self):
            pass

    monkeypatch.setattr(l2l.models, "load_model", lambda name, **kw: seen.append(kw) or Loaded())
    monkeypatch.setattr(solve_mod, "_MODEL_CACHE", {})
    solve_mod.build_solver(SolveConfig(model="qwen2.5-coder-0.5b", parallel_sequences=2))
    assert seen[0]["parallel_sequences"] == 2
    assert SolveConfig().parallel_sequences == DEFAULT_PARALLEL_SEQUENCES


def test_choose_draws_what_a_draw_over_the_whole_vocabulary_draws():
    """The top-k shortcut of the decode loop is `token_logprobs` + `draw`: same token, same log-probability."""
    import numpy as np

    from l2l.train.llamacpp_sampler import SamplingSettings, choose, draw, token_logprobs

    rng = np.random.default_rng(0)
    logits = (rng.normal(size=5000) * 3).astype(np.float32)
    logits[rng.choice(5000, 2000, replace=False)] = -np.inf  # a grammar's mask
    seen = rng.choice(np.flatnonzero(np.isfinite(logits)), 300)
    for temperature in (0.0, 0.7, 1.3):
        for top_p, penalty, last in [(1.0, 1.1, True), (0.9, 1.3, True), (0.8, 0.9, False), (1.0, 1.0, False)]:
            s = SamplingSettings(temperature=temperature, top_k=40, top_p=top_p, min_p=0.05, repetition_penalty=penalty,
                                 temperature_last=last)
            logp = token_logprobs(logits, s, seen)
            for seed in range(10):
                want = draw(logp, np.random.default_rng(seed)) if temperature > 0 else int(np.argmax(logp))
                tok, lp = choose(logits, s, seen, np.random.default_rng(seed))
                assert tok == want and abs(lp - logp[want]) < 1e-9


def test_inference_settings_give_llama_cpp_samplers_distribution():
    """What `chat(n=k)` draws from is what llama-cpp-python's sampler chain for create_chat_completion
    (penalties over the last 64 generated tokens, top-k 40, typical 1, top-p, min-p 0.05, temperature)
    leaves: llama.cpp's own samplers applied to the same logits."""
    import ctypes

    import llama_cpp
    import numpy as np
    from llama_cpp import _internals as internals

    from l2l.backends.llamacpp_parallel import sampling_settings
    from l2l.train.llamacpp_sampler import penalty_context, token_logprobs

    rng = np.random.default_rng(1)
    n_vocab = 3000
    logits = (rng.normal(size=n_vocab) * 2).astype(np.float32)
    generated = [int(t) for t in np.argsort(-logits)[:100:3]] * 3  # the best tokens, some more than 64 back
    for temperature, top_p in [(0.8, 1.0), (0.5, 0.9), (1.4, 0.95)]:
        params = GenerationParams(temperature=temperature, top_p=top_p, repeat_penalty=1.3)
        s = sampling_settings(params, 16, 64)
        ours = np.exp(token_logprobs(logits, s, penalty_context(np.arange(5), generated, s)))
        chain = internals.LlamaSampler()
        chain.add_penalties(n_vocab=n_vocab, penalty_last_n=64, penalty_repeat=1.3, penalty_freq=0.0, penalty_present=0.0)
        chain.add_top_k(40)
        chain.add_typical(1.0, 1)
        chain.add_top_p(top_p, 1)
        chain.add_min_p(0.05, 1)
        chain.add_temp(temperature)
        for t in generated:
            chain.accept(t)
        arr = internals.LlamaTokenDataArray(n_vocab=n_vocab)
        arr.copy_logits(logits)
        llama_cpp.llama_sampler_apply(chain.sampler, ctypes.byref(arr.candidates))
        size = int(arr.candidates.size)
        kept = np.asarray(arr.candidates_data.logit[:size], dtype=np.float64)
        theirs = np.zeros(n_vocab)
        theirs[arr.candidates_data.id[:size]] = np.exp(kept - kept.max()) / np.exp(kept - kept.max()).sum()
        chain.close()
        assert np.abs(ours - theirs).max() < 1e-5 and (ours > 0).sum() == (theirs > 0).sum()


def test_grammar_window_shortcut_draws_exactly_what_the_full_mask_draws(par, monkeypatch):
    """Masking only the best logits (when enough of them pass the grammar) gives the same tokens as
    masking the whole vocabulary, sampled and greedy; and it is what most steps inside a string use."""
    from l2l.backends import llamacpp_parallel as lp

    schema = {"type": "object", "properties": {"summary": {"type": "string"}, "k": {"enum": ["x", "y"]}},
              "required": ["summary", "k"]}
    used = []
    window = lp.InferenceHooks._mask_window

    def counted(self, logits):
        out = window(self, logits)
        used.append(out is not None)
        return out

    monkeypatch.setattr(lp.InferenceHooks, "_mask_window", counted)
    runs = [GenerationParams(max_tokens=40, temperature=t, repeat_penalty=1.1, json_schema=schema, n=3, seed=7)
            for t in (0.0, 1.0)]
    fast = [[(c.text, c.completion_tokens) for c in par.chat(MSGS, p)] for p in runs]
    assert sum(used) > len(used) / 2
    monkeypatch.setattr(lp.InferenceHooks, "WINDOW", 10 ** 7)  # never fits: always the whole vocabulary
    assert [[(c.text, c.completion_tokens) for c in par.chat(MSGS, p)] for p in runs] == fast


def test_docstring_examples_and_default_context():
    import doctest

    import l2l.backends.llamacpp as backend_mod
    import l2l.backends.llamacpp_parallel as parallel_mod

    for mod in (backend_mod, parallel_mod):
        assert doctest.testmod(mod).failed == 0
    # room for a ~2,000-token program prompt and four 1,024-token programs
    assert backend_mod.default_context(4) >= 2000 + 4 * 1024


def test_solver_waves_draw_what_one_at_a_time_draws(par):
    """The solver's waves (tests/test_solve_waves.py): sampled formulations drafted in one request and
    their programs in one batch are the same texts as one request each with seeds seed+i / seeds[t],
    grammar included; only the prompt reads and the decoding are shared."""
    from dataclasses import replace

    from l2l.parsing import parse_formulation
    from l2l.pipeline.formulator import formulate, formulate_many
    from l2l.pipeline.generator import write_program, write_programs
    from tests.test_pipeline import FORMULATION, QUESTION

    params = GenerationParams(max_tokens=24, temperature=0.8, seed=21, repeat_penalty=1.1)
    stats = _fresh_stats(par)
    many = formulate_many(par, QUESTION, None, params, 3, repair=False, coverage=False)
    assert stats.prompt_reads == 1 and stats.max_sequences == 3
    one = [formulate(par, QUESTION, None, replace(params, seed=21 + i), repair=False, coverage=False) for i in range(3)]
    assert [a.raw for a in many] == [a.raw for a in one] and len({a.raw for a in many}) == 3
    assert all(a.raw.lstrip().startswith("{") for a in many)  # the formulation grammar applied in the wave too

    f1 = parse_formulation(FORMULATION)
    f2 = replace(f1, constraints=f1.constraints[:1])
    progs = write_programs(par, QUESTION, [f1, f2], None, params, seeds=[5, 9])
    assert [a.raw for a in progs] == [write_program(par, QUESTION, f, None, replace(params, seed=s)).raw
                                      for f, s in ((f1, 5), (f2, 9))]
    assert all(a.example_turns == 2 and a.completions[0].stage == "program" for a in progs)
