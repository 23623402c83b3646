"""``rankwise grad``: the symbolic gradient of a matrix expression."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import _cli_command


@_cli_command
def grad(
    expr: Annotated[str, typer.Argument(help="A scalar expression, e.g. \"tr(A*X*B)\", \"x'*A*x\", "
                                             "\"logdet(X)\", \"norm(X*w - y)^2\". Uppercase names are "
                                             "matrices, lowercase names vectors.")],
    wrt: Annotated[str, typer.Option("--wrt", help="The variable to differentiate with respect to.")],
    latex: Annotated[bool, typer.Option("--latex", help="Print LaTeX instead of text.")] = False,
    scalars: Annotated[list[str] | None, typer.Option("--scalar", help="A name that stands for a scalar "
                                                                        "(repeatable).")] = None,
) -> None:
    """Derive the gradient of a matrix expression symbolically."""
    from ..calculus import gradient

    g = gradient(expr, wrt, scalars=tuple(scalars or ()))
    if latex:
        typer.echo(f"\\nabla_{{{wrt}}} \\left({g.of.latex}\\right) = {g.latex}")
    else:
        typer.echo(f"∇_{wrt} {g.of.text} = {g.text}")
