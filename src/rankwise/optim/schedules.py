"""Step-size schedules η_k: functions of the update count k = 0, 1, 2, …

A schedule is a frozen :class:`Schedule` (printable, comparable) that is called with the
count and returns a Python float. Pass one wherever a learning rate is accepted.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .. import _checks

__all__ = ["Schedule", "constant", "exponential_decay", "inverse_time", "step_decay", "warmup_cosine"]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A step-size schedule: ``schedule(k)`` is η_k for the k-th update (k = 0, 1, …).

    Attributes
    ----------
    name : str
        The formula's name (``"constant"``, ``"step_decay"``, …).
    params : mapping
        The parameters it was built with (read-only).
    """

    name: str
    fn: Callable[[int], float] = field(repr=False, compare=False)
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __call__(self, count: int) -> float:
        return self.fn(count)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


def _positive(value: Any, func: str, name: str) -> float:
    return _checks.real(value, func=func, name=name, lo=0.0, lo_open=True)


def constant(value: float) -> Schedule:
    """η_k = value.

    Examples
    --------
    >>> constant(0.1)(7)
    0.1
    """
    v = _positive(value, "constant", "value")
    return Schedule("constant", lambda k: v, {"value": v})


def step_decay(value: float, *, every: int, factor: float = 0.1) -> Schedule:
    """Piecewise constant: η_k = value · factor^⌊k / every⌋.

    Examples
    --------
    >>> s = step_decay(1.0, every=10, factor=0.5)
    >>> [s(0), s(9), s(10), s(25)]
    [1.0, 1.0, 0.5, 0.25]
    """
    func = "step_decay"
    v = _positive(value, func, "value")
    n = _checks.integer(every, func=func, name="every", lo=1)
    f = _checks.real(factor, func=func, name="factor", lo=0.0, hi=1.0, lo_open=True)
    return Schedule(func, lambda k: v * f ** (k // n), {"value": v, "every": n, "factor": f})


def exponential_decay(value: float, *, rate: float) -> Schedule:
    """η_k = value · rate^k (a linearly shrinking step).

    Examples
    --------
    >>> exponential_decay(1.0, rate=0.5)(3)
    0.125
    """
    func = "exponential_decay"
    v = _positive(value, func, "value")
    r = _checks.real(rate, func=func, name="rate", lo=0.0, hi=1.0, lo_open=True)
    return Schedule(func, lambda k: v * r**k, {"value": v, "rate": r})


def inverse_time(value: float, *, decay: float = 1.0) -> Schedule:
    """η_k = value / (1 + decay · k): the 1/k step of stochastic approximation.

    Notes
    -----
    Σ η_k = ∞ and Σ η_k² < ∞ (Robbins–Monro), so SGD converges, sublinearly: on a
    μ-strongly convex problem E‖x_k − x*‖² = O(1/k) when value·μ/decay > 1.

    Examples
    --------
    >>> inverse_time(1.0, decay=0.5)(2)
    0.5
    """
    func = "inverse_time"
    v = _positive(value, func, "value")
    d = _positive(decay, func, "decay")
    return Schedule(func, lambda k: v / (1.0 + d * k), {"value": v, "decay": d})


def warmup_cosine(value: float, *, total: int, warmup: int = 0, final: float = 0.0) -> Schedule:
    """Linear warm-up to ``value`` over ``warmup`` steps, then a cosine down to ``final`` at ``total``.

    .. math::
        \\eta_k = \\begin{cases} \\text{value}\\,(k+1)/w & k < w \\\\
        \\text{final} + \\tfrac12(\\text{value}-\\text{final})(1 + \\cos(\\pi\\,\\tfrac{k-w}{T-w})) & w \\le k < T \\\\
        \\text{final} & k \\ge T \\end{cases}

    Examples
    --------
    >>> s = warmup_cosine(1.0, total=10, warmup=2)
    >>> [round(s(k), 3) for k in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """
    func = "warmup_cosine"
    v = _positive(value, func, "value")
    t = _checks.integer(total, func=func, name="total", lo=1)
    w = _checks.integer(warmup, func=func, name="warmup", lo=0, hi=t - 1, hi_text="total - 1")
    f = _checks.real(final, func=func, name="final", lo=0.0, hi=v)

    def fn(k: int) -> float:
        if k < w:
            return v * (k + 1) / w
        if k >= t:
            return f
        return f + 0.5 * (v - f) * (1.0 + math.cos(math.pi * (k - w) / (t - w)))

    return Schedule(func, fn, {"value": v, "total": t, "warmup": w, "final": f})


def as_schedule(lr: float | Schedule, *, func: str, name: str = "lr") -> Schedule:
    """``lr`` as a schedule (a number becomes :func:`constant`); validates it."""
    if isinstance(lr, Schedule):
        return lr
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
        _checks.real(lr, func=func, name=name, lo=0.0, lo_open=True)
        return constant(lr)
    _checks._fail(func, f"'{name}' must be a number in (0, inf) or a Schedule; got {lr!r} ({type(lr).__name__})",
                  _checks.InputTypeError)
