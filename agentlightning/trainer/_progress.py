"""A progress bar for the trainer: rich on a terminal when it is installed, one plain line otherwise,
nothing at all when stderr is not a terminal (CI logs stay clean)."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    def __init__(self, total: int, description: str, enabled: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._description = description
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._rich: Any = None
        self._task: Any = None
        self._plain = False
        if not enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress
        except ImportError:
            self._plain = True
            return
        self._rich = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),  # stdout belongs to the program
            transient=False,
        )
        self._rich.start()
        self._task = self._rich.add_task(description, total=total)

    def advance(self, succeeded: int, failed: int) -> None:
        self.done += succeeded + failed
        self.failed += failed
        if self._rich is not None:
            suffix = f" ({self.failed} failed)" if self.failed else ""
            self._rich.update(self._task, completed=self.done, description=self._description + suffix)
        elif self._plain:
            sys.stderr.write(f"\r{self._description}: {self.done}/{self.total} ({self.failed} failed)")
            sys.stderr.flush()

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
        elif self._plain:
            sys.stderr.write("\n")
