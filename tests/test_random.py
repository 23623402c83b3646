from __future__ import annotations

import numpy as np
import pytest

from rankwise.random import as_generator, decay, low_rank_matrix


def test_as_generator() -> None:
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    assert as_generator(5).standard_normal() == np.random.default_rng(5).standard_normal()
    assert isinstance(as_generator(None), np.random.Generator)
    with pytest.raises(TypeError, match="'rng' must be None, a non-negative int seed or a numpy Generator"):
        as_generator(np.random.RandomState(0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        as_generator(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        as_generator(-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_low_rank_matrix_has_the_stated_spectrum(dtype: type) -> None:
    s = decay("exp", 30, rate=0.8)
    A, S = low_rank_matrix(50, 40, s, dtype=dtype, rng=0)
    assert A.dtype == dtype and S.shape == (40,)
    tol = 1e-5 if dtype in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(np.linalg.svd(A.astype(np.complex128), compute_uv=False)[:30], s, atol=tol)
    assert np.all(S[30:] == 0)


def test_low_rank_matrix_is_seeded() -> None:
    A1, _ = low_rank_matrix(10, 8, [1.0, 0.5], rng=3)
    A2, _ = low_rank_matrix(10, 8, [1.0, 0.5], rng=3)
    np.testing.assert_array_equal(A1, A2)


def test_decay_profiles() -> None:
    np.testing.assert_allclose(decay("poly", 4), [1, 1 / 2, 1 / 3, 1 / 4])
    low = decay("lowrank", 6, rank=2, noise=1e-3)
    np.testing.assert_array_equal(low, [1, 1, 1e-3, 1e-3, 1e-3, 1e-3])
    with pytest.raises(ValueError, match="unknown kind"):
        decay("linear", 3)  # type: ignore[arg-type]


def test_low_rank_matrix_bad_input() -> None:
    with pytest.raises(ValueError, match="at most min"):
        low_rank_matrix(3, 2, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        low_rank_matrix(3, 2, [1.0, -1.0])
    with pytest.raises(TypeError, match="dtype"):
        low_rank_matrix(3, 2, [1.0], dtype=np.int32)
    with pytest.raises(ValueError, match="finite"):
        low_rank_matrix(3, 2, [np.nan])
