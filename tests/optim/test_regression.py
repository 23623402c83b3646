"""rankwise.optim.regression against scikit-learn and numpy's least squares."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.metrics import accuracy_score, r2_score, root_mean_squared_error
from sklearn.preprocessing import StandardScaler

from rankwise.optim import LinearRegression, LogisticRegression, Status
from rankwise.optim.regression import (
    Design,
    FitMetrics,
    design_matrix,
    fit_metrics,
    fit_regression,
    regression_metrics,
    regression_problem,
    standardize,
)


def _columns(rng: np.random.Generator, n: int = 120) -> dict[str, np.ndarray]:
    X = rng.standard_normal((n, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]
    y = X @ [1.5, -0.2, 4.0] + 0.3 + 0.05 * rng.standard_normal(n)
    label = (X[:, 0] + 0.5 * rng.standard_normal(n) > 0).astype(float)
    return {"a": X[:, 0], "y": y, "b": X[:, 1], "c": X[:, 2], "label": label}


def test_standardize_equals_sklearn_standard_scaler(rng: np.random.Generator) -> None:
    X = rng.standard_normal((50, 4)) * [1.0, 100.0, 1e-3, 2.0] + 7.0
    np.testing.assert_allclose(standardize(X), StandardScaler().fit_transform(X), rtol=1e-12, atol=1e-12)


def test_standardize_only_centres_a_constant_column() -> None:
    X = np.column_stack([np.full(5, 3.0), np.arange(5.0)])
    Z = standardize(X)
    np.testing.assert_array_equal(Z[:, 0], 0.0)
    assert Z[:, 1].mean() == pytest.approx(0.0, abs=1e-15) and Z[:, 1].std() == pytest.approx(1.0)


def test_design_matrix_orders_features_and_appends_the_intercept(rng: np.random.Generator) -> None:
    cols = _columns(rng)
    d = design_matrix(cols, "y")
    assert isinstance(d, Design) and d.names == ["a", "b", "c", "label", "intercept"]
    assert d.X.shape == (120, 5)
    np.testing.assert_array_equal(d.y, cols["y"])
    np.testing.assert_array_equal(d.X[:, -1], 1.0)
    raw = np.column_stack([cols[c] for c in ("a", "b", "c", "label")])
    np.testing.assert_allclose(d.X[:, :-1], StandardScaler().fit_transform(raw), rtol=1e-12, atol=1e-12)
    plain = design_matrix(cols, "y", standardize=False)
    np.testing.assert_array_equal(plain.X[:, :-1], raw)


def test_design_matrix_errors() -> None:
    with pytest.raises(ValueError, match=r"^design_matrix: 'target' must be one of the columns a, b; got 'z'$"):
        design_matrix({"a": np.ones(3), "b": np.ones(3)}, "z")
    with pytest.raises(ValueError, match=r"^the data has no feature columns besides the target$"):
        design_matrix({"y": np.ones(3)}, "y")


def test_regression_metrics_equal_sklearn(rng: np.random.Generator) -> None:
    y = rng.standard_normal(40)
    y_pred = y + 0.3 * rng.standard_normal(40)
    rmse, r2 = regression_metrics(y, y_pred)
    assert rmse == pytest.approx(root_mean_squared_error(y, y_pred), rel=1e-12)
    assert r2 == pytest.approx(r2_score(y, y_pred), rel=1e-12)
    assert regression_metrics(y, np.full(40, y.mean())).r2 == pytest.approx(0.0, abs=1e-12)
    assert regression_metrics(y, y) == (0.0, 1.0)


def test_r2_of_a_constant_target_is_none() -> None:
    m = regression_metrics(np.full(4, 2.0), np.array([1.0, 2.0, 3.0, 2.0]))
    assert m.r2 is None and m.rmse == pytest.approx(np.sqrt(0.5))


def test_regression_problem_picks_the_model(rng: np.random.Generator) -> None:
    X, y = rng.standard_normal((10, 2)), (rng.standard_normal(10) > 0).astype(float)
    assert isinstance(regression_problem("linear", X, y), LinearRegression)
    p = regression_problem("logistic", X, y, l2=0.5)
    assert isinstance(p, LogisticRegression) and p.l2 == 0.5
    with pytest.raises(ValueError, match="model"):
        regression_problem("poisson", X, y)  # type: ignore[arg-type]


def test_closed_form_equals_numpy_lstsq_and_sklearn_r2(rng: np.random.Generator) -> None:
    d = design_matrix(_columns(rng), "y")
    fit = fit_regression(regression_problem("linear", d.X, d.y), "closed-form")
    w_ref = np.linalg.lstsq(d.X, d.y, rcond=None)[0]
    np.testing.assert_allclose(fit.w, w_ref, rtol=1e-9, atol=1e-12)
    assert fit.run is None and fit.rate is None and fit.sequence is None and fit.w_star is fit.w
    m = fit.metrics
    assert isinstance(m, FitMetrics) and m.rel_error == 0.0 and m.accuracy is None
    assert m.r2 == pytest.approx(r2_score(d.y, d.X @ w_ref), rel=1e-12)
    assert m.rmse == pytest.approx(root_mean_squared_error(d.y, d.X @ w_ref), rel=1e-10)
    assert m.loss == pytest.approx(np.mean((d.X @ w_ref - d.y) ** 2), rel=1e-10)  # L(w) = ‖Xw − y‖²/N
    assert m.grad_norm < 1e-10


def test_gradient_descent_converges_at_the_textbook_rate(rng: np.random.Generator) -> None:
    d = design_matrix(_columns(rng), "y")
    calls: list[int] = []
    fit = fit_regression(regression_problem("linear", d.X, d.y), "gd", max_iter=5000, gtol=1e-10,
                         callback=lambda info: calls.append(info.iteration))
    assert fit.run is not None and fit.run.status is Status.GTOL and calls == list(range(fit.run.iterations))
    assert fit.w_star is not None and fit.metrics.rel_error is not None and fit.metrics.rel_error < 1e-8
    assert fit.sequence is not None and fit.sequence.shape == (fit.run.iterations + 1,)
    np.testing.assert_allclose(fit.sequence[-1], np.linalg.norm(fit.w - fit.w_star), rtol=1e-6, atol=1e-15)
    # step 1/L on a quadratic: ‖w_k − w*‖ contracts by 1 − μ/L, μ and L the extreme eigenvalues of XᵀX
    ev = np.linalg.eigvalsh(d.X.T @ d.X)
    assert fit.rate is not None and fit.rate.kind == "linear"
    assert fit.rate.q == pytest.approx(1 - ev[0] / ev[-1], rel=1e-3)


def test_logistic_fit_equals_sklearn(rng: np.random.Generator) -> None:
    d = design_matrix(_columns(rng), "label")
    l2 = 1e-2
    problem = regression_problem("logistic", d.X, d.y, l2=l2)
    fit = fit_regression(problem, "newton", max_iter=100, gtol=1e-12)
    sk = SkLogistic(C=1 / (len(d.y) * l2), fit_intercept=False, tol=1e-12, max_iter=10_000).fit(d.X, d.y)
    np.testing.assert_allclose(fit.w, sk.coef_[0], rtol=1e-5, atol=1e-7)
    assert fit.w_star is None and fit.metrics.rmse is None and fit.metrics.r2 is None
    assert fit.metrics.accuracy == pytest.approx(accuracy_score(d.y, sk.predict(d.X)))
    assert fit.rate is not None  # of ‖∇L(w_k)‖: Newton is superlinear
    assert fit.sequence is not None and fit.sequence[-1] < 1e-12
    with pytest.raises(ValueError, match="closed-form needs a LinearRegression problem"):
        fit_regression(problem, "closed-form")


def test_fit_metrics_of_arbitrary_weights(rng: np.random.Generator) -> None:
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    p = regression_problem("linear", X, y)
    w = rng.standard_normal(3)
    m = fit_metrics(p, w)
    assert m.rel_error is None
    assert m.r2 == pytest.approx(r2_score(y, X @ w), rel=1e-12)
    assert m.grad_norm == pytest.approx(np.linalg.norm(2 * X.T @ (X @ w - y) / 30), rel=1e-12)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    assert fit_metrics(p, w, w_star).rel_error == pytest.approx(np.linalg.norm(w - w_star) / np.linalg.norm(w_star))


def test_raw_weights_give_the_raw_least_squares_solution() -> None:
    from rankwise.optim.regression import raw_weights

    rng = np.random.default_rng(3)
    F = rng.standard_normal((50, 3)) * [1.0, 100.0, 0.01] + [5.0, -20.0, 0.3]
    F[:, 2] = 7.0  # a constant column is only centred
    y = F @ [2.0, 0.5, 0.0] + 4.0 + 0.1 * rng.standard_normal(50)
    Z = StandardScaler().fit_transform(F)
    w_std = np.linalg.lstsq(np.column_stack([Z, np.ones(50)]), y, rcond=None)[0]
    w_raw = raw_weights(w_std, F)
    np.testing.assert_allclose(np.column_stack([F, np.ones(50)]) @ w_raw, np.column_stack([Z, np.ones(50)]) @ w_std,
                               rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(w_raw[:2], np.linalg.lstsq(np.column_stack([F[:, :2], np.ones(50)]), y,
                                                          rcond=None)[0][:2], rtol=1e-10)
    with pytest.raises(ValueError, match=r"'w' must have shape \(d \+ 1,\) = \(4,\)"):
        raw_weights(w_std[:3], F)
