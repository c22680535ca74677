"""Progress display shared by every long step: rich bars and spinners on a terminal, plain lines in CI.

In a thread labelled with `labelled(NAME)` (fleet runs: one thread per host) every line is prefixed
with NAME and steps print plain start/end lines, since rich shows one live display at a time.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

_thread = threading.local()


def current_label() -> str:
    return getattr(_thread, "label", "")


@contextlib.contextmanager
def labelled(label: str) -> Iterator[None]:
    """Prefix this thread's output with `label`."""
    old, _thread.label = current_label(), label
    try:
        yield
    finally:
        _thread.label = old


class _Console(Console):
    def print(self, *objects, **kwargs) -> None:
        label = current_label()
        if label:
            objects = (f"[bold]{escape(label)}[/bold] |", *objects)
        super().print(*objects, **kwargs)

    @property
    def is_terminal(self) -> bool:
        return super().is_terminal and not current_label()


console = _Console(stderr=True, highlight=False)


def make_progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                    TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                    console=console, transient=False, disable=not console.is_terminal)


@contextlib.contextmanager
def step(description: str, total: float | None = None) -> Iterator[StepHandle]:
    """A named step with elapsed time; in CI (no terminal) prints a start and an end line."""
    start = time.monotonic()
    prefix = f"{current_label()} | " if current_label() else ""
    if not console.is_terminal:
        print(f"[dunelab] {prefix}{description} ...", file=sys.stderr, flush=True)
    with make_progress() as progress:
        task = progress.add_task(description, total=total, detail="")
        handle = StepHandle(progress, task, description)
        try:
            yield handle
        except BaseException:
            if not console.is_terminal:
                print(f"[dunelab] {prefix}{description}: failed after {time.monotonic() - start:.1f}s",
                      file=sys.stderr, flush=True)
            raise
        progress.update(task, completed=total if total is not None else 1, total=total or 1)
    handle.elapsed = time.monotonic() - start
    if not console.is_terminal:
        print(f"[dunelab] {prefix}{description}: done in {handle.elapsed:.1f}s", file=sys.stderr, flush=True)


class StepHandle:
    def __init__(self, progress: Progress, task, description: str):
        self._progress = progress
        self._task = task
        self.description = description
        self.elapsed = 0.0
        self._last_plain = 0.0

    def update(self, detail: str = "", advance: float | None = None, completed: float | None = None) -> None:
        self._progress.update(self._task, detail=detail, advance=advance, completed=completed)
        # Without a terminal, echo a detail line at most every 10 s so CI logs show life.
        if detail and not console.is_terminal and time.monotonic() - self._last_plain > 10:
            self._last_plain = time.monotonic()
            label = f"{current_label()} | " if current_label() else ""
            print(f"[dunelab]   {label}{self.description}: {detail}", file=sys.stderr, flush=True)


def info(msg: str) -> None:
    console.print(msg)
