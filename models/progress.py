"""Progress of long model work, told to a callback the command gives.

Pure: no terminal, no ``pipeline``. The command line turns these calls into a progress
bar or plain lines (``pipeline.reports.progress``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

# Called with a short description before each long step: ``progress(text)``.
Progress = Callable[[str], None]


@runtime_checkable
class CountedProgress(Protocol):
    """A progress callback that can also be told the count: ``step(text, number, total)``
    says step ``number`` (1-based) of ``total`` begins. ``Steps`` calls it instead of the
    plain ``progress(text)`` when the callback has it (``pipeline.progress`` has one)."""

    def __call__(self, text: str) -> None: ...

    def step(self, text: str, number: int, total: int) -> None: ...


class Steps:
    """Numbers the steps of one piece of work for a progress callback.

    ``expect(n)`` adds ``n`` steps to the total before they run and ``skip(n)`` takes
    away steps that will not run after all; each call ``steps(text)`` begins the next
    step. A ``CountedProgress`` hears ``step(text, number, total)``, any other callback
    ``text`` alone (as it always did), ``None`` nothing. The number never passes the
    total: a step beyond it raises the total. Only descriptions of the work are passed
    on (candidate names, counts), never data.
    """

    def __init__(self, progress: Progress | None = None, prefix: str = "") -> None:
        self.progress = progress
        self.prefix = prefix  # put before every text, e.g. "back-test fold 2/4: "
        self.number = 0
        self.total = 0

    def expect(self, n: int) -> None:
        self.total += max(int(n), 0)

    def skip(self, n: int) -> None:
        self.total = max(self.total - max(int(n), 0), self.number)

    def __call__(self, text: str) -> None:
        self.number += 1
        self.total = max(self.total, self.number)
        text = f"{self.prefix}{text}"
        if isinstance(self.progress, CountedProgress):
            self.progress.step(text, self.number, self.total)
        elif self.progress is not None:
            self.progress(text)


def develop_steps(n_folds: int, n_configs: int, own_calibration_folds: bool) -> int:
    """The steps ``develop`` counts: each configuration's folds, the calibration's own
    folds (when its sample is not the search's), the refit, the horizon model's folds and
    its refit."""
    return n_folds * (n_configs + int(own_calibration_folds) + 1) + 2
