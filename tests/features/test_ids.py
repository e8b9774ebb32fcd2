"""Membership of ids: the same answer as ``Series.isin`` for every kind of text column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.ids import among, factorize_text

KINDS = {
    "arrow text": "str",
    "nullable text": "string",
    "objects": object,
}


@pytest.mark.parametrize("dtype", KINDS.values(), ids=KINDS.keys())
def test_among_is_isin_for_every_text_column(dtype):
    values = pd.Series(["C1", None, "C2", "c1", " C1", "C3"], dtype=dtype)
    ids = pd.Series(["C1", "C3", "C9"])
    found = among(values, ids)
    assert found.dtype == bool
    np.testing.assert_array_equal(found, [True, False, False, False, False, True])
    np.testing.assert_array_equal(found, values.isin(ids).to_numpy(dtype=bool))


def test_among_with_no_ids_or_no_values():
    assert not among(pd.Series(["a"], dtype="str"), pd.Index([], dtype=object)).any()
    assert among(pd.Series([], dtype="str"), ["a"]).shape == (0,)


def test_ids_of_another_type_are_compared_as_pandas_compares_them():
    values = pd.Series(["1", "2"], dtype="str")
    np.testing.assert_array_equal(among(values, [1, "2"]), values.isin([1, "2"]).to_numpy())


def test_rows_of_keeps_the_rows_and_never_changes_the_frame():
    from features.ids import rows_of

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    every = rows_of(frame, np.ones(3, dtype=bool))
    pd.testing.assert_frame_equal(every, frame)
    every.loc[0, "a"] = 99.0  # a change to what it gave is not a change to the frame
    assert frame.loc[0, "a"] == 1.0
    some = rows_of(frame, np.array([True, False, True]))
    pd.testing.assert_frame_equal(some, frame.iloc[[0, 2]])


@pytest.mark.parametrize("dtype", KINDS.values(), ids=KINDS.keys())
def test_run_codes_number_the_runs_of_equal_values(dtype):
    from features.ids import run_codes

    values = pd.Series(["C1", "C1", "C2", "C10", "C10", "C1"], dtype=dtype)
    np.testing.assert_array_equal(run_codes(values), [0, 0, 1, 2, 2, 3])
    assert run_codes(pd.Series([], dtype=dtype)).shape == (0,)


def test_nondecreasing_text_is_the_order_python_sorts_text_in():
    from features.ids import nondecreasing_text

    ordered = ["C1", "C1", "C10", "C2", "c1", "é", "ü"]  # code point order
    assert ordered == sorted(ordered)
    assert nondecreasing_text(pd.Series(ordered, dtype="str")) is True
    assert nondecreasing_text(pd.Series(["C2", "C10"], dtype="str")) is False
    assert nondecreasing_text(pd.Series(["ü", "é"], dtype="str")) is False
    # not Arrow text, or a missing id: not told (the caller sorts)
    assert nondecreasing_text(pd.Series(ordered, dtype=object)) is None
    assert nondecreasing_text(pd.Series(["C1", None], dtype="str")) is None


def test_factorize_text_gives_pandas_codes_and_distinct_values():
    values = pd.Series(["b", None, "a", "b", "", None, " a"], dtype="str")
    expected_codes, expected_uniques = pd.factorize(values, use_na_sentinel=True)
    codes, uniques = factorize_text(values)
    np.testing.assert_array_equal(codes, expected_codes)
    assert uniques.tolist() == list(expected_uniques) == ["b", "a", "", " a"]
    codes[codes < 0] = len(uniques)  # the caller may write to them
    assert factorize_text(pd.Series(["b", None], dtype=object)) is None
    assert factorize_text(pd.Series([1.0, 2.0])) is None


def test_text_bounds_cut_the_sorted_text_into_ranges_that_range_numbers_read():
    from features.ids import range_numbers, text_bounds

    values = pd.Series(["c", "a", "ü", "a", "B", "é", "b"], dtype="str")
    # sorted by code point: B a a b c é ü; every 2nd value from the 2nd on cuts
    bounds = text_bounds(values, 2)
    assert bounds == ["a", "c", "ü"]
    # B before a; a and b from a; c and é from c; ü from ü
    np.testing.assert_array_equal(range_numbers(values, bounds), [2, 1, 3, 1, 0, 2, 1])
    # equal values never straddle a bound: the repeated cut is dropped
    assert text_bounds(pd.Series(["a", "a", "a", "b"], dtype="str"), 1) == ["b"]
    assert text_bounds(values, 7) == []
    # not Arrow text, or a missing value: not cut (the caller works in one pass)
    assert text_bounds(pd.Series(["a", "b"], dtype=object), 1) is None
    assert text_bounds(pd.Series(["a", None, "b"], dtype="str"), 1) is None
    assert range_numbers(pd.Series(["a", None], dtype="str"), ["b"]) is None
    assert range_numbers(pd.Series(["a"], dtype=object), ["b"]) is None


def test_is_arrow_text_tells_the_columns_factorize_text_works_on():
    from features.ids import is_arrow_text

    assert is_arrow_text(pd.Series(["a", None], dtype="str"))
    assert not is_arrow_text(pd.Series(["a", None], dtype=object))
    assert not is_arrow_text(pd.Series([1.0, 2.0]))
    assert not is_arrow_text(pd.Series([1, 2], dtype="int64[pyarrow]"))
