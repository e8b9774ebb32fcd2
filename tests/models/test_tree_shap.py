"""The fast TreeSHAP gives shap's and LightGBM's own exact values, missing values included."""

from __future__ import annotations

import numpy as np
import pytest

from models.tree_shap import hist_gradient_boosting_trees, lightgbm_trees, tree_shap


def _data(seed: int, n: int, with_nan: bool = True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    X[:, 5] = rng.integers(0, 2, n)  # a one-hot-like column
    if with_nan:
        X[rng.random(X.shape) < 0.05] = np.nan
    signal = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) + X[:, 5]
    y = (signal + rng.normal(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("leaves", [3, 7, 31])
def test_hist_gradient_boosting_values_equal_shap(leaves):
    import shap
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _data(0, 2000)
    model = HistGradientBoostingClassifier(
        max_iter=15, max_leaf_nodes=leaves, min_samples_leaf=10, early_stopping=False
    ).fit(X, y)
    X_new, _ = _data(1, 500)
    explainer = shap.TreeExplainer(model)
    expected = np.asarray(explainer.shap_values(X_new, check_additivity=False))
    values, base = tree_shap(*hist_gradient_boosting_trees(model), X_new)
    np.testing.assert_allclose(values, expected, atol=1e-9)
    assert base == pytest.approx(float(np.ravel(explainer.expected_value)[0]), abs=1e-9)
    # local accuracy: every row adds up to the model's log-odds
    np.testing.assert_allclose(values.sum(axis=1) + base, model.decision_function(X_new), atol=1e-9)


@pytest.mark.parametrize("with_nan", [True, False])
def test_lightgbm_values_equal_pred_contrib(with_nan):
    import lightgbm as lgb

    X, y = _data(2, 2000, with_nan)
    weights = np.random.default_rng(3).uniform(0.5, 1.5, len(y))
    model = lgb.LGBMClassifier(
        n_estimators=20, num_leaves=15, min_child_samples=20, colsample_bytree=0.8, verbose=-1
    ).fit(X, y, sample_weight=weights)
    X_new, _ = _data(4, 500)  # missing values at scoring even when training had none
    reference = model.booster_.predict(X_new, raw_score=True, pred_contrib=True)
    trees = lightgbm_trees(model.booster_)
    assert trees is not None
    values, base = tree_shap(*trees, X_new)
    np.testing.assert_allclose(values, reference[:, :-1], atol=1e-9)
    assert base == pytest.approx(reference[0, -1], abs=1e-9)


def test_rows_with_the_same_split_directions_get_the_same_values():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _data(5, 1000, with_nan=False)
    model = HistGradientBoostingClassifier(max_iter=5, max_leaf_nodes=7).fit(X, y)
    trees, raw = hist_gradient_boosting_trees(model)
    one, _ = tree_shap(trees, raw, X[:1])
    many, _ = tree_shap(trees, raw, np.repeat(X[:1], 50, axis=0))
    np.testing.assert_allclose(many, np.repeat(one, 50, axis=0))
    # the order of the rows does not matter
    values, _ = tree_shap(trees, raw, X)
    shuffled = np.random.default_rng(6).permutation(len(X))
    again, _ = tree_shap(trees, raw, X[shuffled])
    np.testing.assert_allclose(again, values[shuffled])


def test_no_rows_and_a_stump_only_ensemble():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _data(7, 300, with_nan=False)
    model = HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=3).fit(X, y)
    trees, raw = hist_gradient_boosting_trees(model)
    values, base = tree_shap(trees, raw, X[:0])
    assert values.shape == (0, X.shape[1])
    assert np.isfinite(base)
