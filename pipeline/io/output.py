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
    ``\r`` would otherwise end the row for every reader.

    A frame of text, float, integer and boolean columns is written by :func:`_csv_lines`,
    byte for byte as pandas writes it in a fraction of the time (pandas passes every row
    through Python's csv module); any other frame by pandas.
    """
    texts = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    carriage = any(_text_cells(frame[c]).str.contains("\r", regex=False).any() for c in texts)
    line_end = "\r\n" if carriage else "\n"
    lines = _csv_lines(frame, line_end)
    if lines is None:
        frame.to_csv(path, index=False, lineterminator=line_end)
        return
    with open(path, "wb") as handle:
        for chunk in lines:
            handle.write(chunk)


# rows turned into text at a time by _csv_lines (bounds the memory of the text)
CSV_CHUNK_ROWS = 65_536


def _csv_lines(frame: pd.DataFrame, line_end: str):
    """The CSV file as chunks of UTF-8 bytes, as ``frame.to_csv(index=False)`` spells it,
    or None for a frame this does not write (pandas writes it instead).

    Pandas with its defaults writes each cell as ``str`` of its value (numbers through
    NumPy's ``astype(str)``), a missing cell as nothing, and quotes a cell only when it
    holds a comma, a double quote or a character of the line ending, doubling its quotes.
    Written here for frames of text (missing allowed), float64, int64 and bool columns
    with text names, at least two columns (Python's csv module quotes the empty cell of
    a one-column row).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if frame.shape[1] < 2 or not all(isinstance(name, str) for name in frame.columns):
        return None
    cells = []
    for name in frame.columns:
        column = _csv_cells(frame[name])
        if column is None:
            return None
        cells.append(column)
    header = [_csv_quoted(pa.array([name], pa.large_string())) for name in frame.columns]
    comma = pa.scalar(",", pa.large_string())
    end = pa.scalar(line_end, pa.large_string())
    none = pa.scalar("", pa.large_string())

    def text(columns) -> memoryview:
        lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, comma), end, none)
        return _characters(lines)  # the lines one after the other

    def chunks():
        yield text(header)
        for start in range(0, len(frame), CSV_CHUNK_ROWS):
            yield text([_csv_quoted(c.slice(start, CSV_CHUNK_ROWS)) for c in cells])

    return chunks()


def _csv_cells(column: pd.Series):
    """The column's cells as Arrow text, as pandas writes them (before quoting), or None."""
    import pyarrow as pa

    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "bif" and dtype.itemsize in (1, 8):
        return pa.array(_number_text(column.to_numpy()), pa.large_string())
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        cells = pa.chunked_array(column.array.__arrow_array__()).cast(pa.large_string())
        return cells.combine_chunks().fill_null("")
    is_object = pd.api.types.is_object_dtype(dtype)
    if isinstance(dtype, pd.StringDtype) or (
        is_object and pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")
    ):
        values = column.to_numpy(dtype=object, na_value=None)
        if is_object:
            values = np.where(pd.isna(values), None, values)
        return pa.array(values, pa.large_string()).fill_null("")
    return None


def _number_text(values: np.ndarray) -> np.ndarray:
    """NumPy's ``astype(str)`` of each value (what pandas writes), NaN as nothing, worked
    out once per distinct value (a risk list holds a few thousand distinct risks): values
    are told apart by their bits, so -0.0 stays -0.0."""
    missing = np.isnan(values) if values.dtype.kind == "f" else np.zeros(len(values), bool)
    bits = values.view(np.int64) if values.dtype.itemsize == 8 else values.view(np.int8)
    distinct, at = np.unique(bits[~missing], return_inverse=True)
    text = np.full(len(values), "", dtype=object)
    text[~missing] = distinct.view(values.dtype).astype(str).astype(object)[at]
    return text


def _csv_quoted(cells):
    """Cells holding a comma, a double quote or a line break in quotes, quotes doubled."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # most columns hold none of these characters anywhere: one scan of the column's
    # characters says so far faster than a match per cell
    characters = bytes(_characters(cells))
    if not any(mark in characters for mark in (b",", b'"', b"\r", b"\n")):
        return cells
    needs = pc.match_substring_regex(cells, '[,"\r\n]')
    quote, none = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(quote, pc.replace_substring(cells, '"', '""'), quote, none)
    return pc.if_else(needs, quoted, cells)


def _text_cells(column: pd.Series) -> pd.Series:
    """The column's text cells as strings, every other cell (numbers, None, NaN) missing,
    so string methods look at text only (a number is never a formula)."""
    if pd.api.types.is_string_dtype(column.dtype) and not pd.api.types.is_object_dtype(
        column.dtype
    ):
        return column
    is_text = column.map(type).isin([str, np.str_])
    return column.where(is_text).astype("string")


def _characters(cells) -> memoryview:
    """The character data of an Arrow text array's cells, one after the other."""
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int64)
    first, last = offsets[cells.offset], offsets[cells.offset + len(cells)]
    data = cells.buffers()[2]
    return memoryview(data)[first:last] if data is not None else memoryview(b"")
