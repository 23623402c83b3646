"""The ``rankwise`` command line: parse, call the library, render.

One module per command group (:mod:`.approx`, :mod:`.chain`, :mod:`.grad`, :mod:`.rates`,
:mod:`.fit`, :mod:`.lora`, :mod:`.compress`, :mod:`.matmul`, :mod:`.retrieval`) and
:mod:`._common` for what they share. Every failure prints one line on stderr and exits
with status 2 (no traceback). Outputs are written atomically and never over an input.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import approx, chain, compress, fit, grad, lora, lr_scaling, matmul, rates, retrieval
from ._common import HELP

__all__ = ["app", "main"]

app = typer.Typer(
    name="rankwise",
    help="Low-rank and structured matrix approximation.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=HELP,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rankwise {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """rankwise: low-rank and structured matrix approximation."""


app.command()(approx.approx)
app.command()(chain.chain)
app.command()(grad.grad)
app.command("rates")(rates.rates_cmd)
app.command("fit")(fit.fit_cmd)
app.add_typer(lora.lora_app, name="lora")
app.command("compress")(compress.compress_cmd)
app.command("matmul")(matmul.matmul_cmd)
app.add_typer(retrieval.retrieval_app, name="retrieval")
app.command("lr-scaling")(lr_scaling.lr_scaling_cmd)


def main() -> None:
    """Console-script entry point."""
    app()
