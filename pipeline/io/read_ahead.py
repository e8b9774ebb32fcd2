"""Reading the CSV exports with Arrow in a thread while the command imports its code.

`score` spends its first second importing (pandas, the features, the models: Python
work on one core) before it reads a byte of the exports; Arrow's CSV reader runs outside
Python's lock, so the two can overlap. :class:`ReadAhead` starts Arrow on the exports at
once (this module imports neither pandas nor Arrow until its thread runs), and
:func:`pipeline.io.ingest.read_table` takes the table from it instead of reading the
file again. Only the reading moves: every check, message and fallback of ``read_table``
is the same, and a file whose first row is not the one ``read_table`` finds, or that
Arrow cannot read, is read by ``read_table`` as before.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterable
from pathlib import Path

# pandas' default missing-value markers (``pd.read_csv``'s ``na_values``), for the fast reader
NA_MARKERS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


def first_row(path: Path) -> list[str]:
    """The first non-blank line of a UTF-8 CSV file, split as CSV ([] when none).

    Raises what reading raises (``UnicodeDecodeError``, ``csv.Error``, ``OSError``).
    """
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.reader(handle):
            if any(cell.strip() for cell in row):
                return row
    return []


def arrow_text_table(path: Path, header: list[str]):
    """The file read by Arrow's multi-threaded CSV reader, every column as large text.

    Raises Arrow's errors (and ``OSError``, ``ValueError``) for a file it cannot read.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(encoding="utf8"),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
        convert_options=pa_csv.ConvertOptions(
            # large_string is what pandas keeps text in: no copy on the way to pandas
            column_types={name: pa.large_string() for name in header},
            null_values=list(NA_MARKERS),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


class ReadAhead:
    """Arrow reading the given CSV files, one after the other, in a background thread.

    Parameters
    ----------
    paths
        The files, in the order the command reads them; other than ``.csv`` ones are
        left to ``read_table``.
    """

    def __init__(self, paths: Iterable[str | Path]):
        self._paths = [Path(p) for p in paths if Path(p).suffix.lower() == ".csv"]
        self._done = {path: threading.Event() for path in self._paths}
        self._tables: dict[Path, tuple[list[str], object]] = {}
        self._closed = False
        # a daemon: a command that stops early (a refused model) does not wait for it
        self._thread = threading.Thread(target=self._read, name="read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for path in self._paths:
            try:
                header = first_row(path)
                if header and not self._closed:
                    self._tables[path] = (header, arrow_text_table(path, header))
            except Exception:  # noqa: BLE001 - read_table reads the file again and says why
                pass
            finally:
                if self._closed:
                    self._tables.clear()
                self._done[path].set()

    def take(self, path: str | Path, header: list[str]):
        """The Arrow table of ``path`` read with this first row, once; else None.

        Waits for the file's reading to end. None for a file not read ahead, one Arrow
        could not read, or one whose first row was another when it was read.
        """
        path = Path(path)
        done = self._done.get(path)
        if done is None:
            return None
        done.wait()
        read = self._tables.pop(path, None)
        if read is None or read[0] != header:
            return None
        return read[1]

    def close(self) -> None:
        """Drop what was read and not taken (and what is still being read, once read)."""
        self._closed = True
        self._tables.clear()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
