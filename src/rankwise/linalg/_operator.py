"""One interface over the inputs the randomized methods accept.

Dense arrays (NumPy, torch on any device, array-API libraries), ``scipy.sparse``
matrices, ``scipy.sparse.linalg.LinearOperator`` (products only), ``.npy`` files on
disk (:class:`NpyMatrix`, read in row blocks with bounded memory) and ``dask.array``
arrays (products computed blockwise by Dask, on any scheduler) all become an
:class:`Operator` with ``matmat`` (A @ X), ``rmatmat`` (Aᴴ @ Y), ``fused`` (both in one
pass over the rows, for inputs that are expensive to read) and ``fro_sq`` (‖A‖_F² when
it can be had). The factors come back in the namespace of ``like``: the input's own
library and device for dense arrays, NumPy for everything else.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _array, _checks
from .._array import Array
from .._threads import dask_blas_threads

DEFAULT_BLOCK_BYTES = 64 * 2**20  # row blocks read from disk hold at most this many bytes


def _is_sparse(A: Any) -> bool:
    return "scipy.sparse" in sys.modules and sys.modules["scipy.sparse"].issparse(A)


def is_dask(A: Any) -> bool:
    """True for a ``dask.array.Array`` (without importing Dask when it is not loaded)."""
    mod = sys.modules.get("dask.array")
    return mod is not None and isinstance(A, mod.Array)


def _is_linear_operator(A: Any) -> bool:
    mod = sys.modules.get("scipy.sparse.linalg")
    return mod is not None and isinstance(A, mod.LinearOperator)


class NpyMatrix:
    """A 2-D ``.npy`` file used as a matrix without loading it.

    Products read the file in blocks of ``block_rows`` rows into one reusable buffer, so
    the memory held is ``block_rows · n · itemsize`` (at most 64 MiB by default) plus the
    products' outputs (m × l and n × l), whatever the file's size.

    Parameters
    ----------
    path : path-like
        A C-ordered 2-D ``.npy`` file of a real or complex floating dtype.
    block_rows : int, optional
        Rows per block (default: as many as fit in 64 MiB).
    progress : callable, optional
        Called as ``progress(rows_read, m)`` after each block (a progress bar, for instance).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "a.npy"); np.save(f, np.eye(3))
    >>> NpyMatrix(f).shape
    (3, 3)
    """

    def __init__(self, path: str | os.PathLike[str], *, block_rows: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.path = Path(path)
        self.progress = progress
        func = "NpyMatrix"
        try:
            mm = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            _checks._fail(func, f"'path' must be an existing .npy file; got {str(self.path)!r} (no such file)")
        except (ValueError, OSError, EOFError) as exc:
            _checks._fail(func, f"'path' must be a readable .npy file; got {str(self.path)!r} ({exc})")
        if mm.ndim != 2:
            _checks._fail(func, f"the file must hold a 2-D array; got shape {mm.shape} in {self.path}")
        if not mm.flags.c_contiguous:
            _checks._fail(func, f"the file must be C-ordered; {self.path} is Fortran-ordered (save A.T instead)")
        if mm.dtype.kind not in "fc":
            _checks._fail(func, f"the file must hold floating values; got dtype {mm.dtype}", _checks.InputTypeError)
        self.shape: tuple[int, int] = (int(mm.shape[0]), int(mm.shape[1]))
        self.dtype = mm.dtype
        self.offset = int(mm.offset)
        del mm
        row_bytes = max(1, self.shape[1] * self.dtype.itemsize)
        default = max(1, DEFAULT_BLOCK_BYTES // row_bytes)
        self.block_rows = default if block_rows is None else _checks.integer(
            block_rows, func=func, name="block_rows", lo=1)
        self.reads = 0  # complete passes over the file so far

    def __repr__(self) -> str:
        return f"NpyMatrix({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    def blocks(self) -> Any:
        """Yield ``(row_start, block)`` over the whole file; ``block`` is reused between steps."""
        m, n = self.shape
        buf = np.empty((min(self.block_rows, m), n), dtype=self.dtype)
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            for i0 in range(0, m, self.block_rows):
                rows = min(self.block_rows, m - i0)
                view = buf[:rows]
                got = fh.readinto(memoryview(view).cast("B"))  # type: ignore[arg-type]
                if got != view.nbytes:
                    raise OSError(f"{self.path}: file ends early at row {i0} (truncated .npy)")
                yield i0, view
                if self.progress is not None:
                    self.progress(i0 + rows, m)
        self.reads += 1


@dataclass
class Operator:
    """A matrix seen through its products (see the module docstring)."""

    shape: tuple[int, int]
    dtype: Any  # the computing dtype of the products (NumPy or the input library's)
    like: Array  # an array of the output namespace, device and dtype
    matmat: Callable[[Array], Array]
    rmatmat: Callable[[Array], Array]
    fused: Callable[[Array], tuple[Array, Array]]
    fro_sq: Callable[[], float | None]
    kind: str
    streamed: bool = False  # True when every product is a read of the data (disk, Dask)
    source: Any = None  # the wrapped input where it is not ``like`` (a Dask array, an NpyMatrix)
    sums_norm: bool = False  # streamed: ‖A‖_F² is summed during the first read, so fro_sq() costs nothing
    # (A X kept where it was computed, as a Dask array; Aᴴ A X or None; (A X)ᴴ(A X) in float64 or
    # complex128, summed on the workers): row-chunked Dask input only
    keep: Callable[[Array, bool], tuple[Any, Array | None, np.ndarray]] | None = None

    @property
    def xp(self) -> Any:
        return _array.namespace(self.like)


def _fro_sq_dense(A: Array) -> float:
    """‖A‖_F² accumulated in float64 (float32 data is summed in float64 blocks)."""
    if _array.is_numpy(A):
        if A.dtype in (np.float64, np.complex128):
            flat = A.reshape(-1) if A.flags.c_contiguous or A.flags.f_contiguous else np.ravel(A)
            return float(np.vdot(flat, flat).real)
        total = 0.0
        step = max(1, 2**22 // max(1, A.shape[1]))
        for i in range(0, A.shape[0], step):
            blk = np.asarray(A[i:i + step], dtype=np.complex128 if np.iscomplexobj(A) else np.float64)
            total += float(np.vdot(blk, blk).real)
        return total
    if _array.is_torch(A):
        torch = sys.modules["torch"]
        return float(torch.linalg.vector_norm(A, dtype=torch.complex128 if A.is_complex() else torch.float64)) ** 2
    xp = _array.namespace(A)
    A64 = xp.astype(A, xp.complex128 if _array.is_complex(A) else xp.float64)
    return _array.to_float(xp.sum(xp.abs(A64) ** 2))


def _dense(A: Array) -> Operator:
    AH = _array.conj_transpose(A)

    def fused(X: Array) -> tuple[Array, Array]:
        Y = A @ X
        return Y, AH @ Y

    return Operator(tuple(A.shape), A.dtype, A, lambda X: A @ X, lambda Y: AH @ Y, fused,
                    lambda: _fro_sq_dense(A), "dense")


def _sparse(A: Any) -> Operator:
    A = A.tocsr() if A.format not in ("csr", "csc") else A
    if A.dtype.kind not in "fc":
        A = A.astype(np.float64)
    elif A.dtype == np.float16:
        A = A.astype(np.float32)
    AH = A.conj().T

    def mm(X: Array) -> Array:
        out = A @ X  # sparse when X is a sparse sketch
        return out.toarray() if hasattr(out, "toarray") else np.asarray(out)

    def rmm(Y: Array) -> Array:
        return np.asarray(AH @ Y)

    def fused(X: Array) -> tuple[Array, Array]:
        Y = mm(X)
        return Y, rmm(Y)

    like = np.empty((0, 0), dtype=A.dtype)
    data = A.data
    return Operator(tuple(A.shape), A.dtype, like, mm, rmm, fused,
                    lambda: float(np.vdot(data, data).real), "sparse")


def _linear_operator(A: Any) -> Operator:
    dt = np.dtype(A.dtype) if A.dtype is not None else np.dtype(np.float64)
    dt = dt if dt.kind in "fc" and dt != np.float16 else np.dtype(np.float64)

    def mm(X: Array) -> Array:
        return np.asarray(A.matmat(X))

    def rmm(Y: Array) -> Array:
        return np.asarray(A.rmatmat(Y))

    def fused(X: Array) -> tuple[Array, Array]:
        Y = mm(X)
        return Y, rmm(Y)

    return Operator(tuple(A.shape), dt, np.empty((0, 0), dtype=dt), mm, rmm, fused, lambda: None,
                    "linear-operator")


def _npy(A: NpyMatrix, sums_norm: bool = True) -> Operator:
    m, n = A.shape
    norm: dict[str, float] = {}

    def mm(X: Array) -> Array:
        out = np.empty((m, X.shape[1]), dtype=np.result_type(A.dtype, X.dtype))
        want, acc = sums_norm and "fro" not in norm, 0.0
        for i0, blk in A.blocks():
            out[i0:i0 + blk.shape[0]] = blk @ X
            acc += float(np.vdot(blk, blk).real) if want else 0.0
        if want:
            norm["fro"] = acc
        return out

    def rmm(Y: Array) -> Array:
        out = np.zeros((n, Y.shape[1]), dtype=np.result_type(A.dtype, Y.dtype))
        for i0, blk in A.blocks():
            out += blk.conj().T @ Y[i0:i0 + blk.shape[0]]
        return out

    def fused(X: Array) -> tuple[Array, Array]:
        Y = np.empty((m, X.shape[1]), dtype=np.result_type(A.dtype, X.dtype))
        Z = np.zeros((n, X.shape[1]), dtype=Y.dtype)
        want, acc = sums_norm and "fro" not in norm, 0.0
        for i0, blk in A.blocks():
            Yi = blk @ X
            Y[i0:i0 + blk.shape[0]] = Yi
            Z += blk.conj().T @ Yi
            acc += float(np.vdot(blk, blk).real) if want else 0.0
        if want:
            norm["fro"] = acc
        return Y, Z

    def fro() -> float:
        if "fro" not in norm:
            norm["fro"] = sum(float(np.vdot(b, b).real) for _, b in A.blocks())
        return norm["fro"]

    return Operator(A.shape, A.dtype, np.empty((0, 0), dtype=A.dtype), mm, rmm, fused, fro, "npy-file",
                    streamed=True, source=A, sums_norm=sums_norm)


def tree_sum(parts: list[Any]) -> Any:
    """Pairwise sum of Dask delayed values (or tuples of them, summed entrywise): log2(len) levels,
    nothing gathered on the client."""
    import dask

    while len(parts) > 1:
        parts = [dask.delayed(_add)(*parts[i:i + 2]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, tuple):
        return tuple(x + y for x, y in zip(a, b, strict=True))
    return a + b


def _rows_fused(block: Any, X: np.ndarray, adjoint: bool, fro: bool, gram: bool = False) -> tuple[Any, ...]:
    """One row chunk A_i: (A_i X, A_iᴴ A_i X or 0, ‖A_i‖_F² or 0, (A_i X)ᴴ(A_i X) or 0) from a single
    read (on a worker); the Gram is accumulated in double precision."""
    Y = block @ X
    if gram:
        Y2 = Y.astype(np.complex128 if np.iscomplexobj(Y) else np.float64, copy=False)
        G = _adjoint(Y2) @ Y2
    return (Y, (_adjoint(block) @ Y if adjoint else 0.0), (_fro_sq_chunk(block) if fro else 0.0),
            (G if gram else 0.0))


def _fro_sq_chunk(block: Any) -> float:
    return float(np.vdot(block, block).real)


def _adjoint(block: Any) -> Any:
    return block.conj().T if np.iscomplexobj(block) else block.T  # .conj() would copy a real chunk


def _rows_adjoint(block: Any, Y: np.ndarray) -> np.ndarray:
    return np.asarray(_adjoint(block) @ Y)


def _cols_product(block: Any, X: np.ndarray, fro: bool) -> tuple[np.ndarray, float]:
    return np.asarray(block @ X), (_fro_sq_chunk(block) if fro else 0.0)


def dask_compute(*args: Any) -> Any:
    """``dask.compute`` with BLAS threads fitted to Dask's local thread pool (see :mod:`rankwise._threads`)."""
    with dask_blas_threads():
        return sys.modules["dask"].compute(*args)


def _dask_persist(*args: Any) -> Any:
    with dask_blas_threads():
        return sys.modules["dask"].persist(*args)


def _dask(A: Any, sums_norm: bool = True) -> Operator:
    """Products of a Dask array, one task per chunk, on whatever scheduler is active; results in NumPy.

    Row-chunked input (one chunk across the columns; arrays chunked both ways are rechunked to
    whole rows, lazily, per pass): ``fused(X)`` runs one task per row chunk A_i that reads it
    once and returns A_i X and A_iᴴ(A_i X); the n × l parts are summed by a tree reduction on
    the workers. The client sends X (n × l) and receives Y = A X (m × l, by rows) and Aᴴ Y
    (n × l): (m + 2n)·l numbers per pass, whatever the number of workers or chunks. Input
    chunked only by columns (A_j = A[:, J_j]) needs Y before any A_jᴴ Y, so ``fused`` reads it
    twice. ‖A‖_F² is accumulated in float64 during the first pass (unless ``sums_norm`` is False).
    """
    import dask

    delayed = dask.delayed
    if A.dtype.kind not in "fc":
        A = A.astype(np.float64)
    elif A.dtype == np.float16:
        A = A.astype(np.float32)
    by_cols = A.numblocks[0] == 1 and A.numblocks[1] > 1
    if not by_cols and A.numblocks[1] > 1:
        A = A.rechunk({1: -1})
    blocks = A.to_delayed()
    blocks = list(blocks[0, :]) if by_cols else list(blocks[:, 0])
    edges = np.cumsum((0, *(A.chunks[1] if by_cols else A.chunks[0])))
    m, n = int(A.shape[0]), int(A.shape[1])
    norm: dict[str, float] = {}

    def keep(fro: float, want: bool) -> None:
        if want:
            norm["fro"] = float(fro)

    def wanted() -> bool:
        return sums_norm and "fro" not in norm

    def rows_pass(X: Array, adjoint: bool) -> tuple[Array, Array | None]:
        want = wanted()
        Xd = delayed(np.asarray(X), pure=True)
        parts = [delayed(_rows_fused, nout=4)(b, Xd, adjoint, want) for b in blocks]
        (Z, fro), *Y = dask_compute(tree_sum([(p[1], p[2]) for p in parts]), *(p[0] for p in parts))
        keep(fro, want)
        return np.concatenate(Y, axis=0), (np.asarray(Z) if adjoint else None)

    def cols_mm(X: Array) -> Array:
        want = wanted()
        X = np.asarray(X)
        parts = [delayed(_cols_product)(b, X[edges[j]:edges[j + 1]], want) for j, b in enumerate(blocks)]
        Y, fro = dask_compute(tree_sum(parts))[0]
        keep(fro, want)
        return np.asarray(Y)

    def mm(X: Array) -> Array:
        return cols_mm(X) if by_cols else rows_pass(X, False)[0]

    def rmm(Y: Array) -> Array:
        Y = np.asarray(Y)
        if by_cols:
            Yd = delayed(Y, pure=True)
            return np.concatenate(dask_compute(*[delayed(_rows_adjoint)(b, Yd) for b in blocks]), axis=0)
        parts = [delayed(_rows_adjoint)(b, Y[edges[i]:edges[i + 1]]) for i, b in enumerate(blocks)]
        return np.asarray(dask_compute(tree_sum(parts))[0])

    def fused(X: Array) -> tuple[Array, Array]:
        if by_cols:
            Y = cols_mm(X)
            return Y, rmm(Y)
        Y, Z = rows_pass(X, True)
        assert Z is not None
        return Y, Z

    def kept_pass(X: Array, adjoint: bool) -> tuple[Any, Array | None, np.ndarray]:
        """As ``rows_pass``, but A X stays where its chunks were computed (persisted: on the workers),
        and its Gram matrix (A X)ᴴ(A X) comes back, summed over the chunks in double precision."""
        da = sys.modules["dask.array"]
        want = wanted()
        X = np.asarray(X)
        Xd = delayed(X, pure=True)
        parts = [delayed(_rows_fused, nout=4)(b, Xd, adjoint, want, True) for b in blocks]
        total, *Y = _dask_persist(tree_sum([(p[1], p[2], p[3]) for p in parts]), *(p[0] for p in parts))
        Z, fro, G = dask_compute(total)[0]  # already in memory; a plain tuple when there is one chunk
        keep(fro, want)
        dt = np.result_type(A.dtype, X.dtype)
        Yd = da.concatenate([da.from_delayed(y, (int(edges[i + 1] - edges[i]), X.shape[1]), dtype=dt)
                             for i, y in enumerate(Y)], axis=0)
        return Yd, (np.asarray(Z) if adjoint else None), np.asarray(G)

    def fro() -> float:
        if "fro" not in norm:
            norm["fro"] = float(dask_compute(tree_sum([delayed(_fro_sq_chunk)(b) for b in blocks]))[0])
        return norm["fro"]

    return Operator((m, n), A.dtype, np.empty((0, 0), dtype=A.dtype), mm, rmm, fused, fro, "dask",
                    streamed=True, source=A, keep=None if by_cols else kept_pass, sums_norm=sums_norm)


def as_operator(A: Any, *, func: str, name: str = "A") -> Operator:
    """Validate ``A`` and wrap it as an :class:`Operator` (dense inputs are checked for NaN/Inf)."""
    if isinstance(A, NpyMatrix):
        op = _npy(A)
    elif _is_sparse(A):
        if A.ndim != 2:
            _checks._fail(func, f"'{name}' must be 2-D; got a sparse array of shape {A.shape}")
        op = _sparse(A)
        data = A.data if hasattr(A, "data") else np.empty(0)
        if data.size and data.dtype.kind in "fc":
            _checks.finite(data, func=func, name=name)
    elif _is_linear_operator(A):
        op = _linear_operator(A)
    elif is_dask(A):
        if A.ndim != 2:
            _checks._fail(func, f"'{name}' must be 2-D; got a dask array of shape {A.shape}")
        if any(math.isnan(c) for c in A.shape):
            _checks._fail(func, f"'{name}' must have known chunk sizes; got a dask array of shape {A.shape} "
                                "(call A.compute_chunk_sizes() first)")
        if A.dtype.kind not in "biufc":
            _checks._fail(func, f"'{name}' must hold numbers; got a dask array of dtype {A.dtype}",
                          _checks.InputTypeError)
        op = _dask(A)
    else:
        dense = _checks.matrix(A, func=func, name=name, check_finite=False)
        op = _dense(dense)
    m, n = op.shape
    if m == 0 or n == 0:
        _checks._fail(func, f"'{name}' must be non-empty; got shape {(m, n)}")
    return op


def fro_sq_checked(op: Operator, *, func: str, name: str = "A") -> float | None:
    """‖A‖_F² (None for a LinearOperator), raising the NaN/Inf error when it is not finite.

    For dense input this one pass doubles as the finiteness check: a finite sum of squares
    proves every entry finite, and only otherwise are NaN and Inf counted.
    """
    total = op.fro_sq()
    if total is None or math.isfinite(total):
        return total
    raise_nonfinite(op, func=func, name=name)
    _checks._fail(func, f"'{name}' must contain only finite values with a finite sum of squares; "
                        f"got ‖{name}‖_F² = {total}")


def without_norm(op: Operator) -> Operator:
    """The same operator, minus the sum of squares during the first read of a streamed input.

    For callers that will not ask for ‖A‖_F (it saves a pass of squares over every block, a
    few per cent of a read); ``fro_sq()`` then reads A once more. Other inputs are returned as
    they are.
    """
    if op.kind == "dask":
        return _dask(op.source, sums_norm=False)
    if op.kind == "npy-file":
        return _npy(op.source, sums_norm=False)
    return op


def single_precision(op: Operator) -> Operator | None:
    """The same matrix rounded to float32 (complex64) for double-precision dense or Dask input, else None.

    Dense input is converted once (m·n·4 bytes more, 8 for complex); a Dask array is
    converted chunk by chunk inside the tasks that read it, so nothing more is held.
    Entries beyond float32's range become ±Inf (callers check the sketch and fall back).
    """
    if op.kind not in ("dense", "dask") or str(op.dtype).split(".")[-1] not in ("float64", "complex128"):
        return None
    if op.kind == "dask":
        src = op.source
        return _dask(src.astype(np.complex64 if src.dtype.kind == "c" else np.float32), op.sums_norm)
    xp = op.xp
    low = xp.complex64 if xp.isdtype(op.dtype, "complex floating") else xp.float32
    with np.errstate(over="ignore", under="ignore"):
        return _dense(xp.astype(op.like, low))


def raise_nonfinite(op: Operator, *, func: str, name: str = "A") -> None:
    """Raise the NaN/Inf error with its counts where they can be had (dense and Dask input)."""
    if op.kind == "dense":
        _checks.finite(op.like, func=func, name=name)
    elif op.kind == "dask":
        da = sys.modules["dask.array"]
        nan, inf = dask_compute(da.isnan(op.source).sum(), da.isinf(op.source).sum())
        if nan or inf:
            _checks._fail(func, f"'{name}' must contain only finite values; got {int(nan)} NaN and {int(inf)} "
                                f"infinite entries (dask array of shape {op.shape})")
