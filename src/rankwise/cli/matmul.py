"""``rankwise matmul``: approximate A @ B by sampled outer products (CR)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..engine import CRComparison, cr_compare
from ..io import FORMATS
from ..random import lognormal_pair
from ._common import HeaderOpt, _cli_command, _console, _one_matrix
from ._render import show


def _matmul_table(name: str, r: CRComparison, n: int, method: str, seed: int) -> Table:
    t = Table(title=f"rankwise matmul  (method={method}, samples={r.samples} of {n}, seed={seed})",
              header_style="bold")
    for col in ("inputs", "rel. error ‖AB − CR‖/‖AB‖", "expected (RMS, closed form)", "time CR", "time exact"):
        t.add_column(col, justify="left" if col == "inputs" else "right", overflow="fold")
    t.add_row(name, f"{r.rel_error:.3e}", f"{r.expected_rel_error:.3e}" + (" (exact)" if method == "topk" else ""),
              f"{r.seconds_cr:.4f} s", f"{r.seconds_exact:.4f} s")
    return t


@_cli_command
def matmul_cmd(
    a: Annotated[Path | None, typer.Argument(help=f"Left factor A (m × n), any of {', '.join(FORMATS)}. Without "
                                                  "A and B: a built-in pair with very unequal outer products.",
                                             show_default=False)] = None,
    b: Annotated[Path | None, typer.Argument(help="Right factor B (n × p).", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-c", help="Outer products sampled, 1 <= c <= n "
                                                "(default n/10).")] = None,
    method: Annotated[str, typer.Option("--method", "-m", help="optimal (p_i ∝ ‖a_i‖‖b_i‖), uniform, or topk "
                                        "(the c largest, deterministic).")] = "optimal",
    seed: Annotated[int, typer.Option("--seed", help="Seed for the sampling and the built-in matrices.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    header: HeaderOpt = None,
) -> None:
    """Approximate A @ B by sampled outer products (CR) and compare with the exact product."""
    if (a is None) != (b is None):
        raise ValueError("give both A and B, or neither (the built-in pair)")
    if a is None or b is None:
        A, B = lognormal_pair(rng=seed)
        (m, n), p = A.shape, B.shape[1]
        name = f"default {m}×{n} · {n}×{p}, log-normal column scales"
    else:
        A, B, name = _one_matrix(a, header), _one_matrix(b, header), f"{a.name} · {b.name}"
    r = cr_compare(A, B, samples, method=method, rng=seed)
    if as_json:
        row = {"inputs": name, "shape_A": list(A.shape), "shape_B": list(B.shape), "method": method,
               "samples": r.samples, "seed": seed, "rel_error": r.rel_error,
               "expected_rel_error": r.expected_rel_error, "seconds_cr": r.seconds_cr,
               "seconds_exact": r.seconds_exact}
        typer.echo(json.dumps(row, indent=2))
        return
    show(_console(), _matmul_table(name, r, A.shape[1], method, seed))
