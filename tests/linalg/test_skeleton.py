"""Interpolative decomposition and CUR (SPEC §1.5): exactness, error bounds, scipy's conventions, inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.linalg.interpolative as sli
import scipy.sparse
import scipy.sparse.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise import CURResult, IDResult, cur, interp_decomp
from rankwise.random import decay, low_rank_matrix
from tests.helpers import matrix, rank_deficient

METHODS = ["qr", "randomized"]


def _rel(E: Any, A: Any) -> float:
    return float(np.linalg.norm(E) / np.linalg.norm(A))


def _spectra() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {kind: matrix(240, 160, kind, seed=3) for kind in ("exp", "poly")}


SPECTRA = _spectra()


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("axis", ["columns", "rows"])
@pytest.mark.parametrize("complex_", [False, True])
def test_exact_rank_k_is_recovered_by_id(method: str, axis: str, complex_: bool) -> None:
    A = rank_deficient(80, 60, 6, seed=1, complex_=complex_)
    res = interp_decomp(A, 6, axis=axis, method=method, rng=0)  # type: ignore[arg-type]
    assert res.method == method and res.rank == 6
    assert _rel(A - res.reconstruct(A), A) < 1e-12
    assert res.fro_error is not None and res.norm_fro is not None and res.fro_error / res.norm_fro < 1e-6


@pytest.mark.parametrize(("select", "core"), [("id", "pinv"), ("id", "optimal"), ("leverage", "pinv"),
                                              ("leverage", "optimal"), ("uniform", "optimal")])
def test_exact_rank_k_is_recovered_by_cur(select: str, core: str) -> None:
    A = rank_deficient(90, 70, 5, seed=2)
    res = cur(A, 5, select=select, core=core, rng=0)  # type: ignore[arg-type]
    assert isinstance(res, CURResult) and res.C.shape == (90, 5) and res.U.shape == (5, 5) and res.R.shape == (5, 70)
    assert np.array_equal(res.C, A[:, res.col_idx]) and np.array_equal(res.R, A[res.row_idx, :])
    assert _rel(A - res.reconstruct(), A) < 1e-9
    assert res.report.options["columns"] == 5 and res.report.options["rows"] == 5


# --------------------------------------------------------------------------- bounds on decaying spectra


@pytest.mark.parametrize("kind", ["exp", "poly"])
@pytest.mark.parametrize("method", METHODS)
def test_id_error_within_three_sigma_k_plus_one(kind: str, method: str) -> None:
    A, s = SPECTRA[kind]
    k = 20
    res = interp_decomp(A, k, method=method, rng=0)  # type: ignore[arg-type]
    E = A - res.reconstruct(A)
    spectral = float(np.linalg.norm(E, 2))
    assert spectral <= 3 * s[k], (spectral / s[k], res.max_coef)
    assert res.fro_error == pytest.approx(float(np.linalg.norm(E)), rel=1e-8)  # the reported error is the true one
    assert res.max_coef == max(1.0, float(np.abs(res.proj).max()))
    assert 1.0 <= res.max_coef < 10


@pytest.mark.parametrize("method", METHODS)
def test_interp_matrix_has_the_identity_on_the_skeleton(method: str) -> None:
    A, _ = SPECTRA["exp"]
    res = interp_decomp(A, 15, method=method, rng=1)  # type: ignore[arg-type]
    Z = res.interp_matrix()
    J = res.skeleton_indices
    assert Z.shape == (15, 160) and np.array_equal(Z[:, J], np.eye(15))
    assert np.array_equal(Z[:, res.idx[15:]], res.proj)
    assert np.array_equal(np.sort(res.idx), np.arange(160))
    assert np.array_equal(res.skeleton(A), A[:, J])


@pytest.mark.parametrize("kind", ["exp", "poly"])
@pytest.mark.parametrize(("method", "rand"), [("qr", False), ("randomized", False), ("randomized", True)])
def test_error_at_most_scipy_interpolative(kind: str, method: str, rand: bool) -> None:
    A, _ = SPECTRA[kind]
    k = 25
    idx, proj = sli.interp_decomp(A, k, rand=rand, rng=np.random.default_rng(0))
    theirs = np.linalg.norm(A - sli.reconstruct_skel_matrix(A, k, idx) @ sli.reconstruct_interp_matrix(idx, proj))
    ours = interp_decomp(A, k, method=method, rng=0)  # type: ignore[arg-type]
    assert np.linalg.norm(A - ours.reconstruct(A)) <= 1.1 * theirs


def test_conventions_match_scipy_interpolative() -> None:
    A, _ = SPECTRA["poly"]
    k = 12
    res = interp_decomp(A, k, method="qr")
    assert np.array_equal(sli.reconstruct_skel_matrix(A, k, res.idx), res.skeleton(A))
    assert np.allclose(sli.reconstruct_interp_matrix(res.idx, res.proj), res.interp_matrix(), atol=1e-13)
    idx, proj = sli.interp_decomp(A, k, rand=False)
    assert np.array_equal(np.sort(idx[:k]), np.sort(res.idx[:k]))  # same Businger–Golub pivots
    theirs = IDResult(idx, proj)  # scipy's output drops into rankwise's result as it is
    assert np.allclose(theirs.reconstruct(A), sli.reconstruct_skel_matrix(A, k, idx)
                       @ sli.reconstruct_interp_matrix(idx, proj), atol=1e-12)


# --------------------------------------------------------------------------- tolerance


@pytest.mark.parametrize("kind", ["exp", "poly"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("tol", [0.3, 5e-2, 1e-2])
def test_tolerance_is_met(kind: str, method: str, tol: float) -> None:
    A, s = SPECTRA[kind]
    res = interp_decomp(A, tol=tol, method=method, rng=0)  # type: ignore[arg-type]
    true = _rel(A - res.reconstruct(A), A)
    assert true <= tol
    assert res.fro_error == pytest.approx(float(np.linalg.norm(A - res.reconstruct(A))), rel=1e-6,
                                          abs=1e-6 * np.linalg.norm(A))
    tails = np.sqrt(np.cumsum((s**2)[::-1])[::-1]) / np.linalg.norm(s)
    k_opt = int(np.flatnonzero(np.append(tails[1:], 0) <= tol)[0]) + 1  # Eckart–Young's smallest rank
    assert k_opt <= res.rank <= 1.6 * k_opt + 5


def test_randomized_tolerance_below_its_floor_is_refused_and_auto_switches() -> None:
    A, _ = SPECTRA["exp"]
    with pytest.raises(ValueError, match=r"interp_decomp: 'tol' must be >= 10·sqrt\(eps\).*use method='qr'"):
        interp_decomp(A, tol=1e-9, method="randomized")
    big = np.vstack([A, A])  # min(m, n) = 200 <= 256 would pick qr anyway; use a wider matrix
    assert interp_decomp(np.hstack([big, big]), tol=1e-9).method == "qr"


def test_power_iterations_matter() -> None:
    A, s = SPECTRA["poly"]
    no_power = [interp_decomp(A, 20, method="randomized", power_iters=0, rng=i).fro_error for i in range(4)]
    power = [interp_decomp(A, 20, method="randomized", power_iters=2, rng=i).fro_error for i in range(4)]
    assert np.mean(power) < np.mean(no_power)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- rows, inputs


def test_rows_are_the_id_of_the_transpose() -> None:
    A, _ = SPECTRA["exp"]
    r = interp_decomp(A, 10, axis="rows", method="qr")
    c = interp_decomp(np.ascontiguousarray(A.T), 10, method="qr")
    assert np.array_equal(r.idx, c.idx) and np.allclose(r.proj, c.proj)
    X = r.interp_matrix()
    assert X.shape == (240, 10) and np.array_equal(X[r.skeleton_indices], np.eye(10))
    assert np.allclose(r.reconstruct(A), X @ A[r.skeleton_indices, :])


@pytest.mark.parametrize("axis", ["columns", "rows"])
def test_sparse_and_operator_inputs_match_dense(axis: str) -> None:
    A, _ = SPECTRA["exp"]
    dense = interp_decomp(A, 12, axis=axis, method="randomized", rng=5)  # type: ignore[arg-type]
    for other in (scipy.sparse.csr_matrix(A), scipy.sparse.linalg.aslinearoperator(A)):
        res = interp_decomp(other, 12, axis=axis, method="randomized", rng=5)  # type: ignore[arg-type]
        assert np.array_equal(res.idx, dense.idx) and np.allclose(res.proj, dense.proj, atol=1e-9)
        assert np.allclose(res.reconstruct(other), dense.reconstruct(A))
    sp = interp_decomp(scipy.sparse.csr_matrix(A), 12, axis=axis, method="qr")  # type: ignore[arg-type]
    assert np.allclose(sp.reconstruct(A), interp_decomp(A, 12, axis=axis, method="qr").reconstruct(A))  # type: ignore[arg-type]


def test_float32_and_complex_keep_their_dtype() -> None:
    A, s = matrix(300, 280, "exp", dtype=np.float32, seed=4)
    res = interp_decomp(A, 20, rng=0)
    assert res.method == "randomized" and res.proj.dtype == np.float32
    assert np.linalg.norm(A - res.reconstruct(A), 2) <= 3 * s[20]
    C, sc = matrix(120, 90, "exp", dtype=np.complex128, seed=4)
    for method in METHODS:
        out = interp_decomp(C, 10, method=method, rng=0)  # type: ignore[arg-type]
        assert out.proj.dtype == np.complex128
        assert np.linalg.norm(C - out.reconstruct(C)) <= 2 * np.sqrt(np.sum(sc[10:] ** 2))


def test_torch_input_stays_torch() -> None:
    torch = pytest.importorskip("torch")
    A, _ = SPECTRA["exp"]
    T = torch.from_numpy(A)
    for method in METHODS:
        res = interp_decomp(T, 15, method=method, rng=0)  # type: ignore[arg-type]
        ref = interp_decomp(A, 15, method=method, rng=0)  # type: ignore[arg-type]
        assert isinstance(res.proj, torch.Tensor) and res.proj.dtype == torch.float64
        err = float(np.linalg.norm(A - res.reconstruct(T).numpy()))
        assert err == pytest.approx(res.fro_error, rel=1e-8)
        if method == "qr":  # the same host factorisation; the randomized sketch is drawn by torch instead
            assert np.array_equal(res.idx, ref.idx) and np.allclose(res.proj.numpy(), ref.proj)
        else:
            assert err <= 1.1 * ref.fro_error  # type: ignore[operator]
    c = cur(T, 10, rng=0)
    assert isinstance(c.U, torch.Tensor) and np.allclose(c.reconstruct().numpy(), cur(A, 10, rng=0).reconstruct())


def test_array_api_strict_randomized_path() -> None:
    xp = pytest.importorskip("array_api_strict")
    A, _ = SPECTRA["exp"]
    res = interp_decomp(xp.asarray(A), 10, method="randomized", rng=0)
    assert type(res.proj) is type(xp.asarray(A))
    assert np.allclose(np.asarray(res.reconstruct(xp.asarray(A))), interp_decomp(A, 10, method="randomized",
                                                                                 rng=0).reconstruct(A))


# --------------------------------------------------------------------------- CUR


@pytest.mark.parametrize("select", ["id", "leverage", "uniform"])
def test_cur_optimal_core_is_never_worse_and_the_report_is_exact(select: str) -> None:
    A, s = SPECTRA["exp"]
    res = {core: cur(A, 20, select=select, core=core, rng=7) for core in ("pinv", "optimal")}  # type: ignore[arg-type]
    assert np.array_equal(res["pinv"].col_idx, res["optimal"].col_idx)
    for r in res.values():
        assert r.report.fro_error == pytest.approx(float(np.linalg.norm(A - r.reconstruct())), rel=1e-10)
        assert r.report.fro_error >= np.sqrt(np.sum(s[20:] ** 2)) * (1 - 1e-9)  # never beats Eckart–Young
    assert res["optimal"].report.fro_error <= res["pinv"].report.fro_error * (1 + 1e-12)


def test_cur_by_id_is_close_to_optimal_and_takes_a_tolerance() -> None:
    A, s = SPECTRA["exp"]
    res = cur(A, 20, core="optimal", rng=0)
    assert res.report.fro_error <= 3 * np.sqrt(np.sum(s[20:] ** 2))
    t = cur(A, tol=0.05, rng=0)
    # the ID's rank at tol (35) is where CUR starts; the CUR of that rank misses the tolerance (relative
    # error 0.088, which cur used to return silently), so the rank grows until the CUR error meets it
    k_id = interp_decomp(A, tol=0.05, rng=0).rank
    assert t.report.options["grown_from"] == k_id < t.report.rank
    assert t.met_tol and _rel(A - t.reconstruct(), A) <= 0.05
    lev = cur(A, tol=0.05, select="leverage", rng=0)
    assert lev.C.shape[1] == lev.report.options["columns"]


def test_cur_sparse_input() -> None:
    A = rank_deficient(70, 50, 4, seed=3)
    res = cur(scipy.sparse.coo_matrix(A), 4, core="optimal", rng=0)
    assert isinstance(res.C, np.ndarray) and _rel(A - res.reconstruct(), A) < 1e-9


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "give exactly one of 'rank', 'tol'; got none"),
    ({"rank": 3, "tol": 0.1}, "give at most one of 'rank', 'tol'"),
    ({"tol": 1.5}, r"'tol' must be a number in \(0, 1\); got 1.5"),
    ({"rank": 3, "axis": "diag"}, "unknown axis 'diag'; valid: columns, rows"),
    ({"rank": 3, "method": "svd"}, "unknown method 'svd'; valid: auto, qr, randomized"),
    ({"rank": 3, "oversample": -1}, r"'oversample' must be an int in \[0, inf\); got -1"),
    ({"rank": 3.0}, r"'rank' must be an int in \[1, min\(m, n\)\] = \[1, 4\]; got 3.0 \(float\)"),
])
def test_interp_decomp_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=rf"^interp_decomp: {match}"):
        interp_decomp(np.ones((6, 4)), **kwargs)


def test_operator_limits() -> None:
    op = scipy.sparse.linalg.aslinearoperator(np.ones((6, 4)))
    with pytest.raises(ValueError, match="method 'qr' needs the matrix itself"):
        interp_decomp(op, 2, method="qr")
    with pytest.raises(ValueError, match="'tol' needs ‖A‖_F"):
        interp_decomp(op, tol=0.1)
    with pytest.raises(TypeError, match=r"^cur: 'A' must be a dense array, a scipy\.sparse matrix or a dask array"):
        cur(op, 2)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rank": 2, "select": "random"}, "unknown select 'random'; valid: id, leverage, uniform"),
    ({"rank": 2, "core": "lstsq"}, "unknown core 'lstsq'; valid: optimal, pinv"),
    ({"tol": 0.1, "select": "uniform"}, "select 'uniform' needs 'rank'"),
    ({"rank": 7}, r"'rank' must be an int in \[1, min\(m, n\)\] = \[1, 4\]; got 7 \(A has shape \(6, 4\)\)"),
])
def test_cur_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=rf"^cur: {match}"):
        cur(np.ones((6, 4)), **kwargs)


def test_result_checks() -> None:
    with pytest.raises(ValueError, match=r"'idx' .* and 'proj' of shape \(k, n - k\) must agree"):
        IDResult(np.arange(5), np.zeros((2, 2)))
    res = interp_decomp(np.eye(6, 4), 2)
    with pytest.raises(ValueError, match=r"^IDResult.skeleton: 'A' must have 4 columns"):
        res.skeleton(np.ones((6, 5)))
    with pytest.raises(AttributeError):
        res.idx = np.arange(4)  # type: ignore[misc]


@settings(max_examples=25, deadline=None)
@given(m=st.integers(2, 30), n=st.integers(2, 30), data=st.data())
def test_id_invariants_on_random_shapes(m: int, n: int, data: st.DataObject) -> None:
    r = data.draw(st.integers(1, min(m, n)))
    k = data.draw(st.integers(r, min(m, n)))
    method = data.draw(st.sampled_from(METHODS))
    axis = data.draw(st.sampled_from(["columns", "rows"]))
    A = rank_deficient(m, n, r, seed=data.draw(st.integers(0, 99)))
    res = interp_decomp(A, k, method=method, axis=axis, rng=0)
    size = n if axis == "columns" else m
    assert np.array_equal(np.sort(res.idx), np.arange(size)) and res.proj.shape == (k, size - k)
    assert _rel(A - res.reconstruct(A), A) < 1e-8  # k >= rank(A): exact up to rounding


@pytest.mark.gpu
def test_cuda_stays_on_device() -> None:
    torch = pytest.importorskip("torch")
    A, _ = SPECTRA["exp"]
    T = torch.from_numpy(A).cuda()
    for method in METHODS:
        res = interp_decomp(T, 10, method=method, rng=0)  # type: ignore[arg-type]
        assert res.proj.device == T.device and res.reconstruct(T).device == T.device
    c = cur(T, 10, core="optimal", rng=0)
    assert c.C.device == c.U.device == c.R.device == T.device


def test_tolerance_sketch_growth_aims_at_the_fitted_rank() -> None:
    from rankwise.linalg.skeleton import _grow

    k = np.arange(1, 55)
    target = 1e-8
    expo = 0.81**k  # squared errors of a 0.9^i spectrum: the target is met at k ≈ 87
    extra = _grow(expo, target, 64, 10, 3000)
    assert 64 + extra == pytest.approx(1.15 * np.log(target) / np.log(0.81) + 10, abs=2)
    power = 1.0 / k  # a 1/(i+1) spectrum's tail: the power law fits better and asks for more rows
    assert _grow(power, 1e-3, 64, 10, 3000) == 3 * 64  # capped at three times the sketch
    assert _grow(np.full(54, 0.5), 1e-3, 64, 10, 3000) == 64  # a flat curve: doubling
    assert _grow(expo, target, 64, 10, 100) == 36  # never beyond min(m, n)
    assert _grow(np.linspace(1.0, 1e-300, 54), 1e-310, 64, 10, 3000) >= 1


@pytest.mark.parametrize("kind", ["exp", "poly"])
def test_sketch_residual_estimates_the_id_error(kind: str) -> None:
    from rankwise.linalg._inputs import as_operator
    from rankwise.linalg.skeleton import _pivoted_qr, _sketch_errors, _sketch_rows

    s = decay(kind, 400, rate=0.9)
    A, _ = low_rank_matrix(900, 400, s, rng=2)
    Y = _sketch_rows(as_operator(A, func="t"), 64, 0, np.random.default_rng(0))
    R, perm = _pivoted_qr(Y)
    est, total = _sketch_errors(R, 64), float(np.sum(A * A))
    for k in (5, 20, 40, 54):
        Q = np.linalg.qr(A[:, perm[:k]])[0]
        true = total - float(np.sum((Q.T @ A) ** 2))
        assert 0.4 <= est[k - 1] / true <= 1.6  # ÷ (rows − k), not ÷ rows (that gave 0.12 at k = 54)


def test_tolerance_mode_skips_the_fit_while_the_sketch_says_the_target_is_far() -> None:
    A, s = low_rank_matrix(1500, 1000, decay("exp", 1000, rate=0.9), rng=0)
    res = interp_decomp(A, tol=1e-4, rng=0, method="randomized")
    assert np.linalg.norm(A - res.reconstruct(A)) <= 1e-4 * np.linalg.norm(A)
    assert res.rank <= 100  # the optimal SVD rank is 88; the column ID needs a few more


# --------------------------------------------------------------------------- tolerances are met or reported


@pytest.mark.parametrize("select", ["id", "leverage"])
@pytest.mark.parametrize("core", ["pinv", "optimal"])
@pytest.mark.parametrize(("kind", "rate", "seed", "tol"), [
    ("exp", 0.9, 2, 0.1),  # leverage + pinv returned 1000× the tolerance (relative error 101)
    ("poly", 0.9, 0, 0.03),  # id + pinv: 2.9×
    ("exp", 0.7, 1, 0.01),  # leverage + optimal: 5.3×
    ("exp", 0.7, 2, 0.03),
])
def test_cur_meets_its_tolerance(select: str, core: str, kind: str, rate: float, seed: int, tol: float) -> None:
    from rankwise.random import decay, low_rank_matrix

    m, n = (60, 40) if kind == "poly" or (seed == 2 and tol == 0.1) else (120, 80)
    A, _ = low_rank_matrix(m, n, decay(kind, min(m, n), rate=rate), rng=seed)  # type: ignore[arg-type]
    res = cur(A, tol=tol, select=select, core=core, rng=seed)  # type: ignore[arg-type]
    assert res.met_tol is True and res.report.tol == tol
    assert _rel(A - res.reconstruct(), A) <= tol
    assert res.report.fro_error == pytest.approx(np.linalg.norm(A - res.reconstruct()), rel=1e-8)


def test_cur_says_when_it_cannot_meet_its_tolerance() -> None:
    """κ(A) = 1e12: even at k = min(m, n) the sampled A[I, J]⁺ loses more than tol = 2e-7."""
    from rankwise._checks import ToleranceWarning
    from rankwise.random import low_rank_matrix

    A, _ = low_rank_matrix(25, 11, np.logspace(0, -12, 11), rng=2)
    with pytest.warns(ToleranceWarning, match=r"^cur: 'tol' = 2e-07 was not met: the relative Frobenius error "
                                              r"achieved is [0-9.e-]+ \(CUR of rank 11 = min\(m, n\)"):
        res = cur(A, tol=2e-7, select="leverage", rng=2)
    assert res.met_tol is False and res.report.rank == 11
    assert res.report.rel_fro_error == pytest.approx(_rel(A - res.reconstruct(), A), rel=1e-6)
    assert res.report.rel_fro_error > 2e-7
    assert cur(A, 3, rng=0).met_tol is None  # a fixed rank has no tolerance to meet


# --------------------------------------------------------------------------- the pinv core on noisy data


def _rank_plus_noise(m: int, n: int, r: int, noise: float, seed: int) -> np.ndarray:
    """A rank-r matrix plus Gaussian noise of Frobenius norm ``noise`` times the signal's."""
    gen = np.random.default_rng(seed)
    A = gen.standard_normal((m, r)) @ gen.standard_normal((r, n)) / np.sqrt(r)
    return A + noise * gen.standard_normal((m, n)) * np.linalg.norm(A) / np.sqrt(m * n)


@pytest.mark.parametrize("select", ["id", "uniform", "leverage"])
def test_cur_pinv_core_does_not_amplify_noise(select: str) -> None:
    """Rank 10 + 10% noise. The untruncated A[I, J]⁺ grew with k (id: 0.17 at k = 10 to 0.21 at k = 100)
    and went past ‖A‖ with sampled rows and columns (uniform: 1.1–489 ‖A‖); the truncated core falls
    with k (id 0.17 → 0.094) and stays within 15% of the optimal core's error from k = 40 on."""
    A = _rank_plus_noise(200, 1000, 10, 0.1, seed=1)
    ks = [10, 20, 40, 60, 80, 100]
    res = [cur(A, k, select=select, rng=1) for k in ks]  # type: ignore[arg-type]
    errs = np.array([r.report.fro_error for r in res]) / np.linalg.norm(A)
    assert np.all(errs < 1.0)  # never worse than the zero matrix
    assert np.all(errs[1:] <= 1.02 * errs[:-1])  # non-increasing in k, within 2%
    for k, r, e in zip(ks, res, errs, strict=True):
        assert r.report.fro_error == pytest.approx(float(np.linalg.norm(A - r.reconstruct())), rel=1e-9)
        W = A[np.ix_(r.row_idx, r.col_idx)]
        full = float(np.linalg.norm(A - r.C @ np.linalg.pinv(W) @ r.R))
        assert r.report.fro_error <= full * (1 + 1e-9)  # never worse than the untruncated pseudo-inverse
        if k >= 40:
            best = cur(A, k, select=select, core="optimal", rng=1).report.fro_error  # type: ignore[arg-type]
            assert e * np.linalg.norm(A) <= 1.15 * best


def test_cur_pinv_core_keeps_the_exact_pseudo_inverse_when_truncation_does_not_help() -> None:
    A = rank_deficient(90, 70, 5, seed=2)
    res = cur(A, 5, rng=0)
    np.testing.assert_array_equal(res.U, np.linalg.pinv(A[np.ix_(res.row_idx, res.col_idx)]))
    big = cur(A, 12, select="uniform", rng=0)  # A[I, J] has rank 5: the cutoff drops the other 7
    assert _rel(A - big.reconstruct(), A) < 1e-9
