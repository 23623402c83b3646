"""The ``rankwise`` command line: parse, call the library, render.

Every failure prints one line on stderr and exits with status 2 (no traceback).
Outputs are written atomically and never over an input.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from . import __version__, _checks
from .approx import METHODS, Approximation, approximate, with_reference
from .io import FORMATS, SAVE_FORMATS, NamedMatrix, check_output, load_matrices, open_dask, save_arrays
from .linalg import NpyMatrix, StreamingSVD

app = typer.Typer(
    name="rankwise",
    help="Low-rank and structured matrix approximation.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEFAULT_SHAPE = (1000, 800)
DEFAULT_RATE = 0.9
DEFAULT_TOL = 1e-2
# The optimum column needs the exact spectrum; it is computed (one extra dense SVD, a few seconds at
# most) only up to this size, so that it never costs more than the approximation it reports on.
REFERENCE_MAX_ENTRIES = 4_000_000

F = TypeVar("F", bound=Callable[..., Any])


def _die(message: str) -> NoReturn:
    sys.stderr.write(f"rankwise: error: {' '.join(str(message).split())}\n")
    raise typer.Exit(code=2)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn any failure into one readable line on stderr and exit status 2."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        _die("interrupted")
    except MemoryError:
        _die("out of memory: try a smaller rank, a randomized method or a smaller input")
    except Exception as exc:  # the CLI's boundary: every error becomes one line
        _die(str(exc) or type(exc).__name__)


def _cli_command(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _errors():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


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


def _default_matrix(seed: int) -> tuple[list[NamedMatrix], np.ndarray]:
    from .random import decay, low_rank_matrix

    m, n = DEFAULT_SHAPE
    A, S = low_rank_matrix(m, n, decay("exp", n, rate=DEFAULT_RATE), rng=seed)
    return [NamedMatrix(f"default (σ_i = {DEFAULT_RATE}^i)", A)], S


OUT_OF_CORE_BYTES = 256 * 2**20


def _out_of_core(path: Path, method: str) -> bool:
    return (path.suffix.lower() == ".npy" and method in ("rsvd", "auto") and path.is_file()
            and path.stat().st_size > OUT_OF_CORE_BYTES)


DASK_BYTES = 2**30  # --engine auto: a .npy INPUT larger than this goes to Dask (when installed)
DASK_METHODS = ("rsvd", "auto", "id", "cur")
ENGINES = ("auto", "local", "dask")


def _use_dask(input: Path | None, engine: str, method: str) -> bool:
    """Whether ``approx`` runs on Dask: asked for, a Zarr directory, or a large .npy with a randomized method."""
    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    zarr_dir = input is not None and input.is_dir() and (
        input.suffix.lower() == ".zarr" or any((input / f).exists() for f in ("zarr.json", ".zarray", ".zgroup")))
    if engine == "local":
        if zarr_dir:
            raise ValueError(f"{input}: a Zarr directory is read through Dask; use --engine dask or auto")
        return False
    if engine == "dask" or zarr_dir:
        if input is None:
            raise ValueError("--engine dask needs an INPUT (.npy file or Zarr directory)")
        if method not in DASK_METHODS:
            raise ValueError(f"--engine dask runs --method {', '.join(DASK_METHODS)}; got {method!r} "
                             "(an exact SVD needs the matrix in memory)")
        return True
    if input is None or input.suffix.lower() != ".npy" or method not in DASK_METHODS or not input.is_file():
        return False
    import importlib.util

    return input.stat().st_size > DASK_BYTES and importlib.util.find_spec("dask") is not None


@contextmanager
def _dask_session(scheduler: str | None) -> Iterator[None]:
    """A client of the running scheduler at ``scheduler``, or Dask's threads with a progress bar."""
    try:
        import dask  # noqa: F401
    except ImportError:
        raise ValueError("--engine dask needs Dask: pip install 'rankwise[dask]'") from None
    if scheduler is not None:
        from distributed import Client

        try:
            client = Client(scheduler, timeout=5)
        except OSError as exc:
            raise ValueError(f"--scheduler: cannot reach a Dask scheduler at {scheduler!r} ({exc})") from None
        with client:
            yield
        return
    with _dask_progress():
        yield


def _progress_bar(label: str) -> Callable[[int, int], None]:
    """A per-block callback drawing a rich progress bar on stderr (one bar per pass)."""
    from rich.progress import Progress

    state: dict[str, Any] = {}
    console = Console(stderr=True)
    if not console.is_terminal:  # logs and pipes get no bar (rich would leave blank lines)
        return lambda done, total: None

    def update(done: int, total: int) -> None:
        if "bar" not in state or done <= state["last"]:
            if "bar" in state:
                state["bar"].stop()
            state["bar"] = Progress(console=console, transient=True)
            state["bar"].start()
            state["task"] = state["bar"].add_task(label, total=total)
        state["bar"].update(state["task"], completed=done)
        state["last"] = done
        if done >= total:
            state["bar"].stop()
            state.pop("bar")

    return update


def _dask_progress() -> Any:
    """A Dask callback (local schedulers) drawing one rich progress bar per computation on stderr."""
    from dask.callbacks import Callback

    draw = _progress_bar("dask")

    class Bar(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            done = len(state["finished"])
            draw(done, done + sum(len(state[k]) for k in ("ready", "waiting", "running")))

    return Bar()


def _streamed(input: Path | None, rank: int | None, tol: float | None, energy: float | None, passes: int,
              seed: int, output: Path | None, as_json: bool, dask_chunks: int | None) -> None:
    """``--passes 1``: the single-pass streaming sketch over a .npy file (or Zarr), read once in row blocks."""
    if passes != 1:
        raise ValueError(f"--passes must be 1 (the single-pass sketch); got {passes}")
    if input is None or (input.suffix.lower() != ".npy" and dask_chunks is None):
        raise ValueError("--passes 1 needs a .npy INPUT (read once, in row blocks), or a Zarr one with Dask")
    if rank is None or tol is not None or energy is not None:
        raise ValueError("--passes 1 needs --rank (a tolerance cannot be checked in one pass)")
    if output is not None:
        check_output(output, suffixes=SAVE_FORMATS, protect=[input])
    t0 = time.perf_counter()
    mat: Any = open_dask(input, chunks=dask_chunks) if dask_chunks is not None else NpyMatrix(
        input, progress=_progress_bar(f"streaming {input.name}"))
    sk = StreamingSVD(mat.shape, _checks.rank(rank, mat.shape, func="approx"),
                      dtype=np.result_type(mat.dtype, np.float32), rng=seed)
    if dask_chunks is not None:
        sk.update(mat, rows=slice(0, mat.shape[0]))
    else:
        for i0, block in mat.blocks():
            sk.update(block, rows=slice(i0, i0 + block.shape[0]))
    ap = Approximation(sk.result(), sk.report(time.perf_counter() - t0))
    rows = [(NamedMatrix(input.stem, mat), ap)]
    if output is not None:
        save_arrays(output, _factor_arrays("", ap.factors), protect=[input])
    _render(rows, "rsvd-1pass", seed, as_json, output, None)


def _densify(A: Any) -> Any:
    if hasattr(A, "blocks"):  # NpyMatrix and dask arrays stay where they are
        return A
    if hasattr(A, "toarray"):
        return A.toarray()
    return np.asarray(A)  # memory maps are read here


def _reference_spectrum(A: Any) -> np.ndarray | None:
    if A.shape[0] * A.shape[1] > REFERENCE_MAX_ENTRIES or hasattr(A, "blocks"):
        return None
    dense = _densify(A)
    if not np.issubdtype(dense.dtype, np.inexact):
        dense = dense.astype(np.float64)
    return np.linalg.svd(dense, compute_uv=False).astype(np.float64)


def _console() -> Console:
    """A console for stdout; wide when stdout is not a terminal, so piped tables stay whole."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def _fmt(x: float | None, spec: str = ".3e") -> str:
    return "n/a" if x is None else format(x, spec)


def _storage(before: int, after: int) -> str:
    pct = 100.0 * after / before if before else 0.0
    return f"{before:,} → {after:,} ({pct:.1f}%)"


def _table(rows: list[tuple[NamedMatrix, Approximation]], method: str, seed: int) -> Table:
    t = Table(title=f"rankwise approx  (method={method}, seed={seed})", header_style="bold")
    for col in ("name", "shape", "dtype", "rank", "energy kept", "rel. Frobenius err",
                "rel. spectral err", "optimal rel. Frobenius", "storage before → after", "time"):
        left = col in ("name", "storage before → after")
        t.add_column(col, justify="left" if left else "right", overflow="fold")
    for nm, ap in rows:
        r = ap.report
        t.add_row(nm.name, "×".join(map(str, r.shape)), str(nm.array.dtype), str(r.rank),
                  f"{100 * r.energy:.4f}%", _fmt(r.rel_fro_error), _fmt(r.rel_spectral_error),
                  _fmt(r.rel_optimal_fro_error), _storage(r.storage_before, r.storage_after),
                  f"{r.seconds:.3f} s")
    return t


def _factor_arrays(prefix: str, factors: Any) -> dict[str, np.ndarray]:
    from ._array import to_numpy

    fields = getattr(factors, "_fields", None)
    if fields is None:
        raise TypeError(f"cannot save factors of type {type(factors).__name__}")
    return {f"{prefix}{f}": to_numpy(getattr(factors, f)) for f in fields}


def _plot_path(plot: Path, name: str, several: bool) -> Path:
    if not several:
        return plot
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return plot.with_name(f"{plot.stem}.{safe}{plot.suffix}")


@app.command()
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
    on_dask = _use_dask(input, "dask" if scheduler is not None else engine, "rsvd" if passes else method)
    if on_dask:
        _checks.integer(chunks, func="approx", name="--chunks", lo=1)
        with _dask_session(scheduler):
            _approx(input, rank, tol, energy, method, output, plot, seed, key, all_2d, as_json, passes, chunks,
                    options)
        return
    _approx(input, rank, tol, energy, method, output, plot, seed, key, all_2d, as_json, passes, None, options)


def _approx(input: Path | None, rank: int | None, tol: float | None, energy: float | None, method: str,
            output: Path | None, plot: Path | None, seed: int, key: str | None, all_2d: bool, as_json: bool,
            passes: int | None, dask_chunks: int | None, options: dict[str, Any] | None = None) -> None:
    """Body of ``approx`` (``dask_chunks``: read INPUT through Dask in chunks of this many rows;
    ``options``: passed to the method)."""
    if passes is not None:
        _streamed(input, rank, tol, energy, passes, seed, output, as_json, dask_chunks)
        return
    if rank is None and tol is None and energy is None:
        tol = DEFAULT_TOL
    inputs = [input] if input is not None else []
    if output is not None:
        check_output(output, suffixes=SAVE_FORMATS, protect=inputs)
    if plot is not None:
        check_output(plot, suffixes=(".png",), protect=inputs)
    reference: np.ndarray | None = None
    if input is None:
        matrices, reference = _default_matrix(seed)
    elif dask_chunks is not None:
        matrices = [NamedMatrix(input.stem, open_dask(input, chunks=dask_chunks, key=key))]
    elif _out_of_core(input, method):
        matrices = [NamedMatrix(input.stem, NpyMatrix(input, progress=_progress_bar(f"reading {input.name}")))]
    else:
        matrices = load_matrices(input, key=key, all_2d=all_2d)
    if method not in METHODS:
        approximate(np.zeros((1, 1)), method=method)  # raises the registry's "unknown method" error
    spec = METHODS[method]
    rows: list[tuple[NamedMatrix, Approximation]] = []
    for nm in matrices:
        A = nm.array if spec.accepts_sparse and hasattr(nm.array, "tocsr") else _densify(nm.array)
        ap = approximate(A, method=method, rank=rank, tol=tol, energy=energy, rng=seed, spectrum=reference,
                         **(options or {}))
        if ap.spectrum is None and (plot is not None or ap.report.optimal_fro_error is None):
            ref = _reference_spectrum(nm.array)
            ap = ap if ref is None else with_reference(ap, ref)
        rows.append((nm, ap))
    several = len(rows) > 1
    if output is not None:
        arrays: dict[str, np.ndarray] = {}
        for nm, ap in rows:
            arrays.update(_factor_arrays(f"{nm.name}." if several else "", ap.factors))
        save_arrays(output, arrays, protect=inputs)
    if plot is not None:
        from .plot import save_figure, spectrum_figure

        for nm, ap in rows:
            if ap.spectrum is None:
                raise ValueError(f"--plot: {nm.name} is too large for an exact spectrum "
                                 f"({REFERENCE_MAX_ENTRIES:,} entries at most)")
            fig = spectrum_figure(ap.spectrum, ap.report.rank, title=f"{nm.name} ({ap.report.method})")
            save_figure(fig, _plot_path(plot, nm.name, several), protect=inputs)
    _render(rows, method, seed, as_json, output, plot)


def _render(rows: list[tuple[NamedMatrix, Approximation]], method: str, seed: int, as_json: bool,
            output: Path | None, plot: Path | None) -> None:
    if as_json:
        payload = [{"name": nm.name, "dtype": str(nm.array.dtype), "seed": seed, **ap.report.to_dict()}
                   for nm, ap in rows]
        typer.echo(json.dumps(payload, indent=2))
        return
    console = _console()
    console.print(_table(rows, method, seed))
    if method in ("id", "cur"):  # the skeleton's index counts and choices (issue 4)
        for nm, ap in rows:
            console.print(f"{nm.name}: " + ", ".join(f"{k}={v}" for k, v in ap.report.options.items()), markup=False)
    if output is not None:
        console.print(f"factors written to {output}")
    if plot is not None:
        console.print(f"plot written to {plot}")


# --------------------------------------------------------------------- matrix chains and gradients (issue 8)


def _parse_shape(text: str) -> tuple[int, ...]:
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"shape {text!r} must look like 1000x1000 (a matrix) or 1000 (a vector) with "
                         "positive sizes")
    return tuple(int(p) for p in parts)


def _time_orders(shapes: list[tuple[int, ...]], seed: int, repeats: int) -> Table:
    import time

    from .linalg.chain import ORDERS, chain_dot, chain_plan

    gen = np.random.default_rng(seed)
    arrays = [gen.standard_normal(s) for s in shapes]
    t = Table(title=f"rankwise chain --time  (seed={seed}, median of {repeats})", header_style="bold")
    for col in ("order", "parenthesisation", "multiply-adds", "time"):
        t.add_column(col, justify="left" if col in ("order", "parenthesisation") else "right")
    for order in ORDERS:
        plan = chain_plan(shapes, order=order)  # type: ignore[arg-type]
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            chain_dot(*arrays, plan=plan)
            times.append(time.perf_counter() - t0)
        t.add_row(order, plan.parenthesization, f"{plan.cost:,}", f"{sorted(times)[len(times) // 2]:.4f} s")
    return t


@app.command()
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
    from .linalg.chain import chain_plan

    parsed = [_parse_shape(s) for s in shapes]
    plan = chain_plan(parsed)
    console = _console()
    console.print(str(plan), markup=False, highlight=False)
    if time_it:
        if repeats < 1:
            raise ValueError(f"--repeats must be >= 1; got {repeats}")
        console.print(_time_orders(parsed, seed, repeats))


@app.command()
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
    from .calculus import gradient

    g = gradient(expr, wrt, scalars=tuple(scalars or ()))
    if latex:
        typer.echo(f"\\nabla_{{{wrt}}} \\left({g.of.latex}\\right) = {g.latex}")
    else:
        typer.echo(f"∇_{wrt} {g.of.text} = {g.text}")

# ---------------------------------------------------------------- optimisation: rates, fit (issue 6)

def _read_columns(path: Path) -> dict[str, np.ndarray]:
    """Numeric columns of a text/CSV file: one column, or several with an optional header row."""
    from .io import InputError

    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2:
            raise InputError(f"{path}: expected a 1-D or 2-D array; got shape {arr.shape}")
        return {f"column {j}": np.asarray(arr[:, j], dtype=np.float64) for j in range(arr.shape[1])}
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise InputError(f"{path}: holds no data")
    sep = "," if "," in lines[0] else None
    rows = [[c.strip() for c in ln.split(sep)] for ln in lines]

    def numeric(row: list[str]) -> bool:
        try:
            [float(c) for c in row]
        except ValueError:
            return False
        return True

    header = None if numeric(rows[0]) else rows[0]
    body = rows[1:] if header is not None else rows
    if not body:
        raise InputError(f"{path}: has a header but no data rows")
    width = len(header) if header is not None else len(body[0])
    for i, row in enumerate(body):
        if len(row) != width or not numeric(row):
            raise InputError(f"{path}: row {i + 1 + (header is not None)} must hold {width} numbers; got {row!r}")
    data = np.array([[float(c) for c in row] for row in body], dtype=np.float64)
    names = header if header is not None else [f"column {j}" for j in range(width)]
    return {name: data[:, j] for j, name in enumerate(names)}


def _rates_table(reports: list[tuple[str, Any]], title: str) -> Table:
    t = Table(title=title, header_style="bold")
    for col in ("sequence", "kind", "q", "root test", "ratio mean / inf / sup", "order p", "power s", "window",
                "floor at", "confidence"):
        t.add_column(col, justify="left" if col in ("sequence", "kind") else "right", overflow="fold")

    def g(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4g}"

    for name, rep in reports:
        ratio = f"{g(rep.q_ratio)} / {g(rep.ratio_inf)} / {g(rep.ratio_sup)}"
        t.add_row(name, rep.kind, g(rep.q), g(rep.q_root), ratio,
                  g(rep.order), g(rep.power), f"[{rep.window[0]}, {rep.window[1]})",
                  "—" if rep.floor_index is None else str(rep.floor_index), rep.confidence)
    return t


@app.command("rates")
@_cli_command
def rates_cmd(
    file: Annotated[Path, typer.Argument(help="A column of numbers r_k (.txt/.csv/.npy), or several columns "
                                              "with a header row.", show_default=False)],
    start: Annotated[int, typer.Option("--start", help="The index k of the first term.")] = 1,
    floor: Annotated[float | None, typer.Option("--floor", help="Ignore terms at or below this level.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Classify the convergence of sequences (linear / sublinear / superlinear / order p) and estimate q."""
    from .rates import analyze

    reports = [(name, analyze(col, start=start, floor=floor)) for name, col in _read_columns(file).items()]
    if as_json:
        typer.echo(json.dumps([{"sequence": n, **r.to_dict()} for n, r in reports], indent=2))
        return
    console = _console()
    console.print(_rates_table(reports, f"rankwise rates  ({file.name})"))
    for name, rep in reports:
        for note in rep.notes:
            console.print(f"{name}: {note}", markup=False)


def _design(columns: dict[str, np.ndarray], target: str, standardize: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if target not in columns:
        raise ValueError(f"--target {target!r} is not a column; columns: {', '.join(columns)}")
    y = columns[target]
    names = [c for c in columns if c != target]
    if not names:
        raise ValueError("the data has no feature columns besides the target")
    X = np.column_stack([columns[c] for c in names])
    if standardize:
        sd = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return np.column_stack([X, np.ones(len(y))]), y, [*names, "intercept"]


def _fit_metrics(model: str, problem: Any, w: np.ndarray, w_star: np.ndarray | None) -> list[tuple[str, str]]:
    out = [("loss", f"{problem.loss(w):.6g}"), ("‖∇L‖", f"{float(np.linalg.norm(problem.gradient(w))):.3e}")]
    if model == "linear":
        resid = problem.X @ w - problem.y
        tss = float(np.sum((problem.y - problem.y.mean()) ** 2))
        out += [("RMSE", f"{math.sqrt(float(np.mean(resid**2))):.6g}"),
                ("R²", f"{1 - float(np.sum(resid**2)) / tss:.6f}" if tss > 0 else "n/a")]
        if w_star is not None:
            rel = float(np.linalg.norm(w - w_star)) / max(float(np.linalg.norm(w_star)), 1e-300)
            out.append(("‖w − w*‖/‖w*‖ (w* = closed form)", f"{rel:.3e}"))
    else:
        p = problem.predict_proba(w)
        out.append(("accuracy", f"{float(np.mean((p >= 0.5) == (problem.y == 1))):.4f}"))
    return out


@app.command("fit")
@_cli_command
def fit_cmd(
    data: Annotated[Path, typer.Argument(help="CSV with a header row; every column but the target is a feature.",
                                         show_default=False)],
    target: Annotated[str, typer.Option("--target", "-t", help="The column to predict.")],
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
) -> None:
    """Train a linear or logistic model with an optimiser; print progress, metrics and the rate of convergence."""
    from .optim import METHODS as OPT_METHODS
    from .optim import LinearRegression, LogisticRegression, Stop, minimize
    from .rates import analyze

    model = _checks_choice(model, ("linear", "logistic"), "model")
    method = _checks_choice(method, (*OPT_METHODS, "closed-form"), "method")
    if plot is not None:
        if method == "closed-form":
            raise ValueError("--plot needs an iterative method (closed-form has no convergence curve)")
        check_output(plot, suffixes=(".png",), protect=[data])
    X, y, names = _design(_read_columns(data), target, standardize)
    problem: Any = LinearRegression(X, y) if model == "linear" else LogisticRegression(X, y, l2=l2)
    w_star = problem.solution() if model == "linear" else None
    console = _console()
    console.print(f"rankwise fit  (model={model}, method={method}, N={X.shape[0]}, d={X.shape[1]}, seed={seed})")
    if method == "closed-form":
        if model != "linear":
            raise ValueError("--method closed-form is only for --model linear (logistic regression has no closed form)")
        assert w_star is not None
        w, report = w_star, None
        console.print("closed form through rankwise.lstsq (SVD), no iterations")
    else:
        every = max(1, max_iter // 10)

        def progress(info: Any) -> bool:
            if info.iteration % every == 0:
                console.print(f"  iter {info.iteration:6d}   L = {info.f:.6e}   ‖∇L‖ = {info.grad_norm:.3e}")
            return False

        res = minimize(problem, np.zeros(X.shape[1]), method=method, lr=lr, batch=batch, max_iter=max_iter,
                       stop=Stop(gtol=gtol), rng=seed, x_star=w_star, callback=progress)
        w = res.x
        seq = res.history.error if res.history.error is not None else res.history.grad_norm
        report = analyze(seq) if seq.size >= 3 else None
        console.print(f"{res.status.value} after {res.iterations} iterations ({res.seconds:.3f} s); "
                      f"options: {dict(res.options)}", markup=False)
    t = Table(title="result", header_style="bold")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in _fit_metrics(model, problem, w, w_star):
        t.add_row(k, v)
    for name, val in zip(names, w, strict=True):
        t.add_row(f"weight {name}", f"{float(val):.6g}")
    console.print(t)
    if report is not None:
        what = "‖w_k − w*‖" if model == "linear" else "‖∇L(w_k)‖"
        console.print(f"rate of {what}: {report}", markup=False)
        if plot is not None:
            from .plot import convergence_figure, save_figure

            save_figure(convergence_figure({method: seq}, ylabel=what, title=f"{model} regression, {method}"),
                        plot, protect=[data])
            console.print(f"plot written to {plot}")


def _checks_choice(value: str, options: tuple[str, ...], name: str) -> str:
    if value not in options:
        raise ValueError(f"unknown --{name} {value!r}; valid: {', '.join(options)}")
    return value


# --------------------------------------------------------------------------- LoRA and compression (issue 5)

lora_app = typer.Typer(help="LoRA adapters: extract one from a fine-tune, merge one into a checkpoint.",
                       no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(lora_app, name="lora")

_CheckpointArg = Annotated[Path, typer.Argument(exists=True, help="A .safetensors file or a folder of shards.")]
_TargetsOpt = Annotated[list[str] | None, typer.Option(
    "--targets", help="Module-name pattern (fnmatch, whole name or trailing part); repeatable.")]


def _protected(*paths: Path) -> list[Path]:
    """The inputs, and every file inside an input folder."""
    out = []
    for p in paths:
        out.append(p)
        if p.is_dir():
            out.extend(q for q in p.iterdir() if q.is_file())
    return out


def _layer_progress(label: str) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)


def _extract_table(reports: list[Any], title: str) -> Table:
    t = Table(title=title, header_style="bold")
    for col in ("layer", "kind", "shape", "rank", "rel. error", "energy kept", "adapter params", "time"):
        t.add_column(col, justify="left" if col in ("layer", "kind") else "right", overflow="fold")
    for r in reports:
        t.add_row(r.name, r.kind, "×".join(map(str, r.shape)), str(r.rank), _fmt(r.rel_error),
                  f"{100 * r.energy:.4f}%", f"{r.params:,}", f"{r.seconds:.3f} s")
    return t


@lora_app.command("extract")
@_cli_command
def lora_extract(
    base: _CheckpointArg,
    tuned: _CheckpointArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Adapter folder to write (PEFT format).")],
    rank: Annotated[int | None, typer.Option("--rank", help="The same rank for every layer (default 16).")] = None,
    energy: Annotated[float | None, typer.Option("--energy", help="Per layer, fraction of Σσ² of ΔW kept.")] = None,
    tol: Annotated[float | None, typer.Option("--tol", help="Per layer, relative Frobenius error of ΔW.")] = None,
    targets: _TargetsOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the randomized SVD.")] = 0,
) -> None:
    """Extract a LoRA adapter (PEFT format) from BASE and TUNED: truncated SVD of ΔW per layer."""
    from .nn.checkpoint import as_source
    from .nn.extract import iter_extract, plan_extraction
    from .nn.peft_io import write_adapter

    if rank is None and energy is None and tol is None:
        rank = 16
    b = as_source(base, func="lora extract", name="BASE")
    t = as_source(tuned, func="lora extract", name="TUNED")
    plan = plan_extraction(b, t, targets, func="lora extract")
    reports: list[Any] = []
    with _layer_progress("extracting") as bar:
        task = bar.add_task("", total=len(plan))

        def layers() -> Iterator[tuple[str, Any]]:
            for name, f, rep in iter_extract(b, t, plan, rank=rank, energy=energy, tol=tol, rng=seed,
                                             func="lora extract"):
                reports.append(rep)
                bar.update(task, completed=len(reports), description=name)
                yield name, f

        write_adapter(output, layers(), protect=_protected(base, tuned))
    rule = f"rank={rank}" if rank is not None else (f"energy={energy}" if energy is not None else f"tol={tol}")
    console = _console()
    console.print(_extract_table(reports, f"rankwise lora extract  ({rule}, seed={seed})"))
    skipped = len(plan) - len(reports)
    total = sum(r.params for r in reports)
    console.print(f"{len(reports)} layers, {total:,} adapter parameters"
                  + (f"; {skipped} unchanged layers skipped" if skipped else "") + f"; written to {output}",
                  markup=False)


@lora_app.command("merge")
@_cli_command
def lora_merge(
    base: _CheckpointArg,
    adapter: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="PEFT adapter folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Merged .safetensors file to write.")],
) -> None:
    """Merge a LoRA adapter into BASE: W = W₀ + (α/r)·BA for every adapted layer."""
    from .nn.checkpoint import as_source, write_safetensors
    from .nn.peft_io import load_adapter, merged_tensors

    ad = load_adapter(adapter)
    src = as_source(base, func="lora merge", name="BASE")
    with _layer_progress("merging") as bar:
        task = bar.add_task("", total=len(src.keys()))

        def tensors() -> Iterator[tuple[str, Any]]:
            for i, (key, t) in enumerate(merged_tensors(src, ad)):
                bar.update(task, completed=i + 1, description=key)
                yield key, t

        write_safetensors(output, tensors(), protect=_protected(base, adapter))
    t = Table(title=f"rankwise lora merge  ({adapter})", header_style="bold")
    for col in ("layer", "kind", "rank", "alpha"):
        t.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    for name, f in ad.layers.items():
        t.add_row(name, f.kind, str(f.rank), f"{f.alpha:g}")
    console = _console()
    console.print(t)
    console.print(f"{len(ad.layers)} layers merged; written to {output}", markup=False)


@app.command("compress")
@_cli_command
def compress_cmd(
    model: _CheckpointArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Compressed .safetensors file to write.")],
    ratio: Annotated[float | None, typer.Option("--ratio", help="Fraction of each layer's weights kept.")] = None,
    energy: Annotated[float | None, typer.Option("--energy", help="Per layer, fraction of Σσ² kept.")] = None,
    method: Annotated[str, typer.Option("--method", help="svd, asvd or whiten.")] = "svd",
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", exists=True, dir_okay=False,
        help="Input statistics (.safetensors from rankwise.nn.calibrate(...).save); asvd and whiten.")] = None,
    targets: _TargetsOpt = None,
) -> None:
    """Replace MODEL's linear weights W by low-rank factors A (r×in), B (out×r): keys NAME.A, NAME.B."""
    from .nn.checkpoint import as_source, write_safetensors
    from .nn.compression import Calibration, iter_compress, plan_compression

    src = as_source(model, func="compress", name="MODEL")
    plan = plan_compression(src, targets)
    cal = Calibration.load(calibration) if calibration is not None else None
    reports: list[Any] = []
    with _layer_progress("compressing") as bar:
        task = bar.add_task("", total=len(plan))

        def tensors() -> Iterator[tuple[str, Any]]:
            for key, t, rep in iter_compress(src, plan, ratio=ratio, energy=energy, method=method, calibration=cal):
                if rep is not None:
                    reports.append(rep)
                    bar.update(task, completed=len(reports), description=rep.name)
                yield key, t

        write_safetensors(output, tensors(), protect=_protected(model) + ([calibration] if calibration else []))
    t = Table(title=f"rankwise compress  (method={method}, "
                    f"{f'ratio={ratio}' if ratio is not None else f'energy={energy}'})", header_style="bold")
    for col in ("layer", "shape", "rank", "params before → after", "rel. weight error", "whitening"):
        t.add_column(col, justify="left" if col in ("layer", "whitening") else "right", overflow="fold")
    for r in reports:
        t.add_row(r.name, "×".join(map(str, r.shape)), str(r.rank), _storage(r.params_before, r.params_after),
                  _fmt(r.rel_error), r.whitening)
    console = _console()
    console.print(t)
    before, after = sum(r.params_before for r in reports), sum(r.params_after for r in reports)
    console.print(f"{len(reports)} of {len(plan)} layers compressed: {_storage(before, after)} weights; "
                  f"written to {output}", markup=False)

# ---------------------------------------------------------------- CR approximate matrix products (issue 4)

MATMUL_DEFAULT = (500, 2000, 400)  # built-in A (m × n) and B (n × p)


def _default_factors(seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """A = G₁ diag(s), B = diag(s) G₂ with log-normal scales s: outer products of very unequal size."""
    m, n, p = MATMUL_DEFAULT
    gen = np.random.default_rng(seed)
    s = np.exp(gen.standard_normal(n))
    A = gen.standard_normal((m, n)) * s
    B = s[:, None] * gen.standard_normal((n, p))
    return A, B, f"default {m}×{n} · {n}×{p}, log-normal column scales"


def _one_matrix(path: Path) -> np.ndarray:
    (nm, *rest) = load_matrices(path)
    if rest:
        raise ValueError(f"{path}: holds {len(rest) + 1} matrices; matmul needs a file with one")
    return np.asarray(_densify(nm.array))


@app.command("matmul")
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
) -> None:
    """Approximate A @ B by sampled outer products (CR) and compare with the exact product."""
    from .linalg.matmul import cr_expected_error, cr_matmul

    if (a is None) != (b is None):
        raise ValueError("give both A and B, or neither (the built-in pair)")
    if a is None or b is None:
        A, B, name = _default_factors(seed)
    else:
        A, B, name = _one_matrix(a), _one_matrix(b), f"{a.name} · {b.name}"
    c = samples if samples is not None else max(1, int(getattr(A, "shape", (0, 10))[-1]) // 10)
    expected = cr_expected_error(A, B, c, method=method)  # type: ignore[arg-type]  # validates A, B, c first
    t0 = time.perf_counter()
    exact = A @ B  # before CR: it also warms up the BLAS threads, which would otherwise bill the CR product
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    approx_ab = cr_matmul(A, B, c, method=method, rng=seed)  # type: ignore[arg-type]
    t_cr = time.perf_counter() - t0
    norm = float(np.linalg.norm(exact))
    rel = float(np.linalg.norm(exact - approx_ab)) / norm if norm > 0 else 0.0
    rel_expected = math.sqrt(expected) / norm if norm > 0 else 0.0
    row = {"inputs": name, "shape_A": list(A.shape), "shape_B": list(B.shape), "method": method, "samples": c,
           "seed": seed, "rel_error": rel, "expected_rel_error": rel_expected, "seconds_cr": t_cr,
           "seconds_exact": t_exact}
    if as_json:
        typer.echo(json.dumps(row, indent=2))
        return
    t = Table(title=f"rankwise matmul  (method={method}, samples={c} of {A.shape[1]}, seed={seed})",
              header_style="bold")
    for col in ("inputs", "rel. error ‖AB − CR‖/‖AB‖", "expected (RMS, closed form)", "time CR", "time exact"):
        t.add_column(col, justify="left" if col == "inputs" else "right", overflow="fold")
    t.add_row(name, f"{rel:.3e}", f"{rel_expected:.3e}" + (" (exact)" if method == "topk" else ""),
              f"{t_cr:.4f} s", f"{t_exact:.4f} s")
    _console().print(t)


# ------------------------------------------------------------- retrieval with an expensive scorer (issue 10)

retrieval_app = typer.Typer(help="k-NN search with an expensive scorer through CUR (ANNCUR).",
                            no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(retrieval_app, name="retrieval")


def _int_list(text: str, option: str) -> list[int]:
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
) -> None:
    """Recall@k against scorer pairs per query: ANNCUR, adaptive ANNCUR and random re-ranking."""
    from .plot import save_figure
    from .retrieval import evaluate, recall_figure, synthetic_scores

    bs, kk = _int_list(budgets, "--budgets"), _int_list(ks, "--ks")
    if plot is not None:
        check_output(plot, suffixes=(".png",), protect=[matrix] if matrix else [])
    if matrix is None:
        M = synthetic_scores(_checks_choice(kind, ("kernel", "lowrank"), "kind"), queries, items,  # type: ignore[arg-type]
                             rng=seed)
        name = f"built-in {kind} {queries}×{items}"
    else:
        M, name = _one_matrix(matrix), matrix.name
    rep = evaluate(M, bs, ks=kk, n_anchor_queries=anchor_queries, n_test=test, anchor_fraction=anchor_fraction,
                   rounds=rounds, select=select, rng=seed)  # type: ignore[arg-type]
    title = (f"rankwise retrieval eval  ({name}; {anchor_queries} anchor queries, {rep.n_test} test queries, "
             f"select={select}, rounds={rounds}, seed={seed})")
    if plot is not None:
        save_figure(recall_figure(rep, title=name), plot, protect=[matrix] if matrix else [])
    if as_json:
        typer.echo(json.dumps(rep.as_dict(), indent=2))
        return
    console = _console()
    console.print(_recall_table(rep, title))
    console.print(f"offline: {rep.offline_pairs[-1]:,} scorer pairs (anchor queries × items) per index"
                  + (f"; plot written to {plot}" if plot is not None else ""), markup=False)


def main() -> None:
    """Console-script entry point."""
    app()
