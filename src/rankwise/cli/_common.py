"""What every command shares: the error boundary, the consoles, number formats and path checks."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import numpy as np
import typer
from rich.console import Console

from ..engine import densify
from ..io import load_matrices

F = TypeVar("F", bound=Callable[..., Any])
HELP = {"help_option_names": ["-h", "--help"]}


def _line(kind: str, message: object) -> None:
    """Print ``rankwise: KIND: MESSAGE`` on stderr, whitespace collapsed so that it is one line."""
    sys.stderr.write(f"rankwise: {kind}: {' '.join(str(message).split())}\n")


def _die(message: str) -> NoReturn:
    """Print ``rankwise: error: MESSAGE`` on stderr; exit 2."""
    _line("error", message)
    raise typer.Exit(code=2)


def _warn_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
               file: Any = None, line: str | None = None) -> None:
    """Show a warning as ``rankwise: warning: MESSAGE`` on one line of stderr (no source line)."""
    _line("warning", message)


def note(message: str) -> None:
    """Print ``rankwise: note: MESSAGE`` on stderr (information that is not part of the result)."""
    _line("note", message)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn any failure into one readable line on stderr and exit status 2; warnings into one line each."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warn_line
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
    """Run the command ``fn`` inside :func:`_errors`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _errors():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _console() -> Console:
    """A console for stdout, as wide as the terminal, ``$COLUMNS`` or else 80 columns.

    Tables wider than that are shown one block per row (see :func:`._render.show`)."""
    return Console(highlight=False)


def _fmt(x: float | None, spec: str = ".3e") -> str:
    """``x`` formatted by ``spec``, or ``n/a`` for None."""
    return "n/a" if x is None else format(x, spec)


def _storage(before: int, after: int) -> str:
    """``before → after (percent)`` with thousands separators."""
    pct = 100.0 * after / before if before else 0.0
    return f"{before:,} → {after:,} ({pct:.1f}%)"


def _checks_choice(value: str, options: tuple[str, ...], name: str) -> str:
    """``value`` if it is one of ``options``, else a ValueError naming the option ``--name``."""
    if value not in options:
        raise ValueError(f"unknown --{name} {value!r}; valid: {', '.join(options)}")
    return value


def _one_matrix(path: Path, header: bool | None = None) -> np.ndarray:
    """The one matrix a file holds, dense."""
    (nm, *rest) = load_matrices(path, header=header)
    if rest:
        raise ValueError(f"{path}: holds {len(rest) + 1} matrices; this command needs a file with one")
    _header_note(path, nm.header)
    return np.asarray(densify(nm.array))


def _header_note(path: Path, header: tuple[str, ...] | None) -> None:
    """Say on stderr that the first line of ``path`` was read as a header (and how to override)."""
    if header is not None:
        shown = ", ".join(header[:6]) + (", …" if len(header) > 6 else "")
        note(f"{path}: the first line read as a header ({shown}); pass --no-header to read it as numbers")


CheckpointArg = Annotated[Path, typer.Argument(exists=True, help="A .safetensors file or a folder of shards.",
                                               show_default=False)]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Replace output files that already exist (never "
                                                               "an input).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display on stderr.")]
HeaderOpt = Annotated[bool | None, typer.Option(
    "--header/--no-header", help="Whether a CSV/text file's first line is a header (default: when none of its "
                                 "cells looks like a number).", show_default=False)]
TargetsOpt = Annotated[list[str] | None, typer.Option(
    "--targets", help="Module-name pattern (fnmatch, whole name or trailing part); repeatable.")]
