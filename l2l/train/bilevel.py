"""The alternating bi-level GRPO loop (leader = formulator, follower = generator).

Each round runs named, timed stages (in `loop.phases` order, the default shown):

    sample_formulations  the current formulator writes formulations for the training questions;
                         generator prompts = question + those formulations (refreshed every round;
                         a question whose samples all fail to parse falls back to its gold
                         formulation when the data has one)
    generator_phase      GRPO on the generator, reward = GeneratorReward (executed answer correct)
    formulator_phase     GRPO on the formulator, reward = FormulatorReward: mean correctness of
                         m programs sampled from the *current* generator on each formulation
    proposer_phase       (self-play only) the formulator proposes new puzzles; see selfplay.py
    validate             greedy formulator -> generator -> executor on the held-out slice
    curriculum           (data.curriculum.enabled) raise the difficulty level when validation accuracy
                         reaches the threshold and regenerate the training rows at it; the held-out
                         slice stays the level-0 one, so val/accuracy stays comparable (curriculum.py)
    checkpoint           adapters + optimizer states + round counter

and appends one record per round to `<out_dir>/metrics.jsonl`.

    >>> from l2l.train.bilevel import run
    >>> summary = run(cfg)  # cfg: the composed conf/train.yaml  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from typing import Any

from l2l.errors import InputError
from l2l.train import checkpoint
from l2l.train.curriculum import Curriculum
from l2l.train.data import filter_rows, load_rows, split_rows
from l2l.train.grpo_config import grpo_args, phase_settings
from l2l.train.metrics import MetricsLog, summarise_log_history
from l2l.train.rewards import FormulatorReward, GeneratorReward, formulator_reward, generator_reward

log = logging.getLogger("l2l.train")

PHASES = ("generator", "formulator", "proposer")


def _init_distributed(cfg: Any) -> Any:
    """Create accelerate's process state (one per process, shared by every later `PartialState()`).

    Must run before anything else touches `PartialState`: the first creation fixes the backend, and
    `PartialState()` (cpu=False) on a machine without CUDA under torchrun settles on "not
    distributed", so every process would train alone and all of them would write as rank 0.
    cpu=True makes accelerate pick MULTI_CPU + gloo (conf/accelerate/cpu_2proc.yaml).
    """
    import torch
    from accelerate import PartialState

    cpu = bool(cfg.grpo.get("use_cpu", False)) or not torch.cuda.is_available()
    return PartialState(cpu=cpu)


def _is_main() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def _program_rates(role: str, stats: dict[str, int]) -> dict[str, float]:
    """A reward's program counts as shares of the programs it ran: ran as written, ran only after a
    program fix, certified, correct."""
    n = stats["programs"]
    names = {"exec_rate": "ran", "fixed_rate": "fixed", "certified_rate": "certified", "accuracy": "correct"}
    return {f"{role}/{name}": (stats[key] / n if n else 0.0) for name, key in names.items()}


def _sum_over_processes(counts: dict[str, int]) -> dict[str, int]:
    """Sum per-process counters: each process scores only its own share of the completions."""
    from accelerate.utils import gather_object

    parts = gather_object([counts])  # a list with every process's dict (just ours when not distributed)
    return {k: sum(p.get(k, 0) for p in parts) for k in counts}


def _from_main(obj: Any) -> Any:
    """Process 0's `obj` on every process (identity when not distributed)."""
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([obj], from_process=0)[0]


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


def _options(row: dict[str, Any]) -> list[str] | None:
    return list(row["options"]) if row.get("options") else None


def set_learning_rate(optimizer: Any, lr: float) -> None:
    """Set every parameter group's rate. TRL's trainers take our optimizers as they are and ignore
    their own `learning_rate` argument, so the rate a phase trains at is the one set here."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["initial_lr"] = lr  # what a (constant) scheduler built on it starts from


class BilevelRun:
    """One training run: policies, optimizers, data, metrics and the round loop."""

    def __init__(self, cfg: Any):
        from l2l.train.policies import LoraSettings, Policies

        self.cfg = cfg
        self.out_dir = os.path.abspath(str(cfg.out_dir))
        self.state = _init_distributed(cfg)
        self.is_main = self.state.is_main_process
        self.world_size = int(self.state.num_processes)
        self.phases = [str(p) for p in cfg.loop.phases]
        bad = [p for p in self.phases if p not in PHASES]
        if bad or not self.phases:
            raise InputError(f"loop.phases must be a non-empty list of {', '.join(PHASES)}; got {self.phases}")
        if cfg.policies.mode == "shared" and any(float(phase_settings(cfg, r).get("beta", 0.0)) for r in self.phases):
            # TRL builds the KL reference of a PeftModel from its adapter named "default"; shared mode names
            # its adapters after the roles. Use mode=separate for beta > 0.
            raise InputError("grpo.beta > 0 needs policies.mode=separate (TRL's KL reference expects one 'default' adapter)")
        if self.world_size > 1 and ("proposer" in self.phases or str(cfg.get("mode", "grpo")) == "sft"):
            # Proposals and rejection sampling are generated outside TRL's trainers, by every process
            # alike; without sharding they would be duplicated per process. Refuse rather than waste it.
            what = "self-play (the proposer phase)" if "proposer" in self.phases else "the SFT cold start"
            raise InputError(f"{what} runs in one process; start it with `python train.py ...`, "
                             f"not a {self.world_size}-process launch")

        if not cfg.resume and (checkpoint.latest(self.out_dir) or os.path.exists(os.path.join(self.out_dir, "metrics.jsonl"))):
            raise InputError(f"{self.out_dir} holds a previous run: pass resume=true to continue it, or choose another out_dir")
        self.ckpt = checkpoint.latest(self.out_dir) if cfg.resume else None
        self.start_round = checkpoint.load_state(self.ckpt)["round"] + 1 if self.ckpt else 0
        if cfg.resume and not self.ckpt:
            log.warning("resume=true but no completed round under %s: starting from round 0", self.out_dir)
        # Every process has looked at out_dir before any of them writes to it; otherwise a fast
        # process 0 writes metrics.jsonl and a slower process 1 refuses the run as a previous one.
        self._barrier()

        # Process 0 builds the tiny checkpoint (and assembles the tokenizer GGUF) alone; the others
        # wait, then load the finished files instead of racing to write the same directory.
        with self.state.main_process_first():
            base = _base_model(cfg)
        # Same seed on every process: LoRA init and the formulations sampled outside the trainer must
        # agree across ranks of a multi-process run.
        _seed_everything(int(cfg.seed))
        lora = cfg.policies.lora
        self.policies = Policies(
            base,
            mode=str(cfg.policies.mode),
            lora=LoraSettings(r=int(lora.r), alpha=int(lora.alpha), dropout=float(lora.dropout), target_modules=tuple(lora.target_modules)),
            generator_base=cfg.model.get("generator_name_or_path"),
            dtype=str(cfg.model.dtype),
            resume_from=self.ckpt,
        )
        self.optimizers = self._make_optimizers()
        from l2l.train.grpo_config import cpu_has_fast_bf16, resolve_bf16

        self.bf16 = resolve_bf16(cfg.grpo.get("bf16", "auto"), bool(cfg.grpo.get("use_cpu", False)))
        log.info("precision: %s weights, bf16 autocast %s (grpo.bf16=%s; CPU bf16 in hardware: %s)", cfg.model.dtype,
                 "on" if self.bf16 else "off", cfg.grpo.get("bf16", "auto"), cpu_has_fast_bf16())

        rows = load_rows(cfg.data, limit=cfg.loop.get("limit"), seed=int(cfg.seed), split=cfg.loop.get("split"))
        rows, self.dedup_report = filter_rows(cfg, rows)
        self.train_rows, self.val_rows = split_rows(rows, int(cfg.loop.val_size), seed=int(cfg.seed))
        if self.is_main:
            os.makedirs(self.out_dir, exist_ok=True)
            with open(os.path.join(self.out_dir, "dedup.json"), "w") as f:
                json.dump(self.dedup_report, f, indent=1)
        self.curriculum = Curriculum.from_config(cfg.data)  # None unless data.curriculum.enabled
        if self.curriculum and self.ckpt and checkpoint.load_state(self.ckpt).get("curriculum"):
            self.curriculum.load_state_dict(checkpoint.load_state(self.ckpt)["curriculum"])
            if self.curriculum.level:
                self.train_rows = self._curriculum_rows()
        self.metrics = MetricsLog(os.path.join(self.out_dir, "metrics.jsonl"), enabled=self.is_main)
        if self.ckpt and self.is_main:
            self._restore_metrics()
        self.rollouts: Any = None  # l2l.train.rollout_llamacpp.Rollouts when grpo.rollout=llamacpp
        from l2l.train.rollout_llamacpp import RolloutSettings

        rollout = RolloutSettings.from_config(cfg.grpo)
        if rollout.rollout == "llamacpp":
            self._rollouts(rollout)  # before the first sampling: every training-time generation goes through llama.cpp
        self.pool: list[dict[str, Any]] = []  # self-play proposals accepted into the training pool
        if self.ckpt and os.path.exists(os.path.join(self.ckpt, "pool.jsonl")):
            with open(os.path.join(self.ckpt, "pool.jsonl")) as f:
                self.pool = [json.loads(line) for line in f if line.strip()]

    # ------------------------------------------------------------------ set-up helpers

    def _restore_metrics(self) -> None:
        """Make metrics.jsonl hold exactly the records of rounds before `start_round`."""
        from l2l.train.metrics import read_metrics

        records = [m for m in read_metrics(self.metrics.path) if m.get("round", -1) < self.start_round]
        last = checkpoint.load_state(self.ckpt).get("record")
        if last and not any(m.get("round") == last.get("round") for m in records):
            records.append(last)
        with open(self.metrics.path, "w") as f:
            f.writelines(json.dumps(m, default=str) + "\n" for m in records)

    def _curriculum_rows(self) -> list[dict[str, Any]]:
        """Training rows at the curriculum's current level (the validation rows stay as they are)."""
        c = self.cfg
        return self.curriculum.train_rows(c.data, c.loop.get("limit"), int(c.seed), int(c.loop.val_size), self.val_rows)

    def _make_optimizers(self) -> dict[str, Any]:
        import torch

        opts = {}
        for role in ("formulator", "generator"):
            lr = float(phase_settings(self.cfg, role if role in self.phases else "generator")["learning_rate"])
            params = self.policies.trainable_parameters(role)
            opts[role] = torch.optim.AdamW(params, lr=lr, weight_decay=float(self.cfg.grpo.get("weight_decay", 0.0)))
            if self.ckpt:
                checkpoint.load_optimizer(self.ckpt, role, opts[role])
                # A loaded state carries the learning rate it was saved with (an SFT cold start's,
                # say); the config of this run decides the rate, the state keeps only the moments.
                set_learning_rate(opts[role], lr)
        return opts

    # ------------------------------------------------------------------ stages

    def sample_formulations(self, rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
        """Generator rows: question + formulations sampled from the current formulator."""
        from l2l.backends.base import GenerationParams
        from l2l.parsing import parse_formulation
        from l2l.prompts import formulator_messages, generator_messages
        from l2l.types import Formulation

        s = phase_settings(self.cfg, "formulator")
        params = GenerationParams(max_tokens=int(s["max_completion_length"]), temperature=float(s.get("temperature", 1.0)), n=k)
        backend = self.policies.backend("formulator")
        convs = [formulator_messages(r["question"], _options(r)) for r in rows]
        # one batch call (minutes on a CPU): say so before, and what it gave after
        log.info("sampling %d formulation(s) for each of %d questions from the current formulator", k, len(rows))
        t0 = time.perf_counter()
        samples = backend.chat_batch(convs, params) if k > 0 else [[] for _ in rows]
        out, parsed, fallback = [], 0, 0
        for row, group in zip(rows, samples):
            forms = []
            for c in group:
                try:
                    forms.append(parse_formulation(c.text))
                except ValueError:
                    pass
            parsed += len(forms)
            if not forms and row.get("formulation") and self.cfg.loop.gold_formulation_fallback:
                forms = [Formulation.from_dict(json.loads(row["formulation"]))]
                fallback += 1
            for f in forms:
                out.append({**self._row(row, generator_messages(row["question"], f, _options(row))), "backend": f.backend})
        self._last_sampling = {"formulations_sampled": len(rows) * k, "formulations_parsed": parsed, "gold_fallbacks": fallback}
        log.info("formulations: %d of %d parsed, %d gold fallbacks, %.0f s", parsed, len(rows) * k, fallback, time.perf_counter() - t0)
        return out

    def _row(self, row: dict[str, Any], prompt: list[dict[str, str]]) -> dict[str, Any]:
        # Options travel as a JSON string: arrow columns cannot mix lists and nulls reliably.
        return {
            "prompt": prompt,
            "question": row["question"],
            "answer": row["answer"],
            "options": json.dumps(row.get("options") or []),
            "family": row.get("family", ""),
        }

    def grpo_phase(
        self, role: str, rows: list[dict[str, Any]], reward_funcs: list[Any], round_index: int, settings_role: str | None = None
    ) -> dict[str, float]:
        """Run GRPO steps on one policy (`settings_role` picks the grpo block, default `role`)."""
        from datasets import Dataset
        from trl import GRPOTrainer

        from l2l.train.shared_prompt import shared_prompt_trainer

        if not rows:
            log.warning("%s phase of round %d has no prompts; skipped", role, round_index)
            return {f"{role}/skipped": 1.0}
        key = settings_role or role
        args = grpo_args(self.cfg, key, os.path.join(self.out_dir, "trainer", key), round_index)
        model = self.policies.activate(role)
        rollout = self._llamacpp_rollout(role, key, int(args.seed))
        # One prompt pass per group instead of one per completion (exact; l2l/train/shared_prompt.py)
        trainer_class = shared_prompt_trainer() if self.cfg.grpo.get("shared_prompt", True) else GRPOTrainer
        trainer = trainer_class(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=self.policies.tokenizer,
            optimizers=(self.optimizers[role], None),
            rollout_func=rollout,
        )
        if rollout is not None:
            rollout.attach(trainer)
        trainer.train()
        # TRL adds a frozen "ref" adapter for KL on a pre-wrapped PeftModel; drop it so the next
        # phase starts from the same adapter layout.
        if "ref" in getattr(model, "peft_config", {}):
            model.delete_adapter("ref")
            self.policies.activate(role)
        hist = trainer.state.log_history
        summary = summarise_log_history(hist, key)
        completions = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.max_steps * args.world_size
        summary[f"{key}/completion_tokens"] = summary.get(f"{key}/completion_length", 0.0) * completions
        if rollout is not None:
            summary.update(rollout.stats.summary(f"{key}/"))
        return summary

    def _llamacpp_rollout(self, role: str, key: str, seed: int) -> Any:
        """The llama.cpp rollout of this phase when `grpo.rollout=llamacpp` (else None: TRL generates)."""
        from l2l.train.rollout_llamacpp import RolloutSettings

        settings = RolloutSettings.from_config(phase_settings(self.cfg, key))
        if settings.rollout != "llamacpp":
            return None
        return self._rollouts(settings).for_phase(self.policies, role, seed)

    def _rollouts(self, settings: Any) -> Any:
        """The run's llama.cpp samplers (`Rollouts`), made once; from then on the policies' sampling
        outside GRPO steps (formulations, reward programs, rejection sampling, validation) uses them too."""
        if self.rollouts is None:
            from l2l.train.llamacpp_backend import LlamaCppPolicyBackend
            from l2l.train.rollout_llamacpp import Rollouts

            # One llama.cpp context for every phase: as many parallel sequences as the largest group.
            n_seq = max(int(phase_settings(self.cfg, k)["num_generations"]) for k in PHASES)
            self.rollouts = Rollouts(settings, self.out_dir, n_seq, build_tiny=bool(self.cfg.model.get("build_tiny")),
                                     process_index=int(self.state.process_index), world_size=self.world_size)
            self.policies.backend_factory = LlamaCppPolicyBackend.factory(self.rollouts)
        return self.rollouts

    def validate(self) -> dict[str, float]:
        """Accuracy of the live policies on the held-out slice, measured by the same `Solver` as
        `l2l solve` and `l2l eval` (greedy, one formulation, one program, `loop.val_repair_rounds`
        repair rounds), so a training curve and an eval table mean the same thing."""
        from l2l.config import SolveConfig
        from l2l.data.answers import is_correct
        from l2l.pipeline.execute import ExecLimits, ran_as_written
        from l2l.pipeline.solve import Solver

        fs, gs = phase_settings(self.cfg, "formulator"), phase_settings(self.cfg, "generator")
        limits = ExecLimits.from_config(self.cfg.pipeline, self.cfg.get("executor"))
        config = SolveConfig(
            formulations=1,
            programs_per_formulation=1,
            repair_rounds=int(self.cfg.loop.get("val_repair_rounds", 0)),
            timeout_s=limits.timeout_s,
            memory_mb=limits.memory_mb,
            formulation_max_tokens=int(fs["max_completion_length"]),
            program_max_tokens=int(gs["max_completion_length"]),
            repeat_penalty=float(self.cfg.loop.get("val_repeat_penalty", 1.1)),
        )
        from tqdm.auto import tqdm

        rows = tqdm(self.val_rows, desc="validate", unit="question", disable=not _is_main(), dynamic_ncols=True)
        solver = Solver(config, self.policies.backend("formulator"), self.policies.backend("generator"),
                        progress=lambda stage: rows.set_postfix_str(stage, refresh=True))
        n = len(self.val_rows)
        correct = formed = ran = 0
        for row in rows:
            options = _options(row)
            result = solver.solve(row["question"], options)
            formed += any(c.formulation is not None for c in result.candidates)
            ran += any(ran_as_written(c.execution) for c in result.candidates)
            correct += bool(is_correct(result.answer, row["answer"], options))
        return {
            "val/accuracy": correct / n if n else 0.0,
            "val/formulation_valid": formed / n if n else 0.0,
            "val/exec_rate": ran / n if n else 0.0,
            "val/n": n,
        }

    def _generator_reward(self) -> GeneratorReward:
        return generator_reward(self.cfg)

    def _formulator_reward(self) -> FormulatorReward:
        max_tokens = int(phase_settings(self.cfg, "generator")["max_completion_length"])
        return formulator_reward(self.cfg, self.policies.backend("generator"), max_tokens)

    # ------------------------------------------------------------------ the loop

    def round(self, r: int) -> dict[str, Any]:
        """Run one round of all configured phases; returns its metrics record."""
        cfg = self.cfg
        _seed_everything(int(cfg.seed) + r)
        rec: dict[str, Any] = {"round": r, "world_size": self.world_size}
        pool_rows = [p for p in self.pool if p.get("answer") is not None]
        train = self.train_rows + pool_rows
        rng = random.Random(int(cfg.seed) + r)
        per_round = int(cfg.loop.questions_per_round or len(train))
        questions = rng.sample(train, min(per_round, len(train)))

        for phase in self.phases:
            if phase == "generator":
                with self.metrics.stage("sample_formulations"):
                    gen_rows = self.sample_formulations(questions, int(cfg.loop.formulations_per_question))
                    # Every process must train on the same prompts; sampling is seeded alike on all
                    # of them, but process 0's rows are made authoritative rather than assumed equal.
                    gen_rows, self._last_sampling = _from_main((gen_rows, self._last_sampling))
                rec.update(self._last_sampling)
                reward = self._generator_reward()
                with self.metrics.stage("generator_phase"):
                    rec.update(self.grpo_phase("generator", gen_rows, [reward], r))
                st = _sum_over_processes(reward.stats)
                rec["generator/programs"] = st["programs"]
                rec.update(_program_rates("generator", st))
            elif phase == "formulator":
                from l2l.prompts import formulator_messages

                rows = [self._row(q, formulator_messages(q["question"], _options(q))) for q in questions]
                reward = self._formulator_reward()
                with self.metrics.stage("formulator_phase"):
                    rec.update(self.grpo_phase("formulator", rows, [reward], r))
                st = _sum_over_processes(reward.stats)
                rec["formulator/formulations"] = st["formulations"]
                rec["formulator/valid_rate"] = st["valid"] / st["formulations"] if st["formulations"] else 0.0
                rec.update(_program_rates("formulator", st))
            elif phase == "proposer":
                from l2l.train.selfplay import proposer_phase

                with self.metrics.stage("proposer_phase"):
                    rec.update(proposer_phase(self, r))

        if cfg.loop.validate_every and (r + 1) % int(cfg.loop.validate_every) == 0:
            with self.metrics.stage("validate"):
                rec.update(self.validate())
        if self.curriculum:
            rec["curriculum/level"] = self.curriculum.level  # the level this round trained at
            # Process 0's accuracy decides, so every process regenerates the same rows.
            raised = "val/accuracy" in rec and self.curriculum.update(_from_main(rec["val/accuracy"]))
            rec["curriculum/raised"] = int(raised)
            if raised:
                with self.metrics.stage("curriculum"):
                    self.train_rows = self._curriculum_rows()
        tokens = sum(v for k, v in rec.items() if k.endswith("/completion_tokens"))
        train_s = sum(self.metrics.seconds.get(k, 0.0) for k in ("generator_phase", "formulator_phase", "proposer_phase"))
        rec["tokens_per_s"] = tokens / train_s if train_s else 0.0
        with self.metrics.stage("checkpoint"):
            if self.is_main:
                # The round's record rides in state.json too, so a kill between checkpoint and
                # metrics write loses nothing (resume restores it).
                extra = {"pool_size": len(self.pool), "record": {**rec, "seconds": dict(self.metrics.seconds)}}
                if self.curriculum:
                    extra["curriculum"] = self.curriculum.state_dict()
                path = checkpoint.save_round(self.out_dir, r, self.policies, self.optimizers, extra)
                if self.pool:
                    with open(os.path.join(path, "pool.jsonl"), "w") as f:
                        f.writelines(json.dumps(p) + "\n" for p in self.pool)
            self._barrier()
        return self.metrics.write(rec)

    def _barrier(self) -> None:
        from accelerate import PartialState

        PartialState().wait_for_everyone()

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        records = []
        if self.start_round == 0 and cfg.loop.validate_before:
            with self.metrics.stage("validate"):
                before = self.validate()
            records.append(self.metrics.write({"round": -1, "world_size": self.world_size, **before}))
        for r in range(self.start_round, int(cfg.loop.rounds)):
            rec = self.round(r)
            records.append(rec)
            if self.is_main:
                log.info("round %d: %s", r, {k: v for k, v in rec.items() if not isinstance(v, dict)})
        # No process leaves (and tears down its process group) while another is still checkpointing.
        self._barrier()
        if self.rollouts is not None:
            self.rollouts.close()
        return {
            "out_dir": self.out_dir,
            "start_round": self.start_round,
            "records": records,
            "process_index": int(self.state.process_index),
            "world_size": self.world_size,
        }


def _base_model(cfg: Any) -> str:
    """The base checkpoint dir: built on the fly for `model.build_tiny`, else `model.name_or_path`."""
    m = cfg.model
    if m.get("build_tiny"):
        from l2l.train.tiny import build_tiny_qwen2

        return build_tiny_qwen2(str(m.name_or_path), tokenizer_source=m.get("tokenizer_source"))
    path = str(m.name_or_path)
    if not os.path.exists(path) and "/" not in path:
        raise InputError(
            f"model.name_or_path={path!r} is neither a local checkpoint nor a hub id; export an offline model "
            f"first: l2l models export-hf qwen2.5-coder-0.5b DIR, then model.name_or_path=DIR"
        )
    return path


def run(cfg: Any) -> dict[str, Any]:
    """Train according to `cfg` (see conf/train.yaml); returns a summary with the per-round records."""
    return BilevelRun(cfg).run()
