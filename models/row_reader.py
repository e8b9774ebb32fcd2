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


class _Row:
    __slots__ = ("_reader", "_i")

    def __init__(self, reader: RowReader, i: int):
        self._reader, self._i = reader, i

    def __getitem__(self, name: str):
        return self._reader.column(name)[self._i]

    def get(self, name: str, default=None):
        return self._reader.column(name)[self._i] if name in self else default

    def __contains__(self, name: str) -> bool:
        return name in self._reader._names


def _column_values(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column.dtype) and not column.hasnans:
        return column.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan)
    values = column.to_numpy(dtype=object)
    return np.where(pd.isna(values), None, values)
