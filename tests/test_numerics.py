"""rankwise._numerics: the one numerical policy (eps per dtype, tolerance floors, energy ↔ tolerance)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise import _array, _numerics
from rankwise._numerics import (
    discarded_energy,
    energy_from_tol,
    eps,
    pinv_rtol,
    target_tol,
    tiny,
    tol_floor,
    tol_from_energy,
)

EPS64 = float(np.finfo(np.float64).eps)
FLOATS = [(np.float16, np.float16), (np.float32, np.float32), (np.float64, np.float64),
          (np.complex64, np.float32), (np.complex128, np.float64)]


@pytest.mark.parametrize(("dtype", "real"), FLOATS, ids=lambda d: np.dtype(d).name)
def test_eps_and_tiny_match_numpy(dtype: type, real: type) -> None:
    for spelling in (np.dtype(dtype), np.dtype(dtype).name):
        assert eps(spelling) == float(np.finfo(real).eps)
        assert tiny(spelling) == float(np.finfo(real).tiny)


def test_eps_of_torch_dtypes() -> None:
    torch = pytest.importorskip("torch")
    for dt in (torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128):
        assert eps(dt) == torch.finfo(dt).eps
        assert tiny(dt) == torch.finfo(dt).tiny


@pytest.mark.parametrize("x", [
    np.ones(2), np.ones(2, np.float32), np.ones(2, np.float16), np.ones(2, np.int64), np.ones(2, np.complex64),
    np.ones(2, np.complex128),
], ids=lambda x: x.dtype.name)
def test_array_eps_is_the_policy_eps(x: np.ndarray) -> None:
    real = np.float32 if x.dtype in (np.float16, np.float32, np.complex64) else np.float64
    assert _array.real_dtype_name(x) == np.dtype(real).name
    assert _array.eps(x) == float(np.finfo(real).eps)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tol_floor_is_ten_sqrt_eps(dtype: str) -> None:
    assert tol_floor(dtype) == _numerics.SQRT_EPS_FACTOR * math.sqrt(float(np.finfo(dtype).eps))
    assert tol_floor(dtype) == pytest.approx(10 * math.sqrt(float(np.finfo(dtype).eps)), rel=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tol", [1e-8, 1e-4, 3e-3, 0.1, 0.5, 0.99])
def test_target_tol_removes_the_indicator_rounding(dtype: str, tol: float) -> None:
    t = target_tol(tol, dtype)
    assert 0.5 * tol <= t <= tol
    reduced = tol * tol - _numerics.INDICATOR_ROUNDING * eps(dtype)
    assert t == (math.sqrt(reduced) if reduced >= 0.25 * tol * tol else 0.5 * tol)


def test_energy_tolerance_round_trip_is_exact_on_a_dyadic_grid() -> None:
    # t = k/64: t², 1 − t² and 1 − (1 − t²) are exact in float64, so the identity holds to the bit.
    for k in range(65):
        t = k / 64
        assert tol_from_energy(energy_from_tol(t)) == t
        assert energy_from_tol(tol_from_energy(1 - t)) == pytest.approx(1 - t, abs=2 * EPS64)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-6, max_value=1.0))
def test_energy_tolerance_round_trip_within_rounding(t: float) -> None:
    # 1 − t² is rounded once (an absolute error ≤ eps/2), so t comes back within eps/(2t) + ulp(t).
    back = tol_from_energy(energy_from_tol(t))
    assert abs(back - t) <= EPS64 / (2 * t) + EPS64 * t


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0.0, max_value=1.0))
def test_energy_tolerance_are_inverse_monotone(e: float) -> None:
    t = tol_from_energy(e)
    assert 0.0 <= t <= 1.0
    assert energy_from_tol(t) == pytest.approx(e, abs=2 * EPS64)
    assert tol_from_energy(min(e + 0.01, 1.0)) <= t


def test_tol_from_energy_of_a_full_energy_is_zero() -> None:
    assert tol_from_energy(1.0) == 0.0
    assert tol_from_energy(1.0 + 1e-12) == 0.0  # rounding above 1 is not a math domain error
    assert tol_from_energy(0.99) == pytest.approx(0.1, rel=1e-14)


def test_discarded_energy() -> None:
    assert discarded_energy(tol=0.1) == 0.1 * 0.1
    assert discarded_energy(energy=0.75) == 0.25
    for bad in ({}, {"tol": 0.1, "energy": 0.9}):
        with pytest.raises(ValueError, match="give exactly one of 'tol' and 'energy'"):
            discarded_energy(**bad)


@pytest.mark.parametrize("shape", [(30, 8), (8, 30), (2, 5, 7)])
def test_pinv_rtol_reproduces_numpy_rank(shape: tuple[int, ...]) -> None:
    assert pinv_rtol(shape, "float64") == max(shape[-2:]) * EPS64
    assert pinv_rtol(shape, np.float32) == max(shape[-2:]) * float(np.finfo(np.float32).eps)
    g = np.random.default_rng(0)
    m, n = shape[-2:]
    A = g.standard_normal((m, 3)) @ g.standard_normal((3, n))  # rank 3, up to rounding
    s = np.linalg.svd(A, compute_uv=False)
    assert int(np.sum(s > pinv_rtol(A.shape, A.dtype) * s[0])) == np.linalg.matrix_rank(A) == 3
