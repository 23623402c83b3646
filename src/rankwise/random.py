"""Random generators and test matrices with a known spectrum.

Randomness in rankwise always comes through a keyword-only ``rng`` that accepts
``None`` (fresh OS entropy), an ``int`` seed or a :class:`numpy.random.Generator`
(Scientific Python SPEC 7). It is normalised once by :func:`as_generator`; global
random state is never read or seeded.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal, NamedTuple

import numpy as np

from . import _checks

__all__ = [
    "DEFAULT_RATE",
    "DEFAULT_SHAPE",
    "LowRankMatrix",
    "MatrixPair",
    "as_generator",
    "decay",
    "default_matrix",
    "lognormal_pair",
    "low_rank_matrix",
]

RNGLike = None | int | np.random.Generator | np.random.SeedSequence


def as_generator(rng: RNGLike = None, *, func: str = "as_generator") -> np.random.Generator:
    """Normalise ``rng`` to a :class:`numpy.random.Generator`.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator
        ``None`` draws fresh entropy, an int or a SeedSequence seeds a new PCG64
        generator, and a Generator is returned as it is (so its state advances).

    Examples
    --------
    >>> g = as_generator(0)
    >>> round(g.standard_normal(), 4)
    0.1257
    """
    if rng is None or isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        if int(rng) < 0:
            _checks._fail(func, f"'rng' must be None, a non-negative int seed or a numpy Generator; got {rng}")
        return np.random.default_rng(int(rng))
    _checks._fail(func, "'rng' must be None, a non-negative int seed or a numpy Generator; got "
                        f"{rng!r} ({type(rng).__name__})", _checks.InputTypeError)


class LowRankMatrix(NamedTuple):
    """A test matrix and its exact singular values (length min(m, n), descending)."""

    A: np.ndarray
    S: np.ndarray


def decay(kind: Literal["exp", "poly", "lowrank"], size: int, *, rate: float = 0.9,
          rank: int = 50, noise: float = 1e-3) -> np.ndarray:
    """Named singular-value profiles used by tests, benchmarks and the CLI default.

    * ``"exp"``: σ_i = rate^i (i = 0, 1, …);
    * ``"poly"``: σ_i = 1/(i + 1);
    * ``"lowrank"``: σ_i = 1 for i < rank, then ``noise`` (rank-``rank`` plus a noise floor).

    Examples
    --------
    >>> decay("exp", 3, rate=0.5).tolist()
    [1.0, 0.5, 0.25]
    """
    size = _checks.integer(size, func="decay", name="size", lo=1)
    i = np.arange(size, dtype=np.float64)
    kind = _checks.choice(kind, ("exp", "poly", "lowrank"), func="decay", name="kind")  # type: ignore[assignment]
    if kind == "exp":
        rate = _checks.real(rate, func="decay", name="rate", lo=0, hi=1, lo_open=True, hi_open=True)
        return rate**i
    if kind == "poly":
        return 1.0 / (i + 1.0)
    rank = _checks.integer(rank, func="decay", name="rank", lo=1, hi=size)
    noise = _checks.real(noise, func="decay", name="noise", lo=0, hi=1)
    return np.where(i < rank, 1.0, noise)


def _orthonormal(rows: int, cols: int, complex_: bool, gen: np.random.Generator) -> np.ndarray:
    G = gen.standard_normal((rows, cols))
    if complex_:
        G = G + 1j * gen.standard_normal((rows, cols))
    Q, R = np.linalg.qr(G)
    d = np.diagonal(R)
    return Q * (d / np.abs(d))  # Haar-distributed: fix the phases of R's diagonal


def low_rank_matrix(m: int, n: int, spectrum: Any, *, dtype: Any = np.float64,
                    rng: RNGLike = None) -> LowRankMatrix:
    """A matrix ``U diag(spectrum) Vᴴ`` with Haar-random orthonormal ``U`` and ``V``.

    Parameters
    ----------
    m, n : int
        Shape of the matrix.
    spectrum : array-like of shape (r,), r <= min(m, n)
        Non-negative singular values (any order).
    dtype : numpy dtype, default=float64
        float32, float64, complex64 or complex128. The matrix is built in double
        precision and rounded once.
    rng : None, int or Generator

    Returns
    -------
    LowRankMatrix
        ``A`` of shape (m, n) and ``S``, its exact singular values in descending order,
        zero-padded to length min(m, n).

    Examples
    --------
    >>> A, S = low_rank_matrix(6, 4, [3.0, 1.0], rng=0)
    >>> A.shape, S.tolist()
    ((6, 4), [3.0, 1.0, 0.0, 0.0])
    """
    func = "low_rank_matrix"
    m = _checks.integer(m, func=func, name="m", lo=1)
    n = _checks.integer(n, func=func, name="n", lo=1)
    s = _checks.array(np.asarray(spectrum, dtype=np.float64) if not hasattr(spectrum, "dtype")
                      else spectrum, func=func, name="spectrum", ndim=1)
    s = np.asarray(s, dtype=np.float64)
    if s.shape[0] > min(m, n):
        _checks._fail(func, f"'spectrum' must have at most min(m, n) = {min(m, n)} values; got {s.shape[0]}")
    if np.any(s < 0):
        _checks._fail(func, f"'spectrum' must be non-negative; got minimum {s.min()!r}")
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64, np.complex64, np.complex128):
        _checks._fail(func, f"'dtype' must be float32, float64, complex64 or complex128; got {dt}",
                      _checks.InputTypeError)
    gen = as_generator(rng, func=func)
    cplx = dt.kind == "c"
    r = s.shape[0]
    U = _orthonormal(m, r, cplx, gen)
    V = _orthonormal(n, r, cplx, gen)
    A = (U * s) @ V.conj().T
    S = np.zeros(min(m, n))
    S[:r] = np.sort(s)[::-1]
    return LowRankMatrix(np.ascontiguousarray(A, dtype=dt), S)


DEFAULT_SHAPE = (1000, 800)
"""Shape of :func:`default_matrix` (the matrix ``rankwise approx`` runs on without an input)."""
DEFAULT_RATE = 0.9
"""Decay rate of :func:`default_matrix`'s singular values."""


def default_matrix(*, rng: RNGLike = None) -> LowRankMatrix:
    """The built-in test matrix: :data:`DEFAULT_SHAPE` with σ_i = :data:`DEFAULT_RATE` ^ i.

    That is ``low_rank_matrix(1000, 800, decay("exp", 800, rate=0.9), rng=rng)``: float64,
    Haar-random singular vectors, full rank, and the optimal rank-k relative Frobenius
    error is known in closed form, :math:`(\\sum_{i\\ge k} 0.9^{2i} / \\sum_i 0.9^{2i})^{1/2}
    \\approx 0.9^k`.

    Parameters
    ----------
    rng : None, int or Generator

    Returns
    -------
    LowRankMatrix
        ``A`` of shape (1000, 800) and its exact singular values ``S``.

    Examples
    --------
    >>> A, S = default_matrix(rng=0)
    >>> A.shape, S[:3].round(3).tolist()
    ((1000, 800), [1.0, 0.9, 0.81])
    """
    m, n = DEFAULT_SHAPE
    return low_rank_matrix(m, n, decay("exp", n, rate=DEFAULT_RATE), rng=rng)


class MatrixPair(NamedTuple):
    """Two factors of a product ``A @ B``."""

    A: np.ndarray
    B: np.ndarray


def lognormal_pair(m: int = 500, n: int = 2000, p: int = 400, *, rng: RNGLike = None) -> MatrixPair:
    """``A = G₁ diag(s)`` (m × n) and ``B = diag(s) G₂`` (n × p) with log-normal scales ``s``.

    ``G₁``, ``G₂`` and ``log s`` are standard normal, so the outer products
    :math:`a_i b_i^T` of :math:`AB = \\sum_i a_i b_i^T` have very unequal sizes
    (:math:`\\|a_i\\|\\|b_i\\| \\propto s_i^2`): the case where sampling them with
    probabilities :math:`p_i \\propto \\|a_i\\|\\|b_i\\|` beats uniform sampling.
    The default shape is the pair ``rankwise matmul`` runs on without inputs.

    Parameters
    ----------
    m, n, p : int, default=500, 2000, 400
    rng : None, int or Generator

    Returns
    -------
    MatrixPair
        float64 ``A`` of shape (m, n) and ``B`` of shape (n, p).

    Examples
    --------
    >>> A, B = lognormal_pair(3, 5, 2, rng=0)
    >>> A.shape, B.shape
    ((3, 5), (5, 2))
    """
    func = "lognormal_pair"
    m = _checks.integer(m, func=func, name="m", lo=1)
    n = _checks.integer(n, func=func, name="n", lo=1)
    p = _checks.integer(p, func=func, name="p", lo=1)
    gen = as_generator(rng, func=func)
    s = np.exp(gen.standard_normal(n))
    A = gen.standard_normal((m, n)) * s
    B = s[:, None] * gen.standard_normal((n, p))
    return MatrixPair(A, B)
