# Prelude for python-constraint programs (backend "constraint"): finite-domain CSPs.
# `solve_unique` turns zero or several solutions into loud, repairable errors.
from constraint import *  # noqa: F401,F403


class PuzzleError(Exception):
    """Raised by the helpers with a message meant to be fed back to the program's author."""


def answer(value):
    """Print the final answer line (the last ANSWER line printed counts)."""
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    print("ANSWER: " + str(value))
    return str(value)


def solve_unique(problem):
    """Return the only solution of a constraint.Problem as a dict, or raise PuzzleError."""
    sols = problem.getSolutions()
    if not sols:
        raise PuzzleError("no solution: the constraints contradict each other; one constraint is wrong")
    if len(sols) > 1:
        raise PuzzleError(f"several solutions ({len(sols)}), e.g. {sols[0]} and {sols[1]}; a statement is missing or too weak")
    return sols[0]


# The solver record (solvers/preludes/_record.py): solve_unique reports its verdict, answer its text.
_, _wrap_call, _wrap_answer = __l2l_reporting__(globals().get("__l2l_record__"), PuzzleError)
solve_unique, answer = _wrap_call("solve_unique", solve_unique), _wrap_answer(answer)
del __l2l_reporting__, _wrap_call, _wrap_answer
