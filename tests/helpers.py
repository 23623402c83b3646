"""Factories shared by the tests: matrices with known spectra, tolerances by dtype."""

from __future__ import annotations

import numpy as np

from rankwise.random import decay, low_rank_matrix


def tol_for(dtype: object) -> float:
    """A relative tolerance for results computed in ``dtype``."""
    name = str(dtype)
    return 2e-5 if ("float32" in name or "complex64" in name) else 1e-10


def matrix(m: int, n: int, kind: str = "exp", *, dtype: object = np.float64, seed: int = 0,
           rate: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """A test matrix with the named spectrum (see rankwise.random.decay) and its singular values."""
    s = decay(kind, min(m, n), rate=rate, rank=min(10, min(m, n)))  # type: ignore[arg-type]
    return low_rank_matrix(m, n, s, dtype=dtype, rng=seed)


def rank_deficient(m: int, n: int, r: int, *, seed: int = 0, complex_: bool = False) -> np.ndarray:
    """An m×n matrix of exact rank r with singular values 1…r."""
    dtype = np.complex128 if complex_ else np.float64
    A, _ = low_rank_matrix(m, n, np.arange(1, r + 1, dtype=float), dtype=dtype, rng=seed)
    return A
