r"""How the learning rate should follow the batch size: SGD, SignSGD and Adam with its ε.

One step w ← w − ηu on a loss that is locally quadratic (gradient g, Hessian H), with the
mini-batch gradient modelled as Gaussian, g̃_B ~ N(g, Σ/B), lowers the loss in expectation by

.. math::
    \mathbb{E}[\Delta L](\eta) = \eta\, g^\top \mathbb{E}[u] - \tfrac12 \eta^2\, \mathbb{E}[u^\top H u],

so the best step is η*(B) = gᵀE[u] / E[uᵀHu] and the best decrease ΔL*(B) = (gᵀE[u])² / (2 E[uᵀHu]).
:func:`optimal_lr` computes both exactly under that model for SGD (u = g̃), SignSGD (u = sign g̃)
and Adam read as SoftSignSGD (u = g̃/√(g̃² + ε²), elementwise), next to the closed-form
mean-field approximations of the blog posts, with the noise scales B_noise and B_simple and the
batch size at which the sign-type optimum peaks (the "surge"). :func:`adam_eps_range` says for
which ε Adam is neither sign-like nor SGD-like.

The statistics come from a model: :func:`noise_stats` reads g, Σ, B_simple and B_noise (with
bootstrap intervals) from per-example gradients, and :func:`two_batch_noise_scale` is McCandlish
et al.'s unbiased estimator from squared norms of mean gradients at two batch sizes.
:func:`measure_optimal_lr` measures η*(B) by Monte Carlo over sampled batches
(:func:`gaussian_sampler`, :func:`minibatch_sampler`), and :func:`lr_scaling_experiment` runs the
comparison on a least-squares and a quadratic problem.

References
----------
.. [1] S. McCandlish, J. Kaplan, D. Amodei, "An Empirical Model of Large-Batch Training",
   arXiv:1812.06162.
.. [2] S. Li et al., "Surge Phenomenon in Optimal Learning Rate and Batch Size Scaling",
   arXiv:2405.14578.
.. [3] Su Jianlin, "当Batch Size增大时，学习率该如何随之变化？" (kexue.fm/archives/10542) and
   "Adam的epsilon如何影响学习率的Scaling Law？" (kexue.fm/archives/10563).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.polynomial.legendre import leggauss

from .. import _array, _checks
from ..random import as_generator

__all__ = [
    "UPDATES", "EpsRange", "HorizonLR", "HorizonRow", "LRScalingReport", "LRScalingRow", "NoiseScale",
    "NoiseStats", "OptimalLR", "ProblemSummary", "SimulatedLR", "adam_eps_range", "gaussian_sampler",
    "lr_scaling_experiment", "measure_horizon_lr", "measure_optimal_lr", "minibatch_sampler", "noise_stats",
    "optimal_lr", "sgd_horizon_loss", "two_batch_noise_scale",
]

Update = Literal["sgd", "sign", "adam"]
UPDATES: tuple[str, ...] = ("sgd", "sign", "adam")
"""The update rules: ``"sgd"`` (u = g̃), ``"sign"`` (u = sign g̃), ``"adam"`` (u = g̃/√(g̃² + ε²))."""

Sampler = Callable[[float, int, np.random.Generator], np.ndarray]
"""``sampler(B, n, rng)`` returns ``n`` mini-batch gradients of batch size ``B``, shape (n, d)."""

_SQRT2PI = math.sqrt(2.0 * math.pi)
_SS_T_PANELS, _SS_X_PANELS, _SS_NODES, _SS_WIDTH = 16, 16, 12, 9.0  # soft-sign moments
_PL_PANELS, _PL_NODES = 16, 16  # Plackett integral of the sign cross-moment
_CHUNK = 1 << 11  # quadrature problems per vectorised block
_HM_MAX, _HM_TOL, _HM_RHO = 1500, 1e-10, 0.98  # Mehler series: terms, truncation bound, largest |ρ|


# --------------------------------------------------------------------------- results


def _frozen_arrays(obj: Any) -> None:
    """Store every ndarray field of a frozen dataclass as a read-only float64 copy."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray):
            arr = np.array(value, dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(obj, f.name, arr)


@dataclass(frozen=True, slots=True)
class OptimalLR:
    """η*(B) and ΔL*(B) of one update rule under the Gaussian noise model (see :func:`optimal_lr`).

    Every array has one entry per batch size. ``first`` is gᵀE[u] and ``second`` is E[uᵀHu]
    (exact: closed forms or quadrature, see ``method``); ``eta = first/second`` and
    ``decrease = first²/(2 second)``. ``eta_approx`` and ``decrease_approx`` are the mean-field
    closed forms (equal to the exact values for SGD), ``approx_error`` their relative error.
    ``b_noise = tr(HΣ)/gᵀHg`` and ``b_simple = tr Σ/|g|²`` are McCandlish's noise scales,
    ``eta_max`` is lim η*(B) as B → ∞, and ``b_peak``/``eta_peak`` locate the interior maximum
    of η*(B) over B > 0 (None when η*(B) only rises, as it always does for SGD).
    """

    update: str
    eps: float | None
    batch_sizes: np.ndarray
    eta: np.ndarray
    decrease: np.ndarray
    first: np.ndarray
    second: np.ndarray
    eta_approx: np.ndarray
    decrease_approx: np.ndarray
    b_noise: float
    b_simple: float
    eta_max: float
    b_peak: float | None
    eta_peak: float | None
    b_peak_approx: float | None
    method: str

    def __post_init__(self) -> None:
        _frozen_arrays(self)
        n = self.batch_sizes.shape
        for name in ("eta", "decrease", "first", "second", "eta_approx", "decrease_approx"):
            if getattr(self, name).shape != n:
                raise ValueError(f"OptimalLR: '{name}' must have shape {n}; got {getattr(self, name).shape}")

    @property
    def approx_error(self) -> np.ndarray:
        """eta_approx/eta − 1 per batch size: the mean-field approximation's relative error."""
        return self.eta_approx / self.eta - 1.0


@dataclass(frozen=True, slots=True)
class EpsRange:
    """For each batch size, the ε interval where Adam is neither sign-like nor SGD-like.

    ``eps_lo`` is the smallest ε at which |η*_adam/η*_sign − 1| exceeds ``rtol`` (Adam stops
    being sign-like), ``eps_hi`` the largest ε at which |η*_adam/(ε η*_sgd) − 1| exceeds ``rtol``
    (above it Adam is SGD with learning rate η/ε). The interval is (eps_lo, eps_hi); ``empty``
    is True where eps_lo ≥ eps_hi. NaN marks a bound not reached inside the search grid.
    """

    batch_sizes: np.ndarray
    eps_lo: np.ndarray
    eps_hi: np.ndarray
    eta_sign: np.ndarray
    eta_sgd: np.ndarray
    rtol: float

    def __post_init__(self) -> None:
        _frozen_arrays(self)

    @property
    def empty(self) -> np.ndarray:
        """True where Adam goes straight from sign-like to SGD-like (eps_lo ≥ eps_hi)."""
        return np.asarray(self.eps_lo >= self.eps_hi)


@dataclass(frozen=True, slots=True)
class SimulatedLR:
    """η*(B) measured by Monte Carlo over sampled batches (see :func:`measure_optimal_lr`).

    ``first``/``second`` are the sample means of gᵀu and uᵀHu over ``n_draws`` batches, ``eta``
    = first/second is the step that maximises the sample mean of the one-step decrease, and
    ``decrease`` = first²/(2 second) that maximum. Each ``*_se`` is a standard error (the
    delta method for the ratios).
    """

    update: str
    eps: float | None
    batch_sizes: np.ndarray
    n_draws: int
    eta: np.ndarray
    eta_se: np.ndarray
    decrease: np.ndarray
    decrease_se: np.ndarray
    first: np.ndarray
    first_se: np.ndarray
    second: np.ndarray
    second_se: np.ndarray

    def __post_init__(self) -> None:
        _frozen_arrays(self)

    def z(self, predicted: OptimalLR | Any) -> np.ndarray:
        """(eta − η_predicted)/eta_se per batch size, for an :class:`OptimalLR` or an array.

        NaN where the sample is degenerate (eta_se ≤ 1e-9·|eta|: every draw gave the same
        update, so events rarer than about 1/n_draws, such as a sign flip, were never seen and
        the standard error says nothing).
        """
        pred = predicted.eta if isinstance(predicted, OptimalLR) else np.asarray(predicted, dtype=np.float64)
        degenerate = self.eta_se <= 1e-9 * np.abs(self.eta)
        return np.where(degenerate, np.nan, (self.eta - pred) / np.where(degenerate, 1.0, self.eta_se))


@dataclass(frozen=True, slots=True)
class NoiseStats:
    """Gradient-noise statistics read from per-example gradients (see :func:`noise_stats`).

    ``grad`` is the mean gradient, ``cov`` the per-example covariance Σ (ddof = 1; variances of
    shape (d,) or the full (d, d) matrix), ``g2`` the unbiased estimate |ḡ|² − tr Σ̂/N of |g|²,
    ``trace`` = tr Σ̂ and ``b_simple`` = trace/g2. With a Hessian: ``gHg`` (unbiased, as g2),
    ``trace_h`` = tr(HΣ̂) and ``b_noise`` = trace_h/gHg. ``*_ci`` are bootstrap percentile
    intervals at ``level`` (resampling examples).
    """

    grad: np.ndarray
    cov: np.ndarray
    n_examples: int
    g2: float
    trace: float
    b_simple: float
    b_simple_ci: tuple[float, float]
    gHg: float | None
    trace_h: float | None
    b_noise: float | None
    b_noise_ci: tuple[float, float] | None
    level: float

    def __post_init__(self) -> None:
        _frozen_arrays(self)


@dataclass(frozen=True, slots=True)
class NoiseScale:
    """McCandlish's two-batch-size estimate (see :func:`two_batch_noise_scale`).

    ``g2`` estimates |g|² (or gᵀHg from H-weighted norms), ``trace`` tr Σ (or tr(HΣ)) and
    ``scale`` = trace/g2, B_simple (or B_noise); ``inf`` when g2 ≤ 0 (noise dominates). ``*_ci``
    are bootstrap percentile intervals at ``level``.
    """

    g2: float
    g2_ci: tuple[float, float]
    trace: float
    trace_ci: tuple[float, float]
    scale: float
    scale_ci: tuple[float, float]
    b_small: float
    b_big: float
    level: float


@dataclass(frozen=True, slots=True)
class ProblemSummary:
    """One problem of :func:`lr_scaling_experiment`: its noise scales and how batches were drawn."""

    name: str
    description: str
    dim: int
    b_noise: float
    b_simple: float
    b_peak_sign: float | None
    sampling: str


@dataclass(frozen=True, slots=True)
class LRScalingRow:
    """Calculator against simulation for one problem, update rule and batch size."""

    problem: str
    update: str
    eps: float | None
    eps_rel: float | None
    cov: str
    batch_size: float
    eta_pred: float
    eta_approx: float
    eta_sim: float
    eta_se: float

    @property
    def z(self) -> float:
        """(eta_sim − eta_pred)/eta_se; NaN when every draw gave the same update (see :meth:`SimulatedLR.z`)."""
        if self.eta_se <= 1e-9 * abs(self.eta_sim):
            return math.nan
        return (self.eta_sim - self.eta_pred) / self.eta_se

    @property
    def approx_error(self) -> float:
        """eta_approx/eta_pred − 1."""
        return self.eta_approx / self.eta_pred - 1.0

    @property
    def label(self) -> str:
        """``sgd``, ``sign`` or ``adam ε=0.1σ`` (ε in units of the per-coordinate noise σ̄)."""
        return self.update if self.eps_rel is None else f"{self.update} ε={self.eps_rel:g}σ"


@dataclass(frozen=True, slots=True)
class LRScalingReport:
    """The result of :func:`lr_scaling_experiment`: one row per problem, update and batch size.

    With ``horizon=T``, ``horizon`` holds the short-horizon rows (the quadratic problem, T =
    ``steps`` steps, :func:`measure_horizon_lr`); otherwise it is empty and ``steps`` is None.
    """

    rows: tuple[LRScalingRow, ...]
    problems: tuple[ProblemSummary, ...]
    n_draws: int
    seed: int | None
    horizon: tuple[HorizonRow, ...] = ()
    steps: int | None = None

    def max_abs_z(self, problem: str | None = None, update: str | None = None) -> float:
        """The largest |z| over the rows of ``problem`` and ``update`` (all when None), NaN rows skipped."""
        zs = [abs(r.z) for r in self.rows if (problem is None or r.problem == problem)
              and (update is None or r.update == update) and not math.isnan(r.z)]
        return max(zs) if zs else math.nan


@dataclass(frozen=True, slots=True)
class HorizonLR:
    """The best constant learning rate for T steps, measured by simulation (see :func:`measure_horizon_lr`).

    Every array has one entry per batch size. ``eta`` minimises the simulated expected loss
    after ``steps`` steps, ``eta_se`` is its standard error (delta method on the local cubic
    fit, see :func:`measure_horizon_lr`), ``loss`` is E[L(w_T)] − L(w_0) at ``eta`` (negative: a
    decrease) with ``loss_se``, and ``eta_one`` is the one-step optimum η*(B) of
    :func:`optimal_lr` for comparison. NaN marks a batch size whose fit found no interior
    minimum.
    """

    update: str
    eps: float | None
    batch_sizes: np.ndarray
    steps: int
    n_runs: int
    eta: np.ndarray
    eta_se: np.ndarray
    loss: np.ndarray
    loss_se: np.ndarray
    eta_one: np.ndarray

    def __post_init__(self) -> None:
        _frozen_arrays(self)

    @property
    def ratio(self) -> np.ndarray:
        """eta/eta_one: how far T steps move the best learning rate from the one-step optimum."""
        return self.eta / self.eta_one

    @property
    def ratio_se(self) -> np.ndarray:
        """Standard error of :attr:`ratio` (eta_one is exact)."""
        return self.eta_se / self.eta_one

    def z(self, predicted: Any) -> np.ndarray:
        """(eta − predicted)/eta_se per batch size, for an array of predicted optima.

        NaN where the sample is degenerate (eta_se ≤ 1e-9·|eta|: every run took the same
        updates, as SignSGD does when sign flips are rarer than about 1/n_runs).
        """
        degenerate = ~(self.eta_se > 1e-9 * np.abs(self.eta))
        pred = np.asarray(predicted, dtype=np.float64)
        return np.where(degenerate, np.nan, (self.eta - pred) / np.where(degenerate, 1.0, self.eta_se))


@dataclass(frozen=True, slots=True)
class HorizonRow:
    """The short-horizon optimum for one update rule and batch size (see :func:`lr_scaling_experiment`)."""

    problem: str
    update: str
    eps: float | None
    eps_rel: float | None
    batch_size: float
    steps: int
    eta_one: float
    eta: float
    eta_se: float

    @property
    def ratio(self) -> float:
        """eta/eta_one."""
        return self.eta / self.eta_one

    @property
    def label(self) -> str:
        """As :attr:`LRScalingRow.label`."""
        return self.update if self.eps_rel is None else f"{self.update} ε={self.eps_rel:g}σ"



# --------------------------------------------------------------------------- validation


class _Model(NamedTuple):
    g: np.ndarray  # (d,)
    var: np.ndarray  # (d,) the variances Σ_ii
    cov: np.ndarray | None  # (d, d) when Σ has nonzero off-diagonal entries
    H: np.ndarray  # (d, d), symmetric


def _np(x: Any) -> np.ndarray:
    return np.asarray(_array.to_numpy(x), dtype=np.float64)


def _batch_sizes(batch_sizes: Any, func: str) -> np.ndarray:
    raw = np.asarray(batch_sizes) if not isinstance(batch_sizes, np.ndarray) else batch_sizes
    if raw.dtype.kind not in "iuf" or raw.ndim > 1:
        _checks._fail(func, "'batch_sizes' must be a positive number or a 1-D sequence of them; got "
                            f"{_checks.describe(batch_sizes)}", _checks.InputTypeError)
    b = np.atleast_1d(raw.astype(np.float64))
    if b.size == 0:
        _checks._fail(func, "'batch_sizes' must be non-empty; got an empty sequence")
    bad = np.flatnonzero(~np.isfinite(b) | (b <= 0))
    if bad.size:
        i = int(bad[0])
        _checks._fail(func, f"'batch_sizes' must be positive and finite; got {float(b[i])!r} at index {i}")
    return b


def _update_eps(update: Any, eps: Any, func: str) -> tuple[str, float | None]:
    update = _checks.choice(update, UPDATES, func=func, name="update")
    if update == "adam":
        if eps is None:
            _checks._fail(func, "'eps' must be a number >= 0 for update='adam'; got None")
        return update, _checks.real(eps, func=func, name="eps", lo=0.0)
    if eps is not None:
        _checks._fail(func, f"'eps' applies to update='adam' only; got eps={eps!r} with update={update!r}")
    return update, None


def _grad(grad: Any, func: str) -> np.ndarray:
    g = _np(_checks.array(grad, func=func, name="grad", ndim=1))
    if not np.any(g):
        _checks._fail(func, f"'grad' must be nonzero; got all zeros (shape {g.shape})")
    return g


def _cov(cov: Any, d: int, func: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(variances, full matrix or None when Σ is diagonal); Σ checked symmetric PSD."""
    C = _np(_checks.array(cov, func=func, name="cov", ndim=(1, 2)))
    if C.shape not in ((d,), (d, d)):
        _checks._fail(func, f"'cov' must have shape ({d},) (variances) or ({d}, {d}) to match 'grad' of shape "
                            f"({d},); got shape {C.shape}")
    if C.ndim == 1:
        if C.min() < 0:
            _checks._fail(func, f"'cov' must hold variances >= 0; got minimum {float(C.min())!r}")
        return C, None
    scale = float(np.abs(C).max()) or 1.0
    asym = float(np.abs(C - C.T).max())
    if asym > 1e-10 * scale:
        _checks._fail(func, f"'cov' must be symmetric; got max |Σ − Σᵀ| = {asym:.3g} (max |Σ| = {scale:.3g})")
    C = 0.5 * (C + C.T)
    lam = np.linalg.eigvalsh(C)
    if lam[0] < -1e3 * np.finfo(np.float64).eps * d * max(abs(lam[-1]), 1e-300):
        _checks._fail(func, f"'cov' must be positive semi-definite; got smallest eigenvalue {lam[0]:.3g}")
    var = np.clip(np.diag(C).copy(), 0.0, None)
    off = C - np.diag(np.diag(C))
    return var, (C if np.any(off) else None)


def _hessian(hess: Any, d: int, func: str) -> np.ndarray:
    """H as a dense symmetric matrix, from a matrix or from d Hessian-vector products."""
    if callable(hess):
        cols = []
        for j in range(d):
            v = _np(hess(np.eye(1, d, j).ravel()))
            if v.shape != (d,):
                _checks._fail(func, f"'hess' must map a vector of shape ({d},) to one of shape ({d},); "
                                    f"got shape {v.shape}")
            cols.append(v)
        H = np.stack(cols, axis=1)
        _checks.finite(H, func=func, name="hess")
    else:
        H = _np(_checks.matrix(hess, func=func, name="hess"))
        if H.shape != (d, d):
            _checks._fail(func, f"'hess' must have shape ({d}, {d}) to match 'grad' of shape ({d},); "
                                f"got shape {H.shape}")
    scale = float(np.abs(H).max()) or 1.0
    asym = float(np.abs(H - H.T).max())
    if asym > 1e-8 * scale:
        _checks._fail(func, f"'hess' must be symmetric; got max |H − Hᵀ| = {asym:.3g} (max |H| = {scale:.3g})")
    return 0.5 * (H + H.T)


def _model(grad: Any, cov: Any, hess: Any, func: str) -> _Model:
    g = _grad(grad, func)
    var, full = _cov(cov, g.size, func)
    return _Model(g, var, full, _hessian(hess, g.size, func))


# --------------------------------------------------------------------------- exact terms


@functools.lru_cache(maxsize=8)
def _rule(panels: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre nodes and weights on [0, 1]: ``panels`` equal panels."""
    x, w = leggauss(nodes)
    u = ((np.arange(panels)[:, None] + (x + 1.0) / 2.0) / panels).ravel()
    wt = np.tile(w / 2.0, panels) / panels
    u.setflags(write=False)
    wt.setflags(write=False)
    return u, wt


def _nodes(mu: np.ndarray, s: np.ndarray, eps: np.ndarray, x_panels: int, width: float,
           t_step: float = math.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadrature for E[F(X)], X ~ N(mu, s²), in t = asinh(x/ε): nodes t, z = (x − mu)/s, weights.

    Composite Gauss–Legendre (12 nodes per panel) on the union of panels uniform in t (16, or
    more so that none is wider than ``t_step``) and ``x_panels`` uniform in x over mu ± width·s;
    the weights carry the Gaussian density and dx/dt = ε cosh t, so E[F(X)] ≈ Σ_k w_k F(x_k).
    Arrays broadcast; s > 0, ε > 0.
    """
    x0, w0 = _rule(1, _SS_NODES)
    lo, hi = np.arcsinh((mu - width * s) / eps), np.arcsinh((mu + width * s) / eps)
    t_panels = max(_SS_T_PANELS, math.ceil(float(np.max(hi - lo, initial=0.0)) / t_step))
    in_t = lo[..., None] + (hi - lo)[..., None] * np.linspace(0.0, 1.0, t_panels + 1)
    grid = np.linspace(-width, width, x_panels + 1)[1:-1]
    in_x = np.arcsinh((mu[..., None] + s[..., None] * grid) / eps[..., None])
    edges = np.sort(np.concatenate([in_t, in_x], axis=-1), axis=-1)
    h = np.diff(edges, axis=-1)[..., None]
    t = (edges[..., :-1, None] + h * x0).reshape(*mu.shape, -1)
    e, m, sd = eps[..., None], mu[..., None], s[..., None]
    z = (e * np.sinh(t) - m) / sd
    w = (h * w0).reshape(*mu.shape, -1) * e * np.cosh(t) * np.exp(-0.5 * z * z) / (_SQRT2PI * sd)
    return t, z, w


def _softsign_moments(mu: np.ndarray, s: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[f(X)] and E[f(X)²] for X ~ N(mu, s²), f(x) = x/√(x² + ε²) = tanh(asinh(x/ε)) (see :func:`_nodes`)."""
    t, _, w = _nodes(mu, s, eps, _SS_X_PANELS, _SS_WIDTH)
    th = np.tanh(t)
    return (w * th).sum(-1), (w * th * th).sum(-1)


def _hermite_coefficients(mu: np.ndarray, s: np.ndarray, eps: float, n_terms: int) -> np.ndarray:
    """α_n = E[f(mu + sZ) h_n(Z)], n = 0…n_terms, h_n = He_n/√n! (orthonormal Hermite); shape (d, n_terms + 1).

    The x-panels are narrow enough for h_n's oscillations (about 2√n_terms panels over ±12.5 s;
    h_n(z)φ(z) is below 1e-16 beyond), and h_n follows the three-term recurrence
    h_{n+1} = (z h_n − √n h_{n−1})/√(n + 1).
    """
    t, z, w = _nodes(mu, s, np.full(mu.shape, eps), 16 + 2 * math.ceil(math.sqrt(n_terms)), 12.5, 1.0)
    wf = w * np.tanh(t)
    out = np.empty((mu.size, n_terms + 1))
    h_prev, h = np.zeros_like(z), np.ones_like(z)
    for n in range(n_terms + 1):
        out[:, n] = (wf * h).sum(-1)
        h_prev, h = h, (z * h - math.sqrt(n) * h_prev) / math.sqrt(n + 1)
    return out


def _blocked(fn: Callable[..., tuple[np.ndarray, np.ndarray]], *arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply an elementwise two-output ``fn`` to flat blocks of the broadcast arrays (bounded memory)."""
    arrays = np.broadcast_arrays(*arrays)
    flat = [a.ravel() for a in arrays]
    out1, out2 = np.empty(flat[0].size), np.empty(flat[0].size)
    for i in range(0, flat[0].size, _CHUNK):
        out1[i:i + _CHUNK], out2[i:i + _CHUNK] = fn(*(f[i:i + _CHUNK] for f in flat))
    return out1.reshape(arrays[0].shape), out2.reshape(arrays[0].shape)


def _sign_moments(mu: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[sign X] = erf(mu/(s√2)) and E[sign² X] for X ~ N(mu, s²) (s = 0: X = mu)."""
    from scipy import special

    safe = np.where(s > 0, s, 1.0)
    mean = np.where(s > 0, special.erf(mu / (safe * math.sqrt(2.0))), np.sign(mu))
    return mean, np.where((s > 0) | (mu != 0), 1.0, 0.0)


def _adam_moments(mu: np.ndarray, s: np.ndarray, eps: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[u], E[u²] for the soft sign u = X/√(X² + ε²), X ~ N(mu, s²), elementwise (ε > 0)."""
    mu, s, e = np.broadcast_arrays(mu, s, np.asarray(eps, dtype=np.float64))
    f = mu / np.sqrt(mu * mu + e * e)
    mean, second = f.copy(), f * f  # s = 0: u is deterministic
    ok = s > 0
    # an ε so small against the spread that asinh overflows: the sign moments, exact to rounding
    tiny = ok & ~np.isfinite((np.abs(mu) + _SS_WIDTH * s) / np.where(ok, e, 1.0))
    if tiny.any():
        mean[tiny], second[tiny] = _sign_moments(mu[tiny], s[tiny])
    quad = ok & ~tiny
    if quad.any():
        mean[quad], second[quad] = _blocked(_softsign_moments, mu[quad], s[quad], e[quad])
    return mean, second


def _sign_pair(ai: np.ndarray, aj: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """E[sign(ai + Z_i) sign(aj + Z_j)] for standard normals with correlation rho (1-D arrays).

    At |rho| = 1 the value is closed form; Plackett's identity ∂Φ₂/∂ρ = φ₂ gives the rest as a
    1-D integral from there, in φ = arccos|r| with φ = φ₀e^{−τ} (analytic in τ).
    """
    from scipy import special

    u, w = _rule(_PL_PANELS, _PL_NODES)
    sg = np.where(rho >= 0, 1.0, -1.0)
    bj = sg * aj
    at_one = 1.0 - 2.0 * np.abs(special.ndtr(ai) - special.ndtr(bj))
    phi0 = np.arccos(np.clip(np.abs(rho), 0.0, 1.0))
    delta = np.abs(ai - bj)
    pmin = np.maximum(delta / 12.0, 1e-18 * phi0)
    span = np.where(phi0 > pmin, np.log(np.where(phi0 > pmin, phi0 / np.where(pmin > 0, pmin, 1.0), 1.0)), 0.0)
    phi = np.where(span[:, None] > 0, phi0[:, None] * np.exp(-span[:, None] * u), 1.0)
    expo = -delta[:, None] ** 2 / (2.0 * np.sin(phi) ** 2) - (ai * bj)[:, None] / (1.0 + np.cos(phi))
    rem = (2.0 / math.pi) * span * ((phi * np.exp(expo)) @ w)
    return sg * (at_one - rem)


def _sign_hermite(a: np.ndarray, n_terms: int) -> np.ndarray:
    """α_n = E[sign(a + Z) h_n(Z)] = 2φ(a) h_{n−1}(−a)/√n for n ≥ 1 (α_0 = erf(a/√2)); shape (size, n_terms + 1)."""
    from scipy import special

    out = np.empty((a.size, n_terms + 1))
    out[:, 0] = special.erf(a / math.sqrt(2.0))
    dens = 2.0 * np.exp(-0.5 * a * a) / _SQRT2PI
    h_prev, h = np.zeros_like(a), np.ones_like(a)
    for n in range(1, n_terms + 1):
        out[:, n] = dens * h / math.sqrt(n)
        h_prev, h = h, (-a * h - math.sqrt(n - 1) * h_prev) / math.sqrt(n)
    return out


def _mehler_terms(rho_max: float) -> int:
    """Terms of Mehler's series so that ρ_max^(N+1) ≤ 1e-16, at most :data:`_HM_MAX`."""
    if rho_max <= 0.0:
        return 1
    if rho_max >= 1.0:
        return _HM_MAX
    return int(min(_HM_MAX, max(1, math.ceil(math.log(1e-16) / math.log(rho_max)))))


def _fail_correlation(func: str, i: int, j: int, rho: float) -> None:
    _checks._fail(func, f"'cov' must have correlations |ρ| <= {_HM_RHO} for update='adam' with eps > 0; got "
                        f"|ρ| = {abs(rho):.4g} between coordinates {i} and {j} (Mehler's series for the "
                        f"soft-sign cross moments would need more than {_HM_MAX} terms)")


def _adam_cross(model: _Model, pairs: tuple[np.ndarray, np.ndarray, np.ndarray], b: float,
                eps: float, func: str) -> float:
    """Σ_{i≠j} H_ij (E[u_i u_j] − E[u_i]E[u_j]) for the soft sign, by Mehler's expansion.

    E[f_i(X_i) f_j(X_j)] = Σ_n ρ^n α_n^i α_n^j with α_n^i = E[f_i(g_i + s_i Z) h_n(Z)]; after
    N terms the rest is at most |ρ|^(N+1) √(T_i T_j), T_i = E[f_i²] − Σ_{n≤N} (α_n^i)² (Parseval).
    """
    i, j, rho = pairs
    k = int(np.argmax(np.abs(rho)))
    if abs(rho[k]) > _HM_RHO:
        _fail_correlation(func, i[k], j[k], rho[k])
    n_terms = _mehler_terms(float(abs(rho[k])))
    coords = np.unique(np.concatenate([i, j]))
    mu, s = model.g[coords], np.sqrt(model.var[coords] / b)
    tiny = ~np.isfinite((np.abs(mu) + 12.5 * s) / eps)  # ε below rounding against the spread: sign
    alpha = np.empty((coords.size, n_terms + 1))
    alpha[tiny] = _sign_hermite(mu[tiny] / s[tiny], n_terms)
    quad = np.flatnonzero(~tiny)
    for lo in range(0, quad.size, 256):
        part = quad[lo:lo + 256]
        alpha[part] = _hermite_coefficients(mu[part], s[part], eps, n_terms)
    tail = np.clip(_adam_moments(mu, s, eps)[1] - (alpha * alpha).sum(1), 0.0, None)
    pi, pj = np.searchsorted(coords, i), np.searchsorted(coords, j)
    bound = np.abs(rho) ** (n_terms + 1) * np.sqrt(tail[pi] * tail[pj])
    if bound.max() > _HM_TOL:
        k = int(np.argmax(bound))
        _fail_correlation(func, i[k], j[k], rho[k])
    total = 0.0
    powers = np.arange(1, n_terms + 1)
    for lo in range(0, i.size, max(1, _CHUNK * 16 // n_terms)):
        sl = slice(lo, lo + max(1, _CHUNK * 16 // n_terms))
        series = (alpha[pi[sl], 1:] * alpha[pj[sl], 1:] * rho[sl, None] ** powers).sum(1)
        total += 2.0 * float(model.H[i[sl], j[sl]] @ series)
    return total


def _pairs(model: _Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, ρ_ij) for i < j where correlated noise meets a nonzero H_ij."""
    if model.cov is None:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0)
    sd = np.sqrt(model.var)
    i, j = np.triu_indices(model.g.size, 1)
    keep = (sd[i] > 0) & (sd[j] > 0) & (model.cov[i, j] != 0) & (model.H[i, j] != 0)
    i, j = i[keep], j[keep]
    return i, j, np.clip(model.cov[i, j] / (sd[i] * sd[j]), -1.0, 1.0)


def _quadratic_form(H: np.ndarray, mean: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Σ_ij H_ij E[u_i]E[u_j] + Σ_i H_ii (E[u_i²] − E[u_i]²), row by row (independent coordinates)."""
    return np.einsum("bi,ij,bj->b", mean, H, mean) + (second - mean * mean) @ np.diag(H)


def _terms(model: _Model, B: np.ndarray, update: str, eps: float | None,
           func: str = "optimal_lr") -> tuple[np.ndarray, np.ndarray]:
    """(gᵀE[u], E[uᵀHu]) at each batch size, exact under g̃_B ~ N(g, Σ/B)."""
    g, H = model.g, model.H
    if update == "sgd":
        tr_hs = float(np.sum(H * model.cov)) if model.cov is not None else float(np.diag(H) @ model.var)
        return np.full(B.shape, g @ g), g @ H @ g + tr_hs / B
    s = np.sqrt(model.var[None, :] / B[:, None])
    mu = np.broadcast_to(g, s.shape)
    if update == "sign" or not eps:
        mean, sq = _sign_moments(mu, s)
    else:
        mean, sq = _adam_moments(mu, s, eps)
    second = _quadratic_form(H, mean, sq)
    i, j, rho = _pairs(model)
    if i.size and update == "adam" and eps:  # correlated noise: E[u_i u_j] ≠ E[u_i]E[u_j]
        second += np.array([_adam_cross(model, (i, j, rho), float(b), eps, func) for b in B])
    elif i.size:
        second += _sign_cross(model, (i, j, rho), B, mean)
    return mean @ g, second


def _sign_cross(model: _Model, pairs: tuple[np.ndarray, np.ndarray, np.ndarray], B: np.ndarray,
                mean: np.ndarray) -> np.ndarray:
    """Σ_{i≠j} H_ij (E[u_i u_j] − E[u_i]E[u_j]) per batch size for the sign, by Plackett's integral."""
    i, j, rho = pairs
    sd = np.sqrt(model.var)
    out = np.zeros(B.size)
    for k, b in enumerate(B):
        a = model.g * math.sqrt(b) / np.where(sd > 0, sd, 1.0)
        for lo in range(0, i.size, _CHUNK):
            ii, jj = i[lo:lo + _CHUNK], j[lo:lo + _CHUNK]
            cross = _sign_pair(a[ii], a[jj], rho[lo:lo + _CHUNK]) - mean[k, ii] * mean[k, jj]
            out[k] += 2.0 * float(model.H[ii, jj] @ cross)
    return out


def _eta(model: _Model, B: np.ndarray, update: str, eps: float | None, func: str = "optimal_lr") -> np.ndarray:
    first, second = _terms(model, B, update, eps, func)
    return first / second


# --------------------------------------------------------------------------- approximations


def _approx_terms(model: _Model, B: np.ndarray, update: str, eps: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The mean-field closed forms of gᵀE[u] and E[uᵀHu] (see :func:`optimal_lr`, Notes)."""
    if update == "sgd":
        return _terms(model, B, "sgd", None)
    g, H = model.g, model.H
    g2 = float(g @ g)
    sgn = np.sign(g)
    r = float(model.var.sum()) / g2 / B  # B_simple/B
    e2 = g.size * (eps or 0.0) ** 2 / g2
    beta2 = 1.0 / (1.0 + 0.5 * math.pi * r + e2)
    gamma = (1.0 + r) / (1.0 + r + e2)
    first = np.sqrt(beta2) * float(np.abs(g).sum())
    return first, beta2 * float(sgn @ H @ sgn) + (gamma - beta2) * float(np.trace(H))


def _scales(model: _Model) -> tuple[float, float]:
    """(B_noise, B_simple) = (tr(HΣ)/gᵀHg, tr Σ/|g|²)."""
    g, H = model.g, model.H
    tr_hs = float(np.sum(H * model.cov)) if model.cov is not None else float(np.diag(H) @ model.var)
    ghg = float(g @ H @ g)
    b_noise = tr_hs / ghg if ghg > 0 else math.inf
    return b_noise, float(model.var.sum()) / float(g @ g)


def _eta_max(model: _Model, update: str, eps: float | None) -> float:
    """lim η*(B) as B → ∞: the optimal step of the noiseless update."""
    g = model.g
    u = g if update == "sgd" else (np.sign(g) if update == "sign" or not eps else g / np.sqrt(g * g + eps * eps))
    curv = float(u @ model.H @ u)
    return float(g @ u) / curv if curv > 0 else math.inf


def _peak(eta_of: Callable[[np.ndarray], np.ndarray], bref: float) -> tuple[float | None, float | None]:
    """The interior maximiser of η*(B) over B ∈ bref·[1e-4, 1e6] (log grid, then bounded search)."""
    from scipy import optimize

    grid = bref * np.logspace(-4.0, 6.0, 61)
    eta = eta_of(grid)
    k = int(np.argmax(eta))
    if k in (0, grid.size - 1) or eta[k] <= eta[-1] * (1.0 + 1e-9):
        return None, None
    res = optimize.minimize_scalar(lambda t: -float(eta_of(np.array([math.exp(t)]))[0]),
                                   bounds=(math.log(grid[k - 1]), math.log(grid[k + 1])), method="bounded",
                                   options={"xatol": 1e-7})
    return float(math.exp(res.x)), float(-res.fun)


def _method(model: _Model, update: str, eps: float | None) -> str:
    """How the terms were computed (``OptimalLR.method``)."""
    if update == "sgd":
        return "closed form"
    correlated = model.cov is not None
    if update == "sign" or not eps:
        return "erf + Plackett integral (Gauss–Legendre, 256 nodes)" if correlated else "closed form (erf)"
    quad = "quadrature (asinh-mapped composite Gauss–Legendre, 372 nodes)"
    return quad + " + Mehler series" if correlated else quad


def _optimal_lr(model: _Model, B: np.ndarray, update: str, eps: float | None, func: str,
                peak: bool = True) -> OptimalLR:
    first, second = _terms(model, B, update, eps, func)
    bad = np.flatnonzero(~(second > 0))
    if bad.size:
        k = int(bad[0])
        _checks._fail(func, f"'hess' must make the expected curvature E[uᵀHu] positive; got {second[k]:.3g} at "
                            f"batch size {B[k]:g} (the loss is not locally convex along the update)")
    fa, sa = _approx_terms(model, B, update, eps)
    b_noise, b_simple = _scales(model)
    bref = max(b for b in (b_noise, b_simple, 1.0) if math.isfinite(b))
    top: tuple[float | None, float | None] = (None, None)
    top_approx: float | None = None
    if peak and update != "sgd" and b_simple > 0:
        top = _peak(lambda b: _eta(model, b, update, eps, func), bref)
        top_approx = _peak(lambda b: np.divide(*_approx_terms(model, b, update, eps)), bref)[0]
    return OptimalLR(update, eps, B, first / second, first**2 / (2 * second), first, second, fa / sa,
                     fa**2 / (2 * sa), b_noise, b_simple, _eta_max(model, update, eps), top[0], top[1],
                     top_approx, _method(model, update, eps))


def optimal_lr(batch_sizes: Any, *, grad: Any, cov: Any, hess: Any, update: Update = "sgd",
               eps: float | None = None, peak: bool = True) -> OptimalLR:
    r"""The optimal one-step learning rate η*(B) and decrease ΔL*(B), exact under Gaussian noise.

    Parameters
    ----------
    batch_sizes : float or array-like of shape (n,)
        Batch sizes B > 0 (real numbers: the model is continuous in B).
    grad : array of shape (d,)
        The full-batch gradient g (nonzero).
    cov : array of shape (d,) or (d, d)
        The per-example gradient covariance Σ: its diagonal (variances) or the full symmetric
        positive semi-definite matrix. A mini-batch of size B has covariance Σ/B.
    hess : array of shape (d, d), or callable
        The Hessian H (symmetric), or a Hessian-vector product ``v ↦ Hv`` (called d times to
        form H).
    update : {"sgd", "sign", "adam"}, default="sgd"
        u = g̃ (SGD), u = sign(g̃) (SignSGD) or u = g̃/√(g̃² + ε²) elementwise (Adam with its ε
        read as SoftSignSGD: Adam's update m/(√v + ε) with m = g̃ and v = g̃²).
    eps : float, optional
        ε ≥ 0, for ``update="adam"`` only (ε = 0 is SignSGD).
    peak : bool, default=True
        Locate the peak of η*(B) for the sign-type updates (about 80 more evaluations of η*);
        False leaves ``b_peak``, ``eta_peak`` and ``b_peak_approx`` None.

    Returns
    -------
    OptimalLR
        η*(B), ΔL*(B), gᵀE[u], E[uᵀHu], the mean-field approximations, B_noise, B_simple,
        lim η*(B) and the peak of η*(B) for the sign-type updates.

    Raises
    ------
    InputError
        Batch sizes ≤ 0 or not finite, Σ not PSD, shapes that disagree, ε < 0, an unknown
        update, E[uᵀHu] ≤ 0, or ``update="adam"`` (ε > 0) with a correlation |ρ_ij| > 0.98
        where H_ij ≠ 0.

    Notes
    -----
    The expected decrease of w ← w − ηu is η gᵀE[u] − ½η² E[uᵀHu], maximised at
    η* = gᵀE[u]/E[uᵀHu] with ΔL* = (gᵀE[u])²/(2 E[uᵀHu]). Write s_i = σ_i/√B, σ_i² = Σ_ii.

    * **SGD** (closed form): E[u] = g and E[uᵀHu] = gᵀHg + tr(HΣ)/B, so
      η*(B) = η_max/(1 + B_noise/B) with η_max = |g|²/gᵀHg and B_noise = tr(HΣ)/gᵀHg.
    * **SignSGD**: E[u_i] = erf(g_i/(s_i√2)) and E[u_i²] = 1. With independent coordinates
      (diagonal Σ), E[u_i u_j] = E[u_i]E[u_j] for i ≠ j: closed form. With correlated noise,
      E[u_i u_j] is the orthant probability of a bivariate normal,
      1 − 2|Φ(a_i) − Φ(±a_j)| at ρ = ±1 (a = g/s) minus, by Plackett's identity
      ∂Φ₂/∂ρ = φ₂, the 1-D integral (2/π)∫ exp(−(a_i² ∓ 2a_i a_j cos φ + a_j²)/(2 sin²φ)) dφ
      over φ ∈ [0, arccos|ρ|], computed by composite Gauss–Legendre in τ = log(φ₀/φ)
      (16 × 16 nodes; absolute error below 1e-13 against 30-digit references, |ρ| up to 1).
      At zero mean it reduces to (2/π) arcsin ρ.
    * **Adam/SoftSignSGD**: E[u_i] and E[u_i²] are 1-D Gaussian integrals of tanh(t) and
      tanh²(t) in t = asinh(x/ε), where the integrand is analytic; composite Gauss–Legendre
      (12 nodes per panel) on the union of 16 panels uniform in t and 16 uniform in x over
      g_i ± 9s_i (absolute error below 1e-11 against 30-digit references for g_i/s_i ∈ [−2, 1e4]
      and ε/s_i ∈ [1e-10, 1e6]; relative error of the same order when ε is large and the
      moments are small). With diagonal Σ, E[u_i u_j] = E[u_i]E[u_j]. With correlated noise,
      E[u_i u_j] comes from Mehler's expansion of the bivariate normal density,
      Σ_n ρⁿ α_n^i α_n^j with α_n^i = E[u_i(g_i + s_i Z) He_n(Z)]/√n! (the same quadrature,
      with panels fine enough for He_n), summed until |ρ|^(N+1) ≤ 1e-16 (N ≤ 1500); by
      Parseval the remainder is at most |ρ|^(N+1), so correlations must satisfy |ρ| ≤ 0.98
      (a larger one is refused). Its ε → 0 limit reproduces the Plackett integral above to
      1e-11. As ε → 0 the update tends to SignSGD; as ε → ∞, εu → g̃, so
      η*_adam ≈ ε η*_sgd (SGD with learning rate η/ε).

    **Mean-field approximations** (``eta_approx``, after Su Jianlin's posts): erf(x/√2) is
    replaced by x/√(x² + π/2) (exact slope at 0 and limit at ∞), E[x/√(x²+ε²)] by
    μ/√(μ² + πs²/2 + ε²) and E[x²/(x²+ε²)] by (μ² + s²)/(μ² + s² + ε²), cross terms by
    products of means, and each coordinate's σ_i²/g_i² and ε²/g_i² by the common values
    B_simple = tr Σ/|g|² and dε²/|g|² (correlations are ignored). With r = B_simple/B,
    β² = 1/(1 + πr/2 + dε²/|g|²), γ = (1 + r)/(1 + r + dε²/|g|²) and σ = sign(g):

    .. math::
        \eta^*_{\rm approx}(B) = \frac{\beta\,\|g\|_1}{\beta^2\,\sigma^\top H\sigma
        + (\gamma - \beta^2)\,\mathrm{tr}\,H}.

    For SignSGD (γ = 1) with R = tr H/σᵀHσ < ½ this peaks at B = (π/2) B_simple R/(1 − 2R),
    near B_noise when R is small; it is exact for SGD. ``approx_error`` reports its error.

    **Peak** (sign-type updates): the maximiser of η*(B) on a log grid of 61 points over
    B ∈ [1e-4, 1e6] · max(B_noise, B_simple, 1), refined by bounded scalar search in log B
    between the grid neighbours of the best point; None when the best grid point is the last
    one (η*(B) only rises toward η_max).

    **Cost**: H is formed densely (d Hessian-vector products when ``hess`` is a callable).
    Per batch size: SGD O(d²); SignSGD O(d²) with diagonal Σ, plus 256 nodes per correlated
    pair (i, j) with H_ij ≠ 0 otherwise; Adam 372 nodes per coordinate, plus O(N·d·nodes + N·p)
    for p correlated pairs and N Mehler terms. The peak search evaluates about 80 more
    batch sizes (``peak=False`` skips it).

    Examples
    --------
    >>> import numpy as np
    >>> g, H, var = np.array([1.0, -0.5]), np.diag([2.0, 1.0]), np.array([4.0, 1.0])
    >>> r = optimal_lr([1, 10, 100], grad=g, cov=var, hess=H)
    >>> r.eta.round(4).tolist(), r.b_noise, round(r.eta_max, 4)
    ([0.1111, 0.3968, 0.5342], 4.0, 0.5556)
    >>> s = optimal_lr([1, 100], grad=g, cov=var, hess=H, update="sign")
    >>> s.eta.round(4).tolist(), s.approx_error.round(3).tolist()
    ([0.1915, 0.5], [-0.032, -0.03])
    >>> a = optimal_lr([1, 100], grad=g, cov=var, hess=H, update="adam", eps=1e-12)
    >>> bool(np.allclose(a.eta, s.eta, rtol=1e-9))
    True
    """
    func = "optimal_lr"
    B = _batch_sizes(batch_sizes, func)
    rule, eps = _update_eps(update, eps, func)
    if not isinstance(peak, (bool, np.bool_)):
        _checks._fail(func, f"'peak' must be True or False; got {_checks.describe(peak)}", _checks.InputTypeError)
    return _optimal_lr(_model(grad, cov, hess, func), B, rule, eps, func, peak=bool(peak))


# --------------------------------------------------------------------------- ε range of Adam


def _adam_etas(model: _Model, b: float, grid: np.ndarray, func: str) -> np.ndarray:
    """η*_adam(ε) at one batch size for every ε of ``grid`` (vectorised when Σ is diagonal)."""
    if model.cov is not None:
        return np.array([float(_eta(model, np.array([b]), "adam", float(e), func)[0]) for e in grid])
    s = np.sqrt(model.var / b)[None, :]
    mean, sq = _adam_moments(np.broadcast_to(model.g, (grid.size, model.g.size)), s, grid[:, None])
    return (mean @ model.g) / _quadratic_form(model.H, mean, sq)


def _eps_bounds(model: _Model, b: float, eta_sign: float, eta_sgd: float, rtol: float,
                func: str) -> tuple[float, float]:
    """(eps_lo, eps_hi) at one batch size: the first and last crossings of ``rtol`` on a log grid, refined."""
    from scipy import optimize

    def eta(e: float) -> float:
        return float(_eta(model, np.array([b]), "adam", e, func)[0])

    grid = math.sqrt(float(np.mean(model.g**2 + model.var / b))) * np.logspace(-8.0, 8.0, 129)
    etas = _adam_etas(model, b, grid, func)
    over_sign = np.abs(etas / eta_sign - 1.0) > rtol
    over_sgd = np.abs(etas / (grid * eta_sgd) - 1.0) > rtol
    lo = hi = math.nan
    if over_sign.any() and not over_sign[0]:
        k = int(np.argmax(over_sign))
        lo = math.exp(optimize.brentq(lambda t: abs(eta(math.exp(t)) / eta_sign - 1.0) - rtol,
                                      math.log(grid[k - 1]), math.log(grid[k]), rtol=1e-10))
    if over_sgd.any() and not over_sgd[-1]:
        k = int(np.flatnonzero(over_sgd)[-1])
        hi = math.exp(optimize.brentq(lambda t: abs(eta(math.exp(t)) / (math.exp(t) * eta_sgd) - 1.0) - rtol,
                                      math.log(grid[k]), math.log(grid[k + 1]), rtol=1e-10))
    return lo, hi


def adam_eps_range(batch_sizes: Any, *, grad: Any, cov: Any, hess: Any, rtol: float = 0.1) -> EpsRange:
    """The ε interval, per batch size, where Adam is neither sign-like nor SGD-like.

    Parameters
    ----------
    batch_sizes, grad, cov, hess
        As for :func:`optimal_lr`.
    rtol : float, default=0.1
        The relative difference in η* that separates the regimes.

    Returns
    -------
    EpsRange
        ``eps_lo``, ``eps_hi`` and the two limits η*_sign(B) and η*_sgd(B).

    Notes
    -----
    At batch size B, ε is *sign-like* when |η*_adam(ε)/η*_sign − 1| ≤ rtol and *SGD-like* when
    |η*_adam(ε)/(ε η*_sgd) − 1| ≤ rtol (η*_adam as in :func:`optimal_lr`). ``eps_lo`` is the first
    ε, going up, that is not sign-like; ``eps_hi`` the last ε, going down, that is not SGD-like.
    Both are found on a log grid of 8 points per decade over ε ∈ 10^{±8}·RMS(g̃) (RMS(g̃)² =
    mean_i(g_i² + σ_i²/B)) and refined by Brent's method to relative precision 1e-10; a
    crossing that recrosses between two grid points is not seen. That is about 150 evaluations
    of η*_adam per batch size: vectorised with diagonal Σ, one Mehler series each otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> r = adam_eps_range([1, 64], grad=np.array([1.0, 0.5]), cov=np.array([9.0, 9.0]), hess=np.eye(2))
    >>> r.eps_lo.round(3).tolist(), r.eps_hi.round(3).tolist(), r.empty.tolist()
    ([0.266, 0.15], [11.11, 2.711], [False, False])
    """
    func = "adam_eps_range"
    B = _batch_sizes(batch_sizes, func)
    rtol = _checks.real(rtol, func=func, name="rtol", lo=0.0, lo_open=True)
    model = _model(grad, cov, hess, func)
    eta_sign = _optimal_lr(model, B, "sign", None, func, peak=False).eta
    eta_sgd = _optimal_lr(model, B, "sgd", None, func, peak=False).eta
    bounds = [_eps_bounds(model, float(b), float(es), float(eg), rtol, func)
              for b, es, eg in zip(B, eta_sign, eta_sgd, strict=True)]
    lo, hi = (np.array(v) for v in zip(*bounds, strict=True))
    return EpsRange(B, lo, hi, eta_sign, eta_sgd, rtol)


# --------------------------------------------------------------------------- simulation


def gaussian_sampler(grad: Any, cov: Any) -> Sampler:
    """A sampler of mini-batch gradients g̃_B ~ N(g, Σ/B), for :func:`measure_optimal_lr`.

    Parameters
    ----------
    grad : array of shape (d,)
    cov : array of shape (d,) or (d, d)
        Variances or a full PSD covariance (factored as V diag(√λ) by ``eigh``).

    Examples
    --------
    >>> import numpy as np
    >>> draw = gaussian_sampler(np.zeros(3), np.array([1.0, 4.0, 9.0]))
    >>> draw(4, 100_000, np.random.default_rng(0)).std(axis=0).round(1).tolist()
    [0.5, 1.0, 1.5]
    """
    func = "gaussian_sampler"
    g = _np(_checks.array(grad, func=func, name="grad", ndim=1))
    var, full = _cov(cov, g.size, func)
    if full is None:
        sd = np.sqrt(var)
        return lambda b, n, gen: g + gen.standard_normal((n, g.size)) * (sd / math.sqrt(b))
    lam, V = np.linalg.eigh(full)
    L = V * np.sqrt(np.clip(lam, 0.0, None))
    return lambda b, n, gen: g + (gen.standard_normal((n, g.size)) @ L.T) / math.sqrt(b)


def minibatch_sampler(per_example: Any) -> Sampler:
    """A sampler of mean gradients over B examples drawn with replacement from ``per_example``.

    Drawing with replacement makes the batch covariance exactly Σ/B, Σ the population
    covariance of the rows (ddof = 0); the distribution is not Gaussian at small B.

    Parameters
    ----------
    per_example : array of shape (N, d)
        One gradient per example.

    Examples
    --------
    >>> import numpy as np
    >>> draw = minibatch_sampler(np.array([[1.0], [-1.0]]))
    >>> float(draw(2, 10_000, np.random.default_rng(0)).var().round(1))
    0.5
    """
    func = "minibatch_sampler"
    P = _np(_checks.matrix(per_example, func=func, name="per_example"))
    n_rows, d = P.shape

    def sample(b: float, n: int, gen: np.random.Generator) -> np.ndarray:
        k = int(b)
        if k != b:
            _checks._fail(func, f"'batch_sizes' must be whole numbers to draw mini-batches; got {b!r}")
        out = np.empty((n, d))
        step = max(1, (1 << 18) // k)
        for i in range(0, n, step):
            m = min(step, n - i)
            out[i:i + m] = P[gen.integers(0, n_rows, size=(m, k))].mean(axis=1)
        return out

    return sample


def _apply_update(G: np.ndarray, update: str, eps: float | None) -> np.ndarray:
    if update == "sgd":
        return G
    if update == "sign" or not eps:
        return np.sign(G)
    return G / np.sqrt(G * G + eps * eps)


def _ratio_stats(a: np.ndarray, q: np.ndarray) -> tuple[float, ...]:
    """Means, standard errors and the delta-method errors of ā/q̄ and ā²/(2q̄)."""
    n = a.size
    am, qm = float(a.mean()), float(q.mean())
    eta = am / qm
    dec = am * am / (2.0 * qm)
    eta_se = float(np.std((a - eta * q) / qm, ddof=1)) / math.sqrt(n)
    dec_se = float(np.std(eta * a - 0.5 * eta * eta * q, ddof=1)) / math.sqrt(n)
    return (eta, eta_se, dec, dec_se, am, float(np.std(a, ddof=1)) / math.sqrt(n), qm,
            float(np.std(q, ddof=1)) / math.sqrt(n))


def _simulate(sampler: Sampler, B: np.ndarray, g: np.ndarray, H: np.ndarray,
              configs: Sequence[tuple[str, float | None]], n: int, gen: np.random.Generator,
              func: str) -> list[np.ndarray]:
    """For each config, an array (len(B), 8) of :func:`_ratio_stats`; one set of batches per B, shared."""
    out = [np.empty((B.size, 8)) for _ in configs]
    for k, b in enumerate(B):
        G = np.asarray(sampler(float(b), n, gen), dtype=np.float64)
        if G.shape != (n, g.size):
            _checks._fail(func, f"'sampler' must return an array of shape ({n}, {g.size}); got shape {G.shape}")
        for c, (update, eps) in enumerate(configs):
            U = _apply_update(G, update, eps)
            out[c][k] = _ratio_stats(U @ g, np.einsum("ni,ni->n", U @ H, U))
    return out


def measure_optimal_lr(batch_sizes: Any, *, sampler: Sampler, grad: Any, hess: Any, update: Update = "sgd",
                       eps: float | None = None, n_draws: int = 4000, rng: Any = None) -> SimulatedLR:
    """η*(B) measured by Monte Carlo: the step maximising the mean one-step decrease over batches.

    For each batch size, ``n_draws`` mini-batch gradients g̃ are drawn from ``sampler``, turned
    into updates u, and the one-step decrease η gᵀu − ½η² uᵀHu (exact for a quadratic loss) is
    averaged; its maximiser is η̂ = mean(gᵀu)/mean(uᵀHu).

    Parameters
    ----------
    batch_sizes : float or array-like of shape (n,)
    sampler : callable
        ``sampler(B, n, rng)`` → (n, d) mini-batch gradients: :func:`gaussian_sampler`,
        :func:`minibatch_sampler` or your own.
    grad, hess : as for :func:`optimal_lr`
    update, eps : as for :func:`optimal_lr`
    n_draws : int, default=4000
    rng : None, int or numpy Generator

    Returns
    -------
    SimulatedLR
        Estimates with standard errors: η̂ by the delta method,
        se(η̂) = std(gᵀu − η̂ uᵀHu)/(mean(uᵀHu)√n).

    Examples
    --------
    >>> import numpy as np
    >>> g, H, var = np.array([1.0, -0.5]), np.diag([2.0, 1.0]), np.array([4.0, 1.0])
    >>> sim = measure_optimal_lr([1, 100], sampler=gaussian_sampler(g, var), grad=g, hess=H,
    ...                          n_draws=20_000, rng=0)
    >>> bool(np.all(np.abs(sim.z(optimal_lr([1, 100], grad=g, cov=var, hess=H))) < 4))
    True
    """
    func = "measure_optimal_lr"
    B = _batch_sizes(batch_sizes, func)
    rule, eps = _update_eps(update, eps, func)
    g = _grad(grad, func)
    H = _hessian(hess, g.size, func)
    n = _checks.integer(n_draws, func=func, name="n_draws", lo=2)
    if not callable(sampler):
        _checks._fail(func, f"'sampler' must be callable (B, n, rng) -> array; got {_checks.describe(sampler)}",
                      _checks.InputTypeError)
    st = _simulate(sampler, B, g, H, [(rule, eps)], n, as_generator(rng, func=func), func)[0]
    return SimulatedLR(rule, eps, B, n, *st.T)


# --------------------------------------------------------------------------- short horizon

_FINE = (0.25, 0.1, 0.04, 0.016, 0.0064)  # half-widths h of the fine grids: η = centre·(1 + hv), |v| ≤ 1
_FINE_U = np.linspace(-1.0, 1.0, 9)  # the 9 points of a fine grid, in units of its half-width
_FINE_PINV = np.linalg.pinv(np.vander(_FINE_U, 4, increasing=True))  # (4, 9): least-squares cubic
_HZ_BLOCK = 1 << 21  # floats per (lrs × runs × d) block of the horizon simulation


def _horizon_inputs(steps: Any, n_runs: Any, func: str) -> tuple[int, int]:
    return (_checks.integer(steps, func=func, name="steps", lo=1),
            _checks.integer(n_runs, func=func, name="n_runs", lo=2))


def sgd_horizon_loss(eta: Any, batch_size: float, steps: int, *, grad: Any, cov: Any, hess: Any) -> Any:
    r"""E[L(w_T)] − L(w_0) after T SGD steps at a constant learning rate, exact for a quadratic loss.

    Parameters
    ----------
    eta : float or array-like
        Learning rate(s) η ≥ 0.
    batch_size : float
        B > 0: the gradient noise is N(0, Σ/B), independent of w.
    steps : int
        T ≥ 1.
    grad, cov, hess
        g = ∇L(w_0), Σ and H, as for :func:`optimal_lr`.

    Returns
    -------
    float or ndarray
        The expected loss change (negative: a decrease), shaped like ``eta``.

    Notes
    -----
    On L(w) = ½(w − w*)ᵀH(w − w*) + const with g̃(w) = H(w − w*) + ξ, ξ ~ N(0, Σ/B) fresh at each
    step, SGD w_{t+1} = w_t − ηg̃(w_t) keeps w_t Gaussian with mean w* + m_t and covariance C_t:

    .. math::
        m_{t+1} = (I - \eta H)\,m_t, \qquad C_{t+1} = (I - \eta H)\,C_t\,(I - \eta H) + \eta^2\,\Sigma/B,
        \qquad \mathbb{E}[L(w_T)] = \tfrac12\,\mathrm{tr}\big(H(m_T m_T^\top + C_T)\big) + \mathrm{const}.

    It is computed in gradient coordinates, μ_t = Hm_t and P_t = HC_tH (μ_0 = g, P_0 = 0), which
    needs no H⁻¹ (H may be singular): each step changes the loss by exactly
    −η g_tᵀu_t + ½η² u_tᵀHu_t, whose expectation is −η(|μ_t|² + tr P_t) + ½η²(μ_tᵀHμ_t + tr(HP_t)
    + tr(HΣ)/B), and μ_{t+1} = (I − ηH)μ_t, P_{t+1} = (I − ηH)P_t(I − ηH) + η²HΣH/B.
    For T = 1 this is −η|g|² + ½η²(gᵀHg + tr(HΣ)/B), minimised by :func:`optimal_lr`'s η*.
    Cost O(T d³) per η.

    Examples
    --------
    >>> import numpy as np
    >>> g, H, var = np.array([1.0, -0.5]), np.diag([2.0, 1.0]), np.array([4.0, 1.0])
    >>> eta = optimal_lr(10, grad=g, cov=var, hess=H).eta[0]
    >>> bool(np.isclose(sgd_horizon_loss(eta, 10, 1, grad=g, cov=var, hess=H),
    ...                 -optimal_lr(10, grad=g, cov=var, hess=H).decrease[0]))
    True
    >>> round(float(sgd_horizon_loss(0.3, 10, 20, grad=g, cov=var, hess=H)), 4)
    -0.3233
    """
    func = "sgd_horizon_loss"
    etas = np.asarray(eta, dtype=np.float64) if isinstance(eta, (numbers.Real, np.ndarray, list, tuple)) else None
    if etas is None or etas.dtype.kind != "f":
        _checks._fail(func, f"'eta' must be a number or an array of numbers >= 0; got {_checks.describe(eta)}",
                      _checks.InputTypeError)
    if np.any(~np.isfinite(etas) | (etas < 0)):
        bad = etas[~np.isfinite(etas) | (etas < 0)].ravel()[0]
        _checks._fail(func, f"'eta' must be finite and >= 0; got {float(bad)!r}")
    b = _checks.real(batch_size, func=func, name="batch_size", lo=0.0, lo_open=True)
    T = _checks.integer(steps, func=func, name="steps", lo=1)
    model = _model(grad, cov, hess, func)
    H, d = model.H, model.g.size
    S = (model.cov if model.cov is not None else np.diag(model.var)) / b
    HSH, tr_hs = H @ S @ H, float(np.sum(H * S))
    out = np.empty(etas.size)
    for k, e in enumerate(etas.ravel()):
        A = np.eye(d) - e * H
        mu, P, total = model.g.copy(), np.zeros((d, d)), 0.0
        for _ in range(T):
            total += -e * (mu @ mu + np.trace(P)) + 0.5 * e * e * (mu @ H @ mu + np.sum(H * P) + tr_hs)
            mu, P = A @ mu, A @ P @ A + e * e * HSH
        out[k] = total
    return float(out[0]) if etas.ndim == 0 else out.reshape(etas.shape)


def _horizon_losses(model: _Model, noise: Callable[[int, np.random.Generator], np.ndarray], etas: np.ndarray,
                    steps: int, update: str, eps: float | None, n: int, seed: int) -> np.ndarray:
    """Per-run L(w_T) − L(w_0), shape (len(etas), n); the same noise for every η (common random numbers).

    The state is the true gradient g_t = H(w_t − w*): u_t = update(g_t + ξ_t), the loss changes by
    −η g_tᵀu_t + ½η² u_tᵀHu_t, and g_{t+1} = g_t − ηHu_t. Runs are simulated in blocks whose
    noise comes from one generator seeded by ``seed``, so every call sees the same noise.
    """
    H, d, K = model.H, model.g.size, etas.size
    gen = np.random.default_rng(seed)
    out = np.empty((K, n))
    block = max(1, _HZ_BLOCK // (K * d))
    eta = etas[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        for lo in range(0, n, block):
            m = min(block, n - lo)
            xi = noise(steps * m, gen).reshape(steps, m, d)
            g = np.broadcast_to(model.g, (K, m, d)).copy()
            loss = np.zeros((K, m))
            for t in range(steps):
                U = _apply_update(g + xi[t], update, eps)
                HU = U @ H
                loss += -eta * np.einsum("kri,kri->kr", g, U) + 0.5 * eta * eta * np.einsum("kri,kri->kr", HU, U)
                g -= eta[..., None] * HU
            out[:, lo:lo + m] = loss
    return out


def _cubic_min(c: np.ndarray) -> tuple[float, float]:
    """(u, f''(u)) at the local minimum of c0 + c1u + c2u² + c3u³ nearest 0 (NaN if none)."""
    disc = c[2] * c[2] - 3.0 * c[1] * c[3]
    if disc <= 0 or c[2] + math.sqrt(disc) <= 0:
        return math.nan, math.nan
    root = math.sqrt(disc)
    return -c[1] / (c[2] + root), 2.0 * root


def _horizon_point(curves: Callable[[np.ndarray], np.ndarray], grid: np.ndarray, user_grid: bool, b: float,
                   func: str) -> tuple[float, float, float, float]:
    """(η̂, se, loss, se) at one batch size: coarse grid, then cubic fits on narrowing grids."""
    etas = grid
    for _ in range(4):
        with np.errstate(invalid="ignore", over="ignore"):
            m = curves(etas).mean(axis=1)
        m = np.where(np.isfinite(m), m, np.inf)
        k = int(np.argmin(m))
        if 0 < k < etas.size - 1 or not np.isfinite(m[k]):
            break
        if user_grid:
            _checks._fail(func, f"'lrs' must bracket the best learning rate; at batch size {b:g} the lowest loss "
                                f"is at its {'first' if k == 0 else 'last'} value {etas[k]:.4g}; widen 'lrs'")
        step = etas[1] / etas[0]
        etas = (etas[0] * step ** np.arange(-4, 0) if k == 0 else etas[-1] * step ** np.arange(1, 5))
        etas = np.sort(np.concatenate([grid, etas]))
        grid = etas
    if not (0 < k < etas.size - 1) or not np.all(np.isfinite(m[k - 1:k + 2])):
        return math.nan, math.nan, math.nan, math.nan
    x, y = np.log(etas[k - 1:k + 2]), m[k - 1:k + 2]
    a2 = ((y[2] - y[1]) / (x[2] - x[1]) - (y[1] - y[0]) / (x[1] - x[0])) / (x[2] - x[0])
    a1 = (y[1] - y[0]) / (x[1] - x[0]) - a2 * (x[0] + x[1])
    centre = math.exp(float(np.clip(-a1 / (2.0 * a2), x[0], x[2]))) if a2 > 0 else float(etas[k])
    best: tuple[float, float, float, float] | None = None
    for half in _FINE:
        fit = _fine_fit(curves, centre, half)
        if fit is None:
            break  # keep the wider grid's estimate (a jumpy mean, as SignSGD's over few runs)
        previous, best, centre = best, _fit_estimate(*fit), fit[0]
        if previous is not None and abs(best[0] - previous[0]) <= max(best[1], previous[1]):
            # narrowing moved η̂ by less than its s.e.: the wider cubic's bias is negligible. An s.e.
            # that changed by more than 2× means per-run losses that jump on the narrow scale.
            return previous if not 0.5 * previous[1] <= best[1] <= 2.0 * previous[1] else best
    return (math.nan, math.nan, math.nan, math.nan) if best is None else best


def _fit_estimate(eta: float, fitted: float, half: float, v: float, curv: float,
                  C: np.ndarray) -> tuple[float, float, float, float]:
    """(η̂, se, loss, se) from one cubic fit, by the delta method over the runs."""
    n = C.shape[1]
    psi = -(C[1] + 2.0 * C[2] * v + 3.0 * C[3] * v * v) / curv  # influence of each run on v̂
    vals = np.array([1.0, v, v * v, v ** 3]) @ C
    return (eta, fitted * half * float(np.std(psi, ddof=1)) / math.sqrt(n),
            float(vals.mean()), float(np.std(vals, ddof=1)) / math.sqrt(n))


def _fine_fit(curves: Callable[[np.ndarray], np.ndarray], centre: float,
              half: float) -> tuple[float, float, float, float, float, np.ndarray] | None:
    """Cubic fit on η = centre·(1 + half·v), v ∈ [−1, 1], re-centred until |v̂| ≤ 0.6 (at most 4 tries;
    a cubic without a local minimum moves the grid downhill).

    (η̂, grid centre, half, v̂, f''(v̂), per-run coefficients (4, n)), or None without an interior minimum.
    """
    for _ in range(4):
        D = curves(centre * (1.0 + half * _FINE_U))
        if not np.all(np.isfinite(D)):
            return None
        C = _FINE_PINV @ D  # per-run cubic coefficients in v, (4, n)
        c = C.mean(axis=1)
        v, curv = _cubic_min(c)
        if math.isnan(v):  # no local minimum of the cubic: step downhill
            v = 1.0 if c[1] < 0 else -0.8
        elif abs(v) <= 0.6:
            return centre * (1.0 + half * v), centre, half, v, curv, C
        centre *= 1.0 + half * float(np.clip(v, -0.8, 1.0))
    return None


def _lr_grid(lrs: Any, func: str) -> np.ndarray | None:
    if lrs is None:
        return None
    raw = np.asarray(lrs)
    if raw.dtype.kind not in "iuf" or raw.ndim != 1:
        _checks._fail(func, f"'lrs' must be a 1-D sequence of positive numbers; got {_checks.describe(lrs)}",
                      _checks.InputTypeError)
    e = np.unique(raw.astype(np.float64))
    if e.size < 3 or not np.all(np.isfinite(e)) or e[0] <= 0:
        _checks._fail(func, f"'lrs' must hold at least 3 distinct positive finite numbers; got {raw.tolist()!r}")
    return e


def _measure_horizon(model: _Model, B: np.ndarray, steps: int, update: str, eps: float | None,
                     lrs: np.ndarray | None, n: int, gen: np.random.Generator, func: str) -> HorizonLR:
    eta_one = _optimal_lr(model, B, update, eps, func, peak=False).eta
    draw = gaussian_sampler(np.zeros(model.g.size), model.cov if model.cov is not None else model.var)
    out = np.full((B.size, 4), np.nan)
    for i, b in enumerate(B):
        seed = int(gen.integers(0, 2**63 - 1))

        def noise(m: int, g: np.random.Generator, b: float = float(b)) -> np.ndarray:
            return draw(b, m, g)

        def curves(etas: np.ndarray, noise: Callable[..., np.ndarray] = noise, seed: int = seed) -> np.ndarray:
            return _horizon_losses(model, noise, etas, steps, update, eps, n, seed)

        grid = lrs if lrs is not None else eta_one[i] * 2.0 ** np.arange(-4, 5)
        out[i] = _horizon_point(curves, grid, lrs is not None, float(b), func)
    return HorizonLR(update, eps, B, steps, n, out[:, 0], out[:, 1], out[:, 2], out[:, 3], eta_one)


def measure_horizon_lr(batch_sizes: Any, *, steps: int, grad: Any, cov: Any, hess: Any, update: Update = "sgd",
                       eps: float | None = None, lrs: Any = None, n_runs: int = 2000,
                       rng: Any = None) -> HorizonLR:
    r"""The best constant learning rate for T steps on a quadratic, measured by simulation.

    Parameters
    ----------
    batch_sizes : float or array-like of shape (n,)
    steps : int
        T ≥ 1, the horizon.
    grad, cov, hess
        g = ∇L(w_0), Σ and H, as for :func:`optimal_lr`.
    update, eps : as for :func:`optimal_lr`
    lrs : array-like of positive numbers, optional
        The coarse grid of learning rates (at least 3; the best must be interior). Default: a
        log grid η*(B)·2^k, k = −4…4, around the one-step optimum, extended by up to 12 more
        octaves if the best point is at an end.
    n_runs : int, default=2000
        Independent runs of T steps per batch size (≥ 2), shared by every η.
    rng : None, int or numpy Generator

    Returns
    -------
    HorizonLR
        Per batch size η̂_T ± se, E[L(w_T)] − L(w_0) there ± se, and the one-step η*(B).

    Notes
    -----
    **Model.** L(w) = ½(w − w*)ᵀH(w − w*) + const, and the mini-batch gradient at any w is
    g̃_B(w) = H(w − w*) + ξ with ξ ~ N(0, Σ/B) drawn afresh at each step and *independent of w*
    (the Gaussian model of :func:`optimal_lr`, carried along the trajectory). From w_0, where the
    gradient is g, T steps w_{t+1} = w_t − ηu_t with u = g̃, sign(g̃) or g̃/√(g̃² + ε²) run at a
    constant η. The loss is tracked exactly through the true gradient g_t = H(w_t − w*):
    L(w_{t+1}) − L(w_t) = −η g_tᵀu_t + ½η² u_tᵀHu_t and g_{t+1} = g_t − ηHu_t (no H⁻¹ needed).

    **What is simulated.** The expectation over the noise: ``n_runs`` runs, vectorised as
    (η × runs × d) arrays, with the same noise for every η (common random numbers, so the
    differences between learning rates are measured with far less noise than the losses).
    The minimiser is found in stages: the coarse grid locates the best point (a parabola in
    log η through it and its neighbours gives a centre η_c); then the mean loss is fitted by
    least squares with a cubic in v on 9 points η = η_c(1 + hv), v ∈ [−1, 1], for
    h = 0.25, 0.1, 0.04, 0.016, 0.0064 in turn, each grid centred on the previous minimum
    (re-centred, at most 4 times, until the minimum lies in |v| ≤ 0.6; a cubic without a
    minimum moves the grid downhill), and η̂ = η_c(1 + hv̂) at the cubic's minimum. The fit's
    bias falls as h⁴ (for T = 1 the mean loss is exactly quadratic in η: no bias at all), so the
    narrowing stops as soon as it moves η̂ by less than the larger of the two standard errors;
    it matters near a stability edge, where the loss of T SGD steps rises steeply just above
    η*_T. At that stop the wider estimate is kept if the two standard errors differ by more
    than a factor 2 (for smooth per-run curves the error does not depend on h; a change means
    the runs' losses jump on the narrow scale, as SignSGD's do when a sign flips, and the
    narrow grid would over- or, when no run jumps inside it, under-state the error). A
    narrower grid that fails (no minimum: a jumpy mean, as SignSGD's over few runs) leaves the
    previous estimate; NaN if the first fit fails. The tests check SGD against the exact
    :func:`sgd_horizon_loss`.

    **Error bars** (delta method): the fit is linear in the runs, so each run r has cubic
    coefficients c_r with mean c; v̂ solves c₁ + 2c₂v + 3c₃v² = 0, whose linearisation gives each
    run's influence ψ_r = −(c₁ʳ + 2c₂ʳv̂ + 3c₃ʳv̂²)/f''(v̂), and se(η̂) = η_c·h·sd(ψ)/√n_runs. The
    loss at η̂ is the fitted cubic there, with se = sd(c_r·(1, v̂, v̂², v̂³))/√n_runs.

    **What is exact.** η*(B) (``eta_one``) from :func:`optimal_lr`; for SGD the expected loss
    after T steps in closed form, :func:`sgd_horizon_loss`.

    Cost: about 30–60 learning rates × n_runs × T × d² flops per batch size.

    Examples
    --------
    >>> import numpy as np
    >>> g, H, var = np.array([1.0, -0.5]), np.diag([2.0, 1.0]), np.array([4.0, 1.0])
    >>> r = measure_horizon_lr([10], steps=1, grad=g, cov=var, hess=H, n_runs=4000, rng=0)
    >>> bool(abs(r.z(r.eta_one)[0]) < 4), r.eta_one.round(4).tolist()
    (True, [0.3968])
    >>> r5 = measure_horizon_lr([10], steps=5, grad=g, cov=var, hess=H, n_runs=4000, rng=0)
    >>> bool(r5.ratio[0] < 1)
    True
    """
    func = "measure_horizon_lr"
    B = _batch_sizes(batch_sizes, func)
    rule, eps = _update_eps(update, eps, func)
    T, n = _horizon_inputs(steps, n_runs, func)
    grid = _lr_grid(lrs, func)
    model = _model(grad, cov, hess, func)
    return _measure_horizon(model, B, T, rule, eps, grid, n, as_generator(rng, func=func), func)


# --------------------------------------------------------------------------- estimation


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], method="inverted_cdf")
    return float(lo), float(hi)


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> Any:
    """num/den, +inf where den ≤ 0 (noise dominates the signal estimate)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)


def _boot_scales(G: np.ndarray, sq: np.ndarray, sq_h: np.ndarray | None, H: np.ndarray | None, n_boot: int,
                 gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Bootstrap replicates of B_simple (and B_noise): rows resampled with replacement, in blocks of bounded memory."""
    n = G.shape[0]
    simple, noise = np.empty(n_boot), (np.empty(n_boot) if H is not None else None)
    block = max(1, (1 << 21) // n)
    for lo in range(0, n_boot, block):
        k = min(block, n_boot - lo)
        idx = gen.integers(0, n, size=(k, n)) + n * np.arange(k)[:, None]
        W = np.bincount(idx.ravel(), minlength=k * n).reshape(k, n).astype(np.float64)
        gm = (W @ G) / n
        for quad, row_sq, out in ((gm * gm, sq, simple), (None if H is None else (gm @ H) * gm, sq_h, noise)):
            if quad is None or row_sq is None or out is None:
                continue
            trace = (W @ row_sq - n * quad.sum(1)) / (n - 1)
            out[lo:lo + k] = _ratio(trace, quad.sum(1) - trace / n)
    return simple, noise


def noise_stats(per_example: Any, *, hess: Any = None, full_cov: bool = False, level: float = 0.95,
                n_boot: int = 200, rng: Any = None) -> NoiseStats:
    """Gradient-noise statistics and the noise scales from per-example gradients.

    Parameters
    ----------
    per_example : array of shape (N, d)
        Per-example gradients at one point, N ≥ 2 (e.g. from :func:`rankwise.nn.per_example_grads`).
    hess : array of shape (d, d) or callable, optional
        The Hessian (or a Hessian-vector product), for B_noise.
    full_cov : bool, default=False
        Return the full covariance (d, d) instead of its diagonal.
    level : float, default=0.95
        Confidence level of the bootstrap intervals.
    n_boot : int, default=200
        Bootstrap replicates (resampling the N examples with replacement).
    rng : None, int or numpy Generator

    Returns
    -------
    NoiseStats

    Notes
    -----
    With ḡ the mean and Σ̂ the covariance (ddof = 1) of the rows, E|ḡ|² = |g|² + tr Σ/N, so
    |g|² ≈ |ḡ|² − tr Σ̂/N and gᵀHg ≈ ḡᵀHḡ − tr(HΣ̂)/N are unbiased; B_simple = tr Σ̂/that and
    B_noise = tr(HΣ̂)/that (ratios: consistent, not unbiased). The intervals are bootstrap
    percentiles of the same ratios.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.random.default_rng(0).normal([1.0, 0.0], 3.0, size=(20_000, 2))
    >>> st = noise_stats(G, hess=np.eye(2), rng=0)
    >>> round(st.b_simple, 1), round(st.b_noise, 1), st.b_simple_ci[0] < 18 < st.b_simple_ci[1]
    (17.5, 17.5, True)
    """
    func = "noise_stats"
    G = _np(_checks.matrix(per_example, func=func, name="per_example"))
    n, d = G.shape
    if n < 2:
        _checks._fail(func, f"'per_example' must have at least 2 rows (examples); got shape {G.shape}")
    level = _checks.real(level, func=func, name="level", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    n_boot = _checks.integer(n_boot, func=func, name="n_boot", lo=2)
    H = None if hess is None else _hessian(hess, d, func)
    gen = as_generator(rng, func=func)
    gm = G.mean(axis=0)
    cov = np.cov(G, rowvar=False, ddof=1).reshape(d, d) if full_cov else G.var(axis=0, ddof=1)
    sq = np.einsum("ni,ni->n", G, G)
    trace = float(np.trace(cov)) if full_cov else float(cov.sum())
    g2 = float(gm @ gm) - trace / n
    ghg = tr_h = b_noise = None
    sq_h = None
    if H is not None:
        sq_h = np.einsum("ni,ni->n", G @ H, G)
        tr_h = float((sq_h.sum() - n * gm @ H @ gm) / (n - 1))
        ghg = float(gm @ H @ gm) - tr_h / n
        b_noise = float(_ratio(tr_h, ghg))
    boot_simple, boot_noise = _boot_scales(G, sq, sq_h, H, n_boot, gen)
    b_noise_ci = None if boot_noise is None else _interval(boot_noise, level)
    return NoiseStats(gm, cov, n, g2, trace, float(_ratio(trace, g2)), _interval(boot_simple, level), ghg, tr_h,
                      b_noise, b_noise_ci, level)


def _two_batch(small: Any, big: Any, bs: float, bb: float) -> tuple[Any, Any]:
    """McCandlish's unbiased (|G|², S) from mean squared norms at batch sizes bs < bb (broadcasts)."""
    g2 = (bb * big - bs * small) / (bb - bs)
    trace = (small - big) / (1.0 / bs - 1.0 / bb)
    return g2, trace


def two_batch_noise_scale(small: Any, big: Any, *, b_small: float, b_big: float, level: float = 0.95,
                          n_boot: int = 2000, paired: bool = False, rng: Any = None) -> NoiseScale:
    r"""McCandlish et al.'s unbiased estimates of |g|², tr Σ and B_simple from two batch sizes.

    Parameters
    ----------
    small, big : array-like of shape (n_small,) and (n_big,)
        Repeated measurements of |G_B|², the squared norm of a mean gradient over a batch of
        ``b_small`` (resp. ``b_big``) examples. Pass H-weighted norms G_BᵀHG_B instead to
        estimate gᵀHg, tr(HΣ) and B_noise.
    b_small, b_big : float
        The batch sizes, 0 < b_small < b_big.
    level : float, default=0.95
        Confidence level of the bootstrap percentile intervals.
    n_boot : int, default=2000
        Bootstrap replicates: ``small`` and ``big`` are resampled independently, or jointly by
        index when ``paired`` (measurements taken on the same step, as with per-device and
        all-device gradients).
    paired : bool, default=False
    rng : None, int or numpy Generator

    Returns
    -------
    NoiseScale

    Notes
    -----
    E|G_B|² = |g|² + tr Σ/B, so with the means of the two samples

    .. math::
        |\mathcal{G}|^2 = \frac{B_{big}|G_{big}|^2 - B_{small}|G_{small}|^2}{B_{big} - B_{small}},
        \qquad \mathcal{S} = \frac{|G_{small}|^2 - |G_{big}|^2}{1/B_{small} - 1/B_{big}}

    are unbiased for |g|² and tr Σ; B_simple is estimated by S/|G|² (the ratio of the
    averages, as McCandlish et al. recommend, consistent but not unbiased).

    Examples
    --------
    >>> import numpy as np
    >>> gen = np.random.default_rng(0)
    >>> g, sd = np.array([1.0, 0.0]), 3.0
    >>> norms = lambda b: ((g + sd * gen.standard_normal((4000, 2)) / np.sqrt(b)) ** 2).sum(1)
    >>> est = two_batch_noise_scale(norms(8), norms(128), b_small=8, b_big=128, rng=0)
    >>> round(est.scale, 1), est.scale_ci[0] < 18 < est.scale_ci[1]
    (17.9, True)
    """
    func = "two_batch_noise_scale"
    s = _np(_checks.array(small, func=func, name="small", ndim=1))
    b = _np(_checks.array(big, func=func, name="big", ndim=1))
    bs = _checks.real(b_small, func=func, name="b_small", lo=0.0, lo_open=True)
    bb = _checks.real(b_big, func=func, name="b_big", lo=0.0, lo_open=True)
    if bb <= bs:
        _checks._fail(func, f"'b_big' must be larger than 'b_small' = {bs:g}; got {bb:g}")
    if min(s.size, b.size) < 2 or (paired and s.size != b.size):
        _checks._fail(func, f"'small' and 'big' must hold at least 2 measurements each{' and as many' * paired}; "
                            f"got {s.size} and {b.size}")
    level = _checks.real(level, func=func, name="level", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    n_boot = _checks.integer(n_boot, func=func, name="n_boot", lo=2)
    gen = as_generator(rng, func=func)
    i = gen.integers(0, s.size, size=(n_boot, s.size))
    j = i if paired else gen.integers(0, b.size, size=(n_boot, b.size))
    g2_b, tr_b = _two_batch(s[i].mean(1), b[j].mean(1), bs, bb)
    g2, tr = _two_batch(float(s.mean()), float(b.mean()), bs, bb)
    return NoiseScale(float(g2), _interval(g2_b, level), float(tr), _interval(tr_b, level),
                      float(_ratio(tr, g2)), _interval(_ratio(tr_b, g2_b), level), bs, bb, level)


# --------------------------------------------------------------------------- the experiment


class _Case(NamedTuple):
    summary: ProblemSummary
    model: _Model  # with the full Σ
    sampler: Sampler


def _linreg_case(dim: int, n_samples: int, gen: np.random.Generator) -> _Case:
    """Least squares on correlated features, at a point whose B_noise is about 50; batches from the data."""
    from scipy import optimize

    from .problems import LinearRegression

    X = 0.8 * gen.standard_normal((n_samples, 1)) + 0.6 * gen.standard_normal((n_samples, dim))
    y = X @ gen.standard_normal(dim) + gen.standard_normal(n_samples)
    prob = LinearRegression(X, y)
    w_star, H = np.asarray(prob.solution()), np.asarray(prob.hessian())
    direction = np.ones(dim) / math.sqrt(dim)

    def stats(c: float) -> tuple[np.ndarray, np.ndarray]:
        P = np.asarray(prob.per_sample_gradients(w_star + c * direction))
        return P, P.mean(axis=0)

    def log_b_noise(t: float) -> float:
        P, g = stats(math.exp(t))
        cov = np.cov(P, rowvar=False, ddof=0).reshape(dim, dim)
        return math.log(float(np.sum(H * cov)) / float(g @ H @ g)) - math.log(50.0)

    P, g = stats(math.exp(optimize.brentq(log_b_noise, math.log(1e-3), math.log(1e3), xtol=1e-3)))
    cov = np.cov(P, rowvar=False, ddof=0).reshape(dim, dim)
    model = _Model(g, P.var(axis=0), cov if dim > 1 else None, H)
    desc = f"LinearRegression, N={n_samples}, d={dim}, correlated features"
    return _Case(_summary("linreg", desc, model, "with replacement from the data"), model, minibatch_sampler(P))


def _quadratic_case(dim: int, gen: np.random.Generator) -> _Case:
    """A quadratic with spectrum 1…100, off its minimum along the top eigenvector; diagonal Gaussian noise."""
    from .problems import Quadratic

    q = Quadratic.with_spectrum(np.geomspace(1.0, 100.0, dim), rng=gen)
    A = np.asarray(q.A)
    top = np.linalg.eigh(A)[1][:, -1]
    delta = top + 0.3 * gen.standard_normal(dim) / math.sqrt(dim)
    g = np.asarray(q.gradient(np.asarray(q.x_star) + delta))
    shape = np.diag(A).copy()
    var = shape * 50.0 * float(g @ A @ g) / float(np.diag(A) @ shape)  # B_noise = 50
    model = _Model(g, var, None, A)
    desc = f"Quadratic, d={dim}, eigenvalues 1…100, Σ ∝ diag(A)"
    return _Case(_summary("quadratic", desc, model, "Gaussian, N(g, Σ/B)"), model, gaussian_sampler(g, var))


def _summary(name: str, desc: str, model: _Model, sampling: str) -> ProblemSummary:
    b_noise, b_simple = _scales(model)
    peak = _optimal_lr(model, np.array([1.0]), "sign", None, "lr_scaling_experiment").b_peak
    return ProblemSummary(name, desc, model.g.size, b_noise, b_simple, peak, sampling)


def _rows(case: _Case, B: np.ndarray, configs: list[tuple[str, float | None, float | None]], n: int,
          gen: np.random.Generator) -> list[LRScalingRow]:
    model, name = case.model, case.summary.name
    sims = _simulate(case.sampler, B, model.g, model.H, [(u, e) for u, e, _ in configs], n, gen,
                     "lr_scaling_experiment")
    rows = []
    kind = "diag" if model.cov is None else "full"
    for (update, eps, rel), st in zip(configs, sims, strict=True):
        pred = _optimal_lr(model, B, update, eps, "lr_scaling_experiment", peak=False)
        rows += [LRScalingRow(name, update, eps, rel, kind, float(b), float(pred.eta[k]), float(pred.eta_approx[k]),
                              float(st[k, 0]), float(st[k, 1])) for k, b in enumerate(B)]
    return rows


def lr_scaling_experiment(*, batch_sizes: Any = (1, 4, 16, 64, 256, 1024, 4096),
                          eps_rel: Sequence[float] = (0.01, 0.1, 1.0), n_draws: int = 2000, dim: int = 16,
                          n_samples: int = 20_000, horizon: int | None = None,
                          rng: Any = None) -> LRScalingReport:
    """Calculator against simulation: η*(B) for SGD, SignSGD and Adam on two problems.

    Parameters
    ----------
    batch_sizes : array-like of whole numbers, default=(1, 4, …, 4096)
    eps_rel : sequence of float, default=(0.01, 0.1, 1.0)
        Adam's ε in units of σ̄ = √(tr Σ/d), the per-coordinate noise of one example.
    n_draws : int, default=2000
        Batches drawn per batch size (shared by the update rules).
    dim : int, default=16
        Parameters of each problem.
    n_samples : int, default=20000
        Rows of the least-squares data.
    horizon : int, optional
        T ≥ 1: also measure the best constant learning rate for T steps on the quadratic
        problem (:func:`measure_horizon_lr`, ``n_draws`` runs per batch size) for every update
        rule, into ``report.horizon``. Off by default.
    rng : None, int or numpy Generator

    Returns
    -------
    LRScalingReport
        One row per problem × update × batch size: the prediction of :func:`optimal_lr`, its
        mean-field approximation and the measured η̂ ± se (:func:`measure_optimal_lr`); with
        ``horizon``, one :class:`HorizonRow` per update × batch size.

    Notes
    -----
    * ``linreg``: :class:`LinearRegression` on features with pairwise correlation 0.64, at
      w = w* + c·1/√d with c chosen so that B_noise = 50. Batches are drawn with replacement
      from the data, so Cov(g̃_B) = Σ/B exactly but g̃_B is not Gaussian at small B: the
      calculator (fed the exact g, H and Σ of the data) is exact for SGD and tests the Gaussian
      model for the others (with the full Σ of the data).
    * ``quadratic``: :class:`Quadratic` with eigenvalues geometric in [1, 100], off its minimum
      mostly along the top eigenvector, with Gaussian noise N(0, Σ/B), Σ ∝ diag(A) scaled to
      B_noise = 50: the calculator's model exactly.

    The one-step decrease of a quadratic loss is exactly η gᵀu − ½η² uᵀHu, so the simulation
    measures the mean of gᵀu and uᵀHu over the sampled batches.

    Examples
    --------
    >>> rep = lr_scaling_experiment(batch_sizes=[4, 256], eps_rel=[0.1], n_draws=300, dim=6,
    ...                             n_samples=2000, rng=0)
    >>> len(rep.rows), [p.name for p in rep.problems]
    (12, ['linreg', 'quadratic'])
    """
    func = "lr_scaling_experiment"
    B = _batch_sizes(batch_sizes, func)
    rels = [_checks.real(e, func=func, name="eps_rel", lo=0.0) for e in np.atleast_1d(np.asarray(eps_rel))]
    n = _checks.integer(n_draws, func=func, name="n_draws", lo=2)
    d = _checks.integer(dim, func=func, name="dim", lo=1)
    n_rows = _checks.integer(n_samples, func=func, name="n_samples", lo=d + 2, context=f"dim = {d}")
    steps = None if horizon is None else _checks.integer(horizon, func=func, name="horizon", lo=1)
    seed = int(rng) if isinstance(rng, numbers.Integral) else None
    gen = as_generator(rng, func=func)
    rows: list[LRScalingRow] = []
    horizon_rows: list[HorizonRow] = []
    cases = [_linreg_case(d, n_rows, gen), _quadratic_case(d, gen)]
    for case in cases:
        sigma = math.sqrt(float(case.model.var.sum()) / d)
        configs: list[tuple[str, float | None, float | None]] = [("sgd", None, None), ("sign", None, None)]
        configs += [("adam", r * sigma, r) for r in rels]
        rows += _rows(case, B, configs, n, gen)
        if steps is not None and case.summary.name == "quadratic":
            horizon_rows += _horizon_rows(case, B, configs, steps, n, gen)
    return LRScalingReport(tuple(rows), tuple(c.summary for c in cases), n, seed, tuple(horizon_rows), steps)


def _horizon_rows(case: _Case, B: np.ndarray, configs: list[tuple[str, float | None, float | None]], steps: int,
                  n: int, gen: np.random.Generator) -> list[HorizonRow]:
    out = []
    for update, eps, rel in configs:
        res = _measure_horizon(case.model, B, steps, update, eps, None, n, gen, "lr_scaling_experiment")
        out += [HorizonRow(case.summary.name, update, eps, rel, float(b), steps, float(res.eta_one[k]),
                           float(res.eta[k]), float(res.eta_se[k])) for k, b in enumerate(B)]
    return out
