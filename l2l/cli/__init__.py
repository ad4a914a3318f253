"""`l2l` command line. Each subcommand lives in its own module with `HELP`, `add_arguments(parser)`
and `run(args) -> int`; the modules import nothing heavy at top level so `l2l --help` stays fast."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# One registry of subcommands: name -> module.
COMMANDS: dict[str, str] = {
    "solve": "l2l.cli.solve_cmd",
    "eval": "l2l.cli.eval_cmd",
    "generate": "l2l.cli.generate_cmd",
    "models": "l2l.cli.models_cmd",
    "doctor": "l2l.cli.doctor_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    from l2l import __version__

    parser = argparse.ArgumentParser(
        prog="l2l",
        description="Language-to-logic reasoning: an LLM formulates the problem, an LLM writes a solver program, a sandbox runs it.",
    )
    parser.add_argument("--version", action="version", version=f"l2l {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from l2l.errors import L2LError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except L2LError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`l2l models list | head`): not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # last line of defence: a message, never a raw traceback
        if os.environ.get("L2L_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {e} (set L2L_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
