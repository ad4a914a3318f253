"""Error bars for the accuracy table: a Wilson interval per cell, and a paired comparison of two
methods on the same items (exact McNemar test, paired bootstrap interval of the difference).

Pure Python on purpose: the table must come out the same on every machine, and the bootstrap
draws only `random.Random.random()`, the one stream Python promises to keep across versions.

    >>> lo, hi = wilson_interval(5, 10); round(lo, 4), round(hi, 4)
    (0.2366, 0.7634)
    >>> mcnemar_exact(1, 9)
    0.021484375
    >>> c = compare_paired({"a": True, "b": True, "c": False}, {"a": True, "b": False, "c": False})
    >>> c.n, c.diff, c.a_only, c.b_only
    (3, 0.3333333333333333, 1, 0)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Two-sided 95%: the 0.975 quantile of the standard normal.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); (0, 1) when n is 0.

    Wilson rather than the normal approximation: at 0/n or n/n, which small cells hit, the
    normal interval collapses to a point.

    >>> wilson_interval(0, 10)[0], round(wilson_interval(0, 10)[1], 4)
    (0.0, 0.2775)
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Clamp float noise at the ends (0/n must give exactly 0, n/n exactly 1).
    return max(0.0, centre - half) if successes else 0.0, min(1.0, centre + half) if successes < n else 1.0


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p: the binomial test of the discordant pairs against 1/2.

    `a_only`: items method A got right and B wrong; `b_only`: the reverse. Concordant items
    carry no information about which method is better. p is 1 with no discordant pairs.

    >>> mcnemar_exact(0, 5), mcnemar_exact(5, 5)
    (0.0625, 1.0)
    """
    if a_only < 0 or b_only < 0:
        raise ValueError("discordant counts must be >= 0")
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1))
    # Exact integer arithmetic until the one division, so large n does not lose the tail.
    return min(1.0, 2 * tail / 2**n)


def bootstrap_diff_interval(pairs: list[tuple[bool, bool]], resamples: int = 10_000, seed: int = 0,
                            level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of accuracy(A) - accuracy(B) from a paired bootstrap over items.

    Items are resampled with replacement, each keeping both methods' results, so the interval
    reflects that the methods saw the same questions. Deterministic for a given seed.

    >>> bootstrap_diff_interval([(True, True)] * 5)
    (0.0, 0.0)
    """
    n = len(pairs)
    if n == 0:
        return 0.0, 0.0
    per_item = [int(a) - int(b) for a, b in pairs]
    rng = random.Random(seed)
    draw = rng.random
    diffs = sorted(sum(per_item[int(draw() * n)] for _ in range(n)) / n for _ in range(resamples))
    alpha = (1 - level) / 2
    lo = diffs[max(0, math.floor(alpha * resamples))]
    hi = diffs[min(resamples - 1, math.ceil((1 - alpha) * resamples) - 1)]
    return lo, hi


@dataclass(frozen=True)
class PairedComparison:
    """Method A against method B on the items both answered (finished) in the same cell."""

    n: int  # items in common
    accuracy_a: float
    accuracy_b: float
    diff: float  # accuracy_a - accuracy_b
    ci_low: float  # paired bootstrap 95% interval of diff
    ci_high: float
    a_only: int  # A right, B wrong
    b_only: int  # B right, A wrong
    p_mcnemar: float


def compare_paired(a: dict[str, bool], b: dict[str, bool], resamples: int = 10_000, seed: int = 0) -> PairedComparison:
    """Compare two methods' correctness by item id, over the ids both have (in sorted id order,
    so the bootstrap does not depend on file order).

    >>> compare_paired({"x": True}, {"y": False}).n
    0
    """
    ids = sorted(set(a) & set(b))
    pairs = [(bool(a[i]), bool(b[i])) for i in ids]
    n = len(pairs)
    a_only = sum(1 for x, y in pairs if x and not y)
    b_only = sum(1 for x, y in pairs if y and not x)
    acc_a = sum(x for x, _ in pairs) / n if n else 0.0
    acc_b = sum(y for _, y in pairs) / n if n else 0.0
    lo, hi = bootstrap_diff_interval(pairs, resamples=resamples, seed=seed)
    return PairedComparison(n, acc_a, acc_b, (a_only - b_only) / n if n else 0.0, lo, hi, a_only, b_only,
                            mcnemar_exact(a_only, b_only))


__all__ = ["PairedComparison", "bootstrap_diff_interval", "compare_paired", "mcnemar_exact", "wilson_interval"]
