"""`export_hf` on the real 0.5B GGUF: the result is a plain transformers checkpoint that
AutoModelForCausalLM loads without any quantisation config and that answers sensibly (so the
GGUF tensors landed in the right places). The slowest test of this part: ~2 min on 2 cores."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_export_hf_roundtrip(gguf_05b_path, qwen_tokenizer_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from l2l.models.export_hf import export_hf

    out = export_hf("qwen2.5-coder-0.5b", tmp_path / "hf", dtype="bfloat16", progress=False)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "qwen2" and cfg["architectures"] == ["Qwen2ForCausalLM"]
    assert "quantization_config" not in cfg
    assert (out / "model.safetensors").is_file()

    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.num_hidden_layers == 24 and model.config.hidden_size == 896
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    msgs = [{"role": "user", "content": "What is 2+3? Answer with just the number."}]
    enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        gen = model.generate(**enc, max_new_tokens=4, do_sample=False)
    answer = tok.decode(gen[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "5" in answer, answer  # random or misplaced weights would not answer this
