"""``rankwise chain``: the cheapest evaluation order of a matrix chain."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..engine import OrderTiming, time_chain_orders
from ..linalg.chain import chain_plan
from ._common import _cli_command, _console
from ._render import show


def _parse_shape(text: str) -> tuple[int, ...]:
    """``"1000x1000"`` (also ``×``) → (1000, 1000); ``"1000"`` → (1000,)."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"shape {text!r} must look like 1000x1000 (a matrix) or 1000 (a vector) with "
                         "positive sizes")
    return tuple(int(p) for p in parts)


def _orders_table(timings: list[OrderTiming], seed: int, repeats: int) -> Table:
    t = Table(title=f"rankwise chain --time  (seed={seed}, median of {repeats})", header_style="bold")
    for col in ("order", "parenthesisation", "multiply-adds", "time"):
        t.add_column(col, justify="left" if col in ("order", "parenthesisation") else "right")
    for r in timings:
        t.add_row(r.order, r.plan.parenthesization, f"{r.plan.cost:,}", f"{r.seconds:.4f} s")
    return t


@_cli_command
def chain(
    shapes: Annotated[list[str], typer.Argument(help="Operand shapes in order: MxN for a matrix, N for a "
                                                     "vector, e.g. 1000x1000 1000x1000 1000x1000 1000.")],
    time_it: Annotated[bool, typer.Option("--time", help="Also multiply random matrices of these shapes in "
                                                         "each order and time them.")] = False,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed runs per order (the median is shown).")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the random operands of --time.")] = 0,
) -> None:
    """Plan the cheapest order of a matrix chain and compare its cost with the naive orders."""
    parsed = [_parse_shape(s) for s in shapes]
    plan = chain_plan(parsed)
    console = _console()
    console.print(str(plan), markup=False, highlight=False)
    if time_it:
        if repeats < 1:
            raise ValueError(f"--repeats must be >= 1; got {repeats}")
        show(console, _orders_table(time_chain_orders(parsed, repeats=repeats, rng=seed), seed, repeats))
