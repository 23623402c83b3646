"""Checkpoints through safetensors only, one tensor at a time (never pickle).

A checkpoint is a ``.safetensors`` file or a folder of them (a sharded checkpoint with a
``model.safetensors.index.json``, or every ``*.safetensors`` file of the folder). Reading
opens the file, takes one tensor (``safe_open`` + ``get_tensor``) and lets it go, so only
the tensors in use are ever in memory. Writing streams: each tensor's bytes are appended
to a scratch file as it comes, and the header is written once all are known, so the peak
is one tensor, not the checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from .._checks import InputError, InputTypeError, count_nonfinite
from ..io import atomic_write, check_input

__all__ = ["Checkpoint", "StateSource", "as_source", "write_safetensors"]

INDEX = "model.safetensors.index.json"

_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _unreadable(path: Path, exc: BaseException) -> InputError:
    return InputError(f"{path}: not a readable safetensors file ({' '.join(str(exc).split())})")


def _read_header(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """key -> (shape, dtype) of one file, from its header only."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            out = {}
            for k in f.keys():
                sl = f.get_slice(k)
                out[k] = (tuple(int(d) for d in sl.get_shape()), str(sl.get_dtype()))
            return out
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _unreadable(path, exc) from None


def _shard_files(folder: Path) -> list[Path]:
    index = folder / INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{index}: not a safetensors index (no readable 'weight_map': {exc})") from None
        files = sorted({folder / str(v) for v in weight_map.values()})
        missing = [f for f in files if not f.exists()]
        if missing:
            raise InputError(f"{index}: names shard {missing[0].name!r}, which does not exist in {folder}")
        return [check_input(f) for f in files]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise InputError(f"{folder}: holds no .safetensors files (and no {INDEX})")
    return [check_input(f) for f in files]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A safetensors checkpoint on disk: which file holds each key, and the keys' shapes.

    Opening reads the headers only; :meth:`get` reads one tensor.

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "m.safetensors"
    >>> _ = write_safetensors(path, [("lin.weight", torch.ones(3, 2))])
    >>> ck = Checkpoint.open(path)
    >>> ck.keys(), ck.shape("lin.weight"), ck.get("lin.weight").sum().item()
    (('lin.weight',), (3, 2), 6.0)
    """

    path: Path
    files: tuple[Path, ...]
    where: Mapping[str, Path]
    shapes: Mapping[str, tuple[int, ...]]
    dtypes: Mapping[str, str]

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Checkpoint:
        """Read the headers of a ``.safetensors`` file or of a folder of shards."""
        p = check_input(path, folders=True)
        if p.is_dir():
            files = _shard_files(p)
        elif p.suffix.lower() == ".safetensors":
            files = [p]
        else:
            raise InputTypeError(f"{p}: expected a .safetensors file or a folder of them; got {p.suffix!r}")
        where: dict[str, Path] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        dtypes: dict[str, str] = {}
        for f in files:
            for k, (shape, dtype) in _read_header(f).items():
                if k in where:
                    raise InputError(f"{f}: tensor {k!r} is also in {where[k]}; shards must not overlap")
                where[k], shapes[k], dtypes[k] = f, shape, dtype
        return cls(p, tuple(files), MappingProxyType(where), MappingProxyType(shapes), MappingProxyType(dtypes))

    def keys(self) -> tuple[str, ...]:
        return tuple(self.where)

    def shape(self, key: str) -> tuple[int, ...]:
        return self.shapes[key]

    def get(self, key: str) -> torch.Tensor:
        """Read one tensor (CPU)."""
        from safetensors import SafetensorError, safe_open

        f = self.where[key]
        try:
            with safe_open(str(f), framework="pt") as h:
                return h.get_tensor(key)
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise _unreadable(f, exc) from None

    def describe(self, key: str) -> str:
        """Where ``key`` lives, for messages: ``file: tensor 'key'``."""
        return f"{self.where.get(key, self.path)}: tensor {key!r}"


@dataclass(frozen=True, slots=True)
class StateSource:
    """Tensors by name, from a checkpoint on disk, a state dict or a module (read lazily)."""

    label: str
    tensors: Mapping[str, Any] | None
    checkpoint: Checkpoint | None

    def keys(self) -> tuple[str, ...]:
        return self.checkpoint.keys() if self.checkpoint is not None else tuple(self.tensors or {})

    def shape(self, key: str) -> tuple[int, ...]:
        if self.checkpoint is not None:
            return self.checkpoint.shape(key)
        return tuple(int(d) for d in self._tensors()[key].shape)

    def is_float(self, key: str) -> bool:
        if self.checkpoint is not None:
            return self.checkpoint.dtypes[key] in ("F64", "F32", "F16", "BF16")
        return bool(torch.is_floating_point(self._tensors()[key]))

    def get(self, key: str) -> torch.Tensor:
        return self.checkpoint.get(key) if self.checkpoint is not None else self._tensors()[key].detach()

    def describe(self, key: str) -> str:
        return self.checkpoint.describe(key) if self.checkpoint is not None else f"{self.label}: tensor {key!r}"

    def finite(self, key: str, t: torch.Tensor) -> torch.Tensor:
        """``t`` (the tensor ``key``) when it is finite; an error naming the file and key otherwise."""
        if torch.is_floating_point(t):
            nan, inf = count_nonfinite(t)
            if nan or inf:
                raise InputError(f"{self.describe(key)} contains {nan} NaN and {inf} infinite value(s)")
        return t

    def _tensors(self) -> Mapping[str, Any]:
        assert self.tensors is not None
        return self.tensors


def as_source(obj: Any, *, func: str, name: str) -> StateSource:
    """A :class:`StateSource` from a path, a :class:`Checkpoint`, a state dict or an ``nn.Module``."""
    if isinstance(obj, (str, os.PathLike)):
        return StateSource(str(obj), None, Checkpoint.open(obj))
    if isinstance(obj, Checkpoint):
        return StateSource(str(obj.path), None, obj)
    if isinstance(obj, torch.nn.Module):
        return StateSource(f"'{name}' ({type(obj).__name__})", obj.state_dict(), None)
    if isinstance(obj, Mapping):
        bad = next((k for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
        if bad is not None:
            raise InputTypeError(f"{func}: '{name}' must map names to torch tensors; got "
                                 f"{type(obj[bad]).__name__} for key {bad!r}")
        return StateSource(f"'{name}' state dict", obj, None)
    raise InputTypeError(f"{func}: '{name}' must be a .safetensors path, a folder of shards, a state dict or an "
                         f"nn.Module; got {type(obj).__name__}")


def _header(entries: list[tuple[str, str, tuple[int, ...], int, int]], metadata: Mapping[str, str]) -> bytes:
    head: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    for key, dtype, shape, begin, end in entries:
        head[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, end]}
    raw = json.dumps(head, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(raw)) + raw


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().data if flat.numel() else memoryview(b"")


def _stream(dest: Path, items: Iterable[tuple[str, torch.Tensor]], metadata: Mapping[str, str]) -> None:
    scratch = dest.with_name(dest.name + ".data")
    entries: list[tuple[str, str, tuple[int, ...], int, int]] = []
    seen: set[str] = set()
    try:
        with open(scratch, "wb") as data:
            offset = 0
            for key, t in items:
                if key in seen:
                    raise InputError(f"{dest}: tensor {key!r} written twice")
                if t.dtype not in _DTYPES:
                    raise InputTypeError(f"{dest}: tensor {key!r} has dtype {t.dtype}, which safetensors cannot hold")
                seen.add(key)
                buf = _tensor_bytes(t)
                data.write(buf)
                entries.append((key, _DTYPES[t.dtype], tuple(t.shape), offset, offset + buf.nbytes))
                offset += buf.nbytes
        with open(dest, "wb") as out, open(scratch, "rb") as data:
            out.write(_header(entries, metadata))
            shutil.copyfileobj(data, out, 16 * 2**20)
    finally:
        scratch.unlink(missing_ok=True)


def write_safetensors(path: str | os.PathLike[str], items: Iterable[tuple[str, torch.Tensor]], *,
                      protect: Iterable[str | os.PathLike[str]] = (),
                      metadata: Mapping[str, str] | None = None, force: bool = False) -> Path:
    """Write ``(key, tensor)`` pairs to a ``.safetensors`` file as they come, atomically.

    ``items`` may be a generator: each tensor is written and dropped before the next is
    asked for. The file appears only once complete (see :func:`rankwise.io.atomic_write`),
    replaces an existing file only with ``force`` and never replaces a path in ``protect``.
    """
    dest = Path(path)
    if dest.suffix.lower() != ".safetensors":
        raise InputTypeError(f"{dest}: output must end in .safetensors; got {dest.suffix!r}")
    return atomic_write(dest, lambda tmp: _stream(tmp, items, metadata or {}), protect=protect, force=force)

