"""A frame's rows read one at a time as mappings, without building every row's dict."""

from __future__ import annotations

import numpy as np
import pandas as pd


class RowReader:
    """Row ``i`` of a frame as a read-only mapping, without building every row's dict.

    ``frame.to_dict("records")`` boxes every value of every column; the templates read a
    handful of values of the rows that have a reason, so a column is taken out as an
    array the first time a row reads it, and a row is read on demand. Values read as
    ``to_dict`` gives them: floats (NaN when missing), ints, and strings or None.
    """

    def __init__(self, frame: pd.DataFrame):
        self._frame = frame
        self._names = set(frame.columns)
        self._columns: dict[str, np.ndarray] = {}

    def column(self, name: str) -> np.ndarray:
        """The column's values (KeyError when the frame has none of that name)."""
        values = self._columns.get(name)
        if values is None:
            if name not in self._names:
                raise KeyError(name)
            values = self._columns[name] = _column_values(self._frame[name])
        return values

    def __getitem__(self, i: int) -> _Row:
        return _Row(self, i)

    def __len__(self) -> int:
        return len(self._frame)

    def __contains__(self, name: str) -> bool:
        """Whether the frame has a column ``name``."""
        return name in self._names


class _Row:
    __slots__ = ("_reader", "_i")

    def __init__(self, reader: RowReader, i: int):
        self._reader, self._i = reader, i

    def __getitem__(self, name: str):
        return self._reader.column(name)[self._i]

    def get(self, name: str, default=None):
        return self._reader.column(name)[self._i] if name in self else default

    def __contains__(self, name: str) -> bool:
        return name in self._reader


def _column_values(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column.dtype) and not column.hasnans:
        return column.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan)
    values = column.to_numpy(dtype=object)
    return np.where(pd.isna(values), None, values)


class _Recording:
    """A row that notes the name of every column a template reads (or asks about)."""

    __slots__ = ("_row", "read")

    def __init__(self, row: _Row):
        self._row, self.read = row, []

    def __getitem__(self, name: str):
        self.read.append(name)
        return self._row[name]

    def get(self, name: str, default=None):
        self.read.append(name)
        return self._row.get(name, default)

    def __contains__(self, name: str) -> bool:
        self.read.append(name)
        return name in self._row


# below this many rows, a template is called row by row (a served request's one or two)
FEW_ROWS = 32


class Wording:
    """Each template's words for row ``i``, worked out for many rows at once.

    A template is a pure function of the values it reads, so rows that agree on every
    column it reads get the same words. :meth:`prepare` groups the given rows by their
    exact values (bit for bit: NaN is one value, -0.0 is not 0.0) of the columns the
    template has read, calls the template once per group (noting the columns it reads),
    and groups again by more columns whenever a call read a new one; a caseload has few
    distinct inputs per template (counts, a few categories, rounded ratings). Calling
    ``wording(name, i)`` then looks row ``i``'s words up, or calls the template for a
    row that was not prepared.
    """

    def __init__(self, rows: RowReader, templates: dict):
        self._rows, self._templates = rows, templates
        self._codes: dict[str, np.ndarray] = {}
        self._words: dict[str, list[str]] = {}
        # every distinct text worded so far, numbered (for :meth:`ids`)
        self.vocabulary: list[str] = []
        self._number: dict[str, int] = {}

    def __call__(self, name: str, i: int) -> str:
        codes = self._codes.get(name)
        if codes is not None and codes[i] >= 0:
            return self._words[name][codes[i]]
        return self._templates[name](self._rows[i])

    def number(self, text: str) -> int:
        """The text's position in :attr:`vocabulary` (added at the end when new)."""
        found = self._number.get(text)
        if found is None:
            found = self._number[text] = len(self.vocabulary)
            self.vocabulary.append(text)
        return found

    def ids(self, name: str, rows: np.ndarray) -> np.ndarray:
        """The words of template ``name`` for each of ``rows`` (repeats allowed), as
        positions in :attr:`vocabulary`: equal words, equal numbers, whichever template
        wrote them."""
        rows = np.asarray(rows, dtype=np.int64)
        codes = self._codes.get(name)
        todo = rows if codes is None else rows[codes[rows] < 0]
        if len(todo):
            self.prepare(name, todo)
            codes = self._codes.get(name)
        out = np.empty(len(rows), dtype=np.int64)
        known = codes[rows] >= 0 if codes is not None else np.zeros(len(rows), dtype=bool)
        if known.any():
            numbers = np.array([self.number(text) for text in self._words[name]], np.int64)
            out[known] = numbers[codes[rows[known]]]
        for at in np.flatnonzero(~known).tolist():  # too few rows to group: one at a time
            out[at] = self.number(self(name, int(rows[at])))
        return out

    def prepare(self, name: str, index: np.ndarray) -> None:
        """Work out the words of template ``name`` for the rows ``index``."""
        index = np.asarray(index, dtype=np.int64)
        if len(index) > 1 and not (index[1:] > index[:-1]).all():  # sorted and distinct
            index = np.unique(index)
        if len(index) < FEW_ROWS:
            return  # grouping costs more than it saves: such rows call the template

        template, columns = self._templates[name], ()
        while True:
            groups, first = self._groups(columns, index)
            words, grown = [], False
            for at in first.tolist():
                row = _Recording(self._rows[int(index[at])])
                words.append(template(row))
                if not set(row.read) <= set(columns):
                    columns, grown = tuple(dict.fromkeys((*columns, *row.read))), True
                    break
            if not grown:
                break
        codes = np.full(len(self._rows), -1, dtype=np.int64)
        old = self._codes.get(name)
        if old is not None:  # rows prepared before keep their words
            codes[:] = old
            groups = groups + len(self._words[name])
            words = self._words[name] + words
        codes[index] = groups
        self._codes[name], self._words[name] = codes, words

    def _groups(self, columns: tuple[str, ...], index: np.ndarray):
        """Each row's group (rows equal on ``columns``) and the first row of each group."""
        groups = np.zeros(len(index), dtype=np.int64)
        for name in columns:
            if name not in self._rows:
                continue  # absent from the frame: the same for every row
            codes, uniques = pd.factorize(_exact_keys(self._rows.column(name)[index]))
            groups, _ = pd.factorize(groups * len(uniques) + codes)
        first = np.empty(groups.max() + 1, dtype=np.int64)
        # written last to first, so each group keeps its first row
        first[groups[::-1]] = np.arange(len(groups) - 1, -1, -1)
        return groups, first


def _exact_keys(values: np.ndarray) -> np.ndarray:
    """Values as keys equal exactly where the values are (NaN equal to NaN, -0.0 apart)."""
    if values.dtype == float:
        return np.where(np.isnan(values), np.nan, values).view(np.int64)
    if values.dtype == bool:
        return values.astype(np.int64)
    codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return codes.astype(np.int64)
