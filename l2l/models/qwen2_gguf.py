"""A transformers Qwen2 checkpoint written as a float32 GGUF that llama.cpp runs, with its tokenizer.

For tiny random models only (tests, `+experiment=smoke grpo.rollout=llamacpp`): the real models
are GGUF files from the registry already (`l2l.models.registry`), and `l2l models export-hf`
goes the other way. No quantisation, Qwen2 only; tensor and key names are those of llama.cpp's
`convert_hf_to_gguf.py` for Qwen2, written with the same `gguf` package.

    >>> from transformers import AutoModelForCausalLM, AutoTokenizer
    >>> model = AutoModelForCausalLM.from_pretrained("runs/base/tiny-qwen2")          # doctest: +SKIP
    >>> vocab = vocab_from_tokenizer(AutoTokenizer.from_pretrained("runs/base/tiny-qwen2"), model.config.vocab_size)  # doctest: +SKIP
    >>> write_qwen2_gguf(model, "runs/base/tiny-qwen2/tiny-f32.gguf", vocab)              # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# llama.cpp's token types (gguf.TokenType)
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5

# HF module name under model.layers.{i}. -> llama.cpp tensor name under blk.{i}.
_LAYER_TENSORS = [
    ("input_layernorm.weight", "attn_norm.weight"), ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"), ("self_attn.q_proj.bias", "attn_q.bias"),
    ("self_attn.k_proj.weight", "attn_k.weight"), ("self_attn.k_proj.bias", "attn_k.bias"),
    ("self_attn.v_proj.weight", "attn_v.weight"), ("self_attn.v_proj.bias", "attn_v.bias"),
    ("self_attn.o_proj.weight", "attn_output.weight"), ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"), ("mlp.down_proj.weight", "ffn_down.weight"),
]


@dataclass
class GgufVocab:
    """A byte-level BPE tokenizer as GGUF keys: tokens by id, their llama.cpp types, merges ("a b")."""

    tokens: list[str]
    types: list[int]
    merges: list[str]
    bos_id: int
    eos_id: int
    pad_id: int | None = None
    pre: str = "qwen2"  # llama.cpp's pre-tokenizer regex set (Qwen2's digit and whitespace splits)
    chat_template: str | None = None


def vocab_from_tokenizer(tok: Any, size: int | None = None) -> GgufVocab:
    """The GGUF vocabulary of a fast (byte-level BPE) HF tokenizer, `size` ids long (the model's
    embedding rows; ids without a token become "[PAD<id>]", UNUSED, as llama.cpp's converter does).
    Added tokens are CONTROL when special and USER_DEFINED otherwise, so llama.cpp matches them
    whole in text exactly where the HF tokenizer does."""
    by_id = {i: t for t, i in tok.get_vocab().items()}
    added = {i: a for i, a in tok.added_tokens_decoder.items()}
    size = int(size or len(tok))
    tokens, types = [], []
    for i in range(size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
        else:
            tokens.append(by_id[i])
            types.append((CONTROL if added[i].special else USER_DEFINED) if i in added else NORMAL)
    merges = json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    return GgufVocab(tokens, types, merges, int(bos), int(tok.eos_token_id), tok.pad_token_id,
                     chat_template=getattr(tok, "chat_template", None))


def write_qwen2_gguf(model: Any, path: str | os.PathLike, vocab: GgufVocab, name: str = "tiny-qwen2") -> Path:
    """Write a transformers Qwen2ForCausalLM and `vocab` to `path` as an all-float32 GGUF."""
    import gguf

    c = model.config
    if c.model_type != "qwen2":
        raise ValueError(f"write_qwen2_gguf writes Qwen2 models, not {c.model_type!r}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    w = gguf.GGUFWriter(str(tmp), "qwen2")
    w.add_string("general.name", name)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    theta = (getattr(c, "rope_parameters", None) or {}).get("rope_theta") or getattr(c, "rope_theta", 10000.0)
    w.add_rope_freq_base(float(theta))
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_file_type(0)  # all float32
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(vocab.pre)
    w.add_token_list(vocab.tokens)
    w.add_token_types(vocab.types)
    w.add_token_merges(vocab.merges)
    w.add_bos_token_id(vocab.bos_id)
    w.add_eos_token_id(vocab.eos_id)
    if vocab.pad_id is not None:
        w.add_pad_token_id(vocab.pad_id)
    w.add_add_bos_token(False)
    if vocab.chat_template:
        w.add_chat_template(vocab.chat_template)
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(c.num_hidden_layers):
        for hf, gg in _LAYER_TENSORS:
            w.add_tensor(f"blk.{i}.{gg}", sd[f"model.layers.{i}.{hf}"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    if not c.tie_word_embeddings:  # tied: llama.cpp reuses token_embd as the output projection
        w.add_tensor("output.weight", sd["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)
    return path


def checkpoint_to_gguf(hf_dir: str | os.PathLike, path: str | os.PathLike | None = None) -> Path:
    """The float32 GGUF of a local tiny Qwen2 checkpoint (`<hf_dir>/model-f32.gguf` unless `path`),
    written once and reused while it is newer than the checkpoint's weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_dir = Path(hf_dir)
    out = Path(path) if path else hf_dir / "model-f32.gguf"
    weights = [p for p in hf_dir.glob("*.safetensors")]
    if out.is_file() and all(out.stat().st_mtime >= p.stat().st_mtime for p in weights):
        return out
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype="float32")
    tok = AutoTokenizer.from_pretrained(hf_dir)
    return write_qwen2_gguf(model, out, vocab_from_tokenizer(tok, model.config.vocab_size), name=hf_dir.name)
