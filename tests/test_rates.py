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
