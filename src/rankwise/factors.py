"""Result types: SVD-like factors and the error report every approximation returns.

Factors are NamedTuples that unpack like NumPy's (``U, S, Vh = rankwise.svd(A, 5)``);
reports are frozen, slotted dataclasses whose invariants are checked when built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from ._array import Array
from ._numerics import energy_from_tol, scaled_norm

__all__ = ["ApproxReport", "SVDResult", "optimal_errors"]


class SVDResult(NamedTuple):
    """Truncated SVD factors ``A ≈ U @ diag(S) @ Vh`` (always ``Vh``, never ``V``).

    ``U`` has shape (m, k) with orthonormal columns, ``S`` shape (k,) non-negative and
    descending, ``Vh`` shape (k, n) with orthonormal rows; all of the input's library,
    device and computing dtype (``S`` real).
    """

    U: Array
    S: Array
    Vh: Array


def optimal_errors(singular_values: Any, rank: int) -> tuple[float, float]:
    """Eckart–Young–Mirsky optimum at ``rank``: (‖A − A_k‖_F, ‖A − A_k‖_2).

    .. math:: \\|A - A_k\\|_F = \\Big(\\sum_{i>k} \\sigma_i^2\\Big)^{1/2},\\qquad \\|A - A_k\\|_2 = \\sigma_{k+1}

    ``singular_values`` must be the complete spectrum (length min(m, n)). The norm is taken without
    overflow or underflow (:func:`rankwise._numerics.scaled_norm`), so 1e200 or 1e-200 spectra are fine.

    Examples
    --------
    >>> optimal_errors([4.0, 3.0, 0.0], 1)
    (3.0, 3.0)
    >>> optimal_errors([4.0, 3.0, 0.0], 2)
    (0.0, 0.0)
    """
    s = np.sort(np.abs(np.asarray(singular_values, dtype=np.float64)))[::-1]
    tail = s[rank:]
    return scaled_norm(tail), float(tail[0]) if tail.size else 0.0


@dataclass(frozen=True, slots=True)
class ApproxReport:
    """What an approximation cost and how good it is.

    Attributes
    ----------
    method : str
        The method that ran (what ``"auto"`` resolved to, e.g. ``"svd"``).
    shape : (int, int)
        Shape of the approximated matrix.
    rank : int
        Rank of the approximation.
    fro_error : float
        ‖A − Â‖_F (exact when ``exact`` is true, an estimate otherwise).
    norm_fro : float
        ‖A‖_F.
    spectral_error : float or None
        ‖A − Â‖_2 when known.
    norm_2 : float or None
        ‖A‖_2 = σ₁ when known.
    optimal_fro_error, optimal_spectral_error : float or None
        The Eckart–Young optimum at the same rank, when the spectrum is known.
    storage_before, storage_after : int
        Numbers stored by the dense matrix and by the factors.
    seconds : float
        Wall time of the computation.
    exact : bool
        Whether the errors are exact (from the full spectrum or the residual) rather than estimates.
    options : mapping
        Choices the method made (e.g. ``{"power_iters": 2}``), read-only.
    tol : float or None
        The relative Frobenius tolerance asked for (None for a fixed rank).
    met_tol : bool or None
        Whether ``fro_error <= tol · norm_fro`` holds (None without ``tol``). A method that cannot meet
        its tolerance returns its best result with ``met_tol=False`` and a
        :class:`~rankwise._checks.ToleranceWarning`; it never misses silently.
    """

    method: str
    shape: tuple[int, int]
    rank: int
    fro_error: float
    norm_fro: float
    spectral_error: float | None = None
    norm_2: float | None = None
    optimal_fro_error: float | None = None
    optimal_spectral_error: float | None = None
    storage_before: int = 0
    storage_after: int = 0
    seconds: float = 0.0
    exact: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)
    tol: float | None = None
    met_tol: bool | None = None

    def __post_init__(self) -> None:
        if (self.tol is None) != (self.met_tol is None):
            raise ValueError(f"ApproxReport: 'met_tol' must be given exactly when 'tol' is; got tol={self.tol!r}, "
                             f"met_tol={self.met_tol!r}")
        if self.rank < 0:
            raise ValueError(f"ApproxReport: 'rank' must be >= 0; got {self.rank}")
        for name in ("fro_error", "norm_fro", "spectral_error", "norm_2", "optimal_fro_error",
                     "optimal_spectral_error", "seconds"):
            v = getattr(self, name)
            if v is not None and not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"ApproxReport: {name!r} must be a finite number >= 0; got {v!r}")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def rel_fro_error(self) -> float:
        """‖A − Â‖_F / ‖A‖_F (0 for the zero matrix)."""
        return self.fro_error / self.norm_fro if self.norm_fro > 0 else 0.0

    @property
    def rel_spectral_error(self) -> float | None:
        if self.spectral_error is None or self.norm_2 is None:
            return None
        return self.spectral_error / self.norm_2 if self.norm_2 > 0 else 0.0

    @property
    def energy(self) -> float:
        """Fraction of ‖A‖_F² kept, 1 − ‖A − Â‖_F²/‖A‖_F² (Σ_{i≤k} σ_i²/Σ σ_i² for the SVD)."""
        return max(0.0, energy_from_tol(self.rel_fro_error))

    @property
    def rel_optimal_fro_error(self) -> float | None:
        if self.optimal_fro_error is None:
            return None
        return self.optimal_fro_error / self.norm_fro if self.norm_fro > 0 else 0.0

    @property
    def fro_ratio(self) -> float | None:
        """Frobenius error divided by the Eckart–Young optimum (1 is optimal)."""
        if self.optimal_fro_error is None:
            return None
        if self.optimal_fro_error == 0:
            return 1.0 if self.fro_error <= self.norm_fro * 1e-6 else math.inf
        return self.fro_error / self.optimal_fro_error

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the stored and the derived fields."""
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["shape"] = list(self.shape)
        out["options"] = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
                          for k, v in self.options.items()}
        for name in ("rel_fro_error", "rel_spectral_error", "energy", "rel_optimal_fro_error", "fro_ratio"):
            out[name] = getattr(self, name)
        return out
