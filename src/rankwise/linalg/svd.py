"""Truncated SVD with exact Eckart–Young error reports (SPEC §1.2)."""

from __future__ import annotations

import math
import time
from typing import Any, Literal, overload

import numpy as np

from .. import _array, _checks, _numerics
from .._array import Array
from ..factors import ApproxReport, SVDResult, optimal_errors
from ._inputs import rescale_result, safe_dense

__all__ = ["select_rank", "svd"]


def select_rank(S: Any, *, tol: float | None = None, energy: float | None = None,
                total: float | None = None) -> int | None:
    """Smallest rank k whose truncation meets a relative-error or energy target.

    Parameters
    ----------
    S : array-like of shape (r,)
        Leading singular values (descending) of a matrix or of its approximation.
    tol : float, optional
        Target ‖A − A_k‖_F / ‖A‖_F ≤ tol.
    energy : float, optional
        Target Σ_{i≤k} σ_i² ≥ energy · ‖A‖_F².
    total : float, optional
        ‖A‖_F² ≥ Σ σ_i². Defaults to Σ σ_i² (``S`` is then the complete spectrum); a larger
        value accounts for the part of A that ``S`` does not describe.

    Give exactly one of ``tol`` (in (0, 1)) and ``energy`` (in (0, 1]). ``S`` must be
    finite, real, non-negative and descending; anything else raises ``ValueError``.

    Returns
    -------
    int or None
        The smallest k in [1, r] that meets the target, or None when even k = r does not.

    Notes
    -----
    Tail sums are accumulated from the smallest value up, so no precision is lost to
    cancellation: ‖A − A_k‖_F² = Σ_{i>k} σ_i² + (total − Σ_i σ_i²).

    Examples
    --------
    >>> select_rank([4.0, 2.0, 1.0], tol=0.25)
    2
    >>> select_rank([4.0, 2.0, 1.0], energy=0.75)
    1
    """
    s, tol, energy, total = _rank_target(S, tol, energy, total)
    s2 = s**2
    whole = float(s2.sum())
    total = whole if total is None else total
    outside = max(total - whole, 0.0)
    if total <= 0:
        return 1
    if tol is not None:
        tail = np.cumsum(s2[::-1])[::-1]  # tail[j] = Σ_{i>=j} σ_i²
        tails = np.append(tail[1:], 0.0) + outside  # error² after keeping j + 1 values
        ok = np.flatnonzero(tails <= tol * tol * total)
    else:
        ok = np.flatnonzero(np.cumsum(s2) >= energy * total)
    return int(ok[0]) + 1 if ok.size else None


TOTAL_SLACK = 1e-4  # relative rounding allowed when 'total' is a little below Σσ² (float32 runs)


def _rank_target(S: Any, tol: Any, energy: Any, total: Any) -> tuple[np.ndarray, Any, Any, float | None]:
    """Validate :func:`select_rank`'s arguments: a finite, non-negative, descending spectrum and one target."""
    func = "select_rank"
    s = _checks.real_vector(S, func=func, name="S")
    _checks.nonnegative(s, func=func, name="S")
    _checks.descending(s, func=func, name="S")
    which = _checks.exactly_one(func, tol=tol, energy=energy)
    if which == "tol":
        tol = _checks.real(tol, func=func, name="tol", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    else:
        energy = _checks.real(energy, func=func, name="energy", lo=0.0, hi=1.0, lo_open=True)
    if total is None:
        return s, tol, energy, None
    t = _checks.real(total, func=func, name="total", lo=0.0)
    whole = float(np.sum(s**2))
    if t < whole * (1 - TOTAL_SLACK):
        _checks._fail(func, f"'total' must be at least Σ S² = {whole:.6g} (the squared norm of the whole "
                            f"matrix); got {t:.6g}")
    return s, tol, energy, t


def _target(func: str, A: Array, rank: Any, tol: Any, energy: Any) -> tuple[int | None, float | None, float | None]:
    """Validate the rank / tol / energy triple (at most one given)."""
    which = _checks.at_most_one(func, rank=rank, tol=tol, energy=energy)
    if which == "rank":
        return _checks.rank(rank, tuple(A.shape), func=func), None, None
    if which == "tol":
        return None, _checks.real(tol, func=func, name="tol", lo=0.0, hi=1.0, lo_open=True, hi_open=True), None
    if which == "energy":
        return None, None, _checks.real(energy, func=func, name="energy", lo=0.0, hi=1.0, lo_open=True)
    return None, None, None


def _svd_report(method: str, shape: tuple[int, int], s: np.ndarray, k: int, seconds: float, e: int = 0,
                tol: float | None = None, **options: Any) -> ApproxReport:
    """The exact report from the full spectrum ``s`` of 2^e · A (errors and norms unscaled to A's)."""
    m, n = shape
    fro, spec = optimal_errors(s, k)
    norm_fro, norm_2 = _numerics.scaled_norm(s), float(s[0]) if s.size else 0.0
    fro, spec, norm_fro, norm_2 = (_numerics.ldexp(v, -e) for v in (fro, spec, norm_fro, norm_2))
    if not math.isfinite(norm_fro):
        _checks._fail(method, f"‖A‖_F = {norm_fro} is beyond float64's range: the error report cannot hold it; "
                              f"scale 'A' down by a power of two (e.g. A * 2.0**-100)")
    return ApproxReport(
        method=method, shape=(m, n), rank=k, fro_error=fro, spectral_error=spec,
        norm_fro=norm_fro, norm_2=norm_2,
        optimal_fro_error=fro, optimal_spectral_error=spec, storage_before=m * n,
        storage_after=k * (m + n + 1), seconds=seconds, exact=True, options=options,
        tol=tol, met_tol=None if tol is None else _numerics.meets_tol(fro, tol, norm_fro))


def _svd(A: Array, rank: int | None, tol: float | None,
         energy: float | None) -> tuple[SVDResult, ApproxReport, np.ndarray]:
    """Body of :func:`svd` without input validation; also returns the full spectrum (NumPy, float64).

    A near overflow or underflow is scaled by a power of two first (``_inputs.safe_dense``), so the
    spectrum and the report hold no inf and no flushed zeros; S is scaled back exactly.
    """
    t0 = time.perf_counter()
    xp = _array.namespace(A)
    As, e = safe_dense(A, func="svd")
    U, S, Vh = xp.linalg.svd(As, full_matrices=False)
    s = np.asarray(_array.to_numpy(S), dtype=np.float64)
    if rank is not None:
        k = rank
    elif tol is not None or energy is not None:
        k = select_rank(s, tol=tol, energy=energy) or s.size
    else:
        k = s.size
    Sk = rescale_result(S[:k], -e, func="svd", what="the singular values of 'A'",
                        dtype_hint="; compute in float64 (convert 'A' first)")
    res = SVDResult(U[:, :k], Sk, Vh[:k, :])
    rep = _svd_report("svd", tuple(A.shape), s, k, time.perf_counter() - t0, e, tol)
    return res, rep, np.array([_numerics.ldexp(float(v), -e) for v in s]) if e else s


@overload
def svd(A: Array, rank: int | None = ..., *, tol: float | None = ..., energy: float | None = ...,
        report: Literal[False] = ...) -> SVDResult: ...
@overload
def svd(A: Array, rank: int | None = ..., *, tol: float | None = ..., energy: float | None = ...,
        report: Literal[True]) -> tuple[SVDResult, ApproxReport]: ...
def svd(A: Array, rank: int | None = None, *, tol: float | None = None, energy: float | None = None,
        report: bool = False) -> SVDResult | tuple[SVDResult, ApproxReport]:
    """Truncated singular value decomposition ``A ≈ U @ diag(S) @ Vh``.

    Parameters
    ----------
    A : array of shape (m, n)
        Real or complex, NumPy, torch (any device) or another array-API library. float16, bfloat16
        and float8 are computed and returned in float32; ``longdouble`` is refused (see
        :mod:`rankwise._array`). Entries near overflow or underflow are scaled by a power of two
        first, so 1e300 or subnormal matrices give their exact spectrum and report.
    rank : int, optional
        Keep the ``rank`` leading triplets, 1 <= rank <= min(m, n).
    tol : float in (0, 1), optional
        Keep the smallest rank with ‖A − A_k‖_F ≤ tol · ‖A‖_F.
    energy : float in (0, 1], optional
        Keep the smallest rank with Σ_{i≤k} σ_i² ≥ energy · Σ_i σ_i².
    report : bool, default=False
        Also return an :class:`~rankwise.factors.ApproxReport` with the exact errors.

    At most one of ``rank``, ``tol``, ``energy``; none gives the thin SVD.

    Returns
    -------
    SVDResult
        ``U`` (m, k), ``S`` (k,), ``Vh`` (k, n) of ``A``'s library, device and dtype
        (``S`` real); followed by the report when ``report=True``.

    Notes
    -----
    Eckart–Young–Mirsky: A_k = U_k Σ_k V_kᴴ is the best rank-k approximation in every
    unitarily invariant norm, with

    .. math:: \\|A - A_k\\|_F = \\Big(\\sum_{i>k}\\sigma_i^2\\Big)^{1/2}, \\qquad \\|A - A_k\\|_2 = \\sigma_{k+1}.

    The report's errors are computed from the full spectrum, so they are exact.
    Computes the thin SVD (LAPACK gesdd for NumPy) and truncates it; for large matrices
    and small ranks prefer the randomized methods.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise.random import low_rank_matrix
    >>> A, s = low_rank_matrix(30, 20, 0.5 ** np.arange(20), rng=0)
    >>> (U, S, Vh), rep = svd(A, tol=1e-3, report=True)
    >>> U.shape, rep.rank, round(rep.rel_fro_error, 6)
    ((30, 10), 10, 0.000977)
    """
    func = "svd"
    A = _checks.matrix(A, func=func)
    k, t, e = _target(func, A, rank, tol, energy)
    res, rep, _ = _svd(A, k, t, e)
    return (res, rep) if report else res
