"""rankwise.rates.analyze against the seminar's sequences (SPEC §2.2) and measured-looking ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankwise.rates import RateReport, analyze

K = np.arange(1, 61, dtype=np.float64)


def _seq(expr: str) -> np.ndarray:
    with np.errstate(under="ignore", over="ignore"):
        return {
            "1/3^k": 1 / 3**K, "4/3^k": 4 / 3**K, "1/k^10": 1 / K**10, "0.707^k": 0.707**K,
            "0.707^(2^k)": 0.707 ** (2**K), "1/k^k": 1 / K**K, "1/3^(k^2)": 1 / 3.0 ** (K**2),
        }[expr]


@pytest.mark.parametrize(("expr", "kind", "q"), [
    ("1/3^k", "linear", 1 / 3), ("4/3^k", "linear", 1 / 3), ("1/k^10", "sublinear", 1.0),
    ("0.707^k", "linear", 0.707), ("0.707^(2^k)", "quadratic", 0.0), ("1/k^k", "superlinear", 0.0),
    ("1/3^(k^2)", "superlinear", 0.0),
])
def test_seminar_sequences_are_classified_exactly(expr: str, kind: str, q: float) -> None:
    rep = analyze(_seq(expr))
    assert rep.kind == kind, (expr, rep)
    assert rep.q == pytest.approx(q, abs=1e-9)
    assert rep.confidence == "high"


def test_seminar_details() -> None:
    quad = analyze(_seq("0.707^(2^k)"))
    assert quad.order == pytest.approx(2.0, abs=1e-9)
    assert quad.floor_index is not None and quad.floor_index <= 11  # underflow to 0 is cut, not read
    not_quadratic = analyze(_seq("1/3^(k^2)"))
    assert not_quadratic.order is not None and not_quadratic.order < 1.2  # superlinear but not quadratic
    assert not_quadratic.floor_index == 25  # 3^-(26²) is subnormal: below the floating-point floor
    kk = analyze(_seq("1/k^k"))
    assert kk.q_root is not None and kk.q_root < 0.05 and kk.trend is not None and kk.trend > 0.1  # root test → 0
    assert analyze(_seq("1/k^10")).power == pytest.approx(10.0, rel=1e-9)
    lin = analyze(_seq("4/3^k"))
    assert lin.q_ratio == pytest.approx(1 / 3) and lin.q_root is not None and lin.q_root > 1 / 3  # C^(1/k) bias


def test_longer_and_shorter_runs_of_the_seminar_sequences() -> None:
    for n in (20, 40, 140):
        k = np.arange(1, n + 1, dtype=np.float64)
        assert analyze(1 / k**k).kind == "superlinear"
        assert analyze(1 / k**10).kind == "sublinear"
        assert analyze(0.707**k).q == pytest.approx(0.707)


def test_r_linear_but_not_q_linear() -> None:
    k = np.arange(1, 61, dtype=np.float64)
    r = 0.5**k * (2 + (-1) ** k)  # ratios alternate 1/6 and 3/2: the ratio test says nothing
    rep = analyze(r)
    assert rep.kind == "linear" and rep.q == pytest.approx(0.5, rel=0.02)
    assert rep.ratio_sup is not None and rep.ratio_sup > 1 > rep.ratio_inf  # type: ignore[operator]
    assert any("ratio test is inconclusive" in n for n in rep.notes)
    stairs = 0.7 ** (2 * np.floor(k / 2))  # r_(k+1)/r_k alternates 1 and 0.49: liminf < 1 = limsup
    rep = analyze(stairs)
    assert rep.kind == "linear" and rep.q == pytest.approx(0.7, rel=0.01)


def test_floating_point_floor_is_cut(rng: np.random.Generator) -> None:
    k = np.arange(300, dtype=np.float64)
    r = 0.8**k + 1e-16 * np.abs(rng.standard_normal(300))
    rep = analyze(r)
    assert rep.kind == "linear" and rep.q == pytest.approx(0.8, rel=0.01)
    assert rep.floor_index is not None and 140 <= rep.floor_index <= 170  # 0.8^k = 1e-16 at k = 165
    assert rep.window[1] == rep.floor_index
    flat = analyze(np.maximum(0.9 ** np.arange(500.0), 1e-12))
    assert flat.kind == "linear" and flat.q == pytest.approx(0.9, rel=1e-6) and flat.floor_index is not None
    zeros = analyze(np.append(0.5 ** np.arange(40.0), np.zeros(5)))
    assert zeros.floor_index == 40 and zeros.q == pytest.approx(0.5)
    given = analyze(0.5 ** np.arange(60.0), floor=1e-10)
    assert given.usable == 34  # 0.5^34 = 5.8e-11 is the first term at or below 1e-10


def test_noise_floor_is_not_confused_with_sublinear_or_noise(rng: np.random.Generator) -> None:
    k = np.arange(1, 3001, dtype=np.float64)
    noisy = (1 / k) * np.exp(0.1 * rng.standard_normal(k.size))
    rep = analyze(noisy)
    assert rep.kind == "sublinear" and rep.power == pytest.approx(1.0, abs=0.1) and rep.floor_index is None
    lin = analyze(0.99 ** np.arange(2000.0) * np.exp(0.3 * rng.standard_normal(2000)))
    assert lin.kind == "linear" and lin.q == pytest.approx(0.99, rel=1e-3)


def test_orders_other_than_two_and_divergence() -> None:
    secant = analyze(np.exp(-(1.618 ** np.arange(1, 12.0))))
    assert secant.kind == "order" and secant.order == pytest.approx(1.618, rel=1e-3)
    cubic = analyze(0.9 ** (3 ** np.arange(1, 8.0)))
    assert cubic.kind == "order" and cubic.order == pytest.approx(3.0, rel=1e-6)
    grow = analyze(1.1 ** np.arange(50.0))
    assert grow.kind == "diverging" and grow.q == pytest.approx(1.1)
    over = analyze(np.append(10.0 ** np.arange(0, 300, 100.0), [np.inf, np.inf]))
    assert over.kind == "diverging" and over.floor_index == 3


def test_inconclusive_cases() -> None:
    assert analyze(np.ones(30)).kind == "inconclusive"
    rep = analyze([1.0, 0.5, 0.0, 0.0])
    assert rep.kind == "inconclusive" and rep.usable == 2 and rep.q is None


@settings(max_examples=30, deadline=None)
@given(q=st.floats(0.05, 0.95), c=st.floats(0.1, 10.0), n=st.integers(12, 80))
def test_any_geometric_sequence_is_linear_with_its_q(q: float, c: float, n: int) -> None:
    with np.errstate(under="ignore"):
        r = c * q ** np.arange(n, dtype=np.float64)
    rep = analyze(r)
    assert rep.kind == "linear" and rep.q == pytest.approx(q, rel=1e-6)


def test_report_is_frozen_and_prints() -> None:
    rep = analyze(1 / 3 ** np.arange(1, 30.0))
    assert isinstance(rep, RateReport)
    with pytest.raises(AttributeError):
        rep.kind = "sublinear"  # type: ignore[misc]
    text = str(rep)
    assert text.startswith("linear, q = 0.3333") and "root test" in text and "window" in text
    assert rep.to_dict()["summary"] == rep.summary


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"^analyze: 'r' must have at least 3 terms; got 2"):
        analyze([1.0, 0.5])
    with pytest.raises(ValueError, match=r"^analyze: 'r' must be a 1-D array; got a 2-D"):
        analyze(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"^analyze: 'r' must be non-empty"):
        analyze([])
    with pytest.raises(TypeError, match=r"^analyze: 'r' must be a numeric array"):
        analyze(np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"^analyze: 'start' must be an int in \[1, inf\); got 0"):
        analyze([1.0, 0.5, 0.25], start=0)
    with pytest.raises(ValueError, match=r"^analyze: 'floor' must be a number in \[0, inf\]; got -1.0"):
        analyze([1.0, 0.5, 0.25], floor=-1.0)
    with pytest.raises(ValueError, match=r"^analyze: 'window' must satisfy"):
        analyze(0.5 ** np.arange(10.0), window=(5, 7))
    with pytest.raises(TypeError, match=r"^analyze: 'window' must be a pair of ints"):
        analyze(0.5 ** np.arange(10.0), window=(0.0, 5.0))  # type: ignore[arg-type]


def test_explicit_window_and_start() -> None:
    r = np.concatenate([0.1 ** np.arange(10.0), 1e-9 * 0.9 ** np.arange(1, 60.0)])  # fast, then q = 0.9
    assert analyze(r, window=(0, 9)).q == pytest.approx(0.1)
    assert analyze(r).q == pytest.approx(0.9)
    k0 = np.arange(0, 50, dtype=np.float64)
    assert analyze(1 / (k0 + 1) ** 2, start=1).power == pytest.approx(2.0)


def test_torch_and_float32_input() -> None:
    torch = pytest.importorskip("torch")
    rep = analyze(torch.tensor(0.5 ** np.arange(30.0), dtype=torch.float32))
    assert rep.kind == "linear" and rep.q == pytest.approx(0.5, rel=1e-5)


# --------------------------------------------------------------------------- verdicts follow the fit


@pytest.mark.parametrize("rho", [0.5, 0.9, 0.99])
def test_exact_linear_histories_are_linear_with_their_rate(rho: float) -> None:
    rep = analyze(3.0 * rho ** np.arange(2000.0 if rho == 0.99 else 200.0))
    assert rep.kind == "linear" and rep.q == pytest.approx(rho, rel=1e-9) and rep.confidence == "high"
    assert rep.r2 == pytest.approx(1.0, abs=1e-12)


def _newton_1d() -> np.ndarray:
    """|x_k − x*| of Newton's method on f(x) = e^x − 2x (x* = log 2) from x = 1.5."""
    x, xs = 1.5, [1.5]
    for _ in range(8):
        x -= (np.exp(x) - 2.0) / np.exp(x)
        xs.append(x)
    return np.abs(np.array(xs) - np.log(2.0))


def test_newton_on_a_1d_problem_is_quadratic() -> None:
    rep = analyze(_newton_1d())
    assert rep.kind == "quadratic" and rep.order == pytest.approx(2.0, abs=0.2), rep


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_sublinear_histories(power: float) -> None:
    k = np.arange(1, 501.0)
    rep = analyze(1 / k**power)
    assert rep.kind == "sublinear" and rep.power == pytest.approx(power, rel=1e-6) and rep.r2 is not None


def test_a_noisy_plateau_is_undetermined(rng: np.random.Generator) -> None:
    k = np.arange(1000.0)
    adam_like = 0.05 + 2.0 * np.exp(-k / 30) + 0.02 * np.abs(rng.standard_normal(1000))  # stalls at a noise level
    rep = analyze(adam_like)
    assert rep.kind == "undetermined" and rep.q is None and rep.confidence == "low", rep
    drifting = np.exp(-0.01 * k[:300] + 0.5 * rng.standard_normal(300))  # noise swamps a slow drift
    rep = analyze(drifting)
    assert rep.kind == "undetermined" and rep.r2 is not None and rep.r2 < 0.8 and "R²" in rep.summary, rep


def test_an_unconverged_run_is_undetermined() -> None:
    slow = 2.3 - 0.00115 * np.arange(1001.0)  # the error only halves: no rate can be read
    rep = analyze(slow)
    assert rep.kind == "undetermined" and "too little progress" in rep.notes[-1]
    assert rep.summary.startswith("undetermined: the terms fell by only a factor")
    assert analyze(0.95 ** np.arange(12.0)).kind == "linear"  # exactly geometric: a short run suffices


def test_oscillating_linear_convergence_is_not_an_order() -> None:
    """Momentum on L2-regularised logistic regression: linear with ripples (was "order, p = 2.86")."""
    from rankwise.optim.regression import fit_regression, regression_problem

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    rng.standard_normal(200)
    y = (rng.uniform(size=200) < 1 / (1 + np.exp(-(X @ np.array([2.0, -1.0, 0.0]))))).astype(float)
    problem = regression_problem("logistic", np.column_stack([X, np.ones(200)]), y)
    for method in ("momentum", "nesterov"):
        fit = fit_regression(problem, method, rng=0)
        assert fit.rate is not None and fit.rate.kind == "linear", (method, fit.rate)


@settings(max_examples=60, deadline=None)
@given(q=st.floats(0.05, 0.95), noise=st.floats(0.0, 0.05), n=st.integers(8, 80), seed=st.integers(0, 2**16))
def test_a_geometric_sequence_with_a_few_percent_of_noise_is_never_quadratic(q: float, noise: float, n: int,
                                                                              seed: int) -> None:
    eta = np.random.default_rng(seed).uniform(-noise, noise, n)
    with np.errstate(under="ignore"):
        r = q ** np.arange(n, dtype=np.float64) * (1 + eta)
    rep = analyze(r)
    assert rep.kind not in ("quadratic", "order", "superlinear"), rep
