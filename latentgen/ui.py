"""Terminal output for the CLI: Rich progress bars for people, one JSON object per line for scripts.

Library code never prints; it calls a `ProgressFn(phase, fraction)` that the CLI builds here.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

ProgressFn = Callable[[str, float], None]


def quiet_progress(phase: str, fraction: float) -> None:
    """The default ProgressFn of every stage: report nothing."""


@dataclass
class Output:
    quiet: bool = False
    json: bool = False
    debug: bool = False
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True, highlight=False))
    out: Console = field(default_factory=lambda: Console(soft_wrap=True, highlight=False))

    def event(self, kind: str, **data) -> None:
        """One JSON line on stdout (only in --json mode)."""
        if self.json:
            sys.stdout.write(json.dumps({"event": kind, **data}, default=str) + "\n")
            sys.stdout.flush()

    def result(self, message: str, **data) -> None:
        """A finished piece of work: a line for people, a `result` event for scripts."""
        if self.json:
            self.event("result", **data)
        elif not self.quiet:
            self.out.print(message)

    def info(self, message: str) -> None:
        if not self.json and not self.quiet:
            self.err.print(message)

    def warn(self, message: str) -> None:
        if self.json:
            self.event("warning", message=message)
        else:
            self.err.print(f"[yellow]warning:[/] {escape(message)}")

    def error(self, message: str, exit_code: int, **data) -> None:
        """Errors always reach stderr as one line, whatever the mode."""
        self.event("error", message=message, exit_code=exit_code, **data)
        text = " ".join(message.split("\n"))
        self.err.print(f"[bold red]error:[/] {escape(text)}")

    @contextmanager
    def progress(self, label: str) -> Iterator[ProgressFn]:
        """A ProgressFn that drives a Rich bar (one task per phase) or emits JSON progress events."""
        if self.json:
            last: dict[str, float] = {}

            def report(phase: str, fraction: float) -> None:
                now = time.monotonic()
                # at most ~10 events per second per phase, but always the first and the last
                if fraction >= 1.0 or phase not in last or now - last[phase] > 0.1:
                    last[phase] = now
                    self.event("progress", task=label, phase=phase, fraction=round(float(fraction), 4))

            yield report
            return
        if self.quiet:
            yield quiet_progress
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
        )
        # Bars only on a terminal: redirected to a log, Rich would leave an empty line behind (use --json there)
        with Progress(*columns, console=self.err, transient=True, disable=not self.err.is_terminal) as bar:
            tasks: dict[str, int] = {}

            def report(phase: str, fraction: float) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(f"{escape(label)}: {escape(phase)}", total=1.0)
                bar.update(tasks[phase], completed=min(max(float(fraction), 0.0), 1.0))

            yield report
