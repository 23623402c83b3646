"""One entry point over every low-rank method, driven by a registry.

:func:`approximate` is what ``rankwise approx --method NAME`` calls. Each method is a
function ``fn(A, *, rank, tol, energy, rng, **options) -> Approximation`` registered
under a name with :func:`register`; later families (randomized SVD, ID, CUR, …) add
themselves to :data:`METHODS` instead of growing an if-chain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import _checks
from ._array import Array
from .factors import ApproxReport, optimal_errors
from .linalg.rsvd import rsvd as _rsvd
from .linalg.svd import _svd as _svd_body
from .linalg.svd import _target as _svd_target

__all__ = ["METHODS", "Approximation", "Method", "approximate", "register", "with_reference"]


class Approximation(NamedTuple):
    """The factors a method returned, their :class:`~rankwise.factors.ApproxReport` and,
    when the method computed it anyway, the complete singular-value spectrum (NumPy)."""

    factors: Any
    report: ApproxReport
    spectrum: np.ndarray | None = None


MethodFn = Callable[..., Approximation]


@dataclass(frozen=True, slots=True)
class Method:
    """A registered approximation method."""

    name: str
    fn: MethodFn
    summary: str
    uses_rng: bool = False
    accepts_sparse: bool = False


METHODS: dict[str, Method] = {}


def register(name: str, summary: str, *, uses_rng: bool = False,
             accepts_sparse: bool = False) -> Callable[[MethodFn], MethodFn]:
    """Decorator adding ``fn`` to :data:`METHODS` under ``name``.

    ``uses_rng`` says the method is randomized; ``accepts_sparse`` that it takes
    ``scipy.sparse`` input as it is (the CLI densifies for the others).
    """

    def deco(fn: MethodFn) -> MethodFn:
        if name in METHODS:
            raise ValueError(f"register: method {name!r} is already registered")
        METHODS[name] = Method(name, fn, summary, uses_rng, accepts_sparse)
        return fn

    return deco


@register("svd", "exact truncated SVD (LAPACK); exact errors")
def _exact_svd(A: Array, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
               **options: Any) -> Approximation:
    del rng
    if options:
        _checks._fail("approximate", f"method 'svd' takes no options; got {sorted(options)}")
    func = "approximate"
    A = _checks.matrix(A, func=func)
    k, t, e = _svd_target(func, A, rank, tol, energy)
    res, rep, s = _svd_body(A, k, t, e)
    return Approximation(res, rep, s)


@register("rsvd", "randomized SVD: block Krylov, at a rank or grown to a tolerance", uses_rng=True,
          accepts_sparse=True)
def _randomized_svd(A: Any, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
                    **options: Any) -> Approximation:
    func = "approximate"
    if _checks.at_most_one(func, rank=rank, tol=tol, energy=energy) == "energy":
        e = _checks.real(energy, func=func, name="energy", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        tol = (1.0 - e) ** 0.5  # energy kept e  <=>  relative Frobenius error sqrt(1 - e)
    res, rep = _rsvd(A, rank, tol=tol, rng=rng, report=True, **options)
    return Approximation(res, rep)


AUTO_EXACT_MAX_ENTRIES = 1_000_000


@register("auto", f"exact SVD up to {AUTO_EXACT_MAX_ENTRIES:,} entries, randomized above", uses_rng=True,
          accepts_sparse=True)
def _auto(A: Any, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
          **options: Any) -> Approximation:
    m, n = getattr(A, "shape", (0, 0))[-2:] if hasattr(A, "shape") else (0, 0)
    dense = not (hasattr(A, "tocsr") or hasattr(A, "matmat") or hasattr(A, "blocks"))
    small = dense and m * n <= AUTO_EXACT_MAX_ENTRIES
    if small:
        if "precision" in options:  # the exact SVD always runs in A's precision
            _checks.choice(options["precision"], ("full", "mixed"), func="approximate", name="precision")
            options = {k: v for k, v in options.items() if k != "precision"}
        return _exact_svd(A, rank=rank, tol=tol, energy=energy, rng=rng, **options)
    return _randomized_svd(A, rank=rank, tol=tol, energy=energy, rng=rng, **options)


def approximate(A: Array, *, method: str = "svd", rank: int | None = None, tol: float | None = None,
                energy: float | None = None, rng: Any = None, spectrum: Any = None,
                **options: Any) -> Approximation:
    """Approximate ``A`` with the registered ``method`` and report the error.

    Parameters
    ----------
    A : array of shape (m, n)
    method : str, default="svd"
        A key of :data:`METHODS`.
    rank, tol, energy :
        The target, as in :func:`rankwise.svd` (at most one).
    rng : None, int or Generator
        Passed to randomized methods.
    spectrum : array-like, optional
        The exact singular values of ``A`` (all min(m, n) of them), when known: the
        report then carries the Eckart–Young optimum at the chosen rank.
    **options :
        Method-specific keyword arguments.

    Returns
    -------
    Approximation
        ``(factors, report)``.
    """
    name = _checks.choice(method, METHODS, func="approximate", name="method")
    out = METHODS[name].fn(A, rank=rank, tol=tol, energy=energy, rng=rng, **options)
    return out if spectrum is None else with_reference(out, spectrum)


def with_reference(approx: Approximation, spectrum: Any) -> Approximation:
    """``approx`` with the complete spectrum attached and the report's optimum filled in."""
    s = np.sort(np.abs(np.asarray(spectrum, dtype=np.float64)))[::-1]
    rep = approx.report
    if rep.optimal_fro_error is None:
        fro, spec = optimal_errors(s, rep.rank)
        rep = dataclasses.replace(rep, optimal_fro_error=fro, optimal_spectral_error=spec)
    return Approximation(approx.factors, rep, s)


# --------------------------------------------------------------------- skeleton decompositions (issue 4)


def _tol_from(func: str, rank: Any, tol: Any, energy: Any) -> Any:
    """``tol`` itself, or the relative Frobenius error sqrt(1 − e) that keeping energy e means."""
    if _checks.at_most_one(func, rank=rank, tol=tol, energy=energy) == "energy":
        e = _checks.real(energy, func=func, name="energy", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        return (1.0 - e) ** 0.5
    return tol


@register("id", "interpolative decomposition: k actual columns (option axis='rows': rows), pivoted QR or a "
                "sketch", uses_rng=True, accepts_sparse=True)
def _interp(A: Any, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
            **options: Any) -> Approximation:
    """``approximate(A, method="id", axis=..., id_method=..., oversample=..., power_iters=...)``.

    The factors are the :class:`~rankwise.IDResult` (saved as ``idx`` and ``proj``);
    ``storage_after`` counts the skeleton (k columns of A, or k rows) and the coefficients.
    """
    import time

    from .linalg.skeleton import interp_decomp

    func = "approximate"
    unknown = sorted(set(options) - {"axis", "id_method", "oversample", "power_iters"})
    if unknown:
        _checks._fail(func, f"method 'id' takes the options axis, id_method, oversample, power_iters; got {unknown}")
    tol = _tol_from(func, rank, tol, energy)
    method = options.pop("id_method", "auto")
    t0 = time.perf_counter()
    res = interp_decomp(A, rank, tol=tol, method=method, rng=rng, **options)
    if res.fro_error is None or res.norm_fro is None:
        _checks._fail(func, "method 'id' reports ‖A − Â‖_F, which needs ‖A‖_F: a LinearOperator is not "
                            "supported here; call rankwise.interp_decomp directly")
    m, n = (int(d) for d in A.shape)
    k = res.rank
    other = n if res.axis == "columns" else m
    skeleton = k * (m if res.axis == "columns" else n)
    rep = ApproxReport(method="id", shape=(m, n), rank=k, fro_error=res.fro_error, norm_fro=res.norm_fro,
                       storage_before=m * n, storage_after=skeleton + k * (other - k),
                       seconds=time.perf_counter() - t0, exact=True,
                       options={res.axis: k, "axis": res.axis, "id_method": res.method, "passes": res.passes,
                                "max_abs_Z": res.max_coef})
    return Approximation(res, rep)


@register("cur", "CUR: k actual columns and rows, U = A[I, J]⁺ (option core='optimal': C⁺AR⁺)", uses_rng=True,
          accepts_sparse=True)
def _cur(A: Any, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
         **options: Any) -> Approximation:
    """``approximate(A, method="cur", select=..., core=...)``; the factors are the :class:`~rankwise.CURResult`."""
    from .linalg.skeleton import cur

    func = "approximate"
    unknown = sorted(set(options) - {"select", "core"})
    if unknown:
        _checks._fail(func, f"method 'cur' takes the options select, core; got {unknown}")
    res = cur(A, rank, tol=_tol_from(func, rank, tol, energy), rng=rng, **options)
    return Approximation(res, res.report)
