"""Solver backends and the sandboxed executor for generated programs.

    >>> from solvers import execute
    >>> execute("print('ANSWER:', 2 + 2)").answer
    '4'

Importing this package is cheap: the executor module (and its worker pool, which
imports z3/sympy/constraint in separate processes) is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solvers.registry import SOLVER_BACKENDS, SolverBackend
from solvers.result import STATUSES, ExecutionResult, parse_answer

if TYPE_CHECKING:
    from solvers.executor import allow_unsafe_exec, execute, execute_many, sandbox_info, sandbox_summary, shutdown

__all__ = ["SOLVER_BACKENDS", "STATUSES", "ExecutionResult", "SolverBackend", "allow_unsafe_exec", "execute",
           "execute_many", "parse_answer", "sandbox_info", "sandbox_summary", "shutdown"]

_LAZY = {"allow_unsafe_exec", "execute", "execute_many", "sandbox_info", "sandbox_summary", "shutdown"}


def __getattr__(name: str):
    if name in _LAZY:
        from solvers import executor

        return getattr(executor, name)
    raise AttributeError(f"module 'solvers' has no attribute {name!r}")
