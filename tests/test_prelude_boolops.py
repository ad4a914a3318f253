"""z3 prelude: Python's `not`/`and`/`or` and chained comparisons work on z3 expressions
(the program is rewritten before it runs), and plain Python keeps its own semantics."""

import pytest

from solvers import execute


def run(code: str):
    return execute(code, backend="z3", timeout_s=30)


@pytest.mark.parametrize("constraints, expected", [
    ("p.add(not a, b, x == 0)", "False True 0"),                          # not on a z3 Bool -> Not(a)
    ("p.add(a and not b, x == 0)", "True False 0"),                 # and -> And
    ("p.add(a or b, not b, x == 1)", "True False 1"),               # or -> Or
    ("p.add(x == 3 and (a or b), not b)", "True False 3"),          # arithmetic and boolean operands mixed
    ("p.add(1 <= x <= 2, x != 1, a == (x == 2), b == (x > 5))", "True False 2"),  # chain -> And of its parts
])
def test_boolean_operators_on_z3_expressions(constraints, expected):
    code = f"p = Puzzle()\na, b = p.Bools('a b')\nx = p.Int('x', 0, 9)\n{constraints}\nm = p.solve()\nanswer([m[a], m[b], m[x]])\n"
    r = run(code)
    assert r.status == "ok", r.error
    assert r.answer == expected.replace(" ", ", ")


def test_x_equals_not_y_syntax_slip_is_read_as_not():
    # `x == not y` is a SyntaxError in Python; the formulation language invites it.
    r = run("p = Puzzle()\nx, y = p.Bools('x y')\np.add(y)\np.add(x == not y)\nanswer(p.solve()[x])\n")
    assert r.status == "ok", r.error
    assert r.answer == "False"


def test_other_syntax_errors_are_reported_as_written():
    r = run("p = Puzzle()\nx = p.Bool('x')\np.add(x == )\n")
    assert r.status == "syntax_error"
    assert "line 3" in r.error


def test_python_semantics_are_kept():
    code = (
        "hits = []\n"
        "def f(v):\n    hits.append(v)\n    return v\n"
        "r1 = f(0) and f(1)\n"            # short circuit: f(1) never runs, returns 0
        "r2 = f('') or f('dflt')\n"       # returns the operand, not a bool
        "r3 = not []\n"
        "r4 = 1 < f(2) < 3 < f(1)\n"      # each operand once, in order; False at the end
        "r5 = 5 < f(4) < f(99)\n"         # stops at the first False: f(99) never runs
        "class C:\n    k = 2\n    both = k and 3\n"  # class bodies are left as written
        "answer([r1, r2, r3, r4, r5, C.both, hits])\n"
    )
    r = run(code)
    assert r.status == "ok", r.error
    assert r.answer == "0, dflt, True, False, False, 3, [0, '', 'dflt', 2, 1, 4]"


def test_runtime_errors_point_at_the_programs_own_lines():
    r = run("p = Puzzle()\nx = p.Int('x')\ny = 1 and x\n\nz = undefined_name and x\n")
    assert r.status == "runtime_error"
    assert "line 5" in r.error and "undefined_name" in r.error


def test_an_if_on_a_z3_expression_still_fails_loudly():
    # Only operators are rewritten; `if` needs a concrete value and says so.
    r = run("p = Puzzle()\nx = p.Int('x')\nif x > 1 and x < 3:\n    answer('yes')\n")
    assert r.status == "runtime_error"
    assert "Symbolic expressions cannot be cast" in r.error
