"""Atomic writes: a reader never sees a half-written risk list (CONTRACT.md).

Every CSV the project writes is also safe to open in a spreadsheet: a text cell that a
spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return, e.g. a therapist id ``=HYPERLINK(...)`` in a clinic's export) gets a
leading single quote, as OWASP advises for CSV injection, so it shows as the text it is.
Numbers are never touched (a negative ``risk_change`` stays a number), and Parquet keeps
every value as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from configs.errors import InputError


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    The rename is atomic on one file system, so ``path`` holds either the old content or
    the complete new one, also when the process is killed half-way.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the permissions a plain write would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# the first characters with which a spreadsheet reads a cell as a formula (OWASP)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that would run as a formula prefixed by ``'``.

    Only text columns are looked at; a column with no such cell is left as it is, and
    ``frame`` itself is never changed.

    Examples
    --------
    >>> neutralised(pd.DataFrame({"id": ["@SUM(1+1)", "A"], "x": [-1.5, 2.0]})).to_dict("list")
    {'id': ["'@SUM(1+1)", 'A'], 'x': [-1.5, 2.0]}
    """
    changed = {}
    for name in frame.columns:
        column = frame[name]
        if not (
            pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype)
        ):
            continue
        text = _text_cells(column).str.startswith(FORMULA_STARTS).fillna(False).astype(bool)
        if text.any():
            changed[name] = column.where(~text, "'" + column.astype(object).where(text, ""))
    return frame.assign(**changed) if changed else frame


# the extensions write_table knows (the commands check them before any work is done)
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write CSV or Parquet, chosen by the extension, atomically."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        # booleans as the contract spells them (true / false), not Python's True / False
        flags = frame.select_dtypes("bool").columns
        text = frame.assign(**{c: frame[c].map({True: "true", False: "false"}) for c in flags})
        safe = neutralised(text)
        return atomic_write(path, lambda tmp: _to_csv(safe, tmp))
    if suffix in TABLE_SUFFIXES:  # .parquet or .pq
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    raise InputError(
        f"{path}: unknown output format {suffix!r}. Fix: end the file name in .csv or .parquet."
    )


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV as pandas spells it (no index), atomically.

    Unlike :func:`write_table`, booleans keep pandas' spelling (``True`` / ``False``), so
    the file is byte for byte ``frame.to_csv(index=False)`` except for text cells that
    would run as formulas, which are :func:`neutralised`.
    """
    safe = neutralised(frame)
    return atomic_write(path, lambda tmp: _to_csv(safe, tmp))


def _to_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_csv`` with lines ending in ``\n``, or ``\r\n`` when a text cell holds a
    carriage return: the writer quotes only cells holding the line ending, so a lone
    ``\r`` would otherwise end the row for every reader."""
    texts = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    carriage = any(_text_cells(frame[c]).str.contains("\r", regex=False).any() for c in texts)
    frame.to_csv(path, index=False, lineterminator="\r\n" if carriage else "\n")


def _text_cells(column: pd.Series) -> pd.Series:
    """The column's text cells as strings, every other cell (numbers, None, NaN) missing,
    so string methods look at text only (a number is never a formula)."""
    if pd.api.types.is_string_dtype(column.dtype) and not pd.api.types.is_object_dtype(
        column.dtype
    ):
        return column
    is_text = column.map(type).isin([str, np.str_])
    return column.where(is_text).astype("string")
