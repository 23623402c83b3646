"""The optimisers' multi-pass leaf kernels (Adam, RMSprop): NumPy in cache-sized chunks on a few threads.

An Adam step over n parameters is eleven elementwise passes. On NumPy arrays that share one
shape, one floating dtype and C order, the kernel writes into freshly allocated outputs with
``out=``, chunk by chunk (512 KiB per operand, so the intermediates of a chunk stay in the
core's L2 cache instead of making a round trip to memory per operation), and arrays of at
least :data:`PARALLEL_MIN` elements share their chunks among up to :data:`MAX_THREADS`
threads (NumPy releases the GIL in its loops). One-pass updates (SGD's scaling, momentum's
trace, adding the update) stay plain expressions: chunking and threads cost them more than
they save (measured). Each kernel performs the same operations in the same order as the generic
array-API formula beside it, so its results are bitwise equal to that formula's, whatever
the chunking and the thread count (tested). Nothing given is modified.

torch tensors of one floating dtype and device take fused tensor methods where that saves
passes (Adam: ``lerp``, ``addcmul_``); every other library takes the generic formula.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .. import _array

__all__ = ["CHUNK_BYTES", "MAX_THREADS", "PARALLEL_MIN", "adam", "rms"]

CHUNK_BYTES = 1 << 19
"""Bytes of each operand processed together (512 KiB: L2-resident with the other operands)."""

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
            _pool = ThreadPoolExecutor(_threads(), thread_name_prefix="rankwise-optim")
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
    flat = [a.reshape(-1) for a in (*arrays, *outs)]
    size, chunk = flat[0].size, max(1, CHUNK_BYTES // arrays[0].itemsize)
    bounds = [(s, min(s + chunk, size)) for s in range(0, size, chunk)]

    def work(part: list[tuple[int, int]]) -> None:
        for s, e in part:
            kernel(*(f[s:e] for f in flat))

    threads = _threads() if size >= PARALLEL_MIN else 1
    if threads == 1 or len(bounds) == 1:
        work(bounds)
    else:
        step = -(-len(bounds) // threads)  # contiguous runs of chunks, one per thread
        for f in [_executor().submit(work, bounds[i:i + step]) for i in range(0, len(bounds), step)]:
            f.result()
    return outs


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


def adam(g: Any, m: Any, v: Any, r1: float, r2: float, a: float, c: float, descend: bool) -> tuple[Any, Any, Any]:
    """Adam's leaf: μ = m + r₁(g − m), ν = v + r₂(g² − v), u = ±μ / (√(a ν) + c) (− when ``descend``)."""

    def kernel(g: np.ndarray, m: np.ndarray, v: np.ndarray, mo: np.ndarray, vo: np.ndarray, o: np.ndarray) -> None:
        _ema_into(g, m, r1, mo)
        _ema_sq_into(g, v, r2, vo)
        np.multiply(vo, a, out=o)
        np.sqrt(o, out=o)
        if descend:
            np.subtract(-c, o, out=o)
        else:
            o += c
        np.divide(mo, o, out=o)

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
