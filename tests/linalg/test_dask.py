"""Dask inputs: rsvd, interp_decomp, cur and StreamingSVD compute blockwise and equal the in-memory path."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import rankwise  # noqa: E402
from rankwise import StreamingSVD, cur, interp_decomp, rsvd  # noqa: E402
from rankwise._checks import InputError, InputTypeError  # noqa: E402
from rankwise.io import open_dask  # noqa: E402
from rankwise.random import low_rank_matrix  # noqa: E402


@pytest.fixture(scope="module")
def mat() -> tuple[np.ndarray, np.ndarray]:
    return low_rank_matrix(900, 240, 0.9 ** np.arange(240), rng=3)


def _host(res: rankwise.SVDResult) -> rankwise.SVDResult:
    """The factors as NumPy arrays (U of a Dask input is a Dask array)."""
    return rankwise.SVDResult(*(np.asarray(x) for x in res))


def _same_svd(a: rankwise.SVDResult, b: rankwise.SVDResult, tol: float) -> None:
    """Equal to rounding, up to the sign of each singular pair."""
    a, b = _host(a), _host(b)
    np.testing.assert_allclose(a.S, b.S, rtol=tol, atol=tol * float(a.S[0]))
    signs = np.sign(np.sum(a.U * b.U, axis=0))
    np.testing.assert_allclose(a.U, b.U * signs, atol=tol * 100)
    np.testing.assert_allclose(a.Vh, b.Vh * signs[:, None], atol=tol * 100)


@pytest.mark.parametrize("chunks", [(200, 240), (900, 60), (250, 100)], ids=["rows", "columns", "both"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rsvd_rank_equals_in_memory(mat: tuple[np.ndarray, np.ndarray], chunks: tuple[int, int],
                                    dtype: type) -> None:
    A = mat[0].astype(dtype)
    ref, rep_ref = rsvd(A, 15, rng=7, report=True)
    got, rep = rsvd(da.from_array(A, chunks=chunks), 15, rng=7, report=True)
    D = da.from_array(A, chunks=chunks)
    assert isinstance(got.U, da.Array) and got.U.dtype == dtype and got.U.chunks[0] == D.chunks[0]
    assert isinstance(got.S, np.ndarray) and isinstance(got.Vh, np.ndarray)
    _same_svd(ref, got, 1e-10 if dtype == np.float64 else 2e-5)
    assert rep.fro_error == pytest.approx(rep_ref.fro_error, rel=1e-6 if dtype == np.float64 else 1e-3)
    assert rep.options["file_reads"] == 3  # q + 1 fused passes over the chunks instead of 5


@pytest.mark.parametrize("kind", ["complex", "rank 12", "float32"])
def test_kept_basis_gram_is_the_gram_of_the_kept_basis(kind: str) -> None:
    """YᴴY of the kept Y = A W, assembled from the Krylov passes without a pass of its own, equals the
    Gram matrix of Y computed afterwards, also when a block deflates to nothing (rank 12 < l = 20)
    and when the products run in float32; and rsvd equals the in-memory path there."""
    from rankwise.linalg._inputs import as_operator
    from rankwise.linalg.rsvd import _krylov

    rng = np.random.default_rng(5)
    if kind == "complex":
        A = rng.standard_normal((300, 80)) + 1j * rng.standard_normal((300, 80))
        A = A @ np.diag(0.8 ** np.arange(80))
    elif kind == "rank 12":
        A = rng.standard_normal((300, 12)) @ rng.standard_normal((12, 80))
    else:
        A = low_rank_matrix(300, 80, 0.9 ** np.arange(80), rng=5)[0].astype(np.float32)
    op = as_operator(da.from_array(A, chunks=(70, 80)), func="test")
    basis = _krylov(op, 20, 2, "gaussian", np.random.default_rng(1))
    Y = np.asarray(basis.left.compute()).astype(np.complex128 if kind == "complex" else np.float64)
    G = Y.conj().T @ Y
    assert basis.gram is not None and basis.gram.shape == G.shape == (basis.right.shape[1],) * 2
    if kind == "rank 12":
        assert basis.right.shape[1] == 32  # W0 (20) and 12 columns of Z1; Z2 is empty
    tol = 1e-5 if kind == "float32" else 1e-12
    assert np.max(np.abs(basis.gram - G)) <= tol * np.max(np.abs(G))
    k = 10
    ref = rsvd(A, k, rng=7)
    got = rsvd(da.from_array(A, chunks=(70, 80)), k, rng=7)
    U = np.asarray(got.U)
    if kind == "complex":  # singular vectors are fixed up to a phase: compare S and the rank-k matrix
        np.testing.assert_allclose(got.S, ref.S, rtol=1e-10)
        np.testing.assert_allclose((U * got.S) @ got.Vh, (ref.U * ref.S) @ ref.Vh, atol=1e-10 * ref.S[0])
    else:
        _same_svd(ref, got, 1e-10 if kind != "float32" else 2e-5)
    assert np.max(np.abs(U.conj().T @ U - np.eye(k))) < (1e-10 if kind != "float32" else 1e-5)


def test_mixed_precision_on_dask_matches_in_memory_and_reads_as_often(mat: tuple[np.ndarray, np.ndarray]) -> None:
    A, s = mat
    ref, rep_ref = rsvd(A, 15, rng=7, precision="mixed", report=True)
    counting = _CountingBlocks(A)
    D = da.from_array(counting, chunks=(150, 240), asarray=True)
    counting.reads.clear()  # from_array reads an empty slice for its metadata
    got, rep = rsvd(D, 15, rng=7, precision="mixed", report=True)
    assert rep.options["precision"] == rep_ref.options["precision"] == "mixed"
    assert got.U.dtype == np.float64
    _same_svd(ref, got, 2e-5)  # both ran on A rounded to float32: equal to float32 rounding
    true = np.linalg.norm(A - (np.asarray(got.U) * got.S) @ got.Vh)
    assert rep.fro_error == pytest.approx(true, rel=1e-6)
    assert true <= (1 + 1e-4) * np.linalg.norm(A - (ref.U * ref.S) @ ref.Vh)
    # 3 fused float32 passes, then ‖A‖_F² and Aᴴ U in float64 for the report's exact error
    assert set(counting.reads) == set(range(0, 900, 150)) and set(counting.reads.values()) == {5}


def test_rsvd_tolerance_equals_in_memory(mat: tuple[np.ndarray, np.ndarray]) -> None:
    A, s = mat
    ref, rep_ref = rsvd(A, tol=1e-2, rng=2, report=True)
    got, rep = rsvd(da.from_array(A, chunks=(128, 240)), tol=1e-2, rng=2, report=True)
    assert rep.rank == rep_ref.rank
    _same_svd(ref, got, 1e-9)
    assert np.linalg.norm(A - (np.asarray(got.U) * got.S) @ got.Vh) <= 1e-2 * np.linalg.norm(A)


def test_integer_dask_input_is_computed_in_float64() -> None:
    A = np.random.default_rng(0).integers(-5, 5, size=(60, 40))
    got = rsvd(da.from_array(A, chunks=25), 5, rng=0)
    ref = rsvd(A.astype(np.float64), 5, rng=0)
    assert got.U.dtype == np.float64
    np.testing.assert_allclose(got.S, ref.S, rtol=1e-10)


class _CountingBlocks:
    """A matrix whose row chunks are produced on demand, counting how often each is produced."""

    def __init__(self, A: np.ndarray) -> None:
        self.A, self.shape, self.dtype, self.ndim = A, A.shape, A.dtype, 2
        self.reads: Counter[int] = Counter()
        self.lock = threading.Lock()

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        with self.lock:
            self.reads[key[0].start] += 1
        return self.A[key]


def test_fixed_rank_reads_each_chunk_q_plus_one_times(mat: tuple[np.ndarray, np.ndarray]) -> None:
    src = _CountingBlocks(mat[0])
    D = da.from_array(src, chunks=(100, 240), asarray=True)
    src.reads.clear()  # from_array reads an empty slice for its metadata
    rsvd(D, 10, rng=0)
    assert set(src.reads) == set(range(0, 900, 100))
    assert set(src.reads.values()) == {3}


def test_streaming_sketch_reads_each_chunk_once(mat: tuple[np.ndarray, np.ndarray]) -> None:
    A, s = mat
    src = _CountingBlocks(A)
    sk = StreamingSVD(A.shape, 10, rng=4)
    D = da.from_array(src, chunks=(150, 240), asarray=True)
    src.reads.clear()
    sk.update(D, rows=slice(0, 900))
    assert set(src.reads.values()) == {1} and len(src.reads) == 6
    ref = StreamingSVD(A.shape, 10, rng=4)
    ref.update(A, rows=slice(0, 900))
    _same_svd(ref.result(), sk.result(), 1e-10)
    assert sk.rows_updated == 900 and sk.report().norm_fro == pytest.approx(np.linalg.norm(A), rel=1e-12)
    U, S, Vh = sk.result()
    assert np.linalg.norm(A - (U * S) @ Vh) <= 1.5 * np.sqrt(np.sum(s[10:] ** 2))


def test_streaming_dask_blocks_in_any_row_order(mat: tuple[np.ndarray, np.ndarray]) -> None:
    A, _ = mat
    perm = np.random.default_rng(1).permutation(A.shape[0])
    ref = StreamingSVD(A.shape, 8, rng=5)
    ref.update(A, rows=slice(0, 900))
    got = StreamingSVD(A.shape, 8, rng=5)
    half = perm[:400], perm[400:]
    for rows in half[::-1]:  # two dask blocks of scattered rows, column-chunked too
        got.update(da.from_array(A[rows], chunks=(90, 100)), rows=rows)
    _same_svd(ref.result(), got.result(), 1e-10)


def test_interp_decomp_equals_in_memory(mat: tuple[np.ndarray, np.ndarray]) -> None:
    A, s = mat
    for axis in ("columns", "rows"):
        ref = interp_decomp(A, 20, axis=axis, method="randomized", rng=3)
        got = interp_decomp(da.from_array(A, chunks=(200, 120)), 20, axis=axis, method="randomized", rng=3)
        np.testing.assert_array_equal(got.idx, ref.idx)
        np.testing.assert_allclose(got.proj, ref.proj, atol=1e-9)
        assert got.fro_error == pytest.approx(ref.fro_error, rel=1e-8)
    tol = interp_decomp(da.from_array(A, chunks=300), tol=1e-2, rng=0)
    assert tol.method == "randomized" and tol.fro_error <= 1e-2 * tol.norm_fro


def test_cur_on_dask(mat: tuple[np.ndarray, np.ndarray]) -> None:
    A, _ = mat
    ref = cur(A, 20, rng=1)  # in memory, min(m, n) <= 256 picks the columns by pivoted QR of A itself
    got = cur(da.from_array(A, chunks=(200, 240)), 20, rng=1)  # Dask: from a sketch (the data stay put)
    assert got.report.options["id_method"] == "randomized" and got.col_idx.size == got.row_idx.size == 20
    assert got.report.fro_error <= 1.5 * ref.report.fro_error
    assert got.report.fro_error == pytest.approx(np.linalg.norm(A - got.reconstruct()), rel=1e-9)


def test_dask_bad_input() -> None:
    A = np.random.default_rng(0).standard_normal((50, 30))
    A[3, 4], A[10, 1] = np.nan, np.inf
    with pytest.raises(InputError, match=r"rsvd: 'A' must contain only finite values; got 1 NaN and 1 infinite"):
        rsvd(da.from_array(A, chunks=20), 3)
    with pytest.raises(InputError, match="'A' must be 2-D; got a dask array of shape"):
        rsvd(da.ones((4, 4, 4)), 2)
    unknown = da.ones((40, 5), chunks=10)
    unknown = unknown[unknown[:, 0] > 0]
    with pytest.raises(InputError, match="known chunk sizes"):
        rsvd(unknown, 2)
    with pytest.raises(InputTypeError, match="must hold numbers"):
        rsvd(da.from_array(np.array([["a", "b"], ["c", "d"]])), 1)
    sk = StreamingSVD((50, 30), 3)
    with pytest.raises(InputError, match="n = 30 columns"):
        sk.update(da.ones((10, 29)), rows=slice(0, 10))
    B = np.ones((10, 30))
    B[0, 0] = np.nan
    with pytest.raises(InputError, match="only finite values"):
        sk.update(da.from_array(B), rows=slice(0, 10))
    assert sk.rows_updated == 0


def test_open_dask_npy_and_zarr(tmp_path: Path) -> None:
    zarr = pytest.importorskip("zarr")
    A = np.random.default_rng(0).standard_normal((130, 9))
    np.save(tmp_path / "a.npy", A)
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=A.shape, chunks=(16, 3), dtype="f8")
    z[:] = A
    for name in ("a.npy", "a.zarr"):
        D = open_dask(tmp_path / name, chunks=50)
        assert D.chunks == ((50, 50, 30), (9,))
        np.testing.assert_array_equal(D.compute(), A)
    block = open_dask(tmp_path / "a.npy", chunks=50).to_delayed()[1, 0].compute()  # what a task receives
    np.testing.assert_array_equal(block, A[50:100])
    assert isinstance(block.base, np.memmap) and not block.flags.writeable  # a view of the file's map, no copy
    with pytest.raises(InputError, match="no such file"):
        open_dask(tmp_path / "missing.npy")
    with pytest.raises(InputError, match="'chunks' must be an integer >= 1"):
        open_dask(tmp_path / "a.npy", chunks=0)
    np.save(tmp_path / "f.npy", np.asfortranarray(A))
    with pytest.raises(InputError, match="Fortran-ordered"):
        open_dask(tmp_path / "f.npy")
    np.save(tmp_path / "v.npy", np.ones(5))
    with pytest.raises(InputError, match="must be 2-D"):
        open_dask(tmp_path / "v.npy")
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    with pytest.raises(InputError, match=r"is not a \.npy file \(it does not start with NumPy.s magic string"):
        open_dask(tmp_path / "bad.npy")
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(InputError, match="Zarr"):
        open_dask(tmp_path / "empty.zarr")


# --------------------------------------------------------------------------- a real cluster


@pytest.fixture(scope="module")
def cluster() -> object:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=50) as lc, distributed.Client(lc) as client:
        yield client


@pytest.mark.slow
def test_local_cluster_equals_in_memory(cluster: object, tmp_path: Path, mat: tuple[np.ndarray, np.ndarray]) -> None:
    A, _ = mat
    np.save(tmp_path / "a.npy", A)
    D = open_dask(tmp_path / "a.npy", chunks=128)  # read in the worker processes from the file
    _same_svd(rsvd(A, 12, rng=9), rsvd(D, 12, rng=9), 1e-10)
    ref_id, got_id = (interp_decomp(X, 12, method="randomized", rng=9) for X in (A, D))
    np.testing.assert_array_equal(got_id.idx, ref_id.idx)
    sk_ref, sk = StreamingSVD(A.shape, 6, rng=9), StreamingSVD(A.shape, 6, rng=9)
    sk_ref.update(A, rows=slice(0, 900))
    sk.update(D, rows=slice(0, 900))
    _same_svd(sk_ref.result(), sk.result(), 1e-10)


def _slow_block(block: np.ndarray) -> np.ndarray:
    time.sleep(0.05)
    return block


@pytest.mark.slow
def test_worker_killed_mid_run_is_retried(cluster: object, mat: tuple[np.ndarray, np.ndarray]) -> None:
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import the tests
    A, _ = mat
    D = da.from_array(A, chunks=(30, 240)).map_blocks(_slow_block, dtype=A.dtype)
    client = cluster
    pids = client.run(os.getpid)  # type: ignore[attr-defined]
    out: dict[str, object] = {}
    run = threading.Thread(target=lambda: out.setdefault("res", rsvd(D, 10, rng=11)))
    run.start()
    deadline = time.monotonic() + 30
    while not any(client.processing().values()) and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    time.sleep(0.2)
    os.kill(next(iter(pids.values())), 9)  # SIGKILL one worker; its nanny restarts it
    run.join(120)
    assert not run.is_alive()
    client.wait_for_workers(2, timeout=60)  # type: ignore[attr-defined]
    assert len(set(client.run(os.getpid).values()) - set(pids.values())) == 1  # type: ignore[attr-defined]
    _same_svd(rsvd(A, 10, rng=11), out["res"], 1e-10)  # type: ignore[arg-type]


def test_mixed_precision_tolerance_on_dask_reports_the_true_error(mat: tuple[np.ndarray, np.ndarray]) -> None:
    A, _ = mat
    got, rep = rsvd(da.from_array(A, chunks=(128, 240)), tol=1e-2, rng=2, precision="mixed", report=True)
    assert rep.options["precision"] == "mixed"
    true = np.linalg.norm(A - (np.asarray(got.U) * got.S) @ got.Vh)
    assert true <= 1e-2 * np.linalg.norm(A)
    assert rep.fro_error == pytest.approx(true, rel=1e-6)
    assert rep.norm_fro == pytest.approx(np.linalg.norm(A), rel=1e-12)  # ‖A‖_F, not the float32 copy's
