"""rankwise._threads: the one-BLAS-thread block and its restoration."""

from __future__ import annotations

import os

import pytest
import scipy.linalg  # noqa: F401  (its BLAS is loaded before the "before" snapshot)

from rankwise._threads import single_blas_thread
from rankwise.linalg._dask import dask_blas_threads


def test_single_blas_thread_limits_and_restores() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert blas, "NumPy's BLAS should be visible to threadpoolctl"
    before = {i["filepath"]: i["num_threads"] for i in blas}
    with single_blas_thread():
        inside = {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
        assert set(inside.values()) == {1}
    after = {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
    assert after == before
    with pytest.raises(RuntimeError), single_blas_thread():  # restored when the block raises, too
        raise RuntimeError
    assert {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"} == before


def _blas_threads(threadpoolctl) -> dict[str, int]:
    return {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def test_dask_blas_threads_fits_blas_to_the_local_thread_pool() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    dask = pytest.importorskip("dask")
    before = _blas_threads(threadpoolctl)
    cores = os.cpu_count() or 1
    for workers in (1, 2, cores):
        with dask.config.set(scheduler="threads", num_workers=workers), dask_blas_threads():
            assert set(_blas_threads(threadpoolctl).values()) == {max(1, cores // workers)}
        assert _blas_threads(threadpoolctl) == before
    with dask.config.set(scheduler="sync"), dask_blas_threads():  # not the threaded scheduler: untouched
        assert _blas_threads(threadpoolctl) == before
