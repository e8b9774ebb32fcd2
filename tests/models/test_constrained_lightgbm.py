"""LightGBM with constraints named per feature: monotone, exact and additive."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from models.constrained_lightgbm import MonotoneLightGBM


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"no_shows__no_shows": rng.poisson(1, n).astype(float), "age__age": rng.normal(size=n)}
    )
    # a non-monotone truth: the constraint must still hold in the fit
    logit = -1 + 0.8 * X["no_shows__no_shows"] - 0.9 * (X["no_shows__no_shows"] == 3)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_more_no_shows_never_lowers_the_margin():
    X, y = _data()
    model = MonotoneLightGBM(n_estimators=80, min_child_samples=5, directions={"no_shows": 1})
    model.fit(X, y)
    grid = pd.DataFrame({"no_shows__no_shows": np.arange(0, 8.0), "age__age": 0.3})
    assert (np.diff(model.decision_function(grid)) >= -1e-12).all()


def test_contributions_add_up_to_the_margin_and_are_deterministic():
    X, y = _data()
    model = MonotoneLightGBM(n_estimators=40, directions={"no_shows": 1}, seed=3).fit(X, y)
    values, base = model.contributions(X.iloc[:100])
    np.testing.assert_allclose(values.sum(axis=1) + base, model.decision_function(X.iloc[:100]))
    again = MonotoneLightGBM(n_estimators=40, directions={"no_shows": 1}, seed=3).fit(X, y)
    np.testing.assert_array_equal(model.decision_function(X), again.decision_function(X))


def test_parameters_round_trip_through_clone():
    model = MonotoneLightGBM(num_leaves=7, directions={"no_shows": 1}, seed=5)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
