"""How a computation runs: which reader a file gets, the reference spectrum, and timing.

The planning functions decide from a path, its size and a method name alone
(:func:`out_of_core`, :func:`use_dask`); the runners apply the method registry
(:func:`approximate_each`, :func:`stream_approximate`) and the measurement helpers
time a call (:func:`timed`, :func:`time_chain_orders`, :func:`cr_compare`).
Nothing here prints: the command line renders what these functions return.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import _checks
from .approx import METHODS, Approximation, approximate, with_reference
from .io import NamedMatrix
from .linalg import ChainPlan, NpyMatrix, StreamingSVD, _dask
from .random import RNGLike, as_generator

__all__ = [
    "DASK_BYTES",
    "DASK_METHODS",
    "ENGINES",
    "OUT_OF_CORE_BYTES",
    "REFERENCE_MAX_ENTRIES",
    "CRComparison",
    "OrderTiming",
    "Timed",
    "approximate_each",
    "cr_compare",
    "dask_session",
    "densify",
    "out_of_core",
    "reference_spectrum",
    "stream_approximate",
    "time_chain_orders",
    "timed",
    "use_dask",
]

OUT_OF_CORE_BYTES = 256 * 2**20
"""A ``.npy`` file larger than this is read in row blocks (:class:`~rankwise.NpyMatrix`), not loaded."""
DASK_BYTES = 2**30
"""Engine ``"auto"``: a ``.npy`` file larger than this goes to Dask (when it is installed)."""
DASK_METHODS = ("rsvd", "auto", "id", "cur")
"""The methods that run on a Dask array (the exact SVD needs the matrix in memory)."""
ENGINES = ("auto", "local", "dask")
REFERENCE_MAX_ENTRIES = 4_000_000
"""The exact spectrum (one extra dense SVD) is computed only up to this many entries, so that it
never costs more than the approximation it reports on."""


def out_of_core(path: str | os.PathLike[str], method: str) -> bool:
    """Whether ``path`` is streamed in row blocks instead of being loaded.

    Parameters
    ----------
    path : path-like
        The input file.
    method : str
        The approximation method; only ``"rsvd"`` and ``"auto"`` read a file in blocks.

    Returns
    -------
    bool
        True for an existing ``.npy`` file larger than :data:`OUT_OF_CORE_BYTES` with
        ``method`` in ``("rsvd", "auto")``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "a.npy"); np.save(f, np.ones((4, 3)))
    >>> out_of_core(f, "rsvd"), out_of_core("missing.npy", "rsvd")
    (False, False)
    """
    p = Path(path)
    return (p.suffix.lower() == ".npy" and method in ("rsvd", "auto") and p.is_file()
            and p.stat().st_size > OUT_OF_CORE_BYTES)


def _is_zarr_dir(path: Path) -> bool:
    return path.is_dir() and (path.suffix.lower() == ".zarr"
                              or any((path / f).exists() for f in ("zarr.json", ".zarray", ".zgroup")))


def use_dask(path: str | os.PathLike[str] | None, engine: str, method: str) -> bool:
    """Whether an approximation of ``path`` runs on Dask.

    Parameters
    ----------
    path : path-like or None
        The input (a ``.npy`` file or a Zarr directory); None for a built-in matrix.
    engine : {"auto", "local", "dask"}
        ``"dask"`` asks for Dask, ``"local"`` refuses it, and ``"auto"`` uses it for a Zarr
        directory and for a ``.npy`` file larger than :data:`DASK_BYTES` with a method in
        :data:`DASK_METHODS`, when Dask is installed.
    method : str
        The approximation method.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        An unknown ``engine``; Dask asked for without an input or with a method that needs
        the matrix in memory; a Zarr directory with ``engine="local"``. The messages name
        the command-line options (``--engine``, ``--method``).

    Examples
    --------
    >>> use_dask(None, "auto", "svd"), use_dask("a.npy", "dask", "rsvd")
    (False, True)
    """
    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    p = None if path is None else Path(path)
    zarr_dir = p is not None and _is_zarr_dir(p)
    if engine == "local":
        if zarr_dir:
            raise ValueError(f"{p}: a Zarr directory is read through Dask; use --engine dask or auto")
        return False
    if engine == "dask" or zarr_dir:
        if p is None:
            raise ValueError("--engine dask needs an INPUT (.npy file or Zarr directory)")
        if method not in DASK_METHODS:
            raise ValueError(f"--engine dask runs --method {', '.join(DASK_METHODS)}; got {method!r} "
                             "(an exact SVD needs the matrix in memory)")
        return True
    if p is None or p.suffix.lower() != ".npy" or method not in DASK_METHODS or not p.is_file():
        return False
    return p.stat().st_size > DASK_BYTES and importlib.util.find_spec("dask") is not None


@contextmanager
def dask_session(scheduler: str | None = None, *,
                 progress: Callable[[int, int], None] | None = None) -> Iterator[None]:
    """Run the Dask computations of the ``with`` body on ``scheduler``, or on Dask's local threads.

    Parameters
    ----------
    scheduler : str, optional
        The address of a running Dask scheduler (``tcp://host:port``): a
        ``distributed.Client`` of it is active in the body. Default: Dask's threads in this
        process.
    progress : callable, optional
        Local threads only: called as ``progress(done, total)`` after every task of each
        computation (``total`` counts the finished, ready, waiting and running tasks).

    Raises
    ------
    ValueError
        Dask is not installed, or no scheduler answers at ``scheduler`` within 5 seconds
        (the messages name the command-line options ``--engine`` and ``--scheduler``).

    Examples
    --------
    >>> import dask.array as da
    >>> seen = []
    >>> with dask_session(progress=lambda done, total: seen.append((done, total))):
    ...     total = float(da.ones(10, chunks=5).sum().compute())
    >>> total, seen[-1][0] == seen[-1][1]
    (10.0, True)
    """
    if importlib.util.find_spec("dask") is None:
        raise ValueError("--engine dask needs Dask: pip install 'rankwise[dask]'")
    try:
        with _dask.session(scheduler, progress=progress):
            yield
    except _dask.SchedulerUnreachable as exc:
        raise ValueError(f"--scheduler: cannot reach a Dask scheduler at {scheduler!r} ({exc})") from None


def densify(A: Any) -> Any:
    """``A`` as a dense array, except for the matrices that are read in blocks.

    Parameters
    ----------
    A : array, scipy.sparse matrix, memory map, NpyMatrix or dask array

    Returns
    -------
    array
        A :class:`~rankwise.NpyMatrix` or a dask array as it is (anything with ``blocks``),
        a sparse matrix through ``toarray()``, anything else through :func:`numpy.asarray`
        (a memory map is read here).

    Examples
    --------
    >>> import scipy.sparse
    >>> densify(scipy.sparse.eye(2, format="csr")).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if hasattr(A, "blocks"):
        return A
    if hasattr(A, "toarray"):
        return A.toarray()
    return np.asarray(A)


def reference_spectrum(A: Any) -> np.ndarray | None:
    """The singular values of ``A`` by a dense SVD, when that is cheap enough.

    Parameters
    ----------
    A : matrix of shape (m, n)
        Dense, sparse or a memory map; integer input is promoted to float64.

    Returns
    -------
    ndarray of shape (min(m, n),), float64, or None
        :math:`\\sigma_1 \\ge \\dots \\ge \\sigma_{\\min(m, n)}`, as ``numpy.linalg.svd``
        computes them; None when ``m·n > REFERENCE_MAX_ENTRIES`` or ``A`` is read in blocks.

    Examples
    --------
    >>> reference_spectrum(np.diag([1.0, 3.0, 2.0])).tolist()
    [3.0, 2.0, 1.0]
    """
    if A.shape[0] * A.shape[1] > REFERENCE_MAX_ENTRIES or hasattr(A, "blocks"):
        return None
    dense = densify(A)
    if not np.issubdtype(dense.dtype, np.inexact):
        dense = dense.astype(np.float64)
    return np.linalg.svd(dense, compute_uv=False).astype(np.float64)


def approximate_each(matrices: Sequence[NamedMatrix], *, method: str = "svd", rank: int | None = None,
                     tol: float | None = None, energy: float | None = None, rng: Any = None,
                     spectrum: Any = None, need_spectrum: bool = False,
                     options: dict[str, Any] | None = None) -> list[Approximation]:
    """Approximate every matrix with the registered ``method`` and attach its optimum.

    Parameters
    ----------
    matrices : sequence of NamedMatrix
        Dense, sparse (kept sparse when the method accepts it), memory maps, NpyMatrix or dask.
    method : str, default="svd"
        A key of :data:`rankwise.approx.METHODS`.
    rank, tol, energy :
        The target, as in :func:`rankwise.approximate` (at most one).
    rng : None, int or Generator
    spectrum : array-like, optional
        The known singular values (for example of a built-in test matrix).
    need_spectrum : bool, default=False
        Attach the complete spectrum even when the report's optimum is already known.
    options : dict, optional
        Passed to the method.

    Returns
    -------
    list of Approximation
        One per matrix. When the method did not compute the spectrum and either
        ``need_spectrum`` or the optimum is unknown, :func:`reference_spectrum` fills it in
        (matrices of up to :data:`REFERENCE_MAX_ENTRIES` entries), so that the report's
        ``optimal_fro_error`` is :math:`(\\sum_{j>k}\\sigma_j^2)^{1/2}` (Eckart–Young).

    Raises
    ------
    ValueError
        An unknown method (the registry's message), or anything the method raises.

    Examples
    --------
    >>> A = np.diag([4.0, 2.0, 1.0])
    >>> (ap,) = approximate_each([NamedMatrix("A", A)], method="svd", rank=1)
    >>> ap.report.rank, round(ap.report.fro_error, 6)
    (1, 2.236068)
    """
    if method not in METHODS:
        approximate(np.zeros((1, 1)), method=method)  # raises the registry's "unknown method" error
    spec = METHODS[method]
    out = []
    for nm in matrices:
        A = nm.array if spec.accepts_sparse and hasattr(nm.array, "tocsr") else densify(nm.array)
        ap = approximate(A, method=method, rank=rank, tol=tol, energy=energy, rng=rng, spectrum=spectrum,
                         **(options or {}))
        if ap.spectrum is None and (need_spectrum or ap.report.optimal_fro_error is None):
            ref = reference_spectrum(nm.array)
            ap = ap if ref is None else with_reference(ap, ref)
        out.append(ap)
    return out


def stream_approximate(matrix: Any, rank: int, *, rng: RNGLike = None,
                       func: str = "stream_approximate") -> Approximation:
    """A rank-``rank`` approximation from a single pass over ``matrix`` (:class:`~rankwise.StreamingSVD`).

    Parameters
    ----------
    matrix : NpyMatrix or array of shape (m, n)
        A :class:`~rankwise.NpyMatrix` is read once, block of rows by block of rows; any
        other array (a dask array, say) is given to the sketch whole.
    rank : int
        Target rank, in [1, min(m, n)].
    rng : None, int or Generator
    func : str, default="stream_approximate"
        The name that error messages start with.

    Returns
    -------
    Approximation
        The factors and the sketch's report (its error is estimated, not computed); the
        report's time covers the pass.

    Examples
    --------
    >>> from rankwise.random import low_rank_matrix
    >>> A, S = low_rank_matrix(40, 30, [3.0, 2.0, 1.0], rng=0)
    >>> ap = stream_approximate(A, 3, rng=0)
    >>> ap.report.rank, np.allclose(ap.factors.S, S[:3])
    (3, True)
    """
    t0 = time.perf_counter()
    sk = StreamingSVD(matrix.shape, _checks.rank(rank, matrix.shape, func=func),
                      dtype=np.result_type(matrix.dtype, np.float32), rng=rng)
    if isinstance(matrix, NpyMatrix):
        for i0, block in matrix.blocks():
            sk.update(block, rows=slice(i0, i0 + block.shape[0]))
    else:
        sk.update(matrix, rows=slice(0, matrix.shape[0]))
    return Approximation(sk.result(), sk.report(time.perf_counter() - t0))


class Timed(NamedTuple):
    """What a call returned and the wall-clock seconds it took."""

    value: Any
    seconds: float


def timed(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Timed:
    """Call ``fn(*args, **kwargs)`` and measure it with :func:`time.perf_counter`.

    Examples
    --------
    >>> value, seconds = timed(sum, [1, 2, 3])
    >>> value, seconds >= 0
    (6, True)
    """
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    return Timed(value, time.perf_counter() - t0)


class OrderTiming(NamedTuple):
    """One evaluation order of a matrix chain: its plan and the median time of its runs."""

    order: str
    plan: ChainPlan
    seconds: float


def time_chain_orders(shapes: Sequence[tuple[int, ...]], *, repeats: int = 3,
                      rng: RNGLike = None) -> list[OrderTiming]:
    """Multiply random operands of ``shapes`` in each order of :data:`rankwise.linalg.chain.ORDERS`.

    Parameters
    ----------
    shapes : sequence of tuple of int
        Operand shapes, ``(m, n)`` for a matrix and ``(n,)`` for a vector.
    repeats : int, default=3
        Timed runs per order; the median is reported.
    rng : None, int or Generator
        Draws the standard normal operands.

    Returns
    -------
    list of OrderTiming
        In the order of ``ORDERS`` (optimal, left, right); ``plan.cost`` is the number of
        multiply-adds of that order.

    Examples
    --------
    >>> [(t.order, t.plan.cost) for t in time_chain_orders([(2, 3), (3, 4), (4,)], repeats=1, rng=0)]
    [('optimal', 18), ('left', 32), ('right', 18)]
    """
    from .linalg.chain import ORDERS, chain_dot, chain_plan

    _checks.integer(repeats, func="time_chain_orders", name="repeats", lo=1)
    gen = as_generator(rng, func="time_chain_orders")
    arrays = [gen.standard_normal(s) for s in shapes]
    out = []
    for order in ORDERS:
        plan = chain_plan(shapes, order=order)  # type: ignore[arg-type]
        times = sorted(timed(chain_dot, *arrays, plan=plan).seconds for _ in range(repeats))
        out.append(OrderTiming(order, plan, times[len(times) // 2]))
    return out


class CRComparison(NamedTuple):
    """A sampled product CR against the exact AB (relative Frobenius errors, seconds)."""

    samples: int
    rel_error: float
    expected_rel_error: float
    seconds_cr: float
    seconds_exact: float


def cr_compare(A: Any, B: Any, samples: int | None = None, *, method: str = "optimal",
               rng: RNGLike = None) -> CRComparison:
    """Compare :func:`rankwise.cr_matmul` with the exact product, in error and in time.

    Parameters
    ----------
    A : array of shape (m, n)
    B : array of shape (n, p)
    samples : int, optional
        Outer products sampled, ``1 <= c <= n``; default ``max(1, n // 10)``.
    method : {"optimal", "uniform", "topk"}, default="optimal"
    rng : None, int or Generator

    Returns
    -------
    CRComparison
        ``rel_error`` :math:`= \\|AB - CR\\|_F / \\|AB\\|_F`, and ``expected_rel_error``
        :math:`= (\\mathbb{E}\\|AB - CR\\|_F^2)^{1/2} / \\|AB\\|_F` from the closed form of
        :func:`rankwise.cr_expected_error` (both 0 when AB = 0). The exact product is timed
        first, so that warming up the BLAS threads is not billed to CR.

    Examples
    --------
    >>> A, B = np.eye(4), np.diag([4.0, 3.0, 2.0, 1.0])
    >>> r = cr_compare(A, B, 4, method="topk")
    >>> r.samples, r.rel_error, r.expected_rel_error
    (4, 0.0, 0.0)
    """
    from .linalg.matmul import cr_expected_error, cr_matmul

    c = samples if samples is not None else max(1, int(getattr(A, "shape", (0, 10))[-1]) // 10)
    expected = cr_expected_error(A, B, c, method=method)  # type: ignore[arg-type]  # validates A, B, c first
    exact, t_exact = timed(lambda: A @ B)
    approx_ab, t_cr = timed(cr_matmul, A, B, c, method=method, rng=rng)
    norm = float(np.linalg.norm(exact))
    rel = float(np.linalg.norm(exact - approx_ab)) / norm if norm > 0 else 0.0
    rel_expected = math.sqrt(expected) / norm if norm > 0 else 0.0
    return CRComparison(c, rel, rel_expected, t_cr, t_exact)
