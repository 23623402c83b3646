"""Interpolative decomposition (ID) and CUR: approximations built from actual columns and rows (SPEC §1.5)."""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np

from .. import _array, _checks, _numerics
from .._array import Array
from .._threads import single_blas_thread
from ..factors import ApproxReport
from ..random import RNGLike, as_generator
from ._inputs import as_operator, prepare, rescale_result
from ._operator import Operator
from .pinv import pinv
from .sketch import H, _dense_result, _normalize, cast, gaussian, work_dtype

__all__ = ["CURResult", "IDPlan", "IDResult", "cur", "id_plan", "interp_decomp"]

Axis = Literal["columns", "rows"]
IDMethod = Literal["auto", "qr", "randomized"]
Select = Literal["id", "leverage", "uniform"]
Core = Literal["pinv", "optimal"]
AXES = ("columns", "rows")
ID_METHODS = ("auto", "qr", "randomized")
SELECTS = ("id", "leverage", "uniform")
CORES = ("optimal", "pinv")
AUTO_QR_MAX_DIM = 256  # "auto": the deterministic pivoted QR when min(m, n) is at most this
DEFAULT_OVERSAMPLE = 10  # the least oversampling of the randomized ID's sketch
SINGLE_THREAD_PIVOTING = 320  # pivoted QRs with at most this many rows (or columns) run on one BLAS thread
SKIP_FIT = 100.0  # tolerance mode: no fit on A while the sketch's residual estimate exceeds this × the target
TOL_BLOCK = 64  # first sketch size in tolerance mode (grown by _grow until the tolerance is met)
CUR_GROWTH = 1.25  # CUR at a tolerance: the rank grows by this factor (at least 1) while the CUR error misses


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class IDResult:
    """An interpolative decomposition: ``A ≈ A[:, J] @ Z`` (columns) or ``A ≈ X @ A[I, :]`` (rows).

    The conventions are those of :mod:`scipy.linalg.interpolative`, so either can be swapped for
    the other: ``idx`` is a permutation whose first k entries are the skeleton indices and
    ``proj`` (k × (n − k)) holds the coefficients of the other columns,
    ``A[:, idx[k:]] ≈ A[:, idx[:k]] @ proj``; scipy's ``reconstruct_skel_matrix(A, k, idx)`` is
    :meth:`skeleton` and ``reconstruct_interp_matrix(idx, proj)`` is :meth:`interp_matrix`.
    For ``axis="rows"`` everything refers to Aᵀ (the transpose, not the conjugate):
    ``A[idx[k:], :] ≈ proj.T @ A[idx[:k], :]``.

    Attributes
    ----------
    idx : ndarray of int64, shape (n,)
        The permutation (NumPy, whatever the input's library).
    proj : array of shape (k, n − k)
        Interpolation coefficients, in the input's library, device and dtype.
    axis : {"columns", "rows"}
    method : {"qr", "randomized"}
        What ran (what ``"auto"`` chose).
    fro_error : float or None
        ‖A − Â‖_F (None for a LinearOperator input, whose norm is unknown).
    norm_fro : float or None
        ‖A‖_F.
    passes : int
        Products with the whole of A (0 for the deterministic QR, which factorises it).
    tol : float or None
        The relative Frobenius tolerance asked for (None at a rank); :attr:`met_tol` says whether
        ``fro_error <= tol · norm_fro`` holds.
    """

    idx: np.ndarray
    proj: Array
    axis: str = "columns"
    method: str = "qr"
    fro_error: float | None = None
    norm_fro: float | None = None
    passes: int = 0
    tol: float | None = None

    _fields: ClassVar[tuple[str, str]] = ("idx", "proj")  # the stored arrays, read by writers of factor files

    def __post_init__(self) -> None:
        idx = np.asarray(self.idx)
        k = int(self.proj.shape[0]) if getattr(self.proj, "ndim", 0) == 2 else -1
        if idx.ndim != 1 or idx.dtype.kind not in "iu" or k < 0 or k + int(self.proj.shape[1]) != idx.size:
            _checks._fail("IDResult", f"'idx' (a permutation of n indices) and 'proj' of shape (k, n - k) must "
                                      f"agree; got idx of shape {idx.shape} and {_checks.describe(self.proj)}")
        object.__setattr__(self, "idx", idx.astype(np.int64, copy=False))

    @property
    def rank(self) -> int:
        """The number k of skeleton columns (rows)."""
        return int(self.proj.shape[0])

    @property
    def met_tol(self) -> bool | None:
        """Whether ``fro_error <= tol · norm_fro`` (None at a rank or without the norms)."""
        if self.tol is None or self.fro_error is None or self.norm_fro is None:
            return None
        return _numerics.meets_tol(self.fro_error, self.tol, self.norm_fro)

    @property
    def skeleton_indices(self) -> np.ndarray:
        """``idx[:k]``: the columns (rows) kept."""
        return self.idx[: self.rank]

    @property
    def max_coef(self) -> float:
        """max |Z_ij| (≥ 1, from the identity block); ≤ 2 would make the ID strongly rank-revealing."""
        if self.proj.shape[1] == 0:
            return 1.0
        xp = _array.namespace(self.proj)
        return max(1.0, _array.to_float(xp.max(xp.abs(self.proj))))

    def _axis(self) -> int:
        return 1 if self.axis == "columns" else 0

    def skeleton(self, A: Any) -> Array:
        """The skeleton ``A[:, J]`` (m × k), or ``A[I, :]`` (k × n) for rows; dense."""
        func = "IDResult.skeleton"
        shape = tuple(getattr(A, "shape", ()))
        ax = self._axis()
        if len(shape) != 2 or shape[ax] != self.idx.size:
            what = "columns" if ax == 1 else "rows"
            _checks._fail(func, f"'A' must have {self.idx.size} {what} (the decomposed matrix's); got "
                                f"{_checks.describe(A)}")
        op = as_operator(A, func=func)
        return op.columns(self.skeleton_indices) if ax == 1 else op.rows(self.skeleton_indices)

    def interp_matrix(self) -> Array:
        """Z (k × n) with ``Z[:, idx[:k]] = I`` and ``Z[:, idx[k:]] = proj``; for rows its transpose (m × k)."""
        xp = _array.namespace(self.proj)
        dev = _array.device(self.proj)
        k = self.rank
        Zp = xp.concat([xp.eye(k, dtype=self.proj.dtype, device=dev), self.proj], axis=1)
        inv = xp.asarray(np.argsort(self.idx), device=dev)
        Z = xp.take(Zp, inv, axis=1)
        return Z if self.axis == "columns" else Z.mT

    def reconstruct(self, A: Any) -> Array:
        """Â = ``A[:, J] @ Z`` (columns) or ``X @ A[I, :]`` (rows)."""
        S = self.skeleton(A)
        Z = self.interp_matrix()
        return S @ Z if self.axis == "columns" else Z @ S


@dataclass(frozen=True, slots=True)
class CURResult:
    """A CUR decomposition ``A ≈ C @ U @ R`` with ``C = A[:, col_idx]`` and ``R = A[row_idx, :]``.

    Attributes
    ----------
    col_idx, row_idx : ndarray of int64, shape (k,)
        The columns J and rows I kept (NumPy).
    C : array (m, k), U : array (k, k), R : array (k, n)
        In the input's library, device and dtype (NumPy for scipy.sparse input).
    report : ApproxReport
        ``fro_error`` = ‖A − CUR‖_F (exact); ``options`` holds the counts and the choices made.
    """

    col_idx: np.ndarray
    row_idx: np.ndarray
    C: Array
    U: Array
    R: Array
    report: ApproxReport

    _fields: ClassVar[tuple[str, ...]] = ("col_idx", "row_idx", "C", "U", "R")

    def reconstruct(self) -> Array:
        """C @ U @ R (m × n)."""
        return self.C @ (self.U @ self.R)

    @property
    def met_tol(self) -> bool | None:
        """Whether ‖A − CUR‖_F <= tol·‖A‖_F (None at a fixed rank): ``report.met_tol``."""
        return self.report.met_tol


# --------------------------------------------------------------------------- operators and sketches


def _sketch_rows(op: Operator, rows: int, power_iters: int, gen: np.random.Generator) -> np.ndarray:
    """Y = Gᴴ A(AᴴA)^q-like sketch (rows × n), on the host in float64 (complex128).

    q = 0: Y = Gᴴ A with G Gaussian m × rows (one product). Each power step replaces the
    left factor by an orthonormal basis of A(AᴴY)-ish blocks, Y = Zᴴ A, so the rows of Y
    weight A's singular directions like σ^{2q+1} (2q + 1 products).
    """
    G = gaussian(op, op.shape[0], rows, gen)
    Yh = _dense_result(op.rmatmat(G))  # n × rows = Aᴴ G
    for _ in range(power_iters):
        X = _dense_result(op.matmat(_normalize(Yh, "svqb")))
        Yh = _dense_result(op.rmatmat(_normalize(X, "svqb")))
    Y = np.asarray(_array.to_numpy(Yh))
    return np.ascontiguousarray(Y.astype(np.complex128 if np.iscomplexobj(Y) else np.float64).conj().T)


def _pivoted_qr(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R and the column permutation of Businger–Golub pivoted QR (LAPACK xGEQP3) of a host matrix."""
    import scipy.linalg

    # a sketch's few rows make xGEQP3 BLAS-2 bound: on a few cores one BLAS thread runs it faster
    # up to a few hundred rows (see rankwise._threads and benchmarks/README.md)
    with single_blas_thread() if min(Y.shape) <= SINGLE_THREAD_PIVOTING else nullcontext():
        R, perm = scipy.linalg.qr(Y, mode="r", pivoting=True, check_finite=False)
    return R, np.asarray(perm, dtype=np.int64)


class _ID(NamedTuple):
    perm: np.ndarray
    proj: Array
    err_sq: float | None
    passes: int


def _coefficients(R11: Array, R12: Array) -> Array:
    """R11⁺ R12: the interpolation coefficients (a minimum-norm solve when R11 is singular)."""
    return pinv(R11) @ R12


def _qr_id(M: np.ndarray, k: int | None, tol: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    """Deterministic column ID of a host matrix: MP = QR, J = first k pivots, T = R11⁻¹R12.

    ‖M − M[:, J][I, T]Pᵀ‖_F² = ‖R22‖_F² = Σ_{i≥k} ‖R[i, :]‖² (R is upper triangular).
    """
    R, perm = _pivoted_qr(M)
    rows = np.sum(np.abs(R) ** 2, axis=1)[: min(M.shape)]
    tails = np.append(np.cumsum(rows[::-1])[::-1], 0.0)  # tails[k] = ‖R[k:, :]‖_F²
    if k is None:
        assert tol is not None
        k = int(np.flatnonzero(tails[1:] <= tol * tol * tails[0])[0]) + 1
    T = _coefficients(R[:k, :k], R[:k, k:])
    return perm, T, float(tails[k])


def _cholesky_qr2(C: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """C = QR by Cholesky-QR2 (Yamamoto et al. 2015), or None where it is not safe.

    Two rounds of G = CᴴC = RᴴR, Q = CR⁻¹: all BLAS-3, so faster than a Householder QR of a
    tall skeleton, and orthogonal to rounding when κ(C) ≲ ε^{-1/2}; None
    (the caller falls back to Householder) when the first Cholesky fails or its diagonal
    spans more than 1e7, a cheap lower bound on κ(C). Runs on one BLAS thread (faster for these
    blocks on a few cores, see :mod:`rankwise._threads`).
    """
    import scipy.linalg

    R = None
    Q = C
    with single_blas_thread():
        for _ in range(2):
            try:
                Ri = scipy.linalg.cholesky(H(Q) @ Q, lower=False, check_finite=False)
            except np.linalg.LinAlgError:
                return None
            d = np.abs(np.diag(Ri))
            if d.size and (not np.all(np.isfinite(d)) or d.min() <= 1e-7 * d.max()):
                return None
            Q = H(scipy.linalg.solve_triangular(Ri, H(Q), trans="C", lower=False, check_finite=False))
            R = Ri if R is None else Ri @ R
    assert R is not None
    return Q, R


def _fit(op: Operator, C: Array, total: float | None) -> tuple[Array, Array, np.ndarray | None]:
    """C = QR, W = QᴴA (one product) and the exact errors ‖A − Q_k Q_kᴴ A‖_F² for every k.

    The QR is Cholesky-QR2 for NumPy where it is safe (see :func:`_cholesky_qr2`), else Householder;
    either way R is upper triangular, so Q's first k columns span C's first k.
    """
    xp = op.xp
    wd = work_dtype(xp, op.dtype)
    Cw = cast(C, wd)
    qr = _cholesky_qr2(Cw) if _array.is_numpy(Cw) and Cw.shape[0] >= Cw.shape[1] else None
    Q, Rc = qr if qr is not None else xp.linalg.qr(Cw)
    W = H(cast(_dense_result(op.rmatmat(cast(Q, op.dtype))), wd))  # k × n
    if total is None:
        return Rc, W, None
    kept = np.cumsum(np.asarray(_array.to_numpy(xp.sum(xp.abs(W) ** 2, axis=1)), dtype=np.float64))
    return Rc, W, np.maximum(total - kept, 0.0)


def _grow(errs: np.ndarray, target: float, rows: int, p: int, lim: int) -> int:
    """Rows to add to a sketch of ``rows`` rows whose fit missed ``target``: aim where the error curve meets it.

    ``errs[i]`` is the squared error with i + 1 columns. Its second half is fitted by an
    exponential (log e against i) and a power law (log e against log i); the better fit is
    extrapolated to the target, and the sketch grows to 1.15 times that rank plus ``p``,
    between p and 3·rows more rows (doubling when the curve has stopped falling).
    """
    k = errs.size
    i = np.arange(k // 2, k, dtype=np.float64) + 1.0
    e = np.log(np.maximum(errs[k // 2:], np.finfo(np.float64).tiny))
    best: tuple[float, float] | None = None
    if i.size >= 4 and target > 0:
        for x, back in ((i, lambda v: v), (np.log(i), np.exp)):
            slope, icpt = np.polyfit(x, e, 1)
            resid = float(np.sum((icpt + slope * x - e) ** 2))
            if slope < 0 and (best is None or resid < best[0]):
                best = (resid, float(back((math.log(target) - icpt) / slope)))
    if best is None:
        want = rows
    elif not math.isfinite(best[1]) or best[1] > lim:
        want = 3 * rows
    else:
        want = math.ceil(1.15 * best[1]) + p - rows
    return max(1, min(max(want, p, 1), 3 * rows, lim - rows))


def _sketch_errors(R: np.ndarray, rows: int) -> np.ndarray:
    """Estimates of ‖A − A_J Z‖_F² for the first 1, 2, … pivots, from the sketch's pivoted QR.

    For Y = GᴴA with G Gaussian (``rows`` columns), the sketch's residual after k pivots,
    ‖R[k:, :]‖_F², keeps about rows − k of the rows' independent looks at A's residual, so
    ‖R[k:, :]‖_F² / (rows − k) estimates it (dividing by ``rows`` underestimates it several
    times over once k is a sizeable part of ``rows``). It is only trusted to say that a target is
    far off (:data:`SKIP_FIT`).
    """
    tails = np.cumsum((np.sum(np.abs(R) ** 2, axis=1)[: min(R.shape)])[::-1])[::-1]
    k = np.arange(1, tails.size + 1)
    return np.append(tails[1:], 0.0) / np.maximum(rows - k, 1)


def _randomized_id(op: Operator, cols: Any, k: int | None, tol: float | None, total: float | None,
                   p: int, q: int, gen: np.random.Generator) -> _ID:
    """Pick the skeleton from the pivoted QR of a sketch Y = ZᴴA, then fit the coefficients on A itself.

    At a tolerance the sketch grows (by :func:`_grow`) until some k <= rows − p meets it exactly.
    While the sketch's own residual says the target is far off (more than :data:`SKIP_FIT`
    times), it grows without the fit on A (a product and a QR saved per round).
    """
    m, n = op.shape
    lim = min(m, n)
    rows = min(k + p, lim) if k is not None else min(TOL_BLOCK, lim)
    Y = _sketch_rows(op, rows, q, gen)
    passes = 2 * q + 1
    while True:
        Ry, perm = _pivoted_qr(Y)
        kmax = k if k is not None else (rows if rows >= lim else max(1, rows - p))
        if k is None and rows < lim:
            assert total is not None and tol is not None
            est = _sketch_errors(Ry, rows)[:kmax]
            if est[-1] > SKIP_FIT * tol * tol * total:  # far from the target: grow without fitting on A
                extra = _grow(est, tol * tol * total, rows, p, lim)
                Y = np.concatenate([Y, _sketch_rows(op, extra, q, gen)], axis=0)
                rows += extra
                passes += 2 * q + 1
                continue
        Rc, W, errs = _fit(op, cols(perm[:kmax]), total)
        passes += 1
        if k is not None:
            break
        assert errs is not None and total is not None and tol is not None
        ok = np.flatnonzero(errs <= tol * tol * total)
        if ok.size or rows >= lim:
            k = int(ok[0]) + 1 if ok.size else kmax
            break
        extra = _grow(errs, tol * tol * total, rows, p, lim)
        Y = np.concatenate([Y, _sketch_rows(op, extra, q, gen)], axis=0)
        rows += extra
        passes += 2 * q + 1
    xp = op.xp
    T = _coefficients(Rc[:k, :k], W[:k, :])
    proj = xp.take(T, xp.asarray(perm[k:], device=_array.device(T)), axis=1)
    return _ID(perm, cast(proj, op.out_dtype), None if errs is None else float(errs[k - 1]), passes)


# --------------------------------------------------------------------------- interp_decomp


def _resolve_method(func: str, op: Operator, method: str, tol: float | None) -> str:
    small = op.has_entries and min(op.shape) <= AUTO_QR_MAX_DIM
    below = tol is not None and tol < _numerics.tol_floor(op.out_dtype)
    if method == "auto":
        return "qr" if small or below else "randomized"
    if method == "qr" and not op.has_entries:
        _checks._fail(func, f"method 'qr' needs the matrix itself (dense or scipy.sparse); got {op.label} "
                            "input; use method='randomized'")
    if method == "randomized" and below:
        floor = _numerics.tol_floor(op.out_dtype)
        _checks._fail(func, f"'tol' must be >= 10·sqrt(eps) = {floor:.2g} for method 'randomized' "
                            f"(its error ‖A‖² − ‖QᴴA‖² cannot resolve less); got {tol:g}; use method='qr'")
    return method


def _host_matrix(op: Operator, rows: bool) -> np.ndarray:
    """A (or Aᵀ) on the host in float64 / complex128, Fortran-ordered for LAPACK."""
    M = op.host_matrix()
    M = M.T if rows else M
    return np.asfortranarray(M, dtype=np.complex128 if np.iscomplexobj(M) else np.float64)


def _id_body(op: Operator, plan: IDPlan, total: float | None, gen: np.random.Generator) -> IDResult:
    """Execute ``plan`` on ``op`` (the body of :func:`interp_decomp`, without input validation)."""
    rows = plan.axis == "rows"
    k, tol = plan.rank, plan.tol
    if plan.method == "qr":
        perm, T, err_sq = _qr_id(_host_matrix(op, rows), k, tol)
        res = _ID(perm, op.from_host(T), err_sq, 0)
    else:
        wop = op.transpose() if rows else op

        def cols(J: np.ndarray) -> Array:
            return op.rows(J).mT if rows else op.columns(J)

        res = _randomized_id(wop, cols, k, tol, total, plan.oversample, plan.power_iters, gen)
    norm = None if total is None else math.sqrt(total)
    err = None if res.err_sq is None else math.sqrt(res.err_sq)
    return IDResult(res.perm, res.proj, plan.axis, plan.method, err, norm, res.passes, plan.tol)


def _auto_power_iters(at_rank: bool) -> int:
    """The randomized ID's default q: 1 at a rank, 0 at a tolerance (see ``interp_decomp``)."""
    return 1 if at_rank else 0


@dataclass(frozen=True, slots=True)
class IDPlan:
    """What an :func:`interp_decomp` call will do, resolved from its arguments before any product.

    ``method`` is ``"qr"`` or ``"randomized"`` (never ``"auto"``); ``oversample`` and
    ``power_iters`` are the randomized sketch's p and q (unused by ``"qr"``).
    """

    shape: tuple[int, int]
    dtype: str
    input: str
    rank: int | None
    tol: float | None
    axis: str
    method: str
    oversample: int
    power_iters: int

    def __str__(self) -> str:
        target = f"rank {self.rank}" if self.rank is not None else f"tol {self.tol:g} (relative Frobenius)"
        sketch = (f"{self.oversample} extra rows, {self.power_iters} power steps" if self.method == "randomized"
                  else "none (pivoted QR of the whole matrix)")
        rows = [("input", f"{self.input} {self.shape[0]}×{self.shape[1]} {self.dtype}"), ("target", target),
                ("axis", self.axis), ("method", self.method), ("sketch", sketch)]
        return "interp_decomp plan\n" + "\n".join(f"  {k:<8} {v}" for k, v in rows)


def _plan_id(func: str, op: Operator, rank: Any, tol: Any, axis: Any, method: Any, oversample: Any,
             power_iters: Any) -> IDPlan:
    """Validate the ID's arguments and resolve ``"auto"`` and the defaults into an :class:`IDPlan`."""
    which = _checks.exactly_one(func, rank=rank, tol=tol)
    ax = _checks.choice(axis, AXES, func=func, name="axis")
    meth = _checks.choice(method, ID_METHODS, func=func, name="method")
    p = None if oversample is None else _checks.integer(oversample, func=func, name="oversample", lo=0)
    q = _auto_power_iters(which == "rank") if power_iters is None else _checks.integer(
        power_iters, func=func, name="power_iters", lo=0)
    k = _checks.rank(rank, op.shape, func=func) if which == "rank" else None
    t = _checks.real(tol, func=func, name="tol", lo=0, hi=1, lo_open=True, hi_open=True) if which == "tol" else None
    if t is not None and not op.knows_norm:
        _checks._fail(func, "'tol' needs ‖A‖_F, which a LinearOperator cannot give; use 'rank'")
    return IDPlan(shape=op.shape, dtype=_numerics.dtype_name(op.dtype), input=op.label, rank=k, tol=t, axis=ax,
                  method=_resolve_method(func, op, meth, t), oversample=max(k or 0, DEFAULT_OVERSAMPLE) if p is None
                  else p, power_iters=q)


def id_plan(A: Any, rank: int | None = None, *, tol: float | None = None, axis: Axis = "columns",
            method: IDMethod = "auto", oversample: int | None = None, power_iters: int | None = None) -> IDPlan:
    """The :class:`IDPlan` that :func:`interp_decomp` would execute for these arguments (nothing is computed).

    Examples
    --------
    >>> import numpy as np
    >>> p = id_plan(np.ones((600, 400)), 20)
    >>> p.method, p.oversample, p.power_iters
    ('randomized', 20, 1)
    """
    func = "id_plan"
    return _plan_id(func, as_operator(A, func=func), rank, tol, axis, method, oversample, power_iters)


def interp_decomp(A: Any, rank: int | None = None, *, tol: float | None = None, axis: Axis = "columns",
                  method: IDMethod = "auto", oversample: int | None = None, power_iters: int | None = None,
                  rng: RNGLike = None) -> IDResult:
    """Interpolative decomposition: A ≈ A[:, J] Z with k actual columns (or rows) of A.

    Parameters
    ----------
    A : array (m, n), scipy.sparse matrix, LinearOperator or :class:`~rankwise.linalg.NpyMatrix`
        Dense arrays may be NumPy, torch (any device) or any array-API library.
    rank : int, optional
        Number k of skeleton columns (rows), 1 <= k <= min(m, n).
    tol : float, optional
        Relative Frobenius target: the smallest k found with ‖A − Â‖_F <= tol·‖A‖_F.
        Exactly one of ``rank`` and ``tol``.
    axis : {"columns", "rows"}, default="columns"
        ``"rows"``: A ≈ X A[I, :], the column ID of Aᵀ.
    method : {"auto", "qr", "randomized"}, default="auto"
        ``"qr"``: pivoted QR of the whole matrix (on the host). ``"randomized"``: pivoted QR of
        a sketch. ``"auto"``: ``"qr"`` when min(m, n) <= 256 (or ``tol`` is below the
        randomized floor 10·sqrt(eps)), ``"randomized"`` otherwise; ``.method`` says which.
    oversample : int, optional
        Randomized: the sketch has k + p rows (default p = max(k, 10) at a rank: a sketch of 2k
        rows picks columns closer to the optimum than k + 10 on slowly decaying spectra, for a
        larger sketch; at a tolerance p = 10 is the margin kept over the rank).
    power_iters : int, optional
        Randomized: q power steps in the sketch (2q + 1 products with A). Default: 1 at a rank
        (it moves the chosen columns toward the optimum), 0 at a tolerance (the error is
        measured on A itself, so a weaker sketch costs at most a few more columns, for a third
        of the sketch's products).
    rng : None, int or Generator

    Returns
    -------
    IDResult
        ``idx``, ``proj`` (scipy.linalg.interpolative's conventions), ``fro_error``, ``max_coef``
        and the helpers ``skeleton(A)``, ``interp_matrix()``, ``reconstruct(A)``.

    Notes
    -----
    *Deterministic.* With the column-pivoted QR AP = QR (Businger–Golub, LAPACK xGEQP3), J is
    the first k pivots and

    .. math:: Z = [\\,I_k,\\; R_{11}^{-1}R_{12}\\,]\\,P^T,\\qquad
              \\|A - A_{:,J}Z\\|_F = \\|R_{22}\\|_F,

    so a tolerance picks k from the trailing rows of R exactly. The error is at most
    sqrt(1 + k(n − k))·σ_{k+1} for a strong rank-revealing choice; in practice a small factor
    of σ_{k+1} (``max_coef`` reports max|Z|).

    *Randomized.* J is read from the pivoted QR of a sketch Y = ZᴴA with k + p rows (Z Gaussian,
    or after q power steps an orthonormal basis of A(AᴴA)^{q−1}AᴴG: 2q + 1 products), which
    costs O(k²n) instead of O(mn·min(m, n)). The coefficients are then fitted on A itself,
    Z = R_C⁻¹QᴴA from C = A[:, J] = QR_C (one more product): the best Z for the chosen columns,
    with the exact error ‖A‖_F² − ‖QᴴA‖_F². At a tolerance the sketch grows until that
    exact error meets it, each time to where the error curve fitted so far meets the target.
    Equivalent peer: ``scipy.linalg.interpolative.interp_decomp``.

    References
    ----------
    .. [1] Cheng, Gimbutas, Martinsson & Rokhlin (2005), "On the compression of low rank matrices".
    .. [2] Halko, Martinsson & Tropp (2011), §5.2, arXiv:0909.4061.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise.random import low_rank_matrix
    >>> A, s = low_rank_matrix(300, 200, 0.8 ** np.arange(200), rng=0)
    >>> res = interp_decomp(A, 20, rng=1)
    >>> res.proj.shape, res.method, bool(res.fro_error < 3 * np.sqrt(np.sum(s[20:] ** 2)))
    ((20, 180), 'qr', True)
    >>> bool(np.allclose(res.reconstruct(A), res.skeleton(A) @ res.interp_matrix()))
    True
    """
    func = "interp_decomp"
    op = as_operator(A, func=func)
    plan = _plan_id(func, op, rank, tol, axis, method, oversample, power_iters)
    prep = prepare(op, func=func)  # 2^e A: the same skeleton and coefficients, errors scaled back below
    res = _id_body(prep.op, plan, prep.total, as_generator(rng, func=func))
    if res.met_tol is False:  # the QR's trailing rows reach 0 at k = min(m, n): only rounding can cause this
        assert res.fro_error is not None and res.norm_fro
        _checks.warn_tolerance(func, res.tol or 0.0, res.fro_error / res.norm_fro, f"rank {res.rank}, method "
                                                                                   f"{res.method!r}")
    if prep.exponent == 0:
        return res
    return dataclasses.replace(res, fro_error=None if res.fro_error is None else prep.unscale(res.fro_error),
                               norm_fro=None if res.norm_fro is None else prep.unscale(res.norm_fro))


# --------------------------------------------------------------------------- CUR


def _sample(scores: np.ndarray, k: int, gen: np.random.Generator) -> np.ndarray:
    """k distinct indices drawn with probability ∝ scores (uniform where the scores vanish)."""
    s = np.maximum(np.asarray(scores, dtype=np.float64), 0.0)
    size = s.size
    p = s / s.sum() if s.sum() > 0 else np.full(size, 1.0 / size)
    if np.count_nonzero(p) < k:
        p = 0.5 * p + 0.5 / size
    return np.sort(gen.choice(size, size=k, replace=False, p=p)).astype(np.int64)


def _row_skeleton(C: Array, k: int) -> np.ndarray:
    """The k rows of C (m × k) picked by the pivoted QR of Cᵀ (the deterministic row ID of C)."""
    Ct = np.asarray(_array.to_numpy(C)).T
    _, perm = _pivoted_qr(np.asfortranarray(Ct.astype(np.complex128 if np.iscomplexobj(Ct) else np.float64)))
    return perm[:k]


def _select(op: Operator, k: int | None, tol: float | None, select: str, gen: np.random.Generator,
            total: float | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    m, n = op.shape
    if select == "id":
        plan = _plan_id("cur", op, k, tol, "columns", "auto", None, None)
        res = _id_body(op, plan, total, gen)
        J = res.skeleton_indices
        return J, _row_skeleton(op.columns(J), J.size), {"id_method": plan.method}
    if select == "leverage":
        from .rsvd import rsvd

        U, _, Vh = rsvd(op, k, tol=tol, rng=gen)  # the prepared operator: ‖A‖_F² is not summed again
        xp = _array.namespace(U)
        rk = int(U.shape[1])
        col = np.asarray(_array.to_numpy(xp.sum(xp.abs(Vh) ** 2, axis=0)), dtype=np.float64)
        row = np.asarray(_array.to_numpy(xp.sum(xp.abs(U) ** 2, axis=1)), dtype=np.float64)
        return _sample(col, rk, gen), _sample(row, rk, gen), {}
    assert k is not None
    return (np.sort(gen.choice(n, size=k, replace=False)).astype(np.int64),
            np.sort(gen.choice(m, size=k, replace=False)).astype(np.int64), {})


def _truncation_errors(op: Operator, Cv: Array, Ru: Array, total: float) -> tuple[np.ndarray, float]:
    """‖A − Σ_{i<r} c_i ρ_i‖_F² for r = 0, …, k, and a bound on their rounding (one product with A).

    ``Cv[:, i]`` = c_i and ``Ru[i, :]`` = ρ_i. Expanding the square, with t_i = Re⟨A, c_i ρ_i⟩ and
    G_ij = ⟨c_i ρ_i, c_j ρ_j⟩ = (c_iᴴc_j)(ρ_j ρ_iᴴ), the error of the first r terms is
    ‖A‖_F² − 2 Σ_{i<r} t_i + Σ_{i,j<r} G_ij: every r at the cost of one product A Ruᴴ.
    """
    xp = _array.namespace(Cv)
    AR = cast(_dense_result(op.matmat(cast(H(Ru), op.dtype))), Cv.dtype)  # m × k: A ρ_iᴴ
    Cc = xp.conj(Cv) if _array.is_complex(Cv) else Cv
    t = np.real(np.asarray(_array.to_numpy(xp.sum(Cc * AR, axis=0)), dtype=np.complex128))
    G = np.real(np.asarray(_array.to_numpy((H(Cv) @ Cv) * (Ru @ H(Ru)).mT), dtype=np.complex128))
    block = np.diagonal(np.cumsum(np.cumsum(G, axis=0), axis=1))  # Σ_{i,j<r} G_ij for r = 1, …, k
    errs = total - 2.0 * np.concatenate(([0.0], np.cumsum(t))) + np.concatenate(([0.0], block))
    scale = total + 2.0 * float(np.sum(np.abs(t))) + float(np.sum(np.abs(G)))
    return errs, 8.0 * (t.size + 1) * _numerics.eps(op.dtype) * scale


def _pinv_core(op: Operator, C: Array, R: Array, I: np.ndarray, total: float | None) -> Array:
    """U = W_r⁺ for W = A[I, J] = U_W Σ V_Wᴴ, with the truncation r chosen on A itself.

    ``W_r⁺ = Σ_{i<r} v_i u_iᴴ / σ_i``. Among r = 0, …, rank(W) (rank at pinv's cutoff), r minimises
    the exact ‖A − C W_r⁺ R‖_F (see :func:`_truncation_errors`); the untruncated W⁺ is kept unless a
    truncation is better by more than rounding, so exact low-rank inputs keep their exact core.
    """
    xp = _array.namespace(C)
    W = xp.take(C, xp.asarray(I, device=_array.device(C)), axis=0)
    if total is None:
        return pinv(W)
    wd = work_dtype(xp, C.dtype)
    Uw, s, Vh = xp.linalg.svd(cast(W, wd), full_matrices=False)
    s_np = np.asarray(_array.to_numpy(s), dtype=np.float64)
    r0 = int(np.count_nonzero(s_np > _numerics.pinv_rtol(tuple(W.shape), _array.real_dtype(W)) * s_np[0])) \
        if s_np.size else 0
    if r0 == 0:
        return pinv(W)
    Cv = (cast(C, wd) @ H(Vh[:r0, :])) / s[None, :r0]  # c_i = C v_i / σ_i
    Ru = H(Uw[:, :r0]) @ cast(R, wd)  # ρ_i = u_iᴴ R
    errs, slack = _truncation_errors(op, Cv, Ru, total)
    r = int(np.argmin(errs))
    if errs[r0] <= errs[r] + slack:
        return pinv(W)
    return cast(H(Vh[:r, :]) @ (H(Uw[:, :r]) / s[:r, None]), C.dtype)


def _core(op: Operator, C: Array, R: Array, I: np.ndarray, core: str, total: float | None) -> Array:
    """U = A[I, J]'s truncated pseudo-inverse (``"pinv"``) or U = C⁺ A R⁺ (``"optimal"``); one product with A."""
    if core == "pinv":
        return _pinv_core(op, C, R, I, total)
    AR = _dense_result(op.matmat(cast(pinv(R), op.dtype)))
    return pinv(C) @ cast(AR, C.dtype)


def _cur_to_target(op: Operator, k: int | None, tol: float | None, select: str, core: str,
                   gen: np.random.Generator, total: float | None) -> tuple[Any, ...]:
    """(J, I, options, C, U, R, ‖A − CUR‖_F²) at rank ``k``, or grown until the CUR error meets ``tol``.

    At a tolerance the first rank is the selector's (the column ID's or the rSVD's rank at ``tol``); the
    CUR error is then measured exactly (one pass over A) and, while it misses, the rank grows by
    :data:`CUR_GROWTH` and the selection is redone, up to min(m, n). ``options["grown_from"]`` records
    the first rank when it had to grow.
    """
    lim = min(op.shape)
    first: int | None = None
    while True:
        J, I, extra = _select(op, k, tol if k is None else None, select, gen, total)
        C, R = op.columns(J), op.rows(I)
        U = _core(op, C, R, I, core, total)
        err_sq = op.residual_fro_sq(C, U @ R)
        kk = int(J.size)
        if tol is None or total is None or _numerics.meets_tol(math.sqrt(err_sq), tol, math.sqrt(total)) \
                or kk >= lim:
            break
        first = kk if first is None else first
        k = min(lim, max(kk + 1, math.ceil(CUR_GROWTH * kk)))
    extra = {**extra, "grown_from": first} if first is not None else extra
    return J, I, extra, C, U, R, err_sq


def cur(A: Any, rank: int | None = None, *, tol: float | None = None, select: Select = "id",
        core: Core = "pinv", rng: RNGLike = None) -> CURResult:
    """CUR decomposition A ≈ C U R from k actual columns C = A[:, J] and rows R = A[I, :].

    Parameters
    ----------
    A : array (m, n) or scipy.sparse matrix
        Dense arrays may be NumPy, torch (any device) or any array-API library.
    rank : int, optional
        Number k of columns and of rows, 1 <= k <= min(m, n).
    tol : float, optional
        Relative Frobenius target ‖A − CUR‖_F <= tol·‖A‖_F. k starts at the column ID's rank at
        ``tol`` for ``select="id"`` (the randomized SVD's for ``"leverage"``; not available for
        ``"uniform"``); the CUR error is then measured exactly and k grows by a quarter until it
        meets ``tol``. Where even k = min(m, n) does not (an A[I, J] too ill-conditioned for
        the ``"pinv"`` core), the result says so: ``report.met_tol`` is False and a
        :class:`~rankwise._checks.ToleranceWarning` gives the error achieved. Exactly one of
        ``rank`` and ``tol``.
    select : {"id", "leverage", "uniform"}, default="id"
        ``"id"``: J from the column ID of A, I from the row ID of C (pivoted QR of Cᵀ).
        ``"leverage"``: J and I sampled without replacement with probability ∝ the leverage
        scores ‖V_k[j, :]‖², ‖U_k[i, :]‖² of a rank-k randomized SVD. ``"uniform"``: uniformly.
    core : {"pinv", "optimal"}, default="pinv"
        ``"pinv"``: U = W_r⁺, the pseudo-inverse of the intersection W = A[I, J] truncated to its
        r leading singular triplets, r chosen to minimise ‖A − CUR‖_F (one more product with A;
        see Notes). ``"optimal"``: U = C⁺AR⁺ = argmin_U ‖A − CUR‖_F (one more product with A).
    rng : None, int or Generator
        Used by the randomized ID and the sampling.

    Returns
    -------
    CURResult
        ``col_idx``, ``row_idx``, ``C``, ``U``, ``R`` and ``report`` (:class:`~rankwise.factors.ApproxReport`
        with the exact ‖A − CUR‖_F; ``options`` records the counts and the choices).

    Notes
    -----
    If rank(A[I, J]) = rank(A) then CA[I, J]⁺R = A exactly, so an exactly rank-k matrix is
    recovered by either core once the intersection is nonsingular. For fixed C and R the
    optimal core gives ‖A − CUR‖_F = ‖A − P_C A P_R‖_F, where P_C, P_R are the orthogonal projectors
    onto range(C) and the row space of R.

    *The pinv core.* With W = A[I, J] = Σ_i σ_i u_i v_iᴴ, the core is

    .. math:: U = W_r^+ = \\sum_{i \\le r} \\sigma_i^{-1} v_i u_i^H,\\qquad
              r = \\arg\\min_{0 \\le r \\le \\operatorname{rank}(W)} \\|A - C W_r^+ R\\|_F,

    with rank(W) counted at :func:`~rankwise.linalg.pinv`'s cutoff. The errors of every r come
    from one product A·(R's rows rotated by U_W) and k × k algebra. On noisy data the untruncated
    A[I, J]⁺ divides by the noise's small singular values, and its error grows with k (beyond ‖A‖
    for sampled rows and columns); the truncation stops that. Guarantees: ‖A − CUR‖_F is at most
    ‖A − C A[I, J]⁺ R‖_F and at most ‖A‖_F (r = 0, U = 0); U = A[I, J]⁺ exactly unless a truncation
    is better by more than rounding, so exact low-rank inputs are recovered as before. The optimal
    core is never worse (it minimises over every U).

    References
    ----------
    .. [1] Mahoney & Drineas (2009), "CUR matrix decompositions for improved data analysis", PNAS.
    .. [2] Voronin & Martinsson (2017), "Efficient algorithms for CUR and interpolative matrix
       decompositions", arXiv:1412.8447.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise.random import low_rank_matrix
    >>> A, _ = low_rank_matrix(60, 40, [3.0, 2.0, 1.0], rng=0)   # exactly rank 3
    >>> res = cur(A, 3, rng=0)
    >>> res.C.shape, res.U.shape, res.R.shape, bool(np.allclose(res.reconstruct(), A))
    ((60, 3), (3, 3), (3, 40), True)
    """
    func = "cur"
    t0 = time.perf_counter()
    op = as_operator(A, func=func)
    if not op.row_access:
        _checks._fail(func, f"'A' must be a dense array, a scipy.sparse matrix or a dask array (CUR reads its "
                            f"rows and columns); got {op.label} input", _checks.InputTypeError)
    which = _checks.exactly_one(func, rank=rank, tol=tol)
    sel = _checks.choice(select, SELECTS, func=func, name="select")
    how = _checks.choice(core, CORES, func=func, name="core")
    k = _checks.rank(rank, op.shape, func=func) if which == "rank" else None
    t = _checks.real(tol, func=func, name="tol", lo=0, hi=1, lo_open=True, hi_open=True) if k is None else None
    if sel == "uniform" and t is not None:
        _checks._fail(func, "select 'uniform' needs 'rank' (uniform sampling cannot be aimed at a tolerance); "
                            f"got tol={t:g}")
    prep = prepare(op, func=func)  # 2^e A: the same indices; U scaled back by 2^e, errors by 2^-e
    sop, total = prep.op, prep.total
    gen = as_generator(rng, func=func)
    J, I, extra, Cs, Us, Rs, err_sq = _cur_to_target(sop, k, t, sel, how, gen, total)
    m, n = op.shape
    kk = int(J.size)
    err = prep.unscale(math.sqrt(err_sq))
    C, R = (Cs, Rs) if prep.exponent == 0 else (op.columns(J), op.rows(I))  # A's own columns and rows
    U = rescale_result(Us, prep.exponent, func=func, what="the entries of the core U (about 1/σ of A[I, J])")
    met = None if t is None else _numerics.meets_tol(math.sqrt(err_sq), t, math.sqrt(total or 0.0))
    if met is False:
        rel = math.sqrt(err_sq / total) if total else 0.0
        _checks.warn_tolerance(func, t or 0.0, rel, f"CUR of rank {kk} = min(m, n) with select={sel!r}, core="
                                                    f"{how!r}: A[I, J] is too ill-conditioned; another select or "
                                                    f"core, or rankwise.rsvd, may meet it")
    rep = ApproxReport(method="cur", shape=(m, n), rank=kk, fro_error=err,
                       norm_fro=prep.unscale(math.sqrt(total or 0.0)),
                       storage_before=m * n, storage_after=kk * (m + n + kk) + 2 * kk,
                       seconds=time.perf_counter() - t0, exact=True, tol=t, met_tol=met,
                       options={"columns": kk, "rows": int(I.size), "select": sel, "core": how, **extra})
    return CURResult(J, I, C, U, R, rep)
