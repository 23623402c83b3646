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


# --------------------------------------------------------------------------- safe scaling

SAFE_RANGE_DIVISOR = 5
"""A matrix is safe when its Frobenius norm lies in [2^-E, 2^E], E = max exponent / 5 of the dtype the
products run in (the work dtype float64 squares σ₁² twice: σ₁⁴ stays finite), and at most 2.5 times less
for the input's own products (float32 forms AᴴA X once: σ₁² must stay finite)."""


def max_exponent(dtype: Any) -> int:
    """The exponent of the largest finite number of a floating dtype (1024 for float64, 128 for float32)."""
    return int(np.finfo(np.dtype(dtype_name(dtype))).maxexp)


def safe_exponent(dtype: Any) -> int:
    """E such that a matrix of ``dtype`` with ‖A‖_F in [2^-E, 2^E] runs every rankwise algorithm without
    overflow or underflow: 204 for float64 (about 1e±61), 51 for float32 (about 2e±15).

    >>> safe_exponent("float64"), safe_exponent("float32"), safe_exponent("complex64")
    (204, 51, 51)
    """
    return min(2 * max_exponent(dtype) // SAFE_RANGE_DIVISOR, max_exponent("float64") // SAFE_RANGE_DIVISOR)


def in_safe_range(norm_sq: float, dtype: Any) -> bool:
    """Whether ‖A‖_F² = ``norm_sq`` (accumulated in float64) needs no scaling (see :func:`safe_exponent`).

    The zero matrix is not in range: a zero sum of squares may hide entries that underflowed when squared.

    >>> in_safe_range(1.0, "float64"), in_safe_range(1e200, "float64"), in_safe_range(1e40, "float32")
    (True, False, False)
    """
    e = 2 * safe_exponent(dtype)
    return math.isfinite(norm_sq) and math.ldexp(1.0, -e) <= norm_sq <= math.ldexp(1.0, e)


def scale_exponent(amax: float) -> int:
    """The e with ``amax · 2^e`` in [0.5, 1): the power of two LAPACK-style safe scaling multiplies by
    (exact: only the exponents of the entries change). 0 for ``amax`` = 0.

    >>> scale_exponent(1e300), scale_exponent(1e-310), scale_exponent(0.75), scale_exponent(0.0)
    (-997, 1029, 0, 0)
    """
    if amax == 0 or not math.isfinite(amax):
        return 0
    return -math.frexp(amax)[1]


def pow2_factors(e: int, dtype: Any) -> list[float]:
    """Powers of two, each a normal number of ``dtype``, whose product is 2^e: multiplying by them in turn
    scales an array by 2^e exactly (2^1030 is not a float64; 2^515 · 2^515 is).

    >>> [math.frexp(f)[1] - 1 for f in pow2_factors(1030, "float64")], pow2_factors(0, "float32")
    ([515, 515], [])
    """
    step = max_exponent(dtype) - 4
    parts = -(-abs(e) // step)
    if parts == 0:
        return []
    base, extra = divmod(abs(e), parts)
    sign = 1 if e > 0 else -1
    return [math.ldexp(1.0, sign * (base + (1 if i < extra else 0))) for i in range(parts)]


def ldexp(x: float, e: int) -> float:
    """x · 2^e as a Python float, ±inf where it overflows (``math.ldexp`` raises instead)."""
    try:
        return math.ldexp(x, e)
    except OverflowError:
        return math.copysign(math.inf, x)


def scaled_norm(values: Any) -> float:
    """‖v‖₂ of real or complex ``values`` without overflow or underflow (LAPACK's xNRM2 idea: divide by
    the largest magnitude, sum the squares pairwise, multiply back).

    >>> f"{scaled_norm([3e200, 4e200]):.6g}", f"{scaled_norm([3e-200, 4e-200]):.6g}", scaled_norm([])
    ('5e+200', '5e-200', 0.0)
    """
    v = np.abs(np.asarray(values)).astype(np.float64, copy=False).ravel()
    big = float(v.max()) if v.size else 0.0
    if big == 0 or not math.isfinite(big):
        return big
    if math.ldexp(1.0, -480) <= big <= math.ldexp(1.0, 480):  # the squares cannot over- or underflow
        return math.sqrt(float(np.sum(v**2)))
    return big * math.sqrt(float(np.sum((v / big) ** 2)))


def meets_tol(err: float, tol: float, norm: float) -> bool:
    """``err <= tol · norm`` up to the rounding of the two norms (8 eps of float64, relative): whether a
    relative Frobenius tolerance was met, as reports record it (``met_tol``).

    >>> meets_tol(0.1, 0.1, 1.0), meets_tol(0.1000001, 0.1, 1.0)
    (True, False)
    """
    return err <= tol * norm * (1 + 8 * eps("float64"))
