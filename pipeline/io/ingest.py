"""Reading the two input tables (clients, sessions) from CSV or Parquet files.

This is the only place the input files are opened. Anything that makes a file unusable
as a whole (missing, empty, not CSV/Parquet, wrong delimiter, unreadable) raises
:class:`~configs.errors.InputError` naming the file and the fix; everything about
individual rows is left to :mod:`pipeline.contract.validation`, which needs the values exactly as
written so its messages can quote them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from configs.errors import InputError
from pipeline.io.read_ahead import ReadAhead, arrow_text_table, first_row

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")

# A header read as a single column holding one of these was saved with another delimiter.
_FOREIGN_DELIMITERS = {";": "semicolon (;)", "\t": "tab", "|": "pipe (|)"}


def read_table(path: str | Path, *, role: str, ahead: ReadAhead | None = None) -> pd.DataFrame:
    """Read one input table, choosing CSV or Parquet by the file extension.

    Parameters
    ----------
    path
        The file: ``.csv`` (UTF-8, with or without a byte-order mark), or ``.parquet``/``.pq``.
    role
        Which table this is (``"clients"`` or ``"sessions"``); used in messages and
        to name the command-line option in the fix (``--clients``).
    ahead
        A :class:`~pipeline.io.read_ahead.ReadAhead` that may have read a CSV file already.

    Returns
    -------
    pandas.DataFrame
        Column names stripped and lower-cased; a default RangeIndex, so row ``i`` is data
        record ``i + 1`` (the header is not counted). CSV values are all text exactly as
        written, so that messages can quote them; empty cells and pandas' usual null
        markers (``NA``, ``NULL``, ``N/A``...) are missing (validation also treats
        whitespace-only cells as blank). Parquet columns keep their stored types.

    Raises
    ------
    InputError
        When the file is missing, empty, of an unsupported type, delimited by something
        other than commas, has duplicate column names, or cannot be parsed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise InputError(
            f"{path}: the {role} file must be CSV (.csv) or Parquet (.parquet, .pq); "
            f"got {suffix or 'no extension'!r}. Fix: export the {role} table as CSV (UTF-8, "
            f"comma-separated) or Parquet and pass that file to --{role}."
        )
    if not path.exists():
        raise InputError(f"{path}: {role} file not found. Fix: check the path given to --{role}.")
    if not path.is_file():
        raise InputError(f"{path}: is not a file. Fix: pass the {role} table's file to --{role}.")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the {role} file ({exc}). Fix: check its permissions."
        ) from exc
    if size == 0:
        raise InputError(
            f"{path}: the {role} file is empty (0 bytes). Fix: export the {role} table again, "
            "with a header row naming the columns."
        )
    if suffix in CSV_SUFFIXES:
        return _read_csv(path, role, ahead)
    frame = _read_parquet(path, role)
    return frame


def _read_csv(path: Path, role: str, ahead: ReadAhead | None = None) -> pd.DataFrame:
    header = _csv_header(path, role)
    names = _normalise_names(header, path)
    frame = _read_csv_fast(path, header, ahead)
    if frame is None:
        frame = _read_csv_pandas(path, role)
    if frame.shape[1] != len(names):
        # pandas found a different header than the csv module; should not happen, but a
        # wrong column mapping would silently shift every value.
        raise InputError(
            f"{path}: the header has {len(names)} columns but {frame.shape[1]} were read. "
            "Fix: save the file again as comma-separated CSV (UTF-8)."
        )
    frame.columns = names
    return frame.reset_index(drop=True)


def _read_csv_fast(
    path: Path, header: list[str], ahead: ReadAhead | None = None
) -> pd.DataFrame | None:
    """The file read by Arrow's multi-threaded CSV reader, every column as text, or None.

    The same frame as :func:`_read_csv_pandas` gives for a well-formed file, in about a
    third of the time. Anything the fast reader does not take as it is (a row with too
    many or too few fields, bytes that are not UTF-8, a header it reads otherwise) gives
    None, and pandas reads the file instead: its messages name the line without quoting
    the row, where Arrow's quote it. ``ahead``: the table may have been read already.
    """
    import pyarrow as pa

    table = ahead.take(path, header) if ahead is not None else None
    if table is None:
        try:
            table = arrow_text_table(path, header)
        except (pa.ArrowException, OSError, ValueError):
            return None
    if table.column_names != header or any(t != pa.large_string() for t in table.schema.types):
        return None
    return table.to_pandas()


def _read_csv_pandas(path: Path, role: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            encoding="utf-8-sig",
            header=0,
            skip_blank_lines=True,
        )
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, role, exc) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise InputError(
            f"{path}: the {role} file cannot be parsed as CSV ({detail}). Fix: every row "
            "needs the same number of fields as the header; put double quotes around values "
            "that contain commas or line breaks."
        ) from exc
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the {role} file ({exc}). Fix: check its permissions."
        ) from exc
    return frame


def _csv_header(path: Path, role: str) -> list[str]:
    """The first non-blank line of the file, split as CSV (pandas skips blank lines too)."""
    try:
        row = first_row(path)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, role, exc) from exc
    except csv.Error as exc:
        raise InputError(
            f"{path}: the {role} file's header cannot be parsed as CSV ({exc}). "
            "Fix: save the file again as comma-separated CSV (UTF-8)."
        ) from exc
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the {role} file ({exc}). Fix: check its permissions."
        ) from exc
    if not row:
        raise InputError(
            f"{path}: the {role} file is empty (no header row). Fix: export the {role} table "
            "again, with a header row naming the columns."
        )
    if len(row) == 1:
        for delimiter, label in _FOREIGN_DELIMITERS.items():
            if delimiter in row[0]:
                raise InputError(
                    f"{path}: the {role} file looks delimited by {label}, not commas (header "
                    f"{row[0][:80]!r}). Fix: save it as comma-separated CSV (UTF-8), e.g. "
                    "'CSV UTF-8 (Comma delimited)' in Excel."
                )
    return row


def _read_parquet(path: Path, role: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ValueError, ...
        raise InputError(
            f"{path}: the {role} file is not a readable Parquet file ({type(exc).__name__}: "
            f"{exc}). Fix: write it again as Parquet, or export the table as CSV (UTF-8)."
        ) from exc
    if any(name is not None for name in frame.index.names):
        # A named index written by pandas is data (e.g. client_id), not a row number.
        frame = frame.reset_index()
    frame.columns = _normalise_names([str(name) for name in frame.columns], path)
    return frame.reset_index(drop=True)


def _normalise_names(names: list[str], path: Path) -> list[str]:
    """Strip and lower-case column names; name blank ones; refuse duplicates."""
    out = [
        name.strip().lower() or f"unnamed_{position}"
        for position, name in enumerate(names, start=1)
    ]
    seen: dict[str, int] = {}
    for position, name in enumerate(out, start=1):
        if name in seen:
            raise InputError(
                f"{path}: column {name!r} appears twice (columns {seen[name]} and {position}; "
                "names are matched in lower case). Fix: rename or remove one of them."
            )
        seen[name] = position
    return out


def _not_utf8(path: Path, role: str, exc: UnicodeDecodeError) -> InputError:
    return InputError(
        f"{path}: the {role} file is not UTF-8 text (byte {exc.start}: {exc.reason}). "
        "Fix: save it as 'CSV UTF-8 (Comma delimited)'."
    )
