"""LoRA adapters as values, and PEFT's on-disk format both ways.

PEFT writes a folder with ``adapter_config.json`` and ``adapter_model.safetensors``; the
tensors of module ``<name>`` are ``base_model.model.<name>.lora_A.weight`` (r × in, or
r × in × k… for a convolution), ``…lora_B.weight`` (out × r, or out × r × 1…) and, with
``lora_bias``, ``…lora_B.bias``; an embedding has ``…lora_embedding_A`` (r × vocab) and
``…lora_embedding_B`` (dim × r). The config holds ``r``, ``lora_alpha``, the per-module
``rank_pattern`` / ``alpha_pattern`` and ``target_modules``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from .._checks import InputError
from ..io import atomic_folder, atomic_write
from .checkpoint import Checkpoint, StateSource, write_safetensors
from .lora import check_scaling

__all__ = ["CONFIG", "WEIGHTS", "LoRAAdapter", "LoRAFactors", "apply_adapter", "load_adapter", "merged_tensors",
           "write_adapter"]

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."
Kind = Literal["linear", "conv", "embedding"]


class LoRAFactors(NamedTuple):
    """One module's adapter: ΔW = s·B A with s = α/r (α/√r with rsLoRA), in the weight's layout.

    ``A`` is (r, in) for a linear layer, (r, in, *kernel) for a convolution and (r, vocab)
    for an embedding; ``B`` is (out, r), (out, r, 1, …) and (dim, r). ``bias`` (linear and
    conv only) is stored as PEFT stores it, Δb / s.
    """

    kind: Kind
    A: torch.Tensor
    B: torch.Tensor
    alpha: float
    bias: torch.Tensor | None = None

    @property
    def rank(self) -> int:
        return int(self.A.shape[0])

    def scaling(self, rslora: bool = False) -> float:
        return self.alpha / math.sqrt(self.rank) if rslora else self.alpha / self.rank

    def delta(self, rslora: bool = False, fan_in_fan_out: bool = False) -> torch.Tensor:
        """ΔW in the layout of the module's weight: (out, in), (out, in, *kernel) or (vocab, dim)."""
        s = self.scaling(rslora)
        if self.kind == "embedding":
            return (self.B @ self.A).T * s
        if self.kind == "conv":
            d = self.B.flatten(1) @ self.A.flatten(1)
            return d.reshape(self.B.shape[0], *self.A.shape[1:]) * s
        d = self.B @ self.A * s
        return d.T if fan_in_fan_out else d

    def tensors(self, name: str) -> Iterator[tuple[str, torch.Tensor]]:
        """PEFT's keys and tensors for module ``name``."""
        base = f"{PREFIX}{name}"
        if self.kind == "embedding":
            yield f"{base}.lora_embedding_A", self.A
            yield f"{base}.lora_embedding_B", self.B
            return
        yield f"{base}.lora_A.weight", self.A
        yield f"{base}.lora_B.weight", self.B
        if self.bias is not None:
            yield f"{base}.lora_B.bias", self.bias


@dataclass(frozen=True, slots=True)
class LoRAAdapter:
    """Adapters by module name (see :class:`LoRAFactors`), plus how PEFT should scale them."""

    layers: Mapping[str, LoRAFactors]
    rslora: bool = False
    fan_in_fan_out: bool = False
    reports: tuple[Any, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", MappingProxyType(dict(self.layers)))
        for name, f in self.layers.items():
            if f.A.shape[0] != f.B.shape[1]:
                raise InputError(f"LoRAAdapter: module {name!r} has lora_A of shape {tuple(f.A.shape)} and lora_B "
                                 f"of shape {tuple(f.B.shape)}; their ranks must agree")

    @property
    def n_params(self) -> int:
        return sum(f.A.numel() + f.B.numel() for f in self.layers.values())

    def delta(self, name: str) -> torch.Tensor:
        """ΔW of module ``name`` in its weight's layout."""
        return self.layers[name].delta(self.rslora, self.fan_in_fan_out)

    @classmethod
    def from_model(cls, model: nn.Module) -> LoRAAdapter:
        """The adapters of a model prepared with :func:`rankwise.nn.add_lora` (detached copies)."""
        from .lora import LoRALinear

        layers = {n: LoRAFactors("linear", m.lora_A.detach().clone(), m.lora_B.detach().clone(), m.alpha)
                  for n, m in model.named_modules() if isinstance(m, LoRALinear)}
        rs = {m.rslora for m in model.modules() if isinstance(m, LoRALinear)}
        if not layers:
            raise InputError("LoRAAdapter.from_model: 'model' has no LoRALinear modules; call add_lora first")
        if len(rs) > 1:
            raise InputError("LoRAAdapter.from_model: the adapters mix rsLoRA and plain scaling; PEFT needs one")
        return cls(layers, rslora=rs.pop())

    def save(self, directory: str | os.PathLike[str], *,
             protect: Iterable[str | os.PathLike[str]] = (), force: bool = False) -> Path:
        """Write the adapter in PEFT's format (see :func:`write_adapter`)."""
        return write_adapter(directory, self.layers.items(), rslora=self.rslora,
                             fan_in_fan_out=self.fan_in_fan_out, protect=protect, force=force)


def _escape(name: str) -> str:
    """A PEFT pattern matching exactly ``name`` (PEFT matches ``(.*\\.)?(<pattern>)$``)."""
    return "^" + re.escape(name)


def _config(ranks: dict[str, int], alphas: dict[str, float], biases: bool, rslora: bool,
            fan_in_fan_out: bool) -> dict[str, Any]:
    r = Counter(ranks.values()).most_common(1)[0][0]
    alpha = Counter(alphas.values()).most_common(1)[0][0]
    return {
        "peft_type": "LORA", "task_type": None, "base_model_name_or_path": None, "inference_mode": True,
        "r": r, "lora_alpha": alpha, "lora_dropout": 0.0, "bias": "none", "lora_bias": biases,
        "use_rslora": rslora, "use_dora": False, "fan_in_fan_out": fan_in_fan_out, "init_lora_weights": True,
        "target_modules": sorted(ranks),
        "rank_pattern": {_escape(n): v for n, v in ranks.items() if v != r},
        "alpha_pattern": {_escape(n): v for n, v in alphas.items() if v != alpha},
        "modules_to_save": None, "layers_to_transform": None, "layers_pattern": None,
    }


class EmptyAdapterError(InputError):
    """:func:`write_adapter` was given no layer (nothing is written)."""


def write_adapter(directory: str | os.PathLike[str], layers: Iterable[tuple[str, LoRAFactors]], *,
                  rslora: bool = False, fan_in_fan_out: bool = False,
                  protect: Iterable[str | os.PathLike[str]] = (), force: bool = False) -> Path:
    """Write adapters in PEFT's format, streaming the tensors as ``layers`` yields them.

    The adapter folder (``adapter_model.safetensors`` and ``adapter_config.json``) is built
    in a temporary sibling folder and renamed into place only once both files are complete
    (see :func:`rankwise.io.atomic_folder`): a failure, an interruption or an adapter with
    no layer leaves an existing ``directory`` untouched. An existing ``directory`` is
    replaced only with ``force``; a folder that is, holds or lies inside a path of
    ``protect`` never. Linear and conv biases are written (``lora_bias: true``) when any
    layer carries one; the others then get a zero bias, because PEFT gives every adapted
    layer a bias.
    """
    folder = Path(directory)
    protect = [Path(p) for p in protect]
    ranks: dict[str, int] = {}
    alphas: dict[str, float] = {}
    biases: dict[str, torch.Tensor] = {}

    def items() -> Iterator[tuple[str, torch.Tensor]]:
        for name, f in layers:
            if name in ranks:
                raise InputError(f"{folder / WEIGHTS}: module {name!r} given twice")
            ranks[name], alphas[name] = f.rank, f.alpha
            if f.kind != "embedding":
                biases[name] = f.bias if f.bias is not None else f.B.new_zeros(f.B.shape[0])
            yield from f._replace(bias=None).tensors(name)
        if any(b.any() for b in biases.values()):  # PEFT's lora_bias is all or none
            for name, b in biases.items():
                yield f"{PREFIX}{name}.lora_B.bias", b

    def fill(tmp: Path) -> None:
        write_safetensors(tmp / WEIGHTS, items())
        if not ranks:
            raise EmptyAdapterError(f"{folder}: no layer to write; the adapter would be empty")
        cfg = _config(ranks, alphas, any(bool(b.any()) for b in biases.values()), rslora, fan_in_fan_out)

        def write_config(t: Path) -> None:
            t.write_text(json.dumps(cfg, indent=2) + "\n")

        atomic_write(tmp / CONFIG, write_config)

    return atomic_folder(folder, fill, protect=protect, force=force)


# --------------------------------------------------------------------------- reading


def _pattern_value(patterns: Mapping[str, Any], name: str, default: Any) -> Any:
    """PEFT's rule: the first pattern p with ``re.match(rf"(.*\\.)?({p})$", name)``."""
    for p, v in patterns.items():
        if re.match(rf"(.*\.)?({p})$", name):
            return v
    return default


def _targeted(target: Any, name: str) -> bool:
    if isinstance(target, str):
        return re.fullmatch(target, name) is not None
    return any(name == t or name.endswith("." + t) for t in target or ())


_SUFFIXES = {".lora_A.weight": ("A", None), ".lora_B.weight": ("B", None), ".lora_B.bias": ("bias", None),
             ".lora_embedding_A": ("A", "embedding"), ".lora_embedding_B": ("B", "embedding")}


def _split_key(key: str, path: Path) -> tuple[str, str, str | None]:
    for suffix, (part, kind) in _SUFFIXES.items():
        if key.startswith(PREFIX) and key.endswith(suffix):
            return key[len(PREFIX):-len(suffix)], part, kind
    raise InputError(f"{path}: tensor {key!r} is not a LoRA tensor rankwise reads (expected "
                     f"{PREFIX}<module>.lora_A.weight / .lora_B.weight / .lora_B.bias / .lora_embedding_A / "
                     ".lora_embedding_B)")


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG
    if not path.is_file():
        raise InputError(f"{folder}: no {CONFIG}; not a PEFT adapter folder")
    try:
        cfg = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(cfg, dict) or cfg.get("peft_type", "LORA") != "LORA":
        got = cfg.get("peft_type") if isinstance(cfg, dict) else cfg
        raise InputError(f"{path}: 'peft_type' must be 'LORA'; got {got!r}")
    for k in ("r", "lora_alpha"):
        if not isinstance(cfg.get(k), (int, float)) or cfg[k] <= 0:
            raise InputError(f"{path}: {k!r} must be a positive number; got {cfg.get(k)!r}")
    if cfg.get("use_dora"):
        raise InputError(f"{path}: DoRA adapters ('use_dora': true) are not plain LoRA; rankwise reads LoRA only")
    return cfg


def _layer(name: str, parts: dict[str, torch.Tensor], kind: str | None, cfg: dict[str, Any],
           path: Path) -> LoRAFactors:
    key = f"{PREFIX}{name}"
    if "A" not in parts or "B" not in parts:
        missing = "lora_A" if "A" not in parts else "lora_B"
        raise InputError(f"{path}: module {name!r} has no {missing} tensor ({key}); config and tensors disagree")
    A, B = parts["A"], parts["B"]
    r = int(A.shape[0])
    want = _pattern_value(cfg.get("rank_pattern") or {}, name, cfg["r"])
    if not (B.ndim >= 2 and B.shape[1] == r and want == r):
        raise InputError(f"{path}: tensor {key} has rank {r} (lora_A {tuple(A.shape)}, lora_B {tuple(B.shape)}) but "
                         f"{CONFIG} says r = {want}; config and tensors disagree")
    if not _targeted(cfg.get("target_modules"), name):
        raise InputError(f"{path}: tensor {key} is for module {name!r}, which {CONFIG}'s target_modules "
                         f"{cfg.get('target_modules')!r} does not select; config and tensors disagree")
    if "bias" in parts and not cfg.get("lora_bias"):
        raise InputError(f"{path}: tensor {key}.lora_B.bias is present but {CONFIG} has lora_bias false")
    alpha = float(_pattern_value(cfg.get("alpha_pattern") or {}, name, cfg["lora_alpha"]))
    layer_kind: Kind = "embedding" if kind == "embedding" else ("conv" if A.ndim > 2 else "linear")
    return LoRAFactors(layer_kind, A, B, alpha, parts.get("bias"))


def load_adapter(directory: str | os.PathLike[str]) -> LoRAAdapter:
    """Read a PEFT LoRA adapter folder (written by PEFT or by rankwise).

    Every tensor's rank is checked against ``r`` / ``rank_pattern``, every module against
    ``target_modules``; a disagreement, an unknown key or a corrupt file is an error
    naming the file and the key.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; a PEFT adapter is a folder with {CONFIG} and {WEIGHTS}")
    cfg = _read_config(folder)
    path = folder / WEIGHTS
    if not path.is_file():
        raise InputError(f"{folder}: no {WEIGHTS} (rankwise reads safetensors adapters only, never pickles)")
    ck = Checkpoint.open(path)
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    kinds: dict[str, str | None] = {}
    for key in ck.keys():
        name, part, kind = _split_key(key, path)
        t = ck.get(key)
        if torch.is_floating_point(t) and not bool(torch.isfinite(t).all()):
            raise InputError(f"{path}: tensor {key!r} contains NaN or infinite values")
        grouped.setdefault(name, {})[part] = t
        kinds[name] = kind or kinds.get(name)
    layers = {n: _layer(n, parts, kinds[n], cfg, path) for n, parts in grouped.items()}
    if not layers:
        raise InputError(f"{path}: holds no LoRA tensors")
    return LoRAAdapter(layers, rslora=bool(cfg.get("use_rslora")), fan_in_fan_out=bool(cfg.get("fan_in_fan_out")))


def apply_adapter(model: nn.Module, adapter: LoRAAdapter) -> nn.Module:
    """Add every adapter's ΔW (and Δb) to ``model``'s weights, in place; returns ``model``.

    The module names are the adapter's (PEFT's ``base_model.model.`` prefix removed).
    """
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, f in adapter.layers.items():
            mod = modules.get(name)
            W = getattr(mod, "weight", None)
            if not isinstance(W, torch.Tensor):
                raise InputError(f"apply_adapter: the adapter has module {name!r}, which the model lacks (or it "
                                 "has no weight)")
            d = adapter.delta(name)
            if tuple(d.shape) != tuple(W.shape):
                raise InputError(f"apply_adapter: module {name!r} has weight of shape {tuple(W.shape)}; the "
                                 f"adapter's ΔW has shape {tuple(d.shape)}")
            W += d.to(W)
            if f.bias is not None and getattr(mod, "bias", None) is not None:
                mod.bias += (f.bias * f.scaling(adapter.rslora)).to(mod.bias)  # type: ignore[union-attr]
    return model


def merged_tensors(base: StateSource, adapter: LoRAAdapter) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor of ``base``, one at a time, with the adapter's ΔW (and Δb) added.

    All modules, shapes, biases and scales (α finite and > 0, r ≥ 1) are checked before the
    first tensor is produced.
    """
    keys = set(base.keys())
    for name, f in adapter.layers.items():
        check_scaling(f.alpha, f.rank, adapter.rslora, func="lora merge", module=name)
        key = f"{name}.weight"
        if key not in keys:
            raise InputError(f"lora merge: the adapter's module {name!r} ({PREFIX}{name}) has no weight "
                             f"{key!r} in {base.label}")
        want = _delta_shape(f, adapter.fan_in_fan_out)
        if base.shape(key) != want:
            raise InputError(f"lora merge: {base.describe(key)} has shape {base.shape(key)}; the adapter's ΔW for "
                             f"{name!r} has shape {want}")
        if f.bias is not None and f"{name}.bias" not in keys:
            raise InputError(f"lora merge: the adapter has {PREFIX}{name}.lora_B.bias but {base.label} has no "
                             f"{name + '.bias'!r}")
    for key in base.keys():
        t = base.get(key)
        name, _, leaf = key.rpartition(".")
        layer = adapter.layers.get(name)
        if layer is not None and leaf == "weight":
            t = (t.double() + adapter.delta(name).double()).to(t.dtype)
        elif layer is not None and leaf == "bias" and layer.bias is not None:
            t = (t.double() + layer.bias.double() * layer.scaling(adapter.rslora)).to(t.dtype)
        yield key, t


def _delta_shape(f: LoRAFactors, fan_in_fan_out: bool) -> tuple[int, ...]:
    if f.kind == "conv":
        return (int(f.B.shape[0]), *(int(d) for d in f.A.shape[1:]))
    out, inp = int(f.B.shape[0]), int(f.A.shape[1])
    return (inp, out) if f.kind == "embedding" or fan_in_fan_out else (out, inp)
