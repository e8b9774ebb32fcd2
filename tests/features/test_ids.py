"""Membership of ids: the same answer as ``Series.isin`` for every kind of text column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.ids import among

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
