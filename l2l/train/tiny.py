"""A tiny randomly initialised Qwen2 checkpoint for smoke runs and tests.

The tokenizer is the real Qwen2.5 one, read offline from the installed 0.5B GGUF (so chat
templates and special tokens behave as in a real run); the weights are random and small
(2 layers, hidden 16: the 151k-token vocabulary projection dominates the cost), so a GRPO step takes well under a second on CPU.

    >>> build_tiny_qwen2("/tmp/tiny-qwen2")  # doctest: +SKIP
    '/tmp/tiny-qwen2'
"""

from __future__ import annotations

import os

TOKENIZER_MODEL = "qwen2.5-coder-0.5b"


def load_qwen_tokenizer(source: str | None = None):
    """The Qwen2.5 tokenizer: from `source` (a dir or a .gguf file) or from the installed 0.5B GGUF."""
    from transformers import AutoTokenizer

    if source and os.path.isdir(source):
        return AutoTokenizer.from_pretrained(source)
    if not source:
        from l2l.models.gguf_assembly import ensure_gguf

        source = str(ensure_gguf(TOKENIZER_MODEL, progress=False))
    return AutoTokenizer.from_pretrained(os.path.dirname(source), gguf_file=os.path.basename(source))


def build_tiny_qwen2(out_dir: str, tokenizer_source: str | None = None, seed: int = 0) -> str:
    """Write a tiny random Qwen2ForCausalLM + the Qwen tokenizer to `out_dir` (reused if present)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if os.path.exists(os.path.join(out_dir, "config.json")) and os.path.exists(os.path.join(out_dir, "tokenizer_config.json")):
        return out_dir
    tok = load_qwen_tokenizer(tokenizer_source)
    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = Qwen2ForCausalLM(cfg)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
