"""Grouped cumulative operations on rows whose groups are contiguous runs (a client's
appointments, sorted by client), in plain index arithmetic.

pandas' ``groupby(...).shift/first/ffill/cumsum/cumcount`` hash the keys on every call,
which dominates the cost of the features of one client (a served request runs dozens of
them on ten rows). When the rows are sorted by group, each of these is a lookup at a
computed position instead, and gives exactly the values pandas gives: the same elements
are selected, and sums are of whole numbers.
"""

from __future__ import annotations

import numpy as np


class Segments:
    """Rows in contiguous groups, keyed by ``keys`` (equal keys only next to each other).

    Parameters
    ----------
    keys
        One key per row, non-decreasing (e.g. integer client codes of rows sorted by client).

    Raises
    ------
    ValueError
        When ``keys`` decrease somewhere: the rows are not sorted by group.
    """

    def __init__(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys)
        n = len(keys)
        if n > 1 and np.any(keys[1:] < keys[:-1]):
            raise ValueError("segments need rows sorted by group (non-decreasing keys)")
        self.position = np.arange(n)
        new = np.r_[True, keys[1:] != keys[:-1]] if n else np.zeros(0, dtype=bool)
        # the position of the first row of each row's group
        self.start = np.maximum.accumulate(np.where(new, self.position, 0)) if n else self.position

    def count(self) -> np.ndarray:
        """0, 1, 2, ... within each group (``cumcount``)."""
        return self.position - self.start

    def first(self, values: np.ndarray) -> np.ndarray:
        """The group's first value on every row (``transform("first")`` on NaN-free values)."""
        return np.asarray(values)[self.start]

    def shift(self, values: np.ndarray, periods: int = 1, fill=np.nan) -> np.ndarray:
        """The value ``periods`` rows earlier in the same group, else ``fill``."""
        values = np.asarray(values)
        source = self.position - periods
        inside = source >= self.start
        dtype = np.result_type(values.dtype, np.asarray(fill).dtype)
        out = np.full(len(values), fill, dtype=dtype)
        out[inside] = values[source[inside]]
        return out

    def latest(self, flags: np.ndarray) -> np.ndarray:
        """The position of the latest flagged row on or before each row within its group,
        -1 where there is none (per column, for a 2-D ``flags``)."""
        flags = np.asarray(flags)
        position = self.position.reshape(-1, *([1] * (flags.ndim - 1)))
        marker = np.where(flags, position, -1)
        latest = np.maximum.accumulate(marker, axis=0) if len(marker) else marker
        return np.where(latest >= self.start.reshape(position.shape), latest, -1)

    def ffill(self, values: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
        """The latest non-missing value on or before each row within its group, else NaN
        (per column, for a 2-D ``values``); only for the rows ``at`` (positions), when
        given."""
        values = np.asarray(values, dtype=float)
        if at is not None:
            return self._ffill_at(values, np.asarray(at, dtype=np.int64))
        latest = self.latest(~np.isnan(values))
        if values.ndim == 1:
            return take(values, latest, np.nan)
        # flat positions into the row-major values: row * width + column (0 where none)
        values = np.ascontiguousarray(values)
        width = values.shape[1]
        found = latest >= 0
        flat = np.where(found, latest * width + np.arange(width), 0)
        return np.where(found, values.ravel()[flat], np.nan)

    def _ffill_at(self, values: np.ndarray, at: np.ndarray) -> np.ndarray:
        # per column, the latest known row on or before each row asked about, by binary
        # search among the known rows: no pass over every row and column but the NaN test
        columns = values[:, None] if values.ndim == 1 else values
        out = np.full((len(at), columns.shape[1]), np.nan)
        start = self.start[at]
        for c in range(columns.shape[1]):
            missing = np.isnan(columns[:, c])
            if not missing.any():  # every row known: each row's own value
                out[:, c] = columns[at, c]
                continue
            known = np.flatnonzero(~missing)
            if not len(known):
                continue
            k = np.searchsorted(known, at, side="right") - 1
            source = known[np.maximum(k, 0)]
            found = (k >= 0) & (source >= start)
            out[found, c] = columns[source[found], c]
        return out.reshape(len(at), *values.shape[1:])

    def cumsum(self, values: np.ndarray) -> np.ndarray:
        """Running sums within each group, exact for whole numbers (counts) as floats."""
        values = np.asarray(values, dtype=float)
        total = np.cumsum(values)
        return total - (total[self.start] - values[self.start])


def take(values: np.ndarray, positions: np.ndarray, fill) -> np.ndarray:
    """``values`` at ``positions``, ``fill`` where a position is -1."""
    values = np.asarray(values)
    found = positions >= 0
    out = np.full(len(positions), fill, dtype=values.dtype)
    out[found] = values[positions[found]]
    return out
