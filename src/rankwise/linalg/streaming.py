"""Single-pass streaming SVD from linear sketches (Tropp, Yurtsever, Udell & Cevher 2019)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _array, _checks
from ..factors import ApproxReport, SVDResult
from ..random import RNGLike, as_generator
from ._dask import is_dask, sketch_rows
from .sketch import ErrorEstimate, orthonormalize

__all__ = ["StreamingSVD"]

PROBES = 10


class StreamingSVD:
    """Rank-r SVD of a matrix seen once, as row blocks in any order, never held in memory.

    Parameters
    ----------
    shape : (int, int)
        Shape (m, n) of the matrix A.
    rank : int
        Rank r of the result, 1 <= r <= min(m, n).
    sketch_size : int, optional
        Range and co-range sketch size k (default 4r + 1, capped at min(m, n)).
    core_size : int, optional
        Core sketch size s (default 2k + 1, capped at min(m, n)).
    dtype : float32, float64, complex64 or complex128, default float64
        Precision of the sketches.
    rng : None, int or Generator

    Notes
    -----
    With Gaussian test matrices Υ (k × m), Ω (k × n), Φ (s × m), Ψ (s × n), the sketches

    .. math:: X = \\Upsilon A,\\quad Y = A\\Omega^H,\\quad Z = \\Phi A \\Psi^H

    are linear in A, so a block of rows ``A[R, :]`` updates them as
    X += Υ[:, R] A_R, Y[R] += A_R Ωᴴ, Z += Φ[:, R] A_R Ψᴴ, in any order. The estimate is
    Â = Q C Pᴴ with Q = orth(Y), P = orth(Xᴴ), C = (ΦQ)⁺ Z ((ΨP)⁺)ᴴ, truncated to rank r
    (Tropp et al. 2019, Alg. 3–4). Memory: (m + n)(k + s) + s² + m·10 numbers (the last for
    the 10-probe error estimate), independent of how A is read. ‖A‖_F² is accumulated exactly.

    **What the stream must be.** Every row of A is fed exactly once, with ``rows`` saying where
    it belongs: the sketches are sums over rows, so a row fed twice would be counted twice and
    nothing in the sketches could tell. The class therefore keeps one flag per row (m bytes)
    and refuses a block whose ``rows`` overlap rows already fed, repeat an index, or fall
    outside [0, m); :attr:`rows_updated` counts the rows seen and :attr:`complete` says
    whether all m were. ``result()`` before the stream is complete is allowed (it is the
    approximation of A with the missing rows read as zeros). A block must be finite, have n
    columns and be real when the sketches are (a complex block is refused, never cast).

    For σ_i = 0.9^i, r = 10 and the default sizes the tests hold the Frobenius error within
    1.5 times the optimum; the theory (ibid., Thm 5.1) bounds the expected error by
    (1 + k/(k − r − 1))·(1 + … ) times the tail beyond r for these sizes.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise.random import low_rank_matrix
    >>> A, s = low_rank_matrix(120, 80, 0.7 ** np.arange(80), rng=0)
    >>> sk = StreamingSVD(A.shape, 5, rng=1)
    >>> for i in (100, 0, 50):            # any order of row blocks
    ...     sk.update(A[i:i + 50], rows=slice(i, i + 50))
    >>> sk.update(A[50:50], rows=slice(50, 50))
    >>> U, S, Vh = sk.result()
    >>> bool(np.linalg.norm(A - (U * S) @ Vh) < 1.5 * np.sqrt(np.sum(s[5:] ** 2)))
    True
    """

    def __init__(self, shape: tuple[int, int], rank: int, *, sketch_size: int | None = None,
                 core_size: int | None = None, dtype: Any = np.float64, rng: RNGLike = None) -> None:
        func = "StreamingSVD"
        if not (isinstance(shape, tuple) and len(shape) == 2):
            _checks._fail(func, f"'shape' must be a tuple (m, n); got {shape!r}", _checks.InputTypeError)
        m = _checks.integer(shape[0], func=func, name="shape[0]", lo=1)
        n = _checks.integer(shape[1], func=func, name="shape[1]", lo=1)
        r = _checks.rank(rank, (m, n), func=func)
        lim = min(m, n)
        k = min(4 * r + 1, lim) if sketch_size is None else _checks.integer(
            sketch_size, func=func, name="sketch_size", lo=r, hi=lim, hi_text="min(m, n)")
        s = min(2 * k + 1, lim) if core_size is None else _checks.integer(
            core_size, func=func, name="core_size", lo=k, hi=lim, hi_text="min(m, n)")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64, np.complex64, np.complex128):
            _checks._fail(func, f"'dtype' must be float32, float64, complex64 or complex128; got {dt}",
                          _checks.InputTypeError)
        gen = as_generator(rng, func=func)

        def draw(rows: int, cols: int) -> np.ndarray:
            G = gen.standard_normal((rows, cols))
            if dt.kind == "c":
                G = (G + 1j * gen.standard_normal((rows, cols))) / math.sqrt(2)
            return G.astype(dt)

        self.shape, self.rank, self.sketch_size, self.core_size, self.dtype = (m, n), r, k, s, dt
        self._Ups, self._Om, self._Phi, self._Psi = draw(k, m), draw(k, n), draw(s, m), draw(s, n)
        self._Gam = draw(n, PROBES)
        self._X = np.zeros((k, n), dt)
        self._Y = np.zeros((m, k), dt)
        self._Z = np.zeros((s, s), dt)
        self._E = np.zeros((m, PROBES), dt)  # A Γ, for the a-posteriori error estimate
        self._fro_sq = 0.0
        self.rows_updated = 0
        self._seen = np.zeros(m, dtype=bool)  # rows already fed: a row fed twice is refused
        self._completion_seed = int(gen.integers(2**63))  # the same completion at every result()

    def _rows(self, rows: Any, count: int) -> np.ndarray | slice:
        m = self.shape[0]
        func = "StreamingSVD.update"
        if isinstance(rows, slice):
            start, stop, step = rows.indices(m)
            if step != 1 or stop - start != count:
                _checks._fail(func, f"'rows' must select {count} consecutive rows of [0, {m}) matching the block; "
                                    f"got {rows}")
            return slice(start, stop)
        idx = np.asarray(rows)
        if idx.ndim != 1 or idx.shape[0] != count or not np.issubdtype(idx.dtype, np.integer):
            _checks._fail(func, f"'rows' must be a slice or {count} integer row indices; got {_checks.describe(rows)}")
        if count and (idx.min() < 0 or idx.max() >= m):
            _checks._fail(func, f"'rows' must lie in [0, {m}); got values in [{idx.min()}, {idx.max()}]")
        values, counts = np.unique(idx, return_counts=True)
        if np.any(counts > 1):
            dup = int(values[counts > 1][0])
            _checks._fail(func, f"'rows' must name each row once; got row {dup} more than once in one block")
        return idx

    @property
    def complete(self) -> bool:
        """Whether every one of the m rows has been fed."""
        return self.rows_updated == self.shape[0]

    def _claim(self, R: np.ndarray | slice) -> None:
        """Refuse rows that were fed before (each row of A must be seen exactly once)."""
        again = np.flatnonzero(self._seen[R])
        if again.size:
            first = int(np.arange(self.shape[0])[R][again[0]])
            _checks._fail("StreamingSVD.update", f"'rows' must be rows not fed before; got {again.size} row(s) "
                                                 f"already fed, the first row {first} (each row of A must be fed "
                                                 f"exactly once; {self.rows_updated} of {self.shape[0]} seen)")

    def _check_kind(self, dtype: Any, func: str) -> None:
        if np.dtype(dtype).kind == "c" and self.dtype.kind != "c":
            _checks._fail(func, f"'block' must be real for sketches of dtype {self.dtype}; got dtype {dtype} "
                                f"(create the StreamingSVD with a complex dtype)", _checks.InputTypeError)

    def update(self, block: Any, *, rows: Any) -> None:
        """Add the contribution of ``block`` = A[rows, :] (shape (len(rows), n)) to the sketches.

        ``block`` may be a NumPy array, a torch tensor or a ``dask.array`` (of any size: its
        row chunks are sketched where they live, by the active Dask scheduler, and only the
        sketches' parts travel back; see :meth:`_update_dask`).
        """
        func = "StreamingSVD.update"
        if is_dask(block):
            self._update_dask(block, rows)
            return
        B = _checks.array(_array.to_numpy(block) if _array.is_torch(block) else block, func=func, name="block",
                          allow_empty=True)
        if B.shape[1] != self.shape[1]:
            _checks._fail(func, f"'block' must have n = {self.shape[1]} columns; got shape {tuple(B.shape)}")
        R = self._rows(rows, B.shape[0])
        if B.shape[0] == 0:
            return
        self._check_kind(B.dtype, func)
        self._claim(R)
        B = np.asarray(B, dtype=self.dtype)
        self._X += self._Ups[:, R] @ B
        self._Y[R] += B @ self._Om.conj().T
        self._Z += (self._Phi[:, R] @ B) @ self._Psi.conj().T
        self._E[R] += B @ self._Gam
        self._fro_sq += float(np.vdot(B, B).real)
        self.rows_updated += B.shape[0]
        self._seen[R] = True

    def _update_dask(self, block: Any, rows: Any) -> None:
        """One pass over a Dask array: each row chunk is sketched where it lives
        (:func:`rankwise.linalg._dask.sketch_rows`); the m-row parts are added by rows."""
        func = "StreamingSVD.update"
        if block.ndim != 2 or block.shape[1] != self.shape[1] or math.isnan(block.shape[0]):
            _checks._fail(func, f"'block' must be a 2-D dask array with n = {self.shape[1]} columns and known "
                                f"chunks; got shape {tuple(block.shape)}")
        if block.dtype.kind not in "biufc":
            _checks._fail(func, f"'block' must hold numbers; got dtype {block.dtype}", _checks.InputTypeError)
        count = int(block.shape[0])
        R = self._rows(rows, count)
        if count == 0:
            return
        self._check_kind(block.dtype, func)
        self._claim(R)
        idx = np.arange(self.shape[0])[R]
        X, Z, fro, rows_parts = sketch_rows(block, idx, self._Ups, self._Phi, self._Om.conj().T,
                                            self._Psi.conj().T, self._Gam, self.dtype)
        if not (np.all(np.isfinite(X)) and math.isfinite(fro)):
            _checks._fail(func, "'block' must contain only finite values; its sketch is not finite")
        self._X += X
        self._Z += Z
        for Ri, Yi, Ei in rows_parts:
            self._Y[Ri] += Yi
            self._E[Ri] += Ei
        self._fro_sq += fro
        self.rows_updated += count
        self._seen[R] = True

    def _factors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Q = orthonormalize(self._Y.astype(np.result_type(self.dtype, np.float64)))[0]
        P = orthonormalize(self._X.conj().T.astype(Q.dtype))[0]
        C1 = np.linalg.lstsq(self._Phi @ Q, self._Z, rcond=None)[0]
        C = np.linalg.lstsq(self._Psi @ P, C1.conj().T, rcond=None)[0].conj().T
        Uc, sc, Vch = np.linalg.svd(C, full_matrices=False)
        return Q @ Uc, sc, Vch @ P.conj().T

    def result(self) -> SVDResult:
        """The rank-r factors (NumPy, in the sketch dtype) from the sketches seen so far.

        Where the sketches have rank below r (A rank-deficient, or not all rows seen), U and Vh
        are completed with orthonormal columns and S with zeros, as :func:`~rankwise.rsvd` does.
        """
        from .rsvd import _truncate

        U, s, Vh = self._factors()
        return _truncate(U, s, Vh, self.rank, self.dtype, np.random.default_rng(self._completion_seed))

    def error_estimate(self, *, confidence: float = 0.99) -> ErrorEstimate:
        """‖A − Â‖_F estimated from 10 Gaussian probes sketched along the stream (no extra pass)."""
        from scipy.stats import chi2

        U, S, Vh = self.result()
        resid = self._E - U @ (S[:, None] * (Vh @ self._Gam))
        sq = np.sum(np.abs(resid) ** 2, axis=0)
        fro = math.sqrt(float(sq.mean()))
        lo, hi = chi2.ppf((1 - confidence) / 2, PROBES) / PROBES, chi2.ppf(1 - (1 - confidence) / 2, PROBES) / PROBES
        return ErrorEstimate(fro, fro / math.sqrt(hi), fro / math.sqrt(lo), 10 * math.sqrt(2 / math.pi) *
                             math.sqrt(float(sq.max())), confidence, 1 - 10.0**-PROBES, PROBES)

    def report(self, seconds: float = 0.0) -> ApproxReport:
        """An :class:`ApproxReport` with the exact ‖A‖_F and the estimated error (``exact=False``)."""
        m, n = self.shape
        est = self.error_estimate()
        S = self.result().S
        return ApproxReport(method="rsvd-1pass", shape=(m, n), rank=int(S.shape[0]), fro_error=est.fro,
                            norm_fro=math.sqrt(self._fro_sq), norm_2=float(S[0]) if S.size else 0.0,
                            storage_before=m * n, storage_after=int(S.shape[0]) * (m + n + 1), seconds=seconds,
                            exact=False, options={"sketch_size": self.sketch_size, "core_size": self.core_size,
                                                  "rows_updated": self.rows_updated, "passes": 1})

