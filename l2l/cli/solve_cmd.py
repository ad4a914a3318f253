"""`l2l solve`: one question in, a verified answer and a short account out."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "solve one problem: formulate it, write a solver program, run it"
DESCRIPTION = """Solve a natural-language reasoning problem. The question comes from the argument,
from --file, or from standard input ("-" or no argument with piped input).
Exit codes: 0 an answer was found, 1 no candidate produced an answer, 2 bad input."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", nargs="?", help='the problem text, or "-" to read standard input')
    p.add_argument("--file", "-f", help="read the problem from this UTF-8 text file")
    p.add_argument("--option", "-o", action="append", dest="options", metavar="TEXT", help='an answer option such as "A) True" (repeat for each option)')
    p.add_argument("--model", "-m", help="model for both stages: registry name (see `l2l models list`), .gguf file, HF directory or hub id, openai:<name>")
    p.add_argument("--formulator-model", help="model for the formulation stage only")
    p.add_argument("--generator-model", help="model for the program stage only")
    p.add_argument("--samples", "-n", type=int, help="candidates to sample and vote over (formulations, one program each)")
    p.add_argument("--reformulations", type=int, help="fresh formulations to try, one at a time, when no candidate answered")
    p.add_argument("--programs", type=int, help="programs per formulation")
    p.add_argument("--repair-rounds", type=int, help="times a failed program is sent back with its error")
    p.add_argument("--timeout", type=float, help="seconds each program may run")
    p.add_argument("--seed", type=int, help="sampling seed")
    p.add_argument("--unsafe-exec", action="store_true",
                   help="run generated programs even if this machine offers no sandbox layer beyond Python's audit hook "
                        "(they then run with all of your rights; `l2l doctor` shows what is available)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="stop sampling after this many seconds (model loading excluded) and answer with the candidates so far")
    p.add_argument("--show-program", action="store_true", help="print the formulation and the program behind the answer")
    p.add_argument("--json", action="store_true", help="print one JSON object (answer, status, formulation, program, ...) on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def read_question(args: argparse.Namespace, max_chars: int) -> str:
    """The question text from the argument, --file or stdin, with size and encoding checks."""
    from l2l.errors import InputError

    limit = max_chars * 4 + 4  # bytes: enough for max_chars of any UTF-8 text, and no more
    if args.file and args.question not in (None, "-"):
        raise InputError("give the question either as an argument or with --file, not both")
    if args.file:
        try:
            with open(args.file, "rb") as fh:
                data = fh.read(limit + 1)
        except OSError as e:
            raise InputError(f"cannot read {args.file}: {e.strerror}") from None
        source = args.file
    elif args.question == "-" or (args.question is None and not sys.stdin.isatty()):
        data = sys.stdin.buffer.read(limit + 1)
        source = "standard input"
    elif args.question is None:
        raise InputError('no question given: l2l solve "QUESTION", --file FILE, or pipe it on standard input')
    else:
        return args.question
    if len(data) > limit:
        raise InputError(f"{source} is larger than the {max_chars:,}-character question limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{source} is not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r})") from None


def _overrides(args: argparse.Namespace) -> dict:
    o = {}
    if args.model:
        o["model"] = args.model
    if args.formulator_model:
        o["formulator_model"] = args.formulator_model
    if args.generator_model:
        o["generator_model"] = args.generator_model
    if args.samples is not None:
        o["formulations"] = args.samples
    if args.reformulations is not None:
        o["reformulations"] = args.reformulations
    if args.programs is not None:
        o["programs_per_formulation"] = args.programs
    if args.repair_rounds is not None:
        o["repair_rounds"] = args.repair_rounds
    if args.timeout is not None:
        o["timeout_s"] = args.timeout
    if args.seed is not None:
        o["seed"] = args.seed
    if getattr(args, "unsafe_exec", False):
        o["unsafe_exec"] = True
    if getattr(args, "time_budget", None) is not None:
        o["time_budget_s"] = args.time_budget
    return o


def _print_account(result, show_program: bool, out) -> None:
    from rich.console import Console
    from rich.syntax import Syntax

    console = Console(file=out, highlight=False, soft_wrap=True)
    f, best = result.formulation, result.best
    console.print(f"[bold]Answer:[/bold] {result.answer if result.answer is not None else '(none)'}")
    answered = sum(result.votes.values())
    agree = result.votes.get(result.answer, 0) if result.answer is not None else 0
    console.print(f"Status: {result.status} ({agree}/{len(result.candidates)} candidates agree; {answered} answered)"
                  + (" -- stopped by the time budget" if result.stopped_by == "time_budget" else ""))
    if result.error:
        console.print(f"Error: {result.error}")
    if f:
        console.print(f"Model:  {f.model_type}: {f.summary}")
    if best and best.execution:
        e = best.execution
        console.print(f"Solver: {best.program.backend}, {e.status} in {e.elapsed_s:.2f}s" + (f", {best.repairs} repair(s)" if best.repairs else ""))
    t = result.timings
    parts = [f"{k.replace('_', ' ')} {t[k]:.1f}s" for k in ("model_load", "formulation", "generation", "execution", "total") if k in t]
    console.print("Time:   " + ", ".join(parts))
    if result.usage:
        console.print("Tokens: " + ", ".join(f"{stage.replace('_', ' ')} {u['prompt_tokens']}+{u['completion_tokens']}"
                                              for stage, u in result.usage.items()) + " (prompt+generated)")
    if show_program and f:
        console.print("\n[bold]Formulation[/bold]")
        console.print(Syntax(f.to_json(indent=2), "json", word_wrap=True))
    if show_program and best and best.program:
        console.print("\n[bold]Program[/bold]")
        console.print(Syntax(best.program.code, "python", word_wrap=True))
        if best.execution and best.execution.stdout.strip():
            console.print("\n[bold]Output[/bold]")
            console.print(best.execution.stdout.strip())


def run(args: argparse.Namespace) -> int:
    from l2l.config import SolveConfig
    from l2l.errors import InputError, L2LError

    try:
        config = SolveConfig().update(**_overrides(args))
        if config.formulations < 1 or config.programs_per_formulation < 1:
            raise InputError("--samples and --programs must be at least 1")
        if config.reformulations < 0:
            raise InputError("--reformulations must be 0 or more")
        if config.time_budget_s is not None and config.time_budget_s <= 0:
            raise InputError("--time-budget must be more than 0 seconds")
        question = read_question(args, config.max_question_chars)
        from l2l.pipeline.solve import build_solver, validate_question

        question = validate_question(question, config.max_question_chars)
        from l2l.machine import warn_if_busy

        warn_if_busy(config.formulator_model or config.model)
        progress = _progress(args)
        with progress as report:
            solver, load_s = build_solver(config, report)
            result = solver.solve(question, args.options)
        result.timings["model_load"] = load_s
    except L2LError as e:
        if args.json:
            print(json.dumps({"answer": None, "status": "error", "error": str(e)}))
            return e.exit_code
        raise
    if args.json:
        from solvers.executor import sandbox_summary

        print(json.dumps({**result.to_dict(), "sandbox": sandbox_summary()}, ensure_ascii=False, indent=2))
    else:
        _print_account(result, args.show_program, sys.stdout)
    return 0 if result.answer is not None else 1


class _progress:
    """A rich spinner on stderr whose text each pipeline stage updates; silent with --quiet."""

    def __init__(self, args: argparse.Namespace):
        self.quiet = args.quiet
        self._status = None

    def __enter__(self):
        if self.quiet:
            return lambda _msg: None
        from rich.console import Console

        self._status = Console(stderr=True).status("loading model")
        self._status.__enter__()
        return self._status.update

    def __exit__(self, *exc):
        if self._status is not None:
            self._status.__exit__(*exc)
        return False
