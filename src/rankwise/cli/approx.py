"""``rankwise approx``: a low-rank approximation of a matrix file (or the built-in matrix)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import numpy as np
import typer

from .. import _checks
from .._array import to_numpy
from ..approx import METHODS, Approximation, describe
from ..engine import (
    DASK_METHODS,
    REFERENCE_MAX_ENTRIES,
    approximate_each,
    dask_session,
    out_of_core,
    stream_approximate,
    use_dask,
)
from ..io import FORMATS, SAVE_FORMATS, NamedMatrix, check_output, factor_arrays, load_matrices, open_dask, save_arrays
from ..linalg import NpyMatrix
from ..random import DEFAULT_RATE, DEFAULT_SHAPE, default_matrix
from ._common import ForceOpt, HeaderOpt, QuietOpt, _cli_command, _header_note, note
from ._progress import _progress_bar
from ._render import _render

DEFAULT_TOL = 1e-2


@_cli_command
def approx(
    input: Annotated[Path | None, typer.Argument(
        help=f"Matrix file ({', '.join(FORMATS)}). Without it: a built-in {DEFAULT_SHAPE[0]}×{DEFAULT_SHAPE[1]} "
             f"float64 matrix U·diag(σ)·Vᵀ with σ_i = {DEFAULT_RATE}^i and Haar-random U, V (seeded by --seed).",
        show_default=False)] = None,
    rank: Annotated[int | None, typer.Option("--rank", "-k", help="Target rank.")] = None,
    tol: Annotated[float | None, typer.Option(
        "--tol", help=f"Relative Frobenius error target in (0, 1); the default when no target is given "
                      f"({DEFAULT_TOL:g}).")] = None,
    energy: Annotated[float | None, typer.Option("--energy", help="Fraction of Σσ² to keep, in (0, 1].")] = None,
    method: Annotated[str, typer.Option("--method", "-m", help="One of: " + ", ".join(
        f"{name} ({m.summary})" for name, m in METHODS.items()))] = "svd",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the factors to .npz or "
                                                ".safetensors (atomically; never over INPUT).")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the spectrum and the error-vs-rank "
                                              "curve as PNG.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for randomized methods and the default matrix.")] = 0,
    key: Annotated[str | None, typer.Option("--key", help="Array to read from a .npz/.safetensors file.")] = None,
    all_2d: Annotated[bool, typer.Option("--all", help="Every 2-D array of a .npz/.safetensors file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of a table.")] = False,
    passes: Annotated[int | None, typer.Option(
        "--passes", help="1: read a .npy INPUT once, in row blocks, through the single-pass streaming sketch "
                         "(needs --rank; the error is then estimated).")] = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="local, dask, or auto: Dask for a Zarr INPUT and for a .npy INPUT over 1 GiB "
                         f"with --method {'/'.join(DASK_METHODS)} (when Dask is installed).")] = "auto",
    chunks: Annotated[int, typer.Option("--chunks", help="Rows per Dask chunk.")] = 4096,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Address of a running Dask scheduler (tcp://host:port); implies --engine dask. "
                            "Default: Dask's threads in this process.")] = None,
    precision: Annotated[str, typer.Option(
        "--precision", help="full, or mixed: with --method rsvd/auto on float64 input, run the passes in "
                            "float32 where that cannot cost accuracy (checked; else full).")] = "full",
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Print each matrix's plan (scheme, block, passes, fallbacks) on stderr "
                                "before it runs.")] = False,
    header: HeaderOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Approximate a matrix by a low-rank one and report the error against the optimum.

    A .npy INPUT larger than 256 MiB is not loaded: with --method rsvd or auto it is read
    in row blocks of at most 64 MiB (3 reads at a rank, more at a tolerance), with a
    progress bar; --passes 1 reads it exactly once. The optimal error is shown for
    matrices of up to 4,000,000 entries (it needs the exact spectrum).
    """
    if key is not None and all_2d:
        raise ValueError("give at most one of --key and --all")
    _checks.choice(precision, ("full", "mixed"), func="approx", name="--precision")
    if precision != "full" and (method not in ("rsvd", "auto") or passes is not None):
        raise ValueError(f"--precision {precision} works with --method rsvd or auto (not {method}"
                         f"{', --passes 1' if passes is not None else ''})")
    options = {"precision": precision} if precision != "full" else {}
    on_dask = use_dask(input, "dask" if scheduler is not None else engine, "rsvd" if passes else method)
    run = _Run(output, plot, seed, key, all_2d, as_json, passes, None, options, verbose, header, force, quiet)
    if on_dask:
        _checks.integer(chunks, func="approx", name="--chunks", lo=1)
        with dask_session(scheduler, progress=_progress_bar("dask", quiet) if scheduler is None else None):
            _approx(input, rank, tol, energy, method, run._replace(dask_chunks=chunks))
        return
    _approx(input, rank, tol, energy, method, run)


class _Run(NamedTuple):
    """The options of one ``approx`` call that are not the target and the method."""

    output: Path | None
    plot: Path | None
    seed: int
    key: str | None
    all_2d: bool
    as_json: bool
    passes: int | None
    dask_chunks: int | None  # read INPUT through Dask in chunks of this many rows
    options: dict[str, Any]  # passed to the method
    verbose: bool  # print each matrix's plan on stderr
    header: bool | None
    force: bool
    quiet: bool


def _approx(input: Path | None, rank: int | None, tol: float | None, energy: float | None, method: str,
            run: _Run) -> None:
    """Body of ``approx``."""
    output, plot, seed = run.output, run.plot, run.seed
    if run.passes is not None:
        _streamed(input, rank, tol, energy, seed, run)
        return
    if rank is None and tol is None and energy is None:
        tol = DEFAULT_TOL
    inputs = [input] if input is not None else []
    if output is not None:
        check_output(output, suffixes=SAVE_FORMATS, protect=inputs, force=run.force)
    if plot is not None:
        check_output(plot, suffixes=(".png",), protect=inputs, force=run.force)
    matrices, reference = _inputs(input, method, run)
    if plot is not None and len(matrices) > 1:  # the per-matrix plot files, before any work
        for nm in matrices:
            check_output(_plot_path(plot, nm.name, True), protect=inputs, force=run.force)
    options = run.options
    if run.verbose:
        for nm in matrices:
            plan = describe(nm.array, method=method, rank=rank, tol=tol, energy=energy, **(options or {}))
            sys.stderr.write(f"{nm.name}: {plan}\n")
    aps = approximate_each(matrices, method=method, rank=rank, tol=tol, energy=energy, rng=seed,
                           spectrum=reference, need_spectrum=plot is not None, options=options)
    rows = list(zip(matrices, aps, strict=True))
    several = len(rows) > 1
    if output is not None:
        arrays: dict[str, np.ndarray] = {}
        for nm, ap in rows:
            arrays.update(factor_arrays(ap.factors, f"{nm.name}." if several else ""))
        save_arrays(output, arrays, protect=inputs, force=run.force)
    written = _plots(rows, plot, inputs, run.force) if plot is not None else []
    _render(rows, method, seed, run.as_json, output, written)


def _inputs(input: Path | None, method: str, run: _Run) -> tuple[list[NamedMatrix], np.ndarray | None]:
    """The matrices to approximate, and their exact spectrum when it is known (the built-in one)."""
    if input is None:
        A, S = default_matrix(rng=run.seed)
        return [NamedMatrix(f"default (σ_i = {DEFAULT_RATE}^i)", A)], S
    if run.dask_chunks is not None:
        return [NamedMatrix(input.stem, open_dask(input, chunks=run.dask_chunks, key=run.key))], None
    if out_of_core(input, method):
        bar = _progress_bar(f"reading {input.name}", run.quiet)
        return [NamedMatrix(input.stem, NpyMatrix(input, progress=bar))], None
    matrices = load_matrices(input, key=run.key, all_2d=run.all_2d, header=run.header)
    _header_note(input, matrices[0].header)
    return matrices, None


def _plots(rows: list[tuple[NamedMatrix, Approximation]], plot: Path, inputs: list[Path], force: bool) -> list[Path]:
    """One spectrum figure per matrix (``plot``, or ``plot.NAME.png`` for several); the files written.

    Without the exact spectrum (a matrix above the reference limit) the figure shows the
    singular values the approximation found."""
    from ..plot import save_figure, spectrum_figure

    written = []
    for nm, ap in rows:
        spectrum, known = _plot_spectrum(ap)
        if spectrum is None:
            note(f"--plot: no plot for {nm.name}: its method gives no singular values and the matrix is above "
                 f"{REFERENCE_MAX_ENTRIES:,} entries (the exact spectrum's limit)")
            continue
        title = f"{nm.name} ({ap.report.method})" + ("" if known else f", leading {spectrum.size} values")
        fig = spectrum_figure(spectrum, ap.report.rank, title=title)
        written.append(save_figure(fig, _plot_path(plot, nm.name, len(rows) > 1), protect=inputs, force=force))
    return written


def _plot_spectrum(ap: Approximation) -> tuple[np.ndarray | None, bool]:
    """The exact spectrum when known (True), else the approximation's singular values (False), else None."""
    if ap.spectrum is not None:
        return np.asarray(ap.spectrum), True
    S = getattr(ap.factors, "S", None)
    return (np.asarray(to_numpy(S), dtype=np.float64), False) if S is not None else (None, False)


def _plot_path(plot: Path, name: str, several: bool) -> Path:
    if not several:
        return plot
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return plot.with_name(f"{plot.stem}.{safe}{plot.suffix}")


def _streamed(input: Path | None, rank: int | None, tol: float | None, energy: float | None, seed: int,
              run: _Run) -> None:
    """``--passes 1``: the single-pass streaming sketch over a .npy file (or Zarr), read once in row blocks."""
    passes, output, dask_chunks = run.passes, run.output, run.dask_chunks
    if passes != 1:
        raise ValueError(f"--passes must be 1 (the single-pass sketch); got {passes}")
    if input is None or (input.suffix.lower() != ".npy" and dask_chunks is None):
        raise ValueError("--passes 1 needs a .npy INPUT (read once, in row blocks), or a Zarr one with Dask")
    if rank is None or tol is not None or energy is not None:
        raise ValueError("--passes 1 needs --rank (a tolerance cannot be checked in one pass)")
    if output is not None:
        check_output(output, suffixes=SAVE_FORMATS, protect=[input], force=run.force)
    mat: Any = open_dask(input, chunks=dask_chunks) if dask_chunks is not None else NpyMatrix(
        input, progress=_progress_bar(f"streaming {input.name}", run.quiet))
    ap = stream_approximate(mat, rank, rng=seed, func="approx")
    if output is not None:
        save_arrays(output, factor_arrays(ap.factors), protect=[input], force=run.force)
    _render([(NamedMatrix(input.stem, mat), ap)], "rsvd-1pass", seed, run.as_json, output, [])
