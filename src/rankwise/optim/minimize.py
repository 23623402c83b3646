"""Run an optimiser to a stopping rule and keep the whole history (SPEC §2.1).

:func:`minimize` drives a :class:`~rankwise.optim.Transform` (or Newton's method) on a
problem from :mod:`rankwise.optim.problems` or on a plain ``fun`` with its ``grad``. It
returns a frozen :class:`OptimizeResult` whose :class:`History` holds f(x_k), ‖∇f(x_k)‖,
‖x_k − x_{k−1}‖ and, when x* is known, ‖x_k − x*‖ for k = 0 … iterations, ready for
:func:`rankwise.rates.analyze`.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np

from .. import _array, _checks
from ..random import as_generator
from . import _tree
from .schedules import Schedule, as_schedule
from .transforms import Transform, adam, adamw, apply_updates, momentum, nesterov, rmsprop, sgd

__all__ = ["METHODS", "History", "IterInfo", "Method", "OptimizeError", "OptimizeResult", "Status", "Stop",
           "batches", "minimize"]


class Status(enum.Enum):
    """Why a run stopped; each member's value is the message for humans."""

    GTOL = "converged: ‖∇f(x_k)‖ fell below gtol"
    FTOL = "converged: |f(x_k) − f(x_{k−1})| fell below ftol"
    XTOL = "converged: ‖x_k − x_{k−1}‖ fell below xtol"
    ALL = "converged: every requested tolerance was met"
    CALLBACK = "stopped by the callback"
    MAX_ITER = "the maximum number of iterations was reached; increase max_iter or loosen the tolerances"
    MAX_TIME = "the time budget stop.max_time ran out; raise it or loosen the tolerances"
    DIVERGED = "diverged: the loss or the gradient became non-finite; lower the learning rate"
    STALLED = "stopped: the step is zero at this precision, x cannot change any more"
    LINE_SEARCH = ("Newton's line search found no decrease; the problem may be non-convex or badly scaled, "
                   "or x is already at rounding level")

    @property
    def success(self) -> bool:
        """True for the tolerance stops and a callback's stop."""
        return self in (Status.GTOL, Status.FTOL, Status.XTOL, Status.ALL, Status.CALLBACK, Status.STALLED)


class OptimizeError(_checks.RankwiseError, RuntimeError):
    """A run failed and ``raise_on_failure=True`` was asked; ``.result`` holds the run."""

    def __init__(self, result: OptimizeResult) -> None:
        super().__init__(f"minimize: {result.status.value} (after {result.iterations} iterations, "
                         f"method {result.method!r})")
        self.result = result


@dataclass(frozen=True, slots=True)
class Stop:
    """Stopping rules (SPEC §2.1): any subset of the tolerances, plus a time budget.

    Parameters
    ----------
    xtol : float, optional
        Stop when ‖x_k − x_{k−1}‖ < xtol.
    ftol : float, optional
        Stop when |f(x_k) − f(x_{k−1})| < ftol.
    gtol : float, optional
        Stop when ‖∇f(x_k)‖ < gtol.
    max_time : float, optional
        Seconds of wall time.
    require : {"any", "all"}, default="any"
        Whether one of the given tolerances suffices or all must hold at the same iterate.
    """

    xtol: float | None = None
    ftol: float | None = None
    gtol: float | None = None
    max_time: float | None = None
    require: Literal["any", "all"] = "any"

    def __post_init__(self) -> None:
        for name in ("xtol", "ftol", "gtol", "max_time"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, _checks.real(v, func="Stop", name=name, lo=0.0))
        _checks.choice(self.require, ("any", "all"), func="Stop", name="require")

    @property
    def tolerances(self) -> dict[str, float]:
        return {k: v for k in ("xtol", "ftol", "gtol") if (v := getattr(self, k)) is not None}


def _frozen(values: list[float]) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, slots=True, eq=False)
class History:
    """Per-iterate records, index k = 0 (the start) … iterations (read-only float64 arrays).

    ``step_norm[0]`` is NaN (there is no x_{−1}); ``error`` is None when x* is unknown.
    Non-finite values of a diverged run are kept as they were.
    """

    f: np.ndarray
    grad_norm: np.ndarray
    step_norm: np.ndarray
    error: np.ndarray | None = None


class IterInfo(NamedTuple):
    """What the callback sees after each iteration; returning True stops the run."""

    iteration: int
    x: Any
    f: float
    grad_norm: float
    step_norm: float
    error: float | None


@dataclass(frozen=True, slots=True, eq=False)
class OptimizeResult:
    """The outcome of :func:`minimize`.

    Attributes
    ----------
    x : array or tree
        The last iterate (the last one with a finite loss when the run diverged).
    f : float
        f(x).
    status : Status
        Why the run stopped; ``status.value`` is the message.
    iterations : int
        Number of iterations made.
    history : History
    method : str
        The method's name (``"custom"`` for a Transform passed in).
    options : mapping
        What the method used, including what ``lr=None`` resolved to.
    seconds : float
    """

    x: Any
    f: float
    status: Status
    iterations: int
    history: History
    method: str
    options: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def message(self) -> str:
        return self.status.value

    @property
    def success(self) -> bool:
        return self.status.success


@dataclass(frozen=True, slots=True)
class Method:
    """A registered method: its transform factory (None for Newton), default batch size and step."""

    name: str
    summary: str
    build: Callable[[Schedule], Transform] | None
    batch: int | None = None
    default_lr: float | None = None  # None: from the problem's smoothness, 1/L


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("gd", "gradient descent on the full gradient", sgd),
    Method("sgd", "stochastic gradient descent, one random sample per step", sgd, batch=1),
    Method("minibatch", "mini-batch SGD, the mean gradient over b random samples (default b = 32)", sgd, batch=32),
    Method("momentum", "heavy ball, β = 0.9", momentum),
    Method("nesterov", "Nesterov's accelerated gradient, β = 0.9", nesterov),
    Method("rmsprop", "RMSprop, ρ = 0.9", rmsprop, default_lr=1e-3),
    Method("adam", "Adam, β = (0.9, 0.999)", adam, default_lr=1e-3),
    Method("adamw", "AdamW, weight decay 0.01", adamw, default_lr=1e-3),
    Method("newton", "Newton's method with a backtracking line search (damped when H is singular)", None),
)}


def batches(n: int, size: int, *, rng: Any = None, shuffle: bool = True, replace: bool = False
            ) -> Iterator[np.ndarray]:
    """Index batches of ``size`` over ``range(n)``, epoch after epoch, forever.

    Each epoch is a fresh permutation (``shuffle=True``) or 0 … n−1 in order, cut into
    ⌈n/size⌉ batches (the last one may be smaller), so every sample is used once per epoch.
    With ``replace=True`` every batch is drawn independently and uniformly with
    replacement instead (textbook SGD: each step's gradient is unbiased given the past,
    with variance σ²/b; reshuffling converges faster than that).

    Examples
    --------
    >>> it = batches(5, 2, shuffle=False)
    >>> [next(it).tolist() for _ in range(4)]
    [[0, 1], [2, 3], [4], [0, 1]]
    """
    n = _checks.integer(n, func="batches", name="n", lo=1)
    size = _checks.integer(size, func="batches", name="size", lo=1, hi=n, hi_text="n")
    return _batches(n, size, as_generator(rng, func="batches"), bool(shuffle), bool(replace))


def _batches(n: int, size: int, gen: np.random.Generator, shuffle: bool, replace: bool) -> Iterator[np.ndarray]:
    while replace:
        yield gen.integers(0, n, size=size)
    while True:
        order = gen.permutation(n) if shuffle else np.arange(n)
        for s in range(0, n, size):
            yield order[s:s + size]


class _Objective(NamedTuple):
    loss: Callable[[Any], float]
    grad: Callable[[Any], Any]
    batch_grad: Callable[[Any, Any], Any] | None
    n_samples: int | None
    hessian: Callable[[Any], Any] | None
    hvp: Callable[[Any, Any], Any] | None
    problem: Any


def _objective(fun: Any, grad: Any, hessian: Any, hvp: Any) -> _Objective:
    func = "minimize"
    is_problem = hasattr(fun, "loss") and hasattr(fun, "gradient")
    if not is_problem and not callable(fun):
        _checks._fail(func, f"'fun' must be a callable f(x) or a problem with .loss and .gradient; got "
                            f"{type(fun).__name__}", _checks.InputTypeError)
    for name, f in (("grad", grad), ("hessian", hessian), ("hvp", hvp)):
        if f is not None and not callable(f):
            _checks._fail(func, f"'{name}' must be callable; got {type(f).__name__}", _checks.InputTypeError)
    if not is_problem and grad is None:
        _checks._fail(func, "'grad' must be given when 'fun' is a plain function; got None "
                            "(or pass a problem with .loss and .gradient)")
    loss = getattr(fun, "_loss", fun.loss) if is_problem else fun  # problems' unchecked bodies: x0 is checked here
    g = _checked_grad(grad) if grad is not None else getattr(fun, "_gradient", fun.gradient)
    n = getattr(fun, "n_samples", None) if is_problem else None
    bg = getattr(fun, "gradient_batch", None) if n is not None else None
    H = hessian if hessian is not None else getattr(fun, "hessian", None)
    Hv = hvp if hvp is not None else getattr(fun, "hvp", None)
    return _Objective(loss, g, bg, n, None if H is None else _checked_hessian(H),
                      None if Hv is None else _checked_hvp(Hv), fun if is_problem else None)


def _checked_grad(grad: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The user's ``grad``, refusing an output whose entries or shapes differ from x's (never broadcast)."""
    def checked(x: Any) -> Any:
        g = grad(x)
        if _tree.structure(g) != _tree.structure(x) and (why := _tree.mismatch(g, x)) is not None:
            _checks._fail("minimize", f"'grad' returned {why}")
        return g
    return checked


def _checked_hessian(hessian: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``hessian``, refusing anything but a (d, d) array for a vector x of d entries."""
    def checked(x: Any) -> Any:
        H = hessian(x)
        d = int(x.shape[0])
        if tuple(getattr(H, "shape", ())) != (d, d):
            _checks._fail("minimize", f"'hessian' must return an array of shape (d, d) = ({d}, {d}) for x of "
                                      f"shape ({d},); got {_checks.describe(H)}")
        return H
    return checked


def _checked_hvp(hvp: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``hvp``, refusing a product whose shape is not the vector's."""
    def checked(x: Any, v: Any) -> Any:
        out = hvp(x, v)
        if tuple(getattr(out, "shape", ())) != tuple(v.shape):
            _checks._fail("minimize", f"'hvp' must return an array of the vector's shape {tuple(v.shape)}; got "
                                      f"{_checks.describe(out)}")
        return out
    return checked


def _check_x0(x0: Any, obj: _Objective) -> Any:
    func = "minimize"
    if obj.problem is not None:
        d = getattr(obj.problem, "n_features", None)
        x = _checks.array(x0, func=func, name="x0", ndim=1)
        if d is not None and x.shape[0] != d:
            _checks._fail(func, f"'x0' must have {d} entries (the problem's n_features); got shape {tuple(x.shape)}")
        ref = getattr(obj.problem, "X", getattr(obj.problem, "A", None))
        if ref is not None:
            _checks.same_namespace(func, x0=x, data=ref)
        return x
    return _tree.tree_map(lambda a: _checks.array(a, func=func, name="x0", ndim=(0, 1, 2, 3, 4)), x0)


def _resolve_lr(lr: Any, spec: Method, obj: _Objective, batch: int | None) -> float | Schedule:
    func = "minimize"
    if lr is not None:
        sched = as_schedule(lr, func=func)
        return sched if isinstance(lr, Schedule) else sched(0)
    if spec.default_lr is not None:
        return spec.default_lr
    smooth = getattr(obj.problem, "smoothness", None)
    if smooth is None:
        _checks._fail(func, f"'lr' must be given for method {spec.name!r} when the problem does not know its "
                            "smoothness L; got None")
    L = smooth()[1]
    n = obj.n_samples
    if batch is not None and n is not None and batch < n and hasattr(obj.problem, "sample_smoothness"):
        # expected smoothness of b-sample mini-batches (Gower et al. 2019, arXiv:1901.09401)
        L = n * (batch - 1) / (batch * (n - 1)) * L + (n - batch) / (batch * (n - 1)) * obj.problem.sample_smoothness()
    if not (L > 0 and math.isfinite(L)):
        _checks._fail(func, f"'lr' must be given: the problem's smoothness L = {L!r} gives no step 1/L")
    return 1.0 / L


def _resolve_batch(batch: Any, spec: Method | None, obj: _Objective) -> int | None:
    func = "minimize"
    b = batch if batch is not None else (spec.batch if spec is not None else None)
    if b is None:
        return None
    if obj.n_samples is None or obj.batch_grad is None:
        what = f"method {spec.name!r}" if spec is not None and batch is None else "'batch'"
        _checks._fail(func, f"{what} needs a problem with samples (n_samples and gradient_batch); got "
                            f"{type(obj.problem if obj.problem is not None else None).__name__}")
    b = _checks.integer(b, func=func, name="batch", lo=1)
    if batch is not None and b > obj.n_samples:
        _checks._fail(func, f"'batch' must be at most the number of samples N = {obj.n_samples}; got {b} "
                            f"(batch = N is the full gradient)")
    return None if b >= obj.n_samples else b


def _iterations(max_iter: Any, epochs: Any, batch: int | None, n: int | None) -> int:
    func = "minimize"
    if epochs is None:
        return 1000 if max_iter is None else _checks.integer(max_iter, func=func, name="max_iter", lo=0)
    if max_iter is not None:
        _checks._fail(func, f"give at most one of 'max_iter', 'epochs'; got max_iter={max_iter!r}, epochs={epochs!r}")
    e = _checks.integer(epochs, func=func, name="epochs", lo=1)
    steps = 1 if batch is None or n is None else -(-n // batch)
    return e * steps


class _Recorder:
    """Accumulates the history and decides when to stop."""

    def __init__(self, stop: Stop, x_star: Any, callback: Any) -> None:
        self.stop, self.x_star, self.callback = stop, x_star, callback
        self.f: list[float] = []
        self.g: list[float] = []
        self.s: list[float] = []
        self.e: list[float] = []
        self.t0 = time.perf_counter()

    def record(self, x: Any, f: float, g: Any, x_prev: Any) -> float:
        gn = _tree.norm(g)
        sn = math.nan if x_prev is None else _tree.norm(_tree.sub(x, x_prev))
        self.f.append(f)
        self.g.append(gn)
        self.s.append(sn)
        if self.x_star is not None:
            self.e.append(_tree.norm(_tree.sub(x, self.x_star)))
        return gn

    def finite(self) -> bool:
        return math.isfinite(self.f[-1]) and math.isfinite(self.g[-1])

    def verdict(self, k: int, x: Any) -> Status | None:
        if not self.finite():
            return Status.DIVERGED
        tol = self.stop.tolerances
        met = {}
        if "gtol" in tol:
            met["gtol"] = self.g[-1] < tol["gtol"]
        if k > 0 and "ftol" in tol:
            met["ftol"] = abs(self.f[-1] - self.f[-2]) < tol["ftol"]
        if k > 0 and "xtol" in tol:
            met["xtol"] = self.s[-1] < tol["xtol"]
        if met and self.stop.require == "all" and len(met) == len(tol) and all(met.values()):
            return Status.ALL
        if self.stop.require == "any":
            for name in ("gtol", "ftol", "xtol"):
                if met.get(name):
                    return Status[name.upper()]
        if self.callback is not None:
            info = IterInfo(k, x, self.f[-1], self.g[-1], self.s[-1], self.e[-1] if self.e else None)
            if self.callback(info):
                return Status.CALLBACK
        if self.stop.max_time is not None and time.perf_counter() - self.t0 > self.stop.max_time:
            return Status.MAX_TIME
        return None

    def history(self) -> History:
        return History(_frozen(self.f), _frozen(self.g), _frozen(self.s),
                       _frozen(self.e) if self.x_star is not None else None)


def _evaluate(obj: _Objective, x: Any) -> tuple[float, Any]:
    with np.errstate(all="ignore"):
        f = float(obj.loss(x))
        return f, obj.grad(x)


def _first_order(obj: _Objective, tx: Transform, x: Any, rec: _Recorder, max_iter: int,
                 sampler: Iterator[np.ndarray] | None) -> tuple[Any, float, Status, int]:
    f, g = _evaluate(obj, x)
    rec.record(x, f, g, None)
    status = rec.verdict(0, x)
    state = tx.init(x)
    best = (x, f)
    k = 0
    while status is None and k < max_iter:
        k += 1
        with np.errstate(all="ignore"):
            gk = g if sampler is None else obj.batch_grad(x, next(sampler))  # type: ignore[misc]
            u, state = tx.update(gk, state, x)
            x_new = apply_updates(x, u)
        f, g = _evaluate(obj, x_new)
        with np.errstate(all="ignore"):
            rec.record(x_new, f, g, x)
        x = x_new
        if rec.finite():
            best = (x, f)
        status = rec.verdict(k, x)
    return best[0], best[1], status or Status.MAX_ITER, k


def _newton_direction(obj: _Objective, x: Any, g: Any) -> Any:
    """d with (H + λI) d = −g (a direct solve, or CG on Hessian-vector products), λ raised until d descends."""
    xp = _array.namespace(x)
    gg = _tree.vdot(g, g)
    lam = 0.0
    for _ in range(12):
        try:
            with np.errstate(all="ignore"):
                if obj.hessian is not None:
                    H = obj.hessian(x)
                    if lam:
                        H = H + lam * xp.eye(H.shape[0], dtype=H.dtype, device=_array.device(H))
                    d = xp.linalg.solve(H, -g[:, None])[:, 0]
                else:
                    d = _cg(lambda v, lam=lam: obj.hvp(x, v) + lam * v, -g, math.sqrt(gg))  # type: ignore[misc]
        except _checks.RankwiseError:
            raise
        except (ValueError, RuntimeError):  # singular H (numpy's LinAlgError is a ValueError, torch's a RuntimeError)
            d = None
        if d is not None:
            dg = _tree.vdot(d, g)
            if math.isfinite(dg) and dg < 0:
                return d
        lam = max(10.0 * lam, 1e-8 * math.sqrt(gg) + 1e-12)
    return -g


def _cg(apply: Callable[[Any], Any], b: Any, gnorm: float, max_iter: int = 200) -> Any:
    """Conjugate gradients for A d = b to the Newton-CG forcing tolerance min(½, ‖b‖)·‖b‖."""
    xp = _array.namespace(b)
    tol = min(0.5, gnorm) * gnorm
    d = xp.zeros_like(b)
    r = b
    p = r
    rr = _tree.vdot(r, r)
    for _ in range(max_iter):
        Ap = apply(p)
        pAp = _tree.vdot(p, Ap)
        if pAp <= 0:  # negative curvature: keep what descends
            return d if _tree.vdot(d, d) > 0 else b
        alpha = rr / pAp
        d = d + alpha * p
        r = r - alpha * Ap
        rr_new = _tree.vdot(r, r)
        if math.sqrt(rr_new) <= tol:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return d


def _line_search(obj: _Objective, x: Any, f: float, d: Any, slope: float) -> tuple[Any, float] | None:
    """Backtracking from t = 1 until Armijo's f(x + td) ≤ f + 10⁻⁴·t·⟨∇f, d⟩ holds (to rounding)."""
    slack = 16.0 * _array.eps(x) * abs(f)
    t = 1.0
    for _ in range(40):
        x_new = x + t * d
        with np.errstate(all="ignore"):
            f_new = float(obj.loss(x_new))
        if f_new <= f + 1e-4 * t * slope + slack:
            return x_new, f_new
        t *= 0.5
    return None


def _newton(obj: _Objective, x: Any, rec: _Recorder, max_iter: int) -> tuple[Any, float, Status, int]:
    f, g = _evaluate(obj, x)
    rec.record(x, f, g, None)
    status = rec.verdict(0, x)
    k = 0
    while status is None and k < max_iter:
        d = _newton_direction(obj, x, g)
        found = _line_search(obj, x, f, d, _tree.vdot(g, d))
        if found is None:
            return x, f, Status.LINE_SEARCH, k
        k += 1
        x_new = found[0]
        f, g = _evaluate(obj, x_new)
        rec.record(x_new, f, g, x)
        x = x_new
        status = rec.verdict(k, x) or (Status.STALLED if rec.s[-1] == 0 else None)
    return x, f, status or Status.MAX_ITER, k


def minimize(fun: Any, x0: Any, *, grad: Callable[[Any], Any] | None = None, method: str | Transform = "gd",
             lr: float | Schedule | None = None, batch: int | None = None, epochs: int | None = None,
             shuffle: bool = True, replace: bool = False, stop: Stop | None = None, max_iter: int | None = None,
             rng: Any = None,
             callback: Callable[[IterInfo], Any] | None = None, x_star: Any = None,
             hessian: Callable[[Any], Any] | None = None, hvp: Callable[[Any, Any], Any] | None = None,
             raise_on_failure: bool = False) -> OptimizeResult:
    """Minimise ``fun`` from ``x0`` and record the run.

    Parameters
    ----------
    fun : problem or callable
        A problem (:class:`LinearRegression`, :class:`LogisticRegression`, :class:`Quadratic`
        or anything with ``.loss`` and ``.gradient``), or a function f(x) → float.
    x0 : array or tree of arrays
        The start; a problem takes a vector of its ``n_features``.
    grad : callable, optional
        ∇f(x) (required with a plain ``fun``); it must return a tree of x's structure and leaf
        shapes (a missing entry or a shape that would broadcast raises ``ValueError``).
    method : str or Transform, default="gd"
        A name in :data:`METHODS` or any :class:`Transform` (e.g. ``optim.momentum(0.1, 0.95)``).
    lr : float or Schedule, optional
        The step η. Default: 1/L from the problem's smoothness for the gradient methods (for
        mini-batches of size b, the expected smoothness L(b) of Gower et al. 2019), 1e-3 for
        the adaptive ones; what was used is in ``result.options["lr"]``. Ignored by Newton.
    batch : int, optional
        Mini-batch size b for stochastic steps (``"sgd"``: 1, ``"minibatch"``: 32, or N when
        the data has fewer samples); b = N means the full gradient, b > N is refused.
    epochs : int, optional
        Passes over the data (instead of ``max_iter``): ⌈N/b⌉ steps each.
    shuffle : bool, default=True
        A new permutation every epoch (else the samples in order).
    replace : bool, default=False
        Draw every batch independently with replacement (see :func:`batches`).
    stop : Stop, optional
        Tolerances (xtol, ftol, gtol, any or all) and a time budget.
    max_iter : int, default=1000
    rng : None, int or Generator
        Seeds the sampling of stochastic methods.
    callback : callable, optional
        Called with an :class:`IterInfo` after every iteration; a true return stops the run.
    x_star : array or tree, optional
        The minimiser, when known: the history then records ‖x_k − x*‖.
    hessian, hvp : callable, optional
        ∇²f(x) or (x, v) ↦ ∇²f(x)v for ``method="newton"`` (taken from the problem when it has them).
    raise_on_failure : bool, default=False
        Raise :class:`OptimizeError` when the run does not succeed (diverged, budget spent,
        line search failed) instead of returning the status.

    Returns
    -------
    OptimizeResult

    Notes
    -----
    The loss and the full gradient are evaluated at every iterate (stochastic methods
    included) so that the history and the tolerances refer to f itself. A non-finite loss
    or gradient ends the run with ``Status.DIVERGED``; the history keeps the bad values
    and ``x`` is the last finite iterate. Newton solves (H + λI)d = −∇f (λ = 0 unless H is
    singular or d does not descend), or runs CG on Hessian-vector products to the forcing
    tolerance min(½, ‖∇f‖)·‖∇f‖, then backtracks until Armijo's condition holds.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise.optim import Quadratic, Stop, minimize
    >>> q = Quadratic.with_spectrum([1.0, 10.0], rng=0)
    >>> res = minimize(q, np.zeros(2), lr=2 / 11, stop=Stop(gtol=1e-10), x_star=q.x_star)
    >>> res.status.name, res.iterations, bool(res.history.error[-1] < 1e-9)
    ('GTOL', 113, True)
    """
    func = "minimize"
    obj = _objective(fun, grad, hessian, hvp)
    x = _check_x0(x0, obj)
    if isinstance(method, Transform):
        spec, name = None, "custom"
    else:
        name = _checks.choice(method, METHODS, func=func, name="method")
        spec = METHODS[name]
    stop = Stop() if stop is None else stop
    if not isinstance(stop, Stop):
        _checks._fail(func, f"'stop' must be a Stop; got {type(stop).__name__}", _checks.InputTypeError)
    if callback is not None and not callable(callback):
        _checks._fail(func, f"'callback' must be callable; got {type(callback).__name__}", _checks.InputTypeError)
    if x_star is not None:
        x_star = _check_x0(x_star, obj) if obj.problem is not None else x_star
        if _tree.structure(x_star) != _tree.structure(x):
            _checks._fail(func, "'x_star' must have the structure and shapes of x0; got "
                                f"{_tree.structure(x_star)} and {_tree.structure(x)}")
    b = None if name == "newton" else _resolve_batch(batch, spec, obj)
    iters = _iterations(max_iter, epochs, b, obj.n_samples)
    options: dict[str, Any] = {"batch": b if b is not None else "full", "max_iter": iters}
    rec = _Recorder(stop, x_star, callback)
    if name == "newton":
        if not _tree.is_leaf(x) or (obj.hessian is None and obj.hvp is None):
            _checks._fail(func, "method 'newton' needs one vector x0 and a Hessian or Hessian-vector products "
                                "(hessian=, hvp=, or a problem that has them)")
        x, f, status, k = _newton(obj, x, rec, iters)
    else:
        if spec is None:
            tx = method  # a Transform
            if lr is not None:
                _checks._fail(func, "'lr' must be None when 'method' is a Transform (it carries its own step); "
                                    f"got {lr!r}")
        else:
            step = _resolve_lr(lr, spec, obj, b)
            options["lr"] = step
            tx = spec.build(as_schedule(step, func=func))  # type: ignore[misc]
        sampler = None
        if b is not None:
            assert obj.n_samples is not None  # _resolve_batch gave a batch only to a finite sum
            sampler = batches(obj.n_samples, b, rng=as_generator(rng, func=func), shuffle=bool(shuffle),
                              replace=bool(replace))
            options["sampling"] = "with replacement" if replace else ("shuffled" if shuffle else "in order")
        x, f, status, k = _first_order(obj, tx, x, rec, iters, sampler)  # type: ignore[arg-type]
    res = OptimizeResult(x, f, status, k, rec.history(), name, options, time.perf_counter() - rec.t0)
    if raise_on_failure and not res.success:
        raise OptimizeError(res)
    return res

