"""GRPO log-probabilities with each group's prompt run once instead of once per completion.

A GRPO group is `num_generations` completions of one prompt, and on this project's generator the
prompt (system text, solver API notes, worked example, question, formulation: ~1,500-2,400 tokens)
is 5-10x longer than a program (~250 tokens). TRL scores every row as prompt + completion, so the
forward pass and its backward go through the same prompt once per completion, and the same again
for the old-policy log-probabilities the importance-sampling correction needs. Measured on the 0.5B
in fp32 on 2 cores: ~855 s per generator step of 4 completions (bench/results/grpo_0.5b.md).

`SharedPromptMixin._get_per_token_logps_and_entropies` runs the prompt of a chunk whose rows share
it once (batch 1, with the KV cache kept), repeats the cache along the batch and runs only the
completions on top. This is exact, not an approximation: gradients flow back through the repeated
cache into the one prompt pass, so the log-probabilities and the gradients are TRL's own
(tests/test_train_shared_prompt.py compares both with TRL's method). Chunks whose rows do not share
a prompt, and multimodal or MoE inputs, take TRL's path unchanged.
"""

from __future__ import annotations

from typing import Any

# Keyword arguments of TRL's method that carry inputs this path does not handle (images, token
# types): any of them set sends the chunk to TRL's own implementation.
_OTHER_INPUTS = ("pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask", "spatial_shapes", "num_tiles",
                 "image_sizes", "token_type_ids", "mm_token_type_ids", "image_position_ids")


class SharedPromptMixin:
    """Put before `trl.GRPOTrainer` in a class's bases (see `shared_prompt_trainer`)."""

    #: chunks scored through the shared prompt / through TRL's path (a test and the log read them)
    shared_prompt_chunks: int = 0
    full_chunks: int = 0

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **other: Any):
        import torch

        base = super()._get_per_token_logps_and_entropies  # type: ignore[misc]
        if compute_aux_loss or any(other.get(k) is not None for k in _OTHER_INPUTS):
            return base(model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                        compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **other)
        batch_size = batch_size or input_ids.size(0)
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            ids, mask = input_ids[start:start + batch_size], attention_mask[start:start + batch_size]
            shared = self._shared_chunk(model, ids, mask, logits_to_keep, compute_entropy) \
                if _shares_prompt(ids, mask, logits_to_keep) else None
            if shared is not None:
                lp, ent = shared
                self.shared_prompt_chunks += 1
            else:
                lp, ent, _ = base(model, ids, mask, logits_to_keep, compute_entropy=compute_entropy)
                self.full_chunks += 1
            logps.append(lp)
            entropies.append(ent)
        return (torch.cat(logps, dim=0), torch.cat(entropies, dim=0) if compute_entropy else None, None)

    def _shared_chunk(self, model, ids, mask, logits_to_keep: int, compute_entropy: bool):
        """Rows of `ids` share their first `len - logits_to_keep` tokens (the prompt): run all but
        the prompt's last token once, then every row's last prompt token and completion on the
        cache (the last prompt token's output predicts the first completion token)."""
        split = ids.size(1) - logits_to_keep - 1
        labels = ids.masked_fill(mask == 0, -100)
        labels[:, :-logits_to_keep] = -100
        with self.accelerator.autocast():  # type: ignore[attr-defined]
            outputs = run_on_shared_prefix(model, ids, mask, labels, split)
        if outputs is None:
            return None
        logps = outputs.log_probs[:, -logits_to_keep:]
        entropy = outputs.entropy[:, -logits_to_keep:] if compute_entropy else None
        return logps, entropy


def run_on_shared_prefix(model, ids, mask, labels, split: int, **kw: Any):
    """The fused-LM-head forward of rows that share their first `split` tokens: that prefix once
    (batch 1, `logits_to_keep=1`: only its KV cache is needed), the cache repeated along the batch,
    then every row's rest on it, scored against `labels[:, split:]` (full-width `labels`; the rest's
    first label must be -100, its predictor being in the prefix). Exact: gradients flow back through
    the repeated cache into the one prefix pass. Returns the model's `FusedCausalLMOutput` over the
    rest (position t of the rest predicts token t + 1 of it), or None when the model kept no cache
    (activation checkpointing turns it off). Used by GRPO scoring here and by SFT
    (`l2l/train/sft_shared_prefix.py`)."""
    prefix = model(input_ids=ids[:1, :split], attention_mask=mask[:1, :split], use_cache=True, logits_to_keep=1)
    cache = getattr(prefix, "cache", None)
    if cache is None:
        cache = getattr(prefix, "past_key_values", None)
    if cache is None:
        return None
    cache.batch_repeat_interleave(ids.size(0))
    # The attention mask spans the whole row (cache + new tokens), as the model expects
    return model(input_ids=ids[:, split:], attention_mask=mask, cache=cache, labels=labels[:, split:],
                 fused_lm_head=True, **kw)


def _shares_prompt(ids, mask, logits_to_keep: int) -> bool:
    """True when every row has the same prompt tokens and mask (one GRPO group) and the prompt is
    long enough to be worth a separate pass."""
    prompt = ids.size(1) - logits_to_keep
    if ids.size(0) < 2 or prompt < 2:
        return False
    return bool((ids[:, :prompt] == ids[:1, :prompt]).all() and (mask[:, :prompt] == mask[:1, :prompt]).all())


def shared_prompt_trainer() -> type:
    """`trl.GRPOTrainer` with the shared-prompt scoring above."""
    from trl import GRPOTrainer

    return type("SharedPromptGRPOTrainer", (SharedPromptMixin, GRPOTrainer), {})
