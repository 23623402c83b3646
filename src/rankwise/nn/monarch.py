"""``MonarchLinear``: a drop-in replacement for ``torch.nn.Linear`` with a Monarch weight."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._checks import integer
from ..random import as_generator
from ..structured.monarch import Monarch, _rank, _resolve_blocks, _rows, factor_blocks, factor_rank, monarch_project

__all__ = ["MonarchLinear"]


class MonarchLinear(nn.Module):
    """y = x Mᵀ + b with M a Monarch matrix (see :class:`rankwise.structured.Monarch`).

    Parameters
    ----------
    in_features, out_features : int
        n and m, as for ``nn.Linear``.
    bias : bool, default=True
    blocks : int or (int, int), optional
        (k, q): blocks of R (k | n) and of L (q | m); default: the largest divisor of each
        dimension that is at most its square root.
    rank : int, default=1
        Block rank r, in [1, min(m/q, n/k)].
    device, dtype :
        As for ``nn.Linear``.
    rng : None, int, numpy Generator or torch.Generator
        Source of the initial values (keyword-only; global random state is never used).

    Attributes
    ----------
    L : Parameter of shape (q, m/q, k·r)
    R : Parameter of shape (k, q·r, n/k)
    bias : Parameter of shape (m,) or None

    Notes
    -----
    Input of shape (..., n) gives output (..., m), as ``nn.Linear``. The forward pass is
    two batched block products, 2·r·(q·n + k·m) flops per vector instead of 2·m·n.
    Initialisation: R ~ U(−1/√p, 1/√p) and L ~ U(−√(3/(k r)), √(3/(k r))) with p = n/k,
    so every entry of M has variance 1/(3n), as ``nn.Linear``'s U(−1/√n, 1/√n) weight;
    the bias is U(−1/√n, 1/√n). :meth:`from_linear` starts instead from the Frobenius
    projection of a trained dense weight.

    Examples
    --------
    >>> import torch
    >>> layer = MonarchLinear(64, 32, rng=0)
    >>> layer(torch.ones(5, 64)).shape, layer.blocks, sum(p.numel() for p in layer.parameters())
    (torch.Size([5, 32]), (8, 4), 544)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 blocks: int | tuple[int, int] | None = None, rank: int = 1, device: Any = None,
                 dtype: Any = None, rng: Any = None) -> None:
        super().__init__()
        func = "MonarchLinear"
        shape = (_positive(out_features, "out_features"), _positive(in_features, "in_features"))
        k, q = _resolve_blocks(blocks, shape, func)
        r = _rank(rank, shape, k, q, func)
        m, n = shape
        self.in_features, self.out_features = n, m
        gen = rng if isinstance(rng, torch.Generator) else as_generator(rng, func=func)
        kw = {"device": device, "dtype": dtype if dtype is not None else torch.get_default_dtype()}
        self.L = nn.Parameter(_uniform((q, m // q, k * r), math.sqrt(3.0 / (k * r)), gen, **kw))
        self.R = nn.Parameter(_uniform((k, q * r, n // k), 1.0 / math.sqrt(n // k), gen, **kw))
        self.bias = nn.Parameter(_uniform((m,), 1.0 / math.sqrt(n), gen, **kw)) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear, *, blocks: int | tuple[int, int] | None = None,
                    rank: int = 1) -> MonarchLinear:
        """A layer whose weight is the best Frobenius Monarch approximation of ``linear.weight``.

        The bias is copied; device and dtype follow ``linear``. See
        :func:`rankwise.structured.monarch_project`.
        """
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"MonarchLinear.from_linear: 'linear' must be a torch.nn.Linear; got "
                            f"{type(linear).__name__}")
        W = linear.weight.detach()
        M = monarch_project(W, blocks, rank=rank)
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, blocks=M.blocks,
                    rank=M.rank, device=W.device, dtype=W.dtype, rng=0)
        with torch.no_grad():
            layer.L.copy_(M.L)
            layer.R.copy_(M.R)
            if linear.bias is not None and layer.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer

    @property
    def blocks(self) -> tuple[int, int]:
        return factor_blocks(self.L, self.R)

    @property
    def rank(self) -> int:
        return factor_rank(self.L, self.R)

    def monarch(self) -> Monarch:
        """The current weight as a :class:`~rankwise.structured.Monarch` (sharing the parameters' storage)."""
        return Monarch(self.L.detach(), self.R.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"MonarchLinear: input must have last dimension in_features = {self.in_features}; "
                             f"got shape {tuple(x.shape)}")
        lead = x.shape[:-1]
        y = _rows(self.L, self.R, x.reshape(-1, self.in_features))
        y = y.reshape(*lead, self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"blocks={self.blocks}, rank={self.rank}")


def _positive(value: Any, name: str) -> int:
    return integer(value, func="MonarchLinear", name=name, lo=1)


def _uniform(shape: tuple[int, ...], bound: float, gen: Any, *, device: Any, dtype: Any) -> torch.Tensor:
    """U(−bound, bound) from a torch.Generator or a NumPy Generator."""
    if isinstance(gen, torch.Generator):
        u = torch.rand(shape, generator=gen, dtype=torch.float64, device=gen.device)
    else:
        u = torch.from_numpy(gen.random(shape))
    return ((2 * u - 1) * bound).to(device=device, dtype=dtype)

