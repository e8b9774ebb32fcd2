"""The fitted preprocessing applied as arrays gives exactly what scikit-learn gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from models.candidates import RARE_CATEGORY, linear_preprocessor, tree_preprocessor
from models.fast_preprocess import _plan, encode, encoded_frame

NUMERIC = ("a", "b", "never", "whole")
CATEGORICAL = ("site", "kind")


def _frame(n: int, seed: int, *, unseen: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(5, 2, n)
    a[rng.random(n) < 0.2] = np.nan  # missing: imputed, with an indicator
    sites = ["north"] * 30 + ["south"] * 25 + ["tiny"] * 3  # "tiny" is pooled as rare
    site = np.array([sites[i % len(sites)] for i in range(n)], dtype=object)
    site[rng.random(n) < 0.1] = np.nan
    kind = np.where(rng.random(n) < 0.5, "x", "y").astype(object)
    if unseen:
        a[:3] = [-100.0, 100.0, np.nan][:n]  # outside the training range: clipped
        site[:2] = ["never-seen", RARE_CATEGORY][:n]
        kind[:1] = ["z"][:n]
    return pd.DataFrame(
        {
            "a": a,
            "b": rng.integers(0, 4, n).astype(float),  # never missing: no indicator
            # never observed in training; a value at scoring still reads as the constant
            "never": np.where(np.arange(n) == 0, 1.0 if unseen else np.nan, np.nan),
            "whole": rng.random(n),
            "site": site,
            "kind": kind,
        }
    )


@pytest.mark.parametrize("make", [linear_preprocessor, tree_preprocessor], ids=["linear", "tree"])
def test_encode_equals_the_fitted_preprocessor_on_new_rows(make):
    preprocessor = make(numeric=NUMERIC, categorical=CATEGORICAL)
    preprocessor.fit(_frame(400, 1, unseen=False))
    plan = _plan(preprocessor)
    # every step of these shapes takes the fast path: none is left to scikit-learn
    assert plan is not None and not plan.others
    for rows in (_frame(300, 2, unseen=True), _frame(1, 3, unseen=True)):
        expected = preprocessor.transform(rows)
        got = encode(preprocessor, rows)
        np.testing.assert_array_equal(got, expected.to_numpy(dtype=float))
        named = encoded_frame(preprocessor, got, rows.index)
        assert list(named.columns) == list(expected.columns)
    # no rows (scikit-learn refuses them): an empty matrix of the same width
    assert encode(preprocessor, _frame(0, 4, unseen=False)).shape == (0, expected.shape[1])


def test_a_step_of_another_shape_is_left_to_scikit_learn():
    preprocessor = ColumnTransformer(
        [("a", make_pipeline(MinMaxScaler()), ["a"]), ("whole", MinMaxScaler(), ["whole"])]
    ).set_output(transform="pandas")
    train = _frame(100, 5, unseen=False).fillna({"a": 0.0})
    preprocessor.fit(train)
    assert len(_plan(preprocessor).others) == 2
    rows = _frame(50, 6, unseen=False).fillna({"a": 1.0})
    np.testing.assert_array_equal(
        encode(preprocessor, rows), preprocessor.transform(rows).to_numpy(dtype=float)
    )


def test_a_preprocessor_that_is_not_a_column_transformer_is_transformed_as_it_is():
    scaler = MinMaxScaler().fit(np.array([[0.0], [2.0]]))
    assert _plan(scaler) is None
    np.testing.assert_array_equal(encode(scaler, np.array([[1.0]])), [[0.5]])
