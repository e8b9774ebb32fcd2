"""Grouped operations on sorted rows give exactly what pandas' groupby gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.segments import Segments, take

KEYS = np.array([0, 0, 0, 1, 2, 2, 2, 2, 5])
VALUES = np.array([4.0, np.nan, 3.5, np.nan, 1.0, 2.0, np.nan, 0.5, 7.0])


def _grouped(values=VALUES):
    return pd.Series(values).groupby(KEYS, sort=False)


def test_count_first_and_shift_match_groupby():
    groups = Segments(KEYS)
    assert groups.count().tolist() == _grouped().cumcount().tolist()
    values = np.nan_to_num(VALUES, nan=9.0)
    assert groups.first(values).tolist() == _grouped(values).transform("first").tolist()
    for periods in (1, 2, 3):
        expected = _grouped().shift(periods).to_numpy()
        np.testing.assert_array_equal(groups.shift(VALUES, periods), expected)
    flags = VALUES > 1
    shifted = groups.shift(flags, 1, fill=False)
    assert shifted.dtype == bool
    assert shifted.tolist() == _grouped(flags).shift(1, fill_value=False).tolist()


def test_ffill_latest_and_cumsum_match_groupby():
    groups = Segments(KEYS)
    np.testing.assert_array_equal(groups.ffill(VALUES), _grouped().ffill().to_numpy())
    # a client's first rating missing stays missing: nothing of the client before it
    assert np.isnan(groups.ffill(VALUES)[3])
    flags = ~np.isnan(VALUES)
    assert groups.latest(flags).tolist() == [0, 0, 2, -1, 4, 5, 5, 7, 8]
    counts = flags.astype(float)
    assert groups.cumsum(counts).tolist() == _grouped(counts).cumsum().tolist()
    assert take(np.array([10, 20, 30]), np.array([2, -1, 0]), -7).tolist() == [30, -7, 10]


def test_no_rows_and_one_row():
    empty = Segments(np.zeros(0, dtype=np.int64))
    assert empty.count().tolist() == [] and empty.ffill(np.zeros(0)).tolist() == []
    assert (
        empty.cumsum(np.zeros(0)).tolist() == [] and empty.latest(np.zeros(0, bool)).tolist() == []
    )
    one = Segments(np.array([3]))
    assert np.isnan(one.shift(np.array([1.0]))).all()
    assert one.cumsum(np.array([1.0])).tolist() == [1.0]


def test_rows_not_sorted_by_group_are_refused():
    with pytest.raises(ValueError, match="sorted by group"):
        Segments(np.array([0, 1, 0]))


def test_ffill_of_several_columns_at_once_matches_each_column():
    block = np.column_stack([VALUES, VALUES[::-1], np.full(len(VALUES), np.nan)])
    groups = Segments(KEYS)
    expected = np.column_stack([groups.ffill(block[:, j]) for j in range(3)])
    np.testing.assert_array_equal(groups.ffill(block), expected)
    np.testing.assert_array_equal(
        groups.ffill(block), pd.DataFrame(block).groupby(KEYS, sort=False).ffill().to_numpy()
    )


def test_ffill_at_some_rows_matches_reading_the_full_result():
    block = np.column_stack([VALUES, VALUES[::-1], np.full(len(VALUES), np.nan), np.ones(9)])
    groups = Segments(KEYS)
    for at in (np.arange(9), np.array([1, 3, 6, 8]), np.array([3]), np.zeros(0, dtype=int)):
        np.testing.assert_array_equal(groups.ffill(block, at=at), groups.ffill(block)[at])
        np.testing.assert_array_equal(groups.ffill(VALUES, at=at), groups.ffill(VALUES)[at])
    empty = Segments(np.zeros(0, dtype=np.int64))
    assert empty.ffill(np.zeros(0), at=np.zeros(0, dtype=int)).tolist() == []
