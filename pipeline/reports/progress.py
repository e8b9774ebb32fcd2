"""Progress a person can read, for the long commands (``train``, ``promote``, ``demo``).

The pipeline reports progress through a callback, ``progress(text)``
(``models.training.Progress``). A command's own stages are announced with ``stage``
below; the work inside a stage whose size is known (the folds and candidates of
training) is numbered by ``models.training.Steps``, which tells a callback that has a
``step`` method each step's number and the total. ``Reporter`` is that callback: it
counts the stages against the total its command declares and shows

* on a terminal, a rich progress bar on stderr: one line for the command's stage, one
  for the step within it, each with its count done, the time elapsed and the time left;
* otherwise (CI, cron, a pipe, a test runner), one plain line per stage or step, such as
  ``train [3/7] [5/42] cross-validating logistic (configuration 2 of 8), fold 1 of 4``:
  no source path, no escape codes, no spinner.

The texts describe the work (stage names, candidate names, counts), never data: no
client ids, no rows. ``rich.progress`` is imported only when a bar is shown.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.text import Text


def stage(progress: Callable[[str], None] | None, text: str) -> None:
    """Begin the next stage of a command: a ``Reporter`` counts it; any other callback
    hears ``text`` alone; ``None`` nothing."""
    if progress is None:
        return
    begin = getattr(progress, "stage", None)
    if callable(begin):
        begin(text)
    else:
        progress(text)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class _Lines:
    """One plain line per stage, step and message."""

    def __init__(self, console: Console, title: str) -> None:
        self.console, self.title = console, title

    def _print(self, line: str) -> None:
        # a Text is never read as markup; soft_wrap: a long line stays one line
        self.console.print(Text(line), soft_wrap=True)

    def _where(self, stage: tuple[int, int]) -> str:
        """The title and, once a stage has begun, its count: ``train [3/7]``."""
        return f"{self.title} [{stage[0]}/{stage[1]}]" if stage[0] else self.title

    def stage(self, number: int, total: int, text: str) -> None:
        self._print(f"{self._where((number, total))} {text}")

    def step(self, stage: tuple[int, int], number: int, total: int, text: str) -> None:
        self._print(f"{self._where(stage)} [{number}/{total}] {text}")

    def note(self, stage: tuple[int, int], text: str) -> None:
        self._print(f"{self._where(stage)} {text}")

    def finish(self, stages: int, seconds: float) -> None:
        self._print(f"{self.title} done in {_clock(seconds)}")

    def stop(self) -> None:
        pass


class _Bar:
    """rich's live progress display: the stage on one line, the step within it on the next."""

    def __init__(self, console: Console, title: str, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        self.title = title
        # the description takes the width the rest leaves (cut short with "…" on a
        # narrow terminal), so the bar, the count and the times always show
        description = Column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=12)
        self.progress = Progress(
            TextColumn("{task.description}", markup=False, table_column=description),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            # what is written to stdout meanwhile stays there (the command's output
            # proper); stderr's lines are put above the bar
            redirect_stdout=False,
            expand=True,
            # the time left from the stage's whole pace so far, not the last 30 seconds
            # (steps can take minutes each)
            speed_estimate_period=24 * 3600,
        )
        self.stages = self.progress.add_task(title, total=total)
        self.steps = None  # the current stage's steps, shown once it has any
        self.progress.start()

    def _steps(self, total: int | None, text: str) -> None:
        if self.steps is None:
            self.steps = self.progress.add_task(f"  {text}", total=total)
        self.progress.update(self.steps, description=f"  {text}", visible=True)

    def stage(self, number: int, total: int, text: str) -> None:
        if self.steps is not None:  # a new stage starts its steps afresh
            self.progress.remove_task(self.steps)
            self.steps = None
        self.progress.update(
            self.stages,
            description=f"{self.title}: {text}",
            completed=number - 1,
            total=total,
            refresh=True,
        )

    def step(self, stage: tuple[int, int], number: int, total: int, text: str) -> None:
        self._steps(total, text)
        self.progress.update(self.steps, completed=number - 1, total=total, refresh=True)

    def note(self, stage: tuple[int, int], text: str) -> None:
        self._steps(None, text)
        self.progress.refresh()

    def finish(self, stages: int, seconds: float) -> None:
        if self.steps is not None:
            self.progress.remove_task(self.steps)
            self.steps = None
        self.progress.update(
            self.stages, description=f"{self.title}: done", completed=stages, total=stages
        )

    def stop(self) -> None:
        self.progress.stop()


class Reporter:
    """The CLI's progress callback: counts a command's stages and shows them (see the module).

    ``stage(text)`` begins the next of ``stages`` stages; ``step(text, number, total)``
    (from ``models.training.Steps``) a counted step within it; ``reporter(text)`` says
    something within it without a count. Counts never pass their totals: a stage or step
    beyond its total raises the total.
    """

    def __init__(self, console: Console, title: str, stages: int) -> None:
        self.title = title
        self.number, self.total = 0, max(int(stages), 1)
        self.started = time.perf_counter()
        bar = console.is_terminal and not console.is_dumb_terminal
        self.view = _Bar(console, title, self.total) if bar else _Lines(console, title)

    def stage(self, text: str) -> None:
        self.number += 1
        self.total = max(self.total, self.number)
        self.view.stage(self.number, self.total, text)

    def step(self, text: str, number: int, total: int) -> None:
        number = max(int(number), 1)
        self.view.step((self.number, self.total), number, max(int(total), number), text)

    def __call__(self, text: str) -> None:
        self.view.note((self.number, self.total), text)

    def finish(self) -> None:
        """The command ended well: every stage it ran is done."""
        self.view.finish(self.number, time.perf_counter() - self.started)


@contextlib.contextmanager
def reporting(console: Console, title: str, stages: int) -> Iterator[Reporter]:
    """A ``Reporter`` for a command of ``stages`` stages, shown on ``console`` while the
    block runs; the bar stops when it ends, however it ends."""
    reporter = Reporter(console, title, stages)
    try:
        yield reporter
        reporter.finish()
    finally:
        reporter.view.stop()
