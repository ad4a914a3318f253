"""The whole training recipe as one resumable command: SFT cold start -> bi-level GRPO -> GGUF export.

    python train.py +experiment=recipe out_dir=runs/recipe_0.5b

runs, on the one composed config, in order:

    sft     `l2l.train.sft_coldstart.run` (mode sft): both adapters, saved as round 0
            (`checkpoints/round-0000`); a killed run continues from the Trainer's last
            `trainer/sft-<role>/checkpoint-N`
    grpo    `l2l.train.bilevel.run` from that round: rounds 1 .. loop.rounds-1 (the SFT round is
            round 0, so `loop.rounds=R+1` gives R GRPO rounds); a killed run continues after the
            last completed round
    export  the final round's adapters as GGUF LoRA files, `<out_dir>/gguf/{formulator,generator}.gguf`
            (`l2l.models.lora_gguf.peft_to_gguf`), and the `l2l models pack ...` command that
            turns the run into a shipped bundle (printed, not run: shipping is a decision)

Every stage reads whether it is complete from what out_dir holds (a completed round's `state.json`,
the export's `gguf/export.json` against the final round's adapter digests), so running the same
command again after a kill skips the finished stages with a log line and redoes nothing saved.
Stages always run with `resume=true`: the recipe continues what out_dir holds, and `recipe.json`
marks an out_dir as the recipe's, so a run some other command left there is refused, not continued.

At start it logs the plan: each stage, the steps left in it and an estimate from the measured
seconds in `recipe.seconds_per_*` (conf/experiment/recipe.yaml says where each figure comes from).
`recipe.stop_after=sft|grpo` ends the launch after that stage (the next launch goes on from there).

    >>> from l2l.train.recipe import plan, run
    >>> for stage in plan(cfg): print(stage.line())    # doctest: +SKIP
    >>> summary = run(cfg)                              # doctest: +SKIP
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import shlex
import time
from dataclasses import dataclass
from typing import Any

from l2l.errors import InputError
from l2l.train import checkpoint

log = logging.getLogger(__name__)

STAGES = ("sft", "grpo", "export")
ROLES = ("formulator", "generator")
MARKER = "recipe.json"
EXPORT_DIR = "gguf"
EXPORT_STATE = "export.json"


@dataclass
class Stage:
    """One stage of the plan: whether out_dir already holds it, what is left, and its estimate."""

    name: str
    done: bool
    work: str  # what is left to do (or what is saved, when done), in words
    seconds: float  # estimated seconds of what is left

    def line(self) -> str:
        status = "complete" if self.done else f"~{_duration(self.seconds)}"
        return f"{self.name:<6} {status:<10} {self.work}"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _rounds(first: int, last: int) -> str:
    return f"round {first}" if first == last else f"rounds {first}-{last}"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _out_dir(cfg: Any) -> str:
    # the same absolute path BilevelRun writes to
    return os.path.abspath(str(cfg.out_dir))


def _last_round(out_dir: str) -> int:
    """The newest completed round under out_dir, -1 when there is none."""
    ckpt = checkpoint.latest(out_dir)
    return int(checkpoint.load_state(ckpt)["round"]) if ckpt else -1


def _sft_steps(cfg: Any, role: str) -> int:
    from l2l.train.sft_coldstart import role_setting

    return int(role_setting(cfg.sft, role, "steps"))  # sft_phase's own rule


def _trainer_step(out_dir: str, role: str) -> int:
    """The step of the newest Trainer checkpoint of a role's SFT phase (0: none), which is where
    `sft_phase` resumes (same `checkpoint-N` naming as transformers' get_last_checkpoint)."""
    folder = os.path.join(out_dir, "trainer", f"sft-{role}")
    steps = [int(m[1]) for d in (os.listdir(folder) if os.path.isdir(folder) else ())
             if (m := re.fullmatch(r"checkpoint-(\d+)", d)) and os.path.isdir(os.path.join(folder, d))]
    return max(steps, default=0)


def _figure(block: Any, role: str) -> float:
    """A measured seconds figure per role; a role without its own figure (proposer) takes the generator's."""
    return float(block.get(role, block.get("generator")))


def _validation(cfg: Any) -> tuple[str, float]:
    n = int(cfg.loop.val_size)
    per = float(cfg.recipe.seconds_per_val_question)
    return f"validation {n} x {per:.0f} s", n * per


def _sft_plan(cfg: Any, out: str, last: int) -> Stage:
    if last >= 0:
        return Stage("sft", True, "round 0 saved in checkpoints/round-0000", 0.0)
    fig = cfg.recipe.seconds_per_sft_step
    sampled = os.path.exists(os.path.join(out, "sft_triples.jsonl"))  # written once the data is made
    parts, seconds = [], 0.0
    val, val_s = _validation(cfg)
    if cfg.loop.validate_before and not sampled:
        parts.append(f"{val} before")
        seconds += val_s
    if int(cfg.sft.samples_per_question) > 0 and not sampled:
        parts.append(f"rejection sampling of {int(cfg.sft.samples_per_question)} per question (not estimated)")
    for role in ROLES:
        steps, done = _sft_steps(cfg, role), _trainer_step(out, role)
        left = max(0, steps - done)
        resumes = f" (resumes after step {done})" if done else ""
        parts.append(f"{role} {left} of {_n(steps, 'step')} x {_figure(fig, role):.0f} s{resumes}")
        seconds += left * _figure(fig, role)
    if int(cfg.loop.validate_every) > 0:
        parts.append(f"{val} after")
        seconds += val_s
    return Stage("sft", False, ", ".join(parts), seconds)


def _grpo_plan(cfg: Any, out: str, last: int) -> Stage:
    from l2l.train.grpo_config import phase_settings

    rounds = int(cfg.loop.rounds)
    todo = list(range(max(last + 1, 1), rounds))
    if not todo:
        work = "no GRPO rounds (loop.rounds=1: the SFT round is round 0)" if rounds <= 1 else f"{_rounds(1, last)} saved"
        return Stage("grpo", True, work, 0.0)
    fig = cfg.recipe.seconds_per_grpo_step
    parts, per_round = [], 0.0
    for phase in cfg.loop.phases:
        steps = int(phase_settings(cfg, str(phase))["steps"])
        parts.append(f"{phase} {_n(steps, 'step')} x {_figure(fig, str(phase)):.0f} s")
        per_round += steps * _figure(fig, str(phase))
        if phase == "generator":
            k = int(cfg.loop.questions_per_round) * int(cfg.loop.formulations_per_question)
            parts.append(f"{_n(k, 'formulation')} x {float(cfg.recipe.seconds_per_formulation):.0f} s")
            per_round += k * float(cfg.recipe.seconds_per_formulation)
    seconds = per_round * len(todo)
    every = int(cfg.loop.validate_every)
    validated = [r for r in todo if every and (r + 1) % every == 0]  # bilevel's rule
    if validated:
        val, val_s = _validation(cfg)
        parts.append(f"{val} after " + ("each" if len(validated) == len(todo) else f"{len(validated)} of them"))
        seconds += val_s * len(validated)
    saved = f" ({_rounds(1, last)} saved)" if last >= 1 else ""
    return Stage("grpo", False, f"{_rounds(todo[0], todo[-1])}{saved}; per round: " + ", ".join(parts), seconds)


def _export_plan(cfg: Any, out: str, last: int) -> Stage:
    final = max(int(cfg.loop.rounds) - 1, 0)
    if last >= final and _export_current(out, last):
        return Stage("export", True, f"{_rel(cfg, os.path.join(out, EXPORT_DIR))}/*.gguf hold round {last}", 0.0)
    # converting a rank-8 0.5B adapter is a fraction of a second (README: ~25 ms from memory)
    return Stage("export", False, f"2 GGUF LoRA files ({cfg.recipe.export_dtype}) from round {final}", 1.0)


def plan(cfg: Any) -> list[Stage]:
    """The stages in order, each with what out_dir already holds and an estimate of what is left."""
    if int(cfg.loop.rounds) < 1:
        raise InputError(f"loop.rounds must be >= 1 for the recipe (round 0 is the SFT cold start), got {cfg.loop.rounds}")
    out = _out_dir(cfg)
    last = _last_round(out)
    return [_sft_plan(cfg, out, last), _grpo_plan(cfg, out, last), _export_plan(cfg, out, last)]


# ---------------------------------------------------------------------------------- export


def _export_current(out: str, round_index: int) -> bool:
    """True when gguf/ holds both files converted from `round_index`'s adapters as they are now."""
    from l2l.models.lora_gguf import adapter_digest, sha256_file

    path = os.path.join(out, EXPORT_DIR, EXPORT_STATE)
    if not os.path.exists(path):
        return False
    with open(path) as f:
        state = json.load(f)
    src = checkpoint.round_dir(out, round_index)
    try:
        return state.get("round") == round_index and all(
            state["files"][role]["peft_sha256"] == adapter_digest(os.path.join(src, role))
            and state["files"][role]["sha256"] == sha256_file(os.path.join(out, EXPORT_DIR, f"{role}.gguf"))
            for role in ROLES)
    except (KeyError, OSError, ValueError):  # a partial or hand-edited export: redo it
        return False


def export(cfg: Any, round_index: int) -> dict[str, str]:
    """Write `<out_dir>/gguf/<role>.gguf` from the round's PEFT adapters, then `export.json` (last,
    so its presence means both files are complete). Same converter, dtype and adapter names as
    `l2l models pack`, so the bundle's files are these files."""
    from l2l.models.lora_gguf import adapter_digest, peft_to_gguf, sha256_file

    out = _out_dir(cfg)
    src = checkpoint.round_dir(out, round_index)
    dest = os.path.join(out, EXPORT_DIR)
    files, paths = {}, {}
    for role in ROLES:
        peft_dir = os.path.join(src, role)
        path = peft_to_gguf(peft_dir, os.path.join(dest, f"{role}.gguf"), dtype=str(cfg.recipe.export_dtype),
                            name=f"{cfg.recipe.bundle_name}-{role}")
        files[role] = {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
                       "peft_dir": peft_dir, "peft_sha256": adapter_digest(peft_dir)}
        paths[role] = str(path)
    tmp = os.path.join(dest, EXPORT_STATE + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"round": round_index, "dtype": str(cfg.recipe.export_dtype), "files": files}, f, indent=2)
    os.replace(tmp, os.path.join(dest, EXPORT_STATE))
    return paths


def _rel(cfg: Any, path: str) -> str:
    """`path` as the user gave out_dir: relative to the working directory when out_dir was relative."""
    given = str(cfg.out_dir)
    return path if os.path.isabs(given) else os.path.relpath(path)


def _registry_base(cfg: Any) -> str | None:
    """The registered GGUF model the trained base was exported from (what `pack --base` takes), or None."""
    from l2l.models.registry import MODELS

    if cfg.model.get("build_tiny"):
        return None
    gguf = cfg.grpo.get("rollout_gguf")
    if gguf and str(gguf) in MODELS:
        return str(gguf)
    name = os.path.basename(os.path.normpath(str(cfg.model.name_or_path)))
    return name if name in MODELS else None


def _command(cfg: Any) -> str:
    """The command line of this launch (hydra's overrides when run through train.py)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:  # composed without hydra.main (tests, notebooks)
        overrides = ["+experiment=recipe", f"out_dir={cfg.out_dir}"]
    return shlex.join(["python", "train.py", *overrides])


def _data_description(cfg: Any) -> str:
    d, loop = cfg.data, cfg.loop
    what = f"{d.get('name', 'data')} (conf/data, seed {d.get('seed', cfg.seed)})"
    sft = "gold pairs" + (f" + rejection samples ({cfg.sft.samples_per_question} per question)"
                          if int(cfg.sft.samples_per_question) > 0 else "")
    return f"{what}, loop.limit={loop.limit}, {loop.val_size} held out for validation; SFT on {sft}"


def pack_command(cfg: Any, round_index: int) -> str:
    """The `l2l models pack` command that ships this run's final adapters as a bundle."""
    src = checkpoint.round_dir(_out_dir(cfg), round_index)
    base = _registry_base(cfg) or "<registered base>"
    steps = "+".join(str(_sft_steps(cfg, r)) for r in ROLES)
    description = f"recipe: SFT {steps} steps, {_n(max(int(cfg.loop.rounds) - 1, 0), 'bi-level GRPO round')}"
    return shlex.join(["l2l", "models", "pack", str(cfg.recipe.bundle_name), "--base", base,
                       "--formulator", _rel(cfg, os.path.join(src, "formulator")),
                       "--generator", _rel(cfg, os.path.join(src, "generator")),
                       "--dtype", str(cfg.recipe.export_dtype),
                       "--command", _command(cfg), "--data", _data_description(cfg), "--description", description])


# ---------------------------------------------------------------------------------- running


def _claim(cfg: Any, out: str) -> None:
    """Refuse an out_dir that holds a run the recipe did not start (resuming it would mix two runs),
    then record this launch in `recipe.json`."""
    marker = os.path.join(out, MARKER)
    if not os.path.exists(marker) and _has_state(out):
        raise InputError(f"{out} holds a training run that `+experiment=recipe` did not start; choose another out_dir")
    state = {"launches": []}
    if os.path.exists(marker):
        with open(marker) as f:
            state = json.load(f)
    state["launches"].append({"command": _command(cfg), "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    os.makedirs(out, exist_ok=True)
    with open(marker + ".tmp", "w") as f:
        json.dump(state, f, indent=2)
    os.replace(marker + ".tmp", marker)


def _has_state(out: str) -> bool:
    """Whether out_dir holds anything a training run wrote (rounds, metrics, Trainer checkpoints, SFT data)."""
    return any(os.path.exists(os.path.join(out, p)) for p in ("checkpoints", "metrics.jsonl", "trainer", "sft_triples.jsonl"))


def _stage_cfg(cfg: Any, mode: str) -> Any:
    """The composed config for one stage: its `mode`, and `resume=true` whenever out_dir holds anything
    (false on a fresh out_dir only to spare BilevelRun's "resume=true but no completed round" warning)."""
    import copy

    from omegaconf import open_dict

    c = copy.deepcopy(cfg)
    with open_dict(c):
        c.mode = mode
        c.resume = _has_state(_out_dir(cfg))
    return c


def _free() -> None:
    # A stage's run (fp32 policies, optimizers, the llama.cpp sampler) is unreachable once its run()
    # returns, but partly through reference cycles: collect it before the next stage loads its own.
    gc.collect()


def run(cfg: Any) -> dict[str, Any]:
    """Run the stages out_dir does not hold yet; returns a summary (what each stage did, the metrics
    records written by this launch, the exported files and the pack command)."""
    if cfg.get("recipe") is None:
        raise InputError("mode=recipe needs the recipe block of conf/experiment/recipe.yaml: "
                         "python train.py +experiment=recipe ...")
    stop_after = cfg.recipe.get("stop_after")
    if stop_after is not None and str(stop_after) not in STAGES:
        raise InputError(f"recipe.stop_after must be one of {', '.join(STAGES)} or null, got {stop_after!r}")
    out = _out_dir(cfg)
    stages = plan(cfg)
    _claim(cfg, out)
    left = sum(s.seconds for s in stages if not s.done)
    budget = float(cfg.recipe.budget_hours) * 3600
    log.info("recipe plan for %s (estimates from recipe.seconds_per_*, conf/experiment/recipe.yaml):\n%s\n  left: ~%s "
             "(budget %s)", out, "\n".join(f"  {i}. {s.line()}" for i, s in enumerate(stages, 1)), _duration(left),
             _duration(budget))
    if left > budget:
        log.warning("recipe: the estimate (~%s) is over recipe.budget_hours=%s", _duration(left), cfg.recipe.budget_hours)

    summary: dict[str, Any] = {"out_dir": out, "stages": {}, "records": [], "exports": {}, "pack_command": None,
                               "plan": [s.line() for s in stages]}
    for stage in stages:
        if stage.name in ("grpo", "export") and _last_round(out) < 0:
            # the SFT stage returned without saving round 0: nothing to continue from
            raise InputError(f"{stage.name}: no completed SFT round under {out}")
        if stage.done:
            log.info("recipe stage %s: complete, skipped (%s)", stage.name, stage.work)
            summary["stages"][stage.name] = "skipped"
        else:
            log.info("recipe stage %s: running (%s)", stage.name, stage.work)
            t = time.perf_counter()
            if stage.name == "sft":
                from l2l.train import sft_coldstart

                summary["records"] += sft_coldstart.run(_stage_cfg(cfg, "sft"))["records"]
                _free()
            elif stage.name == "grpo":
                from l2l.train import bilevel

                summary["records"] += bilevel.run(_stage_cfg(cfg, "grpo"))["records"]
                _free()
            else:
                summary["exports"] = export(cfg, _last_round(out))
            summary["stages"][stage.name] = "ran"
            log.info("recipe stage %s: done in %.0f s", stage.name, time.perf_counter() - t)
        if stage.name == "export":
            final = _last_round(out)
            summary["exports"] = summary["exports"] or {r: os.path.join(out, EXPORT_DIR, f"{r}.gguf") for r in ROLES}
            summary["pack_command"] = pack_command(cfg, final)
            note = "" if _registry_base(cfg) else (" (model.name_or_path is not an export of a registered GGUF model: "
                                                   "put the base's registry name in --base; a tiny model cannot be packed)")
            log.info("recipe: GGUF LoRA adapters of round %d in %s; to ship them as a bundle%s:", final,
                     _rel(cfg, os.path.join(out, EXPORT_DIR)), note)
            print(summary["pack_command"], flush=True)
        if stop_after is not None and stage.name == str(stop_after):
            if stage.name != STAGES[-1]:
                log.info("recipe: stopping after %s (recipe.stop_after); the same command without it continues", stage.name)
            break
    return summary
