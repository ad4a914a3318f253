"""Shared-prompt GRPO scoring (l2l/train/shared_prompt.py) against TRL's own method, on a tiny random
Qwen2 with LoRA adapters and TRL's fused LM head, as GRPO trains it: the per-token log-probabilities
and entropies agree, and so do the LoRA gradients of a loss over them. Rows are one group (one
left-padded prompt, right-padded completions of different lengths)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def policy():
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)
    model = Qwen2ForCausalLM(config)
    add_fused_lm_head(model, temperature=0.9, outputs=("log_probs", "entropy"))  # as GRPOTrainer does
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                             init_lora_weights=False))  # non-zero B: the adapter matters
    return model.train()


@pytest.fixture(autouse=True)
def fresh_accelerate_state(monkeypatch):
    """accelerate keeps one process-wide state: a trainer built earlier in the run (bf16 autocast on a
    CPU with bf16 in hardware) would otherwise leave its mixed precision to these tests' Accelerator."""
    from accelerate.state import AcceleratorState

    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def _trainer(mixed_precision: str = "no"):
    from accelerate import Accelerator

    from l2l.train.shared_prompt import shared_prompt_trainer

    t = object.__new__(shared_prompt_trainer())
    t.accelerator = Accelerator(cpu=True, mixed_precision=mixed_precision)
    return t


def _group(rows: int = 4, prompt: int = 30, completion: int = 12, pad: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    p = torch.randint(1, 300, (1, prompt), generator=g).repeat(rows, 1)
    c = torch.randint(1, 300, (rows, completion), generator=g)
    p_mask = torch.ones(rows, prompt, dtype=torch.long)
    p_mask[:, :pad] = 0  # left padding of the prompt (the same in every row of a group)
    c_mask = torch.ones(rows, completion, dtype=torch.long)
    for r in range(rows):
        c_mask[r, completion - 2 * r:] = 0  # completions of different lengths, right padded
    return torch.cat([p, c], 1), torch.cat([p_mask, c_mask], 1), completion


def _grads(model) -> dict:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def _trl_and_shared(policy, trainer):
    """Log-probs, entropies and LoRA gradients of a GRPO-like loss, by TRL's method and by ours."""
    from trl import GRPOTrainer

    ids, mask, keep = _group()
    out = {}
    for name, fn in (("trl", lambda *a, **k: GRPOTrainer._get_per_token_logps_and_entropies(trainer, *a, **k)),
                     ("shared", trainer._get_per_token_logps_and_entropies)):
        policy.zero_grad()
        logps, ent, _ = fn(policy, ids, mask, keep, batch_size=4, compute_entropy=True)
        c_mask = mask[:, -keep:].float()
        # a GRPO-like loss: advantages per row times the completion tokens' log-probabilities
        loss = -((logps * c_mask).sum(1) * torch.tensor([1.0, -0.5, 0.25, 2.0])).sum() + 0.1 * (ent * c_mask).sum()
        loss.backward()
        out[name] = (logps.detach(), ent.detach(), _grads(policy))
    return ids, mask, keep, out


def test_log_probs_entropies_and_gradients_equal_trls(policy):
    trainer = _trainer()
    ids, mask, keep, out = _trl_and_shared(policy, trainer)
    assert trainer.shared_prompt_chunks == 1 and trainer.full_chunks == 0  # the shared path did run
    (lp_t, ent_t, g_t), (lp_s, ent_s, g_s) = out["trl"], out["shared"]
    assert lp_s.shape == lp_t.shape == (4, keep)
    c_mask = mask[:, -keep:].bool()
    assert torch.allclose(lp_s[c_mask], lp_t[c_mask], atol=1e-5, rtol=1e-4)
    assert torch.allclose(ent_s[c_mask], ent_t[c_mask], atol=1e-5, rtol=1e-4)
    assert g_t and set(g_s) == set(g_t)
    assert any(k.endswith("lora_A.default.weight") and "k_proj" in k for k in g_s)  # through the prompt's keys too
    for k in g_t:
        assert torch.allclose(g_s[k], g_t[k], atol=1e-5, rtol=1e-3), k


def test_rows_with_different_prompts_take_trls_path(policy):
    trainer = _trainer()
    ids, mask, keep = _group()
    other, _, _ = _group(seed=7)
    ids[2:] = other[2:]  # two groups in one call, chunked by batch_size
    with torch.no_grad():
        mixed, _, _ = trainer._get_per_token_logps_and_entropies(policy, ids, mask, keep, batch_size=4)
        assert (trainer.shared_prompt_chunks, trainer.full_chunks) == (0, 1)
        by_group, _, _ = trainer._get_per_token_logps_and_entropies(policy, ids, mask, keep, batch_size=2)
        assert (trainer.shared_prompt_chunks, trainer.full_chunks) == (2, 1)
    c_mask = mask[:, -keep:].bool()
    assert torch.allclose(mixed[c_mask], by_group[c_mask], atol=1e-5, rtol=1e-4)


def test_under_bf16_autocast_the_shared_path_stays_within_bf16_rounding(policy):
    """With bf16 autocast (what training uses where the CPU has bf16 in hardware) the two paths round
    differently, so they agree to bf16's precision, not fp32's; a wrong split or mask is far outside it."""
    trainer = _trainer("bf16")
    ids, mask, keep, out = _trl_and_shared(policy, trainer)
    assert trainer.shared_prompt_chunks == 1
    (lp_t, ent_t, _), (lp_s, ent_s, _) = out["trl"], out["shared"]
    c_mask = mask[:, -keep:].bool()
    gap = (lp_s[c_mask] - lp_t[c_mask]).abs().max().item()
    assert gap < 0.05, gap  # bf16 keeps ~3 significant digits of log-probs near -5.7
    assert (ent_s[c_mask] - ent_t[c_mask]).abs().max().item() < 0.05
    # and the rounding is real: the fp32 reference differs from the bf16 result
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    fp32 = _trainer()
    with torch.no_grad():
        exact, _, _ = fp32._get_per_token_logps_and_entropies(policy, ids, mask, keep, batch_size=4)
    assert not torch.equal(exact[c_mask], lp_s[c_mask])
