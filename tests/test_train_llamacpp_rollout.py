"""GRPO rollouts through llama.cpp with the live adapter (`grpo.rollout=llamacpp`, l2l/train/rollout_llamacpp.py).

On the tiny random Qwen2 of conftest.py (real Qwen2.5 tokenizer) written as a float32 GGUF
(l2l/models/qwen2_gguf.py): llama.cpp tokenizes exactly as the HF tokenizer; the log-probabilities
llama.cpp reports for the tokens it sampled with an exported adapter are transformers' for the same
sequence (the adapter visibly moves them); a real TRL GRPO step trains on llama.cpp's completions,
exports the adapter before every step, and weighs the loss by TRL's truncated importance ratio,
which is ~1 when the adapter is in sync and corrects a stale one.

Cost on 2 busy cores (under nice, llama.cpp on one thread): 2-12 s per test, the train.py smoke run ~85 s;
about 2.5 minutes for the module.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from test_train_config import compose_train

ROOT = Path(__file__).resolve().parents[1]
PROMPT = [{"role": "user", "content": "Alice is older than Bob. Who is older?"}]
# |llama.cpp - transformers| per token log-probability: llama.cpp keeps the KV cache and the adapter in
# float16 (measured up to ~2e-4 without an adapter, ~1e-3 with one on this model)
LOGP_TOL = 5e-3


@pytest.fixture(scope="module")
def tiny_gguf(tiny_qwen2_dir) -> Path:
    from l2l.models.qwen2_gguf import checkpoint_to_gguf

    return checkpoint_to_gguf(tiny_qwen2_dir)


@pytest.fixture(scope="module")
def sampler(tiny_gguf):
    from l2l.train.llamacpp_sampler import LlamaCppSampler

    s = LlamaCppSampler(tiny_gguf, n_ctx=1024, n_seq_max=4, n_threads=1)
    yield s
    s.close()


def _policies(tiny_dir: Path, seed: int = 0, b_std: float = 0.3):
    """Shared-mode policies on the tiny model; the generator adapter gets random, non-zero lora_B
    (PEFT starts B at zero: the adapter would change nothing), the formulator's stays zero."""
    import torch

    from l2l.train.policies import Policies

    pol = Policies(str(tiny_dir), mode="shared")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in pol.models["generator"].named_parameters():
            if ".generator." in name and "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * b_std)
    return pol


def _hf_logprobs(model, prompt_ids: list[int], completion_ids: list[int], temperature: float = 1.0) -> np.ndarray:
    """transformers' log-probability of each completion token (what TRL recomputes)."""
    import torch

    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt_ids) - 1:-1].double() / temperature
    return torch.log_softmax(logits, -1).gather(1, torch.tensor(completion_ids)[:, None])[:, 0].numpy()


def _prompt_ids(tok) -> list[int]:
    return list(tok.apply_chat_template(PROMPT, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"])


# --- tokenizer and sampling maths -------------------------------------------------------------------


def test_tiny_gguf_tokenizes_exactly_like_the_hf_tokenizer(tiny_qwen2_dir, sampler):
    from transformers import AutoTokenizer

    from l2l.train.rollout_llamacpp import check_tokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen2_dir)
    texts = [
        tok.apply_chat_template(PROMPT + [{"role": "assistant", "content": "Alice."}], tokenize=False),
        "def add(a, b):\n    return a+b  # 12345 ünïcode 日本語 🙂",
        "  leading spaces\n\n\ttabs 3.14159 'll don't <tool_call>x</tool_call><|im_end|>",
    ]
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert sampler.tokenize(text) == ids
        assert sampler.model.detokenize(ids, special=True).decode("utf-8") == text
    assert sampler.n_vocab == len(tok)
    check_tokenizer(sampler, tok)  # what a run checks before its first rollout


def test_token_logprobs_is_the_distribution_the_token_is_drawn_from():
    from l2l.train.llamacpp_sampler import SamplingSettings, draw, token_logprobs

    rng = np.random.default_rng(0)
    logits = rng.normal(size=50).astype(np.float32) * 2
    lp = token_logprobs(logits, SamplingSettings(temperature=0.7))
    want = logits / 0.7 - np.log(np.exp(logits / 0.7).sum())
    assert np.allclose(lp, want, atol=1e-9)  # TRL's recomputation: log_softmax(logits / T)
    for s, kept in [(SamplingSettings(top_k=5), 5), (SamplingSettings(top_p=0.5), None), (SamplingSettings(min_p=0.2), None)]:
        lp = token_logprobs(logits, s)
        assert np.isclose(np.exp(lp[np.isfinite(lp)]).sum(), 1.0)
        assert kept is None or np.isfinite(lp).sum() == kept
        assert np.isfinite(lp[np.argmax(logits)])
    pen = token_logprobs(logits, SamplingSettings(repetition_penalty=1.5), seen=np.array([int(np.argmax(logits))]))
    assert pen[np.argmax(logits)] < token_logprobs(logits, SamplingSettings())[np.argmax(logits)]
    # draws follow the distribution: empirical frequencies of 20,000 draws within 0.01
    lp = token_logprobs(logits, SamplingSettings())
    counts = np.bincount([draw(lp, rng) for _ in range(20000)], minlength=50) / 20000
    assert np.abs(counts - np.exp(lp)).max() < 0.01
    greedy = token_logprobs(logits, SamplingSettings(temperature=0))  # 0: greedy, untempered log-probabilities
    assert np.allclose(greedy, logits - np.log(np.exp(logits).sum()), atol=1e-9)
    with pytest.raises(ValueError, match="temperature"):
        SamplingSettings(temperature=-1)


# --- llama.cpp with the live adapter ----------------------------------------------------------------


def test_llamacpp_logprobs_with_the_exported_adapter_are_transformers(tiny_qwen2_dir, sampler, tmp_path):
    """A group sampled by llama.cpp with the exported generator adapter: each token's reported
    log-probability is transformers' (adapter on) for the same sequence, and far from the base's."""
    from l2l.train.llamacpp_sampler import SamplingSettings
    from l2l.train.rollout_llamacpp import export_adapter

    pol = _policies(tiny_qwen2_dir)
    model = pol.activate("generator").eval()
    t = time.perf_counter()
    path = export_adapter(model, "generator", tmp_path / "generator.gguf")
    sampler.set_adapter(path)
    export_s = time.perf_counter() - t
    prompt = _prompt_ids(pol.tokenizer)
    t = time.perf_counter()
    samples = sampler.sample(prompt, 4, SamplingSettings(max_tokens=24, temperature=0.9), {pol.tokenizer.eos_token_id},
                             np.random.default_rng(0))
    rollout_s = time.perf_counter() - t
    tokens = sum(len(s.completion_ids) for s in samples)
    print(f"tiny model: adapter export + load {export_s:.3f} s, rollout of 4 x <=24 tokens {rollout_s:.3f} s "
          f"({tokens / rollout_s:.0f} tokens/s, 1 thread)")
    assert len(samples) == 4 and all(s.prompt_ids == prompt for s in samples)
    assert len({tuple(s.completion_ids) for s in samples}) > 1  # four independent draws, not one copied
    gap, effect = [], []
    for s in samples:
        assert len(s.logprobs) == len(s.completion_ids) and 1 <= len(s.completion_ids) <= 24
        assert s.finish_reason == ("stop" if s.completion_ids[-1] == pol.tokenizer.eos_token_id else "length")
        hf = _hf_logprobs(model, prompt, s.completion_ids, 0.9)
        gap.append(np.abs(hf - s.logprobs).max())
        with model.disable_adapter():
            effect.append(np.abs(_hf_logprobs(model, prompt, s.completion_ids, 0.9) - hf).mean())
    print(f"max |llama.cpp - transformers| {max(gap):.1e}; mean |adapter - base| {np.mean(effect):.2f}")
    assert max(gap) < LOGP_TOL
    # the adapter moves the log-probabilities (measured 0.14 per token, 300x the gap): the agreement means something
    assert np.mean(effect) > max(10 * LOGP_TOL, 30 * max(gap))
    # the formulator adapter (lora_B still zero) is the bare base: swapping it in gives the base's numbers
    sampler.set_adapter(export_adapter(pol.models["formulator"], "formulator", tmp_path / "formulator.gguf"))
    s = sampler.sample(prompt, 1, SamplingSettings(max_tokens=8), {pol.tokenizer.eos_token_id}, np.random.default_rng(1))[0]
    with model.disable_adapter():
        assert np.abs(_hf_logprobs(model, prompt, s.completion_ids) - s.logprobs).max() < LOGP_TOL


def _grpo_trainer(tiny_dir: Path, gguf: Path, out: Path, steps: int, lr: float = 0.05):
    """A TRL GRPOTrainer on the generator policy with `grpo.rollout=llamacpp`, built the way
    BilevelRun.grpo_phase builds it; a reward with spread (text length) so every step has a gradient."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from l2l.train.grpo_config import grpo_args, phase_settings
    from l2l.train.rollout_llamacpp import Rollouts, RolloutSettings

    cfg = compose_train("+experiment=smoke", "grpo.rollout=llamacpp", f"grpo.rollout_gguf={gguf}", "grpo.bf16=false",
                        f"grpo.generator.steps={steps}", "grpo.generator.max_completion_length=12",
                        "grpo.rollout_n_ctx=512", "grpo.rollout_threads=1")
    args = grpo_args(cfg, "generator", str(out / "trainer"))
    assert args.vllm_importance_sampling_correction and args.vllm_importance_sampling_mode == "token_truncate"
    pol = _policies(tiny_dir)
    rollouts = Rollouts(RolloutSettings.from_config(phase_settings(cfg, "generator")), str(out), n_seq_max=2)
    rollout = rollouts.for_phase(pol, "generator", seed=0)
    import torch

    def length_reward(completions, **kw):
        return [float(len(c[0]["content"]) % 5) for c in completions]

    model = pol.activate("generator")
    optimizer = torch.optim.AdamW(pol.trainable_parameters("generator"), lr=lr)
    trainer = GRPOTrainer(model=model, reward_funcs=[length_reward], args=args, processing_class=pol.tokenizer,
                          train_dataset=Dataset.from_list([{"prompt": PROMPT}] * 8), optimizers=(optimizer, None),
                          rollout_func=rollout)
    rollout.attach(trainer)
    return trainer, rollout, rollouts


def _record(trainer, rollout):
    """Capture what llama.cpp sampled, which adapter file it used, and what the loss was given."""
    sampled, adapters, losses = [], [], []
    sample, set_adapter, compute_loss = rollout.sampler.sample, rollout.sampler.set_adapter, trainer.compute_loss

    def sample_and_record(*a, **kw):
        out = sample(*a, **kw)
        sampled.extend(out)
        return out

    def set_and_record(path, *a, **kw):
        adapters.append(hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None)
        return set_adapter(path, *a, **kw)

    def loss_and_record(model, inputs, *a, **kw):
        losses.append({k: v.detach().clone() if hasattr(v, "detach") else v for k, v in inputs.items()})
        return compute_loss(model, inputs, *a, **kw)

    rollout.sampler.sample, rollout.sampler.set_adapter, trainer.compute_loss = sample_and_record, set_and_record, loss_and_record
    return sampled, adapters, losses


def test_grpo_steps_train_on_llamacpp_rollouts_with_importance_sampling(tiny_qwen2_dir, tiny_gguf, tmp_path):
    trainer, rollout, rollouts = _grpo_trainer(tiny_qwen2_dir, tiny_gguf, tmp_path, steps=2)
    sampled, adapters, losses = _record(trainer, rollout)
    try:
        t = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - t
    finally:
        rollouts.close()
    st = rollout.stats
    print(f"2 GRPO steps {train_s:.2f} s: {st.exports} adapter exports {st.export_s:.3f} s, rollouts {st.rollout_s:.3f} s "
          f"({st.tokens} tokens)")
    # the adapter was exported before every step, and the second export carries the first step's update
    assert st.exports == 2 and len(adapters) == 2 and adapters[0] != adapters[1]
    assert len(sampled) == 4 and len(losses) == 2  # 1 prompt x 2 generations per step
    for step, inputs in enumerate(losses):
        mask = inputs["completion_mask"].bool()
        # the trainer's completions and sampling log-probabilities are llama.cpp's (TRL shuffles the rows)
        by_ids = {tuple(smp.completion_ids): smp for smp in sampled[2 * step:2 * step + 2]}
        for row in range(2):
            smp = by_ids[tuple(inputs["completion_ids"][row][mask[row]].tolist())]
            assert np.allclose(inputs["sampling_per_token_logps"][row][mask[row]].numpy(), smp.logprobs, atol=1e-6)
        old, samp, ratio = inputs["old_per_token_logps"], inputs["sampling_per_token_logps"], inputs["importance_sampling_ratio"]
        # the policy's recomputed log-probabilities agree with llama.cpp's for the same tokens ...
        assert (old - samp)[mask].abs().max() < LOGP_TOL
        # ... and the loss is weighted by TRL's truncated importance ratio min(exp(old - sampling), 3)
        assert torch_allclose(ratio[mask], (old - samp)[mask].exp().clamp(max=3.0))
    logs = {k: v for rec in trainer.state.log_history for k, v in rec.items()}
    assert logs["sampling/sampling_logp_difference/max"] < LOGP_TOL
    assert abs(logs["sampling/importance_sampling_ratio/mean"] - 1) < LOGP_TOL
    assert st.summary("generator/")["generator/rollout_tokens_per_s"] > 0


def torch_allclose(a, b) -> bool:
    import torch

    return bool(torch.allclose(a, b, atol=1e-6))


def test_a_stale_adapter_shows_as_a_logp_gap_that_the_ratio_corrects(tiny_qwen2_dir, tiny_gguf, tmp_path):
    """Sampling with the bare base while the policy carries the random adapter: the gap is large,
    and TRL reweights every token by the (capped) ratio instead of trusting the samples."""
    trainer, rollout, rollouts = _grpo_trainer(tiny_qwen2_dir, tiny_gguf, tmp_path, steps=1)
    rollout.sync_weights = lambda: rollout.sampler.set_adapter(None)  # never export: llama.cpp stays on the base
    _, _, losses = _record(trainer, rollout)
    try:
        trainer.train()
    finally:
        rollouts.close()
    inputs = losses[0]
    mask = inputs["completion_mask"].bool()
    gap = (inputs["old_per_token_logps"] - inputs["sampling_per_token_logps"])[mask]
    ratio = inputs["importance_sampling_ratio"][mask]
    print(f"stale adapter: mean |gap| {gap.abs().mean():.2f}, ratio {ratio.min():.2f}..{ratio.max():.2f}")
    assert gap.abs().mean() > 10 * LOGP_TOL  # measured 0.13, against < 5e-4 in sync
    assert (ratio - 1).abs().max() > 0.1 and ratio.max() <= 3.0
    assert torch_allclose(ratio, gap.exp().clamp(max=3.0))


def test_policy_backend_samples_the_live_adapter_and_exports_only_after_an_update(tiny_qwen2_dir, tiny_gguf, tmp_path):
    """Policies.backend(role) with grpo.rollout=llamacpp: formulations, reward programs, rejection sampling
    and validation come from llama.cpp with the role's current adapter."""
    import torch

    from l2l.backends.base import GenerationParams
    from l2l.train.llamacpp_backend import LlamaCppPolicyBackend
    from l2l.train.rollout_llamacpp import Rollouts, RolloutSettings

    pol = _policies(tiny_qwen2_dir)
    rollouts = Rollouts(RolloutSettings(rollout="llamacpp", gguf=str(tiny_gguf), n_ctx=1024, threads=1), str(tmp_path), 2)
    pol.backend_factory = LlamaCppPolicyBackend.factory(rollouts)
    try:
        gen = pol.backend("generator")
        out = gen.chat_batch([PROMPT, PROMPT[:1]], GenerationParams(max_tokens=6, temperature=1.0, n=3))
        assert [len(g) for g in out] == [3, 3] and all(c.completion_tokens >= 1 and c.prompt_tokens > 10 for g in out for c in g)
        assert gen.exports == 1
        greedy = GenerationParams(max_tokens=6, temperature=0.0)
        first = gen.chat(PROMPT, greedy)[0].text
        assert gen.chat(PROMPT, greedy)[0].text == first and gen.exports == 1  # same weights: no new export
        pol.backend("formulator").chat(PROMPT, greedy)  # the other adapter takes the shared context ...
        assert gen.chat(PROMPT, greedy)[0].text == first and gen.exports == 2  # ... so it is put back
        with torch.no_grad():  # an optimizer step, as far as the weights can tell
            for p in pol.trainable_parameters("generator"):
                p.mul_(3.0)
        gen.chat(PROMPT, greedy)
        assert gen.exports == 3
        sampler = next(iter(rollouts.samplers.values()))
        assert sampler.adapter_path == Path(rollouts.adapter_path("generator"))
    finally:
        rollouts.close()


# --- the training run --------------------------------------------------------------------------------


def test_config_switch_and_its_errors(tmp_path):
    from l2l.errors import InputError
    from l2l.train.grpo_config import grpo_kwargs

    kw = grpo_kwargs(compose_train("+experiment=smoke"), "generator", str(tmp_path))
    assert "vllm_importance_sampling_mode" not in kw  # transformers rollouts are on-policy: nothing to correct
    kw = grpo_kwargs(compose_train("+experiment=smoke", "grpo.rollout=llamacpp", "grpo.importance_sampling=sequence_mask",
                                   "grpo.importance_sampling_clip_max=2"), "formulator", str(tmp_path))
    assert kw["use_vllm"] is False and kw["vllm_importance_sampling_correction"] is True
    assert (kw["vllm_importance_sampling_mode"], kw["vllm_importance_sampling_clip_max"]) == ("sequence_mask", 2.0)
    for overrides, match in [(["grpo.rollout=vllm"], "grpo.rollout must be one of"),
                             (["grpo.rollout=llamacpp", "grpo.use_vllm=true"], "choose one"),
                             (["grpo.rollout=llamacpp", "grpo.importance_sampling=always"], "importance_sampling must be")]:
        with pytest.raises(InputError, match=match):
            grpo_kwargs(compose_train("+experiment=smoke", *overrides), "generator", str(tmp_path))


def test_rollout_gguf_is_the_registry_model_the_checkpoint_came_from(tmp_path, tiny_gguf):
    from l2l.errors import InputError
    from l2l.train.rollout_llamacpp import RolloutSettings, rollout_gguf

    s = RolloutSettings(rollout="llamacpp")
    assert rollout_gguf(RolloutSettings(rollout="llamacpp", gguf=str(tiny_gguf)), "/anything") == tiny_gguf
    with pytest.raises(InputError, match="grpo.rollout_gguf"):
        rollout_gguf(s, str(tmp_path / "my-own-model"))


def test_run_samples_rejection_and_validation_through_llamacpp(qwen_tokenizer_dir, tmp_path):
    """With grpo.rollout=llamacpp a BilevelRun's own sampling (here the SFT cold start's rejection
    sampling and validation) goes through llama.cpp with the live adapters, sft_coldstart.py unchanged."""
    from l2l.train.bilevel import BilevelRun
    from l2l.train.llamacpp_backend import LlamaCppPolicyBackend
    from l2l.train.sft_coldstart import rejection_sample

    cfg = compose_train("+experiment=smoke", f"out_dir={tmp_path / 'run'}", f"model.name_or_path={tmp_path / 'tiny'}",
                        f"model.tokenizer_source={qwen_tokenizer_dir}", "grpo.rollout=llamacpp", "grpo.rollout_threads=1",
                        "grpo.rollout_n_ctx=4096", "dedup.enabled=false", "+sft.temperature=0.8")
    run = BilevelRun(cfg)
    try:
        assert isinstance(run.policies.backend("formulator"), LlamaCppPolicyBackend)
        kept, stats = rejection_sample(run, run.train_rows[:1], k=2)
        assert stats["sampled_formulations"] == 2 and kept == []  # random weights write no formulation
        sampler = next(iter(run.rollouts.samplers.values()))
        assert sampler.tokens_generated >= 2 and (tmp_path / "run" / "rollout" / "formulator.gguf").is_file()
        val = run.validate()
        assert val["val/n"] == 2 and val["val/accuracy"] == 0.0
    finally:
        run.rollouts.close()


@pytest.mark.slow
def test_smoke_run_with_llamacpp_rollouts(qwen_tokenizer_dir, tmp_path):
    """`python train.py +experiment=smoke grpo.rollout=llamacpp`: the tiny checkpoint gets its GGUF, the
    generator phase rolls out through llama.cpp, and the round's record carries the rollout timings and
    the importance ratio. (The formulator phase is the same `grpo_phase` code; both phases together
    took 120 s here, mostly TRL's log-probabilities over the 151k-token vocabulary, so one is run.)"""
    out = tmp_path / "smoke"
    p = subprocess.run(
        [sys.executable, "train.py", "+experiment=smoke", f"out_dir={out}", f"model.name_or_path={tmp_path / 'tiny'}",
         f"model.tokenizer_source={qwen_tokenizer_dir}", "grpo.rollout=llamacpp", "grpo.rollout_threads=1",
         "grpo.rollout_n_ctx=4096", "loop.validate_before=false", "loop.validate_every=0", "dedup.enabled=false", "loop.phases=[generator]"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    rec = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    for role in ("generator",):
        assert rec[f"{role}/adapter_exports"] == 1 and rec[f"{role}/rollout_tokens"] > 0
        assert (out / "rollout" / f"{role}.gguf").is_file()
        assert abs(rec[f"{role}/is_ratio"] - 1) < 0.05 and rec[f"{role}/rollout_logp_gap"] < 0.05
    assert (tmp_path / "tiny" / "model-f32.gguf").is_file()
    # the formulations the generator trained on were sampled through llama.cpp with the formulator's adapter
    assert (out / "rollout" / "formulator.gguf").is_file()
    print(rec["seconds"], {k: v for k, v in rec.items() if "rollout" in k or "export" in k or "is_ratio" in k})
