"""BLAS thread limits for the small factorisations between a randomized method's big products.

On a few cores, OpenBLAS's threads speed up the products with A but slow down the small
LAPACK calls between them, whose BLAS-2 steps (xGEQP3's column-norm updates, xPOTRF and xTRSM
on a 100-column block) are too short to pay for waking and synchronising the threads.
Measured on the 2-vCPU machine of the benchmarks: xGEQP3 on a 125 × 3000 sketch of a matrix
with a 0.9^i spectrum took 60–160 ms with 2 threads and 20 ms with one; Cholesky-QR2 of a
4000 × 115 block 20–25 ms against 12 ms; a 4000 × 3000 × 125 product 50 ms against 90 ms.
:func:`single_blas_thread` runs a block with one BLAS thread (through threadpoolctl, which
finds NumPy's and SciPy's OpenBLAS or MKL) and restores the previous setting after it. The
limit is process-wide while the block runs, like every BLAS thread setting.

:func:`dask_blas_threads` is the other half: under Dask's local threaded scheduler every task
of a pass calls BLAS at once, and with BLAS's own threads on top the cores are oversubscribed.
Around rankwise's own Dask computations it gives BLAS cores ÷ Dask threads threads (one on the
default pool of one thread per core). Measured on the 200000 × 2000 float64 file of
``benchmarks/bench_dask.py``, rank 50, 2 cores, U computed: rsvd 5.7–6.8 s against 7.1 s.
"""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["dask_blas_threads", "single_blas_thread"]

_controller: Any = None
_lock = threading.Lock()


def _get_controller() -> Any:
    global _controller
    with _lock:
        if _controller is None:
            try:
                import scipy.linalg  # noqa: F401  (SciPy's BLAS must be loaded to be found)
                from threadpoolctl import ThreadpoolController
            except ImportError:  # pragma: no cover - threadpoolctl is a dependency
                _controller = False
            else:
                _controller = ThreadpoolController()
        return _controller


def single_blas_thread() -> AbstractContextManager[Any]:
    """A context in which NumPy's and SciPy's BLAS run on one thread (a no-op without threadpoolctl)."""
    controller = _get_controller()
    if not controller:
        return nullcontext()
    return controller.limit(limits=1, user_api="blas")


def dask_blas_threads() -> AbstractContextManager[Any]:
    """BLAS threads = cores ÷ Dask threads while Dask's local threaded scheduler runs (else a no-op).

    Distributed workers are left alone: Dask starts their processes with one BLAS thread.
    """
    import dask
    import dask.threaded
    from dask.base import get_scheduler

    scheduler = get_scheduler()
    if scheduler is not None and scheduler is not dask.threaded.get:
        return nullcontext()
    cores = os.cpu_count() or 1
    workers = dask.config.get("num_workers", None) or cores
    controller = _get_controller()
    if not controller:
        return nullcontext()
    return controller.limit(limits=max(1, cores // int(workers)), user_api="blas")
