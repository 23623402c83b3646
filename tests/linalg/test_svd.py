from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise import select_rank, svd
from tests.helpers import matrix


def _fro_tail(s: np.ndarray, k: int) -> float:
    return float(np.sqrt(np.sum(s[k:] ** 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_fixed_rank_reaches_eckart_young(dtype: type) -> None:
    A, s = matrix(60, 40, "poly", dtype=dtype)
    (U, S, Vh), rep = svd(A, 7, report=True)
    assert U.shape == (60, 7) and S.shape == (7,) and Vh.shape == (7, 40)
    assert U.dtype == dtype and Vh.dtype == dtype
    err = np.linalg.norm(A - (U * S) @ Vh)
    tol = 1e-5 if dtype in (np.float32, np.complex64) else 1e-12
    assert abs(err - _fro_tail(s, 7)) <= tol * np.linalg.norm(A)
    assert rep.fro_error == pytest.approx(_fro_tail(s, 7), rel=1e-4)
    assert rep.spectral_error == pytest.approx(s[7], rel=1e-4)
    assert rep.optimal_fro_error == rep.fro_error and rep.fro_ratio == 1.0
    assert rep.storage_after == 7 * (60 + 40 + 1) and rep.storage_before == 2400


def test_thin_svd_when_no_target() -> None:
    A, _ = matrix(20, 30)
    U, S, Vh = svd(A)
    assert U.shape == (20, 20)
    np.testing.assert_allclose((U * S) @ Vh, A, atol=1e-12)


@pytest.mark.parametrize("tol", [0.3, 1e-2, 1e-4])
def test_tolerance_picks_the_smallest_rank(tol: float) -> None:
    A, s = matrix(80, 50, "exp")
    (U, S, Vh), rep = svd(A, tol=tol, report=True)
    k = rep.rank
    norm = np.linalg.norm(A)
    assert np.linalg.norm(A - (U * S) @ Vh) <= tol * norm * (1 + 1e-9)
    assert _fro_tail(s, k - 1) > tol * norm  # k - 1 would not do
    assert rep.rel_fro_error <= tol


@pytest.mark.parametrize("energy", [0.5, 0.9, 0.999, 1.0])
def test_energy_picks_the_smallest_rank(energy: float) -> None:
    A, s = matrix(50, 40, "poly")
    _, rep = svd(A, energy=energy, report=True)
    k = rep.rank
    total = np.sum(s**2)
    assert np.sum(s[:k] ** 2) >= energy * total * (1 - 1e-12)
    assert k == 1 or np.sum(s[: k - 1] ** 2) < energy * total


def test_select_rank_accounts_for_the_unseen_part() -> None:
    s = np.array([3.0, 2.0, 1.0])
    assert select_rank(s, tol=0.2) == 3
    assert select_rank(s, tol=0.2, total=14.0 + 10.0) is None
    assert select_rank(s, energy=9 / 14) == 1
    assert select_rank(np.zeros(3), tol=0.1) == 1


def test_torch_in_torch_out() -> None:
    torch = pytest.importorskip("torch")
    A, s = matrix(30, 20, "exp", dtype=np.float32)
    U, S, Vh = svd(torch.from_numpy(A), 5)
    assert all(isinstance(x, torch.Tensor) for x in (U, S, Vh)) and U.dtype == torch.float32
    np.testing.assert_allclose(S.numpy(), s[:5], rtol=1e-5)
    Ui, Si, Vhi = svd(torch.arange(12).reshape(4, 3), 2)
    assert Ui.dtype == torch.float64


def test_integer_input_gives_float64() -> None:
    U, S, Vh = svd(np.arange(12).reshape(4, 3), 2)
    assert U.dtype == np.float64


@pytest.mark.parametrize(("kwargs", "exc", "msg"), [
    ({"rank": 0}, ValueError, r"'rank' must be an int in \[1, min\(m, n\)\] = \[1, 4\]; got 0"),
    ({"rank": 5}, ValueError, r"got 5 \(A has shape \(6, 4\)\)"),
    ({"rank": 2.0}, TypeError, r"'rank' must be an int"),
    ({"rank": 2, "tol": 0.1}, ValueError, r"give at most one of 'rank', 'tol', 'energy'"),
    ({"tol": 0.1, "energy": 0.9}, ValueError, r"got tol=0.1, energy=0.9"),
    ({"tol": 0.0}, ValueError, r"'tol' must be a number in \(0, 1\)"),
    ({"energy": 1.5}, ValueError, r"'energy' must be a number in \(0, 1\]"),
])
def test_bad_targets(kwargs: dict, exc: type, msg: str) -> None:
    with pytest.raises(exc, match=msg):
        svd(np.ones((6, 4)), **kwargs)


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 15), n=st.integers(1, 15), data=st.data(),
       dtype=st.sampled_from([np.float32, np.float64, np.complex64]))
def test_svd_hypothesis_shapes(m: int, n: int, data: st.DataObject, dtype: type) -> None:
    k = data.draw(st.integers(1, min(m, n)))
    A = np.random.default_rng(m * 31 + n).standard_normal((m, n)).astype(dtype)
    (U, S, Vh), rep = svd(A, k, report=True)
    assert U.shape == (m, k) and Vh.shape == (k, n) and U.dtype == dtype
    s = np.linalg.svd(A.astype(np.complex128), compute_uv=False)
    err = np.linalg.norm((A - (U * S) @ Vh).astype(np.complex128))
    atol = 1e-4 if dtype in (np.float32, np.complex64) else 1e-10
    assert abs(err - _fro_tail(s, k)) <= atol * max(1.0, np.linalg.norm(s))
