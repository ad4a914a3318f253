"""z3 prelude conveniences the prompts rely on: `n` after p.Order, singular/plural names.
Each runs a real program in the sandbox."""
import textwrap

from solvers import execute


def test_order_sets_n_to_the_last_position_for_counting_from_the_far_end():
    code = textwrap.dedent("""
        p = Puzzle()
        places = p.Order("a b c d e")
        a, b, c, d, e = places
        p.add(a == n, b == n - 1, c == 1, d < e)
        m = p.solve()
        answer(f"{n} {m[a]} {m[b]} {m.at(places, 2)}")
    """)
    r = execute(code, backend="z3")
    assert r.status == "ok", r
    assert r.answer == "5 5 4 d"


def test_n_bound_by_the_program_is_not_replaced():
    code = "n = 7\np = Puzzle()\nx, y = p.Order('x y')\nanswer(n)"
    assert execute(code, backend="z3").answer == "7"


def test_declared_plural_is_reachable_as_singular_and_back():
    code = textwrap.dedent("""
        p = Puzzle()
        p.Order(["kiwis", "plum", "bus"])
        p.add(kiwi < plums, kiwis == 1, bu == 3)   # singular of kiwis, plural of plum
        m = p.solve()
        answer(f"{m[kiwis]} {m[plum]} {m[bus]}")
    """)
    r = execute(code, backend="z3")
    assert r.status == "ok", r
    assert r.answer == "1 2 3"
