"""``rankwise lr-scaling``: the best one-step learning rate against batch size, calculator vs simulation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..io import check_output
from ..optim.lr_scaling import HorizonRow, LRScalingReport, LRScalingRow, ProblemSummary, lr_scaling_experiment
from ._common import ForceOpt, _cli_command, _console
from ._render import show


def _numbers(text: str, option: str) -> list[float]:
    """Comma-separated numbers, or a ValueError naming ``--option``."""
    out = []
    for item in text.split(","):
        try:
            out.append(float(item))
        except ValueError:
            raise ValueError(f"--{option}: {item.strip()!r} is not a number; expected comma-separated numbers "
                             f"such as 1,4,16") from None
    return out


def _table(problem: ProblemSummary, rows: list[LRScalingRow]) -> Table:
    t = Table(title=f"{problem.name}: {problem.description}", header_style="bold", title_justify="left")
    for col in ("update", "B", "η* calc", "η* sim", "± s.e.", "z", "approx"):
        t.add_column(col, justify="left" if col == "update" else "right", no_wrap=True)
    previous = None
    for r in rows:
        t.add_row(r.label if r.label != previous else "", f"{r.batch_size:g}", f"{r.eta_pred:.4e}",
                  f"{r.eta_sim:.4e}", f"{r.eta_se:.1e}", "—" if math.isnan(r.z) else f"{r.z:+.2f}",
                  f"{100 * r.approx_error:+.1f}%")
        previous = r.label
    return t


def _horizon_table(rows: list[HorizonRow], steps: int, runs: int) -> Table:
    t = Table(title=f"quadratic: best constant η for T = {steps} steps ({runs} runs per η)", header_style="bold",
              title_justify="left")
    for col in ("update", "B", "η*₁ calc", f"η*_{steps} sim", "± s.e.", "ratio"):
        t.add_column(col, justify="left" if col == "update" else "right", no_wrap=True)
    previous = None
    for r in rows:
        nan = math.isnan(r.eta)
        t.add_row(r.label if r.label != previous else "", f"{r.batch_size:g}", f"{r.eta_one:.4e}",
                  "—" if nan else f"{r.eta:.4e}", "—" if nan else f"{r.eta_se:.1e}",
                  "—" if nan else f"{r.ratio:.3f}")
        previous = r.label
    return t


def _summary_lines(problem: ProblemSummary, report: LRScalingReport) -> list[str]:
    peak = "none" if problem.b_peak_sign is None else f"{problem.b_peak_sign:.4g}"
    zs = ", ".join(f"{u} {report.max_abs_z(problem.name, u):.2f}" for u in ("sgd", "sign", "adam"))
    return [f"  B_noise = {problem.b_noise:.4g}, B_simple = {problem.b_simple:.4g}, SignSGD peak at B = {peak}",
            f"  batches: {problem.sampling}; Σ {_cov_kind(report, problem.name)}",
            f"  max |z|: {zs}"]


def _cov_kind(report: LRScalingReport, name: str) -> str:
    kinds = {r.cov for r in report.rows if r.problem == name}
    return "full" if kinds == {"full"} else "diagonal"


def _figure(report: LRScalingReport) -> Any:
    """η*(B) normalised by the calculator's value at the largest B: lines (calculator), points ± s.e."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    axes = fig.subplots(1, len(report.problems), squeeze=False)[0]
    for ax, problem in zip(axes, report.problems, strict=True):
        labels = dict.fromkeys(r.label for r in report.rows if r.problem == problem.name)
        for k, label in enumerate(labels):
            rows = [r for r in report.rows if r.problem == problem.name and r.label == label]
            ref = rows[-1].eta_pred
            b = [r.batch_size for r in rows]
            ax.plot(b, [r.eta_pred / ref for r in rows], "-", color=f"C{k}", label=label)
            ax.errorbar(b, [r.eta_sim / ref for r in rows], yerr=[2 * r.eta_se / ref for r in rows], fmt="o",
                        ms=3, color=f"C{k}", capsize=2)
        ax.axvline(problem.b_noise, color="0.6", ls=":", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="η*(B) / η*(B_max)",
               title=f"{problem.name} (B_noise = {problem.b_noise:.3g}; dots: simulation ± 2 s.e.)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return fig


@_cli_command
def lr_scaling_cmd(
    batch_sizes: Annotated[str, typer.Option("--batch-sizes", help="Comma-separated batch sizes.")
                           ] = "1,4,16,64,256,1024,4096",
    eps: Annotated[str, typer.Option("--eps", help="Adam's ε values, in units of the per-coordinate noise "
                                                   "σ̄ = √(tr Σ/d) of one example.")] = "0.01,0.1,1",
    draws: Annotated[int, typer.Option("--draws", help="Batches drawn per batch size.")] = 2000,
    dim: Annotated[int, typer.Option("--dim", help="Parameters of each problem.")] = 16,
    samples: Annotated[int, typer.Option("--samples", help="Rows of the least-squares data.")] = 20000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the problems and of the batches.")] = 0,
    horizon: Annotated[int | None, typer.Option("--horizon", help="Also measure the best constant learning rate "
                                                              "for T steps on the quadratic problem (simulation, "
                                                              "--draws runs per η).")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write η*(B) against B as PNG.")] = None,
    force: ForceOpt = False,
) -> None:
    """Optimal one-step learning rate against batch size for SGD, SignSGD and Adam: calculator vs simulation.

    η* calc is rankwise.optim.optimal_lr (exact under g̃_B ~ N(g, Σ/B)); η* sim maximises the
    mean one-step decrease over sampled batches; z = (sim − calc)/s.e.; approx is the error of
    the mean-field closed form against η* calc. With --horizon T: the best constant η for T steps
    (rankwise.optim.measure_horizon_lr) against the one-step η*₁, and their ratio.
    """
    sizes, eps_rel = _numbers(batch_sizes, "batch-sizes"), _numbers(eps, "eps")
    if plot is not None:
        check_output(plot, suffixes=(".png",), force=force)
    report = lr_scaling_experiment(batch_sizes=sizes, eps_rel=eps_rel, n_draws=draws, dim=dim, n_samples=samples,
                                   horizon=horizon, rng=seed)
    console = _console()
    console.print(f"rankwise lr-scaling  (draws={draws}, dim={dim}, seed={seed})", markup=False)
    for problem in report.problems:
        show(console, _table(problem, [r for r in report.rows if r.problem == problem.name]))
        for line in _summary_lines(problem, report):
            console.print(line, markup=False)
    if any(math.isnan(r.z) for r in report.rows):
        console.print("z = —: every batch gave the same update (rarer events unseen)", markup=False)
    if report.steps is not None:
        show(console, _horizon_table(list(report.horizon), report.steps, draws))
        console.print("  ratio = η*_T/η*₁; quadratic model, noise N(0, Σ/B) independent of w", markup=False)
    if plot is not None:
        from ..plot import save_figure

        save_figure(_figure(report), plot, force=force)
        console.print(f"plot written to {plot}", markup=False)
