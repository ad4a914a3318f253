"""Cold start: supervised fine-tuning of both adapters before GRPO.

Sources of (question, formulation, program) triples:
  - rejection sampling from the base models: k formulations per question, one program each,
    run through the one execution path; a triple is kept when a solver helper certified its
    answer (`l2l.pipeline.execute.certified`), the answer is correct *and* it agrees with the
    majority vote over the question's certified samples (voting filters lucky guesses);
  - gold pairs from synthetic puzzles (`l2l.synth` records carry a gold formulation and program),
    when `sft.use_gold` is on.
The formulator learns question -> formulation JSON, the generator question + formulation -> program,
each with TRL's SFTTrainer on conversational data. The adapters are written as round 0 of the run
(`checkpoints/round-0000`, `adapters/`), so `python train.py +experiment=bilevel out_dir=<same>
resume=true` continues with GRPO from them.

    python train.py +experiment=sft_coldstart
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from typing import Any

from l2l.train import checkpoint
from l2l.train.bilevel import BilevelRun, _options, set_learning_rate

log = logging.getLogger(__name__)


def rejection_sample(run: BilevelRun, rows: list[dict[str, Any]], k: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Triples kept from k sampled formulation -> program attempts per question (correct and majority)."""
    from l2l.backends.base import GenerationParams
    from l2l.data import is_correct
    from l2l.parsing import parse_formulation
    from l2l.prompts import formulator_messages, generator_messages
    from l2l.train.grpo_config import phase_settings
    from l2l.pipeline.execute import ExecLimits, certified, run_programs
    from l2l.train.rewards import _programs

    fs, gs = phase_settings(run.cfg, "formulator"), phase_settings(run.cfg, "generator")
    temp = float(run.cfg.sft.temperature)
    forms = run.policies.backend("formulator").chat_batch(
        [formulator_messages(r["question"], _options(r)) for r in rows],
        GenerationParams(max_tokens=int(fs["max_completion_length"]), temperature=temp, n=k),
    )
    attempts = []  # (row index, formulation, completion text)
    for i, group in enumerate(forms):
        for c in group:
            try:
                attempts.append((i, parse_formulation(c.text)))
            except ValueError:
                pass
    progs = run.policies.backend("generator").chat_batch(
        [generator_messages(rows[i]["question"], f, _options(rows[i])) for i, f in attempts],
        GenerationParams(max_tokens=int(gs["max_completion_length"]), temperature=temp, n=1),
    )
    programs = _programs([g[0].text for g in progs], [f.backend for _, f in attempts])
    results = run_programs(programs, ExecLimits.from_config(run.cfg.pipeline, run.cfg.get("executor")))
    by_q: dict[int, list[tuple[Any, str, str]]] = {}
    for (i, f), program, res in zip(attempts, programs, results):
        # Only answers a solver helper certified: a lucky constant letter is not a solve to imitate.
        if program is not None and certified(res):
            by_q.setdefault(i, []).append((f, program.code, res.answer))
    kept = []
    for i, items in by_q.items():
        majority, _ = Counter(a for _, _, a in items).most_common(1)[0]
        row = rows[i]
        for f, code, ans in items:
            if ans == majority and is_correct(ans, row["answer"], _options(row)):
                kept.append({**row, "formulation": f.to_json(), "program": code})
    stats = {"sampled_formulations": len(rows) * k, "parsed": len(attempts), "certified": sum(len(v) for v in by_q.values()), "kept": len(kept)}
    return kept, stats


def sft_datasets(triples: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Conversational prompt/completion SFT rows for each policy: `prompt` is exactly the message list
    inference sends (`formulator_messages`, `generator_messages`), `completion` the assistant turn.
    TRL computes the loss on the completion only (`completion_only_loss`), so the adapters learn to
    answer the prompts, not to recite the API notes in them."""
    from l2l.prompts import formulator_messages, generator_messages
    from l2l.types import Formulation

    out: dict[str, list[dict[str, Any]]] = {"formulator": [], "generator": []}
    for t in triples:
        f = Formulation.from_dict(json.loads(t["formulation"]))
        opts = _options(t)
        out["formulator"].append({"prompt": formulator_messages(t["question"], opts),
                                  "completion": [{"role": "assistant", "content": f.as_written(indent=1)}]})
        code = f"```python\n{t['program'].strip()}\n```"
        out["generator"].append({"prompt": generator_messages(t["question"], f, opts),
                                 "completion": [{"role": "assistant", "content": code}]})
    return out


def _last_checkpoint(folder: str) -> str | None:
    """The newest `checkpoint-N` the Trainer saved under `folder`, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(folder) if os.path.isdir(folder) else None


_MISSING = object()


def role_setting(sft: Any, role: str, key: str, default: Any = _MISSING) -> Any:
    """`sft.<role>.<key>` when the role's own block sets it (`+sft.generator.steps=14`), else `sft.<key>`
    (else `default` when given)."""
    common = sft[key] if default is _MISSING else sft.get(key, default)
    return (sft.get(role) or {}).get(key, common)


def sft_phase(run: BilevelRun, role: str, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Fine-tune one adapter. The Trainer saves the adapters, optimizer, scheduler and RNG state every
    `sft.save_steps` steps under `<out_dir>/trainer/sft-<role>/`; with `resume=true` a killed run
    continues from the newest of those (a finished phase resumes at its last step and trains nothing)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from l2l.train.grpo_config import resolve_bf16

    s = run.cfg.sft
    steps = int(role_setting(s, role, "steps"))
    out = os.path.join(run.out_dir, "trainer", f"sft-{role}")
    optimizer = run.optimizers[role]
    grpo_lr = optimizer.param_groups[0]["lr"]
    set_learning_rate(optimizer, float(s.learning_rate))
    checkpointing = bool(role_setting(s, role, "gradient_checkpointing", False))
    args = SFTConfig(
        output_dir=out,
        max_steps=steps,
        # a role's own block may set its micro-batch too: the 1.5B's generator rows (three of ~1,900 tokens)
        # peaked past 24 GiB in bf16 and were OOM-killed, where its formulator rows fit three at a time
        per_device_train_batch_size=int(role_setting(s, role, "batch_size")),
        gradient_accumulation_steps=int(role_setting(s, role, "gradient_accumulation_steps", 1)),
        learning_rate=float(s.learning_rate),
        lr_scheduler_type="constant",
        logging_steps=1,
        save_strategy="steps",
        save_steps=int(s.get("save_steps", 5)),
        # two so that a kill while writing the newest still leaves a complete one
        save_total_limit=2,
        report_to="none",
        use_cpu=bool(run.cfg.grpo.use_cpu),
        bf16=resolve_bf16(run.cfg.grpo.get("bf16", "auto"), bool(run.cfg.grpo.use_cpu)),
        max_length=int(s.max_length),
        # TRL's SFTConfig turns activation checkpointing on by default: the forward pass then runs twice
        # per step, and a checkpointed model keeps no KV cache, so the shared prefix could not be reused.
        # A role may turn it on (`+sft.generator.gradient_checkpointing=true`): the 1.5B's generator rows
        # keep every layer's activations otherwise, which is what outgrew 24 GiB
        gradient_checkpointing=checkpointing,
        # the Trainer then prints each step's loss: the progress line of a long CPU run
        disable_tqdm=True,
        seed=int(run.cfg.seed),
    )
    trainer_cls = SFTTrainer
    if bool(s.get("shared_prefix", True)):
        from l2l.train.sft_shared_prefix import shared_prefix_sft_trainer

        trainer_cls = shared_prefix_sft_trainer()
    trainer = trainer_cls(
        model=run.policies.activate(role),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=run.policies.tokenizer,
        optimizers=(run.optimizers[role], None),
    )
    resume = _last_checkpoint(out) if run.cfg.resume else None
    if resume and _step(resume) >= steps:
        # A finished phase: the Trainer would still take one more step when resumed at max_steps
        # (it skips batches, not steps), so load what that checkpoint holds and train nothing.
        log.info("SFT %s: complete in %s, loading it", role, resume)
        _load_trainer_checkpoint(run, role, resume)
        trainer.state = trainer.state.load_from_json(os.path.join(resume, "trainer_state.json"))
    else:
        if resume:
            log.info("SFT %s: resuming from %s", role, resume)
        try:
            trainer.train(resume_from_checkpoint=resume)
        finally:
            if checkpointing:  # the Trainer turned it on for the shared model: the next role and GRPO decide their own
                m = trainer.model  # transformers 5 renamed it activation checkpointing; older ones have only the old name
                (getattr(m, "activation_checkpointing_disable", None) or m.gradient_checkpointing_disable)()
    run.policies.activate(role)  # the Trainer's adapter loading may leave another adapter active
    set_learning_rate(optimizer, grpo_lr)  # the saved round carries GRPO's rate, not the cold start's
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    extra = {}
    if hasattr(trainer, "shared_prefix_batches"):
        log.info("SFT %s: %d micro-batches ran their shared prefix once (%d prompt tokens not rerun), %d the full way",
                 role, trainer.shared_prefix_batches, trainer.prefix_tokens_saved, trainer.full_batches)
        extra = {f"sft/{role}/shared_prefix_batches": trainer.shared_prefix_batches,
                  f"sft/{role}/full_batches": trainer.full_batches,
                  f"sft/{role}/prefix_tokens_saved": trainer.prefix_tokens_saved}
    tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h]
    if tokens:
        extra[f"sft/{role}/num_tokens"] = tokens[-1]  # the tokens the phase trained on (TRL's running total)
    return {**extra, f"sft/{role}/loss_first": losses[0] if losses else 0.0, f"sft/{role}/loss_last": losses[-1] if losses else 0.0,
            f"sft/{role}/rows": len(rows), f"sft/{role}/steps": int(trainer.state.global_step),
            f"sft/{role}/resumed_from_step": _step(resume) if resume else 0}


def _step(checkpoint_dir: str) -> int:
    return int(checkpoint_dir.rstrip("/").rsplit("-", 1)[1])


def _load_trainer_checkpoint(run: BilevelRun, role: str, folder: str) -> None:
    """Put a Trainer checkpoint's adapter weights and optimizer state into the live policy."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    name = run.policies.adapter_name(role)
    sub = os.path.join(folder, name) if os.path.isdir(os.path.join(folder, name)) else folder
    set_peft_model_state_dict(run.policies.models[role], load_file(os.path.join(sub, "adapter_model.safetensors")), adapter_name=name)
    optim = os.path.join(folder, "optimizer.pt")
    if os.path.exists(optim):
        run.optimizers[role].load_state_dict(torch.load(optim, map_location="cpu", weights_only=True))


def _triples(r: BilevelRun, cfg: Any, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The cold-start triples; sampled ones are written to `<out_dir>/sft_triples.jsonl` once and
    read back on resume, so an interrupted run trains on the same data without sampling again."""
    path = os.path.join(r.out_dir, "sft_triples.jsonl")
    if cfg.resume and os.path.exists(path):
        with open(path) as f:
            sampled = [json.loads(line) for line in f]
        rec["sft/sampled_reused"] = len(sampled)
    else:
        sampled = []
        if int(cfg.sft.samples_per_question) > 0:
            with r.metrics.stage("rejection_sampling"):
                sampled, stats = rejection_sample(r, r.train_rows, int(cfg.sft.samples_per_question))
            rec.update({f"sft/{k}": v for k, v in stats.items()})
        if r.is_main:
            with open(path + ".tmp", "w") as f:
                f.writelines(json.dumps(t) + "\n" for t in sampled)
            os.replace(path + ".tmp", path)
    triples = list(sampled)
    if cfg.sft.use_gold:
        gold = [t for t in r.train_rows if t.get("formulation") and t.get("program")]
        triples += gold
        rec["sft/gold"] = len(gold)
    return triples


def run(cfg: Any) -> dict[str, Any]:
    """Build the cold-start data, fine-tune both adapters, save them as round 0."""
    r = BilevelRun(cfg)
    rec: dict[str, Any] = {"round": 0, "mode": "sft"}
    if cfg.loop.validate_before and not (cfg.resume and os.path.exists(os.path.join(r.out_dir, "sft_triples.jsonl"))):
        with r.metrics.stage("validate"):
            before = r.validate()
        r.metrics.write({"round": -1, **before})
    triples = _triples(r, cfg, rec)
    rec["sft/triples"] = len(triples)
    if triples:
        data = sft_datasets(triples)
        for role in ("formulator", "generator"):
            with r.metrics.stage(f"sft_{role}"):
                rec.update(sft_phase(r, role, data[role]))
    if int(cfg.loop.validate_every) > 0:
        with r.metrics.stage("validate"):
            rec.update(r.validate())
    with r.metrics.stage("checkpoint"):
        if r.is_main:
            checkpoint.save_round(r.out_dir, 0, r.policies, r.optimizers, {"mode": "sft"})
    record = r.metrics.write(rec)
    return {"out_dir": r.out_dir, "start_round": 0, "records": [record]}
