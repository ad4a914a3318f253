"""Shared fixtures: the real 0.5B GGUF, one llama.cpp load of it for the whole session, and a tiny
randomly initialised Qwen2 checkpoint (with the real Qwen2.5 tokenizer) for transformers tests.

Cost on 2 cores: assembling the GGUF once per machine ~5 s (then cached in ~/.cache/l2l or
$L2L_CACHE), loading it ~1 s, extracting the tokenizer from the GGUF once per machine ~30-45 s
(cached next to the GGUF), building the tiny model ~2 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

FAST_MODEL = "qwen2.5-coder-0.5b"
# Fixtures that hold the real 0.5B in llama.cpp (here or in a server process). Tests using them are
# marked `model`: llama.cpp's threads spin, so on 2 cores they must not run beside another model
# process (an evaluation in the background); `-m "not slow and not model"` leaves them out.
MODEL_FIXTURES = {"llama_05b", "llama_server"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def gguf_05b_path() -> Path:
    """Path of the assembled, verified Qwen2.5-Coder-0.5B-Instruct GGUF."""
    from l2l.models import ensure_gguf

    return ensure_gguf(FAST_MODEL, progress=False)


@pytest.fixture(scope="session")
def llama_05b(gguf_05b_path):
    """One LlamaCppBackend on the 0.5B model shared by every test (n_ctx 4096, seed 0)."""
    from l2l.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(gguf_05b_path, n_ctx=4096, seed=0, display_name=FAST_MODEL, progress=False)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def qwen_tokenizer_dir(gguf_05b_path) -> Path:
    """The real Qwen2.5 tokenizer (from the GGUF, no hub), saved with save_pretrained and cached."""
    from l2l.models.export_hf import ensure_tokenizer

    return ensure_tokenizer(gguf_05b_path, progress=False)


@pytest.fixture(scope="session")
def tiny_qwen2_dir(tmp_path_factory, qwen_tokenizer_dir) -> Path:
    """A 2-layer, 32-wide Qwen2ForCausalLM with random weights plus the real tokenizer, saved to a
    temp dir. Its outputs are noise: assert shapes, types and token counts, not content."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        tie_word_embeddings=True, bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny_qwen2")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
