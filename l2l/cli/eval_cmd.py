"""`l2l eval`: accuracy of a reasoning method on a benchmark, resumable; and `--compare` of runs.

    l2l eval --dataset logiclm_folio --split "dev[20:]" --method l2l --limit 100 --out runs/folio-l2l
    l2l eval --compare runs/folio-cot runs/folio-l2l --plot runs/compare.png
"""

from __future__ import annotations

import argparse
import sys

HELP = "evaluate a method (direct, cot, program, l2l, l2l_vote) on a dataset, or compare runs"
DESCRIPTION = """Evaluate a reasoning method on a dataset with one model, writing OUT/predictions.jsonl
(one line per example, flushed as it finishes), OUT/summary.json and OUT/summary.md.
Rerunning with the same --out resumes: finished examples are never redone.
With --compare DIR..., print one table across earlier runs and write a bar chart (--plot).
Datasets: a registered name (conf/data/*.yaml), a Logic-LM/BBH/JSONL file, or hf:<hub id>."""

METHOD_NAMES = ("direct", "cot", "program", "l2l", "l2l_vote")  # l2l.eval.methods.METHODS, kept import-free here


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", "-d", help="registry name, file path, or hf:<hub id>")
    p.add_argument("--method", choices=METHOD_NAMES, help="reasoning method")
    p.add_argument("--split", help='split name, optionally sliced: "dev", "dev[20:]" (default: the dataset\'s own)')
    p.add_argument("--limit", type=int, help="evaluate a seeded random subset of N examples (kept in source order)")
    p.add_argument("--seed", type=int, default=0, help="subset seed (default 0); also the sampling seed")
    p.add_argument("--model", "-m", help="model: registry name, .gguf file, HF directory or hub id, openai:<name>")
    p.add_argument("--samples", "-k", type=int, help="l2l_vote: candidates to sample and vote over (default 5)")
    p.add_argument("--fallback", choices=["cot"], help="answer failed programs by chain of thought; reported separately")
    p.add_argument("--batch-size", type=int, default=1, help="examples at once: generated together (chat_batch), their programs run in parallel; l2l/l2l_vote run that many questions concurrently, their model calls decoded together")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a pipeline setting (SolveConfig), e.g. --set repair_rounds=0")
    p.add_argument("--out", "-o", help="output folder (resumed if it exists)")
    p.add_argument("--overwrite", action="store_true", help="discard the predictions already in --out")
    p.add_argument("--compare", nargs="+", metavar="DIR", help="compare finished runs instead of evaluating")
    p.add_argument("--plot", help="--compare: write the bar chart PNG here (default: eval_compare.png)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _config(args: argparse.Namespace):
    from dataclasses import fields

    from l2l.config import SolveConfig
    from l2l.errors import InputError

    overrides: dict = {}
    types = {f.name: f.type for f in fields(SolveConfig)}
    for item in args.set:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in types:
            raise InputError(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(types))}")
        t = str(types[key])
        try:
            if value.lower() in ("none", "null") and "None" in t:
                overrides[key] = None
            elif t.startswith("bool"):
                # A bare string would be truthy: "false" must become False, anything unclear an error.
                words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
                word = value.strip().lower()
                if word not in words:
                    raise ValueError(value)
                overrides[key] = words[word]
            elif t.startswith("int"):
                overrides[key] = int(value)
            elif t.startswith("float"):
                overrides[key] = float(value)
            else:
                overrides[key] = value
        except ValueError:
            raise InputError(f"--set {key}: {value!r} is not a valid {t}") from None
    if args.model:
        overrides["model"] = args.model
    overrides.setdefault("seed", args.seed)
    return SolveConfig().update(**overrides)


def command_of(args: argparse.Namespace) -> str:
    """The command that reproduces this run, rebuilt from the parsed options (stored in the summary)."""
    import shlex

    parts = ["l2l", "eval"]
    for opt in ("dataset", "split", "method", "limit", "seed", "model", "samples", "fallback", "batch_size", "out"):
        value = getattr(args, opt)
        if value is not None and not (opt == "batch_size" and value == 1):
            parts += [f"--{opt.replace('_', '-')}", str(value)]
    for item in args.set:
        parts += ["--set", item]
    return " ".join(shlex.quote(p) for p in parts)


def run_spec(args: argparse.Namespace):
    """The `EvalRun` an `l2l eval` command line describes (also used by bench/run_eval_table.py,
    so a table cell runs exactly the command it records)."""
    from l2l.eval.runner import EvalRun

    config = _config(args)
    return EvalRun(
        dataset=args.dataset,
        method=args.method,
        out=args.out,
        split=args.split,
        limit=args.limit,
        seed=args.seed,
        model=config.model,
        samples=args.samples,
        fallback=args.fallback,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        config=config,
        command=command_of(args),
    )


def run(args: argparse.Namespace) -> int:
    from l2l.errors import InputError

    if args.compare:
        if args.dataset or args.method or args.out:
            raise InputError("--compare takes only output folders (and --plot); drop --dataset/--method/--out")
        from l2l.eval.compare import compare

        plot = args.plot or "eval_compare.png"
        print(compare(args.compare, plot=plot), end="")
        print(f"bar chart: {plot}", file=sys.stderr)
        return 0
    missing = [f"--{k}" for k in ("dataset", "method", "out") if not getattr(args, k)]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (or use --compare DIR...)")
    if args.plot:
        raise InputError("--plot applies to --compare")

    from l2l.eval.runner import run_eval, summary_markdown

    summary = run_eval(run_spec(args), progress=not args.quiet)
    print(summary_markdown([summary]), end="")
    print(f"predictions: {args.out}/predictions.jsonl  summary: {args.out}/summary.json", file=sys.stderr)
    return 0
