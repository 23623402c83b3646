"""Rotary position embeddings (RoPE): rotations whose inner products see relative positions (SPEC §1.7).

R_m is block-diagonal with 2×2 rotations by m·θ_i, θ_i = base^{−2i/d} (i < d/2), so
R_mᵀ R_n = R_{n−m} and ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩ depends on n − m only. The
general solution of that property is R_m = exp(m B) with B skew-symmetric; RoPE's
generator B = ⊕_i θ_i [[0, −1], [1, 0]] is the block-diagonal (real Schur) form any
commuting family reduces to.

Two layouts pair the coordinates differently:

* ``"interleaved"`` (Su et al., GPT-J): pairs (x_{2i}, x_{2i+1});
* ``"half"`` (GPT-NeoX, LLaMA in Hugging Face): pairs (x_i, x_{i+d/2}).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .. import _array, _checks
from .._array import Array

__all__ = ["LAYOUTS", "rope", "rope_exp", "rope_generator", "rope_matrix"]

Layout = Literal["interleaved", "half"]
LAYOUTS = ("half", "interleaved")
"""The coordinate pairings :func:`rope` knows."""


def _params(func: str, d: Any, base: Any, layout: Any) -> tuple[int, float, str]:
    d = _checks.integer(d, func=func, name="d", lo=2)
    if d % 2:
        _checks._fail(func, f"'d' must be even (coordinates are rotated in pairs); got {d}")
    base = _checks.real(base, func=func, name="base", lo=1.0, lo_open=True)
    layout = _checks.choice(layout, LAYOUTS, func=func, name="layout")
    return d, base, layout


def _thetas(d: int, base: float) -> np.ndarray:
    """θ_i = base^{−2i/d}, i < d/2 (float64)."""
    return base ** (-2.0 * np.arange(d // 2) / d)


def _pairs(d: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (a_i, b_i) of the coordinates rotated together by θ_i."""
    i = np.arange(d // 2)
    return (2 * i, 2 * i + 1) if layout == "interleaved" else (i, i + d // 2)


def _positions(positions: Any, func: str) -> Array:
    if isinstance(positions, (int, float)) and not isinstance(positions, bool):
        positions = np.asarray(positions, dtype=np.float64)
    return _checks.array(positions, func=func, name="positions", ndim=tuple(range(33)))


def rope(x: Any, positions: Any, *, base: float = 10000.0, layout: Layout = "interleaved") -> Array:
    """Rotate the last axis of ``x`` by the RoPE rotation of each position.

    Parameters
    ----------
    x : array of shape (..., d), d even
        Queries or keys; NumPy, torch (any device) or another array-API library.
    positions : int or array broadcastable to x.shape[:-1]
        Position m of each vector (e.g. shape (L,) for x of shape (batch, heads, L, d)).
        NumPy arrays and Python numbers are moved to ``x``'s library and device.
    base : float, default=10000
        θ_i = base^{−2i/d}.
    layout : {"interleaved", "half"}, default="interleaved"
        Which coordinates form the rotated pairs (see the module docstring).

    Returns
    -------
    array like ``x``
        R_m x for each vector, same shape, library, device and dtype.

    Notes
    -----
    For each pair (a, b) = (a_i, b_i):

    .. math:: y_a = x_a \\cos m\\theta_i - x_b \\sin m\\theta_i, \\qquad
              y_b = x_a \\sin m\\theta_i + x_b \\cos m\\theta_i,

    i.e. (x_a + i x_b)·e^{i m θ_i} in complex form. The angles m·θ_i are computed in
    float64 before rounding to ``x``'s dtype, so large positions keep their accuracy.

    References
    ----------
    .. [1] J. Su et al., "RoFormer: Enhanced transformer with rotary position embedding",
       arXiv:2104.09864.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.ones((3, 4))
    >>> rope(q, np.arange(3)).round(3)[1].tolist()
    [-0.301, 1.382, 0.99, 1.01]
    """
    func = "rope"
    x = _checks.array(x, func=func, name="x", ndim=tuple(range(1, 33)))
    d, base, lay = _params(func, x.shape[-1], base, layout)
    pos = _positions(positions, func)
    xp = _array.namespace(x)
    if _array.is_numpy(pos) and not _array.is_numpy(x):
        pos = xp.asarray(pos, device=_array.device(x))
    _checks.same_namespace(func, x=x, positions=pos)
    lead = tuple(x.shape[:-1])
    try:
        ok = np.broadcast_shapes(tuple(pos.shape), lead) == lead
    except ValueError:
        ok = False
    if not ok:
        _checks._fail(func, f"'positions' must broadcast to x.shape[:-1] = {lead}; got shape {tuple(pos.shape)}")
    return _rope(x, pos, d, base, lay)


def _rope(x: Array, pos: Array, d: int, base: float, layout: str) -> Array:
    xp = _array.namespace(x)
    dev = _array.device(x)
    theta = xp.asarray(_thetas(d, base), dtype=xp.float64, device=dev)
    angles = xp.astype(pos, xp.float64)[..., None] * theta                 # (..., d/2) in float64
    rdt = _array.real_dtype(x)
    cos, sin = xp.astype(xp.cos(angles), rdt), xp.astype(xp.sin(angles), rdt)
    if layout == "interleaved":
        pairs = xp.reshape(x, (*x.shape[:-1], d // 2, 2))
        a, b = pairs[..., 0], pairs[..., 1]
        return xp.reshape(xp.stack([a * cos - b * sin, a * sin + b * cos], axis=-1), x.shape)
    a, b = x[..., : d // 2], x[..., d // 2:]
    return xp.concat([a * cos - b * sin, a * sin + b * cos], axis=-1)


def rope_matrix(positions: Any, d: int, *, base: float = 10000.0, layout: Layout = "interleaved") -> Array:
    """The explicit rotation matrices R_m, one per position.

    Parameters
    ----------
    positions : int or array of any shape
        Positions m.
    d, base, layout :
        As in :func:`rope`.

    Returns
    -------
    array of shape (*positions.shape, d, d)
        Orthogonal, with R_m x = ``rope(x, m)``; float64 (NumPy for Python numbers, else
        the library and device of ``positions``).

    Examples
    --------
    >>> R = rope_matrix(1, 2, base=4.0)
    >>> R.round(4).tolist()
    [[0.5403, -0.8415], [0.8415, 0.5403]]
    """
    func = "rope_matrix"
    d, base, lay = _params(func, d, base, layout)
    pos = _positions(positions, func)
    m = np.asarray(_array.to_numpy(pos), dtype=np.float64)
    angles = m[..., None] * _thetas(d, base)
    a, b = _pairs(d, lay)
    R = np.zeros((*m.shape, d, d))
    R[..., a, a] = np.cos(angles)
    R[..., b, b] = np.cos(angles)
    R[..., a, b] = -np.sin(angles)
    R[..., b, a] = np.sin(angles)
    return R if _array.is_numpy(pos) else _array.like(R, pos)


def rope_generator(d: int, *, base: float = 10000.0, layout: Layout = "interleaved") -> np.ndarray:
    """RoPE's skew-symmetric generator B, with R_m = exp(m B).

    Returns
    -------
    ndarray of shape (d, d), float64
        B[a_i, b_i] = −θ_i, B[b_i, a_i] = θ_i, zero elsewhere.

    Examples
    --------
    >>> rope_generator(4, base=100.0).tolist()
    [[0.0, -1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -0.1], [0.0, 0.0, 0.1, 0.0]]
    """
    d, base, lay = _params("rope_generator", d, base, layout)
    a, b = _pairs(d, lay)
    theta = _thetas(d, base)
    B = np.zeros((d, d))
    B[a, b], B[b, a] = -theta, theta
    return B


def rope_exp(B: Any, positions: Any) -> Array:
    """The general rotary family R_m = exp(m B) for a real skew-symmetric generator B.

    Parameters
    ----------
    B : array of shape (d, d)
        Real, with B = −Bᵀ (to 1e3·eps relative in the Frobenius norm).
    positions : int or array of any shape
        Positions m (moved to B's library and device).

    Returns
    -------
    array of shape (*positions.shape, d, d)
        Orthogonal matrices of B's library, device and dtype, with R_mᵀ R_n = R_{n−m}.

    Notes
    -----
    iB is Hermitian, so ``eigh`` gives iB = V diag(w) Vᴴ with V unitary and real w, and
    exp(mB) = V diag(e^{−i m w}) Vᴴ for every m at the cost of one eigendecomposition.
    The family is commutative, so ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩ for any such B;
    ``rope_exp(rope_generator(d), m)`` is ``rope_matrix(m, d)``.

    Examples
    --------
    >>> import numpy as np
    >>> B = rope_generator(4)
    >>> bool(np.allclose(rope_exp(B, 3), rope_matrix(3, 4)))
    True
    """
    func = "rope_exp"
    B = _checks.matrix(B, func=func, name="B")
    if B.shape[0] != B.shape[1] or _array.is_complex(B):
        _checks._fail(func, f"'B' must be a real square matrix; got {_checks.describe(B)}")
    xp = _array.namespace(B)
    asym = _array.to_float(xp.linalg.vector_norm(B + B.mT))
    norm = _array.to_float(xp.linalg.vector_norm(B))
    if asym > 1e3 * _array.eps(B) * norm:
        _checks._fail(func, f"'B' must be skew-symmetric (B = −Bᵀ); got ‖B + Bᵀ‖_F / ‖B‖_F = {asym / norm:.3e}")
    pos = _positions(positions, func)
    if _array.is_numpy(pos) and not _array.is_numpy(B):
        pos = xp.asarray(pos, device=_array.device(B))
    _checks.same_namespace(func, B=B, positions=pos)
    return _skew_exp(B, pos)


def _skew_exp(B: Array, pos: Array) -> Array:
    xp = _array.namespace(B)
    cdt = xp.complex64 if B.dtype == xp.float32 else xp.complex128
    w, V = xp.linalg.eigh(xp.astype(B, cdt) * 1j)
    phase = xp.astype(pos, w.dtype)[..., None] * w                          # (..., d): m·w
    E = xp.exp(xp.astype(phase, cdt) * (-1j))
    return xp.real((V * E[..., None, :]) @ _array.conj_transpose(V))

