"""The optimiser driver refuses what it used to drop, broadcast or fall back from silently."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rankwise import optim
from rankwise.optim import _tree

X0 = {"w": np.ones(3), "b": np.zeros(1)}


def loss(p: dict[str, np.ndarray]) -> float:
    return float(np.sum((p["w"] - 2.0) ** 2) + np.sum(p["b"] ** 2))


def test_a_gradient_without_an_entry_for_a_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^minimize: 'grad' returned no entry for parameter 'b'; expected one "
                                         r"array per parameter$"):
        optim.minimize(loss, X0, grad=lambda p: {"w": 2 * (p["w"] - 2.0)}, lr=0.1, max_iter=5)


def test_a_gradient_with_an_extra_entry_or_a_wrong_shape_is_refused() -> None:
    extra = {"w": np.zeros(3), "b": np.zeros(1), "c": np.zeros(2)}
    with pytest.raises(ValueError, match=r"^minimize: 'grad' returned an entry 'c' that is not a parameter"):
        optim.minimize(loss, X0, grad=lambda p: extra, lr=0.1, max_iter=5)
    # (3, 1) against (3,) would broadcast w to (3, 3)
    with pytest.raises(ValueError, match=r"^minimize: 'grad' returned an array of shape \(3, 1\) for parameter 'w'; "
                                         r"expected shape \(3,\)$"):
        optim.minimize(loss, X0, grad=lambda p: {"w": np.ones((3, 1)), "b": np.zeros(1)}, lr=0.1, max_iter=5)
    with pytest.raises(ValueError, match=r"^minimize: 'grad' returned an array of shape \(1,\) for parameter x; "
                                         r"expected shape \(4,\)$"):
        optim.minimize(lambda x: float(x @ x), np.ones(4), grad=lambda x: np.ones(1), lr=0.1, max_iter=5)
    nested = {"layer": {"w": np.ones(2)}}
    with pytest.raises(ValueError, match=r"no entry for parameter 'layer'/'w'"):
        optim.minimize(lambda p: 0.0, nested, grad=lambda p: {"layer": {}}, lr=0.1, max_iter=5)


def test_a_correct_tree_gradient_still_converges() -> None:
    res = optim.minimize(loss, X0, grad=lambda p: {"w": 2 * (p["w"] - 2.0), "b": 2 * p["b"]}, lr=0.25,
                         stop=optim.Stop(gtol=1e-10), max_iter=200)
    assert res.success and np.allclose(res.x["w"], 2.0) and res.x["w"].shape == (3,)


def test_transforms_refuse_trees_whose_keys_differ() -> None:
    tx = optim.adam(0.1)
    state = tx.init(X0)
    with pytest.raises(ValueError, match=r"^optim: parameter trees must have the same keys; got \{'w'\} and "
                                         r"\{'w', 'b'\}"):
        tx.update({"w": np.ones(3)}, state, X0)
    with pytest.raises(ValueError, match=r"same structure; got a list of 1 and a list of 2"):
        _tree.tree_map(lambda a, b: a + b, [np.ones(2)], [np.ones(2), np.ones(2)])


def _problem(n: int = 50) -> optim.LinearRegression:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3))
    return optim.LinearRegression(X, X @ np.ones(3))


def test_a_batch_larger_than_the_data_is_refused() -> None:
    p = _problem(50)
    with pytest.raises(ValueError, match=r"^minimize: 'batch' must be at most the number of samples N = 50; got 64 "
                                         r"\(batch = N is the full gradient\)$"):
        optim.minimize(p, np.zeros(3), method="minibatch", batch=64, rng=0)
    full = optim.minimize(p, np.zeros(3), method="minibatch", batch=50, max_iter=3, rng=0)
    assert full.options["batch"] == "full"
    small = optim.minimize(_problem(20), np.zeros(3), method="minibatch", max_iter=3, rng=0)  # default 32 > 20
    assert small.options["batch"] == "full"


def test_newton_refuses_a_hessian_or_product_of_the_wrong_shape() -> None:
    def f(x: np.ndarray) -> float:
        return float(x @ x)

    def g(x: np.ndarray) -> np.ndarray:
        return 2 * x

    with pytest.raises(ValueError, match=r"^minimize: 'hessian' must return an array of shape \(d, d\) = \(3, 3\) "
                                         r"for x of shape \(3,\); got numpy array of shape \(4, 4\)"):
        optim.minimize(f, np.ones(3), grad=g, method="newton", hessian=lambda x: 2 * np.eye(4))
    with pytest.raises(ValueError, match=r"^minimize: 'hessian' must return .* got numpy array of shape \(3,\)"):
        optim.minimize(f, np.ones(3), grad=g, method="newton", hessian=lambda x: 2 * np.ones(3))
    with pytest.raises(ValueError, match=r"^minimize: 'hvp' must return an array of the vector's shape \(3,\)"):
        optim.minimize(f, np.ones(3), grad=g, method="newton", hvp=lambda x, v: np.ones(2))
    ok = optim.minimize(f, np.ones(3), grad=g, method="newton", hessian=lambda x: 2 * np.eye(3),
                        stop=optim.Stop(gtol=1e-12))
    assert ok.success and ok.iterations == 1


def _linear_data() -> Any:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(200)
    from rankwise.optim.regression import design_matrix, regression_problem

    d = design_matrix({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}, "y")
    return regression_problem("linear", d.X, d.y)


@pytest.mark.parametrize("method", ["adam", "adamw", "rmsprop"])
def test_fit_of_an_unconverged_adaptive_run_is_undetermined(method: str) -> None:
    from rankwise.optim.regression import fit_regression

    fit = fit_regression(_linear_data(), method, rng=0)  # lr 1e-3, 1000 steps: the error only halves
    assert fit.run is not None and fit.run.status is optim.Status.MAX_ITER
    assert fit.rate is not None and fit.rate.kind == "undetermined", fit.rate
    assert "too little progress" in fit.rate.summary


@pytest.mark.parametrize("method", ["gd", "momentum", "nesterov"])
def test_fit_of_a_converged_run_is_linear(method: str) -> None:
    from rankwise.optim.regression import fit_regression

    fit = fit_regression(_linear_data(), method, rng=0)
    assert fit.rate is not None and fit.rate.kind == "linear", fit.rate


def test_fit_of_a_diverged_run_has_no_rate() -> None:
    from rankwise.optim.regression import fit_regression

    fit = fit_regression(_linear_data(), "gd", lr=5.0, max_iter=2000)
    assert fit.run is not None and fit.run.status is optim.Status.DIVERGED and fit.rate is None
