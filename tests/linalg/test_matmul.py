"""CR approximate matrix products (SPEC §1.4): unbiasedness, the expected-error formula, inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise import cr_expected_error, cr_matmul


def _pair(m: int = 12, n: int = 40, p: int = 9, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Factors whose outer products differ a lot in size (log-normal column / row scales)."""
    g = np.random.default_rng(seed)
    s = np.exp(1.5 * g.standard_normal(n))
    return g.standard_normal((m, n)) * s, s[:, None] * g.standard_normal((n, p))


TRIALS = 4000


def _monte_carlo(A: np.ndarray, B: np.ndarray, c: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """The mean of CR over TRIALS draws and the squared errors ‖AB − CR‖_F² (one generator, fixed seed)."""
    g = np.random.default_rng(123)
    AB = A @ B
    total = np.zeros_like(AB)
    errs = np.empty(TRIALS)
    for t in range(TRIALS):
        CR = cr_matmul(A, B, c, method=method, rng=g)  # type: ignore[arg-type]
        total += CR
        errs[t] = np.linalg.norm(AB - CR) ** 2
    return total / TRIALS, errs


@pytest.mark.parametrize("method", ["optimal", "uniform"])
def test_unbiased_and_expected_error_by_monte_carlo(method: str) -> None:
    A, B = _pair()
    c = 8
    mean, errs = _monte_carlo(A, B, c, method)
    expected = cr_expected_error(A, B, c, method=method)  # type: ignore[arg-type]
    # E‖mean − AB‖_F² = E‖CR − AB‖_F² / TRIALS, so 4 standard errors of the mean:
    assert np.linalg.norm(mean - A @ B) <= 4 * np.sqrt(expected / TRIALS)
    # the sample mean of the squared error within 4 of its standard errors of the closed form
    assert abs(errs.mean() - expected) <= 4 * errs.std(ddof=1) / np.sqrt(TRIALS)


def test_closed_forms() -> None:
    A, B = _pair(seed=1)
    c = 5
    a, b = np.linalg.norm(A, axis=0), np.linalg.norm(B, axis=1)
    ab2 = np.linalg.norm(A @ B) ** 2
    assert cr_expected_error(A, B, c) == pytest.approx(((a * b).sum() ** 2 - ab2) / c, rel=1e-12)
    n = A.shape[1]
    assert cr_expected_error(A, B, c, method="uniform") == pytest.approx((n * np.sum(a**2 * b**2) - ab2) / c,
                                                                         rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 8), n=st.integers(1, 12), p=st.integers(1, 8), c=st.integers(1, 12),
       seed=st.integers(0, 1000))
def test_optimal_never_worse_than_uniform(m: int, n: int, p: int, c: int, seed: int) -> None:
    A, B = _pair(m, n, p, seed)
    c = min(c, n)
    opt, uni = cr_expected_error(A, B, c), cr_expected_error(A, B, c, method="uniform")
    assert opt <= uni * (1 + 1e-9) + 1e-12  # Cauchy–Schwarz: (Σ w_i)² <= n Σ w_i²


def test_optimal_beats_uniform_on_average() -> None:
    A, B = _pair(seed=2)
    AB = A @ B
    g = np.random.default_rng(0)
    errs = {m: np.mean([np.linalg.norm(AB - cr_matmul(A, B, 10, method=m, rng=g)) ** 2 for _ in range(300)])
            for m in ("optimal", "uniform")}
    assert errs["optimal"] < errs["uniform"]


def test_topk_is_deterministic_and_its_error_exact() -> None:
    A, B = _pair(seed=3)
    one, two = cr_matmul(A, B, 6, method="topk", rng=0), cr_matmul(A, B, 6, method="topk", rng=99)
    assert np.array_equal(one, two)
    w = np.linalg.norm(A, axis=0) * np.linalg.norm(B, axis=1)
    top = np.argsort(-w)[:6]
    assert np.allclose(one, A[:, top] @ B[top, :])
    assert cr_expected_error(A, B, 6, method="topk") == pytest.approx(np.linalg.norm(A @ B - one) ** 2, rel=1e-10)
    assert np.allclose(cr_matmul(A, B, A.shape[1], method="topk"), A @ B)
    assert cr_expected_error(A, B, A.shape[1], method="topk") == 0.0


def test_product_norm_through_grams_and_directly() -> None:
    wide = _pair(60, 5, 50, seed=4)  # n(m + p) < mp: Gram matrices
    tall = _pair(3, 80, 2, seed=5)  # the product itself
    for A, B in (wide, tall):
        a, b = np.linalg.norm(A, axis=0), np.linalg.norm(B, axis=1)
        want = ((a * b).sum() ** 2 - np.linalg.norm(A @ B) ** 2) / 2
        assert cr_expected_error(A, B, 2) == pytest.approx(want, rel=1e-10)


def test_zero_products() -> None:
    A = np.zeros((3, 4))
    assert np.array_equal(cr_matmul(A, np.ones((4, 2)), 2, rng=0), np.zeros((3, 2)))
    assert cr_expected_error(A, np.ones((4, 2)), 2) == 0.0


# --------------------------------------------------------------------------- conformance of the two-matrix API


FUNCS = [("cr_matmul", lambda A, B, c, **kw: cr_matmul(A, B, c, rng=0, **kw)),
         ("cr_expected_error", lambda A, B, c, **kw: cr_expected_error(A, B, c, **kw))]
IDS = [f[0] for f in FUNCS]


@pytest.mark.parametrize(("name", "fn"), FUNCS, ids=IDS)
@pytest.mark.parametrize("c", [0, -1, 5])
def test_samples_out_of_range(name: str, fn: Any, c: int) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: 'samples' must be an int in \[1, n\] = \[1, 4\]; got {c} "
                                         r"\(A has shape \(3, 4\) and B has shape \(4, 2\)\)"):
        fn(np.ones((3, 4)), np.ones((4, 2)), c)


@pytest.mark.parametrize(("name", "fn"), FUNCS, ids=IDS)
def test_shape_mismatch_names_both_shapes(name: str, fn: Any) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: 'B' must have as many rows as 'A' has columns .*; got A of "
                                         r"shape \(3, 4\) and B of shape \(5, 2\)"):
        fn(np.ones((3, 4)), np.ones((5, 2)), 2)


@pytest.mark.parametrize(("name", "fn"), FUNCS, ids=IDS)
@pytest.mark.parametrize("which", ["A", "B"])
def test_nonfinite_input(name: str, fn: Any, which: str) -> None:
    A, B = np.ones((3, 4)), np.ones((4, 2))
    (A if which == "A" else B)[1, 1] = np.nan
    with pytest.raises(ValueError, match=rf"^{name}: '{which}' must contain only finite values; got 1 NaN"):
        fn(A, B, 2)


@pytest.mark.parametrize(("name", "fn"), FUNCS, ids=IDS)
@pytest.mark.parametrize(("A", "B", "match"), [
    (np.ones(4), np.ones((4, 2)), "'A' must be a 2-D array"),
    (np.ones((3, 4)), np.ones((4, 2, 1)), "'B' must be a 2-D array"),
    (np.ones((0, 4)), np.ones((4, 2)), "'A' must be non-empty"),
])
def test_bad_shapes(name: str, fn: Any, A: Any, B: Any, match: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: {match}"):
        fn(A, B, 1)


@pytest.mark.parametrize(("name", "fn"), FUNCS, ids=IDS)
def test_bad_method_and_types(name: str, fn: Any) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: unknown method 'best'; valid: optimal, topk, uniform"):
        fn(np.ones((3, 4)), np.ones((4, 2)), 2, method="best")
    with pytest.raises(TypeError, match=rf"^{name}: 'samples' must be an int .*; got 2.0 \(float\)"):
        fn(np.ones((3, 4)), np.ones((4, 2)), 2.0)
    with pytest.raises(TypeError, match="'A' must be a numeric array"):
        fn(np.array([["a"]]), np.ones((1, 2)), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dtype_is_preserved(dtype: Any) -> None:
    A, B = (x.astype(dtype) for x in _pair())
    for method in ("optimal", "uniform", "topk"):
        assert cr_matmul(A, B, 5, method=method, rng=0).dtype == dtype  # type: ignore[arg-type]
    assert cr_matmul(np.ones((3, 4), dtype=int), np.ones((4, 2), dtype=int), 2, rng=0).dtype == np.float64
    assert cr_matmul(np.ones((3, 4), np.float32), np.ones((4, 2)), 2, rng=0).dtype == np.float64  # promoted


def test_torch_and_array_api_strict() -> None:
    torch = pytest.importorskip("torch")
    A, B = _pair()
    out = cr_matmul(torch.from_numpy(A), torch.from_numpy(B), 6, method="topk")
    assert isinstance(out, torch.Tensor) and np.allclose(out.numpy(), cr_matmul(A, B, 6, method="topk"))
    est = cr_matmul(torch.from_numpy(A), torch.from_numpy(B), 6, rng=0)
    assert np.allclose(est.numpy(), cr_matmul(A, B, 6, rng=0))  # the indices are drawn on the host: same draw
    assert cr_expected_error(torch.from_numpy(A), torch.from_numpy(B), 6) == pytest.approx(cr_expected_error(A, B, 6))
    with pytest.raises(TypeError, match="'A' and 'B' must be arrays of the same library"):
        cr_matmul(torch.from_numpy(A), B, 3, rng=0)
    xp = pytest.importorskip("array_api_strict")
    res = cr_matmul(xp.asarray(A), xp.asarray(B), 6, rng=0)
    assert type(res) is type(xp.asarray(A)) and np.allclose(np.asarray(res), cr_matmul(A, B, 6, rng=0))


@pytest.mark.gpu
def test_cuda_stays_on_device() -> None:
    torch = pytest.importorskip("torch")
    A, B = (torch.from_numpy(x).cuda() for x in _pair())
    assert cr_matmul(A, B, 5, rng=0).device == A.device
    assert cr_matmul(A, B, 5, method="topk").device == A.device
