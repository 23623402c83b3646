"""The ``rankwise`` command line: parse, call the library, render.

One module per command group (:mod:`.approx`, :mod:`.chain`, :mod:`.grad`, :mod:`.rates`,
:mod:`.fit`, :mod:`.lora`, :mod:`.compress`, :mod:`.matmul`, :mod:`.retrieval`) and
:mod:`._common` for what they share. Every failure prints one line on stderr and exits
with status 2 (no traceback). Outputs are written atomically and never over an input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from . import approx, chain, compress, fit, grad, lora, lr_scaling, matmul, rates, retrieval
from ._common import HELP

__all__ = ["app", "main"]

class _OneLineErrors(TyperGroup):
    """The root command: usage errors as one line on stderr, exit status 2 (no boxes, no usage dump)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              windows_expand_args=windows_expand_args, **extra)
        except typer.TyperException as exc:  # click's ClickException (typer vendors click)
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as it is
                sys.stderr.write(exc.format_message() + "\n")
                sys.exit(2)
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "rankwise"
            message = " ".join(exc.format_message().split())
            sys.stderr.write(f"rankwise: error: {message} (see '{where} -h')\n")
            if not standalone_mode:
                raise
            sys.exit(2)
        except typer.Abort:
            sys.stderr.write("rankwise: error: interrupted\n")
            sys.exit(130)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="rankwise",
    help="Low-rank and structured matrix approximation.",
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
