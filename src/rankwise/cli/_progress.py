"""Progress bars on stderr."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console


def _progress_bar(label: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback drawing a rich progress bar on stderr (one bar per pass).

    A call with ``done`` not above the last one starts a new bar; logs and pipes get none.
    """
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
