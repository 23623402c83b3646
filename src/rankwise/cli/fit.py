"""``rankwise fit``: train a linear or logistic model on a CSV file with an optimiser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from ..io import check_output, read_columns
from ..optim import METHODS as OPT_METHODS
from ..optim import IterInfo
from ..optim.regression import (
    MODELS,
    FitMetrics,
    FitResult,
    design_matrix,
    fit_regression,
    raw_weights,
    regression_problem,
)
from ._common import ForceOpt, HeaderOpt, _checks_choice, _cli_command, _console
from ._render import show


def _metric_rows(m: FitMetrics) -> list[tuple[str, str]]:
    out = [("loss", f"{m.loss:.6g}"), ("‖∇L‖", f"{m.grad_norm:.3e}")]
    if m.rmse is not None:
        out += [("RMSE", f"{m.rmse:.6g}"), ("R²", f"{m.r2:.6f}" if m.r2 is not None else "n/a")]
    if m.rel_error is not None:
        out.append(("‖w − w*‖/‖w*‖ (w* = closed form)", f"{m.rel_error:.3e}"))
    if m.accuracy is not None:
        out.append(("accuracy", f"{m.accuracy:.4f}"))
    return out


def _result_table(fit: FitResult, names: list[str], weights: np.ndarray) -> Table:
    t = Table(title="result", header_style="bold")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in _metric_rows(fit.metrics):
        t.add_row(k, v)
    for name, val in zip(names, weights, strict=True):
        t.add_row(f"weight {name}", f"{float(val):.6g}")
    return t


def _chosen(columns: dict[str, np.ndarray], target: str, features: list[str] | None) -> dict[str, np.ndarray]:
    """The target and the feature columns, in file order; unknown or repeated names are errors."""
    if target not in columns:
        raise ValueError(f"--target {target!r} is not a column; columns: {', '.join(columns)}")
    if not features:
        return columns
    names = [n.strip() for f in features for n in f.split(",") if n.strip()]
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise ValueError(f"--features {unknown[0]!r} is not a column; columns: {', '.join(columns)}")
    if target in names:
        raise ValueError(f"--features names the target {target!r}; a column cannot predict itself")
    if len(set(names)) != len(names):
        raise ValueError(f"--features names a column twice: {', '.join(names)}")
    return {c: v for c, v in columns.items() if c in names or c == target}


@_cli_command
def fit_cmd(
    data: Annotated[Path, typer.Argument(help="CSV with a header row naming the columns.", show_default=False)],
    target: Annotated[str, typer.Option("--target", "-t", help="The column to predict.")],
    features: Annotated[list[str] | None, typer.Option(
        "--features", "-x", help="A feature column (repeatable, or comma-separated); default: every column but "
                                 "the target, listed on stderr.")] = None,
    model: Annotated[str, typer.Option("--model", help="linear (least squares) or logistic (labels 0/1).")] = "linear",
    method: Annotated[str, typer.Option("--method", "-m", help="gd, sgd, minibatch, momentum, nesterov, adam, "
                                        "rmsprop, adamw, newton or closed-form (linear only).")] = "gd",
    lr: Annotated[float | None, typer.Option("--lr", help="Step size (default 1/L; 1e-3 for adaptive methods).")
                  ] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Mini-batch size.")] = None,
    max_iter: Annotated[int, typer.Option("--max-iter", help="Iteration budget.")] = 1000,
    gtol: Annotated[float, typer.Option("--gtol", help="Stop when ‖∇L‖ falls below this.")] = 1e-8,
    l2: Annotated[float, typer.Option("--l2", help="L2 penalty λ (logistic).")] = 1e-3,
    standardize: Annotated[bool, typer.Option("--standardize/--no-standardize",
                                              help="Scale features to mean 0, variance 1.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Seed for stochastic methods.")] = 0,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the convergence curve as PNG.")] = None,
    header: HeaderOpt = None,
    force: ForceOpt = False,
) -> None:
    """Train a linear or logistic model with an optimiser; print progress, metrics and the rate of convergence."""
    model = _checks_choice(model, MODELS, "model")
    method = _checks_choice(method, (*OPT_METHODS, "closed-form"), "method")
    if plot is not None:
        if method == "closed-form":
            raise ValueError("--plot needs an iterative method (closed-form has no convergence curve)")
        check_output(plot, suffixes=(".png",), protect=[data], force=force)
    columns = _chosen(read_columns(data, header=header), target, features)
    X, y, names = design_matrix(columns, target, standardize=standardize)
    problem = regression_problem(model, X, y, l2=l2)  # type: ignore[arg-type]
    console = _console()
    console.print(f"rankwise fit  (model={model}, method={method}, N={X.shape[0]}, d={X.shape[1]}, seed={seed})",
                  markup=False)
    console.print(f"target {target!r}; features {', '.join(n for n in names if n != 'intercept')}"
                  + ("" if features else " (every other column; choose with --features)"), markup=False)
    if method == "closed-form" and model != "linear":
        raise ValueError("--method closed-form is only for --model linear (logistic regression has no closed form)")
    every = max(1, max_iter // 10)

    def progress(info: IterInfo) -> bool:
        if info.iteration % every == 0:
            console.print(f"  iter {info.iteration:6d}   L = {info.f:.6e}   ‖∇L‖ = {info.grad_norm:.3e}")
        return False

    fit = fit_regression(problem, method, lr=lr, batch=batch, max_iter=max_iter, gtol=gtol, rng=seed,
                         callback=progress)
    if fit.run is None:
        console.print("closed form through rankwise.lstsq (SVD), no iterations")
    else:
        console.print(f"{fit.run.status.value} after {fit.run.iterations} iterations ({fit.run.seconds:.3f} s); "
                      f"options: {dict(fit.run.options)}", markup=False)
    raw = np.column_stack([columns[n] for n in names if n != "intercept"])
    weights = raw_weights(fit.w, raw) if standardize else fit.w
    show(console, _result_table(fit, names, weights))
    if standardize:
        console.print("weights in the data's units (fitted on standardised features; --no-standardize fits the "
                      "raw ones)", markup=False)
    if fit.rate is not None and fit.sequence is not None:
        what = "‖w_k − w*‖" if model == "linear" else "‖∇L(w_k)‖"
        console.print(f"rate of {what}: {fit.rate}", markup=False)
        if plot is not None:
            from ..plot import convergence_figure, save_figure

            save_figure(convergence_figure({method: fit.sequence}, ylabel=what, title=f"{model} regression, {method}"),
                        plot, protect=[data], force=force)
            console.print(f"plot written to {plot}")
