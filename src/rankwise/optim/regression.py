"""Regression on named columns: the design matrix, fitting a model, and its metrics.

:func:`design_matrix` turns columns (as :func:`rankwise.io.read_columns` reads them) into
``X`` with an intercept column and the target ``y``; :func:`regression_problem` picks the
least-squares or logistic problem; :func:`fit_regression` solves it in closed form or with
:func:`~rankwise.optim.minimize` and classifies the rate of convergence;
:func:`regression_metrics` and :func:`fit_metrics` measure the fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from .. import _checks
from ..rates import RateReport, analyze
from .minimize import IterInfo, OptimizeResult, Status, Stop, minimize
from .problems import LinearRegression, LogisticRegression

__all__ = [
    "MODELS",
    "Design",
    "FitMetrics",
    "FitResult",
    "RegressionMetrics",
    "design_matrix",
    "fit_metrics",
    "fit_regression",
    "raw_weights",
    "regression_metrics",
    "regression_problem",
    "standardize",
]

Model = Literal["linear", "logistic"]
MODELS = ("linear", "logistic")
Problem = LinearRegression | LogisticRegression


class Design(NamedTuple):
    """A design matrix ``X`` (N × (d + 1), the last column all ones), the target ``y`` (N,)
    and the names of ``X``'s columns (the features, then ``"intercept"``)."""

    X: np.ndarray
    y: np.ndarray
    names: list[str]


def standardize(X: np.ndarray) -> np.ndarray:
    """Scale each column to mean 0 and variance 1.

    .. math:: Z_{ij} = (X_{ij} - \\bar x_j) / s_j, \\qquad
              s_j = \\bigl(\\tfrac1N \\textstyle\\sum_i (X_{ij} - \\bar x_j)^2\\bigr)^{1/2}

    (the population standard deviation, as ``sklearn.preprocessing.StandardScaler``); a
    constant column (:math:`s_j = 0`) is only centred.

    Parameters
    ----------
    X : ndarray of shape (N, d)

    Returns
    -------
    ndarray of shape (N, d)

    Examples
    --------
    >>> standardize(np.array([[1.0, 5.0], [3.0, 5.0]])).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    return (X - X.mean(axis=0)) / _scales(X)


def _scales(X: np.ndarray) -> np.ndarray:
    """s_j of :func:`standardize`: the column standard deviations, 1 for a constant column."""
    sd = X.std(axis=0)
    return np.where(sd > 0, sd, 1.0)


_standardize = standardize  # design_matrix's keyword of the same name hides it


def raw_weights(w: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Weights fitted on :func:`standardize`-d features, as weights on the raw features.

    With z_j = (x_j − x̄_j)/s_j (s_j = 1 for a constant column), the linear predictor
    Σ_j w_j z_j + b equals Σ_j (w_j/s_j) x_j + (b − Σ_j w_j x̄_j/s_j), so

    .. math:: w'_j = w_j / s_j, \\qquad b' = b - \\sum_j w_j \\bar x_j / s_j

    gives the same predictions (and the same loss) in the data's own units.

    Parameters
    ----------
    w : ndarray of shape (d + 1,)
        Feature weights, then the intercept (the layout of :func:`design_matrix`).
    features : ndarray of shape (N, d)
        The raw feature columns the standardisation was computed from.

    Returns
    -------
    ndarray of shape (d + 1,)

    Examples
    --------
    >>> X = np.array([[1.0], [3.0]])
    >>> w = np.array([2.0, 10.0])  # y = 2·(x − 2)/1 + 10
    >>> raw_weights(w, X).tolist()
    [2.0, 6.0]
    """
    w = np.asarray(w, dtype=np.float64)
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or w.shape != (features.shape[1] + 1,):
        raise ValueError(f"raw_weights: 'w' must have shape (d + 1,) = ({features.shape[-1] + 1},) for features "
                         f"of shape {features.shape}; got {w.shape}")
    coef = w[:-1] / _scales(features)
    return np.append(coef, w[-1] - float(np.sum(coef * features.mean(axis=0))))


def design_matrix(columns: Mapping[str, np.ndarray], target: str, *, standardize: bool = True) -> Design:
    """The regression of column ``target`` on all the other columns, with an intercept.

    Parameters
    ----------
    columns : mapping of str to ndarray of shape (N,)
        Named columns, in order.
    target : str
        The column to predict.
    standardize : bool, default=True
        Scale the features with :func:`standardize` (the intercept column stays ones).

    Returns
    -------
    Design
        ``X = [features | 1]`` of shape (N, d + 1), ``y`` and the column names.

    Raises
    ------
    ValueError
        ``target`` is not a column, or there is no other column.

    Examples
    --------
    >>> d = design_matrix({"a": np.array([0.0, 2.0]), "y": np.array([1.0, 3.0])}, "y")
    >>> d.X.tolist(), d.y.tolist(), d.names
    ([[-1.0, 1.0], [1.0, 1.0]], [1.0, 3.0], ['a', 'intercept'])
    """
    if target not in columns:
        raise ValueError(f"design_matrix: 'target' must be one of the columns {', '.join(columns)}; "
                         f"got {target!r}")
    y = columns[target]
    names = [c for c in columns if c != target]
    if not names:
        raise ValueError("the data has no feature columns besides the target")
    X = np.column_stack([columns[c] for c in names])
    if standardize:
        X = _standardize(X)
    return Design(np.column_stack([X, np.ones(len(y))]), y, [*names, "intercept"])


def regression_problem(model: Model, X: np.ndarray, y: np.ndarray, *, l2: float = 1e-3) -> Problem:
    """The least-squares (``"linear"``) or L2-penalised logistic (``"logistic"``, labels 0/1) problem.

    Examples
    --------
    >>> type(regression_problem("linear", np.eye(3), np.ones(3))).__name__
    'LinearRegression'
    """
    model = _checks.choice(model, MODELS, func="regression_problem", name="model")  # type: ignore[assignment]
    return LinearRegression(X, y) if model == "linear" else LogisticRegression(X, y, l2=l2)


class RegressionMetrics(NamedTuple):
    """Root-mean-square error and coefficient of determination (None when ``y`` is constant)."""

    rmse: float
    r2: float | None


def regression_metrics(y: np.ndarray, y_pred: np.ndarray) -> RegressionMetrics:
    """RMSE and R² of predictions ``y_pred`` of ``y``.

    .. math:: \\mathrm{RMSE} = \\bigl(\\tfrac1N \\textstyle\\sum_i (\\hat y_i - y_i)^2\\bigr)^{1/2},
              \\qquad R^2 = 1 - \\frac{\\sum_i (\\hat y_i - y_i)^2}{\\sum_i (y_i - \\bar y)^2}

    as ``sklearn.metrics.root_mean_squared_error`` and ``sklearn.metrics.r2_score``, except
    that R² is None (not a number by convention) when ``y`` is constant.

    Parameters
    ----------
    y, y_pred : ndarray of shape (N,)

    Returns
    -------
    RegressionMetrics

    Examples
    --------
    >>> regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    RegressionMetrics(rmse=0.5773502691896257, r2=0.5)
    """
    resid = y_pred - y
    tss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - float(np.sum(resid**2)) / tss if tss > 0 else None
    return RegressionMetrics(math.sqrt(float(np.mean(resid**2))), r2)


@dataclass(frozen=True, slots=True)
class FitMetrics:
    """How good weights ``w`` are for a problem.

    ``loss`` L(w) and ``grad_norm`` ‖∇L(w)‖ always; for least squares ``rmse``, ``r2`` and,
    when the closed form w* is known, ``rel_error`` ‖w − w*‖/‖w*‖; for logistic regression
    ``accuracy``, the share of labels predicted with threshold 0.5.
    """

    loss: float
    grad_norm: float
    rmse: float | None = None
    r2: float | None = None
    rel_error: float | None = None
    accuracy: float | None = None


def fit_metrics(problem: Problem, w: np.ndarray, w_star: np.ndarray | None = None) -> FitMetrics:
    """The :class:`FitMetrics` of weights ``w`` (see :func:`regression_metrics`).

    Examples
    --------
    >>> p = regression_problem("linear", np.column_stack([np.arange(4.0), np.ones(4)]), 2 * np.arange(4.0) + 1)
    >>> m = fit_metrics(p, p.solution(), p.solution())
    >>> round(m.r2, 12), m.rel_error
    (1.0, 0.0)
    """
    loss, grad_norm = problem.loss(w), float(np.linalg.norm(problem.gradient(w)))
    if isinstance(problem, LinearRegression):
        rmse, r2 = regression_metrics(problem.y, problem.X @ w)
        rel = None
        if w_star is not None:
            rel = float(np.linalg.norm(w - w_star)) / max(float(np.linalg.norm(w_star)), 1e-300)
        return FitMetrics(loss, grad_norm, rmse=rmse, r2=r2, rel_error=rel)
    p = problem.predict_proba(w)
    return FitMetrics(loss, grad_norm, accuracy=float(np.mean((p >= 0.5) == (problem.y == 1))))


class FitResult(NamedTuple):
    """The weights, the closed form (least squares), the run (None in closed form), the sequence
    whose rate was classified (‖w_k − w*‖, else ‖∇L(w_k)‖), that rate, and the metrics."""

    w: np.ndarray
    w_star: np.ndarray | None
    run: OptimizeResult | None
    sequence: np.ndarray | None
    rate: RateReport | None
    metrics: FitMetrics


def fit_regression(problem: Problem, method: str = "gd", *, lr: float | None = None, batch: int | None = None,
                   max_iter: int = 1000, gtol: float = 1e-8, rng: Any = None,
                   callback: Callable[[IterInfo], Any] | None = None) -> FitResult:
    """Fit ``problem`` in closed form or with an optimiser, and classify the convergence.

    Parameters
    ----------
    problem : LinearRegression or LogisticRegression
    method : str, default="gd"
        ``"closed-form"`` (least squares only: w* by :func:`rankwise.lstsq`) or a name in
        :data:`rankwise.optim.METHODS`, run from w = 0.
    lr, batch, max_iter, rng, callback :
        As in :func:`~rankwise.optim.minimize`.
    gtol : float, default=1e-8
        Stop when ‖∇L(w_k)‖ < gtol.

    Returns
    -------
    FitResult
        For least squares, w* is also the reference of the run, so ``sequence`` is
        ‖w_k − w*‖; ``rate`` is :func:`rankwise.rates.analyze` of it (None below 3 terms and
        for a diverged run, whose status says so). The verdict is ``"undetermined"`` when the
        run did not make enough progress, or its fit is too poor, to tell a rate.

    Examples
    --------
    >>> p = regression_problem("linear", np.column_stack([np.arange(5.0), np.ones(5)]), np.arange(5.0))
    >>> r = fit_regression(p, "gd", gtol=1e-10)
    >>> bool(np.allclose(r.w, [1.0, 0.0])), r.run.status.name, r.rate.kind
    (True, 'GTOL', 'linear')
    """
    w_star = problem.solution() if isinstance(problem, LinearRegression) else None
    if method == "closed-form":
        if w_star is None:
            raise ValueError("fit_regression: 'method' closed-form needs a LinearRegression problem "
                             "(logistic regression has no closed form)")
        return FitResult(w_star, w_star, None, None, None, fit_metrics(problem, w_star, w_star))
    run = minimize(problem, np.zeros(problem.X.shape[1]), method=method, lr=lr, batch=batch, max_iter=max_iter,
                   stop=Stop(gtol=gtol), rng=rng, x_star=w_star, callback=callback)
    seq = run.history.error if run.history.error is not None else run.history.grad_norm
    rate = analyze(seq) if seq.size >= 3 and run.status is not Status.DIVERGED else None
    return FitResult(run.x, w_star, run, seq, rate, fit_metrics(problem, run.x, w_star))
