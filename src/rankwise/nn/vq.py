"""Vector quantisation for torch: a learned or linearly reparametrised codebook (SimVQ) and the rotation trick.

:class:`VectorQuantizer` replaces each input vector by its nearest code. Its codebook is either
a plain learned (K × d) matrix, or C = Q·W with a frozen random Q and one learned linear map W
(SimVQ, Zhu et al. 2024): with a plain codebook only the codes that are nearest to some input
receive gradient, so the others never move and die; through W every step moves every code.
Gradients reach the encoder through the straight-through estimator or the rotation trick
(Fifty et al. 2024). The NumPy side (:mod:`rankwise.quantize`) assigns and measures without torch.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from .._checks import InputError, InputTypeError, choice, finite, integer, real
from ..quantize import BLOCK_BYTES, block_rows
from ..random import as_generator

__all__ = ["CODEBOOKS", "ESTIMATORS", "VQResult", "VectorQuantizer", "assign", "rotation_trick", "straight_through"]

Codebook = Literal["plain", "linear"]
Estimator = Literal["ste", "rotation"]
CODEBOOKS: tuple[str, ...] = ("plain", "linear")
ESTIMATORS: tuple[str, ...] = ("ste", "rotation")


class VQResult(NamedTuple):
    """Output of :class:`VectorQuantizer`: the quantised input (..., d), code indices (...), the scalar loss."""

    quantized: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor


# --------------------------------------------------------------------------- assignment


@torch.no_grad()
def assign(x: torch.Tensor, codebook: torch.Tensor, *, chunk: int | None = None) -> torch.Tensor:
    """argmin_k ‖x_i − c_k‖² for each row of ``x`` (N, d) against ``codebook`` (K, d); int64 (N,).

    Body without validation, shared by :class:`VectorQuantizer`. One product per block of
    ``chunk`` rows, [x, 1]·[−2Cᵀ; ‖c‖²], gives the scores ‖c_k‖² − 2x·c_k (‖x‖² does not change
    the argmin), so the largest temporary is ``chunk × K`` (default:
    :func:`rankwise.quantize.block_rows` for a quarter of :data:`~rankwise.quantize.BLOCK_BYTES`);
    equal scores go to the lowest index (``torch.min``, which is also faster than ``argmin`` on CPU).
    """
    C = codebook.detach()
    x = x.detach()
    (N, d), K = x.shape, C.shape[0]
    rows = min(N, chunk if chunk is not None else block_rows(K, C.element_size(), BLOCK_BYTES // 4))
    CaT = torch.cat([-2 * C, torch.einsum("kd,kd->k", C, C)[:, None]], dim=1).T  # (d + 1, K)
    xa = torch.ones(rows, d + 1, dtype=C.dtype, device=C.device)
    scores = torch.empty(rows, K, dtype=C.dtype, device=C.device)
    best = torch.empty(rows, dtype=C.dtype, device=C.device)
    out = torch.empty(N, dtype=torch.int64, device=C.device)
    for s in range(0, N, rows):
        n = min(rows, N - s)
        xa[:n, :d] = x[s:s + n]
        torch.mm(xa[:n], CaT, out=scores[:n])
        torch.min(scores[:n], dim=1, out=(best[:n], out[s:s + n]))
    return out


# --------------------------------------------------------------------------- gradient estimators


def straight_through(e: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """sg[q] + (e − sg[e]): the value of q exactly, with the identity as its Jacobian with respect to e.

    The straight-through estimator (Bengio et al. 2013, arXiv:1308.3432; van den Oord et al. 2017,
    arXiv:1711.00937) copies the gradient at q to e; no gradient reaches q through this output.
    """
    return q.detach() + (e - e.detach())


def _orthogonal_unit(u: torch.Tensor) -> torch.Tensor:
    """A unit vector orthogonal to each unit row of ``u`` (zero when d = 1, where none exists)."""
    j = u.abs().argmin(dim=-1, keepdim=True)
    v = torch.zeros_like(u).scatter_(-1, j, 1.0) - u.gather(-1, j) * u
    return v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(u.dtype).tiny)


def rotation_trick(e: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    r"""The rotation trick: sg[λR]·e, a scaled rotation of e onto q (rows of e and q of shape (N, d)).

    With ê = e/‖e‖, q̂ = q/‖q‖, r = (ê + q̂)/‖ê + q̂‖ and λ = ‖q‖/‖e‖,

    .. math:: R = I - 2 r r^\top + 2 \hat q \hat e^\top, \qquad R\hat e = \hat q,\quad R^\top R = I,

    the surrogate λRe equals q, and since λ and R are constants for autograd the gradient with
    respect to e is λRᵀ∇_q L: the rotation that takes e to q, transposed, so the angle between
    ∇_e L and e equals that between ∇_q L and q (the straight-through estimator copies ∇_q L
    instead). The output is sg[q] + (λRe − sg[λRe]): the value of q exactly (no rounding of
    λRe reaches the decoder) with the surrogate's gradient. Rows where ‖e‖ = 0 or ‖q‖ = 0 fall
    back to :func:`straight_through`; where ‖ê + q̂‖ < 10⁻³ (e within 0.06° of −q, where r is
    ill-conditioned), r is a unit vector orthogonal to ê: R is then a rotation by π taking ê to −ê.

    References
    ----------
    .. [1] C. Fifty et al., "Restructuring vector quantization with the rotation trick", 2024,
       arXiv:2410.06424.
    """
    q = q.detach()
    with torch.no_grad():
        tiny = torch.finfo(e.dtype).tiny
        en, qn = e.norm(dim=-1, keepdim=True), q.norm(dim=-1, keepdim=True)
        e_hat, q_hat = e / en.clamp_min(tiny), q / qn.clamp_min(tiny)
        s = e_hat + q_hat
        sn = s.norm(dim=-1, keepdim=True)
        r = torch.where(sn > 1e-3, s / sn.clamp_min(tiny), _orthogonal_unit(e_hat))
        lam = qn / en.clamp_min(tiny)
    rotated = lam * (e - 2 * (e * r).sum(-1, keepdim=True) * r + 2 * (e * e_hat).sum(-1, keepdim=True) * q_hat)
    return torch.where((en > 0) & (qn > 0), q + (rotated - rotated.detach()), straight_through(e, q))


_ESTIMATORS = {"ste": straight_through, "rotation": rotation_trick}


# --------------------------------------------------------------------------- the layer


def _normal(shape: tuple[int, ...], std: float, rng: Any, func: str) -> torch.Tensor:
    """N(0, std²) in float64 from a torch.Generator or a NumPy Generator (never the global state)."""
    if isinstance(rng, torch.Generator):
        return torch.randn(shape, generator=rng, dtype=torch.float64, device=rng.device) * std
    return torch.from_numpy(as_generator(rng, func=func).standard_normal(shape) * std)


class VectorQuantizer(nn.Module):
    r"""Nearest-code quantisation of vectors, with a plain or linearly reparametrised codebook.

    Parameters
    ----------
    num_codes : int
        K, the number of codes (≥ 1).
    dim : int
        d, the dimension of each input vector and code (≥ 1).
    codebook : {"plain", "linear"}, default="plain"
        ``"plain"``: C is a learned (K × d) parameter. ``"linear"``: C = Q·W with Q a frozen
        random (K × d) buffer and W a learned (d × d) map (SimVQ), or W = A·B with A (d × r) and
        B (r × d) when ``rank`` is given.
    estimator : {"ste", "rotation"}, default="ste"
        How gradients pass the quantiser to the encoder: :func:`straight_through` or :func:`rotation_trick`.
    beta : float, default=0.25
        Weight of the commitment loss.
    rank : int, optional
        r in [1, d] for a factored W = A·B (``codebook="linear"`` only).
    init_std : float, optional
        Standard deviation σ of the initial codes (plain) or of Q (linear), drawn N(0, σ²)
        entrywise; default 1/√d, so codes have norm about 1.
    chunk : int, optional
        Rows per block in the nearest-code search (see :func:`assign`).
    rng : None, int, numpy Generator or torch.Generator
        Source of Q (and of A, B's initial subspace); keyword-only, global random state is never used.
    dtype, device :
        Of the parameters and buffers (default float32, CPU).

    Notes
    -----
    For inputs e (rows of ``x``) with nearest codes q = c_{a(e)}, the loss is

    .. math:: L = \overline{\|sg[e] - q\|^2} + \beta\, \overline{\|e - sg[q]\|^2}

    (means over all entries): the codebook term moves the codes, the commitment term the
    encoder. With a plain codebook the codebook term reaches only rows of C that were chosen;
    with C = QW its gradient is Qᵀ G for the (mostly zero) row gradient G, a dense update of W
    that moves every code. Q ~ N(0, σ²) entrywise; the plain codebook starts at the same draw,
    W at the identity (so both modes start from the same codebook, and differ only in how it
    moves) and
    A = U, B = Uᵀ for a random orthonormal U (d × r). In training mode :attr:`usage` counts the
    assignments of each code (:meth:`dead_codes`, :meth:`reset_usage`).

    References
    ----------
    .. [1] Y. Zhu et al., "Addressing representation collapse in vector quantized models with
       one linear layer" (SimVQ), 2024, arXiv:2411.02038.
    .. [2] C. Fifty et al., "Restructuring vector quantization with the rotation trick", 2024,
       arXiv:2410.06424.

    Examples
    --------
    >>> import torch
    >>> vq = VectorQuantizer(16, 4, codebook="linear", estimator="rotation", rng=0)
    >>> out = vq(torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(0)))
    >>> out.quantized.shape, out.indices.shape, out.loss.ndim
    (torch.Size([2, 5, 4]), torch.Size([2, 5]), 0)
    >>> bool(torch.equal(out.quantized, vq.codebook()[out.indices]))
    True
    """

    usage: torch.Tensor
    base: torch.Tensor  # "linear": the frozen Q
    codes: nn.Parameter  # "plain"
    W: nn.Parameter  # "linear", full rank
    A: nn.Parameter  # "linear" with rank r: W = A·B
    B: nn.Parameter

    def __init__(self, num_codes: int, dim: int, *, codebook: Codebook = "plain", estimator: Estimator = "ste",
                 beta: float = 0.25, rank: int | None = None, init_std: float | None = None, chunk: int | None = None,
                 rng: Any = None, dtype: torch.dtype | None = None, device: Any = None) -> None:
        super().__init__()
        func = "VectorQuantizer"
        self.num_codes = integer(num_codes, func=func, name="num_codes", lo=1)
        self.dim = integer(dim, func=func, name="dim", lo=1)
        self.mode = choice(codebook, CODEBOOKS, func=func, name="codebook")
        self.estimator = choice(estimator, ESTIMATORS, func=func, name="estimator")
        self.beta = real(beta, func=func, name="beta", lo=0.0)
        self.chunk = None if chunk is None else integer(chunk, func=func, name="chunk", lo=1)
        if rank is not None and self.mode != "linear":
            raise InputError(f"{func}: 'rank' is only used with codebook='linear'; got rank={rank!r} with "
                             f"codebook={self.mode!r}")
        self.rank = None if rank is None else integer(rank, func=func, name="rank", lo=1, hi=self.dim, hi_text="dim")
        std = self.dim ** -0.5 if init_std is None else real(init_std, func=func, name="init_std", lo=0.0, lo_open=True)
        kw: dict[str, Any] = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        gen = rng if isinstance(rng, torch.Generator) else as_generator(rng, func=func)
        Q = _normal((self.num_codes, self.dim), std, gen, func).to(**kw)
        if self.mode == "plain":
            self.codes = nn.Parameter(Q)
        else:
            self.register_buffer("base", Q)
            self._init_map(gen, kw)
        self.register_buffer("usage", torch.zeros(self.num_codes, dtype=torch.int64, device=device), persistent=False)

    def _init_map(self, gen: Any, kw: dict[str, Any]) -> None:
        if self.rank is None:
            self.W = nn.Parameter(torch.eye(self.dim, **kw))
            return
        U = torch.linalg.qr(_normal((self.dim, self.rank), 1.0, gen, "VectorQuantizer")).Q
        self.A = nn.Parameter(U.to(**kw))
        self.B = nn.Parameter(U.T.contiguous().to(**kw))

    def codebook(self) -> torch.Tensor:
        """The effective codebook C (K × d): the plain parameter, Q·W or (Q·A)·B; differentiable."""
        if self.mode == "plain":
            return self.codes
        if self.rank is None:
            return self.base @ self.W
        return (self.base @ self.A) @ self.B

    def _check(self, x: Any) -> torch.Tensor:
        func = "VectorQuantizer"
        if not isinstance(x, torch.Tensor):
            raise InputTypeError(f"{func}: 'x' must be a torch.Tensor of shape (..., {self.dim}); got "
                                 f"{type(x).__name__}")
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise InputError(f"{func}: 'x' must have shape (..., dim) with dim = {self.dim}; "
                             f"got shape {tuple(x.shape)}")
        if x.numel() == 0:
            raise InputError(f"{func}: 'x' must be non-empty; got shape {tuple(x.shape)}")
        kind = self.codebook_dtype
        if x.dtype != kind:
            raise InputTypeError(f"{func}: 'x' must have the codebook's dtype {kind}; got {x.dtype}")
        finite(x.detach(), func=func, name="x")
        return x

    @property
    def codebook_dtype(self) -> torch.dtype:
        return (self.codes if self.mode == "plain" else self.base).dtype

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """Indices (int64, shape ``x.shape[:-1]``) of the nearest codes of ``x`` (..., d); no gradient."""
        x = self._check(x)
        with torch.no_grad():  # no autograd graph for Q·W: the indices carry no gradient
            C = self.codebook()
        idx = assign(x.reshape(-1, self.dim), C, chunk=self.chunk)
        return idx.reshape(x.shape[:-1])

    def forward(self, x: torch.Tensor) -> VQResult:
        x = self._check(x)
        e = x.reshape(-1, self.dim)
        C = self.codebook()
        idx = assign(e, C, chunk=self.chunk)
        q = C.index_select(0, idx)
        loss = (q - e.detach()).square().mean() + self.beta * (e - q.detach()).square().mean()
        out = _ESTIMATORS[self.estimator](e, q)
        if self.training:
            self.usage += torch.bincount(idx, minlength=self.num_codes)
        return VQResult(out.reshape(x.shape), idx.reshape(x.shape[:-1]), loss)

    def dead_codes(self) -> int:
        """Codes never assigned in training mode since the last :meth:`reset_usage`."""
        return int((self.usage == 0).sum())

    def reset_usage(self) -> None:
        """Set every code's count in :attr:`usage` back to zero."""
        self.usage.zero_()

    def extra_repr(self) -> str:
        rank = f", rank={self.rank}" if self.rank is not None else ""
        return (f"num_codes={self.num_codes}, dim={self.dim}, codebook={self.mode!r}{rank}, "
                f"estimator={self.estimator!r}, beta={self.beta:g}")
