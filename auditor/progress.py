"""Progress a person can read: one line per stage with the plan's ETA, moved
from inside long loops through `update(stage, done, total)`.

Stages call the module-level `update`; it does nothing unless the CLI has
installed a display (only on a terminal, never with `--json -`), so checks
and search stages stay independent of how (or whether) progress is shown.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

_display = None


def update(stage: str, done: int, total: int) -> None:
    """`done` of `total` work units of `stage` are finished (no-op without a display)."""
    if _display is not None:
        _display.update(stage, done, total)


def wanted(json_out: str | None, stream=None) -> bool:
    """A live display only for a person at a terminal, never when JSON goes to stdout."""
    stream = stream or sys.stderr
    return json_out != "-" and bool(getattr(stream, "isatty", lambda: False)())


def quiet_transformers() -> None:
    try:
        from transformers.utils import logging as tlog

        tlog.disable_progress_bar()
    except Exception:  # noqa: BLE001 — a transformers version without it
        pass


def quiet_libraries() -> None:
    """Silence the hub's download bars (and transformers' "Loading weights" when it is
    already imported; the model loader silences it otherwise): the audit's own display
    says what is happening. Never imports transformers: a JSON-only scan must start fast."""
    if "transformers" in sys.modules:
        quiet_transformers()
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except Exception:  # noqa: BLE001
        pass


class RichDisplay:
    """A rich progress bar per stage; `etas` are the plan's estimated seconds."""

    def __init__(self, console, etas: dict[str, float] | None = None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.etas = dict(etas or {})
        self.progress = Progress(
            TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"), console=console, transient=True,
        )
        self.tasks: dict[str, int] = {}
        self.started: dict[str, float] = {}

    def _eta(self, stage: str) -> str:
        est = self.etas.get(stage)
        return f"plan ~{est:.0f}s" if est is not None else ""

    def update(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=max(1, total), eta=self._eta(stage))
            self.started[stage] = time.perf_counter()
        self.progress.update(self.tasks[stage], completed=done, total=max(1, total))

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()
        return False


@contextlib.contextmanager
def showing(display) -> Iterator[None]:
    """Install `display` (or nothing, with None) for the duration of an audit."""
    global _display
    old = _display
    _display = display
    try:
        if display is None:
            yield
        else:
            with display:
                yield
    finally:
        _display = old
