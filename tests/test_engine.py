"""rankwise.engine: reader choice, densify, the reference spectrum, the runners and the timers."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from rankwise import NpyMatrix, cr_expected_error, cr_matmul, engine
from rankwise.engine import (
    CRComparison,
    approximate_each,
    cr_compare,
    dask_session,
    densify,
    out_of_core,
    reference_spectrum,
    stream_approximate,
    time_chain_orders,
    timed,
    use_dask,
)
from rankwise.io import NamedMatrix
from rankwise.linalg.chain import ORDERS, chain_plan
from tests.helpers import matrix


@pytest.fixture
def npy(tmp_path: Path) -> Path:
    A, _ = matrix(60, 40, "exp")
    np.save(tmp_path / "a.npy", A)
    return tmp_path / "a.npy"


# ------------------------------------------------------------------------ choosing the reader


def test_out_of_core_above_the_threshold_for_randomized_methods(npy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not out_of_core(npy, "rsvd")
    monkeypatch.setattr(engine, "OUT_OF_CORE_BYTES", npy.stat().st_size - 1)
    assert out_of_core(npy, "rsvd") and out_of_core(str(npy), "auto")
    assert not out_of_core(npy, "svd") and not out_of_core(npy, "id")
    assert not out_of_core(npy.with_name("missing.npy"), "rsvd")
    np.savez(npy.with_suffix(".npz"), a=np.ones((600, 400)))
    assert not out_of_core(npy.with_suffix(".npz"), "rsvd")


def test_use_dask_decisions(npy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dask")
    assert not use_dask(None, "auto", "rsvd") and not use_dask(npy, "auto", "rsvd")  # small
    assert use_dask(npy, "dask", "rsvd") and use_dask(npy, "dask", "cur") and not use_dask(npy, "local", "rsvd")
    monkeypatch.setattr(engine, "DASK_BYTES", npy.stat().st_size - 1)
    assert use_dask(npy, "auto", "rsvd") and use_dask(npy, "auto", "id")
    assert not use_dask(npy, "auto", "svd")  # exact SVD: in memory
    assert not use_dask(npy, "local", "rsvd")
    for name in ("a.zarr", "plain"):
        d = tmp_path / name
        d.mkdir()
        if name == "plain":
            (d / "zarr.json").write_text("{}", encoding="utf-8")
        assert use_dask(d, "auto", "rsvd")
        with pytest.raises(ValueError, match="a Zarr directory is read through Dask; use --engine dask or auto"):
            use_dask(d, "local", "rsvd")
    assert not use_dask(tmp_path, "auto", "rsvd")  # a folder that is not Zarr


@pytest.mark.parametrize(("args", "message"), [
    ((None, "spark", "rsvd"), "--engine must be one of auto, local, dask; got 'spark'"),
    ((None, "dask", "rsvd"), "--engine dask needs an INPUT (.npy file or Zarr directory)"),
    (("a.npy", "dask", "svd"), "--engine dask runs --method rsvd, auto, id, cur; got 'svd' "
                               "(an exact SVD needs the matrix in memory)"),
])
def test_use_dask_errors(args: tuple, message: str) -> None:
    with pytest.raises(ValueError) as info:
        use_dask(*args)
    assert str(info.value) == message


def test_dask_session_reports_the_progress_of_every_task() -> None:
    da = pytest.importorskip("dask.array")
    seen: list[tuple[int, int]] = []
    x = da.arange(100, chunks=10)
    with dask_session(progress=lambda done, total: seen.append((done, total))):
        assert int(x.sum().compute()) == 4950
    assert seen and [d for d, _ in seen] == list(range(1, len(seen) + 1)) and seen[-1][0] == seen[-1][1]
    assert all(d <= t for d, t in seen)
    with dask_session():  # no callback: plain local threads
        assert int(x.sum().compute()) == 4950


def test_dask_session_without_dask(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ValueError, match=r"^--engine dask needs Dask: pip install 'rankwise\[dask\]'$"), \
            dask_session():
        pass


# ------------------------------------------------------------------ densify and the reference


def test_densify(npy: Path) -> None:
    S = scipy.sparse.random(7, 5, density=0.4, random_state=0, format="csr")
    np.testing.assert_array_equal(densify(S), S.toarray())
    mm = np.load(npy, mmap_mode="r")
    dense = densify(mm)
    assert type(dense) is np.ndarray and np.array_equal(dense, mm)
    nm = NpyMatrix(npy)
    assert densify(nm) is nm
    da = pytest.importorskip("dask.array")
    D = da.ones((4, 4), chunks=2)
    assert densify(D) is D
    assert densify([[1, 2]]).tolist() == [[1, 2]]


def test_reference_spectrum_equals_numpy_svd(rng: np.random.Generator) -> None:
    A = rng.standard_normal((30, 20))
    s = reference_spectrum(A)
    assert s is not None and s.dtype == np.float64
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False), rtol=1e-12)
    B, S = matrix(40, 25, "exp")
    np.testing.assert_allclose(reference_spectrum(B), S, rtol=1e-9, atol=1e-14)  # type: ignore[arg-type]


def test_reference_spectrum_of_sparse_integer_and_float32(rng: np.random.Generator) -> None:
    M = scipy.sparse.random(20, 12, density=0.3, random_state=1, format="csr")
    np.testing.assert_allclose(reference_spectrum(M), np.linalg.svd(M.toarray(), compute_uv=False),  # type: ignore[arg-type]
                               rtol=1e-12)
    ints = rng.integers(-5, 5, size=(9, 7))
    np.testing.assert_allclose(reference_spectrum(ints), np.linalg.svd(ints.astype(float), compute_uv=False),  # type: ignore[arg-type]
                               rtol=1e-12)
    f32 = rng.standard_normal((9, 7)).astype(np.float32)
    s = reference_spectrum(f32)
    assert s is not None and s.dtype == np.float64
    np.testing.assert_allclose(s, np.linalg.svd(f32.astype(np.float64), compute_uv=False), rtol=1e-5)


def test_reference_spectrum_is_skipped_when_too_large_or_streamed(npy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert reference_spectrum(NpyMatrix(npy)) is None
    monkeypatch.setattr(engine, "REFERENCE_MAX_ENTRIES", 60 * 40 - 1)
    assert reference_spectrum(np.load(npy)) is None
    monkeypatch.setattr(engine, "REFERENCE_MAX_ENTRIES", 60 * 40)
    assert reference_spectrum(np.load(npy)) is not None


# ------------------------------------------------------------------------------ the runners


def test_approximate_each_meets_eckart_young() -> None:
    A, s = matrix(50, 30, "exp")
    B, t = matrix(20, 40, "poly", seed=1)
    aps = approximate_each([NamedMatrix("A", A), NamedMatrix("B", B)], method="svd", rank=5)
    for ap, sv in zip(aps, (s, t), strict=True):
        assert ap.report.rank == 5
        assert ap.report.fro_error == pytest.approx(np.sqrt(np.sum(sv[5:] ** 2)), rel=1e-9)
        assert ap.report.optimal_fro_error == pytest.approx(np.sqrt(np.sum(sv[5:] ** 2)), rel=1e-9)


def test_approximate_each_fills_the_optimum_of_a_randomized_method() -> None:
    A, s = matrix(80, 60, "exp", rate=0.7)
    (ap,) = approximate_each([NamedMatrix("A", A)], method="rsvd", rank=8, rng=0)
    assert ap.spectrum is not None
    np.testing.assert_allclose(ap.spectrum, np.linalg.svd(A, compute_uv=False), rtol=1e-9, atol=1e-14)
    assert ap.report.optimal_fro_error == pytest.approx(np.sqrt(np.sum(s[8:] ** 2)), rel=1e-9)
    assert (1 - 1e-9) * ap.report.optimal_fro_error <= ap.report.fro_error <= 1.01 * ap.report.optimal_fro_error


def test_approximate_each_spectrum_given_and_needed() -> None:
    A, s = matrix(30, 20, "exp")
    (ap,) = approximate_each([NamedMatrix("A", A)], method="svd", rank=3, spectrum=s, need_spectrum=True)
    assert ap.spectrum is not None
    np.testing.assert_allclose(ap.spectrum, s, rtol=1e-9, atol=1e-14)


def test_approximate_each_sparse_input_and_an_unknown_method() -> None:
    M = scipy.sparse.random(60, 40, density=0.2, random_state=0, format="csr")
    (ap,) = approximate_each([NamedMatrix("M", M)], method="rsvd", rank=4, rng=0)
    s = np.linalg.svd(M.toarray(), compute_uv=False)
    assert ap.report.fro_error <= 1.05 * np.sqrt(np.sum(s[4:] ** 2))
    with pytest.raises(ValueError, match=r"^approximate: unknown method 'nope'; valid: "):
        approximate_each([NamedMatrix("M", M)], method="nope", rank=2)


def test_stream_approximate_file_and_memory_agree(npy: Path) -> None:
    A = np.load(npy)
    from_file = stream_approximate(NpyMatrix(npy, block_rows=7), 6, rng=3)
    in_memory = stream_approximate(A, 6, rng=3)
    np.testing.assert_allclose(from_file.factors.S, in_memory.factors.S, rtol=1e-10)
    assert from_file.report.rank == 6 and from_file.report.seconds >= 0


def test_stream_approximate_recovers_an_exact_low_rank_matrix() -> None:
    from rankwise.random import low_rank_matrix

    A, S = low_rank_matrix(50, 35, [5.0, 3.0, 2.0, 1.0], rng=2)
    ap = stream_approximate(A, 4, rng=0)
    np.testing.assert_allclose(ap.factors.S, S[:4], rtol=1e-8)
    f = ap.factors
    np.testing.assert_allclose((f.U * f.S) @ f.Vh, A, atol=1e-10)
    with pytest.raises(ValueError, match=r"^approx: 'rank' must be an int in \[1, min\(m, n\)\] = \[1, 35\]; got 40"):
        stream_approximate(A, 40, func="approx")


# ---------------------------------------------------------------------------------- timing


def test_timed_returns_the_value_and_the_wall_time() -> None:
    value, seconds = timed(lambda x, *, y: (time.sleep(0.02), x + y)[1], 1, y=2)
    assert value == 3 and 0.02 <= seconds < 5


def test_time_chain_orders_plans_every_order() -> None:
    shapes = [(30, 40), (40, 5), (5, 50), (50,)]
    timings = time_chain_orders(shapes, repeats=3, rng=0)
    assert [t.order for t in timings] == list(ORDERS)
    for t in timings:
        assert t.plan.cost == chain_plan(shapes, order=t.order).cost and t.seconds >= 0  # type: ignore[arg-type]
    assert timings[0].plan.cost == min(t.plan.cost for t in timings)
    with pytest.raises(ValueError, match="'repeats' must be"):
        time_chain_orders(shapes, repeats=0)


def test_cr_compare_matches_a_direct_computation(rng: np.random.Generator) -> None:
    A, B = rng.standard_normal((20, 60)), rng.standard_normal((60, 15))
    r = cr_compare(A, B, 12, method="optimal", rng=5)
    assert isinstance(r, CRComparison) and r.samples == 12
    exact = A @ B
    norm = np.linalg.norm(exact)
    assert r.rel_error == pytest.approx(np.linalg.norm(exact - cr_matmul(A, B, 12, rng=5)) / norm, rel=1e-12)
    assert r.expected_rel_error == pytest.approx(np.sqrt(cr_expected_error(A, B, 12)) / norm, rel=1e-12)
    assert cr_compare(A, B, method="uniform", rng=0).samples == 6  # n // 10


def test_cr_compare_expected_error_is_the_mean_square() -> None:
    from rankwise.random import lognormal_pair

    A, B = lognormal_pair(20, 200, 10, rng=1)
    runs = [cr_compare(A, B, 40, rng=seed) for seed in range(200)]
    mean_square = np.mean([r.rel_error**2 for r in runs])
    assert mean_square == pytest.approx(runs[0].expected_rel_error ** 2, rel=0.2)


def test_cr_compare_topk_with_every_product_and_a_zero_product() -> None:
    A, B = np.eye(4), np.diag([4.0, 3.0, 2.0, 1.0])
    assert cr_compare(A, B, 4, method="topk")[:3] == (4, 0.0, 0.0)
    Z = np.zeros((3, 4))
    assert cr_compare(Z, B, 2)[1:3] == (0.0, 0.0)
