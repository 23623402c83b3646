"""From a user's input to its :class:`~rankwise.linalg._operator.Operator`: the one place that tells
input kinds apart."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import _array, _checks, _numerics
from ._dask import DaskOperator, is_dask
from ._operator import DenseOperator, NpyOperator, Operator, ProductOperator, SparseOperator

__all__ = ["KINDS", "Prepared", "as_operator", "prepare", "rescale_result", "rescaled", "safe_dense"]

KINDS: tuple[tuple[Callable[[Any], bool], type[Operator]], ...] = (
    (NpyOperator.accepts, NpyOperator),
    (SparseOperator.accepts, SparseOperator),
    (ProductOperator.accepts, ProductOperator),
    (is_dask, DaskOperator),
)
"""(test, class) for every input kind but dense, the fallback, tried in order. To add an input
kind, write its :class:`~rankwise.linalg._operator.Operator` subclass and list it here."""


def as_operator(A: Any, *, func: str, name: str = "A") -> Operator:
    """Validate ``A`` and wrap it in its kind's :class:`Operator` (dense input is not scanned for NaN/Inf)."""
    if isinstance(A, Operator):
        op = A
    else:
        for test, kind in KINDS:
            if test(A):
                op = kind.from_input(A, func=func, name=name)
                break
        else:
            op = DenseOperator(_checks.matrix(A, func=func, name=name, check_finite=False))
    m, n = op.shape
    if m == 0 or n == 0:
        _checks._fail(func, f"'{name}' must be non-empty; got shape {(m, n)}")
    return op


class Prepared(NamedTuple):
    """An operator ready for the algorithms: ``op`` is 2^exponent · A, scaled (exactly, by a power of two)
    so that its norm is in the safe range of :func:`rankwise._numerics.safe_exponent`; ``total`` is
    ‖op‖_F² (None where it was not asked for, or product-only input cannot give it).

    Algorithms run on ``op`` and unscale what carries A's units: singular values and errors by
    2^-exponent, a pseudo-inverse by 2^exponent; bases, interpolation coefficients and indices need nothing.
    """

    op: Operator
    exponent: int
    total: float | None

    def unscale(self, x: float) -> float:
        """A norm or error of ``op`` as one of A (±inf where A's is beyond float64)."""
        return _numerics.ldexp(x, -self.exponent)


def rescaled(op: Operator, *, func: str, name: str = "A") -> Prepared:
    """``op`` scaled so that max|a_ij| is in [0.5, 1), as LAPACK's safe scaling does (a copy of the data).

    Raises the NaN/Inf error where the entries are not finite, and a clear error for the kinds that
    are not rescaled (LinearOperator, .npy file, Dask array).
    """
    op.raise_nonfinite(func=func, name=name)
    amax = op.max_abs() if op.rescalable else None
    if amax is None:
        _checks._fail(func, f"'{name}' must have entries whose squares and products stay within "
                            f"{_numerics.dtype_name(op.dtype)}'s range; {op.label} input is not rescaled "
                            f"automatically: multiply it by a power of two (e.g. 2.0**-500) and scale the "
                            f"result back")
    e = _numerics.scale_exponent(amax)
    scaled = op.scaled(e) if e else op
    assert scaled is not None
    return Prepared(scaled, e, None)


def prepare(op: Operator, *, func: str, name: str = "A", norm: bool = True) -> Prepared:
    """Validate ``op``'s values once and scale it into the safe range: the door every algorithm goes through.

    With ``norm`` (the algorithm needs ‖A‖_F², or the input must be scanned anyway), one pass computes
    ‖A‖_F²; a finite sum proves every entry finite, and a sum outside
    :func:`~rankwise._numerics.in_safe_range` (or zero, which may hide underflow) takes the slow
    path: NaN/Inf counted, max|a_ij| read, a scaled copy made (:func:`rescaled`). Without ``norm``
    nothing is read here; the fixed-rank rSVD checks its first sketch instead (``rsvd._check_sketch``).
    Kinds that are not rescaled pass with any finite, non-zero ‖A‖_F².
    """
    if not norm:
        return Prepared(op, 0, None)
    total = op.fro_sq()
    if total is None or _numerics.in_safe_range(total, op.dtype):
        return Prepared(op, 0, total)
    if not op.rescalable:
        if math.isfinite(total):
            return Prepared(op, 0, total)
        op.raise_nonfinite(func=func, name=name)
        _checks._fail(func, f"'{name}' must contain only finite values with a finite sum of squares; "
                            f"got ‖{name}‖_F² = {total} ({op.label} input is not rescaled automatically: "
                            f"multiply it by a power of two, e.g. 2.0**-500, and scale the result back)")
    out = rescaled(op, func=func, name=name)
    return out._replace(total=total if out.exponent == 0 else out.op.fro_sq())


def safe_dense(A: Any, *, func: str, name: str = "A") -> tuple[Any, int]:
    """(2^e · A, e) for a validated dense array: A itself (e = 0) when ‖A‖_F is in the safe range."""
    prep = prepare(DenseOperator(A), func=func, name=name)
    assert isinstance(prep.op, DenseOperator)
    return prep.op.A, prep.exponent


def rescale_result(X: Any, e: int, *, func: str, what: str, dtype_hint: str = "") -> Any:
    """X · 2^e for a result computed on a scaled input, raising where the true value leaves the dtype's range
    (the input was fine, the answer is not representable: say so rather than return ±inf)."""
    if e == 0:
        return X
    with np.errstate(over="ignore", under="ignore"):  # overflow is reported below, underflow is the answer
        out = _array.scale_pow2(X, e)
    xp = _array.namespace(out)
    if not bool(xp.all(xp.isfinite(out))):
        big = float(np.finfo(np.dtype(_numerics.dtype_name(out.dtype))).max)
        _checks._fail(func, f"{what} exceed {_numerics.dtype_name(out.dtype)}'s range (about {big:.3g}) although "
                            f"'A' is finite{dtype_hint}")
    return out
