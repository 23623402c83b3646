"""Optimisers as pairs of pure functions, composed with :func:`chain` (house rule R9).

A :class:`Transform` is ``(init, update)``: ``state = init(params)`` and
``updates, state = update(grads, state, params)``. Updates are *added* to the parameters
(:func:`apply_updates`), so a learning rate enters as ``scale(-lr)``. Nothing is modified in
place: every call returns new arrays and a new state (a NamedTuple per algorithm), so a
run can be replayed, compared or rolled back. Parameters may be one array or a dict / list /
tuple of arrays, of any array-API library (NumPy, torch on any device, …).

Where a training loop has no use for the old values, :func:`step_inplace` does
``update`` and ``apply_updates`` in one go, writing into the parameters and reusing the
state's arrays: fewer passes over memory and no fresh arrays. Transforms that carry an
``inplace`` function (``sgd``, ``scale``, ``scale_by_schedule``, ``adam``, ``scale_by_adam``)
fuse the two; any other transform is run purely and its update added in place.

Hot paths build each new array once and then work on it in place (``*=``, ``+=``), so an
Adam step over n parameters makes three fresh arrays and no other temporaries; Adam's and
RMSprop's leaves are kernels of :mod:`._kernels` (on NumPy: cache-sized chunks shared among a
few threads, bitwise equal to the plain formula).
"""

from __future__ import annotations

import math
import numbers
import sys
from contextlib import nullcontext
from typing import Any, NamedTuple, Protocol

import numpy as np

from .. import _array, _checks
from . import _kernels
from ._tree import Tree, is_leaf, leaves, tree_map
from .schedules import Schedule, as_schedule

__all__ = [
    "EmptyState", "ScaleByAdamState", "ScaleByRmsState", "ScaleByScheduleState", "TraceState", "Transform",
    "adam", "adamw", "add_decayed_weights", "apply_updates", "chain", "momentum", "nesterov", "rmsprop", "scale",
    "scale_by_adam", "scale_by_learning_rate", "scale_by_rms", "scale_by_schedule", "sgd", "step_inplace", "trace",
]


class InitFn(Protocol):
    def __call__(self, params: Tree) -> Any: ...


class UpdateFn(Protocol):
    def __call__(self, updates: Tree, state: Any, params: Tree | None = None) -> tuple[Tree, Any]: ...


class InplaceFn(Protocol):
    def __call__(self, updates: Tree, state: Any, params: Tree) -> Any: ...


class Transform(NamedTuple):
    """A gradient transformation: ``init(params) -> state``, ``update(g, state, params) -> (u, state)``.

    ``inplace``, when given, is ``update`` and ``apply_updates`` fused: ``inplace(g, state,
    params) -> state`` adds the update to ``params`` in place and may write the new state over
    the old one's arrays (see :func:`step_inplace`, which is how it is meant to be called).
    """

    init: InitFn
    update: UpdateFn
    inplace: InplaceFn | None = None


class EmptyState(NamedTuple):
    """State of a stateless transform."""


class ScaleByScheduleState(NamedTuple):
    """``step``: number of updates made so far (a Python int)."""

    step: int


class TraceState(NamedTuple):
    """``trace``: the momentum buffer t_k = g_k + β t_{k−1} (same tree as the parameters)."""

    trace: Tree


class ScaleByRmsState(NamedTuple):
    """``nu``: the EMA of squared gradients."""

    nu: Tree


class ScaleByAdamState(NamedTuple):
    """``step`` updates made so far; ``mu``, ``nu``: EMAs of the gradients and of their squares."""

    step: int
    mu: Tree
    nu: Tree


def _real(value: Any, func: str, name: str, lo: float, hi: float = math.inf, lo_open: bool = False,
          hi_open: bool = False) -> float:
    return _checks.real(value, func=func, name=name, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open)


def _zeros(params: Tree) -> Tree:
    return tree_map(lambda p: _array.namespace(p).zeros_like(p), params)


def _no_state(params: Tree) -> EmptyState:
    del params
    return EmptyState()


def _part(like: Tree, results: Tree, i: int) -> Tree:
    """The tree of the ``i``-th items of ``results``, a tree shaped like ``like`` with tuple leaves."""
    return tree_map(lambda _, r: r[i], like, results)


def scale(factor: float) -> Transform:
    """u = factor · g.

    Examples
    --------
    >>> import numpy as np
    >>> t = scale(-0.5)
    >>> t.update(np.array([2.0, 4.0]), t.init(None))[0].tolist()
    [-1.0, -2.0]
    """
    if not isinstance(factor, numbers.Real) or isinstance(factor, bool) or not math.isfinite(factor):
        _checks._fail("scale", f"'factor' must be a finite number; got {factor!r}", _checks.InputTypeError)
    c = float(factor)

    def update(updates: Tree, state: Any, params: Tree | None = None) -> tuple[Tree, Any]:
        del params
        return tree_map(lambda g: g * c, updates), state

    def inplace(updates: Tree, state: Any, params: Tree) -> Any:
        tree_map(lambda g, p: _add_scaled(p, g, c), updates, params)
        return state

    return Transform(_no_state, update, inplace)


def scale_by_schedule(schedule: Schedule) -> Transform:
    """u_k = schedule(k) · g_k, k counting the updates from 0."""
    if not isinstance(schedule, Schedule):
        _checks._fail("scale_by_schedule", f"'schedule' must be a Schedule; got {schedule!r}",
                      _checks.InputTypeError)

    def init(params: Tree) -> ScaleByScheduleState:
        del params
        return ScaleByScheduleState(0)

    def update(updates: Tree, state: ScaleByScheduleState, params: Tree | None = None
               ) -> tuple[Tree, ScaleByScheduleState]:
        del params
        c = float(schedule(state.step))
        return tree_map(lambda g: g * c, updates), ScaleByScheduleState(state.step + 1)

    def inplace(updates: Tree, state: ScaleByScheduleState, params: Tree) -> ScaleByScheduleState:
        c = float(schedule(state.step))
        tree_map(lambda g, p: _add_scaled(p, g, c), updates, params)
        return ScaleByScheduleState(state.step + 1)

    return Transform(init, update, inplace)


def scale_by_learning_rate(lr: float | Schedule) -> Transform:
    """u = −η_k · g: :func:`scale` (a number) or :func:`scale_by_schedule` (a Schedule), negated."""
    sched = as_schedule(lr, func="scale_by_learning_rate")
    if sched.name == "constant":
        return scale(-sched(0))
    return scale_by_schedule(Schedule(f"-{sched.name}", lambda k: -sched(k), sched.params))


def trace(decay: float = 0.9, *, nesterov: bool = False) -> Transform:
    """Momentum: t_k = g_k + β t_{k−1}; u_k = t_k, or g_k + β t_k with ``nesterov=True``.

    Followed by ``scale(-η)`` this is the heavy ball
    x_{k+1} = x_k − η∇f(x_k) + β(x_k − x_{k−1}) (Polyak), or Nesterov's accelerated
    gradient in Sutskever's form.
    """
    b = _real(decay, "trace", "decay", 0.0, 1.0, hi_open=True)

    def init(params: Tree) -> TraceState:
        return TraceState(_zeros(params))

    def _leaf(g: Any, t: Any) -> Any:
        t_new = t * b
        t_new += g
        return t_new

    def update(updates: Tree, state: TraceState, params: Tree | None = None) -> tuple[Tree, TraceState]:
        del params
        t_new = tree_map(_leaf, updates, state.trace)
        out = tree_map(_leaf, updates, t_new) if nesterov else t_new
        return out, TraceState(t_new)

    return Transform(init, update)


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8) -> Transform:
    """RMSprop's scaling: ν_k = ρ ν_{k−1} + (1 − ρ) g_k², u_k = g_k / (√ν_k + ε)."""
    func = "scale_by_rms"
    rho = _real(decay, func, "decay", 0.0, 1.0, hi_open=True)
    e = _real(eps, func, "eps", 0.0)

    def init(params: Tree) -> ScaleByRmsState:
        return ScaleByRmsState(_zeros(params))

    def update(updates: Tree, state: ScaleByRmsState, params: Tree | None = None
               ) -> tuple[Tree, ScaleByRmsState]:
        del params
        both = tree_map(lambda g, v: _kernels.rms(g, v, 1.0 - rho, e), updates, state.nu)
        return _part(updates, both, 1), ScaleByRmsState(_part(updates, both, 0))

    return Transform(init, update)


def _check_adam(func: str, b1: Any, b2: Any, eps: Any) -> tuple[float, float, float]:
    return (_real(b1, func, "b1", 0.0, 1.0, hi_open=True), _real(b2, func, "b2", 0.0, 1.0, hi_open=True),
            _real(eps, func, "eps", 0.0))


def _adam_init(params: Tree) -> ScaleByAdamState:
    return ScaleByAdamState(0, _zeros(params), _zeros(params))


def _adam_transform(b1: float, b2: float, eps: float, lr: Schedule | None) -> Transform:
    """Adam's direction m̂/(√v̂ + ε), times −η_k when a schedule ``lr`` is given."""

    def constants(step: int) -> tuple[float, float]:
        """(a, c) of step ``step`` + 1: η and both bias corrections folded into u = ±m/(√(a v) + c)."""
        c1, c2 = 1.0 - b1 ** (step + 1), 1.0 - b2 ** (step + 1)
        eta = 1.0 if lr is None else lr(step)
        return c1 * c1 / (c2 * eta * eta), c1 * eps / eta

    def update(updates: Tree, state: ScaleByAdamState, params: Tree | None = None
               ) -> tuple[Tree, ScaleByAdamState]:
        del params
        a, c = constants(state.step)
        leaf = tree_map(lambda g, m, v: _kernels.adam(g, m, v, 1.0 - b1, 1.0 - b2, a, c, lr is not None),
                        updates, state.mu, state.nu)
        return _part(updates, leaf, 2), ScaleByAdamState(state.step + 1, _part(updates, leaf, 0),
                                                         _part(updates, leaf, 1))

    def inplace(updates: Tree, state: ScaleByAdamState, params: Tree) -> ScaleByAdamState:
        a, c = constants(state.step)
        leaf = tree_map(lambda g, m, v, p: _kernels.adam_into(g, m, v, p, 1.0 - b1, 1.0 - b2, a, c, lr is not None),
                        updates, state.mu, state.nu, params)
        return ScaleByAdamState(state.step + 1, _part(updates, leaf, 0), _part(updates, leaf, 1))

    return Transform(_adam_init, update, inplace)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Transform:
    r"""Adam's scaling (Kingma & Ba, arXiv:1412.6980), without the learning rate.

    .. math::
        m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k,\quad v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2,\quad
        u_k = \frac{m_k/(1-\beta_1^k)}{\sqrt{v_k/(1-\beta_2^k)} + \varepsilon}

    Notes
    -----
    v_k is an EMA of g²: under isotropic noise of size σ on the parameters of a quadratic
    with Hessian H, E g_i² ≈ (Hx)_i² + σ² H_ii² (diagonal H), so √v̂/σ estimates |diag H|
    near the optimum and u ≈ (a damped) Newton step; ε decides where Adam turns into SGD
    (SPEC §2.1).
    """
    b1, b2, eps = _check_adam("scale_by_adam", b1, b2, eps)
    return _adam_transform(b1, b2, eps, None)


def add_decayed_weights(weight_decay: float) -> Transform:
    """u = g + λ · params (decoupled weight decay when placed before the learning rate)."""
    func = "add_decayed_weights"
    wd = _real(weight_decay, func, "weight_decay", 0.0)

    def update(updates: Tree, state: Any, params: Tree | None = None) -> tuple[Tree, Any]:
        if params is None:
            _checks._fail(func, "'params' must be given to update(); got None (weight decay reads them)")
        return tree_map(lambda g, p: g + wd * p, updates, params), state

    return Transform(_no_state, update)


def chain(*transforms: Transform) -> Transform:
    """Compose transforms: the updates flow through them left to right; the state is a tuple.

    Examples
    --------
    >>> import numpy as np
    >>> t = chain(trace(0.5), scale(-0.1))
    >>> state = t.init(np.zeros(2))
    >>> u, state = t.update(np.ones(2), state)
    >>> u, state = t.update(np.ones(2), state)
    >>> u.round(12).tolist()
    [-0.15, -0.15]
    """
    for i, t in enumerate(transforms):
        if not isinstance(t, Transform):
            _checks._fail("chain", f"'transforms[{i}]' must be a Transform; got {t!r} ({type(t).__name__})",
                          _checks.InputTypeError)
    n = len(transforms)

    def init(params: Tree) -> tuple[Any, ...]:
        return tuple(t.init(params) for t in transforms)

    def update(updates: Tree, state: Any, params: Tree | None = None) -> tuple[Tree, tuple[Any, ...]]:
        if not isinstance(state, tuple) or len(state) != n:
            got = f"{len(state)} states" if isinstance(state, tuple) else f"{type(state).__name__}"
            _checks._fail("chain", f"'state' must hold one state per transform ({n}); got {got}. "
                                   "Make sure you have called init first")
        new_state = []
        for t, s in zip(transforms, state, strict=True):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return Transform(init, update)


def apply_updates(params: Tree, updates: Tree) -> Tree:
    """params + updates, leaf by leaf (new arrays; the inputs are not modified)."""
    return tree_map(lambda p, u: p + u, params, updates)


def _add_scaled(p: Any, g: Any, c: float) -> None:
    """p += c·g in place, in one pass where the library has one (torch ``add_``, BLAS ``axpy``)."""
    if _array.is_torch(p):
        p.add_(g, alpha=c)
    elif not _kernels.axpy_into(p, g, c):
        p += g * c


def _check_inplace(grads: Tree, params: Tree) -> list[Any]:
    """The parameter arrays, once each is known to be writeable in place with a gradient of its shape."""
    func = "step_inplace"
    gl, pl = leaves(grads), leaves(params)
    if len(gl) != len(pl):
        _checks._fail(func, f"'grads' must have one array per parameter array ({len(pl)}); got {len(gl)}")
    for i, (g, p) in enumerate(zip(gl, pl, strict=True)):
        where = "" if is_leaf(params) else f" (leaf {i})"
        if isinstance(p, np.ndarray):
            if not p.flags.writeable:
                _checks._fail(func, f"'params'{where} must be writeable; got a read-only array")
        elif not _array.is_torch(p):
            _checks._fail(func, f"'params'{where} must be NumPy arrays or torch tensors, updated in place; got "
                                f"{type(p).__name__} (use update and apply_updates for immutable arrays)",
                          _checks.InputTypeError)
        if tuple(getattr(g, "shape", ())) != tuple(p.shape):
            _checks._fail(func, f"'grads'{where} must have the shape of 'params' {tuple(p.shape)}; "
                                f"got {tuple(getattr(g, 'shape', ()))}")
    return pl


def step_inplace(transform: Transform, grads: Tree, state: Any, params: Tree) -> Any:
    """One optimiser step written into ``params``: ``update`` and ``apply_updates`` without new arrays.

    ``params`` (NumPy arrays or torch tensors; one array or a dict / list / tuple of them) get
    the update added in place, and the returned state may reuse the arrays of the ``state``
    given, which must not be used again. Transforms with an ``inplace`` function fuse the two
    steps (Adam on NumPy: one chunked, threaded pass over g, m, v and the parameters,
    bitwise equal to ``update`` + ``apply_updates``; SGD and ``scale``: p += −η g in one pass,
    BLAS ``axpy`` on NumPy and ``add_`` with ``alpha`` on torch, equal to the two-step result
    but for the rounding of the product, which they may fuse into the sum); others run
    ``update`` and add its result in place. On torch tensors the
    step runs under ``torch.no_grad()``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([1.0, -2.0])
    >>> tx = sgd(0.5)
    >>> state = step_inplace(tx, 2 * x, tx.init(x), x)  # ∇(‖x‖²) = 2x
    >>> x.tolist()
    [0.0, 0.0]
    >>> x, tx = np.array([3.0, -0.5]), adam(0.1)
    >>> state = step_inplace(tx, x, tx.init(x), x)  # Adam's first step moves each entry by lr
    >>> np.round(x, 6).tolist(), state.step
    ([2.9, -0.4], 1)
    """
    if not isinstance(transform, Transform):
        _checks._fail("step_inplace", f"'transform' must be a Transform; got {type(transform).__name__}",
                      _checks.InputTypeError)
    pl = _check_inplace(grads, params)
    guard = sys.modules["torch"].no_grad() if pl and _array.is_torch(pl[0]) else nullcontext()
    with guard:
        if transform.inplace is not None:
            return transform.inplace(grads, state, params)
        updates, state = transform.update(grads, state, params)
        tree_map(_add_into, params, updates)
    return state


def _add_into(p: Any, u: Any) -> None:
    p += u


def sgd(lr: float | Schedule) -> Transform:
    """Gradient descent, x ← x − η_k g (with stochastic gradients: SGD).

    Examples
    --------
    >>> import numpy as np
    >>> t = sgd(0.1)
    >>> t.update(np.array([1.0, -2.0]), t.init(None))[0].tolist()
    [-0.1, 0.2]
    """
    return scale_by_learning_rate(as_schedule(lr, func="sgd"))


def momentum(lr: float | Schedule, beta: float = 0.9) -> Transform:
    """Heavy ball (Polyak): x_{k+1} = x_k − η∇f(x_k) + β(x_k − x_{k−1}).

    Notes
    -----
    On a quadratic with Hessian spectrum in [μ, L], η = 4/(√L + √μ)² and
    β = ((√κ − 1)/(√κ + 1))² give the rate (√κ − 1)/(√κ + 1), κ = L/μ.
    """
    sched = as_schedule(lr, func="momentum")
    return chain(trace(_real(beta, "momentum", "beta", 0.0, 1.0, hi_open=True)), scale_by_learning_rate(sched))


def nesterov(lr: float | Schedule, beta: float = 0.9) -> Transform:
    """Nesterov's accelerated gradient (Sutskever's form, as in torch.optim.SGD(nesterov=True)).

    Notes
    -----
    On a μ-strongly convex, L-smooth problem η = 1/L and β = (√κ − 1)/(√κ + 1) give
    f(x_k) − f* = O((1 − 1/√κ)^k).
    """
    sched = as_schedule(lr, func="nesterov")
    b = _real(beta, "nesterov", "beta", 0.0, 1.0, hi_open=True)
    return chain(trace(b, nesterov=True), scale_by_learning_rate(sched))


def rmsprop(lr: float | Schedule, decay: float = 0.9, eps: float = 1e-8) -> Transform:
    """RMSprop: x ← x − η g / (√ν + ε), ν the EMA of g² with rate ``decay``."""
    sched = as_schedule(lr, func="rmsprop")
    return chain(scale_by_rms(decay, eps), scale_by_learning_rate(sched))


def adam(lr: float | Schedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Transform:
    """Adam: ``chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))``, fused into one pass.

    The fused form folds η and both bias corrections into the denominator, so a step over
    n parameters makes three fresh arrays; its updates equal the chain's (tested), and it
    matches ``torch.optim.Adam``.

    Examples
    --------
    >>> import numpy as np
    >>> t = adam(0.1)
    >>> u, state = t.update(np.array([3.0, -0.5]), t.init(np.zeros(2)))
    >>> np.round(u, 6).tolist(), state.step
    ([-0.1, 0.1], 1)
    """
    sched = as_schedule(lr, func="adam")
    b1, b2, eps = _check_adam("adam", b1, b2, eps)
    return _adam_transform(b1, b2, eps, sched)


def adamw(lr: float | Schedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-2) -> Transform:
    """AdamW (Loshchilov & Hutter, arXiv:1711.05101): Adam with decoupled weight decay.

    ``chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay), scale_by_learning_rate(lr))``,
    as ``torch.optim.AdamW``: x ← x − η(m̂/(√v̂ + ε) + λx).
    """
    sched = as_schedule(lr, func="adamw")
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay), scale_by_learning_rate(sched))
