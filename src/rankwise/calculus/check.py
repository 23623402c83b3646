"""Gradient checking: an analytic gradient against finite differences (SPEC §3).

For random unit directions V the directional derivative ⟨∇f(X), V⟩ is compared with the
central difference (f(X + hV) − f(X − hV)) / 2h over a decade of step sizes h, and the Taylor
remainder r(h) = |f(X + hV) − f(X) − h⟨∇f(X), V⟩| is fitted against h: it falls like h² when
the gradient is right and like h when it is wrong.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _array, _checks
from .._array import Array
from .._numerics import tol_floor
from ..random import RNGLike, as_generator

__all__ = ["GradCheck", "check_grad"]

N_STEPS = 8
ORDER_PASS = 1.5  # halfway between the orders of a wrong (1) and a right (2) gradient
NOISE = 100.0  # a Taylor remainder below NOISE · eps · |f| is rounding


@dataclass(frozen=True, slots=True)
class GradCheck:
    """What :func:`check_grad` measured.

    Attributes
    ----------
    value : float
        f(X).
    directional : tuple of float
        ⟨∇f(X), V⟩ for each random unit direction V.
    steps : tuple of float
        The step sizes h, largest first.
    rel_errors : tuple of float
        For each h, the largest relative error of the central difference over the directions
        (relative to max(|⟨∇f, V⟩|, |difference|, |f(X)| / max(‖X‖_F, 1)); NaN where f left its domain).
    orders : tuple of float
        For each direction, the slope of log r(h) against log h at the smallest steps above
        rounding: ≈ 2 for a right gradient, ≈ 1 for a wrong one; ``inf`` when r(h) is rounding
        at every step (f is affine along V and the gradient matches it), NaN when undetermined.
    rtol : float
        The tolerance the best relative error was held to.
    passed : bool
        Best relative error ≤ rtol, and every order ≥ 1.5 (or inf).
    """

    value: float
    directional: tuple[float, ...]
    steps: tuple[float, ...]
    rel_errors: tuple[float, ...]
    orders: tuple[float, ...]
    rtol: float
    passed: bool

    def __post_init__(self) -> None:
        if len(self.steps) != len(self.rel_errors) or not self.orders or len(self.orders) != len(self.directional):
            raise ValueError(f"GradCheck: one relative error per step and one order per direction; got "
                             f"{len(self.steps)} steps, {len(self.rel_errors)} errors, {len(self.orders)} orders, "
                             f"{len(self.directional)} directions")
        if not self.rtol > 0:
            raise ValueError(f"GradCheck: 'rtol' must be > 0; got {self.rtol}")

    @property
    def best_error(self) -> float:
        """The smallest relative error over the steps (NaN when f was undefined at every step)."""
        finite = [e for e in self.rel_errors if math.isfinite(e)]
        return min(finite) if finite else math.nan

    @property
    def order(self) -> float:
        """The smallest Taylor order over the directions (the one that decides)."""
        known = [o for o in self.orders if not math.isnan(o)]
        return min(known) if known else math.nan

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"gradient check {verdict}: best relative error {self.best_error:.2e} (rtol {self.rtol:.1e}), "
                 f"Taylor order {self.order:.2f} (right ≈ 2, wrong ≈ 1)", "  step h      relative error"]
        lines += [f"  {h:9.2e}   {e:.2e}" for h, e in zip(self.steps, self.rel_errors, strict=True)]
        return "\n".join(lines)


def _scalar(v: Any, func: str, where: str) -> float:
    try:
        x = _array.to_float(v) if hasattr(v, "shape") and hasattr(v, "dtype") else float(v)
    except (TypeError, ValueError):
        _checks._fail(func, f"'f' must return a real scalar; got {_checks.describe(v)} at {where}",
                      _checks.InputTypeError)
    return x


def _order(steps: list[float], rem: list[float], floor: list[float]) -> float:
    """Slope of log r against log h over the smallest steps where r is above rounding."""
    slopes = [math.log(rem[k] / rem[k + 1]) / math.log(steps[k] / steps[k + 1])
              for k in range(len(steps) - 1)
              if math.isfinite(rem[k]) and math.isfinite(rem[k + 1]) and rem[k + 1] > floor[k + 1]
              and rem[k] > floor[k]]
    if slopes:
        return statistics.median(slopes[-2:])
    at_rounding = all(math.isfinite(r) and r <= fl for r, fl in zip(rem, floor, strict=True))
    return math.inf if at_rounding else math.nan


def _direction(f: Callable[[Array], Any], X: Array, G: Array, V: Array, f0: float, steps: list[float],
               scale: float) -> tuple[float, list[float], float]:
    """(⟨G, V⟩, relative error per step, Taylor order) along one direction."""
    xp = _array.namespace(X)
    g = _array.to_float(xp.sum(G * V))
    eps = _array.eps(X)
    errors, rem, floor = [], [], []
    for h in steps:
        fp = _scalar(f(X + h * V), "check_grad", f"X + {h:.1e}·V")
        fm = _scalar(f(X - h * V), "check_grad", f"X - {h:.1e}·V")
        d = (fp - fm) / (2 * h)
        denom = max(abs(g), abs(d), abs(f0) / scale)
        errors.append(abs(d - g) / denom if math.isfinite(d) and denom > 0 else (0.0 if d == g else math.nan))
        rem.append(abs(fp - f0 - h * g))
        floor.append(NOISE * eps * (abs(f0) + abs(fp) + abs(h * g)))
    return g, errors, _order(steps, rem, floor)


def check_grad(f: Callable[[Array], Any], grad: Callable[[Array], Array] | Array, X: Array, *,
               directions: int = 2, rtol: float | None = None, rng: RNGLike = None) -> GradCheck:
    """Check a gradient against central differences and the Taylor remainder.

    Parameters
    ----------
    f : callable
        A real scalar function of X (returns a float or a 0-d array).
    grad : callable or array
        ∇f: a function of X returning an array of X's shape, or that array.
    X : array of shape (n,) or (m, n)
        The point; NumPy or torch (any device), real.
    directions : int, default=2
        Number of random unit directions V (Gaussian, normalised).
    rtol : float, optional
        Tolerance for the best relative error; default 10·sqrt(eps) of X's dtype.
    rng : None, int or Generator
        Draws the directions.

    Returns
    -------
    GradCheck
        Relative errors per step, Taylor orders per direction and the verdict ``passed``.

    Notes
    -----
    With h_k = max(‖X‖_F, 1)·10^{−k}, k = 1…8:

    .. math:: D_h = \\frac{f(X + hV) - f(X - hV)}{2h} = \\langle \\nabla f(X), V\\rangle + O(h^2),
              \\qquad r(h) = |f(X + hV) - f(X) - h\\langle G, V\\rangle| =
              \\begin{cases} O(h^2) & G = \\nabla f(X) \\\\ \\Theta(h) & \\text{otherwise.}\\end{cases}

    The order is the slope of log r against log h, read at the smallest steps where r
    stands above rounding (100·eps·|f|).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> report = check_grad(lambda x: x @ A @ x, lambda x: (A + A.T) @ x, np.array([1.0, -2.0]), rng=0)
    >>> report.passed, round(report.order)
    (True, 2)
    >>> check_grad(lambda x: x @ A @ x, lambda x: A @ x, np.array([1.0, -2.0]), rng=0).passed
    False
    """
    func = "check_grad"
    if not callable(f):
        _checks._fail(func, f"'f' must be callable; got {_checks.describe(f)}", _checks.InputTypeError)
    X = _checks.array(X, func=func, name="X", ndim=(1, 2))
    if _array.is_complex(X):
        _checks._fail(func, f"'X' must be real; got dtype {X.dtype}", _checks.InputTypeError)
    directions = _checks.integer(directions, func=func, name="directions", lo=1, hi=100)
    rtol = tol_floor(_array.real_dtype_name(X)) if rtol is None else _checks.real(rtol, func=func, name="rtol", lo=0,
                                                                              hi=1, lo_open=True)
    G = _checks.array(grad(X) if callable(grad) else grad, func=func, name="grad(X)", ndim=X.ndim)
    if tuple(G.shape) != tuple(X.shape):
        _checks._fail(func, f"'grad(X)' must have X's shape {tuple(X.shape)}; got {tuple(G.shape)}")
    _checks.same_namespace(func, X=X, **{"grad(X)": G})
    return _check_grad(f, X, _array.as_float(G), directions, rtol, as_generator(rng, func=func))


def _check_grad(f: Callable[[Array], Any], X: Array, G: Array, directions: int, rtol: float,
                gen: np.random.Generator) -> GradCheck:
    """Body of :func:`check_grad` without input validation."""
    f0 = _scalar(f(X), "check_grad", "X")
    if not math.isfinite(f0):
        _checks._fail("check_grad", f"'f' must be finite at X; got f(X) = {f0}")
    xp = _array.namespace(X)
    scale = max(_array.to_float(xp.linalg.vector_norm(X)), 1.0)
    steps = [scale * 10.0**-k for k in range(1, N_STEPS + 1)]
    gs, orders, errors = [], [], []
    for _ in range(directions):
        V = gen.standard_normal(tuple(X.shape))
        g, errs, order = _direction(f, X, G, _array.like(V / np.linalg.norm(V), X), f0, steps, scale)
        gs.append(g)
        orders.append(order)
        errors.append(errs)
    worst = [max(col) if all(math.isfinite(e) for e in col) else math.nan for col in zip(*errors, strict=True)]
    finite = [e for e in worst if math.isfinite(e)]
    passed = bool(finite) and min(finite) <= rtol and all(math.isnan(o) or o >= ORDER_PASS for o in orders)
    return GradCheck(f0, tuple(gs), tuple(steps), tuple(worst), tuple(orders), rtol, passed)
