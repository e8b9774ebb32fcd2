"""Tables as the evaluation report and the model card show them.

A `Table` holds text only; ``templates/macros.html.j2`` draws it (every cell escaped, the
first cell of a row its header, numbers right-aligned) and the model card also writes it
as Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pipeline.reports.formatters import DASH, looks_numeric

# the by-landmark table's columns, in the evaluation report and the model card
LANDMARK_HEADERS: tuple[str, ...] = (
    "landmark",
    "episodes (weighted)",
    "dropout rate",
    "AUROC (95% CI)",
    "calibration intercept",
    "mean predicted risk",
)


@dataclass(frozen=True)
class Table:
    """One table: a caption, column headers and rows of already formatted cells.

    Attributes
    ----------
    caption, headers, rows
        Plain text; the template escapes it.
    numeric
        Which columns to right-align. None judges cell by cell whether a cell reads as a
        number (the evaluation report's way: thousands commas are not read, an en dash
        before digits is a minus sign).
    """

    caption: str
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    numeric: Sequence[bool] | None = None
    kind: ClassVar[str] = "table"

    def body(self) -> list[list[tuple[object, bool]]]:
        """Each row as ``(cell, right-align)`` pairs."""
        return [[(cell, self._aligned(i, cell)) for i, cell in enumerate(row)] for row in self.rows]

    def _aligned(self, column: int, cell: object) -> bool:
        if self.numeric is not None:
            return bool(self.numeric[column])
        return looks_numeric(str(cell), commas=False, dash_minus=True)


def numeric_columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[bool]:
    """Columns whose every cell is a number or a dash, and at least one a number.

    Examples
    --------
    >>> numeric_columns(["site", "episodes"], [["north", "1,204"], ["south", "–"]])
    [False, True]
    """
    out = []
    for i in range(len(headers)):
        cells = [row[i] for row in rows]
        out.append(
            bool(cells) and all(looks_numeric(c) for c in cells) and any(c != DASH for c in cells)
        )
    return out
