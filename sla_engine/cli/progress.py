"""Progress on a terminal for the long commands (evaluate, sync, diff, report, deliver); nothing otherwise.

Bars are drawn on standard error only when standard output and standard error are both a
terminal, and erased when the command ends, so its results print as they always do. Under cron,
in CI, through a pipe or into a file nothing is drawn: logs hold results, never bar frames.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Update = Callable[[int, "int | None"], None]
"""Tell a bar how far its work is: (done, total, or None when the total is not known)."""

REFRESH = 0.1  # seconds between two updates of one bar: a run of a million leads calls it a million times


def on_terminal() -> bool:
    """Whether a person is watching: both output streams are a terminal that can redraw a line."""
    return sys.stdout.isatty() and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


class Bars:
    """The bars of one command, or none at all (every update then does nothing)."""

    def __init__(self, progress: Any | None) -> None:
        self._progress = progress

    @property
    def shown(self) -> bool:
        """Whether bars are drawn: work that only a bar's total needs (a count) can be left undone."""
        return self._progress is not None

    def bar(self, description: str) -> Update:
        """A bar, shown from its first update; the function returned moves it (cheaply: it redraws a
        few times a second at most, however often it is called)."""
        if self._progress is None:
            return _nothing
        progress = self._progress
        task: Any = None
        last = 0.0

        def update(done: int, total: int | None = None) -> None:
            nonlocal last, task
            now = time.monotonic()
            if task is not None and now - last < REFRESH and done != total:
                return
            last = now
            if task is None:
                task = progress.add_task(description, total=total)
            progress.update(task, completed=done, total=total)

        return update


@contextmanager
def bars(enabled: bool = True) -> Iterator[Bars]:
    """Progress bars for the duration of a command, on standard error, when a person watches."""
    if not (enabled and on_terminal()):
        yield Bars(None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield Bars(progress)


def _nothing(done: int, total: int | None = None) -> None:
    return None
