"""``rankwise rates``: classify the convergence of sequences read from a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..io import read_columns
from ..rates import RateReport, analyze
from ._common import HeaderOpt, _cli_command, _console
from ._render import show


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _rates_table(reports: list[tuple[str, RateReport]], title: str) -> Table:
    t = Table(title=title, header_style="bold")
    for col in ("sequence", "kind", "q", "root test", "ratio mean / inf / sup", "order p", "power s", "window",
                "floor at", "confidence"):
        t.add_column(col, justify="left" if col in ("sequence", "kind") else "right", overflow="fold")
    for name, rep in reports:
        ratio = f"{_g(rep.q_ratio)} / {_g(rep.ratio_inf)} / {_g(rep.ratio_sup)}"
        t.add_row(name, rep.kind, _g(rep.q), _g(rep.q_root), ratio,
                  _g(rep.order), _g(rep.power), f"[{rep.window[0]}, {rep.window[1]})",
                  "—" if rep.floor_index is None else str(rep.floor_index), rep.confidence)
    return t


@_cli_command
def rates_cmd(
    file: Annotated[Path, typer.Argument(help="A column of numbers r_k (.txt/.csv/.npy), or several columns "
                                              "with a header row.", show_default=False)],
    start: Annotated[int, typer.Option("--start", help="The index k of the first term.")] = 1,
    floor: Annotated[float | None, typer.Option("--floor", help="Ignore terms at or below this level.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    header: HeaderOpt = None,
) -> None:
    """Classify the convergence of sequences (linear / sublinear / superlinear / order p) and estimate q."""
    reports = [(name, analyze(col, start=start, floor=floor))
               for name, col in read_columns(file, header=header).items()]
    if as_json:
        typer.echo(json.dumps([{"sequence": n, **r.to_dict()} for n, r in reports], indent=2))
        return
    console = _console()
    show(console, _rates_table(reports, f"rankwise rates  ({file.name})"))
    for name, rep in reports:
        for note in rep.notes:
            console.print(f"{name}: {note}", markup=False)
