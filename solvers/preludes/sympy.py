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
    # Conditions (x > 0, Ne(x, y), And(...) of them) are not equations: sympy.solve cannot take them
    # beside several unknowns ("can only solve for one symbol at a time"), and this helper's own advice
    # is to add positivity. The equations are solved alone and the conditions keep the solutions that
    # satisfy them.
    conditions, eqs = [], []
    for e in equations:
        (conditions if _is_condition(e) else eqs).append(e)
    equations = eqs
    if not equations:
        raise PuzzleError("solve_one needs at least one equation (Eq(lhs, rhs)); it got only conditions such as x > 0")
    sols = sympy.solve(list(equations), list(unknowns), dict=True)
    if not sols:
        raise PuzzleError("no solution: the equations contradict each other; one equation is wrong")
    if conditions:
        sols = [sol for sol in sols if all(_holds(c, sol) for c in conditions)]
        if not sols:
            raise PuzzleError("no solution satisfies the conditions (inequalities) given with the equations")
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


def _is_condition(e):
    """True for what is a condition rather than an equation: an inequality, Ne, a boolean
    combination of them, or a plain True/False."""
    if isinstance(e, (bool, sympy.logic.boolalg.BooleanAtom)):
        return True
    if isinstance(e, sympy.Eq):
        return False
    return isinstance(e, (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanFunction))


def _holds(condition, sol):
    """Whether `condition` is true at the solution `sol`; one that the solution leaves undecided (it
    still holds an unknown) is kept, so the free-unknown check below reports it."""
    value = sympy.sympify(condition).subs(sol) if not isinstance(condition, bool) else condition
    return value not in (False, sympy.false)


# The solver record (solvers/preludes/_record.py): solve_one reports its verdict, answer its text.
_, _wrap_call, _wrap_answer = __l2l_reporting__(globals().get("__l2l_record__"), PuzzleError)
solve_one, answer = _wrap_call("solve_one", solve_one), _wrap_answer(answer)
del __l2l_reporting__, _wrap_call, _wrap_answer
