from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise import lstsq, pinv
from tests.helpers import rank_deficient


def _moore_penrose(A: np.ndarray, X: np.ndarray, tol: float) -> None:
    H = lambda M: M.conj().T  # noqa: E731
    scale = np.linalg.norm(A, 2) * np.linalg.norm(X, 2)
    assert np.linalg.norm(A @ X @ A - A) <= tol * np.linalg.norm(A) * scale
    assert np.linalg.norm(X @ A @ X - X) <= tol * np.linalg.norm(X) * scale
    assert np.linalg.norm(A @ X - H(A @ X)) <= tol * scale
    assert np.linalg.norm(X @ A - H(X @ A)) <= tol * scale


@pytest.mark.parametrize(("m", "n", "r"), [(30, 20, 20), (20, 30, 20), (30, 20, 7), (20, 30, 5), (25, 25, 25)])
@pytest.mark.parametrize("complex_", [False, True])
def test_moore_penrose_conditions(m: int, n: int, r: int, complex_: bool) -> None:
    A = rank_deficient(m, n, r, seed=m + n + r, complex_=complex_)
    X = pinv(A)
    assert X.shape == (n, m) and X.dtype == A.dtype
    _moore_penrose(A, X, 1e-11)
    np.testing.assert_allclose(X, np.linalg.pinv(A), atol=1e-10)


def test_pinv_zero_matrix_and_rtol() -> None:
    np.testing.assert_array_equal(pinv(np.zeros((3, 2))), np.zeros((2, 3)))
    A = np.diag([1.0, 1e-3, 1e-9])
    np.testing.assert_allclose(pinv(A, rtol=1e-6), np.diag([1.0, 1e3, 0.0]))
    np.testing.assert_allclose(pinv(A), np.diag([1.0, 1e3, 1e9]))


def test_pinv_float32_and_torch() -> None:
    A = rank_deficient(12, 9, 9, seed=1).astype(np.float32)
    X = pinv(A)
    assert X.dtype == np.float32
    _moore_penrose(A.astype(np.float64), X.astype(np.float64), 1e-4)
    torch = pytest.importorskip("torch")
    T = pinv(torch.from_numpy(A))
    assert isinstance(T, torch.Tensor) and T.dtype == torch.float32
    np.testing.assert_allclose(T.numpy(), X, atol=1e-4)


@pytest.mark.parametrize(("m", "n", "r", "p"), [(40, 10, 10, 3), (10, 40, 10, 1), (40, 30, 6, 2)])
def test_lstsq_left_matches_scipy_min_norm(m: int, n: int, r: int, p: int, rng: np.random.Generator) -> None:
    A = rank_deficient(m, n, r, seed=r)
    B = rng.standard_normal((m, p))
    res = lstsq(A, B)
    ref = scipy.linalg.lstsq(A, B, lapack_driver="gelsd")[0]
    np.testing.assert_allclose(res.X, ref, atol=1e-9)
    assert res.rank == r
    np.testing.assert_allclose(res.residuals, np.sum((A @ ref - B) ** 2, axis=0), rtol=1e-8, atol=1e-10)


def test_lstsq_vector_and_right_side(rng: np.random.Generator) -> None:
    A = rank_deficient(15, 8, 5, seed=2)
    b = rng.standard_normal(15)
    x = lstsq(A, b).X
    assert x.shape == (8,)
    np.testing.assert_allclose(x, np.linalg.pinv(A) @ b, atol=1e-10)
    B = rng.standard_normal((4, 8))  # argmin ‖X A − B‖: X is 4×15
    X = lstsq(A, B, side="right").X
    np.testing.assert_allclose(X, B @ np.linalg.pinv(A), atol=1e-10)
    # minimum norm: adding any vector from the null space of Aᵀ (on the right) only grows ‖X‖
    N = scipy.linalg.null_space(A.T).T
    assert np.linalg.norm(X) < np.linalg.norm(X + rng.standard_normal((4, N.shape[0])) @ N)
    xv = lstsq(A, rng.standard_normal(8), side="right").X
    assert xv.shape == (15,)


def test_normal_equations_lose_digits_where_lstsq_does_not(rng: np.random.Generator) -> None:
    """κ(X) = 1e8: (XᵀX)⁻¹Xᵀy squares κ to 1e16 and loses everything; the SVD route keeps ~8 digits."""
    from rankwise.random import low_rank_matrix

    s = np.logspace(0, -8, 10)
    X, _ = low_rank_matrix(200, 10, s, rng=5)
    w = rng.standard_normal(10)
    y = X @ w
    w_svd = lstsq(X, y).X
    with np.errstate(all="ignore"):
        w_normal = np.linalg.solve(X.T @ X, X.T @ y)
    err_svd = np.linalg.norm(w_svd - w) / np.linalg.norm(w)
    err_normal = np.linalg.norm(w_normal - w) / np.linalg.norm(w)
    assert err_svd < 1e-6
    assert err_normal > 1e3 * err_svd


def test_lstsq_bad_input() -> None:
    A = np.ones((5, 3))
    with pytest.raises(ValueError, match=r"'B' must have 5 rows \(A's m\) for side='left'"):
        lstsq(A, np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"'B' must have 3 columns \(A's n\) for side='right'"):
        lstsq(A, np.ones((2, 5)), side="right")
    with pytest.raises(ValueError, match="unknown side 'up'"):
        lstsq(A, np.ones(5), side="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'B' must contain only finite values; got 1 NaN"):
        lstsq(A, np.array([1, 2, 3, 4, np.nan]))
    with pytest.raises(ValueError, match="'rtol' must be a number"):
        pinv(A, rtol=-1.0)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 12), n=st.integers(1, 12), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64, np.complex128]))
def test_pinv_hypothesis(m: int, n: int, seed: int, dtype: type) -> None:
    g = np.random.default_rng(seed)
    A = g.standard_normal((m, n)).astype(dtype)
    X = pinv(A)
    assert X.shape == (n, m) and X.dtype == dtype
    tol = 1e-3 if dtype == np.float32 else 1e-9
    _moore_penrose(A.astype(np.complex128), X.astype(np.complex128), tol)
