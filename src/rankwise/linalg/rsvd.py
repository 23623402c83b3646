"""Randomized SVD: fixed rank by block Krylov iteration, tolerance-driven rank by blocked QB (SPEC §1.3)."""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, overload

import numpy as np

from .. import _array, _checks, _numerics
from .._array import Array
from .._checks import InputError
from ..factors import ApproxReport, SVDResult
from ..random import RNGLike, as_generator
from ._inputs import Prepared, as_operator, prepare, rescale_result, rescaled
from ._operator import KeptProducts, Operator
from .sketch import (
    NORMALIZERS,
    SKETCHES,
    H,
    _dense_result,
    _svqb,
    cast,
    estimate_error,
    orthonormalize,
    resolve_sketch,
    test_matrix,
    work_dtype,
)
from .svd import select_rank

__all__ = ["Fallback", "RSVDPlan", "Scheme", "rsvd", "rsvd_plan"]

Method = Literal["auto", "krylov", "subspace"]
METHODS = ("auto", "krylov", "subspace")
Precision = Literal["full", "mixed"]
PRECISIONS = ("full", "mixed")
AUTO_POWER_ITERS = 2
AUTO_TOL_BLOCK = 64
"""Tolerance mode: columns per Krylov block (``method="subspace"``'s randQB_EI blocks: 32)."""
RANDQB_BLOCK = 32
KRYLOV_TOL_CONVERGED = 1e-3
KRYLOV_QB_BELOW = _numerics.STEEP_SPECTRUM
"""Fixed rank in double precision: below this σ̃_(k+1)/σ̃_1 the Krylov result is redone as Q Qᴴ A."""
REDUCED_EXTRA = 10  # Ritz directions kept beyond k when the Gram route alone is not accurate enough
MIXED_MIN_GAP = 1e-4
"""precision="mixed" keeps its float32 result only when σ̃_{k+1} ≥ this · σ̃_1 (Ritz values)."""
MIXED_MIN_SCALE = 1e-30
"""... and σ̃_1 ≥ this (far above float32's underflow), else it reruns in full precision."""


class Scheme(enum.Enum):
    """How the basis of an rSVD run is built."""

    KRYLOV = "block-krylov"
    """Fixed rank: block Krylov on the row space, Rayleigh–Ritz from the kept products."""
    SUBSPACE = "subspace"
    """Fixed rank: HMT subspace iteration, Q = orth((AAᴴ)^q A Ω), B = Qᴴ A."""
    KRYLOV_TOL = "block-krylov-tol"
    """Tolerance: block Krylov grown a block at a time until a rank meets the tolerance."""
    RANDQB = "randQB_EI"
    """Tolerance: blocked randQB with the error indicator ‖A‖_F² − ‖B‖_F²."""


class Fallback(enum.Flag):
    """Routes a run may switch to once it sees the data."""

    NONE = 0
    QB_ON_STEEP = enum.auto()
    """Fixed-rank Krylov in double precision: redone as Q Qᴴ A when σ̃_(k+1)/σ̃_1 < 1e-6."""
    FULL_PRECISION = enum.auto()
    """precision="mixed": rerun in A's precision when float32 rounding could matter."""


@dataclass(frozen=True, slots=True)
class RSVDPlan:
    """What an :func:`rsvd` call will do, resolved from its arguments before any product.

    ``power_iters`` is None where the scheme takes as many steps as the tolerance needs;
    ``block`` is the sketch width l = k + p at a rank and the columns added per step at a
    tolerance. ``str(plan)`` prints one line per field.
    """

    shape: tuple[int, int]
    dtype: str
    input: str
    rank: int | None
    tol: float | None
    oversample: int
    scheme: Scheme
    power_iters: int | None
    block: int
    normalizer: str
    sketch: str
    precision: str
    fallbacks: Fallback

    @property
    def mode(self) -> str:
        """``"rank"`` or ``"tol"``."""
        return "rank" if self.rank is not None else "tol"

    def __str__(self) -> str:
        target = f"rank {self.rank}" if self.rank is not None else f"tol {self.tol:g} (relative Frobenius)"
        steps = "as many as the tolerance needs" if self.power_iters is None else str(self.power_iters)
        falls = ", ".join(str(f.name).lower().replace("_", "-") for f in Fallback if f and f in self.fallbacks)
        rows = [("input", f"{self.input} {self.shape[0]}×{self.shape[1]} {self.dtype}"), ("target", target),
                ("scheme", self.scheme.value), ("block", str(self.block)), ("oversample", str(self.oversample)),
                ("power iters", steps), ("normalizer", self.normalizer), ("sketch", self.sketch),
                ("precision", self.precision), ("fallbacks", falls or "none")]
        return "rsvd plan\n" + "\n".join(f"  {k:<12} {v}" for k, v in rows)


class _Basis(NamedTuple):
    """Â = left @ middle (left orthonormal m × r, middle r × n), or Â = left @ rightᴴ when middle
    is None (left = A W of shape m × L, right = W orthonormal n × L), in the work dtype.
    ``kept`` is set when ``left`` stays where it was computed (Dask workers)."""

    left: Any
    middle: Array | None
    right: Array | None
    passes: int
    info: dict[str, Any]
    gram: Array | None = None  # leftᴴ left, when the scheme built it already
    kept: KeptProducts | None = None


class _Run(NamedTuple):
    """One execution: the basis, its SVD (work dtype; ``s_np`` as float64 NumPy), the rank and ‖A‖_F²."""

    basis: _Basis
    U: Array
    s: Array
    Vh: Array
    s_np: np.ndarray
    k: int
    total: float | None


# --------------------------------------------------------------------------- fixed rank


class _FirstBlock(NamedTuple):
    """W0 (n × l orthonormal), Y = A W0 (kept where computed, or in the work dtype), Aᴴ A W0 when the
    same read gave it (streamed input) and (A W0)ᴴ(A W0) when the products are kept."""

    W: Array
    Y: Any
    AhY: Array | None
    gram: np.ndarray | None


def _first_block(op: Operator, l: int, sketch: str, gen: np.random.Generator,
                 kept: KeptProducts | None = None) -> _FirstBlock:
    """W0 (n × l orthonormal), A W0 and, for streamed input, Aᴴ A W0 from the same read; with
    ``kept`` also (A W0)ᴴ(A W0) (A W0 then stays where it was computed), else None.

    A dense Ω is orthonormalised before the product (A W0 directly), by :func:`orthonormalize`:
    one Gram step, W0 = Ω V Λ^{-1/2}, loses orthogonality like ε·κ(Ω)², and a nearly square
    Gaussian Ω can be ill-conditioned enough for that to be O(1). A sparse Ω is multiplied as it is (a
    sparse product) and A W0 = (A Ω) T with T = V Λ^{-1/2} from its Gram matrix.
    """
    xp = op.xp
    Omega = test_matrix(op, l, sketch, gen)
    wd = work_dtype(xp, op.dtype)
    sparse = hasattr(Omega, "toarray")
    Om64 = cast(_dense_result(Omega), wd)
    if sparse:
        lam, V = xp.linalg.eigh(H(Om64) @ Om64)
        T = V / xp.astype(xp.sqrt(lam), wd)[None, :]
        W0 = Om64 @ T
    else:
        W0 = orthonormalize(Om64)[0]
    X = Omega if sparse else cast(W0, op.dtype)
    Zraw, G0 = None, None
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite A is reported by _check_sketch
        if kept is not None:
            Y, Zraw, G0 = kept.step(X, True)
        elif op.streamed:
            Y, Zraw = op.fused(X)
        else:
            Y = _dense_result(op.matmat(X))
        Y0 = cast(Y, wd) @ T if sparse else cast(Y, wd)
    return _FirstBlock(W0, Y0, Zraw, G0)


class _Rescale(Exception):  # a signal, not an error: the caller reruns on 2^e A
    """Raised by :func:`_check_sketch` when A's magnitude needs safe scaling that no pass has checked yet."""


def _check_sketch(op: Operator, Y: Array, rescale: bool = False) -> None:
    """A Gaussian sketch AΩ is finite exactly when A is (a NaN or ±Inf entry spreads into its row,
    and from there into every entry of Aᴴ(AΩ)).

    This replaces a separate pass over A when ‖A‖_F is not needed; the usual message,
    with the counts, comes from the full check, made only once something is wrong. With
    ``rescale`` (A was not scanned by ``_inputs.prepare``), the sketch also stands in for A's
    magnitude: A finite but AΩ overflowing, or ‖AΩ‖² outside the safe range, raises
    :class:`_Rescale` and the run is repeated on 2^e A.
    """
    xp = _array.namespace(Y)
    if bool(_array.to_float(xp.all(xp.isfinite(Y)))):
        if rescale and op.rescalable:
            with np.errstate(over="ignore", under="ignore"):
                ysq = _array.to_float(xp.sum(xp.abs(Y) ** 2))
            if not _numerics.in_safe_range(ysq, op.dtype):
                raise _Rescale
        return
    op.raise_nonfinite(func="rsvd")
    if rescale and op.rescalable:
        raise _Rescale
    _checks._fail("rsvd", f"the products of 'A' ({op.label}) must be finite; A @ Ω returned non-finite values")


def _krylov(op: Operator, l: int, q: int, sketch: str, gen: np.random.Generator, rescale: bool = False) -> _Basis:
    """Block Krylov on the row space: W = [W0, Z1, …, Zq] orthonormal with Z_j ⊂ (AᴴA)^j W0, and Y = A W.

    Every block's product A Z_j is kept, so the Rayleigh–Ritz projection A W Wᴴ needs no
    extra pass: 2q + 1 products in all (q + 1 reads for streamed input, whose Aᴴ(A Z_j) is
    fused with A Z_j). Input whose products can stay where they were computed (``op.kept()``:
    row-chunked Dask arrays) keeps each A Z_j there: only n-sized blocks reach the client, and
    Y's Gram matrix YᴴY is assembled without another pass (:func:`_kept_gram`).
    """
    xp = op.xp
    kept = op.kept()
    W0, Y0, Zraw, G0 = _first_block(op, l, sketch, gen, kept)
    _check_sketch(op, Y0 if Zraw is None or kept is None else Zraw, rescale)  # kept: Aᴴ(AΩ), already here
    wd = W0.dtype
    Ws, Ys = [W0], [Y0]
    grams, raws = [G0], []  # kept input: (A W_j)ᴴ(A W_j) and Aᴴ A W_j of each block
    passes = 2 if Zraw is not None else 1  # products with A or Aᴴ
    reads = 1  # calls into the operator (reads of the data when it is streamed)
    for j in range(q):
        if Zraw is None:
            Zraw = op.rmatmat(cast(Ys[-1], op.dtype))
            passes, reads = passes + 1, reads + 1
        if kept is not None:
            raws.append(Zraw)
        # the last block in one level: what it holds below 3e-7 of its largest direction adds
        # nothing to the top k beyond rounding
        Z = orthonormalize(cast(Zraw, wd), against=xp.concat(Ws, axis=1), levels=1 if j == q - 1 else 3)[0]
        Zraw = None
        if Z.shape[1] == 0:  # invariant: span(W) holds min(l, c) directions of each cluster of c
            break          # equal singular values that W0 reaches, so the top k (k <= l) are in it
        fuse = op.streamed and j < q - 1
        if kept is not None:
            Y, Zraw, Gj = kept.step(cast(Z, op.dtype), fuse)
            grams.append(Gj)
        elif fuse:
            Y, Zraw = op.fused(cast(Z, op.dtype))
        else:
            Y = _dense_result(op.matmat(cast(Z, op.dtype)))
        passes += 2 if fuse else 1
        reads += 1
        Ws.append(Z)
        Ys.append(cast(Y, wd))
    W = xp.concat(Ws, axis=1)
    info = {"scheme": "block-krylov", "power_iters": len(Ws) - 1, "block": l, "krylov_dim": int(W.shape[1]),
            "normalizer": "svqb", **({"file_reads": reads} if op.streamed else {})}
    if kept is None:
        return _Basis(xp.concat(Ys, axis=1), None, W, passes, info)
    G = _kept_gram([cast(cast(Wj, op.dtype), wd) for Wj in Ws], [cast(R, wd) for R in raws], grams)
    return _Basis(kept.concat(Ys), None, W, passes, info, G, kept)


def _kept_gram(Ws: list[Array], raws: list[Array], grams: list[Any]) -> np.ndarray:
    """YᴴY for Y = A W = [A W_0, …, A W_p] from what the Krylov passes already returned.

    The diagonal blocks (A W_j)ᴴ(A W_j) were summed on the workers in the pass that computed
    A W_j; an off-diagonal block needs no pass at all, since (A W_i)ᴴ(A W_j) = (AᴴA W_i)ᴴ W_j
    and AᴴA W_i (i < p) is the fused product the next block was orthonormalised from. ``Ws``
    are the blocks as they were sent (rounded to A's dtype), so G is the Gram matrix of the
    kept Y to rounding.
    """
    edges = np.cumsum([0, *(int(Wj.shape[1]) for Wj in Ws)])
    G = np.zeros((int(edges[-1]), int(edges[-1])), dtype=np.result_type(grams[0], Ws[0]))
    for j, Wj in enumerate(Ws):
        G[edges[j]:edges[j + 1], edges[j]:edges[j + 1]] = grams[j]
        for i in range(j):
            Gij = H(raws[i]) @ Wj
            G[edges[i]:edges[i + 1], edges[j]:edges[j + 1]] = Gij
            G[edges[j]:edges[j + 1], edges[i]:edges[i + 1]] = H(Gij)
    return G


def _subspace(op: Operator, l: int, q: int, normalizer: str, sketch: str, gen: np.random.Generator) -> _Basis:
    """Classic HMT: Q = orth((AAᴴ)^q A Ω), then B = Qᴴ A (2q + 2 products)."""
    from .sketch import subspace_iteration

    Q = subspace_iteration(op, l, q, normalizer, sketch, gen)
    B = H(cast(op.rmatmat(cast(Q, op.dtype)), Q.dtype))
    return _Basis(Q, B, None, 2 * q + 2, {"scheme": "subspace", "power_iters": q, "block": l,
                                          "normalizer": normalizer})


def _qb_of_krylov(op: Operator, basis: _Basis, gap: float) -> _Basis:
    """Â = Q Qᴴ A with Q = orth(A W): the best approximation in the Krylov space's column space,
    for one more product (Aᴴ Q).

    The Ritz form (A W)_k Wᴴ needs A's top k row directions inside span(W) to absolute
    accuracy, and a Krylov block resolves its small directions only relative to its largest:
    on steep spectra its error stops near sqrt(ε)·‖A‖, many times the optimum when
    σ_(k+1) ≪ sqrt(ε)·σ_1. Q Qᴴ A only needs range(A W), which holds each direction relative
    to its own σ.
    """
    Y = basis.left
    if basis.kept is not None:
        Y = basis.kept.gather(Y)  # m × L on the client, as for the other routes that need all of Y
    Q = orthonormalize(Y)[0]
    B = H(cast(_dense_result(op.rmatmat(cast(Q, op.dtype))), Q.dtype))
    info = {**basis.info, "scheme": "block-krylov, then QB", "qb_because": f"σ̃_(k+1)/σ̃_1 = {gap:.2g} < "
            f"{KRYLOV_QB_BELOW:g}"}
    if "file_reads" in info:
        info["file_reads"] += 1
    return _Basis(Q, B, None, basis.passes + 1, info)


# --------------------------------------------------------------------------- tolerance


def _krylov_tol(op: Operator, tol: float, total: float | None, block: int, margin: int, sketch: str,
                gen: np.random.Generator) -> tuple[_Basis, int | None]:
    """Block Krylov grown a block at a time until a rank meets the tolerance with ``margin`` to spare.

    W = [W0, Z1, …] as in :func:`_krylov`, Y = A W kept. The Ritz values s_i of Y give the
    exact error of every rank-k truncation of A W Wᴴ,
    ‖A − (AW)_k Wᴴ‖_F² = ‖A‖_F² − Σ_{i≤k} s_i² (its two parts have orthogonal row spaces),
    from the eigenvalues of the Gram matrix YᴴY, extended by one block per step. The first
    check comes after one power step (3 products, 2b columns); each further step costs two
    products and adds b columns, where randQB_EI's blocks cost four products for b columns.
    It stops once the smallest rank k meeting the tolerance leaves ``margin`` columns of the
    basis to spare and has converged. A block of b columns resolves about b directions per
    step, so only the q' = q − ⌊k/b⌋ steps beyond those that first reach rank k count:
    converged means q' >= 1 and either k is the same as one step before or the Ritz values
    fall fast enough past it, (s_L/s_k)^{4q'} <= 1e-3 (with a looser test, slowly decaying
    spectra such as 1/(i+1) stop above the optimal rank). Returns the basis (with its Gram matrix) and k
    (None when no rank met the tolerance before the basis filled the space). ``total`` =
    ‖A‖_F² may be None for streamed input, whose first read accumulates it.

    A block that deflates (fewer than b new directions) is topped up with Gaussian columns
    orthogonal to W. Without that, a cluster of more than b equal singular values stalls the
    space: it holds only b directions of each cluster that W0 reaches, becomes invariant, and
    no rank can meet the tolerance. The Ritz values' fall is then not taken as convergence for
    that step, and Ritz values at rounding level never are: a plateau wider than b above a
    second one leaves b directions per plateau with zero Ritz values past them, which would
    read as converged at a rank far above the optimum.
    """
    xp = op.xp
    limit = op.shape[1]  # W lives in n dimensions: for m < n, dim = m does not make A W Wᴴ = A
    b = min(block, limit)
    # Y is gathered (its Gram is read at every step): the products are never kept
    W0, Y0, Zraw, _ = _first_block(op, b, sketch, gen)  # streamed input: Aᴴ(A W0) from the same read
    _check_sketch(op, Y0)
    total = total if total is not None else op.fro_sq()  # streamed: summed during that read
    assert total is not None
    target = _numerics.target_tol(tol, op.dtype) ** 2 * total
    Ws, Ys = [W0], [Y0]
    G = H(Y0) @ Y0
    passes, dim = (2 if Zraw is not None else 1), int(W0.shape[1])
    reads = 1
    k: int | None = None
    prev_k = -1
    while dim < limit:
        if Zraw is None:
            Zraw = op.rmatmat(cast(Ys[-1], op.dtype))
            passes, reads = passes + 1, reads + 1
        W = xp.concat(Ws, axis=1)
        Z = orthonormalize(cast(Zraw, W0.dtype), against=W)[0]
        Zraw = None
        filled = Z.shape[1] < b
        if filled:  # deflation: (AᴴA) W nearly ⊂ span(W), see the Notes
            Z = _top_up(op, Z, W, b, sketch, gen)
            if Z.shape[1] == 0:  # W spans the whole row space
                break
        Z = Z[:, :limit - dim]
        if op.streamed:  # one read gives A Z and Aᴴ(A Z), the next step's block
            Y, Zraw = op.fused(cast(Z, op.dtype))
            passes += 2
        else:
            Y = _dense_result(op.matmat(cast(Z, op.dtype)))
            passes += 1
        reads += 1
        Y = cast(Y, W0.dtype)
        cross = H(xp.concat(Ys, axis=1)) @ Y
        G = xp.concat([xp.concat([G, cross], axis=1), xp.concat([H(cross), H(Y) @ Y], axis=1)], axis=0)
        Ws.append(Z)
        Ys.append(Y)
        dim += int(Z.shape[1])
        lam = np.maximum(np.sort(np.asarray(_array.to_numpy(xp.linalg.eigvalsh(G)), dtype=np.float64))[::-1], 0.0)
        ok = np.flatnonzero(total - np.cumsum(lam) <= target)
        k = int(ok[0]) + 1 if ok.size else None
        if k is not None:
            q_eff = len(Ws) - 1 - k // b  # power steps beyond the ⌈k/b⌉ blocks that first reach rank k
            # Ritz values at rounding level (directions of W that A annihilates, or that the
            # space cannot reach) and a block of fresh columns, which has had no power step, say
            # nothing about how well the top k have converged
            resolved = lam[lam > 1e-13 * lam[0]]
            last = float(resolved[-1]) if resolved.size else 0.0
            ratio = math.sqrt(last / lam[k - 1]) if lam[k - 1] > 0 else 0.0
            fast = not filled and ratio ** (4 * q_eff) <= KRYLOV_TOL_CONVERGED
            converged = q_eff >= 1 and (k == prev_k or fast)
            if dim >= limit or (dim >= k + margin and converged):
                break
            prev_k = k
    W = xp.concat(Ws, axis=1)
    info = {"scheme": "block-krylov", "power_iters": len(Ws) - 1, "block": b, "krylov_dim": dim,
            "normalizer": "svqb", **({"file_reads": reads} if op.streamed else {})}
    return _Basis(xp.concat(Ys, axis=1), None, W, passes, info, G), k


def _top_up(op: Operator, Z: Array, W: Array, b: int, sketch: str, gen: np.random.Generator) -> Array:
    """Z (orthonormal, ⊥ W) completed towards b columns by a Gaussian block orthonormalised against W and Z."""
    xp = op.xp
    both = xp.concat([W, Z], axis=1)
    cols = min(b - int(Z.shape[1]), int(W.shape[0]) - int(both.shape[1]))
    if cols <= 0:
        return Z
    fresh = cast(_dense_result(test_matrix(op, cols, sketch, gen)), W.dtype)
    return xp.concat([Z, orthonormalize(fresh, against=both)[0]], axis=1)


def _randqb(op: Operator, tol: float, total: float, block: int, q: int, margin: int, sketch: str,
            gen: np.random.Generator) -> _Basis:
    """Blocked randQB with the error indicator ‖A‖_F² − ‖B‖_F² (Yu, Gu & Li 2018, Alg. 2).

    Adds b orthonormal columns at a time (each with q power steps, projected against the
    basis so far) until ‖A − QB‖_F² = ‖A‖_F² − ‖B‖_F² ≤ tol²‖A‖_F², never forming A − QB;
    then keeps adding blocks until the basis exceeds the rank it implies by ``margin``
    columns, since the trailing singular values of a just-large-enough B are underestimated.
    """
    xp = op.xp
    m, n = op.shape
    limit = min(m, n)
    wd = work_dtype(xp, op.dtype)
    Qs: list[Array] = []
    Bs: list[Array] = []
    energy = total
    target = tol * tol * total
    passes = 0
    size = 0
    while size < limit:
        if energy <= target:
            _, s, _ = _svd_of_basis(_Basis(xp.concat(Qs, axis=1), xp.concat(Bs, axis=0), None, 0, {}))
            k = select_rank(_array.to_numpy(s), tol=tol, total=total) or size
            if size >= min(k + margin, limit):
                break
        b = min(block, limit - size)
        Qall = xp.concat(Qs, axis=1) if Qs else None
        Y = cast(_dense_result(op.matmat(test_matrix(op, b, sketch, gen))), wd)
        passes += 1
        for _ in range(q):
            Qi = orthonormalize(Y, against=Qall)[0]
            Z = cast(op.rmatmat(cast(Qi, op.dtype)), wd)
            if Qall is not None:
                Z = Z - H(xp.concat(Bs, axis=0)) @ (H(Qall) @ Qi)
            Zi = orthonormalize(Z)[0]
            Y = cast(_dense_result(op.matmat(cast(Zi, op.dtype))), wd)
            passes += 2
        Qi = orthonormalize(Y, against=Qall)[0]
        if Qi.shape[1] == 0:
            break
        Bi = H(cast(op.rmatmat(cast(Qi, op.dtype)), wd))
        passes += 1
        Qs.append(Qi)
        Bs.append(Bi)
        size += Qi.shape[1]
        energy -= float(_array.to_float(xp.sum(xp.abs(Bi) ** 2)))
    Q, B = xp.concat(Qs, axis=1), xp.concat(Bs, axis=0)
    return _Basis(Q, B, None, passes, {"scheme": "randQB_EI", "power_iters": q, "block": block,
                                       "basis": int(Q.shape[1]), "normalizer": "svqb"})


# --------------------------------------------------------------------------- assembling the SVD


def _svd_of_basis(basis: _Basis, k: int | None = None) -> tuple[Array, Array, Array]:
    """U, s, Vh (work dtype) of Â = left @ middle, or of Â = Y Wᴴ (middle None, left = Y = A W).

    For Â = Y Wᴴ and a known rank k, the top k triplets come from one Gram eigendecomposition
    YᴴY = V Λ Vᴴ (U_k = Y V_k Λ_k^{-1/2}) whenever λ_k > 1e-10·λ_1, where the Gram route loses
    nothing that matters. Down to λ_{k+10} > 1e-14·λ_1, Y is restricted to its top k + 10 Gram
    directions and that block is orthonormalised by one SVQB step (a third of the work of
    orthonormalising all of Y; one step is enough, see below); otherwise, and without k, all
    of Y is. ``basis.gram``, when the scheme built it, saves recomputing YᴴY.
    ``s`` may hold more values than U and Vh have columns (at least σ̃_{k+1} when the basis has it).
    """
    if basis.middle is None and basis.kept is not None:
        return _svd_of_kept_basis(basis, k)
    xp = _array.namespace(basis.left)
    if basis.middle is None:
        assert basis.right is not None
        Y, W = basis.left, basis.right
        if k is not None:
            lam, V = xp.linalg.eigh(basis.gram if basis.gram is not None else H(Y) @ Y)
            lam, V = xp.flip(lam, axis=0), xp.flip(V, axis=1)
            lam1 = _array.to_float(lam[0])
            if k <= lam.shape[0] and _array.to_float(lam[k - 1]) > 1e-10 * lam1 > 0:
                s = xp.sqrt(lam[:k])
                nxt = xp.sqrt(xp.clip(lam[k:k + 1], min=0.0))  # σ̃_{k+1}, for the caller's checks
                Uk = (Y @ V[:, :k]) / xp.astype(s, Y.dtype)[None, :]
                Vhk = H(W @ V[:, :k])
                if _array.to_float(lam[k - 1]) > 1e-6 * lam1:  # Uk orthonormal to ε·λ1/λk < 1e-10
                    return Uk, xp.concat([s, nxt]), Vhk
                Qu, Ru = _svqb(Uk, 0.0)  # one SVQB step restores what the Gram route lost
                if Qu.shape[1] == k:
                    Ur, s2, Vrh = xp.linalg.svd(Ru * xp.astype(s, Y.dtype)[None, :], full_matrices=False)
                    return Qu @ Ur, xp.concat([s2, nxt]), Vrh @ Vhk
            r = min(k + REDUCED_EXTRA, int(lam.shape[0]))
            if k <= lam.shape[0] and _array.to_float(lam[r - 1]) > 1e-14 * lam1 > 0:
                # the top r Gram directions hold A's top k to an angle ~ε·λ1/(λk − λr): restrict
                # Y to them and scale its (orthogonal) columns to unit norm. That block's Gram is
                # I + E with |E| ≲ ε·λ1/λr < 0.02, so one SVQB step orthonormalises it to ~ε
                scale = xp.astype(xp.sqrt(lam[:r]), Y.dtype)
                Qr, Rr = _svqb((Y @ V[:, :r]) / scale[None, :], 0.0)
                if Qr.shape[1] == r:
                    Ur, s2, Vrh = xp.linalg.svd(Rr * scale[None, :], full_matrices=False)
                    return Qr @ Ur, s2, Vrh @ H(W @ V[:, :r])
        Q, R = orthonormalize(Y, want_r=True)
        Ur, s, Vrh = xp.linalg.svd(R, full_matrices=False)
        return Q @ Ur, s, Vrh @ H(W)
    # Â = Q B with B (r × n) wide: B = (Bᴴ)ᴴ = (P T)ᴴ, T small
    P, T = orthonormalize(H(basis.middle), want_r=True)
    Ut, s, Vth = xp.linalg.svd(H(T), full_matrices=False)
    return basis.left @ Ut, s, Vth @ H(P)


def _svd_of_kept_basis(basis: _Basis, k: int | None) -> tuple[Array, Array, Array]:
    """:func:`_svd_of_basis` for Y = A W kept where it was computed: U = Y V_k Λ_k^{-1/2} stays there.

    YᴴY = V Λ Vᴴ is ``basis.gram`` (assembled by :func:`_kept_gram` from the Krylov passes: no
    pass of its own), and ``kept.times`` forms Y V_k Λ_k^{-1/2} where Y lives. When the Gram
    route would need its SVQB repair (λ_k <= 1e-6·λ_1) or cannot be used, Y is gathered instead.
    """
    Y, W, G, kept = basis.left, basis.right, basis.gram, basis.kept
    assert W is not None and G is not None and kept is not None
    if k is not None:
        lam, V = np.linalg.eigh(np.asarray(G))
        lam, V = lam[::-1], V[:, ::-1]
        if k <= lam.shape[0] and lam[k - 1] > 1e-6 * lam[0] > 0:
            s = np.sqrt(np.concatenate([lam[:k], np.clip(lam[k:k + 1], 0.0, None)]))
            return kept.times(Y, V[:, :k] / s[None, :k]), s, H(W @ V[:, :k])
    # the gathered routes recompute YᴴY from Y itself: their λ_k <= 1e-6·λ_1 needs it to Y's own
    # rounding, and for float32 input the assembled Gram's off-diagonal blocks hold float32 products
    return _svd_of_basis(basis._replace(left=kept.gather(Y), gram=None, kept=None), k)


def _complete(X: Array, k: int, gen: np.random.Generator) -> Array:
    """X (n × r orthonormal) completed to k orthonormal columns when A's rank r < k."""
    xp = _array.namespace(X)
    while X.shape[1] < k:
        extra = xp.asarray(gen.standard_normal((X.shape[0], k - X.shape[1])), dtype=X.dtype,
                           device=_array.device(X))
        X = xp.concat([X, orthonormalize(extra, against=X)[0]], axis=1)
    return X


def _truncate(U: Array, s: Array, Vh: Array, k: int, out_dtype: Any, gen: np.random.Generator) -> SVDResult:
    xp = _array.namespace(U)
    if s.shape[0] < k:  # rank-deficient input: zero singular values, any orthonormal completion
        U = _complete(U, k, gen)
        Vh = H(_complete(H(Vh), k, gen))
        s = xp.concat([s, xp.zeros(k - s.shape[0], dtype=s.dtype, device=_array.device(s))])
    real = xp.float32 if out_dtype in (xp.float32, getattr(xp, "complex64", None)) else xp.float64
    return SVDResult(cast(U[:, :k], out_dtype), cast(s[:k], real), cast(Vh[:k, :], out_dtype))


# --------------------------------------------------------------------------- public function


def _plan(func: str, op: Operator, rank: Any, tol: Any, oversample: Any, power_iters: Any, method: Any,
          sketch: Any, normalizer: Any, block_size: Any, precision: Any) -> RSVDPlan:
    """Validate the arguments and resolve every ``"auto"`` into an :class:`RSVDPlan`."""
    which = _checks.exactly_one(func, rank=rank, tol=tol)
    p = _checks.integer(oversample, func=func, name="oversample", lo=0)
    meth = _checks.choice(method, METHODS, func=func, name="method")
    prec = _checks.choice(precision, PRECISIONS, func=func, name="precision")
    sk = resolve_sketch(op, _checks.choice(sketch, SKETCHES, func=func, name="sketch"))
    how = _checks.choice(normalizer, NORMALIZERS, func=func, name="normalizer")
    q = None if power_iters == "auto" else _checks.integer(power_iters, func=func, name="power_iters", lo=0)
    b = None if block_size == "auto" else _checks.integer(block_size, func=func, name="block_size", lo=1)
    m, n = op.shape
    k: int | None = None
    t: float | None = None
    if which == "rank":
        k = _checks.rank(rank, op.shape, func=func)
    else:
        t = _checks.real(tol, func=func, name="tol", lo=0, hi=1, lo_open=True, hi_open=True)
        floor = _numerics.tol_floor(op.dtype)
        if t < floor:
            _checks._fail(func, f"'tol' must be >= 10·sqrt(eps) = {floor:.2g} for {_numerics.dtype_name(op.dtype)} "
                                f"input (the indicator ‖A‖²−‖B‖² cannot resolve smaller errors); got {t:g}")
        if not op.knows_norm:
            _checks._fail(func, "'tol' needs ‖A‖_F, which a LinearOperator cannot give; use 'rank' "
                                "(and rankwise.estimate_error) instead")
    fallbacks = Fallback.FULL_PRECISION if prec == "mixed" else Fallback.NONE
    if k is not None and meth in ("auto", "krylov"):
        scheme, block, steps, how = Scheme.KRYLOV, min(k + p, m, n), AUTO_POWER_ITERS if q is None else q, "svqb"
        if _numerics.eps(op.dtype) < 1e-10:
            fallbacks |= Fallback.QB_ON_STEEP
    elif k is not None:
        scheme, block, steps = Scheme.SUBSPACE, min(k + p, m, n), AUTO_POWER_ITERS if q is None else q
        how = "svqb" if how == "auto" else how
    elif meth == "subspace":
        scheme, block, steps, how = Scheme.RANDQB, RANDQB_BLOCK if b is None else b, 1 if q is None else q, "svqb"
    else:  # the Krylov space grows until the tolerance is met: as many steps as that takes
        scheme, block, steps, how = Scheme.KRYLOV_TOL, min(AUTO_TOL_BLOCK if b is None else b, n), None, "svqb"
    return RSVDPlan(shape=(m, n), dtype=_numerics.dtype_name(op.dtype), input=op.label, rank=k, tol=t,
                    oversample=p, scheme=scheme, power_iters=steps, block=block, normalizer=how, sketch=sk,
                    precision=prec, fallbacks=fallbacks)


def rsvd_plan(A: Any, rank: int | None = None, *, tol: float | None = None, oversample: int = 10,
              power_iters: int | Literal["auto"] = "auto", method: Method = "auto", sketch: str = "auto",
              normalizer: str = "auto", block_size: int | Literal["auto"] = "auto",
              precision: Precision = "full") -> RSVDPlan:
    """The :class:`RSVDPlan` that :func:`rsvd` would execute for these arguments (no product is made).

    Takes the arguments of :func:`rsvd` (less ``rng`` and ``report``), validates them and
    resolves every ``"auto"``: the scheme, the sketch width or block, the power steps, the
    normaliser, the sketch and the fallbacks the run may take once it sees the data.

    Examples
    --------
    >>> import numpy as np
    >>> plan = rsvd_plan(np.ones((300, 200)), 20)
    >>> plan.scheme.value, plan.block, plan.power_iters
    ('block-krylov', 30, 2)
    >>> rsvd_plan(np.ones((300, 200)), tol=1e-2).power_iters is None
    True
    """
    func = "rsvd_plan"
    op = as_operator(A, func=func)
    return _plan(func, op, rank, tol, oversample, power_iters, method, sketch, normalizer, block_size, precision)


@overload
def rsvd(A: Any, rank: int | None = ..., *, tol: float | None = ..., oversample: int = ...,
         power_iters: int | Literal["auto"] = ..., method: Method = ..., sketch: str = ...,
         normalizer: str = ..., block_size: int | Literal["auto"] = ..., precision: Precision = ...,
         rng: RNGLike = ..., report: Literal[False] = ...) -> SVDResult: ...
@overload
def rsvd(A: Any, rank: int | None = ..., *, tol: float | None = ..., oversample: int = ...,
         power_iters: int | Literal["auto"] = ..., method: Method = ..., sketch: str = ...,
         normalizer: str = ..., block_size: int | Literal["auto"] = ..., precision: Precision = ...,
         rng: RNGLike = ..., report: Literal[True]) -> tuple[SVDResult, ApproxReport]: ...
def rsvd(A: Any, rank: int | None = None, *, tol: float | None = None, oversample: int = 10,
         power_iters: int | Literal["auto"] = "auto", method: Method = "auto", sketch: str = "auto",
         normalizer: str = "auto", block_size: int | Literal["auto"] = "auto", precision: Precision = "full",
         rng: RNGLike = None, report: bool = False) -> SVDResult | tuple[SVDResult, ApproxReport]:
    """Randomized truncated SVD at a fixed rank or to a relative Frobenius tolerance.

    Parameters
    ----------
    A : array (m, n), scipy.sparse matrix, LinearOperator or :class:`~rankwise.linalg.NpyMatrix`
        Dense arrays may be NumPy, torch (CPU or CUDA: nothing leaves the device) or any
        array-API library; sparse, operator and file inputs give NumPy factors; a Dask array
        gives a Dask U (chunked by A's rows; at a rank computed from the products kept on
        the workers, so m-sized data never reaches the client) and NumPy S, Vh. float16, bfloat16
        and float8 are computed and returned in float32; ``longdouble`` is refused. Dense and sparse
        entries near overflow or underflow are scaled by a power of two (exactly) and S scaled back;
        singular values beyond the output dtype's range raise an error rather than return inf.
    rank : int, optional
        Target rank k, 1 <= k <= min(m, n).
    tol : float, optional
        Target relative error ‖A − Â‖_F <= tol·‖A‖_F; the smallest rank meeting it is chosen.
        Exactly one of ``rank`` and ``tol``.
    oversample : int, default=10
        Extra sketch columns p: the block is l = k + p at a fixed rank; at a tolerance the
        basis grows until it exceeds the chosen rank by p.
    power_iters : int or "auto", default="auto"
        Fixed rank: Krylov blocks beyond the first (``"auto"``: 2, i.e. 5 passes over A).
        Tolerance: power steps per randQB_EI block (``method="subspace"``; ``"auto"``: 1); the
        Krylov scheme takes as many steps as the tolerance needs.
    method : {"auto", "krylov", "subspace"}, default="auto"
        Block Krylov on the row space (``"auto"``, ``"krylov"``), or HMT subspace iteration
        at a rank and blocked randQB_EI at a tolerance (``"subspace"``).
    sketch : {"auto", "gaussian", "sparse-sign"}, default="auto"
        ``"auto"``: Gaussian (the sparse sign sketch is an option for NumPy and scipy.sparse input).
    normalizer : {"auto", "svqb", "qr", "lu", "none"}, default="auto"
        Re-normalisation between subspace-iteration passes (``method="subspace"``; Krylov
        blocks are always orthonormalised, with SVQB).
    block_size : int or "auto", default="auto"
        Columns added per step in tolerance mode (``"auto"``: 64 per Krylov block, 32 per
        randQB_EI block).
    precision : {"full", "mixed"}, default="full"
        ``"mixed"``, for float64 (complex128) dense or Dask input: every pass runs on A rounded
        to float32 (twice the arithmetic rate; dense input costs a float32 copy, m·n·4 bytes),
        the small factorisations stay in float64 and the factors come back in A's dtype. The
        result is kept only where float32 rounding cannot matter — at a rank when the Ritz
        values give σ̃_{k+1} ≥ 1e-4·σ̃_1, at a tolerance when ``tol`` ≥ 3.5e-3 — otherwise the
        run is repeated in full precision; the report's ``options["precision"]`` says which
        was used and why, and its error is then measured in full precision (one more
        product Aᴴ U). Other inputs run in full precision.
    rng : None, int or Generator
    report : bool, default=False
        Also return an :class:`~rankwise.factors.ApproxReport`; ``options`` records what
        ``"auto"`` chose (scheme, power_iters, block, passes, sketch, normalizer).

    Returns
    -------
    SVDResult
        U (m, k), S (k,), Vh (k, n) in A's dtype (float32 stays float32), followed by the report.

    Notes
    -----
    *Fixed rank (block Krylov).* With W0 = orth(Ω), Ω Gaussian n × l, the blocks
    Z_j = orth((AᴴA) Z_{j−1} ⊥ W) span the Krylov space K_{q+1}(AᴴA, W0); with W = [W0, Z1, …, Zq]
    the Rayleigh–Ritz approximation is Â = (A W)_k Wᴴ, the best rank-k approximation whose
    row space lies in span(W) (Musco & Musco 2015). Each block's product A Z_j is kept, so
    Â costs 2q + 1 products with A or Aᴴ; subspace iteration needs 2q + 2 for a smaller space.
    Small factorisations run in float64 (SVQB), so float32 input loses no accuracy to them.

    *Tolerance (block Krylov).* The same Krylov space is grown b columns (two products) at a
    time; the Ritz values s_i of Y = A W give the exact error of every truncation,
    ‖A − (AW)_k Wᴴ‖_F² = ‖A‖_F² − Σ_{i<=k} s_i², and the smallest k meeting ``tol`` is
    returned once the basis exceeds it by ``oversample`` columns and k has converged (it
    did not change over the last step, or the Ritz values past it fall fast enough). A block
    of b columns reaches at most b directions of a plateau of equal singular values; where a
    plateau wider than b sits above further ones, the tolerance is still met but the rank can
    exceed the optimum (70 values at 1 over 70 at 0.1, tol 0.3: 111 for 65; ``block_size=80``
    gives 65). With ``method="subspace"``: blocked randQB_EI, blocks added until
    ‖A − QB‖_F² = ‖A‖_F² − ‖B‖_F² <= tol²‖A‖_F² (Yu, Gu & Li 2018). Either way the
    returned error meets ``tol``.

    In double precision, when the Ritz values give σ̃_{k+1} < 1e-6·σ̃_1, the fixed-rank result is
    recomputed as Q Qᴴ A with Q = orth(A W) (one more product): the Ritz form's error stops near
    sqrt(ε)·‖A‖_F on such steep spectra, Q Qᴴ A's does not (``options["scheme"]`` says so).

    The report's Frobenius error is (‖A‖_F² − Σ_{i<=k} s_i²)^{1/2}, exact for these projections
    up to rounding, which puts a floor of about sqrt(ε)·‖A‖_F under it (smaller errors read as
    about 0); for a LinearOperator it is estimated from 10 probes (``exact=False``).

    References
    ----------
    .. [1] Halko, Martinsson & Tropp (2011), arXiv:0909.4061.
    .. [2] Musco & Musco (2015), "Randomized block Krylov methods", arXiv:1504.05477.
    .. [3] Yu, Gu & Li (2018), "Efficient randomized algorithms for the fixed-precision
       low-rank matrix approximation", arXiv:1606.09402.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise.random import low_rank_matrix
    >>> A, s = low_rank_matrix(300, 200, 0.9 ** np.arange(200), rng=0)
    >>> (U, S, Vh), rep = rsvd(A, 20, rng=1, report=True)
    >>> U.shape, round(float(rep.fro_error / np.sqrt(np.sum(s[20:] ** 2))), 4)
    ((300, 20), 1.0)
    >>> rsvd(A, tol=1e-2, rng=1, report=True)[1].rank
    44
    """
    func = "rsvd"
    t0 = time.perf_counter()
    op = as_operator(A, func=func)
    plan = _plan(func, op, rank, tol, oversample, power_iters, method, sketch, normalizer, block_size, precision)
    gen = as_generator(rng, func=func)
    need_norm = report or plan.scheme is not Scheme.KRYLOV  # Krylov at a rank: NaN/Inf show in AΩ
    if not need_norm:
        op = op.without_norm()  # a streamed input's first read skips its sum of squares
    prep = prepare(op, func=func, norm=need_norm and not op.streamed)
    run, used, prep = _execute(prep, plan, gen, need_norm)
    op = prep.op  # 2^e A: S and the report's norms are scaled back below
    res = _truncate(run.U, run.s, run.Vh, run.k, op.out_dtype, gen)
    res = res._replace(U=op.as_left_factor(res.U))  # Dask input: U chunked by A's rows
    out = res._replace(S=rescale_result(res.S, -prep.exponent, func=func, what="the singular values of 'A'",
                                        dtype_hint="; compute in float64 (convert 'A' first)"))
    missed = _tol_missed(run, plan)
    if missed is not None:  # only where no rank of the basis met it: the whole row space, at rounding level
        assert plan.tol is not None
        _checks.warn_tolerance(func, plan.tol, missed, f"rank {run.k} = the whole basis; rounding of "
                                                       f"{_numerics.dtype_name(op.dtype)} limits what can be certified")
    if not report:
        return out
    err_sq = None
    if used == "mixed":  # Σ s_i² from float32 products cannot resolve a small error: measure it in full
        total = prep.total if prep.total is not None else op.fro_sq()  # ‖A‖_F², not the rounded copy's
        assert total is not None
        err_sq = _residual_fro_sq(op, res, total)
        run = run._replace(total=total)
    return out, _report(op, A, res, run, plan, time.perf_counter() - t0, gen, used, err_sq, prep.exponent)


def _tol_missed(run: _Run, plan: RSVDPlan) -> float | None:
    """The relative error sqrt((‖A‖_F² − Σ_{i<=k} s_i²) / ‖A‖_F²) where it misses ``plan.tol``; None where it
    meets it, at a rank and without ‖A‖_F."""
    if plan.tol is None or run.total is None:
        return None
    err_sq = max(run.total - float(np.sum(run.s_np[:run.k] ** 2)), 0.0)
    if _numerics.meets_tol(math.sqrt(err_sq), plan.tol, math.sqrt(run.total)):
        return None
    return math.sqrt(err_sq / run.total)  # ‖A‖_F > 0: a zero ‖A‖_F meets every tolerance


def _execute(prep: Prepared, plan: RSVDPlan, gen: np.random.Generator,
             need_norm: bool) -> tuple[_Run, str, Prepared]:
    """The run and the precision used; repeated once, with the same random draws, on 2^e A when the first
    sketch shows that A's magnitude needs safe scaling (only where no pass over A has checked it)."""
    state = gen.bit_generator.state
    try:
        return (*_attempt(prep, plan, gen, need_norm, rescale=prep.total is None), prep)
    except _Rescale:
        gen.bit_generator.state = state
        prep = rescaled(prep.op, func="rsvd")
        return (*_attempt(prep, plan, gen, need_norm, rescale=False), prep)


def _attempt(prep: Prepared, plan: RSVDPlan, gen: np.random.Generator, need_norm: bool,
             rescale: bool) -> tuple[_Run, str]:
    run: _Run | None = None
    used = "full"
    if plan.precision == "mixed":
        run, used = _mixed(prep.op, plan, gen, prep.total)
    if run is None:
        run = _run(prep.op, plan, gen, prep.total, need_norm, rescale)
    return run, used


def _run(op: Operator, plan: RSVDPlan, gen: np.random.Generator, total: float | None, need_norm: bool,
         rescale: bool = False) -> _Run:
    """Execute ``plan`` on ``op``: the basis, its SVD, the rank and ‖A‖_F² (None where not needed).

    ``rescale``: A's magnitude was not checked (fixed-rank Krylov reads no norm), so the first sketch may
    raise :class:`_Rescale`."""
    if plan.tol is not None and total == 0:
        return _zero_run(op)
    k_tol: int | None = None
    if plan.scheme is Scheme.KRYLOV:
        assert plan.power_iters is not None
        basis = _krylov(op, plan.block, plan.power_iters, plan.sketch, gen, rescale)
    elif plan.scheme is Scheme.SUBSPACE:
        assert plan.power_iters is not None
        basis = _subspace(op, plan.block, plan.power_iters, plan.normalizer, plan.sketch, gen)
    elif plan.scheme is Scheme.RANDQB:  # ‖A‖_F² is known (product-only input is refused by the plan)
        total = total if total is not None else op.fro_sq()
        assert total is not None and plan.tol is not None and plan.power_iters is not None
        basis = _randqb(op, plan.tol, total, plan.block, plan.power_iters, plan.oversample, plan.sketch, gen)
    else:  # streamed input: ‖A‖_F² is read along the way
        assert plan.tol is not None
        basis, k_tol = _krylov_tol(op, plan.tol, total, plan.block, plan.oversample, plan.sketch, gen)
    U, s, Vh = _svd_of_basis(basis, plan.rank if plan.rank is not None else k_tol)  # a known rank: Gram route
    s_np = np.asarray(_array.to_numpy(s), dtype=np.float64)
    steep = Fallback.QB_ON_STEEP in plan.fallbacks and _numerics.eps(op.dtype) < 1e-10
    if steep and plan.rank is not None and basis.middle is None and s_np.size and s_np[0] > 0:
        # fewer than k + 1 Ritz values: directions were deflated away, as on steep spectra
        gap = float(s_np[plan.rank]) / float(s_np[0]) if s_np.size > plan.rank else 0.0
        if gap < KRYLOV_QB_BELOW:
            basis = _qb_of_krylov(op, basis, gap)
            U, s, Vh = _svd_of_basis(basis, plan.rank)
            s_np = np.asarray(_array.to_numpy(s), dtype=np.float64)
    if total is None and op.streamed and (need_norm or plan.tol is not None):
        total = op.fro_sq()  # summed during the first read
    if plan.rank is not None:
        k = plan.rank
    elif k_tol is not None:
        k = min(k_tol, int(U.shape[1]))
    else:
        assert plan.tol is not None
        k = select_rank(s_np, tol=_numerics.target_tol(plan.tol, op.dtype), total=total) or s_np.size
    return _Run(basis, U, s, Vh, s_np, k, total)


def _zero_run(op: Operator) -> _Run:
    """The zero matrix at a tolerance: rank 1 with σ₁ = 0 meets every tolerance (no product is needed;
    :func:`_truncate` completes U and Vh with orthonormal columns, as at a fixed rank)."""
    xp = op.xp
    m, n = op.shape
    wd = work_dtype(xp, op.dtype)
    dev = _array.device(op.like)
    U, Vh = xp.zeros((m, 0), dtype=wd, device=dev), xp.zeros((0, n), dtype=wd, device=dev)
    s = xp.zeros((0,), dtype=xp.float64, device=dev)
    return _Run(_Basis(U, Vh, None, 0, {"scheme": "zero matrix"}), U, s, Vh, np.zeros(0), 1, 0.0)


def _mixed(op: Operator, plan: RSVDPlan, gen: np.random.Generator, total: float | None) -> tuple[_Run | None, str]:
    """The run on A rounded to float32, or None (and why) where that would lose accuracy.

    Kept when σ̃_{k+1} ≥ MIXED_MIN_GAP·σ̃_1 at a rank (float32 rounding of A, u·‖A‖, then
    stays far below the optimal error ‖A − A_k‖_F ≥ σ_{k+1}), or when ``tol`` is above
    float32's indicator floor; refused for single-precision input (nothing to gain), for
    input other than dense or Dask arrays, and when A's entries leave float32's range.
    """
    low = op.single_precision()
    if low is None:
        return None, "full (mixed: the input is not a double-precision dense or Dask array)"
    floor32 = _numerics.tol_floor("float32")
    if plan.tol is not None and plan.tol < floor32:
        return None, f"full (mixed: tol = {plan.tol:g} is below float32's floor 10·sqrt(eps) = {floor32:.1e})"
    try:
        run = _run(low, plan, gen, total, False)
    except InputError:  # entries beyond float32's range became ±Inf; the full run reports real NaN/Inf
        return None, "full (mixed: A's entries overflow float32)"
    s1 = float(run.s_np[0]) if run.s_np.size else 0.0
    if not math.isfinite(s1) or s1 < MIXED_MIN_SCALE:
        return None, f"full (mixed: σ̃_1 = {s1:.3g} is outside float32's safe range)"
    if plan.rank is not None:
        gap = float(run.s_np[run.k]) / s1 if run.s_np.size > run.k else 0.0
        if gap < MIXED_MIN_GAP:
            return None, f"full (mixed: σ̃_(k+1)/σ̃_1 = {gap:.2g} < {MIXED_MIN_GAP:g})"
    return run, "mixed"


def _residual_fro_sq(op: Operator, res: SVDResult, total: float) -> float:
    """‖A − U diag(s) Vh‖_F² in A's precision, with one product Aᴴ U (U, Vh need not be orthonormal).

    = ‖A‖_F² − 2 Re Σ_i s_i (Vh Aᴴ U)_ii + Σ_ij s_i (UᴴU)_ij s_j (Vh Vhᴴ)_ji.
    """
    U, S, Vh = res
    U = op.gather(U)  # m × k: the client holds it for this check
    xp = _array.namespace(U)
    AhU = _dense_result(op.rmatmat(cast(U, op.dtype)))
    S = xp.astype(S, U.dtype)
    cross = xp.real(xp.sum(S * xp.sum(xp.matrix_transpose(AhU) * Vh, axis=1)))
    gu, gv = H(U) @ U, Vh @ H(Vh)
    norm_sq = xp.real(xp.sum((S[:, None] * gu * S[None, :]) * xp.matrix_transpose(gv)))
    return max(total - 2.0 * _array.to_float(cross) + _array.to_float(norm_sq), 0.0)


def _report(op: Operator, A: Any, res: SVDResult, run: _Run, plan: RSVDPlan, seconds: float,
            gen: np.random.Generator, precision: str, err_sq: float | None, e: int = 0) -> ApproxReport:
    """The run's :class:`ApproxReport`: the error from ‖A‖_F² − Σ s_i² where ‖A‖_F is known
    (``err_sq`` where it was measured), else estimated from probes. ``op`` is 2^e A: the errors and
    norms are scaled back to A's."""
    m, n = op.shape
    s, k, total = run.s_np, run.k, run.total
    options = {**run.basis.info, "passes": run.basis.passes, "sketch": plan.sketch, "oversample": plan.oversample,
               **({"input": op.label} if op.streamed else {}),
               **({"precision": precision} if plan.precision != "full" else {})}
    kept = float(np.sum(s[:k] ** 2))
    if err_sq is not None and total is not None:
        fro, exact = math.sqrt(err_sq), True
        norm_fro = math.sqrt(total)
    elif total is not None:
        fro, exact = math.sqrt(max(total - kept, 0.0)), True
        norm_fro = math.sqrt(total)
    else:
        est = estimate_error(A, tuple(res), rng=gen)
        fro, exact = est.fro, False
        norm_fro = math.sqrt(kept + est.fro**2)
    fro, norm_fro, norm_2 = (_numerics.ldexp(v, -e) for v in (fro, norm_fro, float(s[0]) if s.size else 0.0))
    if not math.isfinite(norm_fro):
        _checks._fail("rsvd", f"‖A‖_F = {norm_fro} is beyond float64's range: the error report cannot hold it; "
                              f"scale 'A' down by a power of two (e.g. A * 2.0**-100)")
    t = plan.tol
    met = None if t is None else _numerics.meets_tol(fro, t, norm_fro)
    return ApproxReport(method="rsvd", shape=(m, n), rank=k, fro_error=fro, norm_fro=norm_fro,
                        norm_2=norm_2, tol=t, met_tol=met, storage_before=m * n,
                        storage_after=k * (m + n + 1), seconds=seconds, exact=exact, options=options)
