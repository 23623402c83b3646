"""Range finder (HMT), orthonormalisation and the a-posteriori error estimate."""

from __future__ import annotations

import numpy as np
import pytest

from rankwise import estimate_error, range_finder, rsvd
from rankwise.linalg.sketch import orthonormalize
from rankwise.random import decay, low_rank_matrix


def test_hmt_expected_error_bound_holds_on_average() -> None:
    """HMT Thm 10.5 (q = 0): E‖A − QQᵀA‖_F ≤ (1 + k/(p−1))^{1/2} (Σ_{j>k} σ_j²)^{1/2}, 10% slack over 20 seeds."""
    k, p = 10, 5
    A, s = low_rank_matrix(200, 80, decay("exp", 80, rate=0.9), rng=0)
    errs = []
    for seed in range(20):
        Q = range_finder(A, k + p, power_iters=0, rng=seed)
        errs.append(np.linalg.norm(A - Q @ (Q.T @ A)))
    bound = (1 + k / (p - 1)) ** 0.5 * np.sqrt(np.sum(s[k:] ** 2))
    assert np.mean(errs) <= 1.1 * bound
    # and power iterations help, as the theory says
    Q2 = range_finder(A, k + p, power_iters=2, rng=0)
    assert np.linalg.norm(A - Q2 @ (Q2.T @ A)) < min(errs)


@pytest.mark.parametrize("normalizer", ["svqb", "qr", "lu", "none"])
def test_range_finder_normalizers_float32(normalizer: str) -> None:
    """float32 with re-normalisation matches float64; without it the small directions are lost."""
    A, s = low_rank_matrix(300, 200, decay("exp", 200, rate=0.8), dtype=np.float32, rng=1)
    A64 = A.astype(np.float64)

    def err(Q: np.ndarray) -> float:
        return float(np.linalg.norm(A64 - Q @ (Q.T @ A64)))

    ref = err(range_finder(A64, 25, power_iters=3, rng=0))
    Q = range_finder(A, 25, power_iters=3, normalizer=normalizer, rng=0)
    np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-10)
    if normalizer == "none":
        assert Q.shape[1] < 25 or err(Q) > 1.02 * ref
    else:
        assert Q.shape == (300, 25) and err(Q) <= 1.02 * ref


def test_orthonormalize_deflates_instead_of_amplifying_rounding() -> None:
    g = np.random.default_rng(0)
    W = np.linalg.qr(g.standard_normal((100, 10)))[0]
    Z = np.hstack([W @ g.standard_normal((10, 3)), g.standard_normal((100, 2))])  # 3 columns inside span(W)
    Q, _ = orthonormalize(Z, against=W)
    assert Q.shape == (100, 2)
    np.testing.assert_allclose(W.T @ Q, 0, atol=1e-13)
    np.testing.assert_allclose(Q.T @ Q, np.eye(2), atol=1e-13)
    Y = g.standard_normal((50, 6)) @ np.diag([1, 1e-3, 1e-6, 1e-9, 1e-12, 0.0])
    Q, R = orthonormalize(Y, want_r=True)
    np.testing.assert_allclose(Q @ R, Y, atol=1e-12)
    np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-12)
    assert Q.shape[1] == 5


def test_error_estimate_brackets_the_true_error() -> None:
    A, s = low_rank_matrix(300, 200, decay("poly", 200), rng=0)
    inside = 0
    spectral_ok = 0
    trials = 60
    for seed in range(trials):
        Q = range_finder(A, 15, power_iters=1, rng=seed)
        E = A - Q @ (Q.T @ A)
        est = estimate_error(A, Q, probes=10, confidence=0.9, rng=1000 + seed)
        inside += est.fro_low <= np.linalg.norm(E) <= est.fro_high
        spectral_ok += np.linalg.norm(E, 2) <= est.spectral_bound
    assert inside >= 0.8 * trials  # stated coverage 0.9; binomial slack for 60 trials
    assert spectral_ok == trials  # fails with probability 1e-10 per trial


def test_error_estimate_of_factors_and_rank_one_worst_case() -> None:
    A, s = low_rank_matrix(200, 100, decay("exp", 100, rate=0.7), rng=2)
    res = rsvd(A, 8, rng=0)
    est = estimate_error(A, res, probes=20, rng=0)
    true = np.linalg.norm(A - (res.U * res.S) @ res.Vh)
    assert est.fro_low <= true <= est.fro_high and est.probes == 20
    R1 = np.outer(np.arange(1, 41), np.ones(30))  # rank one residual: Q = 0 columns of nothing
    covered = sum(estimate_error(R1, np.zeros((40, 1)), confidence=0.9, rng=t).fro_low
                  <= np.linalg.norm(R1) <= estimate_error(R1, np.zeros((40, 1)), confidence=0.9, rng=t).fro_high
                  for t in range(100))
    assert 80 <= covered <= 98  # exact χ² coverage 0.9 in the rank-one case


def test_estimate_error_bad_input() -> None:
    A = np.ones((10, 8))
    with pytest.raises(ValueError, match=r"'approx' must be Q of shape \(m, l\) = \(10, l\)"):
        estimate_error(A, np.ones((9, 2)))
    with pytest.raises(ValueError, match="'approx' factors must have shapes"):
        estimate_error(A, (np.ones((10, 2)), np.ones(2), np.ones((2, 7))))
    with pytest.raises(ValueError, match=r"'probes' must be an int in \[1, inf\); got 0"):
        estimate_error(A, np.ones((10, 1)), probes=0)
    with pytest.raises(ValueError, match=r"'size' must be an int in \[1, min\(m, n\)\] = \[1, 8\]; got 9"):
        range_finder(A, 9)
    with pytest.raises(ValueError, match="unknown normalizer 'cholesky'"):
        range_finder(A, 2, normalizer="cholesky")  # type: ignore[arg-type]


def test_lu_normalizer_refused_for_array_api_strict() -> None:
    xp = pytest.importorskip("array_api_strict")
    A = xp.asarray(np.random.default_rng(0).standard_normal((20, 10)))
    with pytest.raises(ValueError, match="the array API has no LU factorisation; use normalizer='svqb'"):
        range_finder(A, 3, normalizer="lu")
    Q = range_finder(A, 3, rng=0)
    assert type(Q) is type(A)
