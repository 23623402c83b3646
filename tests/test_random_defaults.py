"""The built-in matrices of rankwise.random: default_matrix and lognormal_pair."""

from __future__ import annotations

import numpy as np
import pytest

from rankwise.random import DEFAULT_RATE, DEFAULT_SHAPE, default_matrix, lognormal_pair, low_rank_matrix


def test_default_matrix_has_the_announced_spectrum() -> None:
    A, S = default_matrix(rng=0)
    assert A.shape == DEFAULT_SHAPE == (1000, 800) and A.dtype == np.float64 and DEFAULT_RATE == 0.9
    np.testing.assert_array_equal(S, 0.9 ** np.arange(800))
    np.testing.assert_allclose(np.linalg.svd(A, compute_uv=False)[:200], S[:200], rtol=1e-9, atol=1e-14)


def test_default_matrix_optimal_error_is_the_closed_form() -> None:
    A, S = default_matrix(rng=1)
    U, s, Vh = np.linalg.svd(A, full_matrices=False)
    k = 44
    rel = np.linalg.norm(A - (U[:, :k] * s[:k]) @ Vh[:k]) / np.linalg.norm(A)
    closed = np.sqrt((0.81**k - 0.81**800) / (1 - 0.81**800))  # Σ_{i≥k} 0.81^i / Σ_i 0.81^i
    assert rel == pytest.approx(closed, rel=1e-8)
    assert rel == pytest.approx(0.9**k, rel=1e-12)


def test_default_matrix_is_seeded_and_equals_low_rank_matrix() -> None:
    A0, _ = default_matrix(rng=3)
    A1, _ = default_matrix(rng=np.random.default_rng(3))
    np.testing.assert_array_equal(A0, A1)
    np.testing.assert_array_equal(A0, low_rank_matrix(1000, 800, 0.9 ** np.arange(800), rng=3).A)
    assert not np.array_equal(A0, default_matrix(rng=4).A)


def test_lognormal_pair_shapes_and_seed() -> None:
    A, B = lognormal_pair(rng=0)
    assert A.shape == (500, 2000) and B.shape == (2000, 400)
    A2, B2 = lognormal_pair(rng=0)
    assert np.array_equal(A, A2) and np.array_equal(B, B2)
    assert lognormal_pair(3, 5, 2, rng=1).A.shape == (3, 5)


def test_lognormal_pair_is_g1_diag_s_and_diag_s_g2() -> None:
    # the construction its docstring states, draw by draw (the matrix `rankwise matmul` runs on)
    gen = np.random.default_rng(7)
    s = np.exp(gen.standard_normal(30))
    G1, G2 = gen.standard_normal((4, 30)), gen.standard_normal((30, 6))
    A, B = lognormal_pair(4, 30, 6, rng=7)
    np.testing.assert_array_equal(A, G1 * s)
    np.testing.assert_array_equal(B, s[:, None] * G2)


def test_lognormal_pair_outer_products_have_log_normal_sizes() -> None:
    m, n, p = 400, 3000, 400
    A, B = lognormal_pair(m, n, p, rng=2)
    log_a = np.log(np.linalg.norm(A, axis=0) / np.sqrt(m))  # ≈ log s_i, standard normal
    log_b = np.log(np.linalg.norm(B, axis=1) / np.sqrt(p))
    for x in (log_a, log_b):
        assert abs(x.mean()) < 0.1 and x.std() == pytest.approx(1.0, abs=0.1)
    np.testing.assert_allclose(log_a, log_b, atol=0.3)  # the same scale s_i on both sides


def test_lognormal_pair_checks_its_sizes() -> None:
    with pytest.raises(ValueError, match=r"^lognormal_pair: 'n' must be"):
        lognormal_pair(3, 0, 2)
