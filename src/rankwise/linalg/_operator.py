"""A matrix rankwise can multiply: one protocol, one class per input kind.

Every randomized method sees its input as an :class:`Operator`: a shape, a computing dtype,
products with a block from the right (``matmat``: A X) and from the left (``rmatmat``: Aᴴ Y),
both in one read (``fused``), row and column extraction, and ‖A‖_F² with a flag saying
whether it is exact. Each input kind is a class:

=========================  ==========================================================
:class:`DenseOperator`     NumPy, torch (any device) or array-API arrays
:class:`SparseOperator`    ``scipy.sparse`` matrices and arrays
:class:`ProductOperator`   ``scipy.sparse.linalg.LinearOperator`` (products only)
:class:`NpyOperator`       a ``.npy`` file on disk (:class:`NpyMatrix`), read in row blocks
``DaskOperator``           ``dask.array`` arrays (in :mod:`rankwise.linalg._dask`)
:class:`TransposeOperator` Aᵀ or Aᴴ of any of them, through their products
=========================  ==========================================================

Algorithms never ask which kind they hold; they ask what it can do (``has_entries``: the
entries are in memory; ``row_access``: rows and columns can be read; ``streamed``: every
product is a read of the data). Adding an input kind means adding a class here (or in its own
module) and listing it in :data:`rankwise.linalg._inputs.KINDS`. Factors come back in the namespace of ``like``: the
input's own library and device for dense arrays, NumPy for everything else.
"""

from __future__ import annotations

import abc
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np

from .. import _array, _checks
from .._array import Array
from .._numerics import dtype_name
from ..random import RNGLike, as_generator

DEFAULT_BLOCK_BYTES = 64 * 2**20  # row blocks read from disk hold at most this many bytes
RESIDUAL_BLOCK_BYTES = 32 * 2**20  # ‖A − C M‖_F is formed in row blocks of at most this size
NORM_PROBES = 30  # Gaussian probes of the Frobenius estimate for product-only input


class FroNormSq(NamedTuple):
    """‖A‖_F² and whether it is exact (computed from the entries) or a randomized estimate."""

    value: float
    exact: bool


class KeptProducts(Protocol):
    """Products A X left where they were computed (on Dask workers), for the block Krylov method.

    ``step(X, adjoint)`` returns (A X kept, Aᴴ(A X) or None, (A X)ᴴ(A X) summed in double
    precision); ``concat`` joins kept blocks by columns; ``times(Y, M)`` forms Y M where Y
    lives; ``gather(Y)`` brings Y to the client as a NumPy array.
    """

    def step(self, X: Array, adjoint: bool) -> tuple[Any, Array | None, np.ndarray]: ...

    def concat(self, blocks: list[Any]) -> Any: ...

    def times(self, Y: Any, M: np.ndarray) -> Any: ...

    def gather(self, Y: Any) -> np.ndarray: ...


class Operator(abc.ABC):
    """A matrix seen through its products (see the module docstring).

    Subclasses set ``shape``, ``dtype`` (the products' computing dtype, in the input
    library's terms) and ``like`` (an empty or real array of the output namespace, device
    and dtype), and implement :meth:`matmat` and :meth:`rmatmat`; everything else has a
    default built on those two.

    Examples
    --------
    >>> import numpy as np, scipy.sparse
    >>> from rankwise.linalg._inputs import as_operator
    >>> op = as_operator(scipy.sparse.eye(4, format="csr") * 2.0, func="example")
    >>> op.label, op.shape, op.fro_sq(), op.rows(np.array([1])).tolist()
    ('sparse', (4, 4), 16.0, [[0.0, 2.0, 0.0, 0.0]])
    >>> op.transpose().matmat(np.ones((4, 1))).ravel().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    label: ClassVar[str] = "operator"
    """The input kind as reports and messages name it."""
    streamed: ClassVar[bool] = False
    """Every product is a read of the data (disk, Dask): fuse products where possible."""
    has_entries: ClassVar[bool] = False
    """The entries are in memory (dense or sparse): the matrix itself can be factorised."""
    row_access: ClassVar[bool] = False
    """Rows and columns can be read without a product (CUR needs this)."""
    knows_norm: ClassVar[bool] = False
    """:meth:`fro_sq` gives ‖A‖_F² exactly (else only :meth:`frobenius_sq`'s estimate)."""
    rescalable: ClassVar[bool] = False
    """:meth:`max_abs` and :meth:`scaled` work: entries near overflow or underflow are scaled away."""

    shape: tuple[int, int]
    dtype: Any
    like: Array

    @property
    def xp(self) -> Any:
        """The array namespace of the factors."""
        return _array.namespace(self.like)

    @property
    def out_dtype(self) -> Any:
        """The dtype of the factors (the input's floating dtype, in its library's terms)."""
        return self.like.dtype

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype})"

    @classmethod
    def from_input(cls, A: Any, *, func: str, name: str) -> Operator:
        """Validate an input of this kind (``func`` and ``name`` go into the messages) and wrap it."""
        return cls(A)  # type: ignore[call-arg]  # every concrete kind takes its input first

    # products -------------------------------------------------------------------------

    @abc.abstractmethod
    def matmat(self, X: Array) -> Array:
        """A @ X for a block X (n × l)."""

    @abc.abstractmethod
    def rmatmat(self, Y: Array) -> Array:
        """Aᴴ @ Y for a block Y (m × l)."""

    def fused(self, X: Array) -> tuple[Array, Array]:
        """(A X, Aᴴ(A X)); streamed kinds compute both in one read of the data."""
        Y = self.matmat(X)
        return Y, self.rmatmat(Y)

    def kept(self) -> KeptProducts | None:
        """Products that stay where they were computed (row-chunked Dask input), else None."""
        return None

    # entries --------------------------------------------------------------------------

    def columns(self, idx: np.ndarray) -> Array:
        """A[:, idx] (dense, in the output namespace); by default a product with unit vectors."""
        E = np.zeros((self.shape[1], idx.size), dtype=np.dtype(dtype_name(self.dtype)))
        E[idx, np.arange(idx.size)] = 1
        return self.matmat(E)

    def rows(self, idx: np.ndarray) -> Array:
        """A[idx, :] (dense, in the output namespace); by default a product with unit vectors."""
        E = np.zeros((self.shape[0], idx.size), dtype=np.dtype(dtype_name(self.dtype)))
        E[idx, np.arange(idx.size)] = 1
        return np.conj(self.rmatmat(E)).T

    def host_matrix(self) -> np.ndarray:
        """The whole matrix as a NumPy array; by default A·I through :meth:`columns` (n products'
        worth of work, so callers keep it to ``has_entries`` kinds, which override it)."""
        return np.asarray(_array.to_numpy(_dense(self.columns(np.arange(self.shape[1])))))

    def from_host(self, T: np.ndarray) -> Array:
        """A NumPy factor computed from :meth:`host_matrix`, in the output namespace and dtype."""
        return T.astype(self.out_dtype)

    # norms and checks -----------------------------------------------------------------

    def fro_sq(self) -> float | None:
        """‖A‖_F², exactly, or None where only products are available (see :meth:`frobenius_sq`)."""
        return None

    def frobenius_sq(self, *, rng: RNGLike = None, probes: int = NORM_PROBES) -> FroNormSq:
        """‖A‖_F² with its provenance: exact where the entries can be read, else estimated.

        The estimate is Hutchinson's, mean_i ‖A ω_i‖² over ``probes`` Gaussian ω_i, unbiased
        with relative standard deviation at most sqrt(2 / probes) (rank-one A is the worst case).
        """
        exact = self.fro_sq()
        if exact is not None:
            return FroNormSq(exact, True)
        gen = as_generator(rng, func="Operator.frobenius_sq")
        real = np.finfo(np.dtype(dtype_name(self.dtype))).dtype  # E‖Aω‖² = ‖A‖_F² for real Gaussian ω
        AO = np.asarray(_array.to_numpy(_dense(self.matmat(gen.standard_normal((self.shape[1], probes)).astype(real)))))
        return FroNormSq(float(np.sum(np.abs(AO.astype(np.complex128 if AO.dtype.kind == "c" else np.float64)) ** 2))
                         / probes, False)

    def raise_nonfinite(self, *, func: str, name: str = "A") -> None:  # noqa: B027  (a default, not abstract)
        """Raise the NaN/Inf error with its counts where they can be had (else return)."""

    def without_norm(self) -> Operator:
        """The same operator, not summing ‖A‖_F² during its first read (streamed kinds)."""
        return self

    def max_abs(self) -> float | None:
        """max |a_ij| where the entries are in memory, else None."""
        return None

    def scaled(self, e: int) -> Operator | None:
        """2^e · A (exact: a power of two) for :attr:`rescalable` kinds, else None."""
        return None

    def single_precision(self) -> Operator | None:
        """The same matrix rounded to float32 (complex64) where that is cheap, else None."""
        return None

    def residual_fro_sq(self, C: Array, M: Array) -> float:
        """‖A − C M‖_F², formed in row blocks of bounded size and accumulated in float64."""
        m, n = self.shape
        step = max(1, RESIDUAL_BLOCK_BYTES // (16 * n))
        total = 0.0
        for i in range(0, m, step):
            j = min(i + step, m)  # the array API leaves out-of-bounds slice ends unspecified
            E = self._row_block(i, j) - C[i:j, :] @ M
            xp = _array.namespace(E)
            wd = xp.complex128 if xp.isdtype(E.dtype, "complex floating") else xp.float64
            total += _array.to_float(xp.sum(xp.abs(xp.astype(E, wd)) ** 2))
        return total

    def _row_block(self, i: int, j: int) -> Array:
        return self.rows(np.arange(i, j))

    # views and outputs ----------------------------------------------------------------

    def transpose(self, *, conjugate: bool = False) -> Operator:
        """Aᵀ (or Aᴴ with ``conjugate=True``) through this operator's products."""
        return TransposeOperator(self, conjugate=conjugate)

    def as_left_factor(self, U: Array) -> Any:
        """U (m × k) in the form results for this input take (Dask input: a Dask array by A's rows)."""
        return U

    def gather(self, X: Any) -> Any:
        """X on the client (a no-op except for Dask arrays)."""
        return X


# --------------------------------------------------------------------------- dense


FRO_BLOCK_ENTRIES = 2**17  # ‖A‖_F² of NumPy input is summed in blocks of this many entries (1-2 MiB)


def sum_sq(block: np.ndarray) -> float:
    """Σ|x|² of a NumPy block, accurate to a few eps: squares in float64 summed pairwise (numpy's sum).

    A BLAS dot product (``vdot``) accumulates in a few long running sums and loses up to ~100 eps
    on large matrices, which a relative tolerance near 1e-7 (tol² ~ 400 eps) cannot afford.
    """
    b = np.ascontiguousarray(block)
    if b.dtype.kind == "c":
        b = b.view(b.real.dtype)  # the real and imaginary parts side by side: Σ|z|² = Σ re² + im²
    flat = b.reshape(-1)
    if flat.dtype != np.float64:
        flat = flat.astype(np.float64)
    with np.errstate(over="ignore", under="ignore"):  # out-of-range sums are the caller's to rescale
        return float(np.sum(np.square(flat)))


def fro_sq_dense(A: Array) -> float:
    """‖A‖_F², accurate to a few eps (squares summed pairwise in float64, in blocks of bounded size).

    Overflows to inf and underflows to 0 like any sum of squares: callers check the result with
    :func:`rankwise._numerics.in_safe_range` and rescale A where needed (see ``_inputs.prepare``).
    """
    if _array.is_numpy(A):
        M = A.T if A.flags.f_contiguous and not A.flags.c_contiguous else A
        step = max(1, FRO_BLOCK_ENTRIES // max(1, M.shape[1]))
        return math.fsum(sum_sq(M[i:i + step]) for i in range(0, M.shape[0], step))
    if _array.is_torch(A):
        torch = sys.modules["torch"]
        wide = A.to(torch.complex128 if A.is_complex() else torch.float64)
        real = torch.view_as_real(wide) if wide.is_complex() else wide
        return float(torch.sum(torch.square(real)))  # torch's CPU sums are cascaded (pairwise-like)
    xp = _array.namespace(A)
    A64 = xp.astype(A, xp.complex128 if _array.is_complex(A) else xp.float64)
    parts = (xp.real(A64), xp.imag(A64)) if _array.is_complex(A) else (A64,)
    return math.fsum(_array.to_float(xp.sum(p * p)) for p in parts)


class _InMemoryOperator(Operator):
    """Entries held in memory (dense arrays, scipy.sparse): read directly, rescaled by a power of two, and
    ‖A‖_F² summed once per operator (``_inputs.prepare`` reads it; an algorithm handed the prepared
    operator reuses it, as the streamed kinds reuse theirs)."""

    has_entries = True
    row_access = True
    knows_norm = True
    rescalable = True
    _fro: float | None = None

    def fro_sq(self) -> float:
        if self._fro is None:
            self._fro = self._sum_sq()
        return self._fro

    @abc.abstractmethod
    def _sum_sq(self) -> float:
        """‖A‖_F², read from the entries (see :func:`sum_sq`)."""


class DenseOperator(_InMemoryOperator):
    """A dense NumPy, torch or array-API matrix; products run in its own library and device."""

    label = "dense"

    def __init__(self, A: Array) -> None:
        self.A = A
        self.AH = _array.conj_transpose(A)
        self.shape = (int(A.shape[0]), int(A.shape[1]))
        self.dtype = A.dtype
        self.like = A

    def matmat(self, X: Array) -> Array:
        return self.A @ X

    def rmatmat(self, Y: Array) -> Array:
        return self.AH @ Y

    def columns(self, idx: np.ndarray) -> Array:
        xp = self.xp
        return xp.take(self.A, xp.asarray(idx, device=_array.device(self.A)), axis=1)

    def rows(self, idx: np.ndarray) -> Array:
        xp = self.xp
        return xp.take(self.A, xp.asarray(idx, device=_array.device(self.A)), axis=0)

    def _row_block(self, i: int, j: int) -> Array:
        return self.A[i:j, :]

    def host_matrix(self) -> np.ndarray:
        return np.asarray(_array.to_numpy(self.A))

    def from_host(self, T: np.ndarray) -> Array:
        return _array.like(T, self.A)

    def _sum_sq(self) -> float:
        return fro_sq_dense(self.A)

    def raise_nonfinite(self, *, func: str, name: str = "A") -> None:
        _checks.finite(self.A, func=func, name=name)

    def max_abs(self) -> float:
        xp = self.xp
        return _array.to_float(xp.max(xp.abs(self.A)))

    def scaled(self, e: int) -> Operator:
        return DenseOperator(_array.scale_pow2(self.A, e))

    def single_precision(self) -> Operator | None:
        if dtype_name(self.dtype) not in ("float64", "complex128"):
            return None
        xp = self.xp
        low = xp.complex64 if xp.isdtype(self.dtype, "complex floating") else xp.float32
        with np.errstate(over="ignore", under="ignore"):  # entries beyond float32 become ±Inf: callers check
            return DenseOperator(xp.astype(self.A, low))


# --------------------------------------------------------------------------- scipy.sparse


def _is_sparse(A: Any) -> bool:
    return "scipy.sparse" in sys.modules and sys.modules["scipy.sparse"].issparse(A)


class SparseOperator(_InMemoryOperator):
    """A ``scipy.sparse`` matrix (CSR or CSC kept, other formats converted to CSR); NumPy factors.

    Integer data computes in float64 and float16 in float32.
    """

    label = "sparse"

    def __init__(self, A: Any) -> None:
        A = A.tocsr() if A.format not in ("csr", "csc") else A
        if A.dtype.kind not in "fc":
            A = A.astype(np.float64)
        elif A.dtype == np.float16:
            A = A.astype(np.float32)
        self.A = A
        self.AH = A.conj().T
        self.shape = (int(A.shape[0]), int(A.shape[1]))
        self.dtype = A.dtype
        self.like = np.empty((0, 0), dtype=A.dtype)
        self._csr: Any = None

    @classmethod
    def accepts(cls, A: Any) -> bool:
        return _is_sparse(A)

    @classmethod
    def from_input(cls, A: Any, *, func: str, name: str) -> Operator:
        if A.ndim != 2:
            _checks._fail(func, f"'{name}' must be 2-D; got a sparse array of shape {A.shape}")
        _checks.supported_dtype(A.dtype, func=func, name=name)
        data = A.data if hasattr(A, "data") else np.empty(0)
        if data.size and data.dtype.kind in "fc":
            _checks.finite(data, func=func, name=name)
        return cls(A)

    def matmat(self, X: Array) -> Array:
        out = self.A @ X  # sparse when X is a sparse sketch
        return out.toarray() if hasattr(out, "toarray") else np.asarray(out)

    def rmatmat(self, Y: Array) -> Array:
        return np.asarray(self.AH @ Y)

    def columns(self, idx: np.ndarray) -> Array:
        return self.A.tocsc()[:, idx].toarray()

    def _by_rows(self) -> Any:
        if self._csr is None:
            self._csr = self.A.tocsr()  # converted once (a no-op for CSR input)
        return self._csr

    def rows(self, idx: np.ndarray) -> Array:
        return self._by_rows()[idx, :].toarray()

    def _row_block(self, i: int, j: int) -> Array:
        return self._by_rows()[i:j].toarray()

    def host_matrix(self) -> np.ndarray:
        return self.A.toarray()

    def _sum_sq(self) -> float:
        return sum_sq(self.A.data)

    def max_abs(self) -> float:
        data = self.A.data
        return float(np.max(np.abs(data))) if data.size else 0.0

    def scaled(self, e: int) -> Operator:
        B = self.A.copy()
        B.data = _array.scale_pow2(B.data, e)
        return SparseOperator(B)


# --------------------------------------------------------------------------- LinearOperator


def _is_linear_operator(A: Any) -> bool:
    mod = sys.modules.get("scipy.sparse.linalg")
    return mod is not None and isinstance(A, mod.LinearOperator)


class ProductOperator(Operator):
    """A ``scipy.sparse.linalg.LinearOperator``: products only, no entries, no exact norm."""

    label = "linear-operator"

    def __init__(self, A: Any) -> None:
        dt = np.dtype(A.dtype) if A.dtype is not None else np.dtype(np.float64)
        dt = dt if dt.kind in "fc" and dt != np.float16 else np.dtype(np.float64)
        self.A = A
        self.shape = (int(A.shape[0]), int(A.shape[1]))
        self.dtype = dt
        self.like = np.empty((0, 0), dtype=dt)

    @classmethod
    def accepts(cls, A: Any) -> bool:
        return _is_linear_operator(A)

    @classmethod
    def from_input(cls, A: Any, *, func: str, name: str) -> Operator:
        if A.dtype is not None:
            _checks.supported_dtype(A.dtype, func=func, name=name)
        return cls(A)

    def matmat(self, X: Array) -> Array:
        return np.asarray(self.A.matmat(X))

    def rmatmat(self, Y: Array) -> Array:
        return np.asarray(self.A.rmatmat(Y))


# --------------------------------------------------------------------------- .npy on disk


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
        _checks.supported_dtype(mm.dtype, func=func, name="path")
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

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
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


class NpyOperator(Operator):
    """An :class:`NpyMatrix`: every product is one read of the file in row blocks.

    ‖A‖_F² is summed during the first read (unless ``sums_norm`` is False), so asking for it
    afterwards costs nothing.
    """

    label = "npy-file"
    streamed = True
    knows_norm = True

    def __init__(self, source: NpyMatrix, *, sums_norm: bool = True) -> None:
        self.source = source
        self.sums_norm = sums_norm
        self.shape = source.shape
        self.dtype = source.dtype
        self.like = np.empty((0, 0), dtype=source.dtype)
        self._fro: float | None = None

    @classmethod
    def accepts(cls, A: Any) -> bool:
        return isinstance(A, NpyMatrix)

    def _want_norm(self) -> bool:
        return self.sums_norm and self._fro is None

    def matmat(self, X: Array) -> Array:
        out = np.empty((self.shape[0], X.shape[1]), dtype=np.result_type(self.dtype, X.dtype))
        want, acc = self._want_norm(), 0.0
        for i0, blk in self.source.blocks():
            out[i0:i0 + blk.shape[0]] = blk @ X
            acc += sum_sq(blk) if want else 0.0
        if want:
            self._fro = acc
        return out

    def rmatmat(self, Y: Array) -> Array:
        out = np.zeros((self.shape[1], Y.shape[1]), dtype=np.result_type(self.dtype, Y.dtype))
        for i0, blk in self.source.blocks():
            out += blk.conj().T @ Y[i0:i0 + blk.shape[0]]
        return out

    def fused(self, X: Array) -> tuple[Array, Array]:
        m, n = self.shape
        Y = np.empty((m, X.shape[1]), dtype=np.result_type(self.dtype, X.dtype))
        Z = np.zeros((n, X.shape[1]), dtype=Y.dtype)
        want, acc = self._want_norm(), 0.0
        for i0, blk in self.source.blocks():
            Yi = blk @ X
            Y[i0:i0 + blk.shape[0]] = Yi
            Z += blk.conj().T @ Yi
            acc += sum_sq(blk) if want else 0.0
        if want:
            self._fro = acc
        return Y, Z

    def fro_sq(self) -> float:
        if self._fro is None:
            self._fro = math.fsum(sum_sq(b) for _, b in self.source.blocks())
        return self._fro

    def without_norm(self) -> Operator:
        return NpyOperator(self.source, sums_norm=False)


# --------------------------------------------------------------------------- views


class TransposeOperator(Operator):
    """Aᵀ (or Aᴴ) of another operator, through its products.

    Aᴴ X = rmatmat(X) and (Aᴴ)ᴴ Y = matmat(Y); for the plain transpose,
    Aᵀ X = conj(Aᴴ conj(X)) and (Aᵀ)ᴴ Y = conj(A conj(Y)).
    """

    label = "transpose"

    def __init__(self, base: Operator, *, conjugate: bool = False) -> None:
        self.base = base
        self.conjugate = conjugate
        self.shape = (base.shape[1], base.shape[0])
        self.dtype = base.dtype
        self.like = base.like
        self._conj = not conjugate and _array.is_complex(base.like)

    @property
    def streamed(self) -> bool:  # type: ignore[override]
        return self.base.streamed

    @property
    def knows_norm(self) -> bool:  # type: ignore[override]
        return self.base.knows_norm

    def _c(self, X: Array) -> Array:
        return _array.namespace(X).conj(X) if self._conj else X

    def matmat(self, X: Array) -> Array:
        return self._c(_dense(self.base.rmatmat(self._c(X))))

    def rmatmat(self, Y: Array) -> Array:
        return self._c(_dense(self.base.matmat(self._c(Y))))

    def fro_sq(self) -> float | None:
        return self.base.fro_sq()

    def transpose(self, *, conjugate: bool = False) -> Operator:
        return self.base if conjugate == self.conjugate else super().transpose(conjugate=conjugate)


def _dense(X: Any) -> Array:
    return X.toarray() if hasattr(X, "toarray") else X
