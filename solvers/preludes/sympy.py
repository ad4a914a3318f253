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
        text = ", ".join(_fmt(v) for v in value)
    else:
        text = _fmt(value)
    print("ANSWER: " + text)
    return text


def solve_one(equations, unknowns):
    """Solve `equations` (list of Eq or expressions equal to 0) for `unknowns`; return a dict
    {symbol: value} for the single solution, or raise PuzzleError if there is none or several
    (a solution that leaves an unknown free, such as {x: 3 - y}, is several solutions)."""
    if not isinstance(equations, (list, tuple)):
        equations = [equations]
    if not isinstance(unknowns, (list, tuple)):
        unknowns = [unknowns]
    sols = sympy.solve(list(equations), list(unknowns), dict=True)
    if not sols:
        raise PuzzleError("no solution: the equations contradict each other; one equation is wrong")
    if len(sols) > 1:
        raise PuzzleError(f"several solutions: {sols}; add the missing condition (e.g. positivity) or pick one explicitly")
    sol = sols[0]
    # sympy returns a parametric family as one dict: an unknown missing from it, or a value
    # that still contains an unknown, means the equations do not determine it.
    unknown_set = set(unknowns)
    free = [u for u in unknowns if u not in sol] + sorted(
        {s for v in sol.values() for s in getattr(v, "free_symbols", ()) if s in unknown_set}, key=str)
    if free:
        raise PuzzleError(f"several solutions: {sol} leaves {', '.join(map(str, free))} free; an equation is missing")
    return sol


# The solver record (solvers/preludes/_record.py): solve_one reports its verdict, answer its text.
_, _wrap_call, _wrap_answer = __l2l_reporting__(globals().get("__l2l_record__"), PuzzleError)
solve_one, answer = _wrap_call("solve_one", solve_one), _wrap_answer(answer)
del __l2l_reporting__, _wrap_call, _wrap_answer
