"""A frame's rows read one at a time as mappings, without building every row's dict."""

from __future__ import annotations

import numpy as np
import pandas as pd


class RowReader:
    """Row ``i`` of a frame as a read-only mapping, without building every row's dict.

    ``frame.to_dict("records")`` boxes every value of every column; the templates read a
    handful of values of the rows that have a reason, so the columns are taken out once
    as arrays and a row is read on demand. Values read as ``to_dict`` gives them: floats
    (NaN when missing), ints, and strings or None.
    """

    def __init__(self, frame: pd.DataFrame):
        self._columns = {name: _column_values(frame[name]) for name in frame.columns}

    def __getitem__(self, i: int) -> _Row:
        return _Row(self._columns, i)

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()), ()))


class _Row:
    __slots__ = ("_columns", "_i")

    def __init__(self, columns: dict, i: int):
        self._columns, self._i = columns, i

    def __getitem__(self, name: str):
        return self._columns[name][self._i]

    def get(self, name: str, default=None):
        column = self._columns.get(name)
        return default if column is None else column[self._i]

    def __contains__(self, name: str) -> bool:
        return name in self._columns


def _column_values(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column.dtype) and not column.hasnans:
        return column.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan)
    values = column.to_numpy(dtype=object)
    return np.where(pd.isna(values), None, values)
