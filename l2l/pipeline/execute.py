"""The one way a generated `Program` is run: inference (`Solver`, `l2l eval`), training rewards,
rejection sampling, self-play and validation all call `run_programs`.

    >>> from l2l.types import Program
    >>> run_program(Program("z3", "p = Puzzle(); x = p.Int('x', 1, 3); p.add(x * 2 == 4)\\n"
    ...                            "answer(p.solve()[x])"), ExecLimits()).answer   # doctest: +SKIP
    '2'

What is chosen here and nowhere else: the prelude a program gets (always its backend's,
from `Program.backend`; there is no "no prelude" path for generated programs), the sandbox
limits, and whether code may run without isolation (`unsafe_exec`, the user's choice). A config may change the limits (`ExecLimits.from_config`), never the
helpers: before this module existed, training ran programs with `backend: null`, so every
program written the way the generator prompt asks failed with a NameError on `Puzzle`.
Also here: a failed program gets one rerun with deterministic fixes of mechanical slips
(`l2l/pipeline/program_fixes.py`, `ExecLimits.fix_programs`), before any model repair.

`certified(result)` is the single judgement of whether an answer "came out of a solver":
the prelude's solver helpers report each call and its verdict to the sandbox's record
(`ExecutionResult.solver_events`, written on a channel the program's own code does not hold),
and rewards pay for correctness and shaping only on certified answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from l2l.types import Program

__all__ = ["ExecLimits", "run_program", "run_programs", "certified", "SOLVER_CALLS"]

# Prelude helpers that decide a model; each reports {"call", "ok", "verdict"} (see the preludes).
SOLVER_CALLS = frozenset({"solve", "choose", "truth", "optimize", "is_certain", "is_possible", "model", "solve_one",
                          "solve_unique"})


@dataclass(frozen=True)
class ExecLimits:
    """Sandbox limits of one program: the only execution settings a config may change."""

    timeout_s: float = 20.0
    memory_mb: int = 2048
    # run generated code even where the sandbox has no layer beyond the audit hook (the user's
    # explicit choice: `--unsafe-exec`, `unsafe_exec: true`); never set by the executor config
    unsafe_exec: bool = False
    # after a failure, run the program once more with deterministic fixes of mechanical slips
    # (l2l/pipeline/program_fixes.py); a program that runs as written is never changed (off by
    # default: see SolveConfig.fix_programs)
    fix_programs: bool = False

    @classmethod
    def from_config(cls, pipeline: Any, override: Any = None) -> "ExecLimits":
        """Limits from a SolveConfig / `pipeline` config node, with an optional `executor`
        config node overriding `timeout_s` / `memory_mb` (training uses a shorter timeout)."""

        def get(node: Any, key: str) -> Any:
            if node is None:
                return None
            return node.get(key) if hasattr(node, "get") else getattr(node, key, None)

        fix = get(pipeline, "fix_programs")
        base = cls(timeout_s=float(get(pipeline, "timeout_s") or cls.timeout_s),
                   memory_mb=int(get(pipeline, "memory_mb") or cls.memory_mb),
                   unsafe_exec=bool(get(pipeline, "unsafe_exec") or False),
                   fix_programs=cls.fix_programs if fix is None else bool(fix))
        extra = set(override.keys()) - {"timeout_s", "memory_mb"} if hasattr(override, "keys") else set()
        if extra:
            raise ValueError(f"executor config may only set timeout_s and memory_mb, not {sorted(extra)}: "
                             "the prelude follows each program's backend")
        return cls(timeout_s=float(get(override, "timeout_s") or base.timeout_s),
                   memory_mb=int(get(override, "memory_mb") or base.memory_mb), unsafe_exec=base.unsafe_exec,
                   fix_programs=base.fix_programs)


def _check_backend(program: Program) -> None:
    from solvers.registry import SOLVER_BACKENDS

    if program.backend not in SOLVER_BACKENDS:
        raise ValueError(f"program backend {program.backend!r} is not one of {sorted(SOLVER_BACKENDS)}")


def run_programs(programs: Sequence[Program | None], limits: ExecLimits) -> list[Any]:
    """Run the programs in one batch through the sandbox pool (in parallel); a None program
    gives a None result, so callers can keep their completions and results aligned."""
    from solvers import execute_many

    if limits.unsafe_exec:
        from solvers.executor import allow_unsafe_exec

        allow_unsafe_exec()
    idx = [i for i, p in enumerate(programs) if p is not None]
    results: list[Any] = [None] * len(programs)
    if not idx:
        return results
    for i in idx:
        _check_backend(programs[i])
    ran = execute_many([programs[i].code for i in idx], backend=[programs[i].backend for i in idx],
                       timeout_s=limits.timeout_s, memory_mb=limits.memory_mb)
    for i, res in zip(idx, ran):
        results[i] = res
    if limits.fix_programs:
        _rerun_fixed(programs, results, limits)
    return results


def _rerun_fixed(programs: Sequence[Program | None], results: list[Any], limits: ExecLimits) -> None:
    """Failed programs that a deterministic fix applies to run once more, in one batch; a
    fixed run replaces the failure only when it ran to an answer (otherwise the program's own
    error stands, with line numbers of the text its author wrote). Here, in the one path, so
    inference, evaluation and the training rewards see the same results."""
    from solvers import execute_many

    from l2l.pipeline.program_fixes import fix_program

    todo = []
    for i, res in enumerate(results):
        if res is not None and not res.ok:
            fix = fix_program(programs[i].code, programs[i].backend, res)
            if fix is not None:
                todo.append((i, fix))
    if not todo:
        return
    ran = execute_many([fix.code for _, fix in todo], backend=[programs[i].backend for i, _ in todo],
                       timeout_s=limits.timeout_s, memory_mb=limits.memory_mb)
    for (i, fix), res in zip(todo, ran):
        if res.ok:
            res.fixes, res.fixed_code = list(fix.fixes), fix.code
            res.elapsed_s += results[i].elapsed_s  # both runs were paid for
            results[i] = res


def run_program(program: Program, limits: ExecLimits) -> Any:
    """Run one program (see `run_programs`)."""
    return run_programs([program], limits)[0]


def ran_as_written(result: Any) -> bool:
    """True when the program ran to completion as the model wrote it: a run that needed a
    deterministic fix (`result.fixes`, l2l/pipeline/program_fixes.py) is the fix's success, not
    the model's, so training's execution rates do not count it (they count it under `fixed`)."""
    return result is not None and bool(getattr(result, "ok", False)) and not getattr(result, "fixes", None)


def certified(result: Any) -> bool:
    """True when the program's final answer came out of the prelude's solver helpers: it ran
    to an answer, at least one solver call decided its model (unique solution, one option,
    an entailed truth value, an optimum), no solver call failed (a contradiction or several
    solutions swallowed by try/except does not count), and the final ANSWER line was printed
    by `answer(...)`. A constant letter, every option printed, or `UNIQUE: yes` on stdout
    are not certified, nor is an answer that needed a program fix (`result.fixes`)."""
    if result is None or not getattr(result, "ok", False) or result.answer is None:
        return False
    if getattr(result, "fixes", None):
        # It ran only after a deterministic fix (l2l/pipeline/program_fixes.py): the answer is
        # the solver's, but the model's own text does not run, so training must neither pay it
        # nor keep that text as an example (sft_coldstart and self-play store `Program.code`).
        return False
    events = list(getattr(result, "solver_events", None) or [])
    calls = [e for e in events if isinstance(e, dict) and e.get("call") in SOLVER_CALLS]
    if not calls or any(not e.get("ok") for e in calls):
        return False
    answers = [e for e in events if isinstance(e, dict) and e.get("call") == "answer"]
    return bool(answers) and str(answers[-1].get("text", "")).strip() == result.answer
