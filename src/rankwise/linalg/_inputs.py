"""From a user's input to its :class:`~rankwise.linalg._operator.Operator`: the one place that tells
input kinds apart."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import _checks
from ._dask import DaskOperator, is_dask
from ._operator import DenseOperator, NpyOperator, Operator, ProductOperator, SparseOperator

__all__ = ["KINDS", "as_operator", "fro_sq_checked"]

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


def fro_sq_checked(op: Operator, *, func: str, name: str = "A") -> float | None:
    """‖A‖_F² (None for product-only input), raising the NaN/Inf error when it is not finite.

    For dense input this one pass doubles as the finiteness check: a finite sum of squares
    proves every entry finite, and only otherwise are NaN and Inf counted.
    """
    total = op.fro_sq()
    if total is None or math.isfinite(total):
        return total
    op.raise_nonfinite(func=func, name=name)
    _checks._fail(func, f"'{name}' must contain only finite values with a finite sum of squares; "
                        f"got ‖{name}‖_F² = {total}")
