"""SFT with each micro-batch's shared prompt prefix run once (l2l/train/sft_shared_prefix.py), against
TRL's own `SFTTrainer.compute_loss`, on a tiny random Qwen2 with LoRA adapters and the real Qwen2.5
tokenizer and chat template: the loss, TRL's metrics and every LoRA gradient agree; the sampler puts
rows of one prompt family together; a real `trainer.train()` runs its micro-batches that way."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

SYSTEMS = {
    # two "families": each a long fixed system text (the prompts' API notes and worked example stand-in)
    "ordering": "You write solver programs. " + " ".join(f"Rule {i}: keep names as declared." for i in range(12)),
    "knights": "You reason about knights and knaves. " + " ".join(f"Note {i}: a knave always lies." for i in range(12)),
}


def _rows(per_family: int = 4) -> list[dict]:
    rows = []
    for family, system in SYSTEMS.items():
        for i in range(per_family):
            rows.append({"prompt": [{"role": "system", "content": system},
                                    {"role": "user", "content": f"Question {i} about {family}: who is {'first ' * (i + 1)}?"}],
                         "completion": [{"role": "assistant", "content": f"```python\nanswer({i})\n```" + " x" * (3 * i)}]})
    return rows


def _trainer(tiny_qwen2_dir, tmp_path, batch: int, steps: int = 1):
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    from l2l.train.sft_shared_prefix import shared_prefix_sft_trainer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_qwen2_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, init_lora_weights=False,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    args = SFTConfig(output_dir=str(tmp_path / "sft"), per_device_train_batch_size=batch, max_steps=steps,
                     learning_rate=1e-3, report_to="none", use_cpu=True, seed=3, save_strategy="no",
                     disable_tqdm=True, logging_steps=1, max_length=1024,
                     # as sft_phase configures it (TRL's default is on, and a checkpointed model keeps no cache)
                     gradient_checkpointing=False)
    return shared_prefix_sft_trainer()(model=model, args=args, train_dataset=Dataset.from_list(_rows()),
                                       processing_class=tok)


def _grads(model) -> dict:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def test_shared_prefix_loss_metrics_and_gradients_equal_trls(tiny_qwen2_dir, tmp_path):
    from trl import SFTTrainer

    from l2l.train.sft_shared_prefix import prefix_split

    trainer = _trainer(tiny_qwen2_dir, tmp_path, batch=4)
    model = trainer.model.train()
    batch = next(iter(trainer.get_train_dataloader()))
    split = prefix_split(batch)
    # the four rows of one family share the chat header and system text: far more than the minimum
    assert split is not None and split > 100
    assert (batch["attention_mask"] == 0).any()  # right padding is part of the case
    n_items = int((batch["labels"] != -100).sum())
    out = {}
    for name, compute in (("trl", lambda b: SFTTrainer.compute_loss(trainer, model, b, num_items_in_batch=n_items)),
                          ("shared", lambda b: trainer.compute_loss(model, b, num_items_in_batch=n_items))):
        model.zero_grad()
        trainer._metrics["train"].clear()
        loss = compute(dict(batch))
        loss.backward()
        out[name] = (loss.detach(), _grads(model), {k: v[-1] for k, v in trainer._metrics["train"].items()})
    assert (trainer.shared_prefix_batches, trainer.full_batches) == (1, 0)  # the shared path did run
    assert trainer.prefix_tokens_saved == split * 3
    (loss_t, g_t, m_t), (loss_s, g_s, m_s) = out["trl"], out["shared"]
    assert torch.allclose(loss_s, loss_t, atol=1e-5, rtol=1e-5)
    assert set(m_s) == set(m_t) and {"entropy", "mean_token_accuracy"} <= set(m_t)
    # num_tokens is TRL's running total of attention-mask tokens: the same batch counted twice
    assert m_s.pop("num_tokens") == 2 * m_t.pop("num_tokens")
    for k in m_t:
        assert m_s[k] == pytest.approx(m_t[k], rel=1e-5, abs=1e-6), k
    assert g_t and set(g_s) == set(g_t)
    assert any("k_proj" in k and "lora_A" in k for k in g_s)  # gradients reach the prefix's keys
    for k in g_t:
        assert torch.allclose(g_s[k], g_t[k], atol=1e-6, rtol=1e-3), k


def test_one_token_off_in_the_split_breaks_the_equality(tiny_qwen2_dir, tmp_path):
    """The layout check has teeth: cutting one token later than the first label's predecessor
    drops that label's prediction, and the loss moves."""
    from trl import SFTTrainer

    from l2l.train import sft_shared_prefix as ssp

    trainer = _trainer(tiny_qwen2_dir, tmp_path, batch=4)
    model = trainer.model.eval()
    batch = next(iter(trainer.get_train_dataloader()))
    split = ssp.prefix_split(batch)
    n_items = int((batch["labels"] != -100).sum())
    with torch.no_grad():
        ref = SFTTrainer.compute_loss(trainer, model, dict(batch), num_items_in_batch=n_items)
        first_label = int(torch.nonzero((batch["labels"] != -100).any(0))[0, 0])
        # rows of one family with identical prompts up to the completion would allow this cut only if
        # the prefix reached the completion; force it past the first label's predecessor
        late = SFTTrainer.compute_loss(trainer, ssp._PrefixOnce(model, first_label + 1), dict(batch), num_items_in_batch=n_items) \
            if first_label + 1 <= batch["input_ids"].size(1) else None
        good = SFTTrainer.compute_loss(trainer, ssp._PrefixOnce(model, split), dict(batch), num_items_in_batch=n_items)
    assert torch.allclose(good, ref, atol=1e-5)
    assert late is not None and not torch.allclose(late, ref, atol=1e-4)


def test_sampler_groups_rows_by_prompt_and_shuffles_the_groups():
    from l2l.train.sft_shared_prefix import PrefixBlockSampler

    ids = [[1, 2, 9, i] for i in range(3)] + [[1, 3, 7, i] for i in range(3)] + [[1, 2, 9, 10 + i] for i in range(3)]
    sampler = PrefixBlockSampler(ids, batch_size=3, seed=0)
    order = list(sampler)
    assert sorted(order) == list(range(9)) and len(sampler) == 9
    blocks = [order[i:i + 3] for i in range(0, 9, 3)]
    for block in blocks:
        assert len({tuple(ids[i][:3]) for i in block}) == 1  # one prompt prefix per micro-batch
    orders = set()
    for epoch in range(6):
        sampler.set_epoch(epoch)
        orders.add(tuple(sampler))
    assert len(orders) > 1  # the micro-batches come in a new order per epoch
    sampler.set_epoch(0)
    assert list(sampler) == order  # and the same order again for the same epoch (resume skips batches of it)


def test_real_sft_steps_run_every_micro_batch_through_the_shared_prefix(tiny_qwen2_dir, tmp_path):
    trainer = _trainer(tiny_qwen2_dir, tmp_path, batch=4, steps=2)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_B" in n}
    trainer.train()
    assert (trainer.shared_prefix_batches, trainer.full_batches) == (2, 0)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(0 < loss < 100 for loss in losses)
    after = {n: p.detach() for n, p in trainer.model.named_parameters() if "lora_B" in n}
    assert any(not torch.equal(before[n], after[n]) for n in before)  # the adapter trained


def test_mixed_or_single_row_batches_take_trls_path():
    from l2l.train.sft_shared_prefix import prefix_split

    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [1, 6, 7, 8, 9, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])
    labels = torch.tensor([[-100, -100, -100, -100, 9, 10], [-100, -100, -100, -100, 9, -100]])
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    assert prefix_split(batch, minimum=1) is None  # no common first token
    ids[1, 0] = 5
    assert prefix_split(batch, minimum=1) == 3  # common 5 tokens, cut before the first label's predecessor
    assert prefix_split(batch, minimum=4) is None  # too short to be worth a pass
    assert prefix_split({k: v[:1] for k, v in batch.items()}, minimum=1) is None  # one row
    assert prefix_split({**batch, "position_ids": torch.zeros_like(ids)}, minimum=1) is None  # packed
