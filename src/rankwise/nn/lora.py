"""LoRA adapters for ``torch.nn.Linear`` (SPEC §1.8, Hu et al. 2021, arXiv:2106.09685)."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from .._checks import InputError, InputTypeError, count_nonfinite, integer, real
from ..random import as_generator

__all__ = ["LoRALinear", "add_lora", "lora_parameters", "match_targets", "merge_lora"]


def _patterns(targets: str | Sequence[str] | None, func: str) -> tuple[str, ...] | None:
    if targets is None:
        return None
    pats = (targets,) if isinstance(targets, str) else tuple(targets)
    if not pats or not all(isinstance(p, str) and p for p in pats):
        raise InputTypeError(f"{func}: 'targets' must be a non-empty pattern or sequence of patterns; got {targets!r}")
    return pats


def match_targets(name: str, targets: str | Sequence[str] | None) -> bool:
    """Whether the module ``name`` is selected by ``targets``.

    A pattern (shell-style, :mod:`fnmatch`) selects a module when it matches the whole
    dotted name or its trailing components, as PEFT's ``target_modules`` list does:
    ``"query"`` selects ``encoder.layer.0.attention.self.query``, ``"layer.[01].*.dense"``
    the ``dense`` modules of layers 0 and 1. ``None`` selects every module.

    Examples
    --------
    >>> match_targets("encoder.layer.0.attention.self.query", ["query", "value"])
    True
    >>> match_targets("encoder.layer.3.output.dense", "layer.[01].*")
    False
    """
    pats = _patterns(targets, "match_targets")
    if pats is None:
        return True
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name, "*." + p) for p in pats)


def _scaling(alpha: float, r: int, rslora: bool) -> float:
    return alpha / math.sqrt(r) if rslora else alpha / r


def check_scaling(alpha: Any, r: Any, rslora: bool, *, func: str, module: str = "",
                  got: float | None = None) -> float:
    """s = α/r (α/√r with rsLoRA) after checking that α is a finite number > 0 and r an int ≥ 1.

    ``got`` is a scale already stored (it must equal s); ``module`` names the layer in messages.
    """
    where = f" for module {module!r}" if module else ""
    ok_r = isinstance(r, int) and not isinstance(r, bool) and r >= 1
    if not ok_r:
        raise InputError(f"{func}: the rank r{where} must be an int >= 1; got {r!r}")
    ok_a = isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha) and alpha > 0
    if not ok_a:
        raise InputError(f"{func}: 'alpha'{where} must be a finite number > 0; got {alpha!r}")
    s = _scaling(float(alpha), r, rslora)
    if got is not None and not (math.isfinite(got) and math.isclose(got, s, rel_tol=1e-12)):
        raise InputError(f"{func}: the scale{where} must be alpha/{'sqrt(r)' if rslora else 'r'} = {s:g}; "
                         f"got {got!r}")
    return s


class LoRALinear(nn.Module):
    """y = W₀x + b + s·B A dropout(x), with W₀, b frozen and s = α/r (rsLoRA: α/√r).

    Parameters
    ----------
    base : nn.Linear
        The wrapped layer; its parameters are frozen (``requires_grad=False``).
    r : int
        Adapter rank, 1 <= r <= min(in_features, out_features).
    alpha : float, optional
        Scale numerator α; default r (so s = 1).
    dropout : float, default=0.0
        Dropout on the adapter's input only.
    rslora : bool, default=False
        Rank-stabilised scaling s = α/√r (Kalajdzievski 2023, arXiv:2312.03732).
    rng : None, int, numpy Generator or torch.Generator
        Source of A's initial values (keyword-only; global random state is never used).

    Attributes
    ----------
    lora_A : Parameter of shape (r, in_features)
        U(−1/√in, 1/√in), as PEFT's Kaiming-uniform default.
    lora_B : Parameter of shape (out_features, r)
        Zero, so the layer starts as ``base`` exactly.

    Notes
    -----
    :meth:`merge` adds ΔW = s·BA to the frozen weight and the forward pass becomes the plain
    linear layer; :meth:`unmerge` subtracts the same ΔW (formed again from the same A, B in
    the weight's dtype), so merge then unmerge restores W₀ up to one rounding per entry.

    Examples
    --------
    >>> import torch
    >>> layer = LoRALinear(torch.nn.Linear(16, 8), r=4, alpha=8, rng=0)
    >>> x = torch.ones(2, 16)
    >>> bool(torch.equal(layer(x), layer.base(x))), layer.scaling
    (True, 2.0)
    >>> sum(p.numel() for p in layer.parameters() if p.requires_grad)
    96
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float | None = None, *, dropout: float = 0.0,
                 rslora: bool = False, rng: Any = None) -> None:
        super().__init__()
        func = "LoRALinear"
        if not isinstance(base, nn.Linear):
            raise InputTypeError(f"{func}: 'base' must be a torch.nn.Linear; got {type(base).__name__}")
        n, m = base.in_features, base.out_features
        r = integer(r, func=func, name="r", lo=1, hi=min(m, n), hi_text="min(in, out)",
                    context=f"the layer is {n} -> {m}")
        alpha = float(r) if alpha is None else real(alpha, func=func, name="alpha", lo=0.0, lo_open=True)
        p = real(dropout, func=func, name="dropout", lo=0.0, hi=1.0, hi_open=True)
        self.base = base
        for q in base.parameters():
            q.requires_grad_(False)
        self.r, self.alpha, self.rslora = r, alpha, bool(rslora)
        self.scaling = _scaling(alpha, r, self.rslora)
        self.dropout = nn.Dropout(p) if p > 0 else nn.Identity()
        W = base.weight
        self.lora_A = nn.Parameter(_uniform((r, n), 1.0 / math.sqrt(n), rng, W))
        self.lora_B = nn.Parameter(torch.zeros(m, r, device=W.device, dtype=W.dtype))
        self.merged = False

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """ΔW = s·B A, of the weight's shape (out_features, in_features)."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:
            return y
        return y + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """W₀ ← W₀ + s·BA; the forward pass is then the base layer alone.

        Raises ``InputError`` (and leaves W₀ untouched) when the scale s is not a finite
        positive number or ΔW holds NaN or infinite values (a diverged adapter).
        """
        func = "LoRALinear.merge"
        if self.merged:
            raise InputError(f"{func}: the adapter is already merged; call unmerge() first")
        check_scaling(self.alpha, self.r, self.rslora, func=func, got=self.scaling)
        delta = self.delta_weight().to(self.base.weight.dtype)
        bad = sum(count_nonfinite(delta))
        if bad:
            raise InputError(f"{func}: the update s·BA must be finite; got {bad} NaN or infinite value(s) of "
                             f"{delta.numel()} (lora_A or lora_B diverged); W₀ is left unchanged")
        self.base.weight += delta
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W₀ ← W₀ − s·BA, undoing :meth:`merge` (up to one rounding per entry)."""
        if not self.merged:
            raise InputError("LoRALinear.unmerge: the adapter is not merged; call merge() first")
        self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}, scaling={self.scaling:g}, merged={self.merged}"


def _uniform(shape: tuple[int, int], bound: float, rng: Any, like: torch.Tensor) -> torch.Tensor:
    """U(−bound, bound) from a torch.Generator or a NumPy Generator (never the global state)."""
    if isinstance(rng, torch.Generator):
        u = torch.rand(shape, generator=rng, dtype=torch.float64, device=rng.device)
    else:
        u = torch.from_numpy(as_generator(rng, func="LoRALinear").random(shape))
    return ((2 * u - 1) * bound).to(device=like.device, dtype=like.dtype)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def add_lora(model: nn.Module, targets: str | Sequence[str], r: int, alpha: float | None = None, *,
             dropout: float = 0.0, rslora: bool = False, rng: Any = None) -> nn.Module:
    """Wrap the ``nn.Linear`` modules that ``targets`` selects in :class:`LoRALinear`, in place.

    Every parameter of ``model`` is frozen first, so afterwards only the adapters' A and B
    train (see :func:`lora_parameters`).

    Parameters
    ----------
    model : nn.Module
    targets : str or sequence of str
        Module-name patterns (see :func:`match_targets`).
    r, alpha, dropout, rslora :
        As for :class:`LoRALinear`.
    rng : None, int, numpy Generator or torch.Generator
        One generator for all adapters, drawn in module order.

    Returns
    -------
    nn.Module
        ``model`` itself.

    Raises
    ------
    InputError
        When the patterns select no ``nn.Linear``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    >>> _ = add_lora(net, "0", r=2, rng=0)
    >>> type(net[0]).__name__, sum(p.numel() for p in lora_parameters(net))
    ('LoRALinear', 128)
    """
    func = "add_lora"
    pats = _patterns(targets, func)
    if not isinstance(model, nn.Module):
        raise InputTypeError(f"{func}: 'model' must be a torch.nn.Module; got {type(model).__name__}")
    gen = rng if isinstance(rng, torch.Generator) else as_generator(rng, func=func)
    chosen = [(n, m) for n, m in model.named_modules()
              if n and isinstance(m, nn.Linear) and match_targets(n, pats)]
    if not chosen:
        linear = ", ".join(n for n, m in model.named_modules() if isinstance(m, nn.Linear))
        raise InputError(f"{func}: 'targets' must select at least one nn.Linear; got {targets!r} "
                         f"(Linear modules: {linear})")
    for p in model.parameters():
        p.requires_grad_(False)
    for name, lin in chosen:
        _set_module(model, name, LoRALinear(lin, r, alpha, dropout=dropout, rslora=rslora, rng=gen))
    return model


def _adapters(model: nn.Module) -> Iterator[tuple[str, LoRALinear]]:
    for n, m in model.named_modules():
        if isinstance(m, LoRALinear):
            yield n, m


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable adapter parameters (every ``lora_A`` and ``lora_B``) of ``model``, for an optimiser."""
    return [p for _, m in _adapters(model) for p in (m.lora_A, m.lora_B)]


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its weight and put the plain ``nn.Linear`` back, in place.

    Returns ``model``; afterwards it has the original architecture with W = W₀ + s·BA.
    """
    for name, m in list(_adapters(model)):
        if not m.merged:
            m.merge()
        _set_module(model, name, m.base)
    return model
