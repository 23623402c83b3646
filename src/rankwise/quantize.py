"""Vector quantisation without torch: nearest-code assignment and codebook metrics.

A codebook C (K codes of dimension d, one per row) quantises x to its nearest code
c_{a(x)}, a(x) = argmin_k ‖x − c_k‖². This module assigns data to a codebook in bounded
memory and measures how well the codebook is used; it imports NumPy only, so a codebook
trained with :class:`rankwise.nn.VectorQuantizer` (``vq.codebook().detach().numpy()``)
can be used where torch is not installed.

* :func:`assign`: indices and squared distances, in blocks of rows (never an N × K array);
* :func:`code_usage`, :func:`utilisation`, :func:`perplexity`: how the codes are used;
* :func:`quantization_error` and :func:`codebook_stats`: the distortion, and everything at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import _array, _checks

__all__ = ["BLOCK_BYTES", "Assignment", "CodebookStats", "assign", "block_rows", "code_usage", "codebook_stats",
           "perplexity", "quantization_error", "utilisation"]

BLOCK_BYTES = 32 * 2**20
"""Default size of the one (rows × K) block of scores that :func:`assign` holds at a time."""


class Assignment(NamedTuple):
    """Nearest codes of a batch: ``indices`` (int64) and squared distances, both of the batch's shape."""

    indices: np.ndarray
    distances: np.ndarray


@dataclass(frozen=True, slots=True)
class CodebookStats:
    """How a data set uses a codebook of ``num_codes`` codes.

    ``used`` codes are the nearest code of at least one point; ``perplexity`` is exp of the
    entropy of the code distribution (in [1, used]); ``error`` is the mean squared distance
    of a point to its nearest code.
    """

    num_codes: int
    points: int
    used: int
    perplexity: float
    error: float

    def __post_init__(self) -> None:
        if not 0 <= self.used <= min(self.num_codes, self.points):
            raise ValueError(f"CodebookStats: 'used' must be in [0, min(num_codes, points)]; got {self.used} "
                             f"(num_codes={self.num_codes}, points={self.points})")

    @property
    def utilisation(self) -> float:
        """Share of the codes that are used: used / num_codes."""
        return self.used / self.num_codes

    @property
    def dead(self) -> int:
        """Number of codes that no point uses."""
        return self.num_codes - self.used


# --------------------------------------------------------------------------- validation


def _real(A: Any, *, func: str, name: str, ndim: int | range) -> np.ndarray:
    A = _checks.array(A, func=func, name=name, ndim=ndim)
    if _array.is_complex(A):
        _checks._fail(func, f"'{name}' must be a real array; got dtype {A.dtype}", _checks.InputTypeError)
    return _array.to_numpy(A)


def _inputs(X: Any, codebook: Any, chunk: Any, func: str) -> tuple[np.ndarray, np.ndarray, int | None]:
    C = _real(codebook, func=func, name="codebook", ndim=2)
    X = _real(X, func=func, name="X", ndim=range(1, 33))
    if X.shape[-1] != C.shape[1]:
        _checks._fail(func, f"'X' must have the codebook's dimension d = {C.shape[1]} in its last axis; got shape "
                            f"{X.shape} (codebook has shape {C.shape})")
    if chunk is not None:
        chunk = _checks.integer(chunk, func=func, name="chunk", lo=1)
    dt = np.result_type(X.dtype, C.dtype)
    return X.astype(dt, copy=False), C.astype(dt, copy=False), chunk


def _indices(indices: Any, num_codes: Any, func: str) -> tuple[np.ndarray, int]:
    K = _checks.integer(num_codes, func=func, name="num_codes", lo=1)
    idx = np.asarray(_array.to_numpy(indices) if hasattr(indices, "shape") else indices)
    if idx.size == 0:
        _checks._fail(func, f"'indices' must be non-empty; got shape {idx.shape}")
    if idx.dtype.kind not in "iu":
        _checks._fail(func, f"'indices' must be an integer array; got dtype {idx.dtype}", _checks.InputTypeError)
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= K:
        _checks._fail(func, f"'indices' must lie in [0, num_codes) = [0, {K}); got values in [{lo}, {hi}]")
    return idx.reshape(-1), K


# --------------------------------------------------------------------------- assignment


def block_rows(num_codes: int, itemsize: int, budget: int = BLOCK_BYTES) -> int:
    """Rows per block so that one (rows × num_codes) block of ``itemsize``-byte scores fits ``budget`` bytes.

    Examples
    --------
    >>> block_rows(16384, 4), block_rows(256, 8), block_rows(10**9, 4)
    (512, 16384, 1)
    """
    return max(1, budget // max(1, num_codes * itemsize))


def _assign(X: np.ndarray, C: np.ndarray, rows: int) -> Assignment:
    """Body of :func:`assign` for X (N, d) and C (K, d) of one float dtype, without validation."""
    N, d = X.shape
    K = C.shape[0]
    cc = np.einsum("kd,kd->k", C, C)
    CaT = np.ascontiguousarray(np.concatenate([-2 * C, cc[:, None]], axis=1).T)  # (d + 1, K): [−2Cᵀ; ‖c‖²]
    rows = min(rows, N)
    Xa = np.ones((rows, d + 1), dtype=X.dtype)  # [x, 1], so one product gives ‖c‖² − 2x·c
    scores = np.empty((rows, K), dtype=X.dtype)
    idx = np.empty(N, dtype=np.int64)
    dist = np.empty(N, dtype=X.dtype)
    for s in range(0, N, rows):
        n = min(rows, N - s)
        Xa[:n, :d] = X[s:s + n]
        np.matmul(Xa[:n], CaT, out=scores[:n])
        np.argmin(scores[:n], axis=1, out=idx[s:s + n])
        diff = X[s:s + n] - C[idx[s:s + n]]
        np.einsum("nd,nd->n", diff, diff, out=dist[s:s + n])
    return Assignment(idx, dist)


def assign(X: Any, codebook: Any, *, chunk: int | None = None) -> Assignment:
    r"""Nearest code of every row of ``X``, in blocks of rows: a(x) = argmin_k ‖x − c_k‖².

    Parameters
    ----------
    X : array of shape (..., d)
        Points (NumPy, a CPU tensor or any array-like; the result is NumPy).
    codebook : array of shape (K, d)
        One code per row.
    chunk : int, optional
        Rows of ``X`` per block; by default as many as keep one (rows × K) block of scores
        within :data:`BLOCK_BYTES` (:func:`block_rows`).

    Returns
    -------
    Assignment
        ``indices`` (int64) and ``distances`` (the squared distance ‖x − c_{a(x)}‖², computed
        directly from the difference), both of shape ``X.shape[:-1]``.

    Notes
    -----
    The scores s_k(x) = ‖c_k‖² − 2 x·c_k differ from ‖x − c_k‖² by ‖x‖², which does not
    change the argmin; one matrix product [x, 1]·[−2Cᵀ; ‖c‖²] gives them for a block of
    rows, so the largest temporary is ``chunk × K`` scores (no N × K or N × K × d array).
    Equal scores go to the lowest index. Scores are exact only up to rounding of order
    ε(‖x‖‖c‖ + ‖c‖²), so two codes whose distances differ by less than that may be chosen
    either way; the chosen code is the nearest up to that slack. X and the codebook are
    promoted to a common float dtype (float32 stays float32).

    Examples
    --------
    >>> C = np.array([[0.0, 0.0], [1.0, 1.0], [4.0, 0.0]])
    >>> a = assign(np.array([[0.9, 1.2], [3.0, 0.0], [0.1, -0.1]]), C)
    >>> a.indices.tolist(), np.round(a.distances, 2).tolist()
    ([1, 2, 0], [0.05, 1.0, 0.02])
    """
    X, C, chunk = _inputs(X, codebook, chunk, "assign")
    flat = X.reshape(-1, C.shape[1])
    rows = chunk if chunk is not None else block_rows(C.shape[0], C.dtype.itemsize)
    idx, dist = _assign(flat, C, rows)
    return Assignment(idx.reshape(X.shape[:-1]), dist.reshape(X.shape[:-1]))


def quantization_error(X: Any, codebook: Any, *, chunk: int | None = None) -> float:
    r"""Mean squared distance of a point to its nearest code, (1/N) Σ_i min_k ‖x_i − c_k‖².

    Accumulated in float64; ``chunk`` as for :func:`assign`.

    Examples
    --------
    >>> quantization_error(np.array([[0.0, 1.0], [3.0, 0.0]]), np.array([[0.0, 0.0], [2.0, 0.0]]))
    1.0
    """
    return float(np.mean(assign(X, codebook, chunk=chunk).distances, dtype=np.float64))


# --------------------------------------------------------------------------- usage metrics


def code_usage(indices: Any, num_codes: int) -> np.ndarray:
    """How many times each of the ``num_codes`` codes occurs in ``indices``: an int64 array of length K.

    Examples
    --------
    >>> code_usage([0, 2, 2, 3], 5).tolist()
    [1, 0, 2, 1, 0]
    """
    idx, K = _indices(indices, num_codes, "code_usage")
    return np.bincount(idx, minlength=K).astype(np.int64, copy=False)


def utilisation(indices: Any, num_codes: int) -> float:
    """Share of the ``num_codes`` codes that occur at least once in ``indices``.

    Examples
    --------
    >>> utilisation([0, 2, 2, 3], 8)
    0.375
    """
    idx, K = _indices(indices, num_codes, "utilisation")
    return int(np.count_nonzero(np.bincount(idx, minlength=K))) / K


def _perplexity(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return math.exp(-float(np.sum(p * np.log(p))))


def perplexity(indices: Any, num_codes: int) -> float:
    r"""exp(H(p)) of the code distribution p_k = n_k / N, with H(p) = −Σ_k p_k log p_k (0 log 0 = 0).

    It is the number of equally used codes with the same entropy: 1 when one code takes
    every point, m when m codes are used equally often, and at most the number of codes used.

    Examples
    --------
    >>> perplexity([0, 1, 2, 3], 16), perplexity([5, 5, 5], 16)
    (4.0, 1.0)
    """
    idx, K = _indices(indices, num_codes, "perplexity")
    return _perplexity(np.bincount(idx, minlength=K))


def codebook_stats(X: Any, codebook: Any, *, chunk: int | None = None) -> CodebookStats:
    """Assign ``X`` to ``codebook`` once and report usage, perplexity and mean squared error.

    Examples
    --------
    >>> s = codebook_stats(np.array([[0.0, 1.0], [3.0, 0.0], [0.0, -1.0]]), np.array([[0.0, 0.0], [2.0, 0.0]]))
    >>> s.used, s.utilisation, round(s.perplexity, 3), s.error
    (2, 1.0, 1.89, 1.0)
    """
    a = assign(X, codebook, chunk=chunk)
    K = int(np.shape(codebook)[0])
    counts = np.bincount(a.indices.reshape(-1), minlength=K)
    return CodebookStats(num_codes=K, points=int(a.indices.size), used=int(np.count_nonzero(counts)),
                         perplexity=_perplexity(counts), error=float(np.mean(a.distances, dtype=np.float64)))
