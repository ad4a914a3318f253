"""Trained adapters users can run: PEFT LoRA -> GGUF LoRA (l2l.models.lora_gguf), llama.cpp with
adapters on one shared base (l2l.backends.llamacpp), trained registry entries with a sha256
manifest (l2l.models.registry) and `--model <trained>` / `--model <PEFT folder>` (l2l.models.load).

Round trip, exact: a tiny random Qwen2 is written both as a transformers model and, in float32,
as a GGUF; a random LoRA (non-zero lora_B) goes through PEFT on one side and through the GGUF
converter + llama.cpp on the other, and the next-token logits must agree to float32 rounding.
Round trip, real: the same on the shipped 0.5B GGUF (exported with `l2l models export-hf`, so
transformers holds exactly the GGUF's dequantised weights); llama.cpp multiplies with quantised
weights and activations, so there the adapter's effect (logits with minus without) is compared.

Cost on 2 cores: the tiny tests take seconds; the real-model tests export the 0.5B once per
session (~60 s), run it once in transformers and a few times in llama.cpp, and solve one
question end to end (~30 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from l2l.errors import ModelNotAvailable

ROOT = Path(__file__).resolve().parents[1]
FAST_MODEL = "qwen2.5-coder-0.5b"
QKVO = ["q_proj", "k_proj", "v_proj", "o_proj"]
ALL_PROJ = QKVO + ["gate_proj", "up_proj", "down_proj"]


# --- helpers -------------------------------------------------------------------------------------


def _byte_tokens() -> list[str]:
    """GPT-2's byte-level alphabet (what a "gpt2" GGUF tokenizer needs at least)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


TINY_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TINY_VOCAB = _byte_tokens() + ["Ġt"] + TINY_SPECIALS


def _tiny_qwen2(seed: int = 0):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(TINY_VOCAB), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6,
        tie_word_embeddings=False, initializer_range=0.1, attn_implementation="eager",
        bos_token_id=TINY_VOCAB.index("<|endoftext|>"), eos_token_id=TINY_VOCAB.index("<|im_end|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():  # biases and norms away from their zero/one init, so every tensor matters
        for name, p in model.named_parameters():
            if name.endswith(".bias") or "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _write_full_gguf(model, path: Path) -> Path:
    """A float32 GGUF of a transformers Qwen2ForCausalLM with the byte-level tiny vocabulary, named the
    way llama.cpp's convert_hf_to_gguf.py names Qwen2 tensors (l2l/models/qwen2_gguf.py)."""
    from l2l.models.qwen2_gguf import CONTROL, NORMAL, GgufVocab, write_qwen2_gguf

    c = model.config
    vocab = GgufVocab(TINY_VOCAB, [CONTROL if t in TINY_SPECIALS else NORMAL for t in TINY_VOCAB], ["Ġ t"],
                      bos_id=c.bos_token_id, eos_id=c.eos_token_id)
    return write_qwen2_gguf(model, path, vocab)


def _random_peft(model, out: Path, *, seed: int, targets=QKVO, r: int = 8, alpha: int = 16, b_std: float = 0.05,
                 base: str | None = None, **lora_kw):
    """A PEFT LoRA on `model` with random, non-zero lora_B (PEFT initialises B to zero), saved
    to `out`; returns (PeftModel, out). The base model is modified in place by PEFT (wrapped)."""
    import torch
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0, task_type="CAUSAL_LM", **lora_kw)
    peft_model = get_peft_model(model, cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * b_std)
            elif "lora_A" in name:
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(p.shape[1]))
    peft_model.save_pretrained(out)
    if base is not None:
        cfg_path = out / "adapter_config.json"
        c = json.loads(cfg_path.read_text())
        c["base_model_name_or_path"] = base
        cfg_path.write_text(json.dumps(c))
    return peft_model, out


def _numpy_peft(out: Path, *, layers: int, shapes: dict[str, tuple[int, int]], r: int, alpha: float, seed: int,
                base: str, b_std: float = 0.02) -> Path:
    """A PEFT LoRA folder written directly (no model load): shapes {proj: (in, out)}."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(layers):
        for proj, (n_in, n_out) in shapes.items():
            part = "mlp" if proj in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            key = f"base_model.model.model.layers.{i}.{part}.{proj}"
            tensors[f"{key}.lora_A.weight"] = (rng.standard_normal((r, n_in)) / np.sqrt(n_in)).astype(np.float32)
            tensors[f"{key}.lora_B.weight"] = (rng.standard_normal((n_out, r)) * b_std).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": sorted(shapes), "bias": "none",
        "base_model_name_or_path": base, "task_type": "CAUSAL_LM", "use_rslora": False, "use_dora": False,
    }))
    return out


# Qwen2.5-Coder-0.5B: 24 layers, hidden 896, 2 KV heads of 64.
QWEN05_SHAPES = {"q_proj": (896, 896), "k_proj": (896, 128), "v_proj": (896, 128), "o_proj": (896, 896)}


def _hf_logits(model, tokens: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([tokens])).logits[0, -1].double().numpy()


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- the converter's output ------------------------------------------------------------------------


def test_gguf_adapter_has_llama_cpp_keys_names_and_shapes(tmp_path):
    from gguf import GGUFReader

    from l2l.models.lora_gguf import peft_to_gguf

    _, peft_dir = _random_peft(_tiny_qwen2(), tmp_path / "peft", seed=1, targets=ALL_PROJ, r=4, alpha=8)
    out = peft_to_gguf(peft_dir, tmp_path / "a.gguf")
    reader = GGUFReader(out)
    kv = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert kv["general.architecture"] == "qwen2" and kv["general.type"] == "adapter"
    assert kv["adapter.type"] == "lora" and kv["adapter.lora.alpha"] == 8.0
    shapes = {t.name: (t.shape.tolist(), t.tensor_type.name) for t in reader.tensors}
    assert len(shapes) == 2 * 7 * 2  # 2 layers x 7 projections x (a, b)
    # GGUF lists ne (reversed numpy axes): lora_a is [in, rank], lora_b is [rank, out]
    assert shapes["blk.0.attn_q.weight.lora_a"] == ([64, 4], "F16")
    assert shapes["blk.1.attn_k.weight.lora_b"] == ([4, 32], "F16")  # 2 KV heads x 16
    assert shapes["blk.1.attn_output.weight.lora_a"] == ([64, 4], "F16")
    assert shapes["blk.0.ffn_down.weight.lora_a"] == ([128, 4], "F16")
    assert shapes["blk.0.ffn_gate.weight.lora_b"] == ([4, 128], "F16")


def test_scaling_pytorch_would_apply_is_what_llama_cpp_computes(tmp_path):
    """rsLoRA and per-module alpha differ from llama.cpp's alpha/rank: folded into lora_b."""
    from l2l.models.lora_gguf import lora_tensors

    d = _numpy_peft(tmp_path / "p", layers=1, shapes={"q_proj": (8, 8), "v_proj": (8, 4)}, r=4, alpha=8, seed=0, base="x")
    cfg = json.loads((d / "adapter_config.json").read_text())
    from safetensors.numpy import load_file

    raw = load_file(str(d / "adapter_model.safetensors"))
    b_q = raw["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    b_v = raw["base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"]
    alpha, t = lora_tensors(d)
    assert alpha == 8 and np.array_equal(t["blk.0.attn_q.weight.lora_b"], b_q)  # plain LoRA: as is
    cfg.update(use_rslora=True, alpha_pattern={"v_proj": 2})
    (d / "adapter_config.json").write_text(json.dumps(cfg))
    alpha, t = lora_tensors(d)
    llama_scale = alpha / 4
    assert np.allclose(t["blk.0.attn_q.weight.lora_b"] * llama_scale, b_q * 8 / np.sqrt(4))
    assert np.allclose(t["blk.0.attn_v.weight.lora_b"] * llama_scale, b_v * 2 / np.sqrt(4))


@pytest.mark.parametrize("change, message", [
    ({"use_dora": True}, "DoRA"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
    ({"peft_type": "IA3"}, "only LoRA"),
])
def test_adapters_llama_cpp_cannot_apply_are_refused(tmp_path, change, message):
    from l2l.models.load import peft_registry_base
    from l2l.models.lora_gguf import AdapterError, peft_to_gguf

    d = _numpy_peft(tmp_path / "p", layers=1, shapes={"q_proj": (8, 8)}, r=2, alpha=4, seed=0, base=FAST_MODEL)
    cfg = json.loads((d / "adapter_config.json").read_text())
    (d / "adapter_config.json").write_text(json.dumps({**cfg, **change}))
    with pytest.raises(AdapterError, match=message):
        peft_to_gguf(d, tmp_path / "x.gguf", arch="qwen2")
    assert peft_registry_base(d) is None  # such a folder still loads, with transformers


def test_lora_on_embeddings_is_refused(tmp_path):
    from safetensors.numpy import save_file

    from l2l.models.lora_gguf import AdapterError, lora_tensors

    d = _numpy_peft(tmp_path / "p", layers=1, shapes={"q_proj": (8, 8)}, r=2, alpha=4, seed=0, base="x")
    save_file({"base_model.model.model.embed_tokens.lora_embedding_A": np.zeros((2, 10), np.float32)},
              str(d / "adapter_model.safetensors"))
    with pytest.raises(AdapterError, match="embeddings"):
        lora_tensors(d)


def test_conversion_is_cached_by_content(tmp_path, monkeypatch):
    from l2l.models.lora_gguf import converted

    monkeypatch.setenv("L2L_CACHE", str(tmp_path / "cache"))
    d = _numpy_peft(tmp_path / "p", layers=1, shapes={"q_proj": (8, 8)}, r=2, alpha=4, seed=0, base="x")
    first = converted(d)
    assert converted(d) == first and first.parent == tmp_path / "cache" / "lora-gguf"
    _numpy_peft(d, layers=1, shapes={"q_proj": (8, 8)}, r=2, alpha=4, seed=1, base="x")  # retrained in place
    assert converted(d) != first


# --- exact round trip on a tiny model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(transformers model, its float32 GGUF, a folder for adapters)."""
    d = tmp_path_factory.mktemp("tiny_lora")
    model = _tiny_qwen2()
    return model, _write_full_gguf(model, d / "tiny-f32.gguf"), d


TOKENS = list(b"def add(a, b): return a+b") + [TINY_VOCAB.index("<|im_end|>")]  # byte b is token b


def _llama(gguf: Path, lora: Path | None = None):
    from l2l.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(gguf, n_ctx=128, n_threads=2, progress=False, prompt_cache="off", lora_path=lora)


def _f32_kv_cache(monkeypatch):
    """llama.cpp keeps keys and values in float16 by default; float32 (GGML type 0) for exact checks."""
    import llama_cpp

    init = llama_cpp.Llama.__init__

    def with_f32_kv(self, *args, **kwargs):
        kwargs.setdefault("type_k", 0)
        kwargs.setdefault("type_v", 0)
        return init(self, *args, **kwargs)

    monkeypatch.setattr(llama_cpp.Llama, "__init__", with_f32_kv)


@pytest.mark.parametrize("kv", ["f32", "f16 (default)"])
def test_tiny_model_logits_agree_between_transformers_peft_and_llama_cpp(tiny, kv, monkeypatch):
    """Base weights are float32 on both sides, so llama.cpp with the converted adapter must give
    PEFT's logits up to rounding. Measured (logits up to ~2, the adapter moves them by up to
    ~2.2), as max |llama.cpp - PEFT| / max |logit|:

    | KV cache | base | float32 adapter file | float16 adapter file |
    |---|---|---|---|
    | float32 | 7.2e-7 | 6.6e-7 | 3.7e-4 |
    | float16 (llama.cpp's default) | 2.4e-4 | 4.0e-4 | 9.3e-4 |

    So with a float32 KV cache the float32 adapter is exact to float32 rounding (bound 1e-5);
    everything else is bounded by float16's rounding (11 significant bits, relative 4.9e-4) at
    2e-3. The cosine of the two adapter effects (with minus without) was >= 0.9999998 in all
    cases (bound 0.9999), and the top token must be the same.
    """
    import copy

    from l2l.models.lora_gguf import peft_to_gguf

    if kv == "f32":
        _f32_kv_cache(monkeypatch)
    model, gguf, d = tiny
    base_logits = _hf_logits(model, TOKENS)
    peft_model, peft_dir = _random_peft(copy.deepcopy(model), d / "peft-a", seed=1, targets=ALL_PROJ)
    lora_logits = _hf_logits(peft_model, TOKENS)
    hf_delta = lora_logits - base_logits
    assert np.abs(hf_delta).max() > 0.1  # the adapter moves the logits: the check below means something

    plain = _llama(gguf)
    try:
        cpp_base = plain.next_token_logits(TOKENS)
    finally:
        plain.close()
    exact = kv == "f32"
    assert np.abs(cpp_base - base_logits).max() < (1e-5 if exact else 1e-3) * np.abs(base_logits).max()  # one model
    for dtype in ("f32", "f16"):
        gguf_lora = peft_to_gguf(peft_dir, d / f"a-{dtype}.gguf", dtype=dtype)
        b = _llama(gguf, gguf_lora)
        try:
            cpp_lora = b.next_token_logits(TOKENS)
        finally:
            b.close()
        err = np.abs(cpp_lora - lora_logits).max() / np.abs(lora_logits).max()
        cos = _cos(cpp_lora - cpp_base, hf_delta)
        print(f"tiny, {kv} KV, {dtype} adapter: max|llama.cpp - PEFT| / max|logit| = {err:.2e}, delta cosine {cos:.8f}")
        assert err < (1e-5 if exact and dtype == "f32" else 2e-3)
        assert cos > 0.9999
        assert int(np.argmax(cpp_lora)) == int(np.argmax(lora_logits))


def test_two_adapters_share_one_loaded_base_and_switch_cleanly(tiny):
    """The formulator and generator adapters on one base: one llama.cpp model, adapters switched
    per call, no KV state carried over from the other adapter."""
    import copy

    from l2l.models.lora_gguf import peft_to_gguf

    model, gguf, d = tiny
    pa, dir_a = _random_peft(copy.deepcopy(model), d / "peft-f", seed=11)
    pb, dir_b = _random_peft(copy.deepcopy(model), d / "peft-g", seed=12)
    a = _llama(gguf, peft_to_gguf(dir_a, d / "f.gguf", dtype="f32"))
    b = _llama(gguf, peft_to_gguf(dir_b, d / "g.gguf", dtype="f32"))
    try:
        assert a.llm is b.llm and a._shared.users == 2
        la = a.next_token_logits(TOKENS)
        lb = b.next_token_logits(TOKENS)
        for got, peft_model in ((la, pa), (lb, pb)):
            want = _hf_logits(peft_model, TOKENS)
            assert np.abs(got - want).max() < 2e-3 * np.abs(want).max()  # the bound of the test above
        assert np.abs(la - lb).max() > 0.05
        assert np.array_equal(a.next_token_logits(TOKENS), la)  # back to the first adapter: same numbers
        # a chat on one then the other (the real call path), then the first again: same text
        msgs = [{"role": "user", "content": "t"}]
        first = a.chat(msgs, max_tokens=6)[0].text
        b.chat(msgs, max_tokens=6)
        assert a.chat(msgs, max_tokens=6)[0].text == first
        b.close()
        assert a.llm is not None and a._shared.users == 1
        assert np.array_equal(a.next_token_logits(TOKENS), la)
    finally:
        a.close()
        b.close()


def test_wrong_base_is_a_clear_error(tiny, tmp_path):
    from l2l.backends.base import BackendError
    from l2l.models.lora_gguf import peft_to_gguf

    _, gguf, _ = tiny
    d = _numpy_peft(tmp_path / "p", layers=1, shapes={"q_proj": (896, 896)}, r=2, alpha=4, seed=0, base=FAST_MODEL)
    with pytest.raises(BackendError, match="could not load the LoRA adapter"):
        _llama(gguf, peft_to_gguf(d, tmp_path / "wrong.gguf"))


# --- resolution: trained names, roles, PEFT folders on a registry base -------------------------------------


def _bundle(tmp_path: Path, name: str = "l2l-test-random") -> Path:
    """A trained bundle of two random adapters for the real 0.5B (not trained: a fixture)."""
    from l2l.models.lora_gguf import pack

    peft = {role: _numpy_peft(tmp_path / "peft" / role, layers=24, shapes=QWEN05_SHAPES, r=8, alpha=16,
                              seed=i, base=f"/runs/base/{FAST_MODEL}")
            for i, role in enumerate(("formulator", "generator"))}
    return pack(name, FAST_MODEL, peft, tmp_path / "bundles" / name, command="(test fixture: random adapters)",
                data="none (random lora_B)", description="random adapters made by tests/test_lora_gguf.py")


def test_trained_names_resolve_to_base_plus_role_adapter(tmp_path, monkeypatch):
    from l2l.config import SolveConfig
    from l2l.models.load import model_key, resolve
    from l2l.models.registry import trained_models

    bundle = _bundle(tmp_path)
    monkeypatch.setenv("L2L_ADAPTERS", str(bundle.parent))
    assert "l2l-test-random" in trained_models()
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    assert manifest["base"] == FAST_MODEL and set(manifest["adapters"]) == {"formulator", "generator"}
    assert manifest["trained_from"]["command"] and manifest["trained_from"]["data"]
    for role in ("formulator", "generator"):
        r = resolve(f"l2l-test-random@{role}")
        assert (r.backend, r.registry_name, r.adapter.kind, r.adapter.role) == ("llamacpp", FAST_MODEL, "trained", role)
        assert Path(r.adapter.path) == bundle / f"{role}.gguf"
    assert resolve("l2l-test-random").adapter.role == "formulator"
    assert resolve(str(bundle) + "@generator").adapter.role == "generator"  # a bundle folder works as well
    kf, kg = model_key("l2l-test-random@formulator"), model_key("l2l-test-random@generator")
    assert kf != kg and kf[:2] == kg[:2] == model_key(FAST_MODEL)  # same base file, different adapters
    assert model_key("l2l-test-random") == kf

    c = SolveConfig().update(model="l2l-test-random")
    assert (c.formulator_model, c.generator_model) == ("l2l-test-random@formulator", "l2l-test-random@generator")
    c2 = c.update(model=FAST_MODEL)  # switching away drops the stage models the trained name implied
    assert (c2.formulator_model, c2.generator_model) == (None, None)
    c3 = SolveConfig().update(model="l2l-test-random", generator_model=FAST_MODEL)  # an explicit stage model stays
    assert (c3.formulator_model, c3.generator_model) == ("l2l-test-random@formulator", FAST_MODEL)
    with pytest.raises(ModelNotAvailable, match="not a trained model"):
        resolve("no-such-trained@generator")


def test_bundle_carries_peft_folders_for_transformers(tmp_path, monkeypatch):
    """`l2l models pack` also copies each PEFT folder into `<bundle>/peft/<role>/` with its digest in the
    manifest; `hf:<trained>@<role>` loads that copy with transformers, checked like the GGUF files."""
    from l2l.config import SolveConfig
    from l2l.models.load import resolve
    from l2l.models.lora_gguf import adapter_digest

    bundle = _bundle(tmp_path)
    monkeypatch.setenv("L2L_ADAPTERS", str(bundle.parent))
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    for role in ("formulator", "generator"):
        entry = manifest["adapters"][role]["peft"]
        folder = bundle / entry["dir"]
        assert entry["dir"] == f"peft/{role}" and entry["sha256"] == adapter_digest(folder)
        # the training machine's export path is not carried along: the registry model's hub id is
        assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == \
            "Qwen/Qwen2.5-Coder-0.5B-Instruct"
        # the weights are the trained ones, byte for byte
        assert (folder / "adapter_model.safetensors").read_bytes() == \
            (tmp_path / "peft" / role / "adapter_model.safetensors").read_bytes()
        r = resolve(f"hf:l2l-test-random@{role}")
        assert (r.backend, r.kwargs["model"]) == ("hf", str(folder))
    assert resolve("hf:l2l-test-random").kwargs["model"] == str(bundle / "peft" / "formulator")  # bare: formulator
    c = SolveConfig().update(model="hf:l2l-test-random")  # both policies, each its own PEFT folder
    assert (c.formulator_model, c.generator_model) == ("hf:l2l-test-random@formulator", "hf:l2l-test-random@generator")

    weights = bundle / "peft" / "generator" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelNotAvailable, match="sha256 mismatch for the generator PEFT folder"):
        resolve("hf:l2l-test-random@generator")
    resolve("hf:l2l-test-random@formulator")  # the untouched one still resolves

    for role in ("formulator", "generator"):  # a bundle packed before PEFT folders were included
        del manifest["adapters"][role]["peft"]
    (bundle / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelNotAvailable, match="has no PEFT folder for generator"):
        resolve("hf:l2l-test-random@generator")
    assert resolve("l2l-test-random@generator").backend == "llamacpp"  # its GGUF files still run


def test_peft_on_a_registry_base_loads_the_export_training_used(tmp_path, monkeypatch):
    """transformers gets the registry model's GGUF exported once into the l2l cache (what training
    ran on, and offline), unless the recorded export folder still exists; other bases are left alone."""
    from l2l.backends import hf as hf_mod

    exported: list[str] = []

    def fake_export(name, out, **_kw):  # the real export is covered by the slow test below
        exported.append(name)
        Path(out).mkdir(parents=True)
        (Path(out) / "config.json").write_text("{}")
        return Path(out)

    monkeypatch.setattr("l2l.models.export_hf.export_hf", fake_export)
    monkeypatch.setenv("L2L_CACHE", str(tmp_path / "cache"))
    hub = _numpy_peft(tmp_path / "a", layers=1, shapes={"q_proj": (896, 896)}, r=2, alpha=4, seed=0,
                      base="Qwen/Qwen2.5-Coder-0.5B-Instruct")
    dest = tmp_path / "cache" / "hf" / FAST_MODEL
    assert hf_mod.registry_base_checkpoint(hub) == str(dest) and exported == [FAST_MODEL]
    assert hf_mod.registry_base_checkpoint(hub) == str(dest) and exported == [FAST_MODEL]  # once
    local = tmp_path / "runs" / "base" / FAST_MODEL
    local.mkdir(parents=True)
    (local / "config.json").write_text("{}")
    rec = _numpy_peft(tmp_path / "b", layers=1, shapes={"q_proj": (896, 896)}, r=2, alpha=4, seed=0, base=str(local))
    assert hf_mod.registry_base_checkpoint(rec) == str(local)
    other = _numpy_peft(tmp_path / "c", layers=1, shapes={"q_proj": (896, 896)}, r=2, alpha=4, seed=0,
                        base="/somewhere/my-own-model")
    assert hf_mod.registry_base_checkpoint(other) is None and exported == [FAST_MODEL]


@pytest.mark.parametrize("base, backend", [
    (f"/somewhere/runs/base/{FAST_MODEL}", "llamacpp"),  # an export-hf folder named after the model (training's base)
    (FAST_MODEL, "llamacpp"),
    ("Qwen/Qwen2.5-Coder-0.5B-Instruct", "llamacpp"),  # the registry model's hub id
    ("/somewhere/my-own-model", "hf"),
])
def test_peft_folder_runs_on_the_registry_gguf_when_its_base_is_a_registry_model(tmp_path, base, backend):
    from l2l.models.load import resolve

    d = _numpy_peft(tmp_path / "p", layers=1, shapes={"q_proj": (896, 896)}, r=2, alpha=4, seed=0, base=base)
    r = resolve(str(d))
    assert r.backend == backend
    if backend == "llamacpp":
        assert (r.registry_name, r.adapter.kind, r.adapter.path) == (FAST_MODEL, "peft", str(d.resolve()))
    assert resolve(f"hf:{d}").backend == "hf"  # transformers stays one prefix away


def test_tampered_adapter_is_refused_with_a_clear_error(tmp_path, monkeypatch, gguf_05b_path):
    import l2l
    from l2l.models import load_model
    from l2l.models.registry import trained_models

    bundle = _bundle(tmp_path)
    monkeypatch.setenv("L2L_ADAPTERS", str(bundle.parent))
    target = bundle / "generator.gguf"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight
    target.write_bytes(bytes(data))
    with pytest.raises(ModelNotAvailable, match=r"sha256 mismatch for generator adapter .*generator\.gguf"):
        load_model("l2l-test-random@generator")
    with pytest.raises(ModelNotAvailable, match="sha256 mismatch"):
        l2l.reason("Is 2 > 1?", model="l2l-test-random", prompt_cache="off")
    trained_models()["l2l-test-random"].verify("formulator")  # the untouched file still verifies
    target.write_bytes(bytes(data[:-10]))
    with pytest.raises(ModelNotAvailable, match="has .* bytes, its MANIFEST.json says"):
        load_model("l2l-test-random@generator")
    target.unlink()
    with pytest.raises(ModelNotAvailable, match="generator adapter .* is missing"):
        load_model("l2l-test-random@generator")


def test_models_list_shows_the_trained_entry_and_its_origin(tmp_path):
    bundle = _bundle(tmp_path)
    env = {**os.environ, "L2L_ADAPTERS": str(bundle.parent)}
    out = subprocess.run([sys.executable, "-m", "l2l", "models", "list"], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    row = next(line.split() for line in out.stdout.splitlines() if line.startswith("l2l-test-random "))
    assert row[1] == "llamacpp+lora"
    assert f"base:     {FAST_MODEL}" in out.stdout and "(sha256: ok)" in out.stdout
    assert "command:  (test fixture: random adapters)" in out.stdout and "data:     none (random lora_B)" in out.stdout
    rows = {r["name"]: r for r in json.loads(subprocess.run(
        [sys.executable, "-m", "l2l", "models", "list", "--json"], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=300).stdout)}
    assert rows["l2l-test-random"]["base"] == FAST_MODEL and rows["l2l-test-random"]["verified"] == "ok"


# --- the real 0.5B -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hf_05b_dir(tmp_path_factory, gguf_05b_path) -> Path:
    """The 0.5B GGUF exported to a float32 transformers checkpoint (~60 s): the export the hf backend
    loads a registry-based adapter onto, made once in the l2l cache (later runs reuse it)."""
    from l2l.backends.hf import registry_export

    return registry_export(FAST_MODEL)


@pytest.mark.slow
def test_real_05b_adapter_effect_agrees_between_transformers_and_llama_cpp(hf_05b_dir, gguf_05b_path, tmp_path):
    """The same random LoRA (rank 8 on q/k/v/o) through PEFT on the exported checkpoint and through
    the converter + llama.cpp on the GGUF. The GGUF's weights are Q5_0/Q8_0/Q6_K/Q4_K and llama.cpp
    also quantises activations for those matmuls, so the logits themselves differ between the two
    (measured: base logits up to 0.33 apart); the adapter's effect (with minus without) is
    compared instead. Measured: the effect has an L2 norm of 155 over the 151,936 logits, the
    two effects a cosine of 0.979 (relative L2 error 0.20: the quantised matmuls' error does not
    cancel once the adapter moves the activations), and the top 5 tokens are the same, in
    order. Bounds: cosine > 0.95, the same top token, 4 of the top 5 shared."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from l2l.backends.llamacpp import LlamaCppBackend
    from l2l.models.lora_gguf import peft_to_gguf

    tok = AutoTokenizer.from_pretrained(hf_05b_dir)
    text = tok.apply_chat_template([{"role": "user", "content": "Write a Python function that adds two numbers."}],
                                   tokenize=False, add_generation_prompt=True)
    tokens = tok(text)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(hf_05b_dir, dtype="float32").eval()
    hf_base = _hf_logits(model, tokens)
    peft_model, peft_dir = _random_peft(model, tmp_path / "peft", seed=3, targets=QKVO, r=8, alpha=16, b_std=0.01,
                                        base=str(hf_05b_dir))
    hf_lora = _hf_logits(peft_model, tokens)
    del model, peft_model

    plain = LlamaCppBackend(gguf_05b_path, n_ctx=512, progress=False, prompt_cache="off")
    try:
        cpp_base = plain.next_token_logits(tokens)
    finally:
        plain.close()
    lora = LlamaCppBackend(gguf_05b_path, n_ctx=512, progress=False, prompt_cache="off",
                           lora_path=peft_to_gguf(peft_dir, tmp_path / "lora.gguf"))
    try:
        cpp_lora = lora.next_token_logits(tokens)
    finally:
        lora.close()
    hf_delta, cpp_delta = hf_lora - hf_base, cpp_lora - cpp_base
    cos = _cos(hf_delta, cpp_delta)
    rel = np.linalg.norm(cpp_delta - hf_delta) / np.linalg.norm(hf_delta)
    top_hf, top_cpp = np.argsort(-hf_lora)[:5], np.argsort(-cpp_lora)[:5]
    print(f"0.5B: |delta| {np.linalg.norm(hf_delta):.2f}, delta cosine {cos:.4f}, relative delta error {rel:.3f}, "
          f"base max|diff| {np.abs(cpp_base - hf_base).max():.3f}, top-5 hf {top_hf.tolist()} llama.cpp {top_cpp.tolist()}")
    assert np.abs(hf_delta).max() > 0.5  # the adapter changes the prediction measurably
    assert cos > 0.95
    assert top_hf[0] == top_cpp[0] and len(set(top_hf) & set(top_cpp)) >= 4


@pytest.mark.slow
def test_trained_entry_solves_end_to_end_through_llama_cpp(tmp_path, monkeypatch, gguf_05b_path):
    """`l2l.reason(model=<trained>)`: the formulator adapter formulates, the generator adapter
    writes the program, both on one loaded 0.5B. Random adapters: the answer may be wrong, the
    run must be well formed."""
    import l2l
    from l2l.pipeline import solve as solve_mod
    from l2l.types import SolveResult

    bundle = _bundle(tmp_path)
    monkeypatch.setenv("L2L_ADAPTERS", str(bundle.parent))
    before = set(solve_mod._MODEL_CACHE)
    try:
        result = l2l.reason("Alice is older than Bob. Bob is older than Carol. Who is the youngest?",
                            options=["A) Alice", "B) Bob", "C) Carol"], model="l2l-test-random", prompt_cache="off",
                            repair_rounds=0, coverage_repair=False, formulation_max_tokens=400, program_max_tokens=400)
        loaded = {k: v for k, v in solve_mod._MODEL_CACHE.items() if k not in before}
        names = sorted(b.describe() for b in loaded.values())
        assert names == [f"llamacpp:{FAST_MODEL}+l2l-test-random@formulator", f"llamacpp:{FAST_MODEL}+l2l-test-random@generator"]
        f, g = sorted(loaded.values(), key=lambda b: b.describe())
        assert f.llm is g.llm and f._adapter and g._adapter and f._adapter != g._adapter  # one base, two adapters
        assert isinstance(result, SolveResult)
        assert result.status in ("solved", "disagreement", "no_answer")  # not "error": the pipeline ran through
        assert result.candidates and (result.answer is not None) == (result.status in ("solved", "disagreement"))
        assert result.usage["formulation"]["calls"] >= 1 and result.tokens
        print(f"status {result.status}, answer {result.answer!r}, timings {result.timings}")
        # the PEFT folders behind the bundle load through llama.cpp too (converted, on the same base)
        from l2l.models import load_model

        peft = load_model(str(tmp_path / "peft" / "generator"), prompt_cache="off", progress=False)
        try:
            assert peft.llm is f.llm and peft.lora_path.parent.name == "lora-gguf"
            assert peft.chat([{"role": "user", "content": "Say hi"}], max_tokens=4)[0].completion_tokens > 0
        finally:
            peft.close()
            peft.lora_path.unlink(missing_ok=True)  # the converted copy in the user's cache
    finally:
        for k in set(solve_mod._MODEL_CACHE) - before:
            solve_mod._MODEL_CACHE.pop(k).close()


@pytest.mark.slow
def test_bundle_peft_folder_runs_on_transformers_like_its_gguf_on_llama_cpp(tmp_path, monkeypatch, hf_05b_dir, gguf_05b_path):
    """`hf:<trained>@generator` loads the bundle's PEFT copy with transformers on the registry export
    (offline); its adapter effect agrees with the bundle's GGUF file on llama.cpp (same bounds as the
    round-trip test above: the GGUF base is quantised, so effects, not logits, are compared)."""
    from transformers import AutoTokenizer

    from l2l.backends.llamacpp import LlamaCppBackend
    from l2l.models import load_model

    bundle = _bundle(tmp_path)
    monkeypatch.setenv("L2L_ADAPTERS", str(bundle.parent))
    tok = AutoTokenizer.from_pretrained(hf_05b_dir)
    tokens = tok(tok.apply_chat_template([{"role": "user", "content": "Who is the youngest?"}], tokenize=False,
                                         add_generation_prompt=True))["input_ids"]
    hf = load_model("hf:l2l-test-random@generator", progress=False)
    try:
        assert Path(hf.model_id) == bundle / "peft" / "generator"
        hf_lora = _hf_logits(hf.model, tokens)
        assert hf.chat([{"role": "user", "content": "Say hi"}], max_tokens=3)[0].completion_tokens > 0
    finally:
        hf.close()
    from transformers import AutoModelForCausalLM

    hf_base = _hf_logits(AutoModelForCausalLM.from_pretrained(hf_05b_dir, dtype="float32").eval(), tokens)
    cpp = {}
    for key, lora in (("base", None), ("lora", bundle / "generator.gguf")):
        b = LlamaCppBackend(gguf_05b_path, n_ctx=512, progress=False, prompt_cache="off", lora_path=lora)
        try:
            cpp[key] = b.next_token_logits(tokens)
        finally:
            b.close()
    hf_delta, cpp_delta = hf_lora - hf_base, cpp["lora"] - cpp["base"]
    print(f"bundle PEFT vs GGUF: |delta| {np.linalg.norm(hf_delta):.2f}, cosine {_cos(hf_delta, cpp_delta):.4f}")
    assert np.linalg.norm(hf_delta) > 1.0  # the adapter does something
    assert _cos(hf_delta, cpp_delta) > 0.95
    assert np.argmax(hf_lora) == np.argmax(cpp["lora"])

