"""LoRA extraction: the truncated SVD of ΔW = W_tuned − W_base, layer by layer (SPEC §1.8)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from .._checks import InputError, at_most_one, integer, real
from .._numerics import energy_from_tol, tol_floor, tol_from_energy
from ..linalg.rsvd import rsvd
from ..linalg.svd import svd
from ..random import as_generator
from .checkpoint import StateSource, as_source
from .lora import _patterns, match_targets
from .peft_io import Kind, LoRAAdapter, LoRAFactors

__all__ = ["LayerExtraction", "LayerTarget", "extract_lora", "iter_extract", "plan_extraction"]

EXACT_BELOW = 64  # layers with min(m, n) <= this go through the exact SVD
_EMBEDDING_NAMES = ("wte", "wpe", "shared")


@dataclass(frozen=True, slots=True)
class LayerExtraction:
    """One extracted layer: the rank kept, ‖ΔW − BA‖_F / ‖ΔW‖_F and the σ² energy kept.

    ``capped`` is True when the asked rank exceeded min(m, n) of the layer, which is then
    kept whole (rank min(m, n), error zero up to rounding).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    rank: int
    rel_error: float
    energy: float
    params: int
    seconds: float
    capped: bool = False

    @property
    def dense_params(self) -> int:
        """The numbers ΔW itself holds (m·n), against which ``params`` compares."""
        return math.prod(self.shape)

    def __post_init__(self) -> None:
        if self.rank < 1 or not 0.0 <= self.energy <= 1.0 + 1e-9:
            raise ValueError(f"LayerExtraction: inconsistent rank {self.rank} / energy {self.energy}")


class LayerTarget(NamedTuple):
    """A planned layer: module name, kind, weight shape and the matrix (m, n) that is factored."""

    name: str
    kind: Kind
    shape: tuple[int, ...]
    matrix: tuple[int, int]
    has_bias: bool


class _Rule(NamedTuple):
    rank: int | None
    energy: float | None
    tol: float | None


def _kind(name: str, ndim: int, modules: dict[str, nn.Module] | None) -> Kind | None:
    mod = modules.get(name) if modules is not None else None
    if isinstance(mod, nn.Embedding):
        return "embedding"
    if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) or (mod is None and 3 <= ndim <= 5):
        return "conv"
    if ndim != 2:
        return None
    last = name.rsplit(".", 1)[-1]
    if mod is None and ("embed" in last or last in _EMBEDDING_NAMES):
        return "embedding"
    return "linear"


def _matrix(kind: Kind, shape: tuple[int, ...]) -> tuple[int, int]:
    if kind == "embedding":
        return shape[1], shape[0]  # ΔWᵀ = B A, as PEFT stores embeddings
    return shape[0], math.prod(shape[1:])


def _candidate(source: StateSource, key: str) -> bool:
    """Whether ``key`` could carry a LoRA update: a floating ``.weight`` of two or more dimensions."""
    return key.endswith(".weight") and source.is_float(key) and len(source.shape(key)) >= 2


def _check_pair(base: StateSource, tuned: StateSource, func: str) -> None:
    """Same candidate weights in both, of the same shapes.

    A key that only one side holds and that no LoRA could carry (a buffer such as
    ``position_ids``, which ``state_dict()`` may leave out) is not compared."""
    bk, tk = set(base.keys()), set(tuned.keys())
    for key in sorted(bk ^ tk):
        have, lack = (base, tuned) if key in bk else (tuned, base)
        if _candidate(have, key):
            raise InputError(f"{func}: key sets differ: {have.describe(key)} has no counterpart in {lack.label}")
    for key in sorted(bk & tk):
        if base.shape(key) != tuned.shape(key):
            raise InputError(f"{func}: shapes differ for {key!r}: {base.shape(key)} in {base.label} but "
                             f"{tuned.shape(key)} in {tuned.label}")


def plan_extraction(base: StateSource, tuned: StateSource, targets: str | Sequence[str] | None = None, *,
                    modules: dict[str, nn.Module] | None = None, func: str = "plan_extraction") -> list[LayerTarget]:
    """The layers to extract, from names and shapes only (nothing is read but the headers).

    Every ``<module>.weight`` of floating dtype with at least two dimensions is a candidate
    (``targets=None``), or those among the modules that ``targets`` selects (see
    :func:`~rankwise.nn.match_targets`); a pattern that selects only 1-D weights (norms) is
    an error.
    Kinds: ``nn.Embedding`` / ``nn.Conv*`` when ``modules`` are known; in a bare checkpoint a
    3-to-5-D weight is a convolution and a 2-D weight whose last name component contains
    ``embed`` (or is ``wte``, ``wpe``, ``shared``) an embedding.
    """
    _check_pair(base, tuned, func)
    pats = _patterns(targets, func)
    out: list[LayerTarget] = []
    refused: dict[str, str | None] = {}  # pattern -> a 1-D key it selected, None once it selected a usable one
    for key in base.keys():
        if not key.endswith(".weight") or not base.is_float(key):
            continue
        name, shape = key[: -len(".weight")], base.shape(key)
        hits = [p for p in pats or ("*",) if match_targets(name, p)]
        kind = _kind(name, len(shape), modules)
        if hits and kind is not None:
            out.append(LayerTarget(name, kind, shape, _matrix(kind, shape), f"{name}.bias" in base.keys()))
            refused.update({p: None for p in hits})
        elif hits and pats is not None:
            refused.update({p: refused.get(p, key) for p in hits})
    bad = next(((p, k) for p, k in refused.items() if k is not None), None)
    if bad is not None:  # a pattern that selects only weights LoRA cannot take
        raise InputError(f"{func}: 'targets' pattern {bad[0]!r} selects {base.describe(bad[1])} of shape "
                         f"{base.shape(bad[1])}; LoRA needs a 2-D weight or a conv kernel")
    if not out:
        raise InputError(f"{func}: no weight to extract; 'targets' = {targets!r} selects no 2-D weight in {base.label}")
    return out


def _rule(rank: Any, energy: Any, tol: Any, func: str) -> _Rule:
    which = at_most_one(func, rank=rank, energy=energy, tol=tol)
    if which is None:
        raise InputError(f"{func}: give exactly one of 'rank', 'energy', 'tol'; got none")
    if which == "rank":
        return _Rule(integer(rank, func=func, name="rank", lo=1), None, None)
    if which == "energy":
        return _Rule(None, real(energy, func=func, name="energy", lo=0.0, hi=1.0, lo_open=True, hi_open=True), None)
    return _Rule(None, None, real(tol, func=func, name="tol", lo=0.0, hi=1.0, lo_open=True, hi_open=True))


def _truncate(D: torch.Tensor, rule: _Rule, gen: Any) -> tuple[Any, float, float]:
    """Truncated SVD of D by the rule: (factors, relative error, energy kept).

    A fixed rank above min(m, n) keeps the whole layer (rank min(m, n)).
    """
    m, n = D.shape
    tol = rule.tol if rule.energy is None else tol_from_energy(rule.energy)
    if rule.rank is not None and rule.rank > min(m, n):
        rule = rule._replace(rank=min(m, n))
    if min(m, n) <= EXACT_BELOW:
        res, rep = svd(D, rule.rank, tol=None if rule.rank else tol, report=True)
    elif rule.rank is not None:
        res, rep = rsvd(D, rule.rank, rng=gen, report=True)
    else:  # below float32's tolerance floor its error indicator cannot resolve tol: go to float64
        low = D.dtype == torch.float32 and tol is not None and tol < tol_floor(torch.float32)
        res, rep = rsvd(D.double() if low else D, tol=tol, rng=gen, report=True)
    rel = rep.fro_error / rep.norm_fro
    return res, rel, max(0.0, energy_from_tol(rel))


def _factors(t: LayerTarget, res: Any, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """B = U √Σ, A = √Σ Vh in PEFT's layout for the layer's kind."""
    U, S, Vh = res
    root = torch.sqrt(S)
    B = (U * root[None, :]).to(dtype).contiguous()
    A = (root[:, None] * Vh).to(dtype).contiguous()
    if t.kind == "conv":
        extra = len(t.shape) - 2
        return A.reshape(A.shape[0], *t.shape[1:]), B.reshape(*B.shape, *([1] * extra))
    return A, B


def _delta(base: StateSource, tuned: StateSource, key: str) -> torch.Tensor:
    w0 = base.finite(key, base.get(key))
    w1 = tuned.finite(key, tuned.get(key))
    wd = torch.float64 if torch.float64 in (w0.dtype, w1.dtype) else torch.float32
    return w1.to(wd) - w0.to(wd)


def iter_extract(base: StateSource, tuned: StateSource, plan: Sequence[LayerTarget], *, rank: int | None = None,
                 energy: float | None = None, tol: float | None = None, rng: Any = None,
                 func: str = "iter_extract") -> Iterator[tuple[str, LoRAFactors, LayerExtraction]]:
    """Extract the planned layers one at a time (two weights and one ΔW in memory at once).

    Yields ``(name, factors, report)``; layers whose ΔW is exactly zero (and whose bias did
    not change) are skipped before any rank is applied. A layer smaller than a fixed
    ``rank`` (min(m, n) < rank) is kept whole, and its report says so (``capped``).
    """
    rule = _rule(rank, energy, tol, func)
    gen = as_generator(rng, func=func)
    for t in plan:
        t0 = time.perf_counter()
        key = f"{t.name}.weight"
        D = _delta(base, tuned, key)
        db = _delta(base, tuned, f"{t.name}.bias") if t.has_bias and t.kind != "embedding" else None
        M = D.T if t.kind == "embedding" else D.reshape(t.matrix)
        if not bool(M.any()):
            if db is not None and bool(db.any()):
                raise InputError(f"{func}: {tuned.describe(f'{t.name}.bias')} changed but its weight did not; "
                                 "LoRA cannot carry a bias without a weight update")
            continue
        res, rel, kept = _truncate(M, rule, gen)
        A, B = _factors(t, res, D.dtype)
        bias = db if db is not None and bool(db.any()) else None
        r = A.shape[0]
        capped = rule.rank is not None and rule.rank > min(t.matrix)
        rep = LayerExtraction(t.name, t.kind, t.shape, r, rel, kept, r * sum(t.matrix), time.perf_counter() - t0,
                              capped)
        yield t.name, LoRAFactors(t.kind, A, B, float(r), bias), rep


def extract_lora(base: Any, tuned: Any, *, rank: int | None = None, energy: float | None = None,
                 tol: float | None = None, targets: str | Sequence[str] | None = None,
                 rng: Any = None) -> LoRAAdapter:
    """A LoRA adapter reproducing ``tuned`` from ``base``: ΔW ≈ B A per layer.

    Parameters
    ----------
    base, tuned : nn.Module, state dict, path of a ``.safetensors`` file or folder of shards
        Same keys and shapes. Files are read one tensor at a time.
    rank : int, optional
        The same rank r for every layer (a layer with min(m, n) < r is kept whole).
    energy : float in (0, 1), optional
        Per layer, the smallest r keeping Σ_{i<=r} σ_i² >= energy · ‖ΔW‖_F².
    tol : float in (0, 1), optional
        Per layer, the smallest r with ‖ΔW − BA‖_F <= tol · ‖ΔW‖_F.
        Exactly one of ``rank``, ``energy``, ``tol``.
    targets : str or sequence of str, optional
        Module-name patterns (:func:`~rankwise.nn.match_targets`); default every weight with
        two or more dimensions.
    rng : None, int or numpy Generator
        Seeds the randomized SVD (one generator, drawn in layer order).

    Returns
    -------
    LoRAAdapter
        Factors by module name, α = r per layer (so s = α/r = 1); ``reports`` holds one
        :class:`LayerExtraction` per layer. ``.save(folder)`` writes PEFT's format.

    Notes
    -----
    With the truncated SVD ΔW ≈ U_r Σ_r V_rᵀ (rank r, by the rule above), σ is split evenly:

    .. math:: B = U_r \\Sigma_r^{1/2}, \\qquad A = \\Sigma_r^{1/2} V_r^\\top, \\qquad \\alpha = r,

    so s·BA = U_r Σ_r V_rᵀ, the best rank-r approximation (Eckart–Young) and ‖B‖_F = ‖A‖_F.
    A convolution's kernel (out, in, k…) is factored as the (out, in·k…) matrix, A reshaped
    to (r, in, k…) and B to (out, r, 1…); an embedding (vocab, dim) factors ΔWᵀ (PEFT's
    ``lora_embedding_B`` (dim, r) and ``lora_embedding_A`` (r, vocab)). Layers with
    min(m, n) > 64 go through :func:`rankwise.rsvd` (block Krylov, about 5 passes over ΔW);
    smaller ones through the exact :func:`rankwise.svd`. A changed bias is carried as
    ``lora_B.bias`` (PEFT's ``lora_bias``); other changed tensors (norms, biases of layers
    that are not targets) cannot be, and are not compared.

    Examples
    --------
    >>> import torch
    >>> base = {"lin.weight": torch.zeros(80, 96)}
    >>> g = torch.Generator().manual_seed(0)
    >>> tuned = {"lin.weight": torch.randn(80, 3, generator=g) @ torch.randn(3, 96, generator=g)}
    >>> ad = extract_lora(base, tuned, tol=1e-3, rng=0)
    >>> ad.layers["lin"].rank, bool(torch.allclose(ad.delta("lin"), tuned["lin.weight"], atol=1e-4))
    (3, True)
    """
    func = "extract_lora"
    b, t = as_source(base, func=func, name="base"), as_source(tuned, func=func, name="tuned")
    modules = dict(base.named_modules()) if isinstance(base, nn.Module) else None
    plan = plan_extraction(b, t, targets, modules=modules, func=func)
    layers, reports = {}, []
    for name, f, rep in iter_extract(b, t, plan, rank=rank, energy=energy, tol=tol, rng=rng, func=func):
        layers[name] = f
        reports.append(rep)
    if not layers:
        raise InputError(f"{func}: 'tuned' equals 'base' on every selected weight; there is nothing to extract")
    return LoRAAdapter(layers, reports=tuple(reports))
