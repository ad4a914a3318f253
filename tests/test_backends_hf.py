"""The transformers backend on a tiny randomly initialised Qwen2 (real Qwen2.5 tokenizer and chat
template). Outputs are noise, so the tests check shapes, token accounting and plumbing. ~15 s."""

from __future__ import annotations

import json

import pytest

from l2l.backends.base import BackendError, GenerationParams
from l2l.models import load_model
from l2l.types import Completion

CONV_A = [{"role": "user", "content": "Hi"}]
CONV_B = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Explain z3 in one long sentence."}]


@pytest.fixture(scope="module")
def hf(tiny_qwen2_dir):
    b = load_model(str(tiny_qwen2_dir), seed=0, progress=False)
    yield b
    b.close()


def _prompt_len(b, conv):
    return len(b.tokenizer.apply_chat_template(conv, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])


def test_dispatch_and_greedy_chat(hf):
    assert hf.name == "hf" and not hf.supports_json_schema
    [c] = hf.chat(CONV_A, max_tokens=7)
    assert isinstance(c, Completion) and isinstance(c.text, str)
    assert c.prompt_tokens == _prompt_len(hf, CONV_A)
    assert 1 <= c.completion_tokens <= 7
    assert c.finish_reason == ("length" if c.completion_tokens == 7 else "stop")
    assert hf.chat(CONV_A, max_tokens=7)[0].text == c.text  # greedy is deterministic


def test_sampling_n_and_seed(hf):
    p = GenerationParams(max_tokens=5, temperature=1.0, n=3, seed=5)
    a, b = hf.chat(CONV_A, p), hf.chat(CONV_A, p)
    assert len(a) == 3 and all(1 <= c.completion_tokens <= 5 for c in a)
    assert [c.text for c in a] == [c.text for c in b]
    greedy = hf.chat(CONV_A, max_tokens=5, n=2)
    assert len(greedy) == 2 and greedy[0].text == greedy[1].text


def test_batch_left_pads_and_counts_each_prompt(hf):
    out = hf.chat_batch([CONV_A, CONV_B, CONV_A], GenerationParams(max_tokens=6))
    assert [len(x) for x in out] == [1, 1, 1]
    assert [x[0].prompt_tokens for x in out] == [_prompt_len(hf, c) for c in (CONV_A, CONV_B, CONV_A)]
    assert out[0][0].prompt_tokens != out[1][0].prompt_tokens  # rows of different length: padding is exercised
    assert all(1 <= x[0].completion_tokens <= 6 for x in out)


def test_stop_strings_are_cut(hf):
    [c] = hf.chat(CONV_A, max_tokens=30, temperature=1.0, seed=1)
    if len(c.text) < 2:
        pytest.fail(f"tiny model produced too little text to test stop strings: {c.text!r}")
    stop = c.text[len(c.text) // 2 : len(c.text) // 2 + 1]
    [s] = hf.chat(CONV_A, max_tokens=30, temperature=1.0, seed=1, stop=[stop])
    assert stop not in s.text and c.text.startswith(s.text) and s.finish_reason == "stop"


def test_peft_adapter_directory(tiny_qwen2_dir, tmp_path):
    """Training writes PEFT adapter dirs (adapter_config.json naming the base); load_model takes them."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_qwen2_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_qwen2_dir)
    b = load_model(str(tmp_path), progress=False)
    [c] = b.chat(CONV_A, max_tokens=4)
    assert 1 <= c.completion_tokens <= 4
    assert "lora" not in " ".join(n for n, _ in b.model.named_parameters())  # merged into the base weights


def test_broken_directory_is_a_clear_error(tmp_path):
    from l2l.errors import ModelNotAvailable

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises((ModelNotAvailable, BackendError)) as e:
        load_model(str(tmp_path), progress=False)
    assert str(tmp_path) in str(e.value)


def test_deadline_ends_generation(hf):
    import time

    assert hf.supports_deadline
    t = time.monotonic()
    [c] = hf.chat(CONV_B, GenerationParams(max_tokens=1500, deadline=t + 0.3))
    assert time.monotonic() - t < 0.3 + 1.0
    # The random model may emit its end token early; otherwise the deadline, not max_tokens, ended it.
    assert c.finish_reason in ("stop", "time_budget") and c.completion_tokens < 1500
