import math

from auditor.probe import stats


def test_wilson_known_values():
    lo, hi = stats.wilson(0, 32)
    assert lo == 0.0 and 0.10 < hi < 0.11
    lo, hi = stats.wilson(32, 32)
    assert hi == 1.0 and 0.89 < lo < 0.90
    lo, hi = stats.wilson(16, 32)
    assert math.isclose(lo + hi, 1.0, abs_tol=1e-3)
    assert stats.wilson(0, 0) == (0.0, 1.0)


def test_fisher_matches_hypergeometric_tail():
    # all 8 hits in group 1 of 8 vs 0 of 8: p = 1 / C(16, 8)
    assert math.isclose(stats.fisher_greater(8, 8, 0, 8), 1 / math.comb(16, 8), rel_tol=1e-9)
    # equal rates: not significant
    assert stats.fisher_greater(4, 8, 4, 8) > 0.5
    # group 1 lower than group 2: p close to 1
    assert math.isclose(stats.fisher_greater(0, 8, 8, 8), 1.0, abs_tol=1e-9)


def test_holm_is_monotone_and_bounded():
    adj = stats.holm([0.01, 0.04, 0.03, 0.5])
    assert adj[0] == 0.04  # 4 * 0.01
    assert adj[2] == max(0.04, 3 * 0.03)
    assert adj[1] == max(adj[2], 2 * 0.04)
    assert adj[3] == 0.5
    assert all(0 <= p <= 1 for p in adj)
