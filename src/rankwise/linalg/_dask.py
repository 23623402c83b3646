"""Dask arrays as operators: products computed blockwise by Dask, on any scheduler.

Everything rankwise knows about Dask lives here: the operator, the products kept on the
workers for the block Krylov method, tree reductions, the streaming sketch of a Dask block
and the BLAS-thread setting around Dask's local threaded scheduler. Dask is imported only
inside these functions, so importing rankwise never imports Dask.

Row-chunked input (one chunk across the columns; arrays chunked both ways are rechunked to
whole rows, lazily, per pass): ``fused(X)`` runs one task per row chunk A_i that reads it
once and returns A_i X and A_iᴴ(A_i X); the n × l parts are summed by a tree reduction on
the workers. The client sends X (n × l) and receives Y = A X (m × l, by rows) and Aᴴ Y
(n × l): (m + 2n)·l numbers per pass, whatever the number of workers or chunks. Input
chunked only by columns (A_j = A[:, J_j]) needs Y before any A_jᴴ Y, so ``fused`` reads it
twice. ‖A‖_F² is accumulated in float64 during the first pass (unless ``sums_norm`` is False).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, NamedTuple

import numpy as np

from .. import _checks
from .._array import Array
from .._threads import blas_thread_limit
from ._operator import Operator, sum_sq

__all__ = ["DaskOperator", "SchedulerUnreachable", "dask_compute", "is_dask", "row_chunked", "session",
           "sketch_rows", "tree_sum"]


def is_dask(A: Any) -> bool:
    """True for a ``dask.array.Array`` (without importing Dask when it is not loaded)."""
    mod = sys.modules.get("dask.array")
    return mod is not None and isinstance(A, mod.Array)


def dask_blas_threads() -> AbstractContextManager[Any]:
    """BLAS threads = cores ÷ Dask threads while Dask's local threaded scheduler runs (else a no-op).

    Under the threaded scheduler every task of a pass calls BLAS at once; with BLAS's own
    threads on top the cores would be oversubscribed. Distributed workers are left alone:
    Dask starts their processes with one BLAS thread.
    """
    import dask
    import dask.threaded
    from dask.base import get_scheduler

    scheduler = get_scheduler()
    if scheduler is not None and scheduler is not dask.threaded.get:
        return nullcontext()
    cores = os.cpu_count() or 1
    workers = dask.config.get("num_workers", None) or cores
    return blas_thread_limit(max(1, cores // int(workers)))


class SchedulerUnreachable(OSError):
    """No Dask scheduler answered at the address given to :func:`session`."""


def _task_progress(progress: Callable[[int, int], None]) -> Any:
    """A Dask callback (local schedulers) calling ``progress(done, total)`` after every task."""
    from dask.callbacks import Callback

    class _Progress(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            done = len(state["finished"])
            progress(done, done + sum(len(state[k]) for k in ("ready", "waiting", "running")))

    return _Progress()


@contextmanager
def session(scheduler: str | None = None, *, progress: Callable[[int, int], None] | None = None,
            timeout: float = 5.0) -> Iterator[None]:
    """Run the body's Dask computations on the scheduler at ``scheduler`` (a ``distributed.Client``
    of it is active), or on Dask's local threads with ``progress(done, total)`` called after each
    task. Raises :class:`SchedulerUnreachable` when no scheduler answers within ``timeout`` seconds."""
    if scheduler is not None:
        from distributed import Client

        try:
            client = Client(scheduler, timeout=timeout)
        except OSError as exc:
            raise SchedulerUnreachable(str(exc)) from None
        with client:
            yield
        return
    if progress is None:
        yield
        return
    with _task_progress(progress):
        yield


def row_chunked(source: Any, rows: int, *, name: str) -> Any:
    """A lazy ``dask.array`` over ``source`` (anything with shape, dtype and slicing), ``rows`` rows per
    chunk and whole rows in each; ``name`` is its stable key (no lock: the reads are independent)."""
    import dask.array as da

    return da.from_array(source, chunks=(rows, -1), lock=False, asarray=True, name=name)


def dask_compute(*args: Any) -> Any:
    """``dask.compute`` with BLAS threads fitted to Dask's local thread pool."""
    import dask

    with dask_blas_threads():
        return dask.compute(*args)


def _dask_persist(*args: Any) -> Any:
    import dask

    with dask_blas_threads():
        return dask.persist(*args)


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


# --------------------------------------------------------------------------- chunk tasks (run on workers)


def _adjoint(block: Any) -> Any:
    return block.conj().T if np.iscomplexobj(block) else block.T  # .conj() would copy a real chunk


def _fro_sq_chunk(block: Any) -> float:
    return sum_sq(np.asarray(block))


def _rows_fused(block: Any, X: np.ndarray, adjoint: bool, fro: bool, gram: bool = False) -> tuple[Any, ...]:
    """One row chunk A_i: (A_i X, A_iᴴ A_i X or 0, ‖A_i‖_F² or 0, (A_i X)ᴴ(A_i X) or 0) from a single
    read; the Gram is accumulated in double precision."""
    Y = block @ X
    if gram:
        Y2 = Y.astype(np.complex128 if np.iscomplexobj(Y) else np.float64, copy=False)
        G = _adjoint(Y2) @ Y2
    return (Y, (_adjoint(block) @ Y if adjoint else 0.0), (_fro_sq_chunk(block) if fro else 0.0),
            (G if gram else 0.0))


def _rows_adjoint(block: Any, Y: np.ndarray) -> np.ndarray:
    return np.asarray(_adjoint(block) @ Y)


def _cols_product(block: Any, X: np.ndarray, fro: bool) -> tuple[np.ndarray, float]:
    return np.asarray(block @ X), (_fro_sq_chunk(block) if fro else 0.0)


def _rows_times(M: np.ndarray, *blocks: np.ndarray) -> np.ndarray:
    return np.concatenate(blocks, axis=1) @ M


# --------------------------------------------------------------------------- the operator


class DaskOperator(Operator):
    """A 2-D ``dask.array`` of numbers: products blockwise on the active scheduler, NumPy results.

    See the module docstring for what each pass reads and sends.
    """

    label = "dask"
    streamed = True
    row_access = True
    knows_norm = True

    def __init__(self, A: Any, *, sums_norm: bool = True) -> None:
        import dask

        self._delayed = dask.delayed
        if A.dtype.kind not in "fc":
            A = A.astype(np.float64)
        elif A.dtype == np.float16:
            A = A.astype(np.float32)
        self.source = A
        self.sums_norm = sums_norm
        self.by_cols = A.numblocks[0] == 1 and A.numblocks[1] > 1
        if not self.by_cols and A.numblocks[1] > 1:
            A = A.rechunk({1: -1})
        blocks = A.to_delayed()
        self.blocks = list(blocks[0, :]) if self.by_cols else list(blocks[:, 0])
        self.edges = np.cumsum((0, *(A.chunks[1] if self.by_cols else A.chunks[0])))
        self.shape = (int(A.shape[0]), int(A.shape[1]))
        self.dtype = A.dtype
        self.like = np.empty((0, 0), dtype=A.dtype)
        self._fro: float | None = None

    @classmethod
    def from_input(cls, A: Any, *, func: str, name: str) -> Operator:
        if A.ndim != 2:
            _checks._fail(func, f"'{name}' must be 2-D; got a dask array of shape {A.shape}")
        if any(math.isnan(c) for c in A.shape):
            _checks._fail(func, f"'{name}' must have known chunk sizes; got a dask array of shape {A.shape} "
                                "(call A.compute_chunk_sizes() first)")
        if A.dtype.kind not in "biufc":
            _checks._fail(func, f"'{name}' must hold numbers; got a dask array of dtype {A.dtype}",
                          _checks.InputTypeError)
        return cls(A)

    def _want_norm(self) -> bool:
        return self.sums_norm and self._fro is None

    def _keep_norm(self, fro: float, want: bool) -> None:
        if want:
            self._fro = float(fro)

    def _rows_pass(self, X: Array, adjoint: bool) -> tuple[Array, Array | None]:
        want = self._want_norm()
        Xd = self._delayed(np.asarray(X), pure=True)
        parts = [self._delayed(_rows_fused, nout=4)(b, Xd, adjoint, want) for b in self.blocks]
        (Z, fro), *Y = dask_compute(tree_sum([(p[1], p[2]) for p in parts]), *(p[0] for p in parts))
        self._keep_norm(fro, want)
        return np.concatenate(Y, axis=0), (np.asarray(Z) if adjoint else None)

    def _cols_matmat(self, X: Array) -> Array:
        want = self._want_norm()
        X = np.asarray(X)
        e = self.edges
        parts = [self._delayed(_cols_product)(b, X[e[j]:e[j + 1]], want) for j, b in enumerate(self.blocks)]
        Y, fro = dask_compute(tree_sum(parts))[0]
        self._keep_norm(fro, want)
        return np.asarray(Y)

    def matmat(self, X: Array) -> Array:
        return self._cols_matmat(X) if self.by_cols else self._rows_pass(X, False)[0]

    def rmatmat(self, Y: Array) -> Array:
        Y = np.asarray(Y)
        if self.by_cols:
            Yd = self._delayed(Y, pure=True)
            return np.concatenate(dask_compute(*[self._delayed(_rows_adjoint)(b, Yd) for b in self.blocks]), axis=0)
        e = self.edges
        parts = [self._delayed(_rows_adjoint)(b, Y[e[i]:e[i + 1]]) for i, b in enumerate(self.blocks)]
        return np.asarray(dask_compute(tree_sum(parts))[0])

    def fused(self, X: Array) -> tuple[Array, Array]:
        if self.by_cols:
            Y = self._cols_matmat(X)
            return Y, self.rmatmat(Y)
        Y, Z = self._rows_pass(X, True)
        assert Z is not None
        return Y, Z

    def kept(self) -> KeptRows | None:
        return None if self.by_cols else KeptRows(self)

    def columns(self, idx: np.ndarray) -> Array:  # only the chosen columns are read
        return np.asarray(self.source[:, idx].compute()).astype(self.dtype, copy=False)

    def rows(self, idx: np.ndarray) -> Array:
        return np.asarray(self.source[idx, :].compute()).astype(self.dtype, copy=False)

    def residual_fro_sq(self, C: Array, M: Array) -> float:
        """Blockwise on the workers, C's rows sent along with A's row chunks."""
        import dask.array as da

        Cd = da.from_array(np.asarray(C), chunks=(self.source.chunks[0], C.shape[1]))
        return float((abs(self.source - Cd @ np.asarray(M)) ** 2).sum(dtype=np.float64).compute())

    def fro_sq(self) -> float:
        if self._fro is None:
            parts = [self._delayed(_fro_sq_chunk)(b) for b in self.blocks]
            self._fro = float(dask_compute(tree_sum(parts))[0])
        return self._fro

    def raise_nonfinite(self, *, func: str, name: str = "A") -> None:
        import dask.array as da

        nan, inf = dask_compute(da.isnan(self.source).sum(), da.isinf(self.source).sum())
        if nan or inf:
            _checks._fail(func, f"'{name}' must contain only finite values; got {int(nan)} NaN and {int(inf)} "
                                f"infinite entries (dask array of shape {self.shape})")

    def without_norm(self) -> Operator:
        return DaskOperator(self.source, sums_norm=False)

    def single_precision(self) -> Operator | None:
        """Converted chunk by chunk inside the tasks that read it, so nothing more is held."""
        if self.dtype not in (np.float64, np.complex128):
            return None
        src = self.source
        return DaskOperator(src.astype(np.complex64 if src.dtype.kind == "c" else np.float32), sums_norm=self.sums_norm)

    def transpose(self, *, conjugate: bool = False) -> Operator:
        src = self.source.T
        return DaskOperator(src.conj() if conjugate and src.dtype.kind == "c" else src, sums_norm=self.sums_norm)

    def as_left_factor(self, U: Array) -> Any:
        if is_dask(U):
            return U
        import dask.array as da

        return da.from_array(U, chunks=(self.source.chunks[0], -1))

    def gather(self, X: Any) -> Any:
        return np.asarray(X.compute()) if is_dask(X) else X


class KeptRows:
    """Products A X of a row-chunked Dask array kept (persisted) on the workers."""

    def __init__(self, op: DaskOperator) -> None:
        self.op = op

    def step(self, X: Array, adjoint: bool) -> tuple[Any, Array | None, np.ndarray]:
        """As a fused pass, but A X stays where its chunks were computed, and its Gram matrix
        (A X)ᴴ(A X) comes back, summed over the chunks in double precision."""
        import dask.array as da

        op = self.op
        want = op._want_norm()
        X = np.asarray(X)
        Xd = op._delayed(X, pure=True)
        parts = [op._delayed(_rows_fused, nout=4)(b, Xd, adjoint, want, True) for b in op.blocks]
        total, *Y = _dask_persist(tree_sum([(p[1], p[2], p[3]) for p in parts]), *(p[0] for p in parts))
        Z, fro, G = dask_compute(total)[0]  # already in memory; a plain tuple when there is one chunk
        op._keep_norm(fro, want)
        dt = np.result_type(op.dtype, X.dtype)
        e = op.edges
        Yd = da.concatenate([da.from_delayed(y, (int(e[i + 1] - e[i]), X.shape[1]), dtype=dt)
                             for i, y in enumerate(Y)], axis=0)
        return Yd, (np.asarray(Z) if adjoint else None), np.asarray(G)

    def concat(self, blocks: list[Any]) -> Any:
        import dask.array as da

        return da.concatenate(blocks, axis=1)

    def times(self, Y: Any, M: np.ndarray) -> Any:
        """Y M with one task per row chunk (Dask's blockwise matmul would make one per block pair
        and move blocks between workers)."""
        import dask
        import dask.array as da

        rows = Y.to_delayed(optimize_graph=False)  # row chunks × column blocks; keeps the persisted futures
        Md = dask.delayed(M.astype(Y.dtype), pure=True)
        k = int(M.shape[1])
        return da.concatenate([da.from_delayed(dask.delayed(_rows_times)(Md, *rows[i]), (int(c), k), dtype=Y.dtype)
                               for i, c in enumerate(Y.chunks[0])], axis=0)

    def gather(self, Y: Any) -> np.ndarray:
        return np.asarray(Y.compute())


# --------------------------------------------------------------------------- streaming


def _sketch_chunk(B: Any, ups: np.ndarray, phi: np.ndarray, shared: tuple[np.ndarray, ...],
                  dtype: np.dtype) -> tuple[Any, ...]:
    """The sketches' parts from one row chunk B = A[R_i, :] (runs on a Dask worker)."""
    om_h, psi_h, gam = shared
    B = np.asarray(B, dtype=dtype)
    return ups @ B, (phi @ B) @ psi_h, float(np.vdot(B, B).real), B @ om_h, B @ gam


class RowSketch(NamedTuple):
    """The single-pass sketches' parts from a block of rows: Υ A and Φ A Ψᴴ summed, ‖A‖_F², and
    per row chunk (its row indices, A_i Ωᴴ, A_i Γ)."""

    X: np.ndarray
    Z: np.ndarray
    fro_sq: float
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def sketch_rows(block: Any, idx: np.ndarray, ups: np.ndarray, phi: np.ndarray, om_h: np.ndarray,
                psi_h: np.ndarray, gam: np.ndarray, dtype: np.dtype) -> RowSketch:
    """One pass over a Dask block of rows ``idx`` for the single-pass sketches.

    Each row chunk A_i (rows R_i) yields (Υ[:, R_i] A_i, Φ[:, R_i] A_i Ψᴴ, ‖A_i‖_F², A_i Ωᴴ, A_i Γ);
    the k × n and s × s parts and the norm are summed by a tree reduction on the workers, the
    m-row parts come back by chunk as (R_i, A_i Ωᴴ, A_i Γ).
    """
    import dask

    B = block.rechunk({1: -1}) if block.numblocks[1] > 1 else block
    shared = dask.delayed((om_h, psi_h, gam), pure=True)
    parts, spans, start = [], [], 0
    for chunk, size in zip(B.to_delayed()[:, 0], B.chunks[0], strict=True):
        Ri = idx[start:start + size]
        parts.append(dask.delayed(_sketch_chunk, nout=5)(chunk, ups[:, Ri], phi[:, Ri], shared, dtype))
        spans.append(Ri)
        start += size
    sums = tree_sum([(p[0], p[1], p[2]) for p in parts])  # k × n + s × s numbers per tree level
    (X, Z, fro), *rows_parts = dask_compute(sums, *((p[3], p[4]) for p in parts))
    return RowSketch(X, Z, float(fro), [(Ri, Yi, Ei) for Ri, (Yi, Ei) in zip(spans, rows_parts, strict=True)])
