"""Input validation shared by every public function.

Every message follows one template: ``<func>: '<param>' must be <expected>; got <given>``
followed, where it helps, by the context in parentheses, e.g.::

    svd: 'rank' must be an int in [1, min(m, n)] = [1, 4]; got 7 (A has shape (5, 4))

Errors subclass ValueError / TypeError so ``except ValueError`` keeps working, and
:class:`RankwiseError` lets callers (the CLI) catch rankwise's own errors only.
Nothing is ever clamped silently.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import numpy as np

from . import _array
from ._array import Array


class RankwiseError(Exception):
    """Base class of every error rankwise raises on purpose."""


class InputError(RankwiseError, ValueError):
    """A value is outside what the function accepts."""


class InputTypeError(RankwiseError, TypeError):
    """A value has the wrong type."""


def _fail(func: str, msg: str, exc: type[RankwiseError] = InputError) -> NoReturn:
    raise exc(f"{func}: {msg}")


def describe(x: Any) -> str:
    """A short description of ``x`` for error messages."""
    shape = getattr(x, "shape", None)
    if shape is not None and hasattr(x, "dtype"):
        return f"{type(x).__module__.split('.')[0]} array of shape {tuple(shape)} and dtype {x.dtype}"
    return f"{x!r} ({type(x).__name__})"


def _as_array(A: Any, func: str, name: str) -> Array:
    if A is None:
        _fail(func, f"'{name}' must be an array; got None", InputTypeError)
    if hasattr(A, "__array_namespace__") or _array.is_numpy(A) or _array.is_torch(A):
        return A
    try:
        arr = np.asarray(A)
    except (ValueError, TypeError) as exc:  # ragged lists
        _fail(func, f"'{name}' must be an array; got {type(A).__name__} ({exc})", InputTypeError)
    return arr


def count_nonfinite(A: Array) -> tuple[int, int]:
    """(number of NaN, number of ±Inf) entries of ``A``; one cheap pass when all are finite."""
    xp = _array.namespace(A)
    with np.errstate(over="ignore", invalid="ignore"):  # a finite sum proves finiteness; overflow does not disprove it
        total = xp.sum(A)
        if _array.is_complex(A):
            total = xp.real(total) + xp.imag(total)
        if math.isfinite(_array.to_float(total)):
            return 0, 0
    nan = int(_array.to_float(xp.sum(xp.astype(xp.isnan(A), xp.int64))))
    inf = int(_array.to_float(xp.sum(xp.astype(xp.isinf(A), xp.int64))))
    return nan, inf


def finite(A: Array, *, func: str, name: str) -> None:
    """Raise if ``A`` holds NaN or ±Inf, saying how many of each."""
    nan, inf = count_nonfinite(A)
    if nan or inf:
        parts = [f"{nan} NaN" if nan else "", f"{inf} infinite" if inf else ""]
        what = " and ".join(p for p in parts if p)
        _fail(func, f"'{name}' must contain only finite values; got {what} value(s) "
                    f"in an array of shape {tuple(A.shape)}")


def array(A: Any, *, func: str, name: str = "A", ndim: int | Sequence[int] = 2,
          allow_empty: bool = False, check_finite: bool = True) -> Array:
    """Validate a dense numeric array and return it in its computing dtype.

    Lists become NumPy arrays; bool and integer arrays become float64; float16 becomes
    float32 (see :mod:`rankwise._array`). The library and device are kept.
    """
    A = _as_array(A, func, name)
    xp = _array.namespace(A)
    dt = A.dtype
    numeric = ("bool", "integral", "real floating", "complex floating")
    try:
        ok = xp.isdtype(dt, numeric)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        _fail(func, f"'{name}' must be a numeric array; got dtype {dt}", InputTypeError)
    supported_dtype(dt, func=func, name=name)
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if A.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        _fail(func, f"'{name}' must be a {want} array; got a {A.ndim}-D array of shape {tuple(A.shape)}")
    if not allow_empty and math.prod(A.shape) == 0:
        _fail(func, f"'{name}' must be non-empty; got shape {tuple(A.shape)}")
    A = _array.as_float(A)
    if check_finite and math.prod(A.shape) > 0:
        finite(A, func=func, name=name)
    return A


def matrix(A: Any, *, func: str, name: str = "A", check_finite: bool = True) -> Array:
    """Validate a non-empty, finite 2-D numeric array (see :func:`array`)."""
    return array(A, func=func, name=name, ndim=2, check_finite=check_finite)


def integer(value: Any, *, func: str, name: str, lo: int, hi: int | None = None,
            hi_text: str | None = None, context: str = "") -> int:
    """An int in [lo, hi] (hi=None: unbounded). ``hi_text`` names the bound, e.g. 'min(m, n)'."""
    ok_type = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if hi is None:
        interval = f"[{lo}, inf)"
    elif hi_text:
        interval = f"[{lo}, {hi_text}] = [{lo}, {hi}]"
    else:
        interval = f"[{lo}, {hi}]"
    ctx = f" ({context})" if context else ""
    if not ok_type:
        _fail(func, f"'{name}' must be an int in {interval}; got {value!r} ({type(value).__name__}){ctx}",
              InputTypeError)
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        _fail(func, f"'{name}' must be an int in {interval}; got {v}{ctx}")
    return v


def rank(k: Any, shape: tuple[int, ...], *, func: str, name: str = "rank", operand: str = "A") -> int:
    """A target rank in [1, min(m, n)] for an operand of ``shape``."""
    return integer(k, func=func, name=name, lo=1, hi=min(shape), hi_text="min(m, n)",
                   context=f"{operand} has shape {tuple(shape)}")


def real(value: Any, *, func: str, name: str, lo: float = -math.inf, hi: float = math.inf,
         lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number in the interval given by lo, hi and their openness."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    interval = f"a number in {left}{lo:g}, {hi:g}{right}"
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        _fail(func, f"'{name}' must be {interval}; got {value!r} ({type(value).__name__})", InputTypeError)
    v = float(value)
    bad = (not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi))
    if bad:
        _fail(func, f"'{name}' must be {interval}; got {v!r}")
    return v


def at_most_one(func: str, **options: Any) -> str | None:
    """The name of the one option that is not None (or None); raise when several are set."""
    given = [k for k, v in options.items() if v is not None]
    if len(given) > 1:
        names = ", ".join(f"'{k}'" for k in options)
        got = ", ".join(f"{k}={options[k]!r}" for k in given)
        _fail(func, f"give at most one of {names}; got {got}")
    return given[0] if given else None


def exactly_one(func: str, **options: Any) -> str:
    """The name of the one option that is not None; raise when none or several are set."""
    chosen = at_most_one(func, **options)
    if chosen is None:
        names = ", ".join(f"'{k}'" for k in options)
        _fail(func, f"give exactly one of {names}; got none")
    return chosen


def choice(value: Any, options: Iterable[str], *, func: str, name: str) -> str:
    """``value`` if it is one of ``options``; otherwise list the valid ones."""
    valid = sorted(options)
    if not isinstance(value, str) or value not in valid:
        _fail(func, f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    return value


def same_namespace(func: str, **arrays: Array) -> None:
    """Raise when the arrays come from different libraries or devices."""
    items = list(arrays.items())
    (n0, a0), rest = items[0], items[1:]
    for n1, a1 in rest:
        if type(a0) is not type(a1) or _array.device(a0) != _array.device(a1):
            _fail(func, f"'{n0}' and '{n1}' must be arrays of the same library and device; got "
                        f"{type(a0).__name__} on {_array.device(a0)} and {type(a1).__name__} "
                        f"on {_array.device(a1)}", InputTypeError)


def nonnegative(A: np.ndarray, *, func: str, name: str) -> None:
    """Raise if the real NumPy array ``A`` holds negative values, saying how many and the smallest."""
    neg = np.flatnonzero(A < 0)
    if neg.size:
        _fail(func, f"'{name}' must be non-negative; got {neg.size} negative value(s), the first "
                    f"{name}[{int(neg[0])}] = {float(A[neg[0]])!r}")


def descending(A: np.ndarray, *, func: str, name: str) -> None:
    """Raise if the 1-D NumPy array ``A`` is not in non-increasing order, naming the first rise."""
    rise = np.flatnonzero(np.diff(A) > 0)
    if rise.size:
        i = int(rise[0])
        _fail(func, f"'{name}' must be in descending order; got {name}[{i + 1}] = {float(A[i + 1])!r} > "
                    f"{name}[{i}] = {float(A[i])!r}")


def real_vector(x: Any, *, func: str, name: str, allow_empty: bool = False) -> np.ndarray:
    """A finite, real 1-D float64 NumPy copy of ``x`` (complex is refused, never cast)."""
    arr = array(x, func=func, name=name, ndim=1, allow_empty=allow_empty)
    if _array.is_complex(arr):
        _fail(func, f"'{name}' must be real; got dtype {arr.dtype}", InputTypeError)
    return np.asarray(_array.to_numpy(arr), dtype=np.float64)


class RankwiseWarning(UserWarning):
    """Base class of every warning rankwise emits on purpose."""


class ToleranceWarning(RankwiseWarning):
    """A tolerance-driven method could not meet its tolerance; the result still says what it achieved.

    The result is returned (it is the best the method found), its report carries ``tol`` and
    ``met_tol=False``, and the message gives the achieved relative error and what to try.
    """


def warn_tolerance(func: str, tol: float, achieved: float, detail: str = "") -> None:
    """Emit the :class:`ToleranceWarning` for a missed relative Frobenius tolerance (never silent)."""
    import warnings

    more = f" ({detail})" if detail else ""
    warnings.warn(f"{func}: 'tol' = {tol:g} was not met: the relative Frobenius error achieved is "
                  f"{achieved:.3g}{more}", ToleranceWarning, stacklevel=3)


def supported_dtype(dtype: Any, *, func: str, name: str = "A") -> None:
    """Refuse extended precision (``longdouble``, ``clongdouble``) with the list of supported dtypes."""
    if _array.is_extended(dtype):
        _fail(func, f"'{name}' must have a dtype rankwise computes in: {', '.join(_array.SUPPORTED_DTYPES)} "
                    f"(bool and integers are computed in float64; float16, bfloat16 and float8 in float32); got "
                    f"{np.dtype(dtype).name} (extended precision has no LAPACK routines and computing it in float64 "
                    f"would silently drop digits: convert with A.astype(np.float64) to accept that)", InputTypeError)
