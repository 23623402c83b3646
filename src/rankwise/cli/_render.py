"""Tables that stay readable in the user's terminal, and the table and JSON of ``rankwise approx``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..approx import Approximation
from ..io import NamedMatrix
from ._common import _console, _fmt, _storage


def new_table(title: str | None, columns: list[tuple[str, str]]) -> Table:
    """A table in the commands' style: ``columns`` as (header, ``"left"``/``"right"``)."""
    t = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, title_justify="left")
    for header, justify in columns:
        t.add_column(header, justify=justify)  # type: ignore[arg-type]
    return t


def _cells(t: Table) -> list[list[str]]:
    columns = [list(c.cells) for c in t.columns]
    return [[str(col[i]) for col in columns] for i in range(t.row_count)]


def _vertical(t: Table, width: int) -> list[str]:
    """One block per row: its first cell, then ``header: value`` pairs packed into lines of ``width``."""
    headers = [str(c.header) for c in t.columns]
    lines = [str(t.title)] if t.title else []
    for i, row in enumerate(_cells(t)):
        lines.append(row[0])
        line = " "
        for h, v in zip(headers[1:], row[1:], strict=True):
            item = f"{h}: {v}"
            if len(line) > 1 and len(line) + 3 + len(item) > width:
                lines.append(line)
                line = " "
            line += ("   " if len(line) > 1 else " ") + item
        lines.append(line)
        if t.rows[i].end_section and i < t.row_count - 1:
            lines.append("")
    return lines


def show(console: Console, t: Table) -> None:
    """Print ``t`` as a table when it fits the console's width, else as one block per row."""
    natural = console.measure(t, options=console.options.update(max_width=10_000)).maximum
    if natural <= console.width:
        console.print(t)
        return
    for line in _vertical(t, console.width):
        console.print(line, markup=False, highlight=False, soft_wrap=False, overflow="fold")


def _table(rows: list[tuple[NamedMatrix, Approximation]], method: str, seed: int) -> Table:
    t = new_table(f"rankwise approx  (method={method}, seed={seed})", [
        ("name", "left"), ("shape", "right"), ("dtype", "right"), ("rank", "right"), ("energy kept", "right"),
        ("rel. Frobenius err", "right"), ("rel. spectral err", "right"), ("optimal rel. Frobenius", "right"),
        ("storage before → after", "left"), ("time", "right")])
    for nm, ap in rows:
        r = ap.report
        t.add_row(nm.name, "×".join(map(str, r.shape)), str(nm.array.dtype), _rank_cell(ap),
                  f"{100 * r.energy:.4f}%", _fmt(r.rel_fro_error), _fmt(r.rel_spectral_error),
                  _fmt(r.rel_optimal_fro_error), _storage(r.storage_before, r.storage_after),
                  f"{r.seconds:.3f} s")
    return t


def _rank_cell(ap: Approximation) -> str:
    """The rank column: the SVD rank, or for Monarch its block structure."""
    r = ap.report
    opts = r.options
    if r.method == "monarch" and {"blocks_R", "blocks_L", "block_rank"} <= set(opts):
        return f"{opts['blocks_R']}×{opts['blocks_L']} blocks, rank {opts['block_rank']}"
    return str(r.rank)


def _larger_notes(rows: list[tuple[NamedMatrix, Approximation]]) -> list[str]:
    """A sentence for each factorisation that stores more numbers than its input."""
    out = []
    for nm, ap in rows:
        r = ap.report
        if r.storage_after > r.storage_before:
            out.append(f"{nm.name}: the factors store {r.storage_after:,} numbers, more than the matrix itself "
                       f"({r.storage_before:,}, {100 * r.storage_after / r.storage_before:.0f}%); at this target "
                       "a low-rank form saves nothing")
    return out


def _render(rows: list[tuple[NamedMatrix, Approximation]], method: str, seed: int, as_json: bool,
            output: Path | None, plots: list[Path]) -> None:
    """The report as JSON, or as a table followed by the skeleton choices and the files written."""
    if as_json:
        payload = [{"name": nm.name, "dtype": str(nm.array.dtype), "seed": seed, **ap.report.to_dict()}
                   for nm, ap in rows]
        typer.echo(json.dumps(payload, indent=2))
        return
    console = _console()
    show(console, _table(rows, method, seed))
    for line in _larger_notes(rows):
        console.print(line, markup=False)
    if method in ("id", "cur"):  # the skeleton's index counts and choices
        for nm, ap in rows:
            console.print(f"{nm.name}: " + ", ".join(f"{k}={v}" for k, v in ap.report.options.items()), markup=False)
    if output is not None:
        console.print(f"factors written to {output}", markup=False)
    for p in plots:
        console.print(f"plot written to {p}", markup=False)
