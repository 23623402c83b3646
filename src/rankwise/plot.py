"""matplotlib figures (headless: the Agg backend, no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_write

__all__ = ["save_figure", "spectrum_figure"]


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
    ax1.semilogy(idx[positive], s[positive], ".-", ms=3)
    ax1.set(xlabel="index i", ylabel="σ_i", title="singular values")
    ks = np.arange(s.size + 1)
    ok = rel > 0
    ax2.semilogy(ks[ok], rel[ok], "-")
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


def save_figure(fig: Any, path: str | os.PathLike[str], *, protect: Sequence[str | os.PathLike[str]] = ()) -> Path:
    """Write ``fig`` as PNG atomically, never over a path in ``protect``."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110), protect=protect)
