"""Array-namespace dispatch: NumPy, PyTorch (any device), array-api-strict.

Numerical bodies start with ``xp = namespace(A)`` and call only ``xp`` functions on
user arrays, so a NumPy array in gives NumPy arrays out and a CUDA tensor in gives
CUDA tensors out.  torch is never imported here: a tensor is recognised by
``array_api_compat.is_torch_array``, which looks at ``sys.modules`` only.

Dtype rules
-----------
* float32, float64, complex64 and complex128 are kept as they are;
* bool and integer inputs become float64 (the default real floating dtype);
* float16 and bfloat16 are promoted to float32 (LAPACK has no half precision).
"""

from __future__ import annotations

from typing import Any

import array_api_compat as _aac
import numpy as np

from . import _numerics

Array = Any
"""Any array the array API standard describes (NumPy, torch, array-api-strict)."""

def namespace(*arrays: Array) -> Any:
    """The array-API namespace shared by ``arrays`` (raises TypeError on a mix)."""
    return _aac.array_namespace(*arrays)


def is_numpy(x: Array) -> bool:
    return _aac.is_numpy_array(x)


def is_torch(x: Array) -> bool:
    return _aac.is_torch_array(x)


def device(x: Array) -> Any:
    return _aac.device(x)


def is_complex(x: Array) -> bool:
    xp = namespace(x)
    return bool(xp.isdtype(x.dtype, "complex floating"))


def float_dtype(x: Array) -> Any:
    """The floating dtype ``x`` is computed in (see the module's dtype rules)."""
    xp = namespace(x)
    if xp.isdtype(x.dtype, ("real floating", "complex floating")):
        if x.dtype in (xp.float32, xp.float64) or xp.isdtype(x.dtype, "complex floating"):
            return x.dtype
        return xp.float32  # float16 / bfloat16
    return xp.float64


def as_float(x: Array) -> Array:
    """``x`` converted to its computing dtype; no copy when it already has it."""
    xp = namespace(x)
    dt = float_dtype(x)
    return x if x.dtype == dt else xp.astype(x, dt)


def real_dtype(x: Array) -> Any:
    """The real dtype matching ``x``'s floating dtype (float32 for complex64)."""
    xp = namespace(x)
    dt = float_dtype(x)
    if dt == getattr(xp, "complex64", None):
        return xp.float32
    if dt == getattr(xp, "complex128", None):
        return xp.float64
    return dt


def real_dtype_name(x: Array) -> str:
    """The name of ``x``'s real computing dtype, ``"float32"`` or ``"float64"``, for :mod:`rankwise._numerics`.

    (NumPy's namespace gives its dtypes as scalar types, ``np.float64``, whose ``str`` is not the name.)
    """
    dt = real_dtype(x)
    return np.dtype(dt).name if isinstance(dt, (type, np.dtype)) else _numerics.dtype_name(dt)


def eps(x: Array) -> float:
    """Machine epsilon of ``x``'s real dtype (:func:`rankwise._numerics.eps`)."""
    return _numerics.eps(real_dtype_name(x))


def conj_transpose(A: Array) -> Array:
    """Aᴴ (the transpose for real arrays) of the last two axes."""
    xp = namespace(A)
    return xp.conj(A).mT if is_complex(A) else A.mT


def to_numpy(x: Array) -> np.ndarray:
    """A NumPy copy (or view) of ``x``, moved to the host when needed."""
    if is_numpy(x):
        return x
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_float(x: Array) -> float:
    """A Python float from a 0-d array on any device."""
    return float(to_numpy(x).real) if is_complex(x) else float(to_numpy(x))


def like(values: np.ndarray, ref: Array) -> Array:
    """``values`` (NumPy) as an array of ``ref``'s library, device and computing dtype."""
    xp = namespace(ref)
    if is_numpy(ref):
        return np.asarray(values, dtype=float_dtype(ref))
    dev = device(ref)
    dt = float_dtype(ref)
    if is_complex(ref) or not np.iscomplexobj(values):
        return xp.asarray(np.ascontiguousarray(values), dtype=dt, device=dev)
    raise TypeError(f"cannot place complex values in a real array of dtype {dt}")
