"""Progress displays on stderr: only on a terminal, never with ``--quiet``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console


def _stderr(quiet: bool) -> Console | None:
    """A console on stderr when a progress display may be drawn there, else None."""
    console = Console(stderr=True)
    return console if console.is_terminal and not quiet else None


def _progress_bar(label: str, quiet: bool = False) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback drawing a rich progress bar on stderr (one bar per pass).

    A call with ``done`` not above the last one starts a new bar; logs, pipes and ``--quiet``
    get none.
    """
    from rich.progress import Progress

    state: dict[str, Any] = {}
    console = _stderr(quiet)
    if console is None:
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


class _NoProgress:
    """The part of rich's ``Progress`` the commands use, doing nothing (pipes, logs, ``--quiet``)."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None) -> int:
        return 0

    def update(self, task: int, **kwargs: Any) -> None:
        return None


def _layer_progress(label: str, quiet: bool = False) -> Any:
    """A transient rich progress bar on stderr for per-layer work (none off a terminal or with ``quiet``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = _stderr(quiet)
    if console is None:
        return _NoProgress()
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                    TimeElapsedColumn(), console=console, transient=True)
