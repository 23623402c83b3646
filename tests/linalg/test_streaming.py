"""Single-pass streaming sketch (Tropp et al. 2019)."""

from __future__ import annotations

import numpy as np
import pytest

from rankwise import StreamingSVD
from rankwise.linalg import NpyMatrix
from rankwise.random import decay, low_rank_matrix


def test_one_pass_any_order_reaches_1_5_times_the_optimum(tmp_path) -> None:
    A, s = low_rank_matrix(1500, 600, decay("exp", 600, rate=0.9), rng=0)
    path = tmp_path / "a.npy"
    np.save(path, A)
    mat = NpyMatrix(path, block_rows=100)
    r = 10
    ratios = []
    for seed in range(3):
        sk = StreamingSVD(A.shape, r, rng=seed)
        assert (sk.sketch_size, sk.core_size) == (41, 83)
        for i0, block in mat.blocks():
            sk.update(block, rows=slice(i0, i0 + block.shape[0]))
        U, S, Vh = sk.result()
        ratios.append(np.linalg.norm(A - (U * S) @ Vh) / np.sqrt(np.sum(s[r:] ** 2)))
        assert sk.rows_updated == 1500
    assert mat.reads == 3  # one read of the file per sketch: each row seen once
    assert max(ratios) <= 1.5


def test_row_order_and_index_arrays_do_not_matter() -> None:
    A, s = low_rank_matrix(200, 90, decay("exp", 90, rate=0.7), rng=1)
    a = StreamingSVD(A.shape, 5, rng=4)
    b = StreamingSVD(A.shape, 5, rng=4)
    a.update(A, rows=slice(0, 200))
    perm = np.random.default_rng(0).permutation(200)
    for chunk in np.array_split(perm, 7):
        b.update(A[chunk], rows=chunk)
    Ua, Sa, Vha = a.result()
    Ub, Sb, Vhb = b.result()
    np.testing.assert_allclose((Ua * Sa) @ Vha, (Ub * Sb) @ Vhb, atol=1e-10)


def test_counts_each_row_once_with_a_counting_source() -> None:
    A, _ = low_rank_matrix(120, 50, decay("exp", 50), rng=2)
    reads = np.zeros(120, dtype=int)

    def source():
        for i in range(0, 120, 16):
            reads[i:i + 16] += 1
            yield i, A[i:i + 16]

    sk = StreamingSVD(A.shape, 4, rng=0)
    for i0, blk in source():
        sk.update(blk, rows=slice(i0, i0 + blk.shape[0]))
    sk.result()
    assert np.all(reads == 1)


def test_error_estimate_and_report() -> None:
    A, s = low_rank_matrix(300, 100, decay("exp", 100, rate=0.8), rng=3)
    sk = StreamingSVD(A.shape, 8, rng=0)
    sk.update(A, rows=np.arange(300))
    U, S, Vh = sk.result()
    true = np.linalg.norm(A - (U * S) @ Vh)
    est = sk.error_estimate(confidence=0.999)
    assert est.fro_low <= true <= est.fro_high
    rep = sk.report()
    assert not rep.exact and rep.norm_fro == pytest.approx(np.linalg.norm(A)) and rep.options["passes"] == 1


def test_float32_and_complex_sketches() -> None:
    A, s = low_rank_matrix(100, 60, decay("exp", 60, rate=0.6), dtype=np.complex128, rng=0)
    sk = StreamingSVD(A.shape, 4, dtype=np.complex128, rng=0)
    sk.update(A, rows=slice(0, 100))
    U, S, Vh = sk.result()
    assert U.dtype == np.complex128 and np.linalg.norm(A - (U * S) @ Vh) <= 1.5 * np.sqrt(np.sum(s[4:] ** 2))
    sk32 = StreamingSVD((100, 60), 4, dtype=np.float32, rng=0)
    sk32.update(A.real.astype(np.float32), rows=slice(0, 100))
    assert sk32.result().U.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_rank_deficient_input_still_gives_r_orthonormal_factors(dtype: type) -> None:
    A, _ = low_rank_matrix(80, 50, np.r_[np.ones(3), np.zeros(47)], dtype=dtype, rng=0)  # rank 3
    sk = StreamingSVD(A.shape, 5, dtype=dtype, rng=0)
    sk.update(A, rows=slice(0, 80))
    U, S, Vh = sk.result()
    assert U.shape == (80, 5) and S.shape == (5,) and Vh.shape == (5, 50) and U.dtype == dtype
    np.testing.assert_allclose(U.conj().T @ U, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(Vh @ Vh.conj().T, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(S[3:], 0.0)
    np.testing.assert_allclose((U * S) @ Vh, A, atol=1e-12)
    again = sk.result()  # the completion does not change between calls
    np.testing.assert_array_equal(again.U, U)


def test_bad_input() -> None:
    sk = StreamingSVD((10, 6), 2, rng=0)
    with pytest.raises(ValueError, match="'block' must have n = 6 columns; got shape"):
        sk.update(np.ones((2, 5)), rows=slice(0, 2))
    with pytest.raises(ValueError, match="'rows' must select 3 consecutive rows"):
        sk.update(np.ones((3, 6)), rows=slice(0, 2))
    with pytest.raises(ValueError, match=r"'rows' must lie in \[0, 10\)"):
        sk.update(np.ones((1, 6)), rows=np.array([10]))
    with pytest.raises(ValueError, match="1 NaN"):
        sk.update(np.array([[np.nan, 0, 0, 0, 0, 0]]), rows=[0])
    with pytest.raises(ValueError, match=r"'rank' must be an int in \[1, min\(m, n\)\] = \[1, 6\]; got 7"):
        StreamingSVD((10, 6), 7)
    with pytest.raises(TypeError, match="'shape' must be a tuple"):
        StreamingSVD([10, 6], 2)  # type: ignore[arg-type]


def test_rows_fed_twice_are_refused_and_the_sketch_is_unchanged() -> None:
    A, _ = low_rank_matrix(40, 12, decay("exp", 12, rate=0.6), rng=5)
    sk = StreamingSVD(A.shape, 3, rng=0)
    sk.update(A[:20], rows=slice(0, 20))
    before = sk.result()
    with pytest.raises(ValueError, match=r"'rows' must be rows not fed before; got 20 row\(s\) already fed, the first "
                                         r"row 0 \(each row of A must be fed exactly once; 20 of 40 seen\)"):
        sk.update(A[:20], rows=slice(0, 20))  # the same block again, e.g. a restarted reader
    with pytest.raises(ValueError, match=r"got 1 row\(s\) already fed, the first row 19"):
        sk.update(A[19:30], rows=np.arange(19, 30))  # overlapping by one row
    with pytest.raises(ValueError, match=r"'rows' must name each row once; got row 25 more than once"):
        sk.update(A[[25, 26, 25]], rows=[25, 26, 25])
    np.testing.assert_array_equal(sk.result().S, before.S)  # nothing of the refused blocks was added
    assert sk.rows_updated == 20 and not sk.complete
    sk.update(A[20:], rows=slice(20, 40))
    assert sk.complete
    U, S, Vh = sk.result()
    ref = StreamingSVD(A.shape, 3, rng=0)
    ref.update(A, rows=slice(0, 40))
    np.testing.assert_allclose((U * S) @ Vh, (lambda r: (r.U * r.S) @ r.Vh)(ref.result()), atol=1e-12)


def test_a_complex_block_is_never_cast_to_a_real_sketch() -> None:
    sk = StreamingSVD((6, 4), 2, rng=0)
    with pytest.raises(TypeError, match=r"'block' must be real for sketches of dtype float64; got dtype complex128"):
        sk.update(np.ones((6, 4)) * (1 + 1j), rows=slice(0, 6))
    assert sk.rows_updated == 0
    ok = StreamingSVD((6, 4), 2, dtype=np.complex128, rng=0)
    ok.update(np.ones((6, 4)), rows=slice(0, 6))  # real data in a complex sketch is exact
    assert ok.complete


def test_dask_blocks_are_tracked_too() -> None:
    da = pytest.importorskip("dask.array")
    A, _ = low_rank_matrix(60, 10, decay("exp", 10, rate=0.6), rng=6)
    sk = StreamingSVD(A.shape, 3, rng=0)
    sk.update(da.from_array(A[:30], chunks=(10, 10)), rows=slice(0, 30))
    with pytest.raises(ValueError, match=r"'rows' must be rows not fed before; got 30 row\(s\)"):
        sk.update(da.from_array(A[:30], chunks=(10, 10)), rows=slice(0, 30))
    with pytest.raises(TypeError, match=r"'block' must be real"):
        sk.update(da.from_array(A[30:] * 1j, chunks=(10, 10)), rows=slice(30, 60))
    sk.update(da.from_array(A[30:], chunks=(10, 10)), rows=slice(30, 60))
    assert sk.complete and sk.rows_updated == 60
