"""``rankwise retrieval eval``: k-NN search with an expensive scorer through CUR (ANNCUR)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..io import FORMATS, check_output
from ._common import HELP, ForceOpt, HeaderOpt, QuietOpt, _checks_choice, _cli_command, _console, _one_matrix
from ._progress import _progress_bar
from ._render import show

retrieval_app = typer.Typer(help="k-NN search with an expensive scorer through CUR (ANNCUR).",
                            no_args_is_help=True, context_settings=HELP,
                            rich_markup_mode=None)


def _int_list(text: str, option: str) -> list[int]:
    """``"50,100,200"`` → [50, 100, 200]; the errors name ``option``."""
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers, e.g. 50,100,200; got {text!r}") from None
    if not values:
        raise ValueError(f"{option} must list at least one integer; got {text!r}")
    return values


def _recall_table(rep: Any, title: str) -> Table:
    t = Table(title=title, header_style="bold")
    t.add_column("method", justify="left")
    for col in ("scorer pairs / query", "anchor items", *(f"recall@{k}" for k in rep.ks)):
        t.add_column(col, justify="right")
    for i, method in enumerate(rep.methods):
        for j in range(len(rep.budgets)):
            anchors = str(rep.anchor_items[j]) if method in ("anncur", "adaptive") else "—"
            t.add_row(method, f"{rep.pairs[i, j]:g}", anchors, *(f"{r:.3f}" for r in rep.recall[i, j]))
        if i < len(rep.methods) - 1:
            t.add_section()
    return t


@retrieval_app.command("eval")
@_cli_command
def retrieval_eval(
    matrix: Annotated[Path | None, typer.Argument(
        exists=True, dir_okay=False, show_default=False,
        help=f"Score matrix (rows = queries, columns = items), any of {', '.join(FORMATS)}; the scorer is a "
             "lookup into it. Without it: a built-in synthetic matrix.")] = None,
    kind: Annotated[str, typer.Option("--kind", help="Built-in matrix: kernel (RBF) or lowrank (+ noise).")
                    ] = "kernel",
    queries: Annotated[int, typer.Option("--queries", help="Built-in matrix: number of queries.")] = 300,
    items: Annotated[int, typer.Option("--items", help="Built-in matrix: number of items.")] = 2000,
    budgets: Annotated[str, typer.Option("--budgets", help="Scorer pairs per query, comma-separated.")
                       ] = "50,100,200,500",
    ks: Annotated[str, typer.Option("--ks", help="The k of recall@k, comma-separated.")] = "1,10,100",
    anchor_queries: Annotated[int, typer.Option("--anchor-queries", help="Rows scored offline (k_q).")] = 150,
    test: Annotated[int, typer.Option("--test", help="Test queries (other rows).")] = 50,
    anchor_fraction: Annotated[float, typer.Option("--anchor-fraction",
                                                   help="Share of each budget spent on anchor items.")] = 0.5,
    rounds: Annotated[int, typer.Option("--rounds", help="Rounds of adaptive ANNCUR (>= 2).")] = 4,
    select: Annotated[str, typer.Option("--select", help="Anchor items: uniform, id or leverage.")] = "uniform",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the splits, anchors and built-in matrix.")] = 0,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write recall against scorer pairs as a PNG.")
                    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    header: HeaderOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Recall@k against scorer pairs per query: ANNCUR, adaptive ANNCUR and random re-ranking."""
    from ..plot import save_figure
    from ..retrieval import evaluate, recall_figure, synthetic_scores

    bs, kk = _int_list(budgets, "--budgets"), _int_list(ks, "--ks")
    if plot is not None:
        check_output(plot, suffixes=(".png",), protect=[matrix] if matrix else [], force=force)
    if matrix is None:
        M = synthetic_scores(_checks_choice(kind, ("kernel", "lowrank"), "kind"), queries, items,  # type: ignore[arg-type]
                             rng=seed)
        name = f"built-in {kind} {queries}×{items}"
    else:
        M, name = _one_matrix(matrix, header), matrix.name
    rep = evaluate(M, bs, ks=kk, n_anchor_queries=anchor_queries, n_test=test, anchor_fraction=anchor_fraction,
                   rounds=rounds, select=select, rng=seed,  # type: ignore[arg-type]
                   progress=_progress_bar("budgets", quiet))
    title = (f"rankwise retrieval eval  ({name}; {anchor_queries} anchor queries, {rep.n_test} test queries, "
             f"select={select}, rounds={rounds}, seed={seed})")
    if plot is not None:
        save_figure(recall_figure(rep, title=name), plot, protect=[matrix] if matrix else [], force=force)
    if as_json:
        typer.echo(json.dumps(rep.as_dict(), indent=2))
        return
    console = _console()
    show(console, _recall_table(rep, title))
    console.print(f"offline: {rep.offline_pairs[-1]:,} scorer pairs (anchor queries × items) per index"
                  + (f"; plot written to {plot}" if plot is not None else ""), markup=False)
