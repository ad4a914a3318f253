"""Sound uniqueness in the preludes, and the solver record the rewards read (issue 14, item 6).

Run through the one execution path (real sandbox, real preludes): a model with several solutions
must never come back as "solved", whichever way the program declared its variables.
"""

from __future__ import annotations

import pytest

from l2l.pipeline.execute import ExecLimits, certified, run_program
from l2l.types import Program


def run(backend: str, code: str):
    return run_program(Program(backend, code), ExecLimits(timeout_s=20))


BIRDS = 'p = Puzzle()\nowl, crow, hawk = p.Order(["owl", "crow", "hawk"])\n'
CHOOSE_TRUE = 'answer(p.choose({"A": owl == 1, "B": crow == 1, "C": hawk == 1}, mode="true"))'

# (what the case stands for, backend, program, expected status, expected answer or error text)
CASES = [
    # raw z3 variables added to a Puzzle: used to skip the uniqueness check (decls empty)
    ("raw vars in Puzzle, several", "z3", "p = Puzzle()\nx = Int('x')\np.add(x > 1, x < 5)\nanswer(p.solve()[x])",
     "runtime_error", "several solutions"),
    # the same with a unique model still answers
    ("raw vars in Puzzle, unique", "z3", "p = Puzzle()\nx = Int('x')\np.add(x > 1, x < 3)\nanswer(p.solve()[x])", "ok", "2"),
    # sympy: a parametric family {x: 3 - y} used to count as the single solution
    ("sympy parametric", "sympy", "x, y = symbols('x y')\nanswer(solve_one([Eq(x + y, 3)], [x, y])[x])",
     "runtime_error", "several solutions"),
    # sympy: an unknown the solution does not mention at all
    ("sympy unknown missing", "sympy", "x, y = symbols('x y')\nanswer(solve_one([Eq(x, 3)], [x, y])[x])",
     "runtime_error", "several solutions"),
    # sympy: a determined system still answers
    ("sympy determined", "sympy", "x, y = symbols('x y')\nanswer(solve_one([Eq(x + y, 3), Eq(x - y, 1)], [x, y])[x])", "ok", "2"),
    # sympy: positivity beside the equations, as the helper's own error advises and as the 1.5B writes
    # arithmetic programs (held-out synthetic, 2026-12-02): sympy.solve used to raise "can only solve for
    # one symbol at a time" (separate inequalities) or "'And' object has no attribute 'as_independent'"
    ("sympy conditions beside equations", "sympy", "s, c = symbols('s c')\nanswer(solve_one([Eq(s + c, 43), Eq(7 * s + 10 * c, 361), s > 0, c > 0], [s, c])[c])", "ok", "20"),
    ("sympy conditions in And", "sympy", "s, c = symbols('s c')\nanswer(solve_one([Eq(s + c, 43), Eq(7 * s + 10 * c, 361), And(s > 0, c > 0)], [s, c])[c])", "ok", "20"),
    # a condition picks the one solution of several
    ("sympy condition picks a root", "sympy", "x = symbols('x')\nanswer(solve_one([Eq(x**2, 4), x > 0], [x])[x])", "ok", "2"),
    # ... and a condition no solution meets is "no solution", not a silent pick
    ("sympy condition excludes all", "sympy", "x = symbols('x')\nanswer(solve_one([Eq(x**2, 4), x > 5], [x])[x])",
     "runtime_error", "no solution satisfies the conditions"),
    # conditions alone are not a system to solve
    ("sympy only conditions", "sympy", "x = symbols('x')\nanswer(solve_one([x > 0], [x])[x])", "runtime_error", "needs at least one equation"),
    # python-constraint: several solutions are an error
    ("constraint several", "constraint", "p = Problem()\np.addVariables(['a', 'b'], [1, 2])\nanswer(solve_unique(p)['a'])",
     "runtime_error", "several solutions"),
    # choose(mode="true") with a statement left out: the stated constraints still decide the
    # option (owl first in every solution), so that option is the answer, certified
    ("choose true, entailed", "z3", BIRDS + "p.add(owl == 1)\n" + CHOOSE_TRUE, "ok", "A"),
    # ... and when they do not decide it, the several-solutions error as before, with the options left
    ("choose true, undecided", "z3", BIRDS + "p.add(owl < crow)\n" + CHOOSE_TRUE, "runtime_error",
     "both satisfy the constraints; a statement is missing or too weak; options still possible: A, C"),
    # choose(mode="false"), a statement left out: the one option false in every solution
    ("choose false, entailed", "z3", BIRDS + "p.add(owl == 1)\n" + 'answer(p.choose({"A": owl == 1, "B": crow == 2, "C": owl == 3}, mode="false"))', "ok", "C"),
    # is_possible on contradictory constraints used to answer False silently
    ("is_possible contradiction", "z3", "p = Puzzle()\nx = p.Int('x', 1, 2)\np.add(x > 5)\nanswer(p.is_possible(x == 1))",
     "runtime_error", "no solution"),
]


@pytest.mark.parametrize("name,backend,code,status,expect", CASES, ids=[c[0] for c in CASES])
def test_uniqueness(name, backend, code, status, expect):
    res = run(backend, code)
    assert res.status == status, res.stderr
    if status == "ok":
        assert res.answer == expect and certified(res)
    else:
        assert expect in (res.error or "") + res.stderr and not certified(res)


def test_raw_z3_solver_model_is_reported_but_not_changed():
    # A raw z3 Solver keeps its behaviour (the program still gets a model), but the record says
    # the model was not unique, so the answer is not certified.
    res = run("z3", "x = Int('x')\ns = Solver()\ns.add(x > 3, x < 6)\nprint(s.check())\nanswer(s.model()[x])")
    assert res.status == "ok" and res.answer in ("4", "5")
    assert {"call": "model", "ok": False, "verdict": "several"} in res.solver_events
    assert not certified(res)


def test_solver_events_record_calls_verdicts_and_the_answer():
    res = run("z3", "p = Puzzle()\nx = p.Int('x', 1, 3)\np.add(x > 2)\nm = p.solve()\nanswer(m[x])")
    assert res.status == "ok" and res.answer == "3"
    assert res.solver_events == [{"call": "solve", "ok": True, "verdict": "unique"}, {"call": "answer", "text": "3"}]
    assert certified(res)


def test_unchecked_solve_is_not_a_verdict():
    res = run("z3", "p = Puzzle()\nx = p.Int('x', 1, 3)\nanswer(p.solve(unique=False)[x])")
    assert res.status == "ok" and not certified(res)
