"""check_grad on the identities of SPEC §3: each right gradient passes, each wrong one is flagged."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rankwise.calculus import GradCheck, check_grad

Case = tuple[str, Callable[[np.ndarray], float], Callable[[np.ndarray], np.ndarray],
             Callable[[np.ndarray], np.ndarray], np.ndarray]


def _cases() -> list[Case]:
    """(name, f, right gradient, wrong gradient, point) for every differential of SPEC §3."""
    g = np.random.default_rng(7)
    A, B, C = g.standard_normal((3, 4)), g.standard_normal((5, 3)), g.standard_normal((3, 3))
    X45 = g.standard_normal((4, 5))
    X = 3 * np.eye(4) + 0.5 * g.standard_normal((4, 4))
    Cx = g.standard_normal((4, 4))
    M = g.standard_normal((5, 5))
    x = g.standard_normal(5)
    D, y = g.standard_normal((20, 5)), g.standard_normal(20)
    N = D.shape[0]
    inv = np.linalg.inv
    return [
        ("d(AXB)", lambda X: np.sum(C * (A @ X @ B)), lambda X: A.T @ C @ B.T, lambda X: A.T @ C.T @ B.T, X45),
        ("d det X", np.linalg.det, lambda X: np.linalg.det(X) * inv(X).T, lambda X: np.linalg.det(X) * inv(X), X),
        ("d X^-1", lambda X: np.sum(Cx * inv(X)), lambda X: -inv(X).T @ Cx @ inv(X).T,
         lambda X: -inv(X) @ Cx @ inv(X), X),
        ("d<Ax, x>", lambda x: x @ M @ x, lambda x: (M + M.T) @ x, lambda x: 2 * M @ x, x),
        ("linear regression", lambda w: np.sum((D @ w - y) ** 2) / N, lambda w: 2 / N * D.T @ (D @ w - y),
         lambda w: 1 / N * D.T @ (D @ w - y), x),
        ("||A||_F^2 = sum sigma^2", lambda X: float(np.sum(np.linalg.svd(X, compute_uv=False) ** 2)),
         lambda X: 2 * X, lambda X: X, X45),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_right_gradient_passes_wrong_is_flagged(case: Case) -> None:
    _, f, right, wrong, X = case
    good = check_grad(f, right, X, rng=0)
    assert good.passed, str(good)
    assert good.best_error < 1e-7
    assert all(o == math.inf or abs(o - 2) < 0.3 for o in good.orders), good.orders
    bad = check_grad(f, wrong, X, rng=0)
    assert not bad.passed and bad.best_error > 1e-3
    assert all(abs(o - 1) < 0.3 for o in bad.orders), bad.orders


def test_trace_is_cyclic() -> None:
    g = np.random.default_rng(8)
    A, B, C, D = (g.standard_normal(s) for s in ((3, 4), (4, 5), (5, 6), (6, 3)))
    A2, B2, C2, D2 = (g.standard_normal((4, 4)) for _ in range(4))
    forms = [np.trace(A @ B @ C @ D), np.trace(D @ A @ B @ C), np.trace(C @ D @ A @ B), np.trace(B @ C @ D @ A)]
    np.testing.assert_allclose(forms, forms[0], rtol=1e-12)
    # ∇_B tr(ABCD), read off the cyclic form tr(B·CDA) = ⟨(CDA)ᵀ, B⟩
    report = check_grad(lambda B: np.trace(A @ B @ C @ D), lambda B: (C @ D @ A).T, B, rng=1)
    assert report.passed and report.order == math.inf  # linear in B: the remainder is rounding
    with pytest.raises(ValueError, match=r"'grad\(X\)' must have X's shape \(4, 5\); got \(5, 4\)"):
        check_grad(lambda B: np.trace(A @ B @ C @ D), lambda B: C @ D @ A, B, rng=1)
    assert not check_grad(lambda B: np.trace(A2 @ B @ C2 @ D2), lambda B: C2 @ D2 @ A2, B2, rng=1).passed
    assert check_grad(lambda B: np.trace(A2 @ B @ C2 @ D2), lambda B: (C2 @ D2 @ A2).T, B2, rng=1).passed


def test_frobenius_norm_is_the_sum_of_squared_singular_values() -> None:
    A = np.random.default_rng(9).standard_normal((7, 4))
    s = np.linalg.svd(A, compute_uv=False)
    assert np.linalg.norm(A, "fro") ** 2 == pytest.approx(np.sum(s**2), rel=1e-13)
    assert check_grad(lambda A: np.linalg.norm(A) ** 2, lambda A: 2 * A, A, rng=2).passed


def test_sum_of_leverage_scores_is_n() -> None:
    """Σ_i ⟨S⁻¹a_i, a_i⟩ = n for S = Σ_i a_i a_iᵀ (a_i the columns of A, n rows): f is constant, ∇f = 0."""
    A = np.random.default_rng(10).standard_normal((4, 9))

    def f(A: np.ndarray) -> float:
        S = A @ A.T
        return float(sum(np.linalg.solve(S, a) @ a for a in A.T))

    assert f(A) == pytest.approx(4.0, rel=1e-12)
    report = check_grad(f, np.zeros_like, A, rng=3)
    assert report.passed and report.order == math.inf and report.best_error < 1e-12
    assert not check_grad(f, lambda A: A, A, rng=3).passed  # a non-zero "gradient" of a constant


def test_torch_float64_and_float32_with_autograd() -> None:
    torch = pytest.importorskip("torch")

    def f(X: Any) -> Any:
        return torch.logdet(X) + (X * X).sum()

    def autograd(X: Any) -> Any:
        Xr = X.detach().clone().requires_grad_(True)
        f(Xr).backward()
        return Xr.grad

    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float64, torch.float32):
        X = (3 * torch.eye(5) + 0.3 * torch.randn(5, 5, generator=g)).to(dtype)
        good = check_grad(f, autograd, X, rng=4)
        assert good.passed, str(good)
        assert good.rtol == pytest.approx(10 * math.sqrt(torch.finfo(dtype).eps))
        bad = check_grad(f, lambda X: torch.linalg.inv(X) + 2 * X, X, rng=4)  # inverse without the transpose
        assert not bad.passed


def test_report_is_frozen_reproducible_and_printable() -> None:
    M = np.arange(9.0).reshape(3, 3)
    x = np.array([1.0, -1.0, 2.0])
    a = check_grad(lambda x: x @ M @ x, lambda x: (M + M.T) @ x, x, rng=5, directions=3)
    b = check_grad(lambda x: x @ M @ x, lambda x: (M + M.T) @ x, x, rng=5, directions=3)
    assert a == b and len(a.directional) == len(a.orders) == 3 and len(a.steps) == len(a.rel_errors) == 8
    assert a.value == pytest.approx(x @ M @ x)
    assert a.steps[0] == pytest.approx(np.linalg.norm(x) / 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.passed = False  # type: ignore[misc]
    assert str(a).startswith("gradient check PASSED") and "FAILED" in str(check_grad(lambda x: x @ M @ x,
                                                                                   lambda x: M @ x, x, rng=5))
    with pytest.raises(ValueError, match="one relative error per step"):
        GradCheck(0.0, (1.0,), (0.1, 0.01), (1e-9,), (2.0,), 1e-7, True)


def test_precomputed_gradient_array_and_rtol() -> None:
    x = np.array([0.3, -0.2])
    assert check_grad(lambda x: float(np.sum(np.exp(x))), np.exp(x), x, rng=6).passed
    tight = check_grad(lambda x: float(np.sum(np.exp(x))), np.exp(x), x, rtol=1e-18, rng=6)
    assert not tight.passed and tight.rtol == 1e-18  # the tolerance matters


@pytest.mark.parametrize(("kwargs", "exc", "msg"), [
    ({"f": 3}, TypeError, r"^check_grad: 'f' must be callable; got 3"),
    ({"X": np.ones((2, 2, 2))}, ValueError, r"^check_grad: 'X' must be a 1-D or 2-D array; got a 3-D"),
    ({"X": np.array([1.0, np.nan])}, ValueError, r"^check_grad: 'X' must contain only finite values; got 1 NaN"),
    ({"X": np.ones(2, dtype=complex)}, TypeError, r"^check_grad: 'X' must be real; got dtype complex128"),
    ({"grad": lambda x: np.ones(3)}, ValueError, r"^check_grad: 'grad\(X\)' must have X's shape \(2,\); got \(3,\)"),
    ({"grad": lambda x: np.ones((2, 1))}, ValueError, r"^check_grad: 'grad\(X\)' must be a 1-D array; got a 2-D"),
    ({"directions": 0}, ValueError, r"^check_grad: 'directions' must be an int in \[1, 100\]; got 0"),
    ({"rtol": 0.0}, ValueError, r"^check_grad: 'rtol' must be a number in \(0, 1\]; got 0.0"),
    ({"f": lambda x: x}, TypeError, r"^check_grad: 'f' must return a real scalar; got numpy array of shape \(2,\)"),
    ({"f": lambda x: np.log(x[0] - 5)}, ValueError, r"^check_grad: 'f' must be finite at X; got f\(X\) = nan"),
    ({"rng": -1}, ValueError, r"^check_grad: 'rng' must be None, a non-negative int seed"),
])
def test_validation(kwargs: dict[str, Any], exc: type, msg: str) -> None:
    args: dict[str, Any] = {"f": lambda x: float(x @ x), "grad": lambda x: 2 * x, "X": np.array([1.0, 2.0]), "rng": 0}
    args.update(kwargs)
    with np.errstate(invalid="ignore"), pytest.raises(exc, match=msg):
        check_grad(args.pop("f"), args.pop("grad"), args.pop("X"), **args)
