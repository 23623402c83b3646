"""matplotlib figures (headless: the Agg backend, no display needed)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_write

__all__ = ["convergence_figure", "save_figure", "spectrum_figure"]


LEGEND_WIDTH = 60  # characters of a legend entry (a longer one squeezes the axes to nothing)
MAX_POINTS = 20_000  # points drawn per curve; longer curves are thinned


def _thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``limit`` points of the curve (x, y): every point of the first ``limit/2``,
    then geometrically spaced indices (a log-scale curve keeps its shape), and the last point."""
    n = x.size
    if n <= limit:
        return x, y
    head = np.arange(limit // 2)
    tail = np.unique(np.geomspace(limit // 2, n - 1, limit // 2).astype(np.intp))
    keep = np.concatenate([head, tail])
    return x[keep], y[keep]

def spectrum_figure(spectrum: Any, rank: int | None = None, *, title: str = "") -> Any:
    """Singular values (log scale) and the optimal relative Frobenius error against rank.

    Parameters
    ----------
    spectrum : array-like of shape (r,)
        The complete singular-value spectrum of a matrix.
    rank : int, optional
        A chosen rank, marked on both panels.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The right panel plots ‖A − A_k‖_F/‖A‖_F = (Σ_{i>k} σ_i²)^{1/2}/‖A‖_F for k = 0…r.
    """
    from matplotlib.figure import Figure

    s = np.sort(np.abs(np.asarray(spectrum, dtype=np.float64)))[::-1]
    tail = np.sqrt(np.append(np.cumsum((s**2)[::-1])[::-1], 0.0))
    rel = tail / tail[0] if tail[0] > 0 else tail
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    idx = np.arange(1, s.size + 1)
    positive = s > 0
    ax1.semilogy(*_thin(idx[positive], s[positive]), ".-", ms=3)
    ax1.set(xlabel="index i", ylabel="σ_i", title="singular values")
    ks = np.arange(s.size + 1)
    ok = rel > 0
    ax2.semilogy(*_thin(ks[ok], rel[ok]), "-")
    ax2.set(xlabel="rank k", ylabel="‖A − A_k‖_F / ‖A‖_F", title="optimal error against rank")
    if rank is not None and 0 < rank <= s.size:
        ax1.axvline(rank, color="C3", ls="--", lw=1, label=f"k = {rank}")
        if rel[rank] > 0:
            ax2.semilogy([rank], [rel[rank]], "o", color="C3", label=f"k = {rank}: {rel[rank]:.3g}")
        ax1.legend()
        ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def _fitted(report: Any, k: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The fitted model over the report's window: C q^k (linear) or C k^{−s} (sublinear)."""
    a, b = report.window
    if b - a < 2:
        return None
    kw, rw = k[a:b], r[a:b]
    if report.kind == "linear" and report.q_fit:
        c = np.exp(np.mean(np.log(rw) - kw * np.log(report.q_fit)))
        return kw, c * report.q_fit**kw, f"fit q = {report.q_fit:.4g}"
    if report.kind == "sublinear" and report.power is not None:
        kk = kw + 1.0  # analyze(r, start=1) reads r[i] as r_(i+1)
        c = np.exp(np.mean(np.log(rw) + report.power * np.log(kk)))
        return kw, c * kk ** (-report.power), f"fit k^-{report.power:.3g}"
    return None


def convergence_figure(runs: Any, *, reports: Any = None, ylabel: str = "r_k", title: str = "") -> Any:
    """Convergence curves on a log scale, several runs overlaid, each with its fitted rate.

    Parameters
    ----------
    runs : mapping name → array-like, or a sequence of array-likes
        Sequences r_0, r_1, … (errors, gaps or gradient norms); values ≤ 0 are not drawn.
    reports : mapping name → RateReport, optional
        Rate analyses to draw (:func:`rankwise.rates.analyze` is run on each curve when
        omitted): the fitted C·q^k (linear) or C·k^{−s} (sublinear) over the window the
        rate was read from, dashed, and the verdict in the legend.
    ylabel, title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from .rates import analyze

    named = dict(runs) if isinstance(runs, Mapping) else {f"run {i}": r for i, r in enumerate(runs)}
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for i, (name, seq) in enumerate(named.items()):
        r = np.asarray(seq, dtype=np.float64).ravel()
        k = np.arange(r.size, dtype=np.float64)
        ok = np.isfinite(r) & (r > 0)
        color = f"C{i % 10}"
        rep = (reports or {}).get(name) if reports is not None else (analyze(r, start=1) if ok.sum() >= 3 else None)
        label = name if rep is None else textwrap.shorten(f"{name}: {rep.summary}", LEGEND_WIDTH, placeholder=" …")
        ax.semilogy(*_thin(k[ok], r[ok]), "-", color=color, lw=1.2, label=label)
        fit = _fitted(rep, k, np.where(ok, r, np.nan)) if rep is not None else None
        if fit is not None:
            ax.semilogy(*_thin(fit[0], fit[1]), "--", color=color, lw=2, alpha=0.7, label=f"{name}: {fit[2]}")
    ax.set(xlabel="iteration k", ylabel=ylabel, title=title or "convergence")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str], *, protect: Sequence[str | os.PathLike[str]] = (),
                force: bool = False) -> Path:
    """Write ``fig`` as PNG atomically: over an existing file only with ``force``, never over ``protect``."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110), protect=protect, force=force)
