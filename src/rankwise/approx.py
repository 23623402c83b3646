"""One entry point over every low-rank method, driven by a registry.

:func:`approximate` is what ``rankwise approx --method NAME`` calls. A method is a function
``fn(A, *, rank, tol, energy, rng, **options) -> Approximation``. :data:`METHODS` lists every
method rankwise ships, built in one place (:func:`_builtin_methods`) from the functions where
they live, so it is complete as soon as this module is imported; :func:`register` adds a
user's own method to it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import _checks
from ._array import Array
from ._numerics import meets_tol, tol_from_energy
from .factors import ApproxReport, optimal_errors
from .linalg.rsvd import rsvd as _rsvd
from .linalg.rsvd import rsvd_plan
from .linalg.skeleton import cur, id_plan, interp_decomp
from .linalg.svd import _svd as _svd_body
from .linalg.svd import _target as _svd_target
from .structured.monarch import _fit as _monarch_fit

__all__ = ["METHODS", "Approximation", "Method", "approximate", "describe", "register", "with_reference"]


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


def register(name: str, summary: str, *, uses_rng: bool = False,
             accepts_sparse: bool = False) -> Callable[[MethodFn], MethodFn]:
    """Decorator adding a user's method ``fn`` to :data:`METHODS` under ``name``.

    ``uses_rng`` says the method is randomized; ``accepts_sparse`` that it takes
    ``scipy.sparse`` input as it is (the CLI densifies for the others). rankwise's own
    methods are listed in :func:`_builtin_methods`, not registered.
    """

    def deco(fn: MethodFn) -> MethodFn:
        if name in METHODS:
            raise ValueError(f"register: method {name!r} is already registered")
        METHODS[name] = Method(name, fn, summary, uses_rng, accepts_sparse)
        return fn

    return deco


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


def _randomized_svd(A: Any, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
                    **options: Any) -> Approximation:
    res, rep = _rsvd(A, rank, tol=_tol_from("approximate", rank, tol, energy), rng=rng, report=True, **options)
    return Approximation(res, rep)


AUTO_EXACT_MAX_ENTRIES = 1_000_000


def _auto_is_exact(A: Any) -> bool:
    """``method="auto"`` runs the exact SVD: ``A`` is dense with at most AUTO_EXACT_MAX_ENTRIES entries."""
    m, n = getattr(A, "shape", (0, 0))[-2:] if hasattr(A, "shape") else (0, 0)
    dense = not (hasattr(A, "tocsr") or hasattr(A, "matmat") or hasattr(A, "blocks"))
    return dense and m * n <= AUTO_EXACT_MAX_ENTRIES


def _auto(A: Any, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
          **options: Any) -> Approximation:
    if _auto_is_exact(A):
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


def describe(A: Any, *, method: str = "svd", rank: int | None = None, tol: float | None = None,
             energy: float | None = None, **options: Any) -> str:
    """What :func:`approximate` will run on ``A`` with these arguments, as text, before it runs.

    For ``"rsvd"`` (and ``"auto"`` where it chooses it) the printed :class:`~rankwise.linalg.RSVDPlan`,
    for ``"id"`` the :class:`~rankwise.linalg.IDPlan`; for the other methods their summary and target.
    The arguments are validated as :func:`approximate` validates them.

    Examples
    --------
    >>> print(describe(np.ones((2000, 1000)), method="auto", rank=10).splitlines()[3])
      scheme       block-krylov
    """
    func = "approximate"
    name = _checks.choice(method, METHODS, func=func, name="method")
    t = _tol_from(func, rank, tol, energy)
    if name == "auto":
        name = "svd" if _auto_is_exact(A) else "rsvd"
        options = {k: v for k, v in options.items() if k != "precision"} if name == "svd" else options
    if name == "rsvd":
        return str(rsvd_plan(A, rank, tol=t, **options))
    if name == "id":
        opts = {("method" if k == "id_method" else k): v for k, v in options.items()}
        return str(id_plan(A, rank, tol=t, **opts))
    target = f"rank {rank}" if rank is not None else f"tol {t:g} (relative Frobenius)" if t is not None else "default"
    extra = f", options {options}" if options else ""
    return f"{name} plan\n  method   {METHODS[name].summary}\n  target   {target}{extra}"


def with_reference(approx: Approximation, spectrum: Any) -> Approximation:
    """``approx`` with the complete spectrum attached and the report's optimum filled in."""
    s = np.sort(np.abs(np.asarray(spectrum, dtype=np.float64)))[::-1]
    rep = approx.report
    if rep.optimal_fro_error is None:
        fro, spec = optimal_errors(s, rep.rank)
        rep = dataclasses.replace(rep, optimal_fro_error=fro, optimal_spectral_error=spec)
    return Approximation(approx.factors, rep, s)


def _tol_from(func: str, rank: Any, tol: Any, energy: Any) -> Any:
    """``tol`` itself, or the relative Frobenius error sqrt(1 − e) that keeping energy e means."""
    if _checks.at_most_one(func, rank=rank, tol=tol, energy=energy) == "energy":
        e = _checks.real(energy, func=func, name="energy", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        return tol_from_energy(e)
    return tol


# ------------------------------------------------------------------------- skeleton decompositions


def _interp(A: Any, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
            **options: Any) -> Approximation:
    """``approximate(A, method="id", axis=..., id_method=..., oversample=..., power_iters=...)``.

    The factors are the :class:`~rankwise.IDResult` (saved as ``idx`` and ``proj``);
    ``storage_after`` counts the skeleton (k columns of A, or k rows) and the coefficients.
    """
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
                       seconds=time.perf_counter() - t0, exact=True, tol=res.tol, met_tol=res.met_tol,
                       options={res.axis: k, "axis": res.axis, "id_method": res.method, "passes": res.passes,
                                "max_abs_Z": res.max_coef})
    return Approximation(res, rep)


def _cur(A: Any, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
         **options: Any) -> Approximation:
    """``approximate(A, method="cur", select=..., core=...)``; the factors are the :class:`~rankwise.CURResult`."""
    func = "approximate"
    unknown = sorted(set(options) - {"select", "core"})
    if unknown:
        _checks._fail(func, f"method 'cur' takes the options select, core; got {unknown}")
    res = cur(A, rank, tol=_tol_from(func, rank, tol, energy), rng=rng, **options)
    return Approximation(res, res.report)


# ------------------------------------------------------------------------------ structured


def _monarch_method(A: Array, *, rank: Any = None, tol: Any = None, energy: Any = None, rng: Any = None,
                    **options: Any) -> Approximation:
    """``approximate(A, method="monarch", blocks=...)``: see :func:`rankwise.structured.monarch_project`.

    ``rank`` is the block rank r; ``tol`` (relative Frobenius error) and ``energy`` pick the
    smallest r that meets them; no target gives r = 1. ``blocks`` is the only option.
    The report's ``rank`` is the rank of the truncated SVD that stores no more numbers than
    the Monarch factors (⌊params / (m + n + 1)⌋, at most min(m, n)), so its ``optimal_*`` errors, once the
    spectrum is known, are the Eckart–Young errors at equal storage; ``storage_after`` is the
    Monarch parameter count and ``options`` holds the blocks and the block rank.
    """
    del rng
    func = "approximate"
    unknown = sorted(set(options) - {"blocks"})
    if unknown:
        _checks._fail(func, f"method 'monarch' takes only the option 'blocks'; got {unknown}")
    t0 = time.perf_counter()
    fit = _monarch_fit(A, options.get("blocks"), rank=rank, tol=tol, energy=energy, func=func)
    M, (k, q) = fit.monarch, fit.blocks
    m, n = M.shape
    report = ApproxReport(method="monarch", shape=(m, n), rank=min(M.n_params // (m + n + 1), m, n),
                          fro_error=fit.fro_error, norm_fro=fit.norm_fro,
                          storage_before=m * n, storage_after=M.n_params, seconds=time.perf_counter() - t0,
                          exact=True, options={"blocks_R": k, "blocks_L": q, "block_rank": fit.block_rank},
                          tol=tol, met_tol=None if tol is None else meets_tol(fit.fro_error, tol, fit.norm_fro))
    return Approximation(M, report)


# ------------------------------------------------------------------------------ the registry


def _builtin_methods() -> dict[str, Method]:
    """Every method rankwise ships, in the order ``rankwise approx --help`` lists them."""
    methods = (
        Method("svd", _exact_svd, "exact truncated SVD (LAPACK); exact errors"),
        Method("rsvd", _randomized_svd, "randomized SVD: block Krylov, at a rank or grown to a tolerance",
               uses_rng=True, accepts_sparse=True),
        Method("auto", _auto, f"exact SVD up to {AUTO_EXACT_MAX_ENTRIES:,} entries, randomized above",
               uses_rng=True, accepts_sparse=True),
        Method("id", _interp, "interpolative decomposition: k actual columns (option axis='rows': rows), "
                              "pivoted QR or a sketch", uses_rng=True, accepts_sparse=True),
        Method("cur", _cur, "CUR: k actual columns and rows, U = A[I, J]⁺ (option core='optimal': C⁺AR⁺)",
               uses_rng=True, accepts_sparse=True),
        Method("monarch", _monarch_method, "Monarch projection; --rank is the block rank, the report's rank "
                                           "the SVD rank of equal storage"),
    )
    return {m.name: m for m in methods}


METHODS: dict[str, Method] = _builtin_methods()
"""Method name → :class:`Method`: rankwise's own (:func:`_builtin_methods`), then any :func:`register` added."""
