"""The table and JSON of ``rankwise approx``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..approx import Approximation
from ..io import NamedMatrix
from ._common import _console, _fmt, _storage


def _table(rows: list[tuple[NamedMatrix, Approximation]], method: str, seed: int) -> Table:
    t = Table(title=f"rankwise approx  (method={method}, seed={seed})", header_style="bold")
    for col in ("name", "shape", "dtype", "rank", "energy kept", "rel. Frobenius err",
                "rel. spectral err", "optimal rel. Frobenius", "storage before → after", "time"):
        left = col in ("name", "storage before → after")
        t.add_column(col, justify="left" if left else "right", overflow="fold")
    for nm, ap in rows:
        r = ap.report
        t.add_row(nm.name, "×".join(map(str, r.shape)), str(nm.array.dtype), str(r.rank),
                  f"{100 * r.energy:.4f}%", _fmt(r.rel_fro_error), _fmt(r.rel_spectral_error),
                  _fmt(r.rel_optimal_fro_error), _storage(r.storage_before, r.storage_after),
                  f"{r.seconds:.3f} s")
    return t


def _render(rows: list[tuple[NamedMatrix, Approximation]], method: str, seed: int, as_json: bool,
            output: Path | None, plot: Path | None) -> None:
    """The report as JSON, or as a table followed by the skeleton choices and the files written."""
    if as_json:
        payload = [{"name": nm.name, "dtype": str(nm.array.dtype), "seed": seed, **ap.report.to_dict()}
                   for nm, ap in rows]
        typer.echo(json.dumps(payload, indent=2))
        return
    console = _console()
    console.print(_table(rows, method, seed))
    if method in ("id", "cur"):  # the skeleton's index counts and choices
        for nm, ap in rows:
            console.print(f"{nm.name}: " + ", ".join(f"{k}={v}" for k, v in ap.report.options.items()), markup=False)
    if output is not None:
        console.print(f"factors written to {output}")
    if plot is not None:
        console.print(f"plot written to {plot}")
