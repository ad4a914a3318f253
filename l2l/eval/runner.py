"""Run one method on one dataset into an output folder, resumably.

    >>> from l2l.eval.runner import EvalRun, run_eval
    >>> summary = run_eval(EvalRun("bbh_web_of_lies", "cot", "runs/wol-cot", limit=10))  # doctest: +SKIP

Files in `out`:
- `run.json`: what this folder holds (dataset, split, method, model, settings). A rerun with the
  same identity resumes; a different one is refused unless `overwrite=True`.
- `predictions.jsonl`: one line per finished example, written and flushed as it finishes, so a
  killed run loses only the examples in flight. Lines with status "error" (an exception, e.g.
  a backend that died) are not "finished": a rerun retries them.
- `summary.json` / `summary.md`: accuracy etc. over the examples selected by this run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from l2l.backends.base import ChatBackend
from l2l.config import DEFAULT_MODEL, SolveConfig
from l2l.data import Example, Match, load_dataset, match_answer
from l2l.errors import InputError, L2LError
from l2l.eval.methods import METHODS, EvalContext, Executor, Prediction

PREDICTIONS = "predictions.jsonl"
RUN_FILE = "run.json"
# Stop after this many examples in a row raise: the model or executor is down, not the data.
MAX_CONSECUTIVE_ERRORS = 5


@dataclass
class EvalRun:
    """One `l2l eval` invocation: which data, which method, which model, where to write."""

    dataset: str
    method: str
    out: str | Path
    split: str | None = None
    limit: int | None = None
    seed: int = 0
    model: str = DEFAULT_MODEL
    samples: int | None = None  # l2l_vote candidates (default 5)
    fallback: str | None = None  # "cot": answer failed programs by chain of thought, reported separately
    batch_size: int = 1
    cot_max_tokens: int = 768  # token budget of a cot answer (direct answers get 48)
    overwrite: bool = False
    config: SolveConfig = field(default_factory=SolveConfig)
    command: str | None = None

    def identity(self) -> dict[str, Any]:
        """What must match for two runs to share one output folder."""
        cfg = self.config.to_dict()
        cfg.pop("model", None)
        keys = getattr(METHODS.get(self.method), "config_keys", None)
        if keys is not None:
            cfg = {k: cfg[k] for k in keys}
        return {
            "dataset": self.dataset,
            "split": self.split,
            "method": self.method,
            "model": self.model,
            "samples": self.samples,
            "fallback": self.fallback,
            "cot_max_tokens": self.cot_max_tokens,
            "config": cfg,
        }


def same_identity(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a folder's recorded identity is this run's. A SolveConfig field added after the folder
    was started counts as the same experiment when the run leaves it at its default (the behaviour
    the folder's items were made with), so a new option does not orphan every half-finished cell."""
    if old == new:
        return True
    from l2l.config import SolveConfig

    defaults = SolveConfig().to_dict()
    old_cfg, new_cfg = dict(old.get("config") or {}), dict(new.get("config") or {})
    # Settings this method does not read (a folder written before identities kept only the method's
    # own, `Method.config_keys`) say nothing about its items.
    old_cfg = {k: v for k, v in old_cfg.items() if k in new_cfg}
    for key in set(new_cfg) - set(old_cfg):
        if key in defaults and new_cfg[key] == defaults[key]:
            new_cfg.pop(key)
    return {**old, "config": old_cfg} == {**new, "config": new_cfg}


def validate(run: EvalRun) -> None:
    """Refuse bad settings before loading anything."""
    if run.method not in METHODS:
        raise InputError(f"unknown method {run.method!r}; choose one of: {', '.join(METHODS)}")
    if run.fallback not in (None, "cot"):
        raise InputError(f"unknown fallback {run.fallback!r}; the only fallback is 'cot'")
    if run.fallback and not METHODS[run.method].uses_programs:
        raise InputError(f"--fallback applies to program methods (program, l2l, l2l_vote), not {run.method}")
    if run.samples is not None and run.method != "l2l_vote":
        raise InputError("--samples applies to l2l_vote only (l2l and program are single-candidate)")
    if run.samples is not None and run.samples < 1:
        raise InputError(f"--samples must be >= 1, got {run.samples}")
    if run.limit is not None and run.limit < 1:
        raise InputError(f"--limit must be >= 1, got {run.limit}")
    if run.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {run.batch_size}")


def read_predictions(path: Path, repair: bool = True) -> dict[str, dict[str, Any]]:
    """Finished records by id. A torn last line (the process was killed mid-write) is dropped
    and, with `repair`, removed from the file so the next append starts on a clean line."""
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    good_lines: list[str] = []
    torn = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                records[str(rec["id"])] = rec
                good_lines.append(line if line.endswith("\n") else line + "\n")
            except (json.JSONDecodeError, KeyError, TypeError):
                torn = True
    if torn and repair:
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(good_lines), encoding="utf-8")
        os.replace(tmp, path)
    return records


def _prepare_out(run: EvalRun) -> Path:
    out = Path(run.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    identity = run.identity()
    run_file = out / RUN_FILE
    if run.overwrite:
        for name in (PREDICTIONS, "summary.json", "summary.md"):
            (out / name).unlink(missing_ok=True)
    elif run_file.exists():
        try:
            existing = json.loads(run_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise InputError(f"{run_file} is not valid JSON; pass --overwrite to start this folder afresh") from None
        old = existing.get("identity", {})
        if not same_identity(old, identity):
            diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise InputError(
                f"{out} holds a different run (differs in: {', '.join(diff)}; it has "
                + ", ".join(f"{k}={old.get(k)!r}" for k in diff if k != "config")
                + "); use another --out, or --overwrite to replace it"
            )
    elif (out / PREDICTIONS).exists():
        raise InputError(f"{out} has predictions but no {RUN_FILE}; use another --out or --overwrite")
    run_file.write_text(json.dumps({"identity": identity, "command": run.command}, indent=1), encoding="utf-8")
    return out


def score(pred: Prediction, example: Example) -> Match:
    """Whether a prediction is right and which answer-matching rule read it (l2l.data.answers.RULES).

    Scores the method's un-normalised answer text where it kept one, through the same function
    the training rewards use, so the rule is the one that mapped the model's own words; an answer
    the method could not normalise counts as "unmapped" (wrong)."""
    if pred.prediction is None:
        return Match(False, "unmapped" if pred.answer_text else "none")
    text = pred.answer_text if pred.answer_text is not None else pred.prediction
    return match_answer(text, example.answer, example.options)


def _record(example: Example, pred: Prediction, method: str) -> dict[str, Any]:
    match = score(pred, example)
    return {
        "id": example.id,
        "dataset": example.dataset,
        "method": method,
        "question": example.question,
        "options": example.options,
        "gold": example.answer,
        "prediction": pred.prediction,
        "correct": match.correct,
        "match_rule": match.rule,
        "answer_text": pred.answer_text,
        "status": pred.status,
        "executed": pred.executed,
        "raw": pred.raw,
        "formulation": pred.formulation,
        "program": pred.program,
        "solver_output": pred.solver_output,
        "timings": {k: round(float(v), 4) for k, v in pred.timings.items()},
        "tokens": pred.tokens,
        "usage": pred.usage,
        "error": pred.error,
        "extra": pred.extra,
    }


def _load_backends(run: EvalRun) -> tuple[ChatBackend, ChatBackend | None]:
    """The model(s) of a run, through the process's model cache: one loaded copy per weights
    file, shared by the formulator and the generator and by every evaluation in this process
    (a Llama context serialises its decodes; see l2l.backends.llamacpp)."""
    from l2l.machine import warn_if_busy
    from l2l.pipeline.solve import get_model

    cache = run.config.prompt_cache
    warn_if_busy(run.config.formulator_model or run.model)
    backend = get_model(run.config.formulator_model or run.model, prompt_cache=cache)
    generator = None
    if run.config.generator_model:
        generator = get_model(run.config.generator_model, prompt_cache=cache)
        if generator is backend:
            generator = None
    return backend, generator


def run_eval(
    run: EvalRun,
    backend: ChatBackend | None = None,
    generator: ChatBackend | None = None,
    *,
    executor: Executor | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate `run.method` on `run.dataset`, resuming from `run.out`; returns the summary.

    `backend`/`generator` are loaded from `run.model` when not given (only if work remains).
    """
    validate(run)
    examples = load_dataset(run.dataset, run.split, limit=run.limit, seed=run.seed)
    if not examples:
        raise InputError(f"{run.dataset} split {run.split!r} has no examples")
    out = _prepare_out(run)
    pred_path = out / PREDICTIONS
    done = {k: r for k, r in read_predictions(pred_path).items() if r.get("status") != "error"}
    todo = [e for e in examples if e.id not in done]
    method = METHODS[run.method]

    if todo:
        if backend is None:
            backend, generator = _load_backends(run)
        ctx = EvalContext(backend=backend, config=run.config, generator=generator,
                          samples=run.samples or 5, executor=executor, cot_max_tokens=run.cot_max_tokens)
        _run_todo(run, method, ctx, todo, examples, done, pred_path, progress)

    selected = [done[e.id] for e in examples if e.id in done]
    summary = summarise(selected, run, dataset_name=examples[0].dataset)
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    (out / "summary.md").write_text(summary_markdown([summary]), encoding="utf-8")
    return summary


def _run_todo(run, method, ctx, todo, examples, done, pred_path, progress) -> None:
    from tqdm import tqdm

    correct = sum(1 for e in examples if e.id in done and done[e.id].get("correct"))
    finished = sum(1 for e in examples if e.id in done)
    bar = tqdm(total=len(examples), initial=finished, desc=f"{run.method} {run.dataset}", file=sys.stderr,
               disable=not progress, dynamic_ncols=True, unit="ex")
    consecutive_errors = 0
    try:
        with open(pred_path, "a", encoding="utf-8") as f:

            def write(batch: list[Example], preds: list[Prediction]) -> None:
                nonlocal consecutive_errors, finished, correct
                for e, p in zip(batch, preds):
                    rec = _record(e, p, run.method)
                    if "fallback" in p.extra:
                        rec["fallback"] = p.extra.pop("fallback")
                        rec["extra"] = p.extra
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    f.flush()
                    if p.status == "error":
                        consecutive_errors += 1
                        continue
                    consecutive_errors = 0
                    done[e.id] = rec
                    finished += 1
                    correct += bool(rec["correct"])
                bar.update(len(batch))
                bar.set_postfix(acc=f"{correct / max(1, finished):.3f}")
                if consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                    last = next(p.error for p in reversed(preds) if p.status == "error")
                    raise L2LError(f"stopped: {consecutive_errors} examples in a row failed; last error: {last} "
                                   "(finished examples are kept; rerun to resume)")

            if run.batch_size > 1 and getattr(method, "concurrent", False) and len(todo) > 1:
                _run_concurrent(run, method, ctx, todo, write)
                return
            for start in range(0, len(todo), run.batch_size):
                batch = todo[start:start + run.batch_size]
                preds = _predict(method, batch, ctx)
                if run.fallback == "cot":
                    _apply_fallback(batch, preds, ctx)
                write(batch, preds)
    finally:
        bar.close()


def _run_concurrent(run, method, ctx: EvalContext, todo: list[Example], write) -> None:
    """`run.batch_size` examples at once, each in its own thread, their model calls decoded together
    (`l2l.backends.gather`); a finished example is written at once and the next one starts in its
    place, so the batch stays full. On Ctrl-C/SIGTERM the waiting calls are cancelled; the model
    call under way finishes first (it cannot be cut), then the run stops with the finished
    examples written."""
    import threading
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from l2l.backends.gather import Gatherer

    workers = min(run.batch_size, len(todo))
    gatherer = Gatherer(workers)
    views = {id(b): gatherer.view(b) for b in (ctx.backend, ctx.generator) if b is not None}
    gctx = replace(ctx, backend=views[id(ctx.backend)], generator=views[id(ctx.generator)] if ctx.generator is not None else None)
    left = len(todo)
    lock = threading.Lock()

    def one(e: Example) -> Prediction:
        nonlocal left
        try:
            preds = _predict(method, [e], gctx)
            if run.fallback == "cot":
                _apply_fallback([e], preds, gctx)
            return preds[0]
        finally:
            with lock:
                left -= 1
                if left < workers:  # no example waits to take this thread's place
                    gatherer.leave()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="l2l-eval")
    futures = {pool.submit(one, e): e for e in todo}
    order = {id(e): i for i, e in enumerate(todo)}  # examples finished together are written in dataset order
    try:
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda x: order[id(futures[x])]):
                write([futures[fut]], [fut.result()])
    except BaseException:
        for fut in futures:
            fut.cancel()
        gatherer.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _predict(method, batch: list[Example], ctx: EvalContext) -> list[Prediction]:
    """Run a batch; an exception becomes an "error" prediction per example (retried on resume)."""
    try:
        return method.run_batch(batch, ctx)
    except InputError as e:
        # Bad input (e.g. a question over the length limit) is the example's fault: a finished
        # failure, not retried.
        if len(batch) > 1:
            return [p for e_ in batch for p in _predict(method, [e_], ctx)]
        return [Prediction(None, status="invalid_input", error=str(e))]
    except (KeyboardInterrupt, L2LError):
        raise
    except Exception as e:  # noqa: BLE001 -- one bad example must not end a long run
        if len(batch) > 1:
            return [p for e_ in batch for p in _predict(method, [e_], ctx)]
        return [Prediction(None, status="error", error=f"{type(e).__name__}: {e}")]


def _apply_fallback(batch: list[Example], preds: list[Prediction], ctx: EvalContext) -> None:
    """Answer the examples whose program gave no answer by chain of thought, kept apart."""
    failed = [(e, p) for e, p in zip(batch, preds) if p.prediction is None and p.status != "error"]
    if not failed:
        return
    cot = METHODS["cot"].run_batch([e for e, _ in failed], ctx)
    for (e, p), c in zip(failed, cot):
        match = score(c, e)
        p.extra["fallback"] = {
            "method": "cot",
            "prediction": c.prediction,
            "correct": match.correct,
            "match_rule": match.rule,
            "raw": c.raw,
            "timings": c.timings,
            "tokens": c.tokens,
            "usage": c.usage,
        }


def summarise(records: list[dict[str, Any]], run: EvalRun | None = None, dataset_name: str | None = None) -> dict[str, Any]:
    """Accuracy, exec rate, latency and tokens over prediction records.

    `dataset` is the examples' dataset name (a file's stem for paths); `source` is what was asked for."""
    n = len(records)
    correct = sum(bool(r.get("correct")) for r in records)
    uses_programs = any(r.get("executed") is not None for r in records)
    latencies = [float(r.get("timings", {}).get("total", 0.0)) for r in records]
    prompt_toks = sum(int(r.get("tokens", {}).get("prompt", 0)) for r in records)
    completion_toks = sum(int(r.get("tokens", {}).get("completion", 0)) for r in records)
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r.get("status", "?")] = statuses.get(r.get("status", "?"), 0) + 1
    summary: dict[str, Any] = {
        "dataset": dataset_name or (records[0].get("dataset") if records else None),
        "source": run.dataset if run else None,
        "split": run.split if run else None,
        "method": run.method if run else (records[0].get("method") if records else None),
        "model": run.model if run else None,
        "n": n,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "answered_rate": round(sum(r.get("prediction") is not None for r in records) / n, 4) if n else 0.0,
        "exec_rate": round(sum(bool(r.get("executed")) for r in records) / n, 4) if n and uses_programs else None,
        "mean_latency_s": round(statistics.fmean(latencies), 3) if latencies else 0.0,
        "median_latency_s": round(statistics.median(latencies), 3) if latencies else 0.0,
        "tokens": {
            "prompt": prompt_toks,
            "completion": completion_toks,
            "mean_completion_per_example": round(completion_toks / n, 1) if n else 0.0,
        },
        "usage": usage_summary(records),
        "statuses": statuses,
        "match_rules": match_rule_counts(records),
    }
    stopped = sum(1 for r in records if (r.get("extra") or {}).get("stopped_by"))
    if stopped or (run is not None and run.config.time_budget_s is not None):
        summary["stopped_by_time_budget"] = stopped
    fallback = [r for r in records if r.get("fallback")]
    if run is not None and run.fallback or fallback:
        with_fb = correct + sum(bool(r["fallback"].get("correct")) for r in fallback)
        summary["fallback"] = {
            "method": "cot",
            "used": len(fallback),
            "correct_by_fallback": with_fb - correct,
            "accuracy_with_fallback": round(with_fb / n, 4) if n else 0.0,
        }
    if run is not None:
        summary.update(
            limit=run.limit,
            seed=run.seed,
            samples=(run.samples or 5) if run.method == "l2l_vote" else None,
            config=run.config.to_dict(),
            command=run.command,
        )
    summary["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return summary


def match_rule_counts(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per answer-matching rule (l2l.data.answers.RULES): how many answers it read and how many of
    those were right, so a reader can see how much of the accuracy a lenient rule carries.
    Records written before rules were recorded count as "unrecorded".

    >>> match_rule_counts([{"match_rule": "letter", "correct": True}, {"match_rule": "phrase", "correct": False}])
    {'letter': {'answers': 1, 'correct': 1}, 'phrase': {'answers': 1, 'correct': 0}}
    """
    counts: dict[str, dict[str, int]] = {}
    for r in records:
        c = counts.setdefault(str(r.get("match_rule") or "unrecorded"), {"answers": 0, "correct": 0})
        c["answers"] += 1
        c["correct"] += bool(r.get("correct"))
    return counts


def usage_summary(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stage over prediction records: totals of calls, prompt and generated tokens and model
    seconds, and their means per example (over all records, so stages that ran for few examples
    show small means). Records written before per-stage usage existed count under "all"."""
    from l2l.types import add_usage

    total: dict[str, dict[str, Any]] = {}
    for r in records:
        usage = r.get("usage")
        if not usage:
            tok = r.get("tokens") or {}
            llm = (r.get("timings") or {}).get("llm", 0.0)
            usage = {"all": {"calls": 0, "prompt_tokens": int(tok.get("prompt", 0)),
                             "completion_tokens": int(tok.get("completion", 0)), "seconds": float(llm)}} if tok else {}
        add_usage(total, usage)
    n = max(1, len(records))
    for u in total.values():
        u["mean_prompt_tokens"] = round(u["prompt_tokens"] / n, 1)
        u["mean_completion_tokens"] = round(u["completion_tokens"] / n, 1)
        u["mean_seconds"] = round(u["seconds"] / n, 3)
        u["tokens_per_s"] = round(u["completion_tokens"] / u["seconds"], 2) if u["seconds"] else None
    return total


def summary_markdown(summaries: list[dict[str, Any]]) -> str:
    """A markdown table with one row per summary."""
    head = "| dataset | split | method | model | n | accuracy | exec rate | answered | mean latency (s) | with cot fallback |\n"
    head += "|---|---|---|---|---:|---:|---:|---:|---:|---:|\n"
    rows = []
    for s in summaries:
        er = "" if s.get("exec_rate") is None else f"{100 * s['exec_rate']:.1f}%"
        fb = s.get("fallback")
        fbs = f"{100 * fb['accuracy_with_fallback']:.1f}%" if fb else ""
        rows.append(
            f"| {s.get('dataset')} | {s.get('split') or ''} | {s.get('method')} | {s.get('model') or ''} | {s['n']} | "
            f"{100 * s['accuracy']:.1f}% | {er} | {100 * s.get('answered_rate', 0):.1f}% | {s.get('mean_latency_s', 0):.2f} | {fbs} |"
        )
    return head + "\n".join(rows) + "\n"
