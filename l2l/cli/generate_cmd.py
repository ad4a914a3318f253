"""`l2l generate`: write solver-verified synthetic puzzles as JSONL.

    l2l generate --list
    l2l generate --family ordering -n 100 --seed 0 --out ordering.jsonl --difficulty objects=5
"""

from __future__ import annotations

import argparse
import os
import sys

from l2l.errors import InputError

HELP = "generate synthetic puzzles with solver-verified unique answers (JSONL)"
DESCRIPTION = (
    "Generate puzzles of one family. Every record carries the question, options, verified answer, a gold "
    "formulation and a gold z3 program. Same --seed, same output. Use --list to see the families and "
    "--describe FAMILY for its difficulty knobs."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", action="store_true", help="print the family names, one per line, and exit")
    parser.add_argument("--describe", metavar="FAMILY", help="print a family's description and difficulty knobs, and exit")
    parser.add_argument("--family", "-f", help="puzzle family (see --list)")
    parser.add_argument("-n", type=int, default=10, help="number of records (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", "-o", help="output JSONL file ('-' for stdout)")
    parser.add_argument("--difficulty", "-d", action="append", default=[], metavar="KEY=VALUE",
                        help="fix a difficulty knob (repeatable); unset knobs are sampled per record")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _parse_knobs(items: list[str]) -> dict[str, str]:
    knobs: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise InputError(f"--difficulty expects KEY=VALUE, got {part!r}")
            knobs[key.strip()] = value.strip()
    return knobs


def run(args: argparse.Namespace) -> int:
    from l2l.synth import FAMILIES, get_family, iter_records
    from l2l.synth.base import describe_knob

    if args.list:
        for name in FAMILIES:
            print(name)
        return 0
    if args.describe:
        fam = get_family(args.describe)
        print(f"{fam.name}: {fam.description}")
        for k, spec in fam.difficulty_knobs.items():
            print(f"  {k}={describe_knob(spec)}")
        return 0
    if not args.family:
        raise InputError(f"--family is required (one of: {', '.join(FAMILIES)}), or use --list")
    get_family(args.family)
    if args.n < 1:
        raise InputError(f"-n must be at least 1, got {args.n}")
    if not args.out:
        raise InputError("--out FILE.jsonl is required ('-' writes to stdout)")
    knobs = _parse_knobs(args.difficulty)

    records = iter_records(args.family, args.n, args.seed, **knobs)
    first = next(records)  # validates the knobs before any file is created
    if args.out == "-":
        out, close = sys.stdout, False
    else:
        parent = os.path.dirname(os.path.abspath(args.out))
        if not os.path.isdir(parent):
            raise InputError(f"output directory does not exist: {parent}")
        try:
            out, close = open(args.out, "w", encoding="utf-8"), True
        except OSError as e:
            raise InputError(f"cannot write {args.out}: {e.strerror}") from None
    try:
        from tqdm import tqdm

        bar = tqdm(total=args.n, desc=f"generating {args.family}", unit="puzzle", file=sys.stderr,
                   disable=args.no_progress or args.n < 20)
        out.write(first.to_json() + "\n")
        bar.update(1)
        for rec in records:
            out.write(rec.to_json() + "\n")
            bar.update(1)
        bar.close()
    finally:
        if close:
            out.close()
    if args.out != "-":
        print(f"wrote {args.n} {args.family} records to {args.out}", file=sys.stderr)
    return 0
