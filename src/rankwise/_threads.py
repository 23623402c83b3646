"""BLAS thread limits for the small factorisations between a randomized method's big products.

On a few cores, OpenBLAS's threads speed up the products with A but slow down the small
LAPACK calls between them, whose BLAS-2 steps (xGEQP3's column-norm updates, xPOTRF and xTRSM
on a 100-column block) are too short to pay for waking and synchronising the threads.
:func:`single_blas_thread` runs a block with one BLAS thread (through threadpoolctl, which
finds NumPy's and SciPy's OpenBLAS or MKL) and restores the previous setting after it. The
limit is process-wide while the block runs, like every BLAS thread setting.

:func:`blas_thread_limit` sets any other limit for the length of a block (the Dask operator
gives BLAS cores ÷ Dask threads threads around its computations on Dask's local threaded
scheduler, see :mod:`rankwise.linalg._dask`).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["blas_thread_limit", "single_blas_thread"]

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


def blas_thread_limit(threads: int) -> AbstractContextManager[Any]:
    """A context in which NumPy's and SciPy's BLAS run on at most ``threads`` threads (a no-op without
    threadpoolctl)."""
    controller = _get_controller()
    if not controller:
        return nullcontext()
    return controller.limit(limits=threads, user_api="blas")
