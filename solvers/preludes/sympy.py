# Prelude for sympy programs (backend "sympy"): symbolic maths and arithmetic word problems.
# `answer` prints the final line; `solve_one` makes "no solution" and "several solutions" loud.
import sympy
from sympy import *  # noqa: F401,F403


class PuzzleError(Exception):
    """Raised by the helpers with a message meant to be fed back to the program's author."""


def _fmt(v):
    try:
        v = sympy.nsimplify(v) if not isinstance(v, (str, bool)) else v
        if getattr(v, "is_Integer", False) or (getattr(v, "is_Rational", False) and v.q == 1):
            return str(int(v))
        if getattr(v, "is_Rational", False):
            return str(float(v))
        if getattr(v, "is_Number", False):
            f = float(v)
            return str(int(f)) if f.is_integer() else str(round(f, 10))
    except (TypeError, ValueError, sympy.SympifyError):
        pass
    return str(v)


def answer(value):
    """Print the final answer line (the last ANSWER line printed counts)."""
    if isinstance(value, (list, tuple)):
        print("ANSWER: " + ", ".join(_fmt(v) for v in value))
    else:
        print("ANSWER: " + _fmt(value))


def solve_one(equations, unknowns):
    """Solve `equations` (list of Eq or expressions equal to 0) for `unknowns`; return a dict
    {symbol: value} for the single solution, or raise PuzzleError if there is none or several."""
    if not isinstance(equations, (list, tuple)):
        equations = [equations]
    if not isinstance(unknowns, (list, tuple)):
        unknowns = [unknowns]
    sols = sympy.solve(list(equations), list(unknowns), dict=True)
    if not sols:
        raise PuzzleError("no solution: the equations contradict each other; one equation is wrong")
    if len(sols) > 1:
        raise PuzzleError(f"several solutions: {sols}; add the missing condition (e.g. positivity) or pick one explicitly")
    return sols[0]
