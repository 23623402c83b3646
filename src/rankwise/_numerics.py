"""The numerical policy: machine epsilon per dtype, tolerance floors, energy ↔ tolerance.

Every threshold that depends on the working precision is written here once, so that
algorithms name the rule (``tol_floor(dtype)``) rather than re-deriving it
(``10 * sqrt(eps)``) inline.

* ``eps(dtype)`` is the spacing of the floating-point numbers at 1 for a NumPy, torch or
  array-API dtype (complex dtypes take their real part's).
* A randomized method reads singular values from a Gram matrix or a sketch, which loses half
  the digits: the relative errors it can certify stop near ``sqrt(eps)``. Tolerances below
  ``tol_floor(dtype) = 10 · sqrt(eps)`` (1.5e-7 in float64, 3.5e-3 in float32) are refused
  by the randomized routes.
* Keeping a fraction ``e`` of the energy Σσ² is the same as a relative Frobenius error
  ``sqrt(1 − e)``: ``tol_from_energy`` and ``energy_from_tol`` are that identity.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SQRT_EPS_FACTOR = 10.0
"""The randomized routes' tolerance floor, in units of sqrt(eps)."""

INDICATOR_ROUNDING = 10.0
"""Rounding of a squared-error indicator ‖A‖² − Σσ̃², in units of eps (relative to ‖A‖²)."""

STEEP_SPECTRUM = 1e-6
"""A double-precision spectrum is steep when σ̃_{k+1} / σ̃_1 falls below this."""

MIXED_KEEP_RATIO = 1e-3
"""precision="mixed" keeps its float32 result only when σ̃_{k+1} ≥ this · σ̃_1."""


def dtype_name(dtype: Any) -> str:
    """The bare name of a NumPy, torch or array-API dtype (``"float64"``, ``"complex64"``).

    >>> dtype_name(np.float32), dtype_name(np.dtype("complex128"))
    ('float32', 'complex128')
    """
    try:
        return np.dtype(dtype).name  # NumPy dtypes and scalar types
    except TypeError:
        return str(dtype).split(".")[-1]  # torch.float64, array_api_strict.float64


def eps(dtype: Any) -> float:
    """Machine epsilon of a floating dtype (NumPy, torch or array-API), the real part's for complex.

    >>> eps("float32") == float(np.finfo(np.float32).eps)
    True
    """
    return float(np.finfo(np.dtype(dtype_name(dtype))).eps)


def tol_floor(dtype: Any) -> float:
    """The smallest relative tolerance a randomized route accepts: ``10 · sqrt(eps(dtype))``.

    >>> f"{tol_floor('float64'):.2g}", f"{tol_floor('float32'):.2g}"
    ('1.5e-07', '0.0035')
    """
    return SQRT_EPS_FACTOR * math.sqrt(eps(dtype))


def target_tol(tol: float, dtype: Any) -> float:
    """The tolerance a rank is chosen against: ``tol`` less an error indicator's rounding.

    An indicator ‖A‖² − Σσ̃² carries about ``10 · eps`` of rounding (relative to ‖A‖²), so
    the rank is chosen for sqrt(tol² − 10 eps), never below half of ``tol``.
    """
    return math.sqrt(max(tol * tol - INDICATOR_ROUNDING * eps(dtype), 0.25 * tol * tol))


def tol_from_energy(energy: float) -> float:
    """Relative Frobenius error of a truncation that keeps the fraction ``energy`` of Σσ².

    >>> tol_from_energy(0.99)  # doctest: +ELLIPSIS
    0.1000...
    """
    return math.sqrt(max(1.0 - energy, 0.0))


def energy_from_tol(tol: float) -> float:
    """The fraction of Σσ² kept by a truncation with relative Frobenius error ``tol``.

    >>> energy_from_tol(0.1)  # doctest: +ELLIPSIS
    0.99...
    """
    return 1.0 - tol * tol


def discarded_energy(*, tol: float | None = None, energy: float | None = None) -> float:
    """The fraction of Σσ² a truncation may discard: ``tol²`` for a relative Frobenius error ``tol``,
    ``1 − energy`` for a kept fraction ``energy`` (give exactly one).

    >>> discarded_energy(tol=0.1), discarded_energy(energy=0.75)  # doctest: +ELLIPSIS
    (0.0100..., 0.25)
    """
    if tol is not None and energy is None:
        return tol * tol
    if energy is not None and tol is None:
        return 1.0 - energy
    raise ValueError(f"discarded_energy: give exactly one of 'tol' and 'energy'; got tol={tol}, energy={energy}")


def tiny(dtype: Any) -> float:
    """The smallest positive normal number of a floating dtype (NumPy, torch or array-API).

    >>> tiny("float32") == float(np.finfo(np.float32).tiny)
    True
    """
    return float(np.finfo(np.dtype(dtype_name(dtype))).tiny)


def pinv_rtol(shape: tuple[int, ...], dtype: Any) -> float:
    """``max(m, n) · eps(dtype)``: the relative cutoff below which singular values count as zero.

    The default of ``numpy.linalg.pinv``/``matrix_rank`` and of the array API's ``pinv``: with
    rounding of about eps · σ₁ per entry, a singular value below max(m, n) · eps · σ₁ cannot be
    told from zero.

    >>> pinv_rtol((300, 20), "float64") == 300 * eps("float64")
    True
    """
    return max(shape[-2:]) * eps(dtype)
