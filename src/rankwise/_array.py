"""Array-namespace dispatch: NumPy, PyTorch (any device), array-api-strict.

Numerical bodies start with ``xp = namespace(A)`` and call only ``xp`` functions on
user arrays, so a NumPy array in gives NumPy arrays out and a CUDA tensor in gives
CUDA tensors out.  torch is never imported here: a tensor is recognised by
``array_api_compat.is_torch_array``, which looks at ``sys.modules`` only.

Dtype rules
-----------
* float32, float64, complex64 and complex128 are kept as they are;
* bool and integer inputs become float64 (the default real floating dtype);
* float16, bfloat16 and torch's float8 types (``float8_e4m3fn``, ``float8_e5m2``, …) are computed in
  float32, and torch's ``complex32`` in complex64, and the results are returned in that wider type:
  LAPACK has no half precision, and a half- or quarter-precision result could not hold what the
  methods return (float16 overflows at 65504, float8_e4m3fn at 448; singular values and A⁺ routinely
  exceed that, and their 3-11 bit mantissas would round the factors to a few digits);
* extended precision (NumPy's ``longdouble``, ``clongdouble``) is refused: LAPACK has no such
  type, and computing in float64 would silently drop the precision the input asks for
  (:func:`is_extended`; convert with ``A.astype(np.float64)`` to compute in double).

Magnitudes
----------
:func:`scale_pow2` multiplies by a power of two in steps that each stay in the dtype's range, so
the scaling is exact (only exponents change) wherever the result is a normal number: the
library's safe scaling of matrices near overflow or underflow (see ``rankwise._numerics``).
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


SUPPORTED_DTYPES = ("float32", "float64", "complex64", "complex128")
"""The dtypes rankwise computes in; every other numeric dtype is converted to one of them or refused."""


def is_extended(dtype: Any) -> bool:
    """Whether ``dtype`` is an extended-precision NumPy type (``longdouble``, ``clongdouble``), which no
    LAPACK routine computes in.

    >>> is_extended(np.longdouble) == (np.finfo(np.longdouble).bits > 64), is_extended(np.float64)
    (True, False)
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return False  # torch and array-API dtypes have no extended precision
    return (dt.kind == "f" and dt.itemsize > 8) or (dt.kind == "c" and dt.itemsize > 16)


def float_dtype(x: Array) -> Any:
    """The floating dtype ``x`` is computed in (see the module's dtype rules)."""
    xp = namespace(x)
    if is_numpy(x) and is_extended(x.dtype):
        raise TypeError(f"extended precision {x.dtype} has no LAPACK type; supported: {', '.join(SUPPORTED_DTYPES)}")
    if xp.isdtype(x.dtype, "complex floating"):
        return x.dtype if x.dtype in (xp.complex64, xp.complex128) else xp.complex64  # torch.complex32
    if xp.isdtype(x.dtype, "real floating"):
        return x.dtype if x.dtype in (xp.float32, xp.float64) else xp.float32  # float16, bfloat16, float8
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
    """A NumPy copy (or view) of ``x``, moved to the host when needed.

    Array-API arrays on a device NumPy cannot read (array-api-strict's ``Device("device1")``, a GPU
    library) are moved with ``x.to_device(default)`` to their library's default device first, as
    torch tensors are with ``.cpu()``; results go back to ``x``'s device through :func:`like`.
    """
    if is_numpy(x):
        return x
    if is_torch(x):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (RuntimeError, TypeError, ValueError, BufferError) as exc:
        host = _host_device(x)
        if host is None:
            raise TypeError(f"cannot read a {type(x).__module__.split('.')[0]} array on device {device(x)!r} from the "
                            f"host ({exc}); move it to a host device first (x.to_device(...))") from exc
        return np.asarray(x.to_device(host))


def _host_device(x: Array) -> Any:
    """The default device of ``x``'s library when that is not ``x``'s own (the device to read it from), or None."""
    info = getattr(namespace(x), "__array_namespace_info__", None)
    host = info().default_device() if info is not None else None
    return None if host is None or host == device(x) else host


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


def scale_pow2(X: Array, e: int) -> Array:
    """``X · 2^e``, exact wherever the result is a normal number, in ``X``'s library, device and dtype.

    >>> scale_pow2(np.array([2.0**-1070, 0.5**1000]), 1070).tolist() == [1.0, 2.0**70]  # 2^1070 is no float64
    True
    """
    for f in _numerics.pow2_factors(e, real_dtype_name(X)):
        X = X * f
    return X
