"""The accuracy table's statistics, table-driven against published references. (<2 s)

Reference values were computed with scipy 1.17 (`binomtest(k, n).proportion_ci(method="wilson")`,
`binomtest(b, b + c, 0.5).pvalue`) and agree with the worked examples in Newcombe (1998) and
Agresti's McNemar examples; they are written out so the test runs without scipy.
"""

from __future__ import annotations

import math

import pytest

from l2l.eval.stats import bootstrap_diff_interval, compare_paired, mcnemar_exact, wilson_interval

# (successes, n, low, high)
WILSON = [
    (0, 10, 0.0, 0.277533),  # none right: the interval still has width (the normal one would be [0, 0])
    (10, 10, 0.722467, 1.0),  # all right: mirror image of 0/10, upper end exactly 1
    (5, 10, 0.236593, 0.763407),  # half: symmetric around 0.5
    (81, 263, 0.255289, 0.366210),  # Newcombe's example (81/263), an asymmetric interval
    (1, 1, 0.206549, 1.0),  # one item: almost no information
    (0, 1, 0.0, 0.793451),  # ... its mirror
    (50, 100, 0.403832, 0.596168),  # a full 100-item cell at 50%: about +-10 points
    (9, 20, 0.258198, 0.657915),  # the README's 9/20 LogicalDeduction reading: +-20 points
]


@pytest.mark.parametrize("k,n,low,high", WILSON)
def test_wilson_interval_matches_reference(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-6) and hi == pytest.approx(high, abs=1e-6)


def test_wilson_interval_edge_cases():
    assert wilson_interval(0, 0) == (0.0, 1.0)  # an empty cell says nothing
    with pytest.raises(ValueError):
        wilson_interval(11, 10)  # more successes than items is a caller bug, not a number


# (A right & B wrong, B right & A wrong, exact two-sided p)
MCNEMAR = [
    (0, 0, 1.0),  # no discordant pairs: no evidence either way
    (0, 1, 1.0),  # one discordant pair can never be significant
    (0, 5, 0.0625),  # 2 * (1/2)^5: five to nothing is still not below 0.05
    (1, 9, 0.021484375),  # 2 * (1 + 10) / 2^10
    (9, 1, 0.021484375),  # symmetric in the two methods
    (2, 8, 0.109375),  # 2 * (1 + 10 + 45) / 2^10
    (5, 5, 1.0),  # a tie: the doubled tail is capped at 1
    (3, 12, 0.03515625),  # 2 * (1 + 15 + 105 + 455) / 2^15
    (10, 20, 0.09873714670538905),  # larger n, still exact (no normal approximation)
]


@pytest.mark.parametrize("b,c,p", MCNEMAR)
def test_mcnemar_exact_matches_reference(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)


def test_mcnemar_against_scipy_when_installed():
    stats = pytest.importorskip("scipy.stats")
    for b in range(0, 12):
        for c in range(0, 12):
            expected = stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
            assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)


def _pairs(a_only: int, b_only: int, both: int, neither: int) -> list[tuple[bool, bool]]:
    return [(True, False)] * a_only + [(False, True)] * b_only + [(True, True)] * both + [(False, False)] * neither


# (A right & B wrong, B right & A wrong, both right, both wrong, expected interval, tolerance)
BOOTSTRAP = [
    (0, 0, 30, 20, (0.0, 0.0), 0.0),  # no discordant pairs: the difference cannot vary
    (10, 0, 0, 0, (1.0, 1.0), 0.0),  # A always right, B always wrong: difference exactly 1
    # B better on 10 of 20: normal approximation -0.5 +- 1.96 * sqrt(10 - 10^2/20) / 20 = (-0.719, -0.281).
    (0, 10, 5, 5, (-0.719, -0.281), 0.025),
    # 20 vs 10 discordant of 100: the normal approximation of the paired difference is
    # 0.10 +- 1.96 * sqrt(30 - 10^2/100) / 100 = (-0.006, 0.206); the bootstrap agrees within 0.015.
    (20, 10, 30, 40, (-0.006, 0.206), 0.015),
]


@pytest.mark.parametrize("b,c,both,neither,expected,tol", BOOTSTRAP)
def test_paired_bootstrap_interval(b, c, both, neither, expected, tol):
    lo, hi = bootstrap_diff_interval(_pairs(b, c, both, neither))
    assert lo == pytest.approx(expected[0], abs=tol) and hi == pytest.approx(expected[1], abs=tol)


def test_bootstrap_is_deterministic_and_seeded():
    pairs = _pairs(7, 4, 20, 19)
    assert bootstrap_diff_interval(pairs, seed=3) == bootstrap_diff_interval(pairs, seed=3)  # same seed, same table
    assert bootstrap_diff_interval(pairs, seed=3) != bootstrap_diff_interval(pairs, seed=4)  # the seed is used


def test_compare_paired_uses_only_common_items_in_id_order():
    a = {"q1": True, "q2": True, "q3": False, "q4": True, "only_a": True}
    b = {"q4": False, "q3": True, "q2": True, "q1": False, "only_b": False}
    c = compare_paired(a, b)
    assert c.n == 4  # only_a and only_b are not paired
    assert (c.a_only, c.b_only) == (2, 1)  # q1, q4 vs q3
    assert c.accuracy_a == 0.75 and c.accuracy_b == 0.5 and c.diff == pytest.approx(0.25)
    assert c.p_mcnemar == 1.0  # 2 vs 1 discordant
    assert c.ci_low <= c.diff <= c.ci_high
    # Dict order must not matter: the same pairs in another order give the same interval.
    again = compare_paired(dict(reversed(list(a.items()))), b)
    assert (again.ci_low, again.ci_high) == (c.ci_low, c.ci_high)
    assert math.isclose(compare_paired({}, {}).p_mcnemar, 1.0)  # no common items: nothing to test
