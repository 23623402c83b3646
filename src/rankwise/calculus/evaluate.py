"""Evaluating expressions with NumPy.

Values are checked against the symbols' kinds, sizes are inferred once (so a mismatch is
reported by the sub-expression that has it, before any arithmetic), then everything is
computed on 2-D float64 arrays: vectors are n×1 columns, scalars 1×1. Results come back as
a float (scalar), a 1-D array (vector) or a 2-D array (matrix).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import reduce
from typing import Any

import numpy as np

from .expr import (
    COLUMN,
    KIND_NAMES,
    MATRIX,
    ROW,
    SCALAR,
    Const,
    Det,
    Exp,
    Expr,
    ExpressionError,
    Hadamard,
    Identity,
    Inner,
    Inverse,
    Log,
    LogDet,
    MatMul,
    Norm,
    Power,
    Quotient,
    Scale,
    Sum,
    Symbol,
    Trace,
    Transpose,
    Zero,
    symbols,
)

__all__ = ["evaluate"]

Shape = tuple[int, int]


def _value(sym: Symbol, v: Any) -> np.ndarray:
    """The value of ``sym`` as a 2-D float64 array."""
    want = {SCALAR: 0, COLUMN: 1, MATRIX: 2}[sym.kind]
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ExpressionError(f"evaluate: '{sym.name}' must be a real {KIND_NAMES[sym.kind]}; got "
                              f"{type(v).__name__} ({exc})") from None
    if arr.ndim != want or arr.size == 0:
        raise ExpressionError(f"evaluate: '{sym.name}' must be a non-empty {want}-D array (a "
                              f"{KIND_NAMES[sym.kind]}); got shape {arr.shape}")
    return arr.reshape(1, 1) if want == 0 else arr.reshape(-1, 1) if want == 1 else arr


def _shape_error(e: Expr, msg: str) -> ExpressionError:
    return ExpressionError(f"evaluate: {e.text}: {msg}")


def _fmt(s: Shape) -> str:
    return f"{s[0]}×{s[1]}"


def shape_of(e: Expr, shapes: Mapping[str, Shape]) -> Shape:
    """The (rows, cols) of ``e`` given the symbols' shapes; raises on sizes that do not match."""
    if isinstance(e, Symbol):
        return shapes[e.name]
    if isinstance(e, (Const, Trace, Det, LogDet, Norm, Inner, Power)):
        _check_args(e, shapes)
        return (1, 1)
    if isinstance(e, Identity):
        n = shape_of(e.like, shapes)[0]
        return (n, n)
    if isinstance(e, Zero):
        return shape_of(e.like, shapes)
    if isinstance(e, Transpose):
        r, c = shape_of(e.arg, shapes)
        return (c, r)
    if isinstance(e, MatMul):
        return reduce(lambda a, b: _matmul_shape(e, a, b), (shape_of(f, shapes) for f in e.factors))
    if isinstance(e, Scale):
        shape_of(e.coef, shapes)
        return shape_of(e.body, shapes)
    if isinstance(e, Quotient) and e.a.kind == SCALAR:
        return shape_of(e.b, shapes)
    if isinstance(e, Inverse):
        return _square_shape(e, shape_of(e.arg, shapes))
    if isinstance(e, (Exp, Log)):
        return shape_of(e.arg, shapes)
    return _same_shapes(e, [shape_of(c, shapes) for c in e.children()])  # Sum, Hadamard, Quotient


def _matmul_shape(e: Expr, a: Shape, b: Shape) -> Shape:
    if a[1] != b[0]:
        raise _shape_error(e, f"inner sizes do not match ({_fmt(a)} times {_fmt(b)})")
    return (a[0], b[1])


def _square_shape(e: Expr, s: Shape) -> Shape:
    if s[0] != s[1]:
        raise _shape_error(e, f"needs a square matrix; got {_fmt(s)}")
    return s


def _same_shapes(e: Expr, found: list[Shape]) -> Shape:
    if len(set(found)) > 1:
        raise _shape_error(e, f"operands must have one shape; got {', '.join(_fmt(s) for s in found)}")
    return found[0]


def _check_args(e: Expr, shapes: Mapping[str, Shape]) -> None:
    found = [shape_of(c, shapes) for c in e.children()]
    if isinstance(e, (Trace, Det, LogDet)):
        _square_shape(e, found[0])
    elif isinstance(e, Inner):
        _same_shapes(e, found)


def _eval(e: Expr, env: Mapping[str, np.ndarray], shapes: Mapping[str, Shape]) -> np.ndarray:
    if isinstance(e, Symbol):
        return env[e.name]
    if isinstance(e, Const):
        return np.full((1, 1), e.value)
    if isinstance(e, Identity):
        return np.eye(shape_of(e, shapes)[0])
    if isinstance(e, Zero):
        return np.zeros(shape_of(e, shapes))
    args = [_eval(c, env, shapes) for c in e.children()]
    return _OPS[type(e)](e, *args)


def _logdet(_: Expr, a: np.ndarray) -> np.ndarray:
    sign, logabs = np.linalg.slogdet(a)
    return np.full((1, 1), logabs if sign > 0 else math.nan)


def _inverse(e: Expr, a: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        raise ExpressionError(f"evaluate: {e.text}: the matrix is singular") from None


_OPS: dict[type, Any] = {
    Sum: lambda e, *ts: reduce(np.add, ts),
    Scale: lambda e, c, b: c * b,
    MatMul: lambda e, *fs: reduce(np.matmul, fs),
    Transpose: lambda e, a: a.T,
    Inverse: _inverse,
    Trace: lambda e, a: np.full((1, 1), np.trace(a)),
    Det: lambda e, a: np.full((1, 1), np.linalg.det(a)),
    LogDet: _logdet,
    Norm: lambda e, a: np.full((1, 1), np.linalg.norm(a)),
    Inner: lambda e, a, b: np.full((1, 1), np.sum(a * b)),
    Power: lambda e, b: np.power(b, e.exponent),
    Exp: lambda e, a: np.exp(a),
    Log: lambda e, a: np.log(a),
    Hadamard: lambda e, a, b: a * b,
    Quotient: lambda e, a, b: a / b,
}


def evaluate(e: Expr, values: Mapping[str, Any]) -> Any:
    """The value of ``e`` for the given symbol values (extra names are ignored).

    Parameters
    ----------
    e : Expr
    values : mapping of name to value
        A number for a scalar symbol, a 1-D array for a vector, a 2-D array for a matrix.

    Returns
    -------
    float, array of shape (n,) or array of shape (m, n)
        By the kind of ``e``; NaN where a function leaves its domain (log of a negative
        number, logdet of a matrix whose determinant is not positive).

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise.calculus import parse
    >>> evaluate(parse("x'*A*x"), {"x": np.ones(2), "A": np.eye(2)})
    2.0
    """
    syms = symbols(e)
    missing = sorted(set(syms) - set(values))
    if missing:
        raise ExpressionError(f"evaluate: no value for {', '.join(map(repr, missing))} (the expression {e.text} "
                              f"uses {', '.join(syms)})")
    env = {name: _value(sym, values[name]) for name, sym in syms.items()}
    shapes = {name: (int(v.shape[0]), int(v.shape[1])) for name, v in env.items()}
    shape_of(e, shapes)
    with np.errstate(all="ignore"):  # out-of-domain values become NaN / Inf, as documented
        out = _eval(e, env, shapes)
    if e.kind == SCALAR:
        return float(out[0, 0])
    return out.ravel() if e.kind in (COLUMN, ROW) else out
