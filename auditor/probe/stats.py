"""The statistics behind every behavioural finding: intervals, exact tests,
multiple-comparison correction. Pure Python so results are identical everywhere."""

from __future__ import annotations

import math
from typing import Sequence

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial rate (well-behaved at 0 and 1)."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_greater(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided Fisher exact p-value that rate 1 (k1/n1) exceeds rate 2 (k2/n2)."""
    total_k = k1 + k2
    total_n = n1 + n2
    lo = max(0, total_k - n2)
    hi = min(total_k, n1)
    denom = _log_comb(total_n, total_k)
    p = 0.0
    for x in range(max(k1, lo), hi + 1):
        p += math.exp(_log_comb(n1, x) + _log_comb(n2, total_k - x) - denom)
    return min(1.0, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (controls family-wise error)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def rate(k: int, n: int) -> float:
    return round(k / n, 4) if n else 0.0
