"""rankwise._threads: the one-BLAS-thread block and its restoration."""

from __future__ import annotations

import pytest
import scipy.linalg  # noqa: F401  (its BLAS is loaded before the "before" snapshot)

from rankwise._threads import single_blas_thread


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
