"""Low-rank compression of a model's linear layers: plain, activation-aware and whitened SVD."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from .._checks import InputError, InputTypeError, at_most_one, choice, count_nonfinite, describe, real
from .._numerics import tiny
from ..linalg.svd import svd
from .checkpoint import Checkpoint, StateSource, as_source, write_safetensors
from .lora import _patterns, _set_module, match_targets

__all__ = ["METHODS", "Calibration", "CompressResult", "CompressionReport", "LayerCompression", "LowRankLinear",
           "calibrate", "compress", "iter_compress", "plan_compression"]

Method = Literal["svd", "asvd", "whiten"]
METHODS: tuple[str, ...] = ("svd", "asvd", "whiten")
ASVD_POWER = 0.5
EIGEN_FLOOR = 1e-6  # whitening fallback: eigenvalues clamped to this fraction of the largest


class LowRankLinear(nn.Module):
    """y = B (A x) + b: a linear layer whose (out × in) weight is the product of two factors.

    Parameters
    ----------
    A : Tensor of shape (r, in_features)
    B : Tensor of shape (out_features, r)
    bias : Tensor of shape (out_features,), optional

    Notes
    -----
    r·(in + out) weights and 2·r·(in + out) flops per vector instead of in·out and 2·in·out.

    Examples
    --------
    >>> import torch
    >>> layer = LowRankLinear(torch.ones(2, 6), torch.ones(4, 2), torch.zeros(4))
    >>> layer(torch.ones(3, 6)).tolist()[0], layer.rank
    ([12.0, 12.0, 12.0, 12.0], 2)
    """

    def __init__(self, A: torch.Tensor, B: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        _check_factors(A, B, bias)
        self.A = nn.Parameter(A.detach().clone())
        self.B = nn.Parameter(B.detach().clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())

    @property
    def rank(self) -> int:
        return int(self.A.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(nn.functional.linear(x, self.A), self.B, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.A.shape[1]}, out_features={self.B.shape[0]}, rank={self.rank}"


def _check_factors(A: Any, B: Any, bias: Any) -> None:
    """LowRankLinear's factors: float tensors of one dtype and device, shapes (r, in), (out, r), (out,), finite."""
    func = "LowRankLinear"
    named = [("A", A), ("B", B)] + ([("bias", bias)] if bias is not None else [])
    for name, t in named:
        if not isinstance(t, torch.Tensor) or not torch.is_floating_point(t):
            raise InputTypeError(f"{func}: '{name}' must be a floating-point torch.Tensor; got {describe(t)}")
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[1]:
        raise InputError(f"{func}: 'A' (r, in) and 'B' (out, r) must share r; got shapes "
                         f"{tuple(A.shape)} and {tuple(B.shape)}")
    if bias is not None and tuple(bias.shape) != (B.shape[0],):
        raise InputError(f"{func}: 'bias' must have shape (out,) = ({B.shape[0]},); got {tuple(bias.shape)}")
    for name, t in named:
        if (t.dtype, t.device) != (A.dtype, A.device):
            raise InputTypeError(f"{func}: '{name}' must have A's dtype {A.dtype} and device {A.device}; got "
                                 f"{t.dtype} on {t.device}")
        bad = sum(count_nonfinite(t.detach()))
        if bad:
            raise InputError(f"{func}: '{name}' must contain only finite values; got {bad} NaN or infinite "
                             f"value(s) in a tensor of shape {tuple(t.shape)}")


class _Stats(NamedTuple):
    gram: torch.Tensor  # (n, n) float64, XᵀX / N
    absmean: torch.Tensor  # (n,) float64, mean |x| per input column
    samples: int


@dataclass(frozen=True, slots=True)
class Calibration:
    """Input statistics of linear layers: second moment XᵀX/N and mean |x| per column, by module name.

    Built by :func:`calibrate` from a model and sample inputs; ``save``/``load`` keep it in a
    ``.safetensors`` file (keys ``<module>.gram``, ``<module>.absmean``, ``<module>.count``)
    for ``rankwise compress --calibration``.
    """

    stats: Mapping[str, _Stats]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stats", MappingProxyType(dict(self.stats)))

    def save(self, path: str | os.PathLike[str]) -> Path:
        items = [(f"{n}.{part}", t) for n, s in self.stats.items()
                 for part, t in (("gram", s.gram), ("absmean", s.absmean), ("count", torch.tensor([s.samples])))]
        return write_safetensors(path, items)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Calibration:
        ck = Checkpoint.open(path)
        names = sorted({k.rsplit(".", 1)[0] for k in ck.keys()})
        stats = {}
        for n in names:
            missing = [p for p in ("gram", "absmean", "count") if f"{n}.{p}" not in ck.where]
            if missing:
                raise InputError(f"{ck.path}: module {n!r} has no {n}.{missing[0]} tensor; not a calibration file")
            g, a = ck.get(f"{n}.gram").double(), ck.get(f"{n}.absmean").double()
            if g.ndim != 2 or g.shape[0] != g.shape[1] or a.shape != g.shape[:1]:
                raise InputError(f"{ck.path}: tensor {n + '.gram'!r} of shape {tuple(g.shape)} and "
                                 f"{n + '.absmean'!r} of shape {tuple(a.shape)} must be (n, n) and (n,)")
            stats[n] = _Stats(g, a, int(ck.get(f"{n}.count").reshape(-1)[0]))
        return cls(stats)


def calibrate(model: nn.Module, batches: Iterable[Any], targets: str | Sequence[str] | None = None) -> Calibration:
    """Run ``batches`` through ``model`` and gather the inputs' statistics of each ``nn.Linear``.

    A batch that is a dict is passed as ``model(**batch)``, anything else as ``model(batch)``.
    Every row of a linear layer's input (all leading dimensions flattened) is one sample x.
    """
    pats = _patterns(targets, "calibrate")
    acc: dict[str, list[Any]] = {}

    def hook(name: str) -> Any:
        def record(_: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double()
            if name not in acc:
                acc[name] = [x.new_zeros(x.shape[1], x.shape[1]), x.new_zeros(x.shape[1]), 0]
            g, a, _ = acc[name]
            g.addmm_(x.T, x)
            a.add_(x.abs().sum(0))
            acc[name][2] += x.shape[0]
        return record

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, nn.Linear) and match_targets(n, pats)]
    try:
        with torch.no_grad():
            for b in batches:
                model(**b) if isinstance(b, Mapping) else model(b)
    finally:
        for h in handles:
            h.remove()
    if not acc:
        raise InputError("calibrate: no calibration input reached a selected nn.Linear (empty 'batches'?)")
    return Calibration({n: _Stats(g / c, a / c, c) for n, (g, a, c) in acc.items()})


@dataclass(frozen=True, slots=True)
class LayerCompression:
    """One layer: rank kept, weights before (m·n) and after (r·(m + n)), ‖W − BA‖_F / ‖W‖_F."""

    name: str
    shape: tuple[int, int]
    rank: int
    params_before: int
    params_after: int
    rel_error: float
    method: str
    whitening: str
    seconds: float

    def __post_init__(self) -> None:
        if self.params_after > self.params_before or self.rank < 1:
            raise ValueError(f"LayerCompression: {self.name}: rank {self.rank} stores more than the dense weight")


@dataclass(frozen=True, slots=True)
class CompressionReport:
    """Per-layer rows and the totals (weights of the compressed layers only)."""

    layers: tuple[LayerCompression, ...]
    method: str

    @property
    def params_before(self) -> int:
        return sum(r.params_before for r in self.layers)

    @property
    def params_after(self) -> int:
        return sum(r.params_after for r in self.layers)


class CompressResult(NamedTuple):
    """The compressed model (the same module, changed in place) or a new state dict, and the report."""

    model: Any
    report: CompressionReport


class _Rule(NamedTuple):
    ratio: float | None
    energy: float | None
    method: str


def _rule(ratio: Any, energy: Any, method: Any, func: str) -> _Rule:
    which = at_most_one(func, ratio=ratio, energy=energy)
    method = choice(method, METHODS, func=func, name="method")
    if which is None:
        raise InputError(f"{func}: give exactly one of 'ratio', 'energy'; got none")
    if which == "ratio":
        return _Rule(real(ratio, func=func, name="ratio", lo=0.0, hi=1.0, lo_open=True), None, method)
    return _Rule(None, real(energy, func=func, name="energy", lo=0.0, hi=1.0, lo_open=True, hi_open=True), method)


def ratio_rank(ratio: float, m: int, n: int) -> int:
    """r = ⌊ratio · m·n / (m + n)⌋: the largest rank whose factors keep at most ``ratio`` of m·n weights."""
    return math.floor(ratio * m * n / (m + n))


def _whitener(stats: _Stats) -> tuple[torch.Tensor, str]:
    """S with S Sᵀ = XᵀX/N: Cholesky, or Q Λ^{1/2} with Λ clamped when XᵀX/N is not positive definite."""
    L, info = torch.linalg.cholesky_ex(stats.gram)
    if int(info) == 0:
        return L, "cholesky"
    lam, Q = torch.linalg.eigh(stats.gram)
    lam = lam.clamp(min=EIGEN_FLOOR * float(lam.max().clamp(min=tiny(lam.dtype))))
    return Q * lam.sqrt()[None, :], "eigh"


def _scaled(W: torch.Tensor, method: str, stats: _Stats | None) -> tuple[torch.Tensor, Any, str]:
    """M = W S for the method's S, and how to undo S on the right factor."""
    if method == "svd" or stats is None:
        return W, None, "-"
    if method == "asvd":
        a = stats.absmean
        d = a.clamp(min=EIGEN_FLOOR * float(a.max().clamp(min=tiny(a.dtype)))) ** ASVD_POWER
        return W * d[None, :], d, "diagonal"
    S, how = _whitener(stats)
    return W @ S, S, how


def _unscale(Y: torch.Tensor, S: Any) -> torch.Tensor:
    """Y S⁻¹ (S diagonal as a vector, triangular from Cholesky, or Q Λ^{1/2})."""
    if S is None:
        return Y
    if S.ndim == 1:
        return Y / S[None, :]
    if bool((S.triu(1) == 0).all()):
        return torch.linalg.solve_triangular(S, Y, upper=False, left=False)
    return torch.linalg.solve(S.T, Y.T).T


def compress_weight(W: torch.Tensor, rule: _Rule, stats: _Stats | None,
                    name: str) -> tuple[torch.Tensor, torch.Tensor, LayerCompression] | None:
    """Factors A (r × n), B (m × r) of one weight, or None when the rank would save nothing."""
    t0 = time.perf_counter()
    m, n = W.shape
    W64 = W.detach().double()
    M, S, how = _scaled(W64, rule.method, stats)
    if rule.ratio is not None:
        r = ratio_rank(rule.ratio, m, n)
        if r < 1:
            raise InputError(f"compress: 'ratio' = {rule.ratio:g} keeps no rank of {name!r} ({m}×{n}): "
                             f"r = ⌊ratio·m·n/(m+n)⌋ = 0; the smallest ratio for rank 1 is {(m + n) / (m * n):.3g}")
        (U, s, Vh) = svd(M, r)
    else:
        (U, s, Vh) = svd(M, energy=rule.energy)
        r = int(s.shape[0])
        if r * (m + n) >= m * n:
            return None
    root = s.sqrt()
    B = U * root[None, :]
    A = _unscale(root[:, None] * Vh, S)
    err = float(torch.linalg.matrix_norm(W64 - B @ A) / torch.linalg.matrix_norm(W64).clamp(min=1e-300))
    rep = LayerCompression(name, (m, n), r, m * n, r * (m + n), err, rule.method, how, time.perf_counter() - t0)
    return A.to(W.dtype), B.to(W.dtype), rep


def plan_compression(source: StateSource, targets: str | Sequence[str] | None = None, *,
                     modules: Mapping[str, nn.Module] | None = None) -> list[str]:
    """Module names whose 2-D float ``.weight`` will be factored: the ``nn.Linear`` modules when
    ``modules`` are known, otherwise every 2-D weight whose last name component does not
    contain ``embed`` (nor is ``wte``, ``wpe``, ``shared``)."""
    from .extract import _kind

    pats = _patterns(targets, "compress")
    out = []
    for key in source.keys():
        name = key[: -len(".weight")]
        if not key.endswith(".weight") or not source.is_float(key) or not match_targets(name, pats):
            continue
        if modules is not None and not isinstance(modules.get(name), nn.Linear):
            continue
        if _kind(name, len(source.shape(key)), dict(modules) if modules is not None else None) == "linear":
            out.append(name)
    if not out:
        raise InputError(f"compress: no linear layer to compress; 'targets' = {targets!r} selects none in "
                         f"{source.label}")
    return out


def _layer_stats(rule: _Rule, calibration: Calibration | None, name: str, n: int) -> _Stats | None:
    if rule.method == "svd":
        return None
    if calibration is None:
        raise InputError(f"compress: method {rule.method!r} needs 'calibration' (input statistics of each layer)")
    st = calibration.stats.get(name)
    if st is None:
        raise InputError(f"compress: 'calibration' has no statistics for layer {name!r} (method {rule.method!r})")
    if st.gram.shape != (n, n):
        raise InputError(f"compress: calibration of {name!r} has shape {tuple(st.gram.shape)}; the layer has "
                         f"{n} inputs")
    return st


def iter_compress(source: StateSource, plan: Sequence[str], *, ratio: float | None = None,
                  energy: float | None = None, method: str = "svd", calibration: Calibration | None = None,
                  ) -> Iterator[tuple[str, torch.Tensor, LayerCompression | None]]:
    """Every tensor of ``source``, in order, one at a time; planned weights replaced by their factors.

    Yields ``(key, tensor, report)``: ``<module>.A`` (r × in) then ``<module>.B`` (out × r, with
    the layer's report) for a compressed layer, the tensor itself (report None) otherwise.
    """
    rule = _rule(ratio, energy, method, "compress")
    chosen = set(plan)
    for key in source.keys():
        t = source.get(key)
        name = key[: -len(".weight")]
        if not (key.endswith(".weight") and name in chosen):
            yield key, t, None
            continue
        W = source.finite(key, t)
        out = compress_weight(W, rule, _layer_stats(rule, calibration, name, W.shape[1]), name)
        if out is None:
            yield key, t, None
            continue
        A, B, rep = out
        yield f"{name}.A", A, None
        yield f"{name}.B", B, rep


def compress(model_or_state_dict: Any, *, ratio: float | None = None, energy: float | None = None,
             method: Method = "svd", calibration: Calibration | Iterable[Any] | None = None,
             targets: str | Sequence[str] | None = None) -> CompressResult:
    """Replace linear layers by two-factor low-rank layers ``W ≈ B A``.

    Parameters
    ----------
    model_or_state_dict : nn.Module or mapping of name -> tensor
        A module is changed in place (each ``nn.Linear`` becomes a :class:`LowRankLinear`);
        a state dict gives a new one where ``<module>.weight`` becomes ``<module>.A`` (r × in)
        and ``<module>.B`` (out × r).
    ratio : float in (0, 1], optional
        Fraction of each layer's m·n weights kept: r = ⌊ratio · m·n / (m + n)⌋.
    energy : float in (0, 1), optional
        Per layer, the smallest r keeping that fraction of Σσ² of the (scaled) weight; a
        layer where r·(m + n) >= m·n stays dense. Exactly one of ``ratio``, ``energy``.
    method : {"svd", "asvd", "whiten"}, default="svd"
        See Notes.
    calibration : Calibration or iterable of model inputs, optional
        Needed by ``asvd`` and ``whiten``; batches are run through the model by :func:`calibrate`.
    targets : str or sequence of str, optional
        Module-name patterns (default: every linear layer).

    Returns
    -------
    CompressResult
        ``(model, report)``; the report has one :class:`LayerCompression` per layer.

    Notes
    -----
    Each method takes the truncated SVD of M = W S and returns B = U_r Σ_r^{1/2},
    A = Σ_r^{1/2} V_rᵀ S⁻¹ (float64 throughout, factors cast back to W's dtype):

    * ``svd``: S = I, the Eckart–Young optimum of ‖W − BA‖_F.
    * ``asvd`` (Yuan et al. 2023, arXiv:2312.05821): S = diag(mean|x_j|^{0.5}), so input
      columns that carry large activations are kept more accurately.
    * ``whiten`` (SVD-LLM, Wang et al. 2024, arXiv:2403.07378): S is the Cholesky factor of
      the inputs' second moment, S Sᵀ = XᵀX/N. Then ‖(W − BA)Xᵀ‖_F² = N‖(W − BA)S‖_F², so
      truncating W S minimises the error of the layer's *outputs* on the calibration data.
      When XᵀX/N is not positive definite (fewer samples than inputs, dead inputs) S = QΛ^{1/2}
      from its eigendecomposition, eigenvalues clamped to 10⁻⁶·λ_max.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    >>> net, report = compress(net, ratio=0.5)
    >>> type(net[0]).__name__, [r.rank for r in report.layers], report.params_after <= report.params_before // 2
    ('LowRankLinear', [16, 3], True)
    """
    func = "compress"
    rule = _rule(ratio, energy, method, func)
    is_model = isinstance(model_or_state_dict, nn.Module)
    source = as_source(model_or_state_dict, func=func, name="model_or_state_dict")
    modules = dict(model_or_state_dict.named_modules()) if is_model else None
    plan = plan_compression(source, targets, modules=modules)
    cal = _calibration(calibration, model_or_state_dict, plan, rule)
    items = list(iter_compress(source, plan, ratio=rule.ratio, energy=rule.energy, method=rule.method, calibration=cal))
    report = CompressionReport(tuple(r for _, _, r in items if r is not None), rule.method)
    if not is_model:
        return CompressResult({k: t for k, t, _ in items}, report)
    tensors = {k: t for k, t, _ in items}
    for rep in report.layers:
        lin = modules[rep.name] if modules is not None else None
        bias = getattr(lin, "bias", None)
        _set_module(model_or_state_dict, rep.name,
                    LowRankLinear(tensors[f"{rep.name}.A"], tensors[f"{rep.name}.B"], bias))
    return CompressResult(model_or_state_dict, report)


def _calibration(calibration: Any, model: Any, plan: Sequence[str], rule: _Rule) -> Calibration | None:
    if calibration is None or isinstance(calibration, Calibration):
        return calibration
    if rule.method == "svd":
        return None
    if not isinstance(model, nn.Module):
        raise InputTypeError("compress: with a state dict, 'calibration' must be a Calibration (input statistics); "
                             f"got {type(calibration).__name__}")
    return calibrate(model, calibration, targets=list(plan))
