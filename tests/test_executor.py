"""Executor behaviour: solver-style programs, status classification, ordering, truncation.

Runs against the real sandbox pool (real z3 / sympy / python-constraint). Cost: ~8 s.
"""

from __future__ import annotations

import threading
import textwrap

import pytest

from solvers import SOLVER_BACKENDS, STATUSES, execute, execute_many

Z3_PROGRAM = textwrap.dedent("""
    # Three people, distinct ages 1..3; Ann is older than Bob, Bob older than Cid.
    ann, bob, cid = Ints('ann bob cid')
    s = Solver()
    s.add(Distinct(ann, bob, cid), *[And(v >= 1, v <= 3) for v in (ann, bob, cid)])
    s.add(ann > bob, bob > cid)
    assert s.check() == sat
    print("ANSWER:", s.model()[ann])
""")

SYMPY_PROGRAM = textwrap.dedent("""
    x, y = symbols('x y')
    sol = solve([Eq(x + y, 10), Eq(x - y, 4)], [x, y])
    print("ANSWER:", sol[x] * sol[y])
""")

CONSTRAINT_PROGRAM = textwrap.dedent("""
    p = Problem()
    p.addVariables(["a", "b", "c"], range(1, 4))
    p.addConstraint(AllDifferentConstraint())
    p.addConstraint(lambda a, b: a > b, ["a", "b"])
    p.addConstraint(lambda b, c: b > c, ["b", "c"])
    sols = p.getSolutions()
    print("ANSWER:", sols[0]["a"], len(sols))
""")


@pytest.mark.parametrize("backend, code, answer", [
    ("z3", Z3_PROGRAM, "3"),
    ("sympy", SYMPY_PROGRAM, "21"),
    ("constraint", CONSTRAINT_PROGRAM, "3 1"),
])
def test_solver_style_programs_succeed(backend, code, answer):
    r = execute(code, backend=backend)
    assert r.status == "ok", r
    assert r.answer == answer


@pytest.mark.parametrize("module, backend", [("z3", "z3"), ("sympy", "sympy"), ("constraint", "constraint")])
def test_programs_may_import_solvers_themselves(module, backend):
    prelude_free = f"from {module} import *\n" + {"z3": Z3_PROGRAM, "sympy": SYMPY_PROGRAM,
                                                    "constraint": CONSTRAINT_PROGRAM}[backend]
    assert execute(prelude_free).status == "ok"


def test_without_backend_prelude_names_are_absent():
    r = execute(Z3_PROGRAM)
    assert r.status == "runtime_error"
    assert r.error == "line 3: NameError: name 'Ints' is not defined"


def test_registry_entries_point_at_real_preludes():
    assert set(SOLVER_BACKENDS) == {"z3", "sympy", "constraint"}
    for name, b in SOLVER_BACKENDS.items():
        assert b.name == name and b.prelude.is_file() and b.modules and b.description


@pytest.mark.parametrize("code, status, error", [
    ("print('ANSWER: 7')", "ok", None),
    ("print('ANSWER: 1')\nprint('ANSWER:  B ')", "ok", None),
    ("print('no answer here')", "no_answer", "ANSWER"),
    ("x = 1\nif x\n    pass", "syntax_error", "line 2: SyntaxError"),
    ("x = 1\ny = x + z", "runtime_error", "line 2: NameError: name 'z' is not defined"),
    ("def f(a):\n    return a / 0\n\nf(1)", "runtime_error", "line 2: ZeroDivisionError: division by zero"),
    ("import sys\nprint('ANSWER: 3')\nsys.exit(0)", "ok", None),
    ("import sys\nsys.exit(2)", "runtime_error", "SystemExit: 2"),
    ("raise ValueError('bad domain for x')", "runtime_error", "line 1: ValueError: bad domain for x"),
    ("import nonexistent_module_xyz", "runtime_error", "ModuleNotFoundError"),
])
def test_status_classification(code, status, error):
    r = execute(code)
    assert r.status == status, r
    assert r.status in STATUSES
    if error is None:
        assert r.error is None
    else:
        assert error in r.error
    if status == "ok":
        assert r.answer == r.stdout.strip().splitlines()[-1].split("ANSWER:")[1].strip()


def test_traceback_refers_to_program_lines_only():
    r = execute("a = 1\nb = [][a]", backend="z3")
    assert 'File "<program>", line 2' in r.stderr
    assert "b = [][a]" in r.stderr  # the source line is shown
    assert "sandbox.py" not in r.stderr


def test_execute_many_keeps_order_and_mixed_backends():
    codes = [f"import time\ntime.sleep({(7 - i) % 4 * 0.05})\nprint('ANSWER:', {i})" for i in range(8)]
    codes.append(Z3_PROGRAM)
    codes.append(SYMPY_PROGRAM)
    results = execute_many(codes, backend=[None] * 8 + ["z3", "sympy"])
    assert [r.answer for r in results] == [str(i) for i in range(8)] + ["3", "21"]


def test_execute_many_from_several_threads():
    out: dict[int, list[str | None]] = {}

    def work(k: int) -> None:
        out[k] = [r.answer for r in execute_many([f"print('ANSWER:', {k} * 100 + {i})" for i in range(6)])]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {k: [str(k * 100 + i) for i in range(6)] for k in range(3)}


def test_large_output_is_truncated_but_answer_kept():
    r = execute("for i in range(200000):\n    print('line', i)\nprint('ANSWER: 42')")
    assert r.status == "ok"
    assert r.answer == "42"
    assert len(r.stdout) < 40_000
    assert "truncated" in r.stdout
    r = execute("import sys\nsys.stderr.write('e' * 10**6)\nprint('ANSWER: 1')")
    assert r.status == "ok" and len(r.stderr) < 40_000


@pytest.mark.parametrize("kwargs, exc", [
    ({"code": 123}, TypeError),
    ({"code": "print(1)", "backend": "prolog"}, ValueError),
    ({"code": "print(1)", "timeout_s": -1}, ValueError),
    ({"code": "print(1)", "memory_mb": "lots"}, ValueError),
])
def test_bad_arguments_raise_clear_errors(kwargs, exc):
    code = kwargs.pop("code")
    with pytest.raises(exc, match="code|backend|timeout|memory"):
        execute(code, **kwargs)


def test_execute_many_rejects_mismatched_backends():
    with pytest.raises(ValueError, match="backends"):
        execute_many(["print(1)", "print(2)"], backend=["z3"])
    assert execute_many([]) == []


def test_nul_byte_in_source_is_a_syntax_error():
    r = execute("print('a')\x00")
    assert r.status == "syntax_error"


@pytest.mark.parametrize("code, backend, kind", [
    ("print('ANSWER: 1')", None, ()),
    ("from z3 import *\nprint(1)", None, ("z3",)),
    ("import sympy", None, ("sympy",)),
    ("print('ANSWER: 1')", "constraint", ("constraint",)),
    ("import z3, sympy", None, ("constraint", "sympy", "z3")),
    ("import sympy", "z3", ("constraint", "sympy", "z3")),
    ("x_z3 = 1  # not a module name", None, ()),
])
def test_programs_are_routed_to_the_smallest_warm_worker(code, backend, kind):
    from solvers.executor import _route

    assert _route(code, backend) == kind


def test_workers_of_one_backend_have_not_imported_the_others():
    probe = "import sys\nprint('ANSWER:', sorted(m for m in ('z' + '3', 'sym' + 'py', 'cons' + 'traint') if m in sys.modules))"
    assert execute(probe, backend="z3").answer == "['z3']"
    assert execute(probe).answer == "[]"


def test_misrouted_program_still_runs():
    # The import is invisible to routing, so this runs in a worker without z3: slower, same result.
    code = "z = __import__('z' + '3')\nx = z.Int('x')\ns = z.Solver(); s.add(x * 2 == 8); s.check()\nprint('ANSWER:', s.model()[x])"
    assert execute(code).answer == "4"


ORDER_PROGRAM = textwrap.dedent("""
    p = Puzzle()
    places = p.Order("owl robin crow")      # unpacked like p.Ints
    owl, robin, crow = places
    p.add(owl > robin, places["crow"] == 1)  # and indexed by name, the older style
    m = p.solve()
    assert m.order(places) == ["crow", "robin", "owl"], m.order(places)
    assert m.at(places, -1) == "owl"
    answer(m.at(places, 2))
""")


def test_order_helper_unpacks_indexes_and_reports_places():
    r = execute(ORDER_PROGRAM, backend="z3")
    assert r.status == "ok", r
    assert r.answer == "robin"


ASSIGN_PROGRAM = textwrap.dedent("""
    p = Puzzle()
    ann, ben, cal = p.Assign("ann ben cal", ["the budget committee", "the events committee"])
    assert (the_budget_committee, budget, events) == (1, 2 - 1, 2)  # full and head-word names
    p.add(ann == ben)                      # groups can be shared, unlike p.Order's positions
    p.add(p.size(budget) == 1, p.size("the events committee") == 2)
    p.add(cal != events)
    m = p.solve()
    answer(f"{m[ann]} {m[ben]} {m[cal]}")
""")


def test_assign_helper_allows_shared_groups_and_counts_members():
    r = execute(ASSIGN_PROGRAM, backend="z3")
    assert r.status == "ok", r
    assert r.answer == "2 2 1"


def test_bare_clock_times_in_a_program_read_as_hours():
    # `7am` is a Python syntax error; small models copy times unquoted from the formulation
    code = textwrap.dedent("""
        p = Puzzle()
        visit = p.Int("visit", hour("5am"), 20)
        p.add(Not(between(visit, "5am", 7am)), visit < 9pm)  # from 5am to 7am
        p.add(Not(between(visit, 8am, "9pm")))
        answer(p.choose({"A": between(visit, "5am", "7am"), "B": between(visit, 7am, 8am)}, mode="must"))
    """)
    r = execute(code, backend="z3")
    assert (r.status, r.answer) == ("ok", "B"), r


@pytest.mark.parametrize("code, error", [
    # another syntax error remains after the fix: the original error is reported
    ('x = 7am\nprint("at 7pm" 1)', "line 1: SyntaxError: invalid decimal literal"),
    # nothing to fix on the failing line, and a time inside a string is never touched
    ('print("8am")\ny = (', "line 2: SyntaxError: '(' was never closed"),
])
def test_clock_time_fix_leaves_other_syntax_errors_alone(code, error):
    r = execute(code, backend="z3")
    assert (r.status, r.error) == ("syntax_error", error)


def test_pred_properties_read_as_calls_and_as_lookups():
    # formulations write rules as `red(x) -> nice(x)`; programs that keep the call syntax must work
    code = textwrap.dedent("""
        p = Puzzle()
        people = "bob gary"
        red, nice = p.Pred("red", people), p.Pred("nice", people)
        for x in ["bob", "gary"]:
            p.add(Implies(red(x), nice[x]))
        p.add(red(Bob))                    # individuals are also names, and case does not matter
        answer(p.truth(nice("bob")) + " " + p.truth(nice[gary]))
    """)
    r = execute(code, backend="z3")
    assert (r.status, r.answer) == ("ok", "True Unknown"), r


@pytest.mark.parametrize("text, hours", [
    ("8am", 8), ("4pm", 16), ("12pm", 12), ("12am", 0),  # noon and midnight are the 12-hour clock's traps
    ("9 p.m.", 21), ("11:00AM", 11), ("noon", 12), ("midnight", 0), (7, 7),
])
def test_hour_reads_clock_times(text, hours):
    r = execute(f"answer(hour({text!r}))", backend="z3")
    assert (r.status, r.answer) == ("ok", str(hours)), r


def test_between_finds_the_free_slot_of_a_schedule():
    # BBH temporal_sequences shape: seen elsewhere 8am-12pm and 1pm-6pm, up at 8am, closed at 6pm
    code = textwrap.dedent("""
        p = Puzzle()
        visit = p.Int("visit", hour("8am"), hour("6pm") - 1)
        p.add(Not(between(visit, "8am", "12pm")), Not(between(visit, "1pm", "6pm")))
        answer(p.choose({"A": between(visit, "8am", "12pm"), "B": between(visit, "12pm", "1pm")}, mode="must"))
    """)
    r = execute(code, backend="z3")
    assert (r.status, r.answer) == ("ok", "B"), r


@pytest.mark.parametrize("code, message", [
    ('p = Puzzle()\npos = p.Order("a b")\npos["c"]', "'c' is not one of the ordered objects"),
    ('p = Puzzle()\np.Order("a b a")', "same name twice"),
    ('p = Puzzle()\na, b = p.Assign("a b", "x y")\np.size("z")', "'z' is not one of the groups ['x', 'y']"),
    ('p = Puzzle()\np.size(1)', "call p.Assign first"),
    ('p = Puzzle()\npos = p.Order("a b")\np.add(pos[0] == 1)\np.solve().at(pos, 5)', "no object is at position 5"),
    ('p = Puzzle()\nred = p.Pred("red", ["bob"])\nred["sam"]', "'sam' is not one of the individuals of 'red': ['bob']"),
    ('hour("13pm")', "not a 12-hour clock time"),
    ('hour("8:30am")', "not on the hour"),
    ('hour("later")', "needs a clock time such as '8am'"),
])
def test_order_helper_errors_name_the_mistake(code, message):
    r = execute(code, backend="z3")
    assert r.status == "runtime_error"
    assert message in r.stderr


def test_declared_variables_are_also_defined_under_their_own_names():
    code = textwrap.dedent("""
        p = Puzzle()
        ann, b = p.Bools("a b")           # Python name differs from the declared name
        p.Order(["Rob", "blue jay"])       # result not even kept
        And = "mine"                       # a name the program bound itself is never replaced
        p.Int("And", 1, 1)
        p.add(ann == Not(b), b == True, rob == 2)
        m = p.solve()
        answer(f"{m[a]} {m[blue_jay]} {m[Rob]} {And}")
    """)
    r = execute(code, backend="z3")
    assert r.status == "ok", r
    assert r.answer == "False 1 2 mine"
