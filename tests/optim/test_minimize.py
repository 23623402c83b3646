"""minimize on problems with known rates (SPEC §2.1), read by rankwise.rates.analyze."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rankwise import optim
from rankwise.rates import analyze

MU, L = 1.0, 100.0
KAPPA = L / MU


@pytest.fixture(scope="module")
def quad() -> optim.Quadratic:
    eig = np.concatenate([[MU, L], np.random.default_rng(1).uniform(MU, L, 18)])
    return optim.Quadratic.with_spectrum(eig, rng=0)


@pytest.mark.parametrize(("lr", "q"), [(2 / (L + MU), (KAPPA - 1) / (KAPPA + 1)), (1 / L, 1 - 1 / KAPPA)],
                         ids=["2/(L+mu)", "1/L"])
def test_gradient_descent_rate_on_a_quadratic(quad: optim.Quadratic, lr: float, q: float) -> None:
    res = optim.minimize(quad, np.zeros(20), lr=lr, max_iter=4500, x_star=quad.x_star)
    rep = analyze(res.history.error)
    assert rep.kind == "linear"
    assert rep.q == pytest.approx(q, rel=0.01)
    assert rep.floor_index is not None  # the run reaches rounding level and the floor is cut


def test_momentum_and_nesterov_reach_the_accelerated_rate(quad: optim.Quadratic) -> None:
    sk = math.sqrt(KAPPA)
    q_acc = (sk - 1) / (sk + 1)
    heavy = optim.momentum(4 / (math.sqrt(L) + math.sqrt(MU)) ** 2, q_acc**2)
    rep_hb = analyze(optim.minimize(quad, np.zeros(20), method=heavy, max_iter=400, x_star=quad.x_star).history.error)
    rep_nag = analyze(optim.minimize(quad, np.zeros(20), method=optim.nesterov(1 / L, q_acc), max_iter=600,
                                     x_star=quad.x_star).history.error)
    assert rep_hb.kind == rep_nag.kind == "linear"
    assert rep_hb.q <= 1.02 * q_acc  # (√κ − 1)/(√κ + 1) = 0.818 (up to the k·q^k factor of a double root)
    assert rep_nag.q <= 1.01 * (1 - 1 / sk)  # Nesterov's bound 1 − 1/√κ = 0.9
    assert rep_hb.q < rep_nag.q < (KAPPA - 1) / (KAPPA + 1)  # both far faster than GD's 0.980


@pytest.fixture(scope="module")
def logistic() -> optim.LogisticRegression:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    w = rng.standard_normal(5)
    y = (rng.uniform(size=200) < 1 / (1 + np.exp(-X @ w))).astype(float)
    return optim.LogisticRegression(X, y, l2=0.1)


def test_newton_converges_quadratically(logistic: optim.LogisticRegression) -> None:
    ref = optim.minimize(logistic, np.zeros(5), method="newton", stop=optim.Stop(gtol=1e-14), max_iter=50)
    assert ref.success and ref.iterations < 10
    res = optim.minimize(logistic, np.zeros(5), method="newton", max_iter=8, x_star=ref.x)
    rep = analyze(res.history.error)
    assert rep.kind == "quadratic" and rep.order == pytest.approx(2.0, abs=0.35)
    hvp_only = optim.minimize(logistic.loss, np.zeros(5), grad=logistic.gradient, hvp=logistic.hvp, method="newton",
                              stop=optim.Stop(gtol=1e-12))
    assert hvp_only.success and np.allclose(hvp_only.x, ref.x, atol=1e-10) and hvp_only.iterations < 12


def test_newton_on_a_singular_quadratic_damps() -> None:
    q = optim.Quadratic(np.diag([2.0, 0.0]), np.array([2.0, 0.0]))
    res = optim.minimize(q, np.array([5.0, 3.0]), method="newton", stop=optim.Stop(gtol=1e-12), max_iter=50)
    assert res.success and res.x[0] == pytest.approx(1.0)


def _regression(n: int = 200, d: int = 5, noise: float = 0.5, seed: int = 0) -> optim.LinearRegression:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return optim.LinearRegression(X, X @ rng.standard_normal(d) + noise * rng.standard_normal(n))


def test_sgd_with_a_one_over_k_step_is_sublinear() -> None:
    p = _regression()
    w_star = p.solution()
    mu, _ = p.smoothness()
    f_star = p.loss(w_star)
    step = optim.inverse_time(4 / mu / 50, decay=1 / 50)  # η_k = 4/(μ(k + 50)): η₀μ/decay > 1 gives O(1/k)
    gaps = np.mean([optim.minimize(p, np.zeros(5), method="sgd", lr=step, max_iter=3000, rng=seed, replace=True
                                   ).history.f - f_star for seed in range(6)], axis=0)
    rep = analyze(gaps[1:])
    assert rep.kind == "sublinear"
    assert rep.power == pytest.approx(1.0, abs=0.3)  # E f(x_k) − f* = O(1/k)


def test_linear_regression_closed_form_is_lstsq() -> None:
    p = _regression()
    np.testing.assert_allclose(p.solution(), np.linalg.lstsq(p.X, p.y, rcond=None)[0], rtol=1e-12)
    np.testing.assert_allclose(p.gradient(p.solution()), 0.0, atol=1e-12)
    wide = optim.LinearRegression(np.random.default_rng(3).standard_normal((4, 6)), np.arange(4.0))
    np.testing.assert_allclose(wide.solution(), np.linalg.pinv(wide.X) @ wide.y, atol=1e-12)  # minimum norm
    assert wide.smoothness()[0] == 0.0


@pytest.mark.parametrize(("method", "batch", "tol"), [("gd", None, 1e-8), ("sgd", None, 1e-6), ("minibatch", 16, 1e-6),
                                                      ("momentum", None, 1e-8), ("nesterov", None, 1e-8)])
def test_gradient_methods_reach_the_closed_form(method: str, batch: int | None, tol: float) -> None:
    p = _regression(noise=0.0)  # consistent data: the stochastic gradients vanish at w*, so SGD converges too
    res = optim.minimize(p, np.zeros(5), method=method, batch=batch, stop=optim.Stop(gtol=1e-10), max_iter=20000, rng=1)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, p.solution(), atol=tol)


def test_noisy_sgd_gets_close_with_epochs() -> None:
    p = _regression()
    res = optim.minimize(p, np.zeros(5), method="minibatch", batch=20, epochs=40,
                         lr=optim.inverse_time(0.05, decay=0.01), rng=0)
    assert res.iterations == 40 * 10 and res.options["sampling"] == "shuffled"
    assert np.linalg.norm(res.x - p.solution()) < 0.05 * np.linalg.norm(p.solution())


def test_minibatch_gradient_noise_scales_as_one_over_b() -> None:
    p = _regression(n=2000, noise=1.0)
    w = np.zeros(5)
    G = p.per_sample_gradients(w)
    np.testing.assert_allclose(G.mean(axis=0), p.gradient(w), rtol=1e-12)
    sigma2 = float(np.mean(np.sum((G - G.mean(axis=0)) ** 2, axis=1)))
    sizes = np.array([1, 4, 16, 64, 256])
    variances = []
    for b in sizes:
        it = optim.batches(p.n_samples, int(b), rng=int(b), replace=True)
        draws = np.array([p.gradient_batch(w, next(it)) for _ in range(3000)])
        variances.append(float(np.mean(np.sum((draws - p.gradient(w)) ** 2, axis=1))))
        assert variances[-1] == pytest.approx(sigma2 / b, rel=0.15), b  # E‖ĝ_b − ∇L‖² = σ²/b
    slope = np.polyfit(np.log(sizes), np.log(variances), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.05)
    it = optim.batches(p.n_samples, 500, rng=0)  # without replacement the variance is smaller by (N − b)/(N − 1)
    shuffled = np.array([p.gradient_batch(w, next(it)) for _ in range(2000)])
    var = float(np.mean(np.sum((shuffled - p.gradient(w)) ** 2, axis=1)))
    assert var == pytest.approx(sigma2 / 500 * 1500 / 1999, rel=0.15)


def test_adam_second_moment_estimates_the_diagonal_hessian(rng: np.random.Generator) -> None:
    h = np.array([0.1, 0.5, 1.0, 3.0, 10.0])
    sigma = 0.3
    tx = optim.scale_by_adam(b1=0.9, b2=0.999)
    x = np.zeros(5)
    state = tx.init(x)
    for _ in range(4000):  # isotropic noise on the parameters at the optimum x* = 0
        g = h * (x + sigma * rng.standard_normal(5))
        _, state = tx.update(g, state)
    v_hat = state.nu / (1 - 0.999**state.step)
    np.testing.assert_allclose(np.sqrt(v_hat) / sigma, h, rtol=0.08)


def test_divergence_keeps_the_history(quad: optim.Quadratic) -> None:
    res = optim.minimize(quad, np.ones(20), lr=3 / L, max_iter=5000)
    assert res.status is optim.Status.DIVERGED and res.status.value.startswith("diverged")
    assert not res.success and res.iterations < 5000
    h = res.history
    assert not (np.isfinite(h.f[-1]) and np.isfinite(h.grad_norm[-1]))  # the bad values are kept
    assert np.all(np.isfinite(h.f[:-1])) and np.all(np.isfinite(h.grad_norm[:-1]))
    assert np.all(np.isfinite(res.x)) and res.f == res.history.f[-2]
    assert analyze(res.history.f[1:]).kind == "diverging"

    def nan_after_three(x: np.ndarray) -> float:
        return float(np.sum(x**2)) if x[0] > 0.5 else math.nan

    res = optim.minimize(nan_after_three, np.ones(2), grad=lambda x: 2 * x, lr=0.1, max_iter=100)
    assert res.status is optim.Status.DIVERGED and res.iterations == 4 and len(res.history.f) == 5
    with pytest.raises(optim.OptimizeError, match=r"^minimize: diverged") as err:
        optim.minimize(nan_after_three, np.ones(2), grad=lambda x: 2 * x, lr=0.1, raise_on_failure=True)
    assert err.value.result.iterations == 4


def test_stopping_rules_and_callback(quad: optim.Quadratic) -> None:
    x0 = np.zeros(20)
    for stop, status in [(optim.Stop(gtol=1e-6), "GTOL"), (optim.Stop(xtol=1e-7), "XTOL"),
                         (optim.Stop(ftol=1e-10), "FTOL"), (optim.Stop(gtol=1e-6, xtol=1e-9, require="all"), "ALL")]:
        res = optim.minimize(quad, x0, lr=1 / L, stop=stop, max_iter=10000)
        assert res.status.name == status and res.success
        h = res.history
        assert {"GTOL": h.grad_norm[-1] < 1e-6, "XTOL": h.step_norm[-1] < 1e-7,
                "FTOL": abs(h.f[-1] - h.f[-2]) < 1e-10,
                "ALL": h.grad_norm[-1] < 1e-6 and h.step_norm[-1] < 1e-9}[status]
    assert optim.minimize(quad, x0, lr=1 / L, stop=optim.Stop(gtol=1e-6, xtol=1e-9, require="all"), max_iter=10000
                          ).iterations > optim.minimize(quad, x0, lr=1 / L, stop=optim.Stop(gtol=1e-6), max_iter=10000
                                                        ).iterations
    seen: list[int] = []
    res = optim.minimize(quad, x0, lr=1 / L, callback=lambda info: seen.append(info.iteration) or info.iteration == 7)
    assert res.status is optim.Status.CALLBACK and res.iterations == 7 and seen == list(range(8))
    res = optim.minimize(quad, x0, lr=1 / L, max_iter=30)
    assert res.status is optim.Status.MAX_ITER and not res.success and res.history.f.size == 31
    assert math.isnan(res.history.step_norm[0]) and res.history.error is None
    res = optim.minimize(quad, x0, lr=1 / L, stop=optim.Stop(max_time=0.0), max_iter=10**6)
    assert res.status is optim.Status.MAX_TIME
    with pytest.raises(ValueError):
        res.history.f[0] = 1.0  # read-only


def test_default_steps_are_recorded(quad: optim.Quadratic) -> None:
    assert optim.minimize(quad, np.zeros(20), max_iter=3).options["lr"] == pytest.approx(1 / L)
    assert optim.minimize(quad, np.zeros(20), method="adam", max_iter=3).options["lr"] == 1e-3
    p = _regression()
    lr_sgd = optim.minimize(p, np.zeros(5), method="sgd", max_iter=3, rng=0).options["lr"]
    assert lr_sgd == pytest.approx(1 / p.sample_smoothness())  # b = 1: the expected smoothness is max_i L_i


def test_plain_functions_and_trees() -> None:
    target = {"a": np.array([1.0, 2.0]), "b": [np.array(3.0)]}

    def f(x: Any) -> float:
        return float(np.sum((x["a"] - target["a"]) ** 2) + (x["b"][0] - 3.0) ** 2)

    def g(x: Any) -> Any:
        return {"a": 2 * (x["a"] - target["a"]), "b": [2 * (x["b"][0] - 3.0)]}

    x0 = {"a": np.zeros(2), "b": [np.array(0.0)]}
    res = optim.minimize(f, x0, grad=g, method="adam", lr=0.1, stop=optim.Stop(gtol=1e-8), max_iter=5000,
                         x_star=target)
    assert res.success and np.allclose(res.x["a"], [1.0, 2.0], atol=1e-6) and float(res.x["b"][0]) == pytest.approx(3.0)
    assert res.history.error is not None and res.history.error[-1] < 1e-5


def test_torch_problem_stays_in_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((50, 3)))
    p = optim.LinearRegression(X, X @ torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64))
    res = optim.minimize(p, torch.zeros(3, dtype=torch.float64), method="minibatch", batch=8, lr=0.05,
                         stop=optim.Stop(gtol=1e-9), max_iter=5000, rng=0)
    assert isinstance(res.x, torch.Tensor) and res.success
    np.testing.assert_allclose(res.x.numpy(), [1.0, -1.0, 2.0], atol=1e-8)
    np.testing.assert_allclose(p.solution().numpy(), [1.0, -1.0, 2.0], atol=1e-10)


def test_batches_cover_every_sample_once_per_epoch() -> None:
    it = optim.batches(10, 3, rng=0)
    epoch = np.concatenate([next(it) for _ in range(4)])
    assert sorted(epoch.tolist()) == list(range(10)) and epoch.tolist() != list(range(10))
    again = np.concatenate([next(optim.batches(10, 3, rng=0)) for _ in range(1)])
    assert again.tolist() == epoch[:3].tolist()  # seeded


def test_bad_input(quad: optim.Quadratic) -> None:
    p = _regression()
    cases: list[tuple[Any, str, type[Exception]]] = [
        (lambda: optim.minimize(quad, np.zeros(3)), r"^minimize: 'x0' must have 20 entries", ValueError),
        (lambda: optim.minimize(quad, np.zeros((20, 1))), r"^minimize: 'x0' must be a 1-D array", ValueError),
        (lambda: optim.minimize(quad, np.full(20, np.nan)), r"^minimize: 'x0' must contain only finite", ValueError),
        (lambda: optim.minimize(quad, np.zeros(20), lr=0.0), r"^minimize: 'lr' must be a number in \(0, inf\]",
         ValueError),
        (lambda: optim.minimize(quad, np.zeros(20), lr=-1.0), r"^minimize: 'lr' must be a number in \(0, inf\]",
         ValueError),
        (lambda: optim.minimize(quad, np.zeros(20), method="bfgs"), r"^minimize: unknown method 'bfgs'; valid: adam",
         ValueError),
        (lambda: optim.minimize(quad, np.zeros(20), method="sgd"), r"^minimize: method 'sgd' needs a problem with "
         r"samples", ValueError),
        (lambda: optim.minimize(p, np.zeros(5), batch=0), r"^minimize: 'batch' must be an int in \[1, inf\); got 0",
         ValueError),
        (lambda: optim.minimize(p, np.zeros(5), method="sgd", epochs=2, max_iter=3), r"^minimize: give at most one",
         ValueError),
        (lambda: optim.minimize(lambda x: 0.0, np.zeros(2)), r"^minimize: 'grad' must be given", ValueError),
        (lambda: optim.minimize(3, np.zeros(2)), r"^minimize: 'fun' must be a callable", TypeError),
        (lambda: optim.minimize(quad, np.zeros(20), stop={"gtol": 1}), r"^minimize: 'stop' must be a Stop", TypeError),
        (lambda: optim.minimize(quad, np.zeros(20), method=optim.sgd(0.1), lr=0.1), r"^minimize: 'lr' must be None",
         ValueError),
        (lambda: optim.minimize(quad, np.zeros(20), x_star=np.zeros(3)), r"^minimize: 'x0' must have 20", ValueError),
        (lambda: optim.Stop(gtol=-1.0), r"^Stop: 'gtol' must be a number in \[0, inf\]; got -1.0", ValueError),
        (lambda: optim.Stop(require="some"), r"^Stop: unknown require 'some'; valid: all, any", ValueError),
        (lambda: optim.LinearRegression(np.zeros((0, 3)), np.zeros(0)), r"^LinearRegression: 'X' must be non-empty",
         ValueError),
        (lambda: optim.LinearRegression(np.ones((4, 3)), np.ones(5)), r"^LinearRegression: 'y' must have one entry per "
         r"row of X \(4\); got shape \(5,\)", ValueError),
        (lambda: optim.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0, 2.0])), r"^LogisticRegression: 'y' must "
         r"hold labels 0 or 1; got 1 other", ValueError),
        (lambda: optim.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0, 1.0]), l2=-1.0), r"'l2' must be",
         ValueError),
        (lambda: optim.Quadratic(np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones(2)), r"^Quadratic: 'A' must be symmetric",
         ValueError),
        (lambda: optim.Quadratic(np.diag([1.0, -1.0]), np.ones(2)), r"^Quadratic: 'A' must be positive semi-definite",
         ValueError),
        (lambda: p.loss(np.zeros(4)), r"^LinearRegression.loss: 'w' must have 5 entries", ValueError),
        (lambda: optim.minimize(lambda x: 0.0, np.zeros(2), grad=lambda x: x, method="newton"),
         r"^minimize: method 'newton' needs", ValueError),
        (lambda: optim.batches(5, 6), r"^batches: 'size' must be an int in \[1, n\] = \[1, 5\]", ValueError),
    ]
    for call, msg, exc in cases:
        with pytest.raises(exc, match=msg):
            call()
