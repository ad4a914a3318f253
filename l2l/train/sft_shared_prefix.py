"""SFT with each micro-batch's common prompt prefix run once, and only completion tokens through the LM head.

The cold start's rows are the inference prompts (`l2l.prompts`) with the gold as completion. Rows of
one synthetic family share their system text, solver API notes and worked example: measured on the
recipe's 200 gold rows with the Qwen2.5 tokenizer, the generator's prompts average 1,610 tokens of
which 506-1,338 (by family) are common to every row of the family, for completions of ~312 tokens;
the formulator's 918, of which 434-841 are common, for ~334. TRL runs every row from its first
token, so a micro-batch of 4 rows of one family runs the same ~1,100 tokens four times, forward and
backward, at ~118 s per 2,000-token generator sequence on this CPU (bench/results/sft_0.5b.md).

Two exact changes, no approximation (tests/test_train_sft_shared_prefix.py compares the loss and
every LoRA gradient with TRL's own `compute_loss`):
  - `PrefixBlockSampler` orders the rows so that each micro-batch holds rows with the longest common
    token prefix (rows sorted by token ids, cut into micro-batches, the micro-batches shuffled);
  - `SharedPrefixSFTMixin.compute_loss` runs that common prefix once (batch 1, KV cache kept),
    repeats the cache along the batch and runs only the rest of each row on it; gradients flow back
    through the repeated cache into the one prefix pass (as `shared_prompt.py` does for GRPO groups).
    The outputs are laid out as TRL's full forward lays them out, so TRL's `compute_loss` itself
    computes the loss and its metrics.
Both paths send only the labelled (completion) positions through TRL's fused LM head: TRL does that on
GPUs and scores every position elsewhere only to keep tile shapes fixed for compilers, which eager CPU
training does not need; on the 0.5B the 151,936 x 896 head is over a quarter of each token's work.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

# A common prefix shorter than this is not worth a separate pass (and every chat row shares ~2 tokens).
MIN_SHARED_PREFIX = 32


class PrefixBlockSampler:
    """Indices in micro-batches of rows that share long token prefixes, the micro-batches in a seeded
    random order (a new order per epoch). Sorting the rows by their token ids puts rows with the same
    prompt prefix next to each other, whatever produced them (families, datasets, sampled rows)."""

    def __init__(self, input_ids: list[list[int]], batch_size: int, seed: int = 0):
        order = sorted(range(len(input_ids)), key=lambda i: input_ids[i])
        self.blocks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        import random

        blocks = list(self.blocks)
        random.Random(self.seed * 1_000_003 + self.epoch).shuffle(blocks)
        for block in blocks:
            yield from block

    def __len__(self) -> int:
        return sum(len(b) for b in self.blocks)


@contextlib.contextmanager
def completion_only_lm_head() -> Iterator[None]:
    """TRL's fused LM head scores only labelled positions ("compact") on every device while inside.
    TRL decides that with its private `trl.trainer.utils._use_triton` (CUDA/XPU with Triton only);
    if a TRL release moves it, this does nothing and training stays exact, just slower."""
    try:
        from trl.trainer import utils as trl_utils
    except ImportError:  # pragma: no cover - TRL is a training dependency
        yield
        return
    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        yield
        return
    trl_utils._use_triton = lambda device: True
    try:
        yield
    finally:
        trl_utils._use_triton = original


def prefix_split(inputs: dict[str, Any], minimum: int = MIN_SHARED_PREFIX) -> int | None:
    """Where a right-padded micro-batch can be cut into one shared prefix and per-row rests: the
    number of leading tokens every row has in common, kept before the first labelled token's
    predecessor (whose output predicts it); None when that is shorter than `minimum`, the batch has
    one row, or the batch is packed / carries inputs this path does not handle."""
    import torch

    ids, mask, labels = inputs.get("input_ids"), inputs.get("attention_mask"), inputs.get("labels")
    if ids is None or mask is None or labels is None or ids.dim() != 2 or ids.size(0) < 2:
        return None
    if any(inputs.get(k) is not None for k in ("position_ids", "pixel_values", "token_type_ids", "cu_seq_lens_q")):
        return None
    same = ((ids == ids[:1]) & (mask == mask[:1]) & (mask == 1)).all(dim=0)
    common = int(same.numel()) if bool(same.all()) else int(torch.nonzero(~same)[0, 0])
    labelled = (labels != -100).any(dim=0)
    if not bool(labelled.any()):
        return None
    first_label = int(torch.nonzero(labelled)[0, 0])
    split = min(common, first_label - 1)
    return split if split >= minimum else None


class _PrefixOnce:
    """Calls like the fused-head model TRL's `compute_loss` calls, running the shared prefix once."""

    def __init__(self, model: Any, split: int):
        self.model, self.split = model, split

    def __getattr__(self, name: str) -> Any:  # TRL reads attributes (e.g. `training`) off the model
        return getattr(self.model, name)

    def __call__(self, input_ids, attention_mask, labels, fused_lm_head: bool = False, use_cache: bool = False, **kw: Any):
        import torch

        if not fused_lm_head:  # a path that wants full logits: run it the ordinary way
            return self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, use_cache=use_cache, **kw)
        from l2l.train.shared_prompt import run_on_shared_prefix

        s, rows = self.split, input_ids.size(0)
        out = run_on_shared_prefix(self.model, input_ids, attention_mask, labels, s, **kw)
        if out is None:  # the model declined to cache (gradient checkpointing): no sharing possible
            raise _NoCache
        # Lay the per-token outputs out as the full forward does (position t predicts token t + 1): the
        # prefix positions predict prompt tokens, unlabelled, so they are zeros / False there.
        for name in ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1", "label_mask"):
            x = getattr(out, name, None)
            if x is not None:
                setattr(out, name, torch.cat([x.new_zeros((rows, s)), x], dim=1))
        return out


class _NoCache(Exception):
    pass


class SharedPrefixSFTMixin:
    """Put before `trl.SFTTrainer` in a class's bases (see `shared_prefix_sft_trainer`)."""

    #: micro-batches run with a shared prefix / the ordinary way (a test and the log read them)
    shared_prefix_batches: int = 0
    full_batches: int = 0
    #: prompt tokens the shared prefix saved from running again (sum over micro-batches)
    prefix_tokens_saved: int = 0

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset  # type: ignore[attr-defined]
        batch = int(self.args.per_device_train_batch_size)  # type: ignore[attr-defined]
        if batch < 2 or "input_ids" not in dataset.column_names:
            return super()._get_train_sampler(train_dataset)  # type: ignore[misc]
        return PrefixBlockSampler(dataset["input_ids"], batch, seed=int(self.args.seed))  # type: ignore[attr-defined]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        base = super().compute_loss  # type: ignore[misc]
        split = prefix_split(inputs)
        with completion_only_lm_head():
            if split is not None:
                try:
                    result = base(_PrefixOnce(model, split), inputs, return_outputs=return_outputs,
                                  num_items_in_batch=num_items_in_batch)
                except _NoCache:
                    split = None
                else:
                    self.shared_prefix_batches += 1
                    self.prefix_tokens_saved += split * (inputs["input_ids"].size(0) - 1)
                    return result
            self.full_batches += 1
            return base(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)


def shared_prefix_sft_trainer() -> type:
    """`trl.SFTTrainer` with the shared-prefix micro-batches above."""
    from trl import SFTTrainer

    return type("SharedPrefixSFTTrainer", (SharedPrefixSFTMixin, SFTTrainer), {})
