"""Moore–Penrose pseudo-inverse and minimum-norm least squares (SPEC §1.1)."""

from __future__ import annotations

from typing import Literal, NamedTuple

from .. import _array, _checks, _numerics
from .._array import Array
from ._inputs import rescale_result, safe_dense

__all__ = ["LstsqResult", "lstsq", "pinv"]


def _default_rtol(A: Array) -> float:
    return _numerics.pinv_rtol(tuple(A.shape), _array.real_dtype(A))


def _rtol(rtol: float | None, A: Array, func: str) -> float:
    if rtol is None:
        return _default_rtol(A)
    return _checks.real(rtol, func=func, name="rtol", lo=0.0, hi=1.0)


def _thin_svd(A: Array, rtol: float) -> tuple[Array, Array, Array, Array, int]:
    """U, S, Vh, 1/S with the small singular values' inverses set to zero, and the numerical rank."""
    xp = _array.namespace(A)
    U, S, Vh = xp.linalg.svd(A, full_matrices=False)
    cutoff = rtol * S[0] if S.shape[0] else 0.0
    keep = S > cutoff  # not >=: the zero matrix must give rank 0
    S_inv = xp.where(keep, 1.0 / xp.where(keep, S, xp.ones_like(S)), xp.zeros_like(S))
    return U, S, Vh, S_inv, int(_array.to_float(xp.sum(xp.astype(keep, xp.int64))))


def pinv(A: Array, *, rtol: float | None = None) -> Array:
    """Moore–Penrose pseudo-inverse A⁺ of a matrix.

    Parameters
    ----------
    A : array of shape (m, n)
        Real or complex; NumPy, torch (any device) or any array-API library.
    rtol : float, optional
        Relative cutoff: singular values ``σ_i <= rtol · σ_1`` are treated as zero.
        Default ``max(m, n) · eps`` (numpy.linalg.matrix_rank's and the array API's rule).

    Returns
    -------
    array of shape (n, m)
        Same library, device and computing dtype as ``A``.

    Notes
    -----
    .. math:: A^+ = V \\Sigma^+ U^H = \\lim_{\\varepsilon\\to 0^+} (A^H A + \\varepsilon I)^{-1} A^H

    A⁺ is the unique matrix with AA⁺A = A, A⁺AA⁺ = A⁺ and AA⁺, A⁺A Hermitian.
    Equivalent to ``numpy.linalg.pinv(A, rtol=rtol)``.

    Examples
    --------
    >>> import numpy as np
    >>> pinv(np.array([[2.0, 0.0], [0.0, 0.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    func = "pinv"
    A = _checks.matrix(A, func=func)
    r = _rtol(rtol, A, func)
    As, e = safe_dense(A, func=func)  # (2^e A)⁺ = 2^-e A⁺: exact, and no 1/σ overflows on the way
    U, _, Vh, S_inv, _ = _thin_svd(As, r)
    P = _array.conj_transpose(Vh) @ (S_inv[:, None] * _array.conj_transpose(U))
    return rescale_result(P, e, func=func, what="the entries of A⁺ (1/σ for A's smallest kept singular value σ)")


class LstsqResult(NamedTuple):
    """Minimum-norm least-squares solution and its diagnostics.

    ``X`` is the solution, ``residuals`` the squared residual norm of each right-hand
    side (a scalar for a vector ``B``), ``rank`` the numerical rank of ``A`` and ``S``
    its singular values.
    """

    X: Array
    residuals: Array
    rank: int
    S: Array


def _check_rhs(A: Array, B: Array, side: str, func: str) -> Array:
    need = A.shape[0] if side == "left" else A.shape[1]
    axis = 0 if (side == "left" or B.ndim == 1) else 1
    if B.shape[axis] != need:
        what = "rows" if side == "left" else "columns"
        dim = "m" if side == "left" else "n"
        _checks._fail(func, f"'B' must have {need} {'entries' if B.ndim == 1 else what} (A's {dim}) for "
                            f"side={side!r}; got B of shape {tuple(B.shape)} with A of shape {tuple(A.shape)}")
    return B


def lstsq(A: Array, B: Array, *, side: Literal["left", "right"] = "left",
          rtol: float | None = None) -> LstsqResult:
    """Minimum-norm least squares through the SVD.

    * ``side="left"``:  ``X = argmin ‖A X − B‖_F = A⁺ B`` (A: m×n, B: m×p or (m,), X: n×p);
    * ``side="right"``: ``X = argmin ‖X A − B‖_F = B A⁺`` (A: m×n, B: p×n or (n,), X: p×m).

    Among all minimisers the one of least Frobenius norm is returned; singular values
    below ``rtol · σ_1`` count as zero (default ``max(m, n) · eps``).

    Notes
    -----
    The SVD route keeps the error proportional to κ(A); the normal equations
    (AᵀA)⁻¹Aᵀb square the condition number and lose twice as many digits.
    Equivalent to ``scipy.linalg.lstsq(A, B)`` for ``side="left"``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> lstsq(A, np.array([1.0, 2.0, 3.0])).X.tolist()
    [1.0, 2.0]
    """
    func = "lstsq"
    side = _checks.choice(side, ("left", "right"), func=func, name="side")  # type: ignore[assignment]
    A = _checks.matrix(A, func=func)
    B = _checks.array(B, func=func, name="B", ndim=(1, 2))
    _checks.same_namespace(func, A=A, B=B)
    B = _check_rhs(A, B, side, func)
    xp = _array.namespace(A, B)
    dt = xp.result_type(A.dtype, B.dtype)
    A, B = xp.astype(A, dt), xp.astype(B, dt)
    rt = _rtol(rtol, A, func)
    vec = B.ndim == 1
    B2 = (B[:, None] if side == "left" else B[None, :]) if vec else B
    # the solution for (2^ea A, 2^eb B) is 2^(eb - ea) X: exact, and nothing overflows on the way
    A, ea = safe_dense(A, func=func)
    B2, eb = safe_dense(B2, func=func, name="B")
    U, S, Vh, S_inv, r = _thin_svd(A, rt)
    if side == "left":
        X = _array.conj_transpose(Vh) @ (S_inv[:, None] * (_array.conj_transpose(U) @ B2))
        res = xp.sum(xp.abs(A @ X - B2) ** 2, axis=0)
        X = X[:, 0] if vec else X
    else:
        X = ((B2 @ _array.conj_transpose(Vh)) * S_inv[None, :]) @ _array.conj_transpose(U)
        res = xp.sum(xp.abs(X @ A - B2) ** 2, axis=1)
        X = X[0, :] if vec else X
    X = rescale_result(X, ea - eb, func=func, what="the entries of the solution X")
    res = rescale_result(res, -2 * eb, func=func, what="the squared residual norms ‖AX − B‖²",
                         dtype_hint="; scale 'A' and 'B' alike by a power of two (X is unchanged)")
    S = rescale_result(S, -ea, func=func, what="the singular values of 'A'")
    return LstsqResult(X, res[0] if vec else res, r, S)
