"""Edges of the input space: magnitudes near overflow and underflow, dtypes, tolerances that must be met.

The oracle for magnitudes is the same matrix at unit scale: scaling A by a power of two 2^e scales
singular values, errors and norms by 2^e, A⁺ by 2^-e and leaves bases, skeletons and interpolation
coefficients unchanged, exactly in exact arithmetic and to rounding here. Where the true answer
leaves the dtype's range (A⁺ of a subnormal matrix, float32 singular values above 3.4e38) the
function must say so, not return inf or NaN.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rankwise
from rankwise._checks import InputError
from rankwise.random import low_rank_matrix

SCALES = {  # name: exponent e of the scale 2^e
    "subnormal": -1040,  # entries ~1e-314: squares and 1/σ flush or overflow
    "tiny": -600,
    "1e153": 510,  # squares near 1e306: ‖A‖_F² overflows
    "1e301": 1000,  # entries near overflow
}


def _case(m: int = 40, n: int = 30, rate: float = 0.8, seed: int = 0) -> np.ndarray:
    A, _ = low_rank_matrix(m, n, rate ** np.arange(min(m, n)), rng=seed)
    return A


def _scaled(A: np.ndarray, e: int) -> np.ndarray:
    out = A.copy()
    for f in rankwise._numerics.pow2_factors(e, "float64"):
        out = out * f
    return out


def _back(x: np.ndarray, e: int) -> np.ndarray:
    return _scaled(np.asarray(x, dtype=np.float64), -e)


def _close(actual: np.ndarray, e: int, desired: np.ndarray, rtol: float) -> None:
    """``actual`` (a result for 2^e A, in A's units) scaled back equals ``desired`` (A0's), allowing for the
    spacing of subnormal outputs (2^-1074, i.e. 2^(-1074 - e) at unit scale)."""
    np.testing.assert_allclose(_back(actual, e), desired, rtol=rtol, atol=4 * 2.0 ** (-1074 - e) if e < -1000 else 0.0)


def _rel(e: int, rel: float) -> float:
    """``rel`` for outputs that are normal numbers; 1e-9 for subnormal ones (about 33 bits left)."""
    return rel if e > -1000 else max(rel, 1e-9)


def _pair(e: int, **kw: float) -> tuple[np.ndarray, np.ndarray]:
    """(A0, A = 2^e A0) with A0 the unit-scale matrix A represents exactly (a subnormal A keeps fewer bits)."""
    A = _scaled(_case(**kw), e)  # type: ignore[arg-type]
    return _back(A, e), A


# --------------------------------------------------------------------------- extreme magnitudes


@pytest.mark.parametrize("e", SCALES.values(), ids=SCALES.keys())
def test_svd_and_its_report_at_extreme_magnitudes(e: int) -> None:
    A0, A = _pair(e)
    (_, S0, _), rep0 = rankwise.svd(A0, 3, report=True)
    (_, S, _), rep = rankwise.svd(A, 3, report=True)
    _close(S, e, S0, 1e-12)
    assert rep.rel_fro_error == pytest.approx(rep0.rel_fro_error, rel=_rel(e, 1e-12))
    assert rep.fro_error == pytest.approx(float(_scaled(np.array(rep0.fro_error), e)), rel=_rel(e, 1e-12))
    _, rep_tol = rankwise.svd(A, tol=0.1, report=True)
    assert rep_tol.rank == rankwise.svd(A0, tol=0.1, report=True)[1].rank


@pytest.mark.parametrize("e", SCALES.values(), ids=SCALES.keys())
@pytest.mark.parametrize("report", [False, True])
def test_rsvd_at_a_rank_at_extreme_magnitudes(e: int, report: bool) -> None:
    A0, A = _pair(e)
    S0 = rankwise.rsvd(A0, 3, rng=0).S
    out = rankwise.rsvd(A, 3, rng=0, report=report)
    res = out[0] if report else out
    _close(res.S, e, S0, 1e-10)
    if report:
        rep0 = rankwise.rsvd(A0, 3, rng=0, report=True)[1]
        assert out[1].rel_fro_error == pytest.approx(rep0.rel_fro_error, rel=_rel(e, 1e-8))


@pytest.mark.parametrize("e", SCALES.values(), ids=SCALES.keys())
@pytest.mark.parametrize("method", ["krylov", "subspace"])
def test_rsvd_to_a_tolerance_at_extreme_magnitudes(e: int, method: str) -> None:
    A0, A = _pair(e)
    (_, S0, _), rep0 = rankwise.rsvd(A0, tol=1e-2, method=method, rng=0, report=True)
    (_, S, _), rep = rankwise.rsvd(A, tol=1e-2, method=method, rng=0, report=True)
    assert rep.rank == rep0.rank
    _close(S, e, S0, 1e-10)
    assert rep.rel_fro_error == pytest.approx(rep0.rel_fro_error, rel=_rel(e, 1e-6))


@pytest.mark.parametrize("e", SCALES.values(), ids=SCALES.keys())
def test_range_finder_at_extreme_magnitudes(e: int) -> None:
    A0, A = _pair(e)
    Q0 = rankwise.range_finder(A0, 5, rng=0)
    Q = rankwise.range_finder(A, 5, rng=0)
    assert Q.shape == Q0.shape == (40, 5)
    np.testing.assert_allclose(Q @ Q.T, Q0 @ Q0.T, atol=1e-10)


@pytest.mark.parametrize("e", SCALES.values(), ids=SCALES.keys())
def test_pinv_and_lstsq_at_extreme_magnitudes(e: int) -> None:
    A0, A = _pair(e, rate=0.9)
    P0 = np.linalg.pinv(A0)
    if e > -1000:
        np.testing.assert_allclose(_scaled(rankwise.pinv(A), e), P0, rtol=1e-9, atol=1e-9 * np.abs(P0).max())
    else:  # A⁺ ~ 1e313 is not a float64: say so, never return inf or NaN
        with pytest.raises(InputError, match=r"^pinv: the entries of A⁺ .* exceed float64's range"):
            rankwise.pinv(A)
    b0 = _back(_scaled(A0 @ np.ones(30) + 1e-3 * np.arange(40), e), e)
    X0 = np.linalg.lstsq(A0, b0, rcond=None)[0]
    if e < 1000:  # at 2^1000, ‖AX − B‖² ~ 1e600: see the next test
        res = rankwise.lstsq(A, _scaled(b0, e))  # A and b scaled alike: the same X
        np.testing.assert_allclose(res.X, X0, rtol=1e-9)
        _close(res.S, e, np.linalg.svd(A0, compute_uv=False), 1e-12)
    if e > -1000:  # b at unit scale: X scales by 2^-e (beyond float64 for a subnormal A)
        _close(rankwise.lstsq(A, b0).X, -e, X0, 1e-9)


def test_lstsq_residual_beyond_float64_is_a_clear_error() -> None:
    A0 = _case(rate=0.9)
    b0 = np.arange(40.0)  # inconsistent: ‖Ax − b‖² ~ 1e602 at 2^1000
    with pytest.raises(InputError, match=r"^lstsq: the squared residual norms .* scale 'A' and 'B' alike"):
        rankwise.lstsq(_scaled(A0, 1000), _scaled(b0, 1000))


@pytest.mark.parametrize("e", SCALES.values(), ids=SCALES.keys())
@pytest.mark.parametrize("target", [{"rank": 4}, {"tol": 0.05}])
@pytest.mark.parametrize("method", ["qr", "randomized"])
def test_interp_decomp_at_extreme_magnitudes(e: int, target: dict, method: str) -> None:
    A0, A = _pair(e)
    r0 = rankwise.interp_decomp(A0, **target, method=method, rng=0)
    r = rankwise.interp_decomp(A, **target, method=method, rng=0)
    np.testing.assert_array_equal(r.idx[: r.rank], r0.idx[: r0.rank])
    np.testing.assert_allclose(r.proj, r0.proj, rtol=1e-9, atol=1e-9)
    assert r.fro_error / r.norm_fro == pytest.approx(r0.fro_error / r0.norm_fro, rel=_rel(e, 1e-8))
    assert r.norm_fro == pytest.approx(float(_scaled(np.array(r0.norm_fro), e)), rel=_rel(e, 1e-12))


@pytest.mark.parametrize("e", SCALES.values(), ids=SCALES.keys())
def test_cur_at_extreme_magnitudes(e: int) -> None:
    A0, A = _pair(e)
    r0 = rankwise.cur(A0, 4, rng=0)
    if e < -1000:  # U ~ 1/σ(A[I, J]) ~ 1e313 cannot be held: say so
        with pytest.raises(InputError, match=r"^cur: the entries of the core U .* exceed float64's range"):
            rankwise.cur(A, 4, rng=0)
        return
    r = rankwise.cur(A, 4, rng=0)
    np.testing.assert_array_equal(r.col_idx, r0.col_idx)
    np.testing.assert_array_equal(r.row_idx, r0.row_idx)
    np.testing.assert_array_equal(r.C, A[:, r0.col_idx])  # A's own columns, bit for bit
    np.testing.assert_allclose(_scaled(r.U, e), r0.U, rtol=1e-9)
    assert r.report.rel_fro_error == pytest.approx(r0.report.rel_fro_error, rel=1e-8)


@pytest.mark.parametrize("e", SCALES.values(), ids=SCALES.keys())
@pytest.mark.parametrize("method", ["svd", "rsvd", "auto", "id", "cur"])
def test_approximate_report_at_extreme_magnitudes(e: int, method: str) -> None:
    if method == "cur" and e < -1000:
        pytest.skip("the CUR core of a subnormal matrix is not a float64 (see test_cur_at_extreme_magnitudes)")
    A0, A = _pair(e)
    rep0 = rankwise.approximate(A0, method=method, rank=4, rng=0).report
    rep = rankwise.approximate(A, method=method, rank=4, rng=0).report
    assert math.isfinite(rep.fro_error) and rep.norm_fro > 0
    assert rep.rel_fro_error == pytest.approx(rep0.rel_fro_error, rel=_rel(e, 1e-8))


def test_float32_near_its_largest_value() -> None:
    A0 = _case()
    A = (A0 * (3e38 / np.abs(A0).max())).astype(np.float32)
    for call in (lambda: rankwise.svd(A, 3), lambda: rankwise.rsvd(A, 3, rng=0)):
        with pytest.raises(InputError, match=r"singular values of 'A' exceed float32's range .* float64"):
            call()
    S64 = rankwise.svd(A.astype(np.float64), 3).S  # the advice works
    np.testing.assert_allclose(S64 / S64[0], rankwise.svd(A0, 3).S / rankwise.svd(A0, 3).S[0], rtol=1e-5)
    Q = rankwise.range_finder(A, 5, rng=0)
    assert Q.shape == (40, 5) and np.all(np.isfinite(Q))
    assert np.all(np.isfinite(rankwise.pinv(A)))
    big = (A0 * 2.0**100).astype(np.float32)  # 1e30: in range, but AᴴA overflows float32
    np.testing.assert_allclose(rankwise.rsvd(big, 3, rng=0).S / 2.0**100, rankwise.rsvd(A0, 3, rng=0).S, rtol=1e-4)
    np.testing.assert_allclose(rankwise.svd(big, 3).S / 2.0**100, rankwise.svd(A0, 3).S, rtol=1e-5)


def test_torch_and_sparse_at_extreme_magnitudes() -> None:
    import scipy.sparse

    torch = pytest.importorskip("torch")
    A0 = _case()
    S0 = rankwise.rsvd(A0, 3, rng=0).S
    for e in (-1040, 1000):
        A0, A = _pair(e)
        S0 = rankwise.rsvd(A0, 3, rng=0).S
        S = rankwise.rsvd(torch.from_numpy(A), 3, rng=0).S
        assert isinstance(S, torch.Tensor)
        _close(S.numpy(), e, S0, 1e-8)
        rep = rankwise.rsvd(scipy.sparse.csr_matrix(A), 3, rng=0, report=True)[1]
        assert rep.rel_fro_error == pytest.approx(rankwise.rsvd(A0, 3, rng=0, report=True)[1].rel_fro_error, rel=1e-8)


@settings(max_examples=25, deadline=None)
@given(e=st.integers(min_value=-1060, max_value=1010), seed=st.integers(0, 2**16),
       shape=st.tuples(st.integers(1, 12), st.integers(1, 12)))
def test_magnitudes_never_give_silent_nonsense(e: int, seed: int, shape: tuple[int, int]) -> None:
    """Property: for entries ~2^e anywhere from subnormal (1e-319) to 1e304, every entry point returns a
    finite result that matches the unit-scale one, or raises InputError saying what does not fit."""
    m, n = shape
    A = _scaled(np.random.default_rng(seed).standard_normal((m, n)), e)
    A0 = _back(A, e)
    k = min(m, n)
    S0 = np.linalg.svd(A0, compute_uv=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid warnings on the way
        _close(rankwise.svd(A).S, e, S0, 1e-9)
        _close(rankwise.rsvd(A, k, rng=seed).S, e, S0, 1e-7)
        rep = rankwise.approximate(A, rank=1).report
        assert math.isfinite(rep.fro_error) and math.isfinite(rep.norm_fro)
        r = rankwise.interp_decomp(A, 1, rng=seed)
        assert np.all(np.isfinite(r.proj))
        try:
            P = rankwise.pinv(A)
        except InputError as exc:
            assert "exceed float64's range" in str(exc)
        else:
            assert np.all(np.isfinite(P))


# --------------------------------------------------------------------------- tolerances: met, or said not to be

TOL_MODES = {
    "svd": lambda A, tol, seed: rankwise.svd(A, tol=tol, report=True),
    "rsvd": lambda A, tol, seed: rankwise.rsvd(A, tol=tol, rng=seed, report=True),
    "rsvd-subspace": lambda A, tol, seed: rankwise.rsvd(A, tol=tol, method="subspace", rng=seed, report=True),
    "id-qr": lambda A, tol, seed: rankwise.interp_decomp(A, tol=tol, method="qr", rng=seed),
    "id-randomized": lambda A, tol, seed: rankwise.interp_decomp(A, tol=tol, method="randomized", rng=seed),
    "cur-id": lambda A, tol, seed: rankwise.cur(A, tol=tol, rng=seed),
    "cur-leverage": lambda A, tol, seed: rankwise.cur(A, tol=tol, select="leverage", rng=seed),
    "approximate-auto": lambda A, tol, seed: rankwise.approximate(A, method="auto", tol=tol, rng=seed),
    "approximate-id": lambda A, tol, seed: rankwise.approximate(A, method="id", tol=tol, rng=seed),
    "approximate-cur": lambda A, tol, seed: rankwise.approximate(A, method="cur", tol=tol, rng=seed),
}


def _achieved(A: np.ndarray, out: object) -> tuple[float, bool | None]:
    """(‖A − Â‖_F / ‖A‖_F measured on the factors, the result's own met_tol)."""
    if isinstance(out, rankwise.IDResult):
        return float(np.linalg.norm(A - out.reconstruct(A)) / np.linalg.norm(A)), out.met_tol
    if isinstance(out, rankwise.CURResult):
        return float(np.linalg.norm(A - out.reconstruct()) / np.linalg.norm(A)), out.met_tol
    if isinstance(out, rankwise.Approximation):
        f = out.factors
        rec = f.reconstruct(A) if isinstance(f, rankwise.IDResult) else f.reconstruct() \
            if isinstance(f, rankwise.CURResult) else (f.U * f.S) @ f.Vh
        return float(np.linalg.norm(A - rec) / np.linalg.norm(A)), out.report.met_tol
    (U, S, Vh), rep = out  # type: ignore[misc]
    return float(np.linalg.norm(A - (U * S) @ Vh) / np.linalg.norm(A)), rep.met_tol


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), m=st.integers(8, 50), n=st.integers(8, 50),
       spectrum=st.sampled_from(["exp0.9", "exp0.6", "poly", "flat-tail", "cliff"]),
       tol=st.sampled_from([0.3, 0.1, 0.03, 1e-2, 1e-3, 1e-5]))
def test_every_tolerance_mode_meets_it_or_says_it_did_not(seed: int, m: int, n: int, spectrum: str,
                                                          tol: float) -> None:
    """Property: for every mode that takes ``tol``, the error measured on the returned factors is at most
    tol·‖A‖_F (to rounding), or the result has met_tol=False and a ToleranceWarning was emitted."""
    from rankwise._checks import ToleranceWarning

    r = min(m, n)
    i = np.arange(r, dtype=np.float64)
    s = {"exp0.9": 0.9**i, "exp0.6": 0.6**i, "poly": 1 / (i + 1), "flat-tail": np.where(i < r // 3, 1.0, 0.01),
         "cliff": np.where(i < r // 2, 1.0, 1e-9)}[spectrum]
    A, _ = low_rank_matrix(m, n, s, rng=seed)
    for name, call in TOL_MODES.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ToleranceWarning)
            out = call(A, tol, seed)
        err, met = _achieved(A, out)
        warned = any(issubclass(w.category, ToleranceWarning) for w in caught)
        assert met is not None, name
        if met:
            assert err <= tol * (1 + 1e-6) and not warned, (name, err, tol)
        else:
            assert warned and err > tol * (1 - 1e-6), (name, err, tol)


# --------------------------------------------------------------------------- every entry point, drawn from the edges

EDGE_DTYPES = ["float16", "float32", "float64", "complex64", "complex128", "int64", "bool"]


@settings(max_examples=40, deadline=None)
@given(m=st.integers(0, 6), n=st.integers(0, 6), dtype=st.sampled_from(EDGE_DTYPES),
       content=st.sampled_from(["random", "zero", "rank1", "nan", "inf", "huge", "subnormal"]),
       seed=st.integers(0, 2**16), data=st.data())
def test_every_entry_point_is_correct_or_says_why(m: int, n: int, dtype: str, content: str, seed: int,
                                                  data: st.DataObject) -> None:
    """Property over the conformance table: a finite result of the computing dtype whose SVD-type factors
    reproduce A at full rank, or a ValueError/TypeError that starts with the function's name. Never a
    NaN, an inf, a crash inside NumPy or a warning."""
    from tests.test_public_functions import TABLE

    gen = np.random.default_rng(seed)
    A = gen.standard_normal((m, n))
    if content == "zero":
        A[:] = 0
    elif content == "rank1" and A.size:
        A = np.outer(A[:, 0], A[0, :])
    elif content in ("nan", "inf") and A.size:
        A[gen.integers(m), gen.integers(n)] = np.nan if content == "nan" else np.inf
    elif content in ("huge", "subnormal"):
        A = _scaled(A, 1000 if content == "huge" else -1040)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 1j·inf, and 1e301 cast to float32, by design
        if dtype.startswith("complex"):
            A = A + 1j * A[::-1]
        A = A.astype(dtype)
    entry = data.draw(st.sampled_from(TABLE), label="entry")
    compute = {"float16": np.float32, "int64": np.float64, "bool": np.float64}.get(dtype, np.dtype(dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = entry.call(A, rank=min(m, n)) if entry.takes_rank else entry.call(A)
        except (ValueError, TypeError) as exc:
            assert str(exc).startswith(f"{entry.name}: "), exc
            bad = not A.size or (min(m, n) < 2 and not entry.takes_rank) or content in ("nan", "inf")
            bad = bad or content in ("huge", "subnormal") or np.dtype(dtype).itemsize <= 4
            bad = bad or (entry.real_only and dtype.startswith("complex"))
            assert bad or "'rank'" in str(exc) or "'size'" in str(exc), exc
            return
    for arr in entry.outputs(out):
        assert np.all(np.isfinite(arr)), entry.name
        assert arr.dtype in (np.dtype(compute), np.finfo(compute).dtype), (entry.name, arr.dtype)
    if entry.name in ("svd", "rsvd") and content not in ("huge", "subnormal") and A.size:
        U, S, Vh = entry.outputs(out)
        scale = max(1.0, float(np.abs(A.astype(compute)).max()))
        tol = 1e-3 if np.finfo(compute).bits <= 32 else 1e-10
        np.testing.assert_allclose((U * S) @ Vh, A.astype(compute), atol=tol * scale * 10)
