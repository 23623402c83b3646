"""Test problems with known structure: least squares, L2-regularised logistic regression, quadratics.

Each problem is a frozen object exposing ``loss(w)``, ``gradient(w)``, ``hessian(w)`` and
``hvp(w, v)`` (Hessian-vector product), ``smoothness()`` → (μ, L) bounds of the Hessian's
spectrum, and, for the finite sums, ``n_samples``, ``loss_batch(w, idx)``,
``gradient_batch(w, idx)`` and ``per_sample_gradients(w, idx)`` for stochastic methods.
Arrays keep their library, device and dtype (NumPy, torch, …).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _array, _checks
from .._array import Array
from .._numerics import eps
from ..linalg.pinv import lstsq
from ._tree import dot, namespace

__all__ = ["LinearRegression", "LogisticRegression", "Quadratic"]


def _vector(w: Any, d: int, ref: Array, func: str, name: str = "w") -> Array:
    w = _checks.array(w, func=func, name=name, ndim=1)
    if w.shape[0] != d:
        _checks._fail(func, f"'{name}' must have {d} entries (one per feature); got shape {tuple(w.shape)}")
    _checks.same_namespace(func, X=ref, **{name: w})
    return w


def _data(X: Any, y: Any, func: str) -> tuple[Array, Array]:
    X = _checks.matrix(X, func=func, name="X")
    y = _checks.array(y, func=func, name="y", ndim=1)
    _checks.same_namespace(func, X=X, y=y)
    if y.shape[0] != X.shape[0]:
        _checks._fail(func, f"'y' must have one entry per row of X ({X.shape[0]}); got shape {tuple(y.shape)}")
    xp = _array.namespace(X)
    dt = xp.result_type(X.dtype, y.dtype)
    return xp.astype(X, dt), xp.astype(y, dt)


def _rows(X: Array, idx: Any) -> Array:
    xp = _array.namespace(X)
    if _array.is_numpy(X):
        return X[idx]
    return xp.take(X, xp.asarray(np.asarray(idx), device=_array.device(X)), axis=0)


def _singular_range(X: Array) -> tuple[float, float]:
    """(σ_min², σ_max²) of X, σ_min = 0 when X has more columns than rows."""
    s = np.linalg.svd(_array.to_numpy(X).astype(np.float64), compute_uv=False)
    smin = float(s[-1]) if X.shape[0] >= X.shape[1] else 0.0
    return smin**2, float(s[0]) ** 2


def _max_row_norm2(X: Array) -> float:
    xp = _array.namespace(X)
    return _array.to_float(xp.max(xp.sum(X * X, axis=1)))


class _DataProblem:
    """``n_samples`` and ``n_features`` of a problem built on data ``X`` of shape (N, d)."""

    __slots__ = ()
    X: Array

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


@dataclass(frozen=True, slots=True, eq=False)
class LinearRegression(_DataProblem):
    """Least squares L(w) = (1/N)‖Xw − y‖².

    Parameters
    ----------
    X : array of shape (N, d)
    y : array of shape (N,)

    Notes
    -----
    ∇L = (2/N) Xᵀ(Xw − y) and ∇²L = (2/N) XᵀX, so μ = 2σ_min(X)²/N, L = 2σ_max(X)²/N.
    The minimiser (minimum-norm when XᵀX is singular) is :meth:`solution`, computed
    through :func:`rankwise.lstsq` (an SVD), never (XᵀX)⁻¹Xᵀy: the normal equations square
    the condition number.

    Examples
    --------
    >>> import numpy as np
    >>> p = LinearRegression(np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), np.array([1.0, 2.0, 2.0]))
    >>> p.solution().round(6).tolist(), round(p.loss(p.solution()), 12)
    ([1.0, 1.0], 0.0)
    """

    X: Array
    y: Array

    def __post_init__(self) -> None:
        X, y = _data(self.X, self.y, "LinearRegression")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)

    def _check(self, w: Any, func: str) -> Array:
        return _vector(w, self.n_features, self.X, f"LinearRegression.{func}")

    def loss(self, w: Any) -> float:
        """(1/N)‖Xw − y‖²."""
        return _ls_loss(self.X, self.y, self._check(w, "loss"))

    def gradient(self, w: Any) -> Array:
        """(2/N) Xᵀ(Xw − y)."""
        return _ls_grad(self.X, self.y, self._check(w, "gradient"))

    def _loss(self, w: Array) -> float:
        return _ls_loss(self.X, self.y, w)

    def _gradient(self, w: Array) -> Array:
        return _ls_grad(self.X, self.y, w)

    def loss_batch(self, w: Array, idx: Any) -> float:
        """The loss over the rows ``idx`` only."""
        return _ls_loss(_rows(self.X, idx), _rows(self.y, idx), w)

    def gradient_batch(self, w: Array, idx: Any) -> Array:
        """The mean gradient over the rows ``idx``: (2/b) X_bᵀ(X_b w − y_b)."""
        return _ls_grad(_rows(self.X, idx), _rows(self.y, idx), w)

    def per_sample_gradients(self, w: Any, idx: Any = None) -> Array:
        """Row i: ∇ of (x_iᵀw − y_i)², that is 2(x_iᵀw − y_i) x_i; shape (b, d)."""
        w = self._check(w, "per_sample_gradients")
        X, y = (self.X, self.y) if idx is None else (_rows(self.X, idx), _rows(self.y, idx))
        return (2.0 * (X @ w - y))[:, None] * X

    def hessian(self, w: Any = None) -> Array:
        """(2/N) XᵀX (independent of w)."""
        del w
        return (2.0 / self.n_samples) * (self.X.mT @ self.X)

    def hvp(self, w: Any, v: Any) -> Array:
        """(2/N) Xᵀ(Xv), without forming XᵀX."""
        del w
        return (2.0 / self.n_samples) * (self.X.mT @ (self.X @ v))

    def smoothness(self) -> tuple[float, float]:
        """(μ, L): the extreme eigenvalues of the Hessian (2/N)XᵀX."""
        lo, hi = _singular_range(self.X)
        return 2.0 * lo / self.n_samples, 2.0 * hi / self.n_samples

    def sample_smoothness(self) -> float:
        """max_i 2‖x_i‖²: the largest smoothness constant of one sample's loss (x_iᵀw − y_i)²."""
        return 2.0 * _max_row_norm2(self.X)

    def solution(self) -> Array:
        """The minimum-norm minimiser X⁺y, through :func:`rankwise.lstsq`."""
        return lstsq(self.X, self.y).X


def _ls_loss(X: Array, y: Array, w: Array) -> float:
    r = X @ w - y
    return dot(r, r) / X.shape[0]


def _ls_grad(X: Array, y: Array, w: Array) -> Array:
    return (2.0 / X.shape[0]) * (X.mT @ (X @ w - y))


@dataclass(frozen=True, slots=True, eq=False)
class LogisticRegression(_DataProblem):
    """L2-regularised logistic regression with labels in {0, 1}.

    .. math::
        L(w) = \\frac1N \\sum_i \\big(\\log(1 + e^{z_i}) - y_i z_i\\big) + \\frac{\\lambda}{2}\\|w\\|^2,
        \\quad z = Xw

    Parameters
    ----------
    X : array of shape (N, d)
    y : array of shape (N,) with values 0 or 1
    l2 : float, default=0
        λ ≥ 0; with λ > 0 the loss is λ-strongly convex and has a unique minimiser.

    Notes
    -----
    ∇L = Xᵀ(s(z) − y)/N + λw and ∇²L = Xᵀ diag(s(z)(1 − s(z))) X / N + λI, s the sigmoid;
    hence λ ≤ eig(∇²L) ≤ σ_max(X)²/(4N) + λ. Computed without overflow (log-sum-exp).
    """

    X: Array
    y: Array
    l2: float = 0.0

    def __post_init__(self) -> None:
        func = "LogisticRegression"
        X, y = _data(self.X, self.y, func)
        yn = _array.to_numpy(y)
        bad = int(np.sum((yn != 0) & (yn != 1)))
        if bad:
            _checks._fail(func, f"'y' must hold labels 0 or 1; got {bad} other value(s), e.g. "
                                f"{float(yn[(yn != 0) & (yn != 1)][0])!r}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "l2", _checks.real(self.l2, func=func, name="l2", lo=0.0))

    def _check(self, w: Any, func: str) -> Array:
        return _vector(w, self.n_features, self.X, f"LogisticRegression.{func}")

    def loss(self, w: Any) -> float:
        return self.loss_batch(self._check(w, "loss"), None)

    def gradient(self, w: Any) -> Array:
        return self.gradient_batch(self._check(w, "gradient"), None)

    def _loss(self, w: Array) -> float:
        return self.loss_batch(w, None)

    def _gradient(self, w: Array) -> Array:
        return self.gradient_batch(w, None)

    def loss_batch(self, w: Array, idx: Any) -> float:
        X, y = self._rows(idx)
        z = X @ w
        xp = namespace(z)
        data = _array.to_float(xp.sum(xp.logaddexp(xp.zeros_like(z), z) - y * z)) / X.shape[0]
        return data + 0.5 * self.l2 * dot(w, w)

    def gradient_batch(self, w: Array, idx: Any) -> Array:
        X, y = self._rows(idx)
        return X.mT @ (_sigmoid(X @ w) - y) / X.shape[0] + self.l2 * w

    def per_sample_gradients(self, w: Any, idx: Any = None) -> Array:
        """Row i: (s(x_iᵀw) − y_i) x_i + λw; shape (b, d)."""
        w = self._check(w, "per_sample_gradients")
        X, y = self._rows(idx)
        return (_sigmoid(X @ w) - y)[:, None] * X + self.l2 * w

    def hessian(self, w: Any) -> Array:
        w = self._check(w, "hessian")
        s = _sigmoid(self.X @ w)
        xp = _array.namespace(w)
        return (self.X.mT * (s * (1.0 - s))) @ self.X / self.n_samples + self.l2 * xp.eye(
            self.n_features, dtype=w.dtype, device=_array.device(w))

    def hvp(self, w: Any, v: Any) -> Array:
        s = _sigmoid(self.X @ w)
        return self.X.mT @ ((s * (1.0 - s)) * (self.X @ v)) / self.n_samples + self.l2 * v

    def smoothness(self) -> tuple[float, float]:
        """(λ, σ_max(X)²/(4N) + λ): bounds valid at every w."""
        _, hi = _singular_range(self.X)
        return self.l2, hi / (4.0 * self.n_samples) + self.l2

    def sample_smoothness(self) -> float:
        """max_i ‖x_i‖²/4 + λ: the largest smoothness constant of one sample's loss."""
        return _max_row_norm2(self.X) / 4.0 + self.l2

    def predict_proba(self, w: Any) -> Array:
        """s(Xw), the probability of label 1."""
        return _sigmoid(self.X @ self._check(w, "predict_proba"))

    def _rows(self, idx: Any) -> tuple[Array, Array]:
        return (self.X, self.y) if idx is None else (_rows(self.X, idx), _rows(self.y, idx))


def _sigmoid(z: Array) -> Array:
    xp = _array.namespace(z)
    return xp.exp(z - xp.logaddexp(xp.zeros_like(z), z))  # e^z/(1+e^z), never overflows


@dataclass(frozen=True, slots=True, eq=False)
class Quadratic:
    """f(x) = ½ xᵀAx − bᵀx with A symmetric positive semi-definite.

    Parameters
    ----------
    A : array of shape (n, n)
        Symmetric (to rounding) and positive semi-definite.
    b : array of shape (n,)

    Attributes
    ----------
    mu, L : float
        The smallest and largest eigenvalues of A (strong convexity and smoothness).
    x_star : array of shape (n,)
        The minimiser, A⁺b (through :func:`rankwise.lstsq`; unique when μ > 0).

    Notes
    -----
    ∇f = Ax − b, ∇²f = A. GD with η = 2/(L + μ) contracts ‖x_k − x*‖ by (κ − 1)/(κ + 1)
    per step, with η = 1/L by 1 − 1/κ (κ = L/μ, SPEC §2.1).

    Examples
    --------
    >>> import numpy as np
    >>> q = Quadratic(np.diag([1.0, 4.0]), np.array([1.0, 4.0]))
    >>> q.mu, q.L, q.x_star.tolist()
    (1.0, 4.0, [1.0, 1.0])
    """

    A: Array
    b: Array
    mu: float = field(init=False, default=0.0)
    L: float = field(init=False, default=0.0)
    x_star: Array = field(init=False, default=None)

    def __post_init__(self) -> None:
        func = "Quadratic"
        A = _checks.matrix(self.A, func=func)
        b = _checks.array(self.b, func=func, name="b", ndim=1)
        _checks.same_namespace(func, A=A, b=b)
        n = A.shape[0]
        if A.shape != (n, n) or b.shape[0] != n:
            _checks._fail(func, f"'A' must be square and 'b' of matching length; got A of shape {tuple(A.shape)} "
                                f"and b of shape {tuple(b.shape)}")
        An = _array.to_numpy(A).astype(np.float64)
        asym = float(np.abs(An - An.T).max())
        scale = float(np.abs(An).max()) or 1.0
        if asym > 100 * eps("float64") * scale * n:
            _checks._fail(func, f"'A' must be symmetric; got max |A − Aᵀ| = {asym:.3g} (max |A| = {scale:.3g})")
        ev = np.linalg.eigvalsh(0.5 * (An + An.T))
        if ev[0] < -1e3 * eps("float64") * max(abs(ev[-1]), 1.0) * n:
            _checks._fail(func, f"'A' must be positive semi-definite; got smallest eigenvalue {ev[0]:.3g}")
        xp = _array.namespace(A)
        dt = xp.result_type(A.dtype, b.dtype)
        A, b = xp.astype(A, dt), xp.astype(b, dt)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "mu", max(float(ev[0]), 0.0))
        object.__setattr__(self, "L", float(ev[-1]))
        object.__setattr__(self, "x_star", lstsq(A, b).X)

    @classmethod
    def with_spectrum(cls, eigenvalues: Any, b: Any = None, *, rng: Any = None) -> Quadratic:
        """A = Q diag(eigenvalues) Qᵀ with a Haar-random orthogonal Q; b Gaussian unless given.

        Examples
        --------
        >>> q = Quadratic.with_spectrum([1.0, 10.0, 100.0], rng=0)
        >>> q.mu, q.L
        (1.0, 100.0)
        """
        from ..random import _orthonormal, as_generator

        lam = np.asarray(_checks.array(np.asarray(eigenvalues, dtype=np.float64), func="Quadratic.with_spectrum",
                                       name="eigenvalues", ndim=1))
        if np.any(lam < 0):
            _checks._fail("Quadratic.with_spectrum", f"'eigenvalues' must be >= 0; got minimum {lam.min()!r}")
        gen = as_generator(rng, func="Quadratic.with_spectrum")
        Q = _orthonormal(lam.size, lam.size, False, gen)
        A = (Q * lam) @ Q.T
        A = 0.5 * (A + A.T)
        rhs = gen.standard_normal(lam.size) if b is None else b
        q = cls(A, rhs)
        object.__setattr__(q, "mu", float(lam.min()))
        object.__setattr__(q, "L", float(lam.max()))
        return q

    @property
    def n_features(self) -> int:
        return int(self.A.shape[0])

    def _check(self, x: Any, func: str) -> Array:
        return _vector(x, self.n_features, self.A, f"Quadratic.{func}", name="x")

    def loss(self, x: Any) -> float:
        """½ xᵀAx − bᵀx."""
        return self._loss(self._check(x, "loss"))

    def _loss(self, x: Array) -> float:
        return dot(x, 0.5 * (self.A @ x) - self.b)

    def _gradient(self, x: Array) -> Array:
        return self.A @ x - self.b

    def gradient(self, x: Any) -> Array:
        """Ax − b."""
        return self._gradient(self._check(x, "gradient"))

    def hessian(self, x: Any = None) -> Array:
        del x
        return self.A

    def hvp(self, x: Any, v: Any) -> Array:
        del x
        return self.A @ v

    def smoothness(self) -> tuple[float, float]:
        return self.mu, self.L

    def solution(self) -> Array:
        return self.x_star
