"""Monarch matrices: products of two block-diagonal factors and two transpositions (SPEC §1.6).

A Monarch matrix of shape (m, n), m = q·s and n = k·p, is

.. math:: M = P_2\\, L\\, P_1\\, R,

where ``R`` is block-diagonal with k blocks of shape (q·r)×p, ``L`` is block-diagonal with
q blocks of shape s×(k·r), and P₁, P₂ are the reshape-and-transpose permutations
(P₁ turns a (k, q·r) layout into (q, k·r); P₂ turns (q, s) into (s, q)). For n = m = b²
with b blocks and r = 1 this is Dao et al.'s M = P L Pᵀ R with 2 n^{3/2} parameters.

Entry by entry, with rows i = u·q + t (u < s, t < q) and columns j = j₁·p + j₂ (j₁ < k,
j₂ < p),

.. math:: M_{(u,t),(j_1,j_2)} = \\sum_{\\rho < r} L_{t}[u,\\, j_1 r + \\rho]\\; R_{j_1}[t r + \\rho,\\, j_2],

so each (t, j₁) slice of the 4-D view of M is a matrix of rank ≤ r. The best Frobenius
approximation of a dense matrix by a Monarch matrix therefore truncates the SVD of every
slice separately (:func:`monarch_project`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from .. import _array, _checks
from .._array import Array
from .._numerics import discarded_energy

__all__ = ["Monarch", "monarch_project"]


def _auto_blocks(size: int) -> int:
    """The largest divisor of ``size`` that is at most √size (b for size = b²)."""
    return max(d for d in range(1, math.isqrt(size) + 1) if size % d == 0)


def _resolve_blocks(blocks: Any, shape: tuple[int, int], func: str) -> tuple[int, int]:
    """(k, q): number of blocks of R (k | n) and of L (q | m); None chooses them from the shape."""
    m, n = shape
    if blocks is None:
        return _auto_blocks(n), _auto_blocks(m)
    pair = (blocks, blocks) if not isinstance(blocks, (tuple, list)) else tuple(blocks)
    if len(pair) != 2:
        _checks._fail(func, f"'blocks' must be an int or a pair (k, q); got {blocks!r}")
    k = _checks.integer(pair[0], func=func, name="blocks", lo=1, hi=n, hi_text="n",
                        context=f"number of blocks of R; the matrix has shape {shape}")
    q = _checks.integer(pair[1], func=func, name="blocks", lo=1, hi=m, hi_text="m",
                        context=f"number of blocks of L; the matrix has shape {shape}")
    if n % k or m % q:
        _checks._fail(func, f"'blocks' must divide the shape: k | n and q | m; got (k, q) = ({k}, {q}) "
                            f"for shape {shape}")
    return k, q


def factor_blocks(L: Array, R: Array) -> tuple[int, int]:
    """(k, q): the numbers of diagonal blocks of R (k) and of L (q), read off the factor shapes."""
    return int(R.shape[0]), int(L.shape[0])


def factor_rank(L: Array, R: Array) -> int:
    """The block rank r: R has shape (k, q·r, p) and L has q blocks."""
    return int(R.shape[1] // L.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class Monarch:
    """A Monarch matrix ``M = P₂ L P₁ R`` stored as its two stacks of blocks (SPEC §1.6).

    Parameters
    ----------
    L : array of shape (q, s, k·r)
        The q diagonal blocks of the left factor, each s × (k·r).
    R : array of shape (k, q·r, p)
        The k diagonal blocks of the right factor, each (q·r) × p.

    Both must share library, device and dtype. The matrix has shape (m, n) = (q·s, k·p) and
    block rank r (r = 1 is the Monarch class of Dao et al.; see the module docstring for
    the permutations and the entry formula).

    Attributes
    ----------
    shape : (int, int)
        (m, n).
    blocks : (int, int)
        (k, q): the number of blocks of R and of L.
    rank : int
        The block rank r: each (block-row, block-column) slice has rank ≤ r.
    n_params : int
        Number of stored values, k·q·r·p + q·s·k·r = r·(q·n + k·m); 2 n^{3/2} for n = m = b², b blocks.

    Notes
    -----
    ``M @ x`` costs two batched small products, 2·r·(q·n + k·m) flops per vector instead of
    2·m·n; for n = m = b² that is a factor n^{1/2}/2 fewer.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> M = Monarch(rng.standard_normal((4, 4, 4)), rng.standard_normal((4, 4, 4)))
    >>> M.shape, M.blocks, M.rank, M.n_params
    ((16, 16), (4, 4), 1, 128)
    >>> x = rng.standard_normal(16)
    >>> bool(np.allclose(M @ x, M.to_dense() @ x))
    True
    """

    L: Array
    R: Array

    _fields: ClassVar[tuple[str, str]] = ("L", "R")  # the stored arrays, read by writers of factor files

    def __post_init__(self) -> None:
        func = "Monarch"
        L = _checks.array(self.L, func=func, name="L", ndim=3)
        R = _checks.array(self.R, func=func, name="R", ndim=3)
        _checks.same_namespace(func, L=L, R=R)
        if L.dtype != R.dtype:
            _checks._fail(func, f"'L' and 'R' must have the same dtype; got {L.dtype} and {R.dtype}",
                          _checks.InputTypeError)
        q, _, kr = L.shape
        k, qr, _ = R.shape
        if qr % q or kr % k or qr // q != kr // k:
            _checks._fail(func, f"'L' of shape (q, s, k·r) and 'R' of shape (k, q·r, p) must agree on k, q "
                                f"and r; got L {tuple(L.shape)} and R {tuple(R.shape)}")
        object.__setattr__(self, "L", L)
        object.__setattr__(self, "R", R)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.L.shape[0] * self.L.shape[1]), int(self.R.shape[0] * self.R.shape[2])

    @property
    def blocks(self) -> tuple[int, int]:
        return factor_blocks(self.L, self.R)

    @property
    def rank(self) -> int:
        return factor_rank(self.L, self.R)

    @property
    def n_params(self) -> int:
        return math.prod(self.L.shape) + math.prod(self.R.shape)

    @property
    def dtype(self) -> Any:
        return self.L.dtype

    @property
    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        """(P₁, P₂) as index arrays: (P y)[i] = y[P[i]].

        P₁ (length k·q·r) takes R's output, ordered (j₁, t, ρ), to L's input order (t, j₁, ρ);
        P₂ (length m) takes L's output, ordered (t, u), to the row order (u, t).
        """
        (k, q), r, s = self.blocks, self.rank, int(self.L.shape[1])
        p1 = np.arange(k * q * r).reshape(k, q, r).transpose(1, 0, 2).reshape(-1)
        p2 = np.arange(q * s).reshape(q, s).T.reshape(-1)
        return p1, p2

    def to_dense(self) -> Array:
        """The dense (m, n) matrix, of the factors' library, device and dtype."""
        return _to_dense(self.L, self.R)

    def __matmul__(self, x: Any) -> Array:
        """``M @ x`` for x of shape (n,) or (n, batch), in two batched block products."""
        out = _matmul_fast(self.L, self.R, x)
        return out if out is not None else self._matmul_checked(x)

    def _matmul_checked(self, x: Any) -> Array:
        func = "Monarch.__matmul__"
        x = _checks.array(x, func=func, name="x", ndim=(1, 2))
        _checks.same_namespace(func, M=self.L, x=x)
        m, n = self.shape
        if x.shape[0] != n:
            _checks._fail(func, f"'x' must have {n} rows (M has shape {(m, n)}); got shape {tuple(x.shape)}")
        xp = _array.namespace(x)
        L, R, x = _common_dtype(self.L, self.R, x)
        if x.ndim == 1:
            return _cols(L, R, xp.reshape(x, (n, 1)))[:, 0]
        return _cols(L, R, x)

    def __repr__(self) -> str:
        return (f"Monarch(shape={self.shape}, blocks={self.blocks}, rank={self.rank}, "
                f"dtype={self.dtype}, n_params={self.n_params})")


def _matmul_fast(L: Array, R: Array, x: Any) -> Array | None:
    """``M @ x`` for a 2-D NumPy array or torch tensor of the factors' type, dtype and device, else None.

    Nothing is converted or scanned: the factors are finite (checked when M was built), and a
    NaN or ±∞ entry of x reaches every row of its column of the product (NaN·0 = NaN), so the
    product's sum is checked instead; when it is not finite, None sends x through the validating
    path, which names the bad values (or returns the same product if it merely overflowed).
    """
    if type(x) is not type(L) or x.dtype != L.dtype or x.ndim != 2 or x.shape[0] != R.shape[0] * R.shape[2]:
        return None
    if x.shape[1] == 0 or (_array.is_torch(x) and x.device != L.device):
        return None
    out = _cols(L, R, x)
    return out if math.isfinite(float(out.sum())) else None


def _common_dtype(L: Array, R: Array, x: Array) -> tuple[Array, Array, Array]:
    xp = _array.namespace(x)
    dt = xp.result_type(L.dtype, x.dtype)
    L, R, x = (a if a.dtype == dt else xp.astype(a, dt) for a in (L, R, x))
    return L, R, x


def _cols(L: Array, R: Array, X: Array) -> Array:
    """M X for X of shape (n, batch): R's blocks, P₁, L's blocks, P₂.

    For r = 1, P₁ is a strided view, (k, q, B) → (q, k, B): each block of L multiplies rows
    B·q apart, which BLAS reads in place; the only copy is the final row order (P₂).
    """
    xp = _array.namespace(X)
    q, s, _ = L.shape
    k, qr, p = R.shape
    r, B = qr // q, X.shape[-1]
    Y = R @ xp.reshape(X, (k, p, B))                                             # R: (k, q·r, B)
    if r == 1:
        Y = xp.permute_dims(xp.reshape(Y, (k, q, B)), (1, 0, 2))                # P₁, a view
    else:
        Y = xp.reshape(xp.permute_dims(xp.reshape(Y, (k, q, r, B)), (1, 0, 2, 3)), (q, k * r, B))
    Z = L @ Y                                                                    # L: (q, s, B)
    return xp.reshape(xp.permute_dims(Z, (1, 0, 2)), (s * q, B))                # P₂: rows (u, t)


def _rows(L: Array, R: Array, X: Array) -> Array:
    """X Mᵀ for X of shape (batch, n), one vector per row (the layout of ``nn.Linear``)."""
    return _cols(L, R, X.mT).mT


def _to_dense(L: Array, R: Array) -> Array:
    xp = _array.namespace(L)
    q, s, kr = L.shape
    k, qr, p = R.shape
    r = qr // q
    L4 = xp.permute_dims(xp.reshape(L, (q, s, k, r)), (0, 2, 1, 3))  # (t, j₁, u, ρ)
    R4 = xp.permute_dims(xp.reshape(R, (k, q, r, p)), (1, 0, 2, 3))  # (t, j₁, ρ, j₂)
    T = xp.matmul(L4, R4)                                             # (t, j₁, u, j₂)
    return xp.reshape(xp.permute_dims(T, (2, 0, 1, 3)), (s * q, k * p))


def _slices(A: Array, k: int, q: int) -> Array:
    """The (q, k, s, p) stack of slices A[(u, t), (j₁, j₂)] for fixed (t, j₁)."""
    xp = _array.namespace(A)
    m, n = A.shape
    return xp.permute_dims(xp.reshape(A, (m // q, q, k, n // k)), (1, 2, 0, 3))


def _assemble(U: Array, S: Array, Vh: Array, r: int) -> Monarch:
    """Monarch factors from the slices' SVDs, splitting √σ evenly between L and R."""
    xp = _array.namespace(U)
    q, k, s, _ = U.shape
    p = Vh.shape[-1]
    root = xp.sqrt(S[..., :r])
    if _array.is_complex(U):
        root = xp.astype(root, U.dtype)
    Lpart = U[..., :r] * root[..., None, :]                  # (q, k, s, r)
    Rpart = root[..., None] * Vh[..., :r, :]                 # (q, k, r, p)
    L = xp.reshape(xp.permute_dims(Lpart, (0, 2, 1, 3)), (q, s, k * r))
    R = xp.reshape(xp.permute_dims(Rpart, (1, 0, 2, 3)), (k, q * r, p))
    return Monarch(L, R)


def _slice_svd(A: Array, k: int, q: int) -> tuple[Array, Array, Array]:
    xp = _array.namespace(A)
    return xp.linalg.svd(_slices(A, k, q), full_matrices=False)


def _max_rank(shape: tuple[int, int], k: int, q: int) -> int:
    m, n = shape
    return min(m // q, n // k)


def _rank(rank: Any, shape: tuple[int, int], k: int, q: int, func: str) -> int:
    m, n = shape
    return _checks.integer(rank, func=func, name="rank", lo=1, hi=_max_rank(shape, k, q), hi_text="min(s, p)",
                           context=f"blocks (k, q) = ({k}, {q}) give slices of shape s×p = {m // q}×{n // k}")


def monarch_project(A: Array, blocks: int | tuple[int, int] | None = None, *, rank: int = 1) -> Monarch:
    """The best Frobenius approximation of ``A`` by a Monarch matrix of block rank ``rank``.

    Parameters
    ----------
    A : array of shape (m, n)
        Real or complex, NumPy, torch (any device) or another array-API library.
    blocks : int or (int, int), optional
        (k, q): R gets k blocks (k must divide n) and L gets q blocks (q must divide m);
        an int b means (b, b). Default: for each dimension the largest divisor ≤ its square
        root (b for n = b²).
    rank : int, default=1
        Block rank r in [1, min(s, p)] with s = m/q, p = n/k; r = 1 is the Monarch class.

    Returns
    -------
    Monarch
        Factors of ``A``'s library, device and dtype.

    Notes
    -----
    Write A as the 4-D tensor A[(u, t), (j₁, j₂)] with rows i = u·q + t and columns
    j = j₁·p + j₂. A Monarch matrix of block rank r is exactly a matrix whose q·k slices
    A[:, t, j₁, :] (each s×p) have rank ≤ r, and the slices partition the entries, so

    .. math:: \\min_{M} \\|A - M\\|_F^2 = \\sum_{t, j_1} \\sum_{i > r} \\sigma_i\\big(A_{t, j_1}\\big)^2,

    attained by the truncated SVD of every slice (Eckart–Young slice by slice), computed
    as one batched SVD of q·k small matrices. A Monarch matrix is returned unchanged (up
    to the scaling and signs of its factors).

    References
    ----------
    .. [1] T. Dao et al., "Monarch: Expressive structured matrices for efficient and accurate
       training", ICML 2022, arXiv:2204.00595.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.random.default_rng(0).standard_normal((16, 16))
    >>> M = monarch_project(A, 4)
    >>> M.blocks, M.n_params
    ((4, 4), 128)
    >>> bool(np.allclose(monarch_project(M.to_dense(), 4).to_dense(), M.to_dense()))
    True
    """
    func = "monarch_project"
    A = _checks.matrix(A, func=func)
    shape = (int(A.shape[0]), int(A.shape[1]))
    k, q = _resolve_blocks(blocks, shape, func)
    r = _rank(rank, shape, k, q, func)
    U, S, Vh = _slice_svd(A, k, q)
    return _assemble(U, S, Vh, r)


def _tails(S: np.ndarray) -> np.ndarray:
    """tails[r] = Σ_{slices} Σ_{i>r} σ_i² for r = 0 … min(s, p), summed from the small end."""
    energy = np.sum(S**2, axis=(0, 1))
    return np.append(np.cumsum(energy[::-1])[::-1], 0.0)


def _block_rank_for(tails: np.ndarray, tol: float | None, energy: float | None) -> int:
    """Smallest block rank r ≥ 1 whose discarded energy tails[r] meets the target."""
    share = discarded_energy(tol=tol) if tol is not None else discarded_energy(energy=energy or 0.0)
    limit = share * float(tails[0])
    ok = np.flatnonzero(tails[1:] <= limit)
    return int(ok[0]) + 1 if ok.size else tails.size - 1


class _Fit(NamedTuple):
    """A projection at a block rank chosen for a target, and its errors."""

    monarch: Monarch
    blocks: tuple[int, int]  # (k, q)
    block_rank: int
    fro_error: float  # ‖A − M‖_F
    norm_fro: float  # ‖A‖_F


def _fit(A: Array, blocks: Any, *, rank: Any, tol: Any, energy: Any, func: str) -> _Fit:
    """:func:`monarch_project` at the block ``rank``, or at the smallest one meeting ``tol`` (relative
    Frobenius error) or ``energy`` (fraction of ‖A‖_F² kept); no target gives block rank 1."""
    A = _checks.matrix(A, func=func)
    shape = (int(A.shape[0]), int(A.shape[1]))
    k, q = _resolve_blocks(blocks, shape, func)
    which = _checks.at_most_one(func, rank=rank, tol=tol, energy=energy)
    r = _rank(rank, shape, k, q, func) if which == "rank" else 1
    t = _checks.real(tol, func=func, name="tol", lo=0, hi=1, lo_open=True, hi_open=True) if which == "tol" else None
    e = _checks.real(energy, func=func, name="energy", lo=0, hi=1, lo_open=True) if which == "energy" else None
    U, S, Vh = _slice_svd(A, k, q)
    tails = _tails(np.asarray(_array.to_numpy(S), dtype=np.float64))
    if t is not None or e is not None:
        r = _block_rank_for(tails, t, e)
    return _Fit(_assemble(U, S, Vh, r), (k, q), r, math.sqrt(float(tails[r])), math.sqrt(float(tails[0])))
