"""Approximate matrix products from sampled outer products: CR (SPEC §1.4)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .. import _array, _checks
from .._array import Array
from ..random import RNGLike, as_generator
from .sketch import cast, work_dtype

__all__ = ["cr_expected_error", "cr_matmul"]

CRMethod = Literal["optimal", "uniform", "topk"]
CR_METHODS = ("optimal", "topk", "uniform")


def _validate(func: str, A: Any, B: Any, samples: Any, method: Any) -> tuple[Array, Array, int, str]:
    A = _checks.matrix(A, func=func, name="A")
    B = _checks.matrix(B, func=func, name="B")
    _checks.same_namespace(func, A=A, B=B)
    if A.shape[1] != B.shape[0]:
        _checks._fail(func, f"'B' must have as many rows as 'A' has columns (the inner dimension); got A of "
                            f"shape {tuple(A.shape)} and B of shape {tuple(B.shape)}")
    n = int(A.shape[1])
    c = _checks.integer(samples, func=func, name="samples", lo=1, hi=n, hi_text="n",
                        context=f"A has shape {tuple(A.shape)} and B has shape {tuple(B.shape)}")
    how = _checks.choice(method, CR_METHODS, func=func, name="method")
    xp = _array.namespace(A)
    dt = xp.result_type(A.dtype, B.dtype)
    return cast(A, dt), cast(B, dt), c, how


def _weights(A: Array, B: Array) -> np.ndarray:
    """w_i = ‖a_i‖·‖b_i‖ (columns of A, rows of B) on the host, in float64."""
    xp = _array.namespace(A)
    a = np.asarray(_array.to_numpy(xp.sum(xp.abs(A) ** 2, axis=0)), dtype=np.float64)
    b = np.asarray(_array.to_numpy(xp.sum(xp.abs(B) ** 2, axis=1)), dtype=np.float64)
    return np.sqrt(a * b)


def _probabilities(w: np.ndarray, method: str) -> np.ndarray:
    """p_i ∝ ‖a_i‖‖b_i‖ (``"optimal"``, uniform when every product vanishes) or 1/n."""
    n = w.size
    if method == "optimal" and w.sum() > 0:
        return w / w.sum()
    return np.full(n, 1.0 / n)


def _topk(w: np.ndarray, c: int) -> np.ndarray:
    """The c largest weights (ties broken by the lower index, so the choice is deterministic)."""
    return np.sort(np.argsort(-w, kind="stable")[:c]).astype(np.int64)


def _outer_sum(A: Array, B: Array, idx: np.ndarray, scale: np.ndarray | None) -> Array:
    """Σ_i scale_i a_i b_iᵀ over ``idx`` = A[:, idx] diag(scale) B[idx, :]."""
    xp = _array.namespace(A)
    dev = _array.device(A)
    sel = xp.asarray(idx, device=dev)
    C = xp.take(A, sel, axis=1)
    if scale is not None:
        C = C * xp.asarray(scale, dtype=_array.real_dtype(A), device=dev)[None, :]
    return C @ xp.take(B, sel, axis=0)


def _product_fro_sq(A: Array, B: Array) -> float:
    """‖AB‖_F² in float64, through the n × n Gram matrices when that is cheaper than forming AB.

    ‖AB‖_F² = tr(AᴴA · BBᴴ) costs n²(m + p) instead of mnp.
    """
    xp = _array.namespace(A)
    m, n = A.shape
    p = B.shape[1]
    wd = work_dtype(xp, A.dtype)
    A64, B64 = cast(A, wd), cast(B, wd)
    if n * (m + p) < m * p:
        GA = _array.conj_transpose(A64) @ A64
        GB = B64 @ _array.conj_transpose(B64)
        return float(_array.to_float(xp.real(xp.sum(GA * GB.mT))))
    AB = A64 @ B64
    return float(_array.to_float(xp.sum(xp.abs(AB) ** 2)))


def cr_matmul(A: Any, B: Any, samples: int, *, method: CRMethod = "optimal", rng: RNGLike = None) -> Array:
    """Approximate AB by c sampled outer products a_i b_iᵀ (the CR product).

    Parameters
    ----------
    A : array of shape (m, n)
    B : array of shape (n, p)
        Same library and device as ``A`` (NumPy, torch on any device, any array-API library).
    samples : int
        Number c of outer products, 1 <= c <= n.
    method : {"optimal", "uniform", "topk"}, default="optimal"
        ``"optimal"``: i.i.d. indices with p_i ∝ ‖a_i‖‖b_i‖; ``"uniform"``: p_i = 1/n (both
        rescaled, so the estimate is unbiased); ``"topk"``: the c largest ‖a_i‖‖b_i‖, not rescaled
        (deterministic, biased).
    rng : None, int or Generator
        For the sampling methods (``"topk"`` draws nothing).

    Returns
    -------
    array of shape (m, p)
        In the library, device and (promoted) dtype of the inputs.

    Notes
    -----
    With AB = Σ_i a_i b_iᵀ and indices i_1, …, i_c drawn i.i.d. with probabilities p_i,

    .. math:: CR = \\frac1c \\sum_{t=1}^{c} \\frac{a_{i_t} b_{i_t}^T}{p_{i_t}},\\qquad
              \\mathbb{E}[CR] = AB,

    and :func:`cr_expected_error` gives E‖AB − CR‖_F² in closed form; p_i ∝ ‖a_i‖‖b_i‖ minimises
    it (Drineas, Kannan & Mahoney 2006). Repeated indices are merged, so the cost is that of
    a product with at most c inner columns: O(mcp) instead of O(mnp).

    References
    ----------
    .. [1] Drineas, Kannan & Mahoney (2006), "Fast Monte Carlo algorithms for matrices I:
       approximating matrix multiplication", SIAM J. Comput. 36(1).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.random.default_rng(0)
    >>> A, B = g.standard_normal((50, 400)), g.standard_normal((400, 30))
    >>> cr_matmul(A, B, 100, rng=1).shape
    (50, 30)
    >>> bool(np.array_equal(cr_matmul(A, B, 400, method="topk"), A @ B))
    True
    """
    func = "cr_matmul"
    A, B, c, how = _validate(func, A, B, samples, method)
    w = _weights(A, B)
    if how == "topk":
        return _outer_sum(A, B, _topk(w, c), None)
    p = _probabilities(w, how)
    gen = as_generator(rng, func=func)
    draws = gen.choice(w.size, size=c, p=p)
    idx, counts = np.unique(draws, return_counts=True)
    return _outer_sum(A, B, idx.astype(np.int64), counts / (c * p[idx]))


def cr_expected_error(A: Any, B: Any, samples: int, *, method: CRMethod = "optimal") -> float:
    """E‖AB − CR‖_F² of :func:`cr_matmul` in closed form (the exact error for ``"topk"``).

    Parameters
    ----------
    A : array of shape (m, n)
    B : array of shape (n, p)
    samples : int
        Number c of outer products, 1 <= c <= n.
    method : {"optimal", "uniform", "topk"}, default="optimal"

    Returns
    -------
    float
        The expected squared Frobenius error (divide by ‖AB‖_F² for the relative one). For
        ``"topk"``, which is deterministic, the squared error of its one outcome,
        ‖Σ_{i∉S} a_i b_iᵀ‖_F².

    Notes
    -----
    For any sampling probabilities p (SPEC §1.4),

    .. math:: \\mathbb{E}\\|AB - CR\\|_F^2 = \\frac1c\\Big(\\sum_i \\frac{\\|a_i\\|^2\\|b_i\\|^2}{p_i}
              - \\|AB\\|_F^2\\Big),

    which for p_i ∝ ‖a_i‖‖b_i‖ is ((Σ_i ‖a_i‖‖b_i‖)² − ‖AB‖_F²)/c. Terms with p_i = 0 have
    a_i b_iᵀ = 0 and are left out. ‖AB‖_F² is computed from the n × n Gram matrices when that
    is cheaper than forming AB.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag([3.0, 1.0]); B = np.eye(2)
    >>> cr_expected_error(A, B, 1, method="uniform")   # (2·9 + 2·1 − 10) / 1
    10.0
    >>> cr_expected_error(A, B, 1, method="topk")      # the dropped term a_2 b_2ᵀ
    1.0
    """
    func = "cr_expected_error"
    A, B, c, how = _validate(func, A, B, samples, method)
    w = _weights(A, B)
    if how == "topk":
        keep = np.zeros(w.size, dtype=bool)
        keep[_topk(w, c)] = True
        rest = np.flatnonzero(~keep)
        if rest.size == 0:
            return 0.0
        xp = _array.namespace(A)
        sel = xp.asarray(rest.astype(np.int64), device=_array.device(A))
        return _product_fro_sq(xp.take(A, sel, axis=1), xp.take(B, sel, axis=0))
    p = _probabilities(w, how)
    live = p > 0
    value = (float(np.sum(w[live] ** 2 / p[live])) - _product_fro_sq(A, B)) / c
    return max(value, 0.0)
