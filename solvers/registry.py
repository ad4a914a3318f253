"""Solver backends: the prelude each program gets and what the warm workers pre-import.

Adding a backend = one entry here plus `solvers/preludes/<name>.py`. A prelude may also
define `__program_transform__(source) -> ast.Module`: the sandbox then compiles each
program of that backend through it (the z3 prelude uses it so that Python's `not`, `and`,
`or` and chained comparisons work on z3 expressions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PRELUDE_DIR = Path(__file__).resolve().parent / "preludes"
RECORD_PRELUDE = PRELUDE_DIR / "_record.py"  # prepended to every prelude: how helpers report to the record


@dataclass(frozen=True)
class SolverBackend:
    """One solver library a generated program may be written against."""

    name: str
    prelude: Path  # executed in the program's globals before the program itself
    parts: tuple[Path, ...] = field(default=())  # more prelude files, run before `prelude` (which may use them)
    modules: tuple[str, ...] = field(default=())  # imported once in each warm worker
    description: str = ""
    warmup: str = ""  # run once in each warm worker so lazy initialisation is not paid per program

    def prelude_source(self) -> str:
        """The shared solver-record part (`preludes/_record.py`), then the backend's own parts and prelude."""
        files = (RECORD_PRELUDE, *self.parts, self.prelude)
        return "\n".join(f.read_text(encoding="utf-8") for f in files)


SOLVER_BACKENDS: dict[str, SolverBackend] = {
    "z3": SolverBackend(
        name="z3",
        prelude=PRELUDE_DIR / "z3.py",
        parts=(PRELUDE_DIR / "z3_rules.py",),  # facts and rules as text; z3.py's Puzzle subclasses it
        modules=("z3",),
        description="Z3 SMT solver: integer/boolean/real constraints, optimisation (z3-solver).",
        warmup="import z3\ns = z3.Solver(); x = z3.Int('x'); s.add(x > 1, x < 3); s.check(); s.model()\n"
        "o = z3.Optimize(); o.maximize(x); o.add(x < 5); o.check()",
    ),
    "sympy": SolverBackend(
        name="sympy",
        prelude=PRELUDE_DIR / "sympy.py",
        modules=("sympy",),
        description="SymPy computer algebra: equations, arithmetic, exact rationals.",
        warmup="import sympy\nx = sympy.Symbol('x'); sympy.solve(x**2 - 4, x); sympy.simplify(sympy.Rational(1, 3) + x)",
    ),
    "constraint": SolverBackend(
        name="constraint",
        prelude=PRELUDE_DIR / "constraint.py",
        modules=("constraint",),
        description="python-constraint CSP solver: finite domains, all-different, puzzles.",
        warmup="import constraint\np = constraint.Problem(); p.addVariables('ab', [1, 2]);"
        " p.addConstraint(constraint.AllDifferentConstraint()); p.getSolutions()",
    ),
}
