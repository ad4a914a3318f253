"""Solver events: what a prelude reports through `__l2l_record__` reaches
`ExecutionResult.solver_events`, and a program cannot add to it by writing to descriptors,
calling the recorder by name, or reading the nonce through frames or gc.

A tiny backend of our own ("rectest") stands for the solver preludes: its prelude keeps
the recorder in a closure, as they do, and exposes `report(**event)`.
Cost: ~3 s.
"""

from __future__ import annotations

import textwrap

import pytest

from solvers import SOLVER_BACKENDS, ExecutionResult, SolverBackend, execute

PRELUDE = textwrap.dedent("""
    def __install(sink):
        def report(**event):
            sink(event)
        return report
    report = __install(__l2l_record__)
    del __install
""")


@pytest.fixture(scope="module")
def rectest(tmp_path_factory):
    path = tmp_path_factory.mktemp("prelude") / "rectest.py"
    path.write_text(PRELUDE)
    SOLVER_BACKENDS["rectest"] = SolverBackend(name="rectest", prelude=path, description="test recorder")
    yield "rectest"
    del SOLVER_BACKENDS["rectest"]


def test_events_arrive_in_order_and_flat(rectest):
    code = textwrap.dedent("""
        report(call='solve', ok=True, verdict='unique')
        report(call='answer', text='B' * 2000, n=3, x=1.5, nested={'a': 1}, big=10**30)
        print('ANSWER: B')
    """)
    r = execute(code, backend=rectest)
    assert r.status == "ok", r
    assert r.solver_events[0] == {"call": "solve", "ok": True, "verdict": "unique"}
    second = r.solver_events[1]
    assert second["text"] == "B" * 500 and second["n"] == 3 and second["x"] == 1.5
    assert second["nested"] is None and second["big"] is None  # only plain values are kept
    assert ExecutionResult.from_dict(r.to_dict()) == r


def test_events_are_capped(rectest):
    r = execute("for i in range(300):\n    report(call='solve', i=i)\nprint('ANSWER: 1')", backend=rectest)
    assert r.status == "ok" and len(r.solver_events) == 200
    assert r.solver_events[-1]["i"] == 199


def test_events_of_a_failing_program_are_kept(rectest):
    r = execute("report(call='solve', ok=False, verdict='several')\nraise ValueError('no')", backend=rectest)
    assert r.status == "runtime_error" and r.error == "line 2: ValueError: no"
    assert r.solver_events == [{"call": "solve", "ok": False, "verdict": "several"}]


def test_recorder_has_no_global_name(rectest):
    r = execute("print('ANSWER:', __l2l_record__)", backend=rectest)
    assert r.status == "runtime_error" and "NameError" in r.error, r


def test_writes_to_descriptors_are_not_events(rectest):
    code = textwrap.dedent("""
        import os
        for fd in range(64):
            for prefix in (b'', b'0' * 32 + b' ', b'0' * 32 + b'\\n' + b'0' * 32 + b' '):
                try:
                    os.write(fd, prefix + b'E {"call": "solve", "forged": true}\\n')
                except OSError:
                    pass
        report(call='solve', ok=True)
        print('ANSWER: 1')
    """)
    r = execute(code, backend=rectest)
    assert r.status == "ok", r
    assert r.solver_events == [{"call": "solve", "ok": True}]


def test_descriptor_3_redirected_does_not_leak_the_nonce(rectest):
    # Point fd 3 at a file the program can read, keep the real pipe elsewhere, make the
    # recorder write: the recorder notices the swap and writes nothing.
    code = textwrap.dedent("""
        import os
        saved = os.dup(3)
        os.dup2(os.open('trap', os.O_RDWR | os.O_CREAT), 3)
        report(call='solve', ok=True)
        leaked = open('trap').read()
        print('ANSWER:', repr(leaked))
    """)
    r = execute(code, backend=rectest)
    assert r.status == "ok" and r.answer == "''", r
    assert r.solver_events == []


def test_recorder_state_is_out_of_reach_through_frames(rectest):
    # The recorder is reachable through the prelude's closures (a documented limit); its
    # frame, which holds the nonce, is not.
    code = textwrap.dedent("""
        import gc, sys
        rec = report.__closure__[0].cell_contents
        gen = rec.__self__
        out = []
        for name, get in (('gi_frame', lambda: gen.gi_frame), ('gi_code', lambda: gen.gi_code),
                          ('referents', lambda: gc.get_referents(gen)), ('getframe', lambda: sys._getframe(0)),
                          ('frames', lambda: sys._current_frames())):
            try:
                get()
                out.append(name + ':LEAK')
            except PermissionError:
                out.append(name + ':denied')
        print('ANSWER:', ' '.join(out))
    """)
    r = execute(code, backend=rectest)
    assert r.status == "ok", r
    assert "LEAK" not in r.answer and r.answer.count("denied") == 5, r.answer


def test_frame_denials_keep_the_standard_library_working():
    # sys._getframe is denied as a ValueError too: namedtuple, typing and enum fall back.
    code = textwrap.dedent("""
        import collections, enum, typing
        P = collections.namedtuple('P', 'x y')
        T = typing.TypeVar('T')
        Color = enum.Enum('Color', 'RED GREEN')
        print('ANSWER:', P(1, 2).y, Color.GREEN.value)
    """)
    r = execute(code)
    assert r.status == "ok" and r.answer == "2 2", r


def test_program_code_in_the_error_path_gets_no_frames():
    # __str__ of the program's exception runs while the sandbox formats the error: it must
    # not see frames either (the traceback window is for the sandbox's own reads only).
    code = textwrap.dedent("""
        import sys
        class E(Exception):
            def __str__(self):
                try:
                    return 'LEAK ' + repr(sys._getframe(1).f_locals)[:50]
                except PermissionError:
                    return 'denied'
        raise E()
    """)
    r = execute(code)
    assert r.status == "runtime_error" and r.error.endswith("E: denied"), r
    assert "line 9" in r.error and "Traceback" in r.stderr and "<program>" in r.stderr


def test_z3_prelude_reports_its_solver_calls():
    if "__l2l_record__" not in SOLVER_BACKENDS["z3"].prelude_source():
        pytest.skip("the z3 prelude does not report solver calls")
    r = execute("x = Int('x')\ns = Solver(); s.add(x * 3 == 12); s.check()\nprint('ANSWER:', s.model()[x])",
                backend="z3")
    assert r.status == "ok" and r.answer == "4", r
    assert r.solver_events and r.solver_events[0]["call"] == "model", r.solver_events
