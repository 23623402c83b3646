"""Sketches, orthonormalisation, range finders and a-posteriori error estimates (SPEC §1.3)."""

from __future__ import annotations

import math
import sys
from typing import Any, Literal, NamedTuple

import numpy as np

from .. import _array, _checks
from .._array import Array
from ..random import RNGLike, as_generator
from ._inputs import as_operator, prepare
from ._operator import Operator

__all__ = ["ErrorEstimate", "estimate_error", "orthonormalize", "range_finder"]

Sketch = Literal["auto", "gaussian", "sparse-sign"]
Normalizer = Literal["auto", "svqb", "qr", "lu", "none"]
SKETCHES = ("auto", "gaussian", "sparse-sign")
NORMALIZERS = ("auto", "svqb", "qr", "lu", "none")
SPARSE_SIGN_NNZ = 8  # nonzeros per row of a sparse sign sketch


# --------------------------------------------------------------------------- dtypes


def work_dtype(xp: Any, dtype: Any) -> Any:
    """float64 (complex128 for complex data): small factorisations always run in double precision."""
    return xp.complex128 if xp.isdtype(dtype, "complex floating") else xp.float64


def cast(X: Array, dtype: Any) -> Array:
    xp = _array.namespace(X)
    return X if X.dtype == dtype else xp.astype(X, dtype)


def H(X: Array) -> Array:
    return _array.conj_transpose(X)


# --------------------------------------------------------------------------- test matrices


def _torch_generator(like: Array, gen: np.random.Generator) -> Any:
    torch = sys.modules["torch"]
    g = torch.Generator(device=like.device)
    g.manual_seed(int(gen.integers(0, 2**63 - 1)))
    return g


def gaussian(op: Operator, rows: int, cols: int, gen: np.random.Generator) -> Array:
    """A standard Gaussian rows × cols matrix in ``op``'s namespace, device and dtype.

    torch tensors are drawn on their device from a torch.Generator seeded by ``gen``, so
    nothing crosses to the host; complex dtypes get unit-variance complex entries.
    """
    like = op.like
    cplx = _array.is_complex(like)
    real = _array.real_dtype(like)
    if _array.is_torch(like):
        torch = sys.modules["torch"]
        g = _torch_generator(like, gen)
        out = torch.randn(rows, cols, generator=g, device=like.device, dtype=real)
        if cplx:
            imag = torch.randn(rows, cols, generator=g, device=like.device, dtype=real)
            out = torch.complex(out, imag) / math.sqrt(2)
        return out
    single = str(real).endswith("float32")
    G = gen.standard_normal((rows, cols))  # drawn in float64 whatever the precision: same sketch for both
    if cplx:
        G = (G + 1j * gen.standard_normal((rows, cols))) / np.sqrt(2)
    if single:
        G = G.astype(np.complex64 if cplx else np.float32)
    if _array.is_numpy(like):
        return G
    return _array.namespace(like).asarray(G, device=_array.device(like))


def sparse_sign(rows: int, cols: int, gen: np.random.Generator, *, nnz: int = SPARSE_SIGN_NNZ,
                dtype: Any = np.float64) -> Any:
    """A rows × cols scipy CSR matrix with ``nnz`` entries ±1/√nnz per row (a sparse sign sketch).

    Its product with a sparse matrix stays sparse and costs O(nnz(A) · nnz) instead of
    O(nnz(A) · cols) (Martinsson & Tropp 2020, §9.2).
    """
    import scipy.sparse

    k = min(nnz, cols)
    idx = np.argsort(gen.random((rows, cols)), axis=1)[:, :k] if cols <= 4 * k else \
        np.stack([gen.choice(cols, size=k, replace=False) for _ in range(rows)])
    signs = gen.choice(np.array([-1.0, 1.0]), size=(rows, k)) / math.sqrt(k)
    indptr = np.arange(0, rows * k + 1, k)
    return scipy.sparse.csr_matrix((signs.ravel().astype(dtype), idx.ravel(), indptr), shape=(rows, cols))


# --------------------------------------------------------------------------- orthonormalisation


def _svqb(Z: Array, floor_sq: float) -> tuple[Array, Array]:
    """One SVQB step: Z = Q R with Q orthonormal, dropping directions of Gram eigenvalue ≤ floor_sq.

    Q = Z V Λ^{-1/2} from the eigendecomposition ZᴴZ = V Λ Vᴴ (Stathopoulos & Wu 2002).
    Orthogonality after one step is lost like ε·κ(Z)²; a second step restores it
    (the Cholesky-QR2 argument) whenever κ(Z) ≲ ε^{-1/2}.
    """
    xp = _array.namespace(Z)
    lam, V = xp.linalg.eigh(H(Z) @ Z)
    lam_max = _array.to_float(xp.max(lam)) if lam.shape[0] else 0.0
    cut = max(floor_sq, 1e-13 * lam_max, np.finfo(np.float64).tiny)
    keep = xp.flip(lam > cut, axis=0)
    lam, V = xp.flip(lam, axis=0), xp.flip(V, axis=1)
    r = int(_array.to_float(xp.sum(xp.astype(keep, xp.int64))))
    lam_k, V_k = lam[:r], V[:, :r]
    root = xp.sqrt(lam_k)
    Q = (Z @ V_k) / xp.astype(root, Z.dtype)[None, :]
    R = xp.astype(root, Z.dtype)[:, None] * H(V_k)
    return Q, R


def orthonormalize(Z: Array, *, against: Array | None = None, want_r: bool = False,
                   levels: int = 3) -> tuple[Array, Array]:
    """Orthonormal basis of range(Z) (optionally orthogonal to ``against``), with rank deflation.

    Parameters
    ----------
    Z : array of shape (n, l)
    against : array of shape (n, L), optional
        Orthonormal columns to project out first (block classical Gram–Schmidt, twice).
    want_r : bool, default=False
        Compute R = Qᴴ Z (otherwise an empty array is returned, saving one product).
    levels : int, default=3
        Deflation levels to run (below); one keeps the directions of Z above about 3e-7 of its
        largest (after the projection) and drops the rest.

    Returns
    -------
    (Q, R)
        Q of shape (n, r), r <= l, with orthonormal columns, and R = Qᴴ Z; without
        ``against``, Z = Q R up to about 1e-13·‖Z‖_F. Directions below that level (rounding
        left by the projection, or rank deficiency) are dropped, never normalised into noise.

    Notes
    -----
    Two SVQB steps (Gram eigendecomposition, the eigen-form of Cholesky-QR2): four Z-sized
    products and one l × l eigendecomposition, far cheaper than a Householder QR of a
    tall-skinny block. A Gram matrix resolves singular values down to about 3e-7 of the
    largest; what it cannot resolve is left in the residual Z − QQᴴZ, which is
    orthonormalised in turn (at most three levels, each resolving about 6 more decades).
    """
    xp = _array.namespace(Z)
    ref = math.sqrt(_array.to_float(xp.sum(xp.abs(Z) ** 2)))
    floor_sq = (1e-13 * ref) ** 2
    basis = against if against is not None and against.shape[1] else None
    found: list[Array] = []
    cur = Z
    for level in range(levels):
        if basis is not None:
            cur = cur - basis @ (H(basis) @ cur)
        Q, _ = _svqb(cur, floor_sq)
        if basis is not None and Q.shape[1]:
            Q = Q - basis @ (H(basis) @ Q)
        Q, _ = _svqb(Q, 1e-16)  # unit columns: one that re-projection shrank below 1e-8 lay in the basis
        if Q.shape[1] == 0:
            break
        found.append(Q)
        if Q.shape[1] == cur.shape[1] or level == levels - 1:  # full rank, or the last level asked for
            break
        basis = Q if basis is None else xp.concat([basis, Q], axis=1)
        cur = cur - Q @ (H(Q) @ cur)
        if _array.to_float(xp.sum(xp.abs(cur) ** 2)) <= 100 * floor_sq:
            break
    Qall = xp.concat(found, axis=1) if found else Z[:, :0]
    return Qall, (H(Qall) @ Z if want_r else Z[:0, :])


# --------------------------------------------------------------------------- range finder


def _normalize(Y: Array, how: str) -> Array:
    """Re-normalise a block between power steps (its span is what matters)."""
    if how == "none":
        return Y
    xp = _array.namespace(Y)
    if how == "qr":
        return xp.linalg.qr(Y)[0]
    if how == "lu":
        if _array.is_numpy(Y):
            import scipy.linalg

            return scipy.linalg.lu(Y, permute_l=True)[0]
        if _array.is_torch(Y):
            torch = sys.modules["torch"]
            P, L, _ = torch.linalg.lu(Y)
            return P @ L
        raise _checks.InputError("range_finder: the array API has no LU factorisation; "
                                 "use normalizer='svqb' or 'qr' for this array library")
    W = cast(Y, work_dtype(xp, Y.dtype))
    return cast(orthonormalize(W)[0], Y.dtype)


def test_matrix(op: Operator, cols: int, sketch: str, gen: np.random.Generator) -> Array:
    """The n × cols sketching matrix for ``op`` (a sparse sign sketch for NumPy or scipy.sparse input)."""
    n = op.shape[1]
    if sketch == "sparse-sign":
        if not op.has_entries or not _array.is_numpy(op.like):
            raise _checks.InputError(f"sketch 'sparse-sign' needs a NumPy or scipy.sparse input; got {op.label} "
                                     f"input of {type(op.like).__module__.split('.')[0]}")
        return sparse_sign(n, cols, gen, dtype=np.dtype(op.dtype))
    return gaussian(op, n, cols, gen)


def resolve_sketch(op: Operator, sketch: str) -> str:
    """The sketch ``"auto"`` stands for: Gaussian for every input (on scipy.sparse input the sparse
    sign sketch is slower: CSR·CSR products plus densification; see benchmarks/bench_rsvd.py)."""
    return "gaussian" if sketch == "auto" else sketch


def _dense_result(X: Any) -> Array:
    return X.toarray() if hasattr(X, "toarray") else X


def subspace_iteration(op: Operator, size: int, power_iters: int, normalizer: str, sketch: str,
                       gen: np.random.Generator) -> Array:
    """Body of :func:`range_finder`: Q with orthonormal columns spanning (AAᴴ)^q A Ω (work dtype)."""
    Omega = test_matrix(op, size, sketch, gen)
    Y = _dense_result(op.matmat(Omega))
    for _ in range(power_iters):
        Z = op.rmatmat(_normalize(Y, normalizer))
        Y = op.matmat(_normalize(Z, normalizer))
    xp = op.xp
    return orthonormalize(cast(Y, work_dtype(xp, Y.dtype)))[0]


def range_finder(A: Any, size: int, *, power_iters: int = 2, normalizer: Normalizer = "auto",
                 sketch: Sketch = "auto", rng: RNGLike = None) -> Array:
    """Orthonormal basis Q whose span captures the range of A (Halko–Martinsson–Tropp).

    Parameters
    ----------
    A : array (m, n), scipy.sparse matrix, LinearOperator or :class:`~rankwise.linalg.NpyMatrix`
    size : int
        Number of sketch columns l = k + p, 1 <= size <= min(m, n).
    power_iters : int, default=2
        Subspace (power) iterations q: Q spans (AAᴴ)^q A Ω.
    normalizer : {"auto", "svqb", "qr", "lu", "none"}, default="auto"
        Re-normalisation between passes. ``"auto"`` is ``"svqb"``: two Gram-eigen steps in
        float64 on the thin block, as accurate as QR and cheaper; it keeps float32 input
        accurate where skipping it ("none") loses the small singular directions.
    sketch : {"auto", "gaussian", "sparse-sign"}, default="auto"
        Test matrix Ω; ``"auto"`` is Gaussian (the sparse sign sketch is an option for NumPy and
        scipy.sparse input).
    rng : None, int or Generator

    Returns
    -------
    Q : array (m, r), r <= size, float64 (complex128 for complex input)
        Orthonormal columns; r < size only when A has numerical rank below ``size``.

    Notes
    -----
    HMT (2011), Thm 10.5: with a Gaussian Ω of k + p columns (p >= 2) and q = 0,

    .. math:: \\mathbb{E}\\|A - QQ^H A\\|_F \\le \\Big(1 + \\frac{k}{p-1}\\Big)^{1/2}
              \\Big(\\sum_{j>k}\\sigma_j^2\\Big)^{1/2},

    and each power step sharpens the spectral gap like (σ_{k+1}/σ_k)^{2q+1}.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise.random import low_rank_matrix
    >>> A, s = low_rank_matrix(100, 80, 0.5 ** np.arange(80), rng=0)
    >>> Q = range_finder(A, 15, rng=1)           # k = 10 plus 5 oversampling columns
    >>> Q.shape, bool(np.linalg.norm(A - Q @ (Q.T @ A)) < np.sqrt(np.sum(s[10:] ** 2)))
    ((100, 15), True)
    """
    func = "range_finder"
    op = as_operator(A, func=func)
    # one pass over entries in memory: NaN/Inf refused, magnitudes near over- or underflow scaled
    # by a power of two (Q spans the same space for 2^e A)
    op = prepare(op, func=func, norm=op.has_entries).op
    size = _checks.integer(size, func=func, name="size", lo=1, hi=min(op.shape), hi_text="min(m, n)",
                           context=f"A has shape {op.shape}")
    q = _checks.integer(power_iters, func=func, name="power_iters", lo=0)
    how = _checks.choice(normalizer, NORMALIZERS, func=func, name="normalizer")
    sk = _checks.choice(sketch, SKETCHES, func=func, name="sketch")
    how = "svqb" if how == "auto" else how
    return subspace_iteration(op, size, q, how, resolve_sketch(op, sk), as_generator(rng, func=func))


# --------------------------------------------------------------------------- error estimate


class ErrorEstimate(NamedTuple):
    """A-posteriori estimate of ‖A − Â‖ from Gaussian probes (see :func:`estimate_error`)."""

    fro: float
    fro_low: float
    fro_high: float
    spectral_bound: float
    confidence: float
    spectral_confidence: float
    probes: int


def estimate_error(A: Any, approx: Any, *, probes: int = 10, confidence: float = 0.99,
                   rng: RNGLike = None) -> ErrorEstimate:
    """Estimate the error of a low-rank approximation from a few Gaussian probes.

    Parameters
    ----------
    A : array (m, n), scipy.sparse matrix, LinearOperator or NpyMatrix
    approx : array Q (m, l) with orthonormal columns, or factors (U, S, Vh)
        ``Q`` stands for Â = QQᴴA; factors for Â = U diag(S) Vh.
    probes : int, default=10
        Number r of Gaussian vectors ω_i (one product of A with an n × r block).
    confidence : float in (0, 1), default=0.99
        Probability that [fro_low, fro_high] contains ‖A − Â‖_F.
    rng : None, int or Generator

    Returns
    -------
    ErrorEstimate
        ``fro`` = (mean_i ‖(A − Â)ω_i‖²)^{1/2}, an unbiased estimate of ‖A − Â‖_F² under the
        root; ``[fro_low, fro_high]`` its interval at ``confidence``; ``spectral_bound``, an
        upper bound on ‖A − Â‖_2 that holds with probability ``spectral_confidence`` = 1 − 10^{−r}.

    Notes
    -----
    With E = A − Â and ω standard Gaussian, E‖Eω‖² = ‖E‖_F², and
    Σ_i ‖Eω_i‖² = Σ_j σ_j(E)² χ²_{r,j}: a weighted sum of independent χ²_r variables, whose
    spread is largest when E has rank one (Roosta-Khorasani & Ascher 2015, Thm 3), so the
    χ²_r/r quantiles give an interval valid for every E. HMT (2011) §4.3, eq. (4.3):

    .. math:: \\|E\\|_2 \\le 10\\sqrt{2/\\pi}\\,\\max_{i\\le r}\\|E\\omega_i\\| \\quad
              \\text{with probability at least } 1 - 10^{-r}.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise.random import low_rank_matrix
    >>> A, s = low_rank_matrix(200, 100, 0.8 ** np.arange(100), rng=0)
    >>> Q = range_finder(A, 20, rng=0)
    >>> est = estimate_error(A, Q, rng=1)
    >>> bool(est.fro_low <= np.linalg.norm(A - Q @ (Q.T @ A)) <= est.fro_high)
    True
    """
    from scipy.stats import chi2

    func = "estimate_error"
    r = _checks.integer(probes, func=func, name="probes", lo=1)
    conf = _checks.real(confidence, func=func, name="confidence", lo=0, hi=1, lo_open=True, hi_open=True)
    prep = prepare(as_operator(A, func=func), func=func)  # finite values; 2^e·A in the safe range
    op, e = prep.op, prep.exponent
    if e and isinstance(approx, (tuple, list)) and len(approx) == 3:  # Â in the same units: S·2^e
        approx = (approx[0], _array.scale_pow2(_checks.array(approx[1], func=func, name="approx S", ndim=1), e),
                  approx[2])
    gen = as_generator(rng, func=func)
    Omega = gaussian(op, op.shape[1], r, gen)
    AO = _dense_result(op.matmat(Omega))
    xp = op.xp
    wd = work_dtype(xp, AO.dtype)
    AO64 = cast(AO, wd)
    E = AO64 - _apply_approx(approx, cast(Omega, wd), AO64, op.shape, func)
    norms_sq = np.asarray(_array.to_numpy(xp.sum(xp.abs(E) ** 2, axis=0)), dtype=np.float64)
    if not np.all(np.isfinite(norms_sq)):
        _checks._fail(func, "'approx' must be finite and of A's magnitude; the residual A·Ω − Â·Ω is not finite")
    fro = math.ldexp(math.sqrt(float(norms_sq.mean())), -e)  # unscaled after the root: ‖A‖² may overflow
    lo_q, hi_q = chi2.ppf((1 - conf) / 2, r) / r, chi2.ppf(1 - (1 - conf) / 2, r) / r
    return ErrorEstimate(fro=fro, fro_low=fro / math.sqrt(hi_q), fro_high=fro / math.sqrt(lo_q),
                         spectral_bound=10 * math.sqrt(2 / math.pi) * math.ldexp(math.sqrt(float(norms_sq.max())), -e),
                         confidence=conf, spectral_confidence=1 - 10.0**-r, probes=r)


def _apply_approx(approx: Any, Omega: Array, AO: Array, shape: tuple[int, int], func: str) -> Array:
    """Â Ω for Â = QQᴴA (from AΩ) or Â = U diag(S) Vh, in the work dtype of ``AO``."""
    wd = AO.dtype
    if isinstance(approx, (tuple, list)):
        U, S, Vh = _factors(approx, shape, func)
        return cast(U, wd) @ (cast(S, wd)[:, None] * (cast(Vh, wd) @ Omega))
    Q = _basis(approx, shape, func)
    Q = cast(Q, wd)
    return Q @ (H(Q) @ AO)


def _factors(approx: tuple[Any, ...] | list[Any], shape: tuple[int, int], func: str) -> tuple[Array, Array, Array]:
    """Validated factors (U, S, Vh) of Â: finite, S real and non-negative, shapes (m, k), (k,), (k, n)."""
    m, n = shape
    if len(approx) != 3:
        _checks._fail(func, f"'approx' must be Q of shape (m, l) or three factors (U, S, Vh); got a "
                            f"{type(approx).__name__} of {len(approx)} items")
    U = _checks.array(approx[0], func=func, name="approx U", ndim=2)
    S = _checks.array(approx[1], func=func, name="approx S", ndim=1)
    Vh = _checks.array(approx[2], func=func, name="approx Vh", ndim=2)
    k = S.shape[0]
    if U.shape != (m, k) or Vh.shape != (k, n):
        _checks._fail(func, f"'approx' factors must have shapes (m, k), (k,), (k, n) = ({m}, {k}), ({k},), "
                            f"({k}, {n}); got {tuple(U.shape)}, {tuple(S.shape)}, {tuple(Vh.shape)}")
    s = np.asarray(_array.to_numpy(S))
    if np.iscomplexobj(s):
        _checks._fail(func, f"'approx' S must hold real singular values; got dtype {s.dtype}", _checks.InputTypeError)
    _checks.nonnegative(s, func=func, name="approx S")
    return U, S, Vh


def _basis(Q: Any, shape: tuple[int, int], func: str) -> Array:
    """A validated, finite basis Q of shape (m, l)."""
    m = shape[0]
    if getattr(Q, "ndim", 0) != 2 or Q.shape[0] != m:
        _checks._fail(func, f"'approx' must be Q of shape (m, l) = ({m}, l) or factors (U, S, Vh); "
                            f"got {_checks.describe(Q)}")
    return _checks.array(Q, func=func, name="approx")
