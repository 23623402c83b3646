"""The optimisers' multi-pass leaf kernels (Adam, RMSprop): NumPy in cache-sized chunks on a few threads.

An Adam step over n parameters is eleven elementwise passes. On NumPy arrays that share one
shape, one floating dtype and C order, the kernel writes with ``out=``, chunk by chunk (at
most 2 MiB per operand, so a chunk's operands stay in the shared cache between passes), and
arrays of at least :data:`PARALLEL_MIN` elements share their chunks among up to
:data:`MAX_THREADS` threads (NumPy releases the GIL in its loops), in runs of equal length,
the calling thread taking the first. Each pass over a chunk is one ufunc call with a fixed
cost, so chunks are as large as the cache allows.

:func:`adam` and :func:`rms` write fresh outputs and perform the same operations in the same
order as the generic array-API formula beside them, so their results are bitwise equal to
that formula's, whatever the chunking and the thread count (tested); nothing given is
modified. :func:`adam_into` writes over the moments and adds the step to the parameters
(bitwise :func:`adam` followed by ``p + u``), with one scratch buffer per thread.
:func:`axpy_into` is p += c·g in one BLAS pass. Other one-pass updates (momentum's trace,
adding an update) stay plain expressions: Python threads cost them more than they save.

torch tensors of one floating dtype and device take fused tensor methods where that saves
passes (Adam: ``lerp``, ``addcmul_``, ``addcdiv_``); every other library takes the generic formula.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .. import _array

__all__ = ["CHUNK_BYTES", "MAX_THREADS", "PARALLEL_MIN", "adam", "adam_into", "axpy_into", "rms"]

CHUNK_BYTES = 1 << 21
"""Most bytes of each operand processed together (2 MiB: the operands of a chunk stay in cache)."""

PARALLEL_MIN = 1 << 18
"""Elements from which a leaf's chunks are shared among threads."""

MAX_THREADS = 4
"""At most this many threads per kernel (elementwise passes saturate memory bandwidth early)."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _threads() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cpus))


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, _threads() - 1), thread_name_prefix="rankwise-optim")
        return _pool


def _forget_pool() -> None:  # a forked child has the pool object but none of its threads
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)

Kernel = Callable[..., None]


def _fits(arrays: tuple[Any, ...]) -> bool:
    first = arrays[0]
    if type(first) is not np.ndarray or first.dtype.kind not in "fc":
        return False
    return all(type(a) is np.ndarray and a.shape == first.shape and a.dtype == first.dtype
               and a.flags.c_contiguous for a in arrays)


def _numpy(kernel: Kernel, n_out: int, arrays: tuple[Any, ...]) -> tuple[np.ndarray, ...] | None:
    """``n_out`` fresh arrays filled by ``kernel(*inputs, *outputs)`` chunk by chunk; None if not NumPy."""
    if not _fits(arrays):
        return None
    outs = tuple(np.empty_like(arrays[0]) for _ in range(n_out))
    _run_chunks(kernel, (*arrays, *outs), scratch=False)
    return outs


def _run_chunks(kernel: Kernel, arrays: tuple[np.ndarray, ...], *, scratch: bool) -> None:
    """``kernel(*chunks)`` over equal chunks of ``arrays`` (same shape, C order), shared among threads.

    With ``scratch``, each thread passes one more argument: a buffer of its chunk's length
    (allocated once per thread, not per chunk).
    """
    flat = [a.reshape(-1) for a in arrays]
    size = flat[0].size
    threads = _threads() if size >= PARALLEL_MIN else 1
    pieces = -(-size * arrays[0].itemsize // CHUNK_BYTES)  # fewest chunks within CHUNK_BYTES …
    pieces = max(1, -(-pieces // threads) * threads if threads > 1 else pieces)  # … a multiple of threads
    edges = [size * i // pieces for i in range(pieces + 1)]
    bounds = list(itertools.pairwise(edges))

    def work(part: list[tuple[int, int]]) -> None:
        tmp = _scratch(max(e - s for s, e in part), flat[0].dtype) if scratch else None
        for s, e in part:
            kernel(*(f[s:e] for f in flat), *(() if tmp is None else (tmp[:e - s],)))

    if threads == 1 or len(bounds) == 1:
        work(bounds)
        return
    step = -(-len(bounds) // threads)  # contiguous runs of chunks, one per thread; the caller's is the first
    futures = [_executor().submit(work, bounds[i:i + step]) for i in range(step, len(bounds), step)]
    work(bounds[:step])
    for f in futures:
        f.result()


_local = threading.local()


def _scratch(size: int, dtype: np.dtype) -> np.ndarray:
    """This thread's scratch buffer of ``size`` elements, kept between calls.

    A fresh buffer of a chunk's size per call comes from ``mmap`` and is faulted in page by
    page; a kept one is not. At most one chunk (``CHUNK_BYTES``) per thread and dtype is kept.
    """
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    buf = bufs.get(dtype)
    if buf is None or buf.size < size:
        buf = bufs[dtype] = np.empty(size, dtype=dtype)
    return buf[:size]


def _fits_inplace(given: tuple[Any, ...], written: tuple[Any, ...]) -> bool:
    """NumPy arrays the in-place kernels take: one shape, dtype and C order; ``written`` writeable
    and overlapping nothing else."""
    arrays = (*given, *written)
    if not _fits(arrays) or not all(a.flags.writeable for a in written):
        return False
    return not any(np.may_share_memory(arrays[i], b) for i in range(len(given), len(arrays))
                   for j, b in enumerate(arrays) if j != i)


def _is_fused_torch(arrays: tuple[Any, ...]) -> bool:
    first = arrays[0]
    return (_array.is_torch(first) and first.is_floating_point()
            and all(_array.is_torch(a) and a.dtype == first.dtype and a.device == first.device for a in arrays))


def _ema_into(g: np.ndarray, m: np.ndarray, rate: float, o: np.ndarray) -> None:
    np.subtract(g, m, out=o)
    o *= rate
    o += m


def _ema_sq_into(g: np.ndarray, v: np.ndarray, rate: float, o: np.ndarray) -> None:
    np.multiply(g, g, out=o)
    o -= v
    o *= rate
    o += v


def _ema(g: Any, m: Any, rate: float) -> Any:
    m_new = g - m
    m_new *= rate
    m_new += m
    return m_new


def _ema_sq(g: Any, v: Any, rate: float) -> Any:
    v_new = g * g
    v_new -= v
    v_new *= rate
    v_new += v
    return v_new


def rms(g: Any, v: Any, rate: float, eps: float) -> tuple[Any, Any]:
    """(ν, g / (√ν + ε)) with ν = v + r (g² − v)."""

    def kernel(g: np.ndarray, v: np.ndarray, vo: np.ndarray, o: np.ndarray) -> None:
        _ema_sq_into(g, v, rate, vo)
        np.sqrt(vo, out=o)
        o += eps
        np.divide(g, o, out=o)

    r = _numpy(kernel, 2, (g, v))
    if r is not None:
        return r[0], r[1]
    nu = _ema_sq(g, v, rate)
    den = nu**0.5
    den += eps
    return nu, g / den


def _adam_step_into(mu: np.ndarray, nu: np.ndarray, a: float, c: float, descend: bool, o: np.ndarray) -> None:
    """o = ±μ / (√(a ν) + c), in four passes (− when ``descend``, at no extra cost)."""
    np.multiply(nu, a, out=o)
    np.sqrt(o, out=o)
    if descend:
        np.subtract(-c, o, out=o)
    else:
        o += c
    np.divide(mu, o, out=o)


def adam(g: Any, m: Any, v: Any, r1: float, r2: float, a: float, c: float, descend: bool) -> tuple[Any, Any, Any]:
    """Adam's leaf: μ = m + r₁(g − m), ν = v + r₂(g² − v), u = ±μ / (√(a ν) + c) (− when ``descend``)."""

    def kernel(g: np.ndarray, m: np.ndarray, v: np.ndarray, mo: np.ndarray, vo: np.ndarray, o: np.ndarray) -> None:
        _ema_into(g, m, r1, mo)
        _ema_sq_into(g, v, r2, vo)
        _adam_step_into(mo, vo, a, c, descend, o)

    arrays = (g, m, v)
    r = _numpy(kernel, 3, arrays)
    if r is not None:
        return r[0], r[1], r[2]
    if _is_fused_torch(arrays):
        mu = m.lerp(g, r1)
        nu = v.mul(1.0 - r2).addcmul_(g, g, value=r2)
        s = a**0.5
        den = nu.sqrt().add_(c / s)
        return mu, nu, mu.div(den).mul_(-1.0 / s if descend else 1.0 / s)
    mu, nu = _ema(g, m, r1), _ema_sq(g, v, r2)
    den = nu * a
    den **= 0.5
    den = -c - den if descend else den + c  # one pass; the sign of the descent step costs nothing
    return mu, nu, mu / den


def adam_into(g: Any, m: Any, v: Any, p: Any, r1: float, r2: float, a: float, c: float, descend: bool
              ) -> tuple[Any, Any]:
    """:func:`adam` with its results written over ``m``, ``v``, and ``p += u``, where the arrays allow it.

    Returns the new (μ, ν): ``m`` and ``v`` themselves on NumPy arrays (one dtype, C order,
    writeable, not overlapping) and on torch tensors, fresh arrays on other libraries (whose
    ``p`` is still updated with ``+=``). On NumPy the results are bitwise those of :func:`adam`
    followed by ``p + u``: the same operations in the same order, one scratch buffer per thread.
    """
    if _fits_inplace((g,), (m, v, p)):

        def kernel(g: np.ndarray, m: np.ndarray, v: np.ndarray, p: np.ndarray, t: np.ndarray) -> None:
            np.subtract(g, m, out=t)
            t *= r1
            m += t
            np.multiply(g, g, out=t)
            t -= v
            t *= r2
            v += t
            _adam_step_into(m, v, a, c, descend, t)
            p += t

        _run_chunks(kernel, (g, m, v, p), scratch=True)
        return m, v
    if _is_fused_torch((g, m, v, p)):
        m.lerp_(g, r1)
        v.mul_(1.0 - r2).addcmul_(g, g, value=r2)
        s = a**0.5
        den = v.sqrt().add_(c / s)
        p.addcdiv_(m, den, value=-1.0 / s if descend else 1.0 / s)
        return m, v
    mu, nu, u = adam(g, m, v, r1, r2, a, c, descend)
    p += u
    return mu, nu


def axpy_into(p: Any, g: Any, c: float) -> bool:
    """p += c·g in one pass through BLAS ``axpy``, when ``p`` and ``g`` are NumPy arrays it takes.

    Returns False (nothing done) otherwise: other libraries, dtypes BLAS lacks, mixed dtypes,
    non-contiguous or read-only ``p``, overlapping arrays. BLAS may fuse the multiply and the
    add (one rounding where ``p + c * g`` has two), so the result can differ from that
    expression in the last bit. It makes one pass where ``p += c * g`` makes two and a
    temporary; OpenBLAS threads it, Python threads would cost more than the pass.
    """
    if not _fits_inplace((g,), (p,)) or p.dtype.char not in "fdFD":
        return False
    from scipy.linalg import blas

    axpy = blas.get_blas_funcs("axpy", (p,))
    pf, gf = p.reshape(-1), g.reshape(-1)
    step = 1 << 30  # BLAS counts in 32-bit integers
    for s in range(0, pf.size, step):
        y = pf[s:s + step]
        out = axpy(gf[s:s + step], y, a=c)
        if not np.may_share_memory(out, y):  # pragma: no cover - f2py writes in place for contiguous y
            y[...] = out
    return True
