"""The learning-rate/batch-size calculator: exact against Monte Carlo, the limits, the quadratures, the estimators.

Monte Carlo checks use :func:`measure_optimal_lr` under the calculator's own Gaussian model, so
the two must agree to within the simulation's error: |z| ≤ 4 for every update rule and batch
size, with relative standard errors small enough (a few percent at B = 1, far less above) that a
wrong formula fails; the mean-field approximation, a few percent off, is rejected by the same check.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from rankwise import InputError, InputTypeError, optim
from rankwise.optim import lr_scaling as lrs

BATCHES = [1, 4, 16, 64, 256, 1024, 4096]
N_DRAWS = 40_000


def problem(full: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(g, Σ, H): per-coordinate SNR |g_i|/σ_i from 0.3 to 0.003, H aligned with sign(g) (a surge)."""
    snr = np.array([0.3, -0.1, 0.05, -0.02, 0.01, 0.003])
    sd = np.array([1.0, 2.0, 0.5, 1.0, 1.5, 1.0])
    g = snr * sd
    s = np.sign(g)
    H = 0.5 * np.eye(6) + 0.4 * np.outer(s, s) + 0.1 * np.diag(np.arange(6.0))
    if not full:
        return g, sd**2, H
    idx = np.arange(6)
    flip = np.array([1.0, -1.0, 1.0, 1.0, -1.0, 1.0])  # some correlations negative
    R = flip[:, None] * 0.7 ** np.abs(idx[:, None] - idx[None, :]) * flip[None, :]  # Kac–Murdock–Szegő: PD
    return g, sd[:, None] * R * sd[None, :], H


CONFIGS = [("sgd", None, False), ("sign", None, False), ("adam", 0.01, False), ("adam", 0.3, False),
           ("adam", 3.0, False), ("sgd", None, True), ("sign", None, True), ("adam", 0.3, True)]


def _check_agreement(pred: optim.OptimalLR, sim: optim.SimulatedLR) -> None:
    z = sim.z(pred)
    finite = np.isfinite(z)
    assert np.all(np.abs(z[finite]) <= 4.0), (z, pred.eta, sim.eta)
    assert np.all(sim.eta_se[finite] / sim.eta[finite] < 0.05)  # the check resolves a few percent
    # degenerate sample (every draw the same update): unseen events have probability < ~3/n
    assert np.all(np.abs(sim.eta[~finite] / pred.eta[~finite] - 1.0) < 10.0 / sim.n_draws)


@pytest.mark.parametrize(("update", "eps", "full"), CONFIGS,
                         ids=[f"{u}-{e}-{'full' if f else 'diag'}" for u, e, f in CONFIGS])
def test_calculator_agrees_with_monte_carlo(update: str, eps: float | None, full: bool) -> None:
    g, cov, H = problem(full)
    pred = optim.optimal_lr(BATCHES, grad=g, cov=cov, hess=H, update=update, eps=eps, peak=False)
    sim = optim.measure_optimal_lr(BATCHES, sampler=optim.gaussian_sampler(g, cov), grad=g, hess=H, update=update,
                                   eps=eps, n_draws=N_DRAWS, rng=7)
    _check_agreement(pred, sim)
    assert np.isfinite(sim.z(pred)).sum() >= 6
    np.testing.assert_allclose(pred.decrease, pred.first**2 / (2 * pred.second))
    np.testing.assert_allclose(sim.decrease, pred.decrease, rtol=0, atol=4 * sim.decrease_se.max() + 1e-15)


def test_monte_carlo_rejects_the_mean_field_approximation() -> None:
    g, var, H = problem()
    pred = optim.optimal_lr(BATCHES, grad=g, cov=var, hess=H, update="sign", peak=False)
    sim = optim.measure_optimal_lr(BATCHES, sampler=optim.gaussian_sampler(g, var), grad=g, hess=H, update="sign",
                                   n_draws=N_DRAWS, rng=7)
    assert np.nanmax(np.abs(sim.z(pred.eta_approx))) > 10 > np.nanmax(np.abs(sim.z(pred)))


def test_sgd_closed_form() -> None:
    g, var, H = problem()
    r = optim.optimal_lr(BATCHES, grad=g, cov=var, hess=H)
    ghg, tr_hs = g @ H @ g, np.diag(H) @ var
    assert r.b_noise == pytest.approx(tr_hs / ghg, rel=1e-14)
    assert r.b_simple == pytest.approx(var.sum() / (g @ g), rel=1e-14)
    assert r.eta_max == pytest.approx((g @ g) / ghg, rel=1e-14)
    np.testing.assert_allclose(r.eta, r.eta_max / (1 + r.b_noise / np.array(BATCHES)), rtol=1e-14)
    np.testing.assert_array_equal(r.eta_approx, r.eta)
    assert r.b_peak is None and r.method == "closed form"
    full = optim.optimal_lr(BATCHES, grad=g, cov=np.diag(var), hess=H)
    np.testing.assert_allclose(full.eta, r.eta, rtol=1e-14)


def test_result_is_frozen() -> None:
    g, var, H = problem()
    r = optim.optimal_lr([1, 2], grad=g, cov=var, hess=H)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.eta = np.zeros(2)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        r.eta[0] = 0.0


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("full", [False, True], ids=["diag", "full"])
def test_adam_tends_to_signsgd_as_eps_vanishes(full: bool) -> None:
    g, cov, H = problem(full)
    sign = optim.optimal_lr(BATCHES, grad=g, cov=cov, hess=H, update="sign", peak=False)
    zero = optim.optimal_lr(BATCHES, grad=g, cov=cov, hess=H, update="adam", eps=0.0, peak=False)
    np.testing.assert_array_equal(zero.eta, sign.eta)
    for eps in (1e-12, 1e-9):
        adam = optim.optimal_lr(BATCHES, grad=g, cov=cov, hess=H, update="adam", eps=eps, peak=False)
        assert np.max(np.abs(adam.eta / sign.eta - 1)) < 1e3 * eps  # O(ε/σ) from E[1 − u²]


@pytest.mark.parametrize("full", [False, True], ids=["diag", "full"])
def test_adam_tends_to_sgd_with_lr_over_eps(full: bool) -> None:
    g, cov, H = problem(full)
    sgd = optim.optimal_lr(BATCHES, grad=g, cov=cov, hess=H)
    for eps in (1e3, 1e5):
        adam = optim.optimal_lr(BATCHES, grad=g, cov=cov, hess=H, update="adam", eps=eps, peak=False)
        bound = 10 * (float(np.max(g**2 + np.diag(np.atleast_2d(cov)) if full else g**2 + cov)) / eps**2)
        assert np.max(np.abs(adam.eta / (eps * sgd.eta) - 1)) < bound
        np.testing.assert_allclose(adam.first * eps, sgd.first, rtol=bound)
        np.testing.assert_allclose(adam.second * eps**2, sgd.second, rtol=bound)


def test_sign_without_noise_and_large_batches() -> None:
    g, var, H = problem()
    s = np.sign(g)
    r = optim.optimal_lr([1e12], grad=g, cov=var, hess=H, update="sign", peak=False)
    assert r.eta[0] == pytest.approx(np.abs(g).sum() / (s @ H @ s), rel=1e-12)
    assert r.eta_max == pytest.approx(np.abs(g).sum() / (s @ H @ s), rel=1e-14)
    quiet = optim.optimal_lr([1, 100], grad=g, cov=np.zeros(6), hess=H, update="sign")
    np.testing.assert_allclose(quiet.eta, quiet.eta_max, rtol=1e-14)
    assert quiet.b_peak is None and quiet.b_simple == 0


# --------------------------------------------------------------------------- the surge and ε


def test_sign_peak_is_the_maximum() -> None:
    g, var, H = problem()
    r = optim.optimal_lr([1], grad=g, cov=var, hess=H, update="sign")
    assert r.b_peak is not None and r.eta_peak is not None and r.eta_peak > r.eta_max
    around = optim.optimal_lr(r.b_peak * np.array([0.9, 1.0, 1.1]), grad=g, cov=var, hess=H, update="sign",
                              peak=False).eta
    assert around[1] == pytest.approx(r.eta_peak, rel=1e-12) and around[1] > max(around[0], around[2])
    # the mean-field peak has a closed form: B = (π/2) B_simple R/(1 − 2R), R = tr H/sᵀHs
    s = np.sign(g)
    R = np.trace(H) / (s @ H @ s)
    assert r.b_peak_approx == pytest.approx(math.pi / 2 * r.b_simple * R / (1 - 2 * R), rel=1e-5)


def test_one_coordinate_has_no_surge() -> None:
    r = optim.optimal_lr([1, 10], grad=[0.5], cov=[1.0], hess=[[2.0]], update="sign")
    assert r.b_peak is None
    assert np.all(np.diff(r.eta) > 0)


def test_eps_range_is_where_adam_is_neither() -> None:
    g, var, H = problem()
    B = [4, 256]
    r = optim.adam_eps_range(B, grad=g, cov=var, hess=H, rtol=0.1)
    assert not r.empty.any() and np.all(r.eps_lo < r.eps_hi)
    for k, b in enumerate(B):
        def eta(eps: float, b: float = b) -> float:
            return float(optim.optimal_lr([b], grad=g, cov=var, hess=H, update="adam", eps=eps, peak=False).eta[0])

        assert abs(eta(r.eps_lo[k]) / r.eta_sign[k] - 1) == pytest.approx(0.1, abs=1e-6)
        assert abs(eta(r.eps_lo[k] / 2) / r.eta_sign[k] - 1) < 0.1
        assert abs(eta(r.eps_hi[k]) / (r.eps_hi[k] * r.eta_sgd[k]) - 1) == pytest.approx(0.1, abs=1e-6)
        assert abs(eta(r.eps_hi[k] * 2) / (2 * r.eps_hi[k] * r.eta_sgd[k]) - 1) < 0.1
        mid = math.sqrt(r.eps_lo[k] * r.eps_hi[k])
        assert abs(eta(mid) / r.eta_sign[k] - 1) > 0.1 and abs(eta(mid) / (mid * r.eta_sgd[k]) - 1) > 0.1


# --------------------------------------------------------------------------- the quadratures


def _sign_pair_reference(a: float, b: float, rho: float) -> float:
    if abs(rho) == 1.0:  # X_j = b ± Z: sign(a + z) sign(b + ρz) is piecewise constant
        cuts = sorted({-a, -b * rho})
        edges = [-np.inf, *cuts, np.inf]
        return sum(np.sign(a + m) * np.sign(b + rho * m) * (special.ndtr(hi) - special.ndtr(lo))
                   for lo, hi in itertools.pairwise(edges)
                   for m in [0.5 * (max(lo, -40) + min(hi, 40))])
    c = math.sqrt(1 - rho * rho)

    def f(z: float) -> float:
        return special.erf((b + rho * z) / (math.sqrt(2) * c)) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    kink = [-b / rho] if rho else []
    hi = integrate.quad(f, -a, 40, points=[p for p in kink if -a < p < 40] or None, epsabs=1e-15, limit=400)[0]
    lo = integrate.quad(f, -40, -a, points=[p for p in kink if -40 < p < -a] or None, epsabs=1e-15, limit=400)[0]
    return hi - lo


def test_sign_cross_moment_is_exact() -> None:
    cases = [(a, b, r) for r in (0.0, 0.3, -0.6, 0.9, -0.99, 0.9999, 1.0, -1.0)
             for a, b in ((0.0, 0.0), (0.1, 0.5), (1.0, -2.0), (3.0, 3.2), (0.01, 0.02), (-4.0, -4.001))]
    a, b, r = (np.array(v) for v in zip(*cases, strict=True))
    got = lrs._sign_pair(a, b, r)
    ref = np.array([_sign_pair_reference(*c) for c in cases])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    zero_mean = lrs._sign_pair(np.zeros(5), np.zeros(5), np.array([-0.9, -0.2, 0.0, 0.5, 0.99]))
    np.testing.assert_allclose(zero_mean, 2 / np.pi * np.arcsin([-0.9, -0.2, 0.0, 0.5, 0.99]), atol=1e-14)


def _softsign_reference(mu: float, eps: float, power: int) -> float:
    def f(x: float) -> float:
        return (x / math.sqrt(x * x + eps * eps)) ** power * math.exp(-0.5 * (x - mu) ** 2) / math.sqrt(2 * math.pi)

    near = {0.0, mu} | {sign * eps * 10.0**k for sign in (-1, 1) for k in range(5)}  # f bends on the scale ε
    edges = [mu - 12, *sorted(p for p in near if mu - 12 < p < mu + 12), mu + 12]
    return sum(integrate.quad(f, lo, hi, epsabs=1e-15, epsrel=1e-11, limit=200)[0]
               for lo, hi in itertools.pairwise(edges))


@pytest.mark.parametrize("eps", [1e-6, 1e-2, 0.3, 1.0, 10.0, 1e4])
def test_softsign_moments_are_exact(eps: float) -> None:
    mu = np.array([0.0, 1e-3, 0.3, 1.0, -2.0, 5.0, 40.0])
    m, v = lrs._adam_moments(mu, np.ones_like(mu), eps)
    ref_m = np.array([_softsign_reference(x, eps, 1) for x in mu])
    ref_v = np.array([_softsign_reference(x, eps, 2) for x in mu])
    np.testing.assert_allclose(m, ref_m, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(v, ref_v, rtol=1e-9, atol=1e-12)


def test_hermite_coefficients_are_exact() -> None:
    a = np.array([0.0, 0.3, -1.5, 4.0])
    got = lrs._hermite_coefficients(a, np.ones(4), 1e-14, 400)  # the soft sign at ε → 0 is the sign
    np.testing.assert_allclose(got, lrs._sign_hermite(a, 400), rtol=0, atol=1e-12)
    # against direct quadrature of f(μ + Z) He_n(Z)/√n! at a moderate ε
    coef = lrs._hermite_coefficients(np.array([0.4]), np.array([1.0]), 0.2, 12)[0]
    for n in (0, 1, 5, 12):
        def f(z: float, n: int = n) -> float:
            x = 0.4 + z
            he = special.eval_hermitenorm(n, z) / math.sqrt(math.factorial(n))
            return x / math.sqrt(x * x + 0.04) * he * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

        ref = integrate.quad(f, -14, 14, points=[-0.4], epsabs=1e-15, limit=400)[0]
        assert coef[n] == pytest.approx(ref, abs=1e-13)


def test_adam_full_cov_matches_sign_full_cov_as_eps_vanishes() -> None:
    g, cov, H = problem(full=True)
    sign = optim.optimal_lr(BATCHES, grad=g, cov=cov, hess=H, update="sign", peak=False)
    adam = optim.optimal_lr(BATCHES, grad=g, cov=cov, hess=H, update="adam", eps=1e-14, peak=False)
    np.testing.assert_allclose(adam.second, sign.second, rtol=1e-11)  # Mehler's series against Plackett's integral


def test_hessian_vector_product_equals_matrix() -> None:
    g, var, H = problem()
    calls = []

    def hvp(v: np.ndarray) -> np.ndarray:
        calls.append(v)
        return H @ v

    a = optim.optimal_lr(BATCHES, grad=g, cov=var, hess=H, update="sign", peak=False)
    b = optim.optimal_lr(BATCHES, grad=g, cov=var, hess=hvp, update="sign", peak=False)
    np.testing.assert_array_equal(a.eta, b.eta)
    assert len(calls) == 6


# --------------------------------------------------------------------------- estimators


def test_noise_stats_recover_the_noise_scales() -> None:
    g, cov, H = problem(full=True)
    g = 3 * g  # B_simple and B_noise of a few hundred
    truth_simple, truth_noise = np.trace(cov) / (g @ g), np.sum(H * cov) / (g @ H @ g)
    gen = np.random.default_rng(3)
    G = g + gen.standard_normal((40_000, 6)) @ np.linalg.cholesky(cov).T
    stats = optim.noise_stats(G, hess=H, n_boot=300, rng=4)
    assert stats.b_simple == pytest.approx(truth_simple, rel=0.1)
    assert stats.b_noise == pytest.approx(truth_noise, rel=0.1)
    assert stats.b_simple_ci[0] < truth_simple < stats.b_simple_ci[1]
    assert stats.b_noise_ci is not None and stats.b_noise_ci[0] < truth_noise < stats.b_noise_ci[1]
    assert stats.cov.shape == (6,)
    full = optim.noise_stats(G, full_cov=True, n_boot=10, rng=4)
    assert full.cov.shape == (6, 6) and full.b_noise is None
    np.testing.assert_allclose(np.diag(full.cov), stats.cov)


@pytest.mark.parametrize("paired", [False, True])
def test_two_batch_estimator_recovers_the_noise_scales(paired: bool) -> None:
    g, cov, H = problem(full=True)
    g = 3 * g
    truth_simple, truth_noise = np.trace(cov) / (g @ g), np.sum(H * cov) / (g @ H @ g)
    gen = np.random.default_rng(5)
    L = np.linalg.cholesky(cov)

    def means(b: int) -> np.ndarray:
        return g + gen.standard_normal((8000, 6)) @ L.T / math.sqrt(b)

    small, big = means(16), means(1024)
    plain = optim.two_batch_noise_scale((small**2).sum(1), (big**2).sum(1), b_small=16, b_big=1024, paired=paired,
                                        rng=6)
    weighted = optim.two_batch_noise_scale(np.einsum("ni,ij,nj->n", small, H, small),
                                           np.einsum("ni,ij,nj->n", big, H, big), b_small=16, b_big=1024,
                                           paired=paired, rng=6)
    assert plain.scale == pytest.approx(truth_simple, rel=0.1)
    assert weighted.scale == pytest.approx(truth_noise, rel=0.1)
    assert plain.scale_ci[0] < truth_simple < plain.scale_ci[1]
    assert weighted.scale_ci[0] < truth_noise < weighted.scale_ci[1]
    assert plain.g2_ci[0] < g @ g < plain.g2_ci[1] and plain.trace_ci[0] < np.trace(cov) < plain.trace_ci[1]


def test_samplers() -> None:
    g, cov, _ = problem(full=True)
    draws = optim.gaussian_sampler(g, cov)(4, 50_000, np.random.default_rng(0))
    np.testing.assert_allclose(np.cov(draws, rowvar=False), cov / 4, atol=0.02)
    P = np.random.default_rng(1).standard_normal((50, 3))
    batches = optim.minibatch_sampler(P)(8, 20_000, np.random.default_rng(2))
    np.testing.assert_allclose(np.cov(batches, rowvar=False), np.cov(P, rowvar=False, ddof=0) / 8, atol=0.01)
    with pytest.raises(ValueError, match="'batch_sizes' must be whole numbers"):
        optim.minibatch_sampler(P)(2.5, 3, np.random.default_rng(0))


def test_experiment_smoke() -> None:
    rep = optim.lr_scaling_experiment(batch_sizes=[2, 64], eps_rel=[0.1], n_draws=400, dim=4, n_samples=500, rng=1)
    assert [p.name for p in rep.problems] == ["linreg", "quadratic"]
    assert len(rep.rows) == 2 * 3 * 2 and rep.seed == 1 and rep.n_draws == 400
    assert {r.cov for r in rep.rows if r.problem == "linreg"} == {"full"}
    assert rep.max_abs_z("quadratic") < 4
    row = rep.rows[-1]
    assert row.label == "adam ε=0.1σ" and row.approx_error == pytest.approx(row.eta_approx / row.eta_pred - 1)


# --------------------------------------------------------------------------- bad input


G, V, HM = problem()
BAD = [
    ({"batch_sizes": [1, -4]}, r"^optimal_lr: 'batch_sizes' must be positive and finite; got -4\.0 at index 1$"),
    ({"batch_sizes": 0}, r"'batch_sizes' must be positive and finite; got 0\.0 at index 0"),
    ({"batch_sizes": [4, np.nan]}, r"'batch_sizes' must be positive and finite; got nan at index 1"),
    ({"batch_sizes": [np.inf]}, r"'batch_sizes' must be positive and finite; got inf"),
    ({"batch_sizes": []}, r"'batch_sizes' must be non-empty"),
    ({"batch_sizes": "16"}, r"'batch_sizes' must be a positive number or a 1-D sequence of them; got '16'"),
    ({"cov": np.diag(V) - 2 * np.eye(6)}, r"'cov' must be positive semi-definite; got smallest eigenvalue -"),
    ({"cov": -V}, r"'cov' must hold variances >= 0; got minimum -"),
    ({"cov": V[:5]}, r"'cov' must have shape \(6,\) \(variances\) or \(6, 6\) to match 'grad' of shape \(6,\); got "
                     r"shape \(5,\)"),
    ({"cov": np.triu(np.ones((6, 6)))}, r"'cov' must be symmetric"),
    ({"hess": HM[:5, :5]}, r"'hess' must have shape \(6, 6\) to match 'grad' of shape \(6,\); got shape \(5, 5\)"),
    ({"hess": np.triu(HM)}, r"'hess' must be symmetric"),
    ({"hess": lambda v: v[:3]}, r"'hess' must map a vector of shape \(6,\) to one of shape \(6,\); got shape \(3,\)"),
    ({"hess": -HM}, r"'hess' must make the expected curvature E\[uᵀHu\] positive; got -"),
    ({"grad": np.zeros(6)}, r"'grad' must be nonzero; got all zeros"),
    ({"grad": [1.0, np.nan, 0, 0, 0, 0]}, r"'grad' must contain only finite values; got 1 NaN"),
    ({"update": "adam", "eps": -0.1}, r"'eps' must be a number in \[0, inf\]; got -0\.1"),
    ({"update": "adam"}, r"'eps' must be a number >= 0 for update='adam'; got None"),
    ({"update": "sgd", "eps": 0.1}, r"'eps' applies to update='adam' only; got eps=0\.1 with update='sgd'"),
    ({"update": "Adam"}, r"unknown update 'Adam'; valid: adam, sgd, sign"),
    ({"update": "adam", "eps": 0.1, "cov": np.outer(np.sqrt(V), np.sqrt(V)) + 1e-3 * np.eye(6)},
     r"'cov' must have correlations \|ρ\| <= 0\.98 for update='adam' with eps > 0; got \|ρ\| = 0\.99"),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_input_is_one_line_naming_the_argument(override: dict, message: str) -> None:
    kwargs = {"batch_sizes": [1, 16], "grad": G, "cov": V, "hess": HM, **override}
    with pytest.raises((ValueError, TypeError), match=message) as info:
        optim.optimal_lr(kwargs.pop("batch_sizes"), **kwargs)
    assert "\n" not in str(info.value) and str(info.value).startswith("optimal_lr: ")
    assert isinstance(info.value, (InputError, InputTypeError))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: optim.noise_stats(np.ones((1, 3))), r"^noise_stats: 'per_example' must have at least 2 rows"),
    (lambda: optim.noise_stats(np.ones((5, 3)), level=1.0), r"'level' must be a number in \(0, 1\); got 1\.0"),
    (lambda: optim.two_batch_noise_scale([1.0, 2.0], [1.0, 2.0], b_small=8, b_big=4),
     r"^two_batch_noise_scale: 'b_big' must be larger than 'b_small' = 8; got 4$"),
    (lambda: optim.two_batch_noise_scale([1.0, 2.0], [1.0, 2.0, 3.0], b_small=1, b_big=4, paired=True),
     r"'small' and 'big' must hold at least 2 measurements each and as many; got 2 and 3"),
    (lambda: optim.measure_optimal_lr([1], sampler=None, grad=G, hess=HM), r"'sampler' must be callable"),
    (lambda: optim.adam_eps_range([1], grad=G, cov=V, hess=HM, rtol=0), r"'rtol' must be a number in \(0, inf\]"),
    (lambda: optim.lr_scaling_experiment(n_draws=1), r"'n_draws' must be an int in \[2, inf\); got 1"),
])
def test_bad_input_of_the_other_functions(call, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message) as info:
        call()
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 5), dtype=st.sampled_from(["float32", "float64", "int64"]),
       batches=st.lists(st.floats(0.5, 1e5), min_size=1, max_size=4), update=st.sampled_from(["sgd", "sign", "adam"]),
       seed=st.integers(0, 2**16))
def test_shapes_dtypes_and_bounds(d: int, dtype: str, batches: list[float], update: str, seed: int) -> None:
    gen = np.random.default_rng(seed)
    g = (gen.integers(1, 5, d) * gen.choice([-1, 1], d)).astype(dtype)
    var = gen.integers(0, 9, d).astype(dtype)
    A = gen.standard_normal((d, d))
    H = (A @ A.T + np.eye(d)).astype(np.float64)
    r = optim.optimal_lr(batches, grad=g, cov=var, hess=H, update=update, eps=0.5 if update == "adam" else None,
                         peak=False)
    for name in ("eta", "decrease", "first", "second", "eta_approx", "decrease_approx"):
        arr = getattr(r, name)
        assert arr.shape == (len(batches),) and arr.dtype == np.float64 and np.all(np.isfinite(arr)), name
    assert np.all(r.eta > 0) and np.all(r.decrease > 0)
    # noise only shrinks the expected first-order term: |E[u_i]| <= |u_i(g)| for these odd, concave-on-(0, ∞) maps
    noiseless = optim.optimal_lr([1.0], grad=g, cov=np.zeros(d), hess=H, update=update,
                                 eps=0.5 if update == "adam" else None, peak=False)
    assert np.all(r.first <= noiseless.first[0] * (1 + 1e-12))
    if update == "sgd":
        assert np.all(r.eta <= r.eta_max * (1 + 1e-12))
        assert np.all(r.decrease <= noiseless.decrease[0] * (1 + 1e-12))


# --------------------------------------------------------------------------- short horizon

HORIZON_B = [1, 16, 256]


def _exact_sgd_minimiser(b: float, steps: int, g: np.ndarray, cov: np.ndarray, H: np.ndarray) -> tuple[float, float]:
    """(argmin_η, min) of the exact E[L(w_T)] − L(w_0), by bounded scalar search in log η."""
    from scipy import optimize

    eta1 = float(optim.optimal_lr(b, grad=g, cov=cov, hess=H).eta[0])
    res = optimize.minimize_scalar(lambda x: optim.sgd_horizon_loss(math.exp(x), b, steps, grad=g, cov=cov, hess=H),
                                   bounds=(math.log(eta1) - 5, math.log(eta1) + 1), method="bounded",
                                   options={"xatol": 1e-10})
    return math.exp(res.x), float(res.fun)


@pytest.mark.parametrize(("update", "eps", "full"), [("sgd", None, False), ("sign", None, False),
                                                     ("adam", 0.3, False), ("sgd", None, True), ("sign", None, True)])
def test_horizon_of_one_step_is_the_calculator(update: str, eps: float | None, full: bool) -> None:
    g, cov, H = problem(full)
    pred = optim.optimal_lr(HORIZON_B, grad=g, cov=cov, hess=H, update=update, eps=eps, peak=False)
    r = optim.measure_horizon_lr(HORIZON_B, steps=1, grad=g, cov=cov, hess=H, update=update, eps=eps,
                                 n_runs=20_000, rng=11)
    np.testing.assert_array_equal(r.eta_one, pred.eta)
    z = r.z(pred.eta)
    assert np.all(np.isfinite(z)) and np.all(np.abs(z) <= 4.0), (z, r.eta, pred.eta)
    assert np.all(r.eta_se / r.eta < 0.05)  # resolves a few percent
    z_loss = (r.loss + pred.decrease) / r.loss_se  # E[L(w_1)] − L(w_0) = −ΔL* at η*
    assert np.all(np.abs(z_loss) <= 4.0), z_loss
    assert r.steps == 1 and r.n_runs == 20_000 and r.update == update


@pytest.mark.parametrize("steps", [5, 20])
def test_sgd_horizon_matches_the_exact_minimiser(steps: int) -> None:
    g, var, H = problem()
    r = optim.measure_horizon_lr(HORIZON_B, steps=steps, grad=g, cov=var, hess=H, n_runs=3000, rng=5)
    for k, b in enumerate(HORIZON_B):
        eta, loss = _exact_sgd_minimiser(b, steps, g, var, H)
        assert abs(r.eta[k] - eta) <= 4.0 * r.eta_se[k], (b, r.eta[k], r.eta_se[k], eta)
        assert r.eta_se[k] / eta < 0.05
        assert abs(r.loss[k] - loss) <= 4.0 * r.loss_se[k], (b, r.loss[k], r.loss_se[k], loss)
    # T steps of a constant η: the best η falls below the one-step optimum, far more at large B
    # (exact ratios 0.99, 0.96, 0.79 at T = 5 and 0.97, 0.61, 0.36 at T = 20)
    assert r.ratio[-1] < 0.85 and r.ratio[-1] < r.ratio[0] - 0.1
    np.testing.assert_allclose(r.ratio_se, r.eta_se / r.eta_one)


def test_sgd_horizon_near_the_stability_edge() -> None:
    """Eigenvalues 1…100, T = 20: the exact loss rises steeply just above η*_T (ηλ_max = 2 at 1.2 η*_T);
    a wide cubic fit would be biased by 7 % (about 200 s.e.), the narrowing grids are not."""
    A = optim.Quadratic.with_spectrum(np.geomspace(1.0, 100.0, 4), rng=0).A
    g, var = A @ np.ones(4), np.diag(A) * 10.0
    eta, loss = _exact_sgd_minimiser(256, 20, g, var, A)
    assert 1.15 * eta < 2.0 / 100.0 < 1.25 * eta
    r = optim.measure_horizon_lr([256], steps=20, grad=g, cov=var, hess=A, n_runs=1000, rng=0)
    assert abs(r.eta[0] - eta) <= 4.0 * r.eta_se[0] and r.eta_se[0] / eta < 0.01, (r.eta, r.eta_se, eta)
    assert abs(r.loss[0] - loss) <= 4.0 * r.loss_se[0]


def test_horizon_fit_has_no_visible_bias() -> None:
    """The coarse-then-cubic search, fed the exact mean curve, lands on the exact minimiser."""
    g, var, H = problem()
    for steps, b in ((5, 16), (20, 256), (20, 1)):
        def curves(etas: np.ndarray, b: float = b, steps: int = steps) -> np.ndarray:
            return np.repeat(optim.sgd_horizon_loss(etas, b, steps, grad=g, cov=var, hess=H)[:, None], 2, axis=1)

        eta1 = float(optim.optimal_lr(b, grad=g, cov=var, hess=H).eta[0])
        est = lrs._horizon_point(curves, eta1 * 2.0 ** np.arange(-4, 5), False, b, "test")[0]
        assert est == pytest.approx(_exact_sgd_minimiser(b, steps, g, var, H)[0], rel=1e-5)


@pytest.mark.parametrize("full", [False, True], ids=["diag", "full"])
def test_sgd_horizon_loss_is_the_lyapunov_recursion(full: bool) -> None:
    """Gradient coordinates against the textbook recursion in w: m ← (I − ηH)m, C ← (I − ηH)C(I − ηH) + η²Σ/B."""
    g, cov, H = problem(full)
    S = cov if full else np.diag(cov)
    m0 = np.linalg.solve(H, g)  # w_0 − w*
    for eta, b, steps in ((0.3, 4.0, 1), (0.5, 16.0, 7), (1.2, 1.0, 20)):
        A = np.eye(6) - eta * H
        m, C = m0.copy(), np.zeros((6, 6))
        for _ in range(steps):
            m, C = A @ m, A @ C @ A + eta**2 * S / b
        want = 0.5 * np.trace(H @ (np.outer(m, m) + C)) - 0.5 * m0 @ H @ m0
        assert optim.sgd_horizon_loss(eta, b, steps, grad=g, cov=cov, hess=H) == pytest.approx(want, rel=1e-10)
    one = optim.optimal_lr([4.0], grad=g, cov=cov, hess=H)
    assert optim.sgd_horizon_loss(one.eta[0], 4.0, 1, grad=g, cov=cov, hess=H) == pytest.approx(-one.decrease[0])
    assert optim.sgd_horizon_loss(np.array([0.1, 0.2]), 4.0, 3, grad=g, cov=cov, hess=H).shape == (2,)


def test_horizon_with_a_grid_and_the_experiment() -> None:
    g, var, H = problem()
    eta1 = float(optim.optimal_lr(16, grad=g, cov=var, hess=H).eta[0])
    r = optim.measure_horizon_lr(16, steps=3, grad=g, cov=var, hess=H, lrs=eta1 * np.geomspace(0.1, 3, 7),
                                 n_runs=500, rng=0)
    assert r.eta.shape == (1,) and np.isfinite(r.eta[0]) and 0.1 * eta1 < r.eta[0] < 3 * eta1
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.eta = r.eta  # type: ignore[misc]
    assert not r.eta.flags.writeable
    rep = optim.lr_scaling_experiment(batch_sizes=[2, 64], eps_rel=[0.1], n_draws=200, dim=4, n_samples=500,
                                      horizon=4, rng=1)
    assert rep.steps == 4 and len(rep.horizon) == 3 * 2
    assert {h.problem for h in rep.horizon} == {"quadratic"} and rep.horizon[-1].label == "adam ε=0.1σ"
    assert all(math.isfinite(h.eta) and h.ratio == h.eta / h.eta_one for h in rep.horizon)
    plain = optim.lr_scaling_experiment(batch_sizes=[2], eps_rel=[], n_draws=50, dim=3, n_samples=100, rng=1)
    assert plain.horizon == () and plain.steps is None


@pytest.mark.parametrize(("override", "message"), [
    ({"steps": 0}, r"^measure_horizon_lr: 'steps' must be an int in \[1, inf\); got 0"),
    ({"steps": 2.5}, r"^measure_horizon_lr: 'steps' must be an int in \[1, inf\); got 2\.5"),
    ({"n_runs": 1}, r"^measure_horizon_lr: 'n_runs' must be an int in \[2, inf\); got 1"),
    ({"batch_sizes": [4, math.nan]}, r"^measure_horizon_lr: 'batch_sizes' must be positive and finite; got nan"),
    ({"lrs": [0.1, 0.2]}, r"^measure_horizon_lr: 'lrs' must hold at least 3 distinct positive finite numbers"),
    ({"lrs": [0.1, -0.2, 0.3]}, r"'lrs' must hold at least 3 distinct positive finite numbers; got \[0\.1, -0\.2"),
    ({"lrs": [0.1, math.inf, 0.3]}, r"'lrs' must hold at least 3 distinct positive finite numbers"),
    ({"lrs": "fast"}, r"'lrs' must be a 1-D sequence of positive numbers; got"),
    ({"lrs": [1e-6, 2e-6, 3e-6]}, r"^measure_horizon_lr: 'lrs' must bracket the best learning rate; at batch size "
                                  r"4 the lowest loss is at its last value 3e-06; widen 'lrs'$"),
    ({"update": "adam"}, r"'eps' must be a number >= 0 for update='adam'; got None"),
])
def test_horizon_bad_input_is_one_line_naming_the_argument(override: dict, message: str) -> None:
    g, var, H = problem()
    kwargs = {"batch_sizes": [4], "steps": 2, "grad": g, "cov": var, "hess": H, "n_runs": 50, "rng": 0, **override}
    with pytest.raises((ValueError, TypeError), match=message) as info:
        optim.measure_horizon_lr(kwargs.pop("batch_sizes"), **kwargs)
    assert "\n" not in str(info.value) and isinstance(info.value, (InputError, InputTypeError))


@pytest.mark.parametrize(("call", "message"), [
    (lambda g, v, H: optim.sgd_horizon_loss(-0.1, 4, 2, grad=g, cov=v, hess=H),
     r"^sgd_horizon_loss: 'eta' must be finite and >= 0; got -0\.1$"),
    (lambda g, v, H: optim.sgd_horizon_loss([0.1, math.nan], 4, 2, grad=g, cov=v, hess=H), r"'eta' must be finite"),
    (lambda g, v, H: optim.sgd_horizon_loss(0.1, 0, 2, grad=g, cov=v, hess=H), r"'batch_size' must be a number in"),
    (lambda g, v, H: optim.sgd_horizon_loss(0.1, 4, 0, grad=g, cov=v, hess=H), r"'steps' must be an int in \[1"),
    (lambda g, v, H: optim.sgd_horizon_loss("x", 4, 2, grad=g, cov=v, hess=H), r"'eta' must be a number"),
    (lambda g, v, H: optim.lr_scaling_experiment(horizon=0, n_draws=10), r"'horizon' must be an int in \[1, inf\)"),
])
def test_horizon_bad_input_of_the_other_functions(call, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message) as info:
        call(*problem()[:3])
    assert "\n" not in str(info.value)
