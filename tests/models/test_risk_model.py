"""RiskModel: calibrated probabilities and exact, additive explanations for both candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.group_rates import with_history
from features.history import DropoutHistoryEncoder
from features.schema import FEATURE_NAMES
from models.candidates import MAKERS
from models.risk_model import RiskModel, _apply_calibrator, choose_calibration
from tests.models.conftest import labelled_inputs


@pytest.fixture(scope="module")
def data(config):
    return labelled_inputs(config, 800, 3)


@pytest.fixture(scope="module", params=["logistic", "lightgbm", "hist_gradient_boosting"])
def model(request, data, config):
    X, y, w = data
    half = len(X) // 2
    space = getattr(config.training.candidates, request.param)
    pipe = MAKERS[request.param](space.grid()[0], 0)
    history = DropoutHistoryEncoder(min_episodes=1).fit(X.iloc[:half], y[:half], w[:half])
    features = with_history(X.iloc[:half], history.transform(X.iloc[:half]))
    pipe.fit(features, y[:half], classifier__sample_weight=w[:half])
    return RiskModel(
        pipeline=pipe,
        history=history,
        calibration="sigmoid",
        candidate=request.param,
        feature_settings={},
    ).fit(X.iloc[half:], y[half:], sample_weight=w[half:])


def test_contributions_plus_base_equal_the_margin(model, data):
    X = data[0].iloc[:300]
    contributions, base = model.explain(X)
    assert list(contributions.columns) == list(FEATURE_NAMES)
    np.testing.assert_allclose(
        contributions.sum(axis=1).to_numpy() + base, model.margin(X), atol=1e-6
    )


def test_probabilities_are_monotone_in_the_margin(model, data):
    X = data[0].iloc[:500]
    p = model.predict_proba(X)[:, 1]
    assert ((p > 0) & (p < 1)).all()
    order = np.argsort(model.margin(X))
    assert (np.diff(p[order]) >= -1e-12).all()


def test_probabilities_are_calibrated_in_the_large(model, data):
    X, y, w = data
    half = len(X) // 2
    # a sigmoid fitted with an intercept matches the weighted event rate it was fitted on
    p = model.predict_proba(X.iloc[half:])[:, 1]
    observed = np.average(y[half:], weights=w[half:])
    assert np.average(p, weights=w[half:]) == pytest.approx(observed, abs=0.01)
    # and on the half the calibration never saw, within sampling error
    held = model.predict_proba(X.iloc[:half])[:, 1]
    expected = np.average(y[:half], weights=w[:half])
    assert np.average(held, weights=w[:half]) == pytest.approx(expected, abs=0.05)


def test_unknown_categories_and_missing_values_are_scored(model, data):
    X = data[0].iloc[:5].copy()
    X["site"] = "a site never seen"
    X["wai_bond_last"] = np.nan
    X["age"] = np.nan
    p = model.predict_proba(X)[:, 1]
    assert np.isfinite(p).all()
    contributions, base = model.explain(X)
    np.testing.assert_allclose(
        contributions.sum(axis=1).to_numpy() + base, model.margin(X), atol=1e-6
    )


def test_choose_calibration_prefers_sigmoid_when_the_margin_is_already_logistic():
    rng = np.random.default_rng(0)
    margin = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-margin))).astype(int)
    assert choose_calibration(margin, y, np.ones(4000), seed=0) == "sigmoid"


def test_history_features_come_from_the_model_and_add_up_too(model, data):
    X = data[0].iloc[:50]
    features = model.features(X)
    assert list(features.columns) == list(FEATURE_NAMES)
    seen = X["therapist_id"].map(model.history.rates_["therapist_id"])
    known = seen.notna().to_numpy()
    assert known.any()
    np.testing.assert_allclose(features["therapist_dropout_rate"][known], seen[known])
    contributions, _ = model.explain(X)
    assert contributions["therapist_dropout_rate"].abs().sum() > 0


def test_calibrating_on_given_out_of_fold_margins(model, data):
    X, y, w = data
    again = RiskModel(
        pipeline=model.pipeline, history=model.history, calibration="isotonic", feature_settings={}
    ).fit(X.iloc[:200], y[:200], sample_weight=w[:200], margin=np.linspace(-2, 2, 200))
    assert again.calibration == "isotonic" and np.isfinite(again.predict_proba(X[:5])).all()


def test_explain_needs_the_declared_columns(model, data):
    X = data[0].iloc[:3].drop(columns=["no_shows"])
    with pytest.raises(KeyError, match="no_shows"):
        model.explain(pd.DataFrame(X))


def test_predict_and_explain_agrees_with_the_separate_calls(model, data):
    X = data[0].iloc[:200]
    p, contributions = model.predict_and_explain(X)
    np.testing.assert_allclose(p, model.predict_proba(X)[:, 1], atol=1e-9)
    pd.testing.assert_frame_equal(contributions, model.explain(X)[0])


def test_probability_points_say_how_much_each_feature_moves_the_risk(model, data):
    X = data[0].iloc[:40]
    risk, contributions, base = model.predict_and_explain(X, with_base=True)
    points = model.probability_points(contributions, base)
    assert (np.sign(points.to_numpy().round(9)) == np.sign(contributions.to_numpy().round(9))).all()
    # one feature: the risk minus the risk without that feature's contribution
    i, name = 0, contributions.iloc[0].abs().idxmax()
    margin = contributions.iloc[i].sum() + base[i]
    without = _apply_calibrator(model.calibrator_, np.array([margin - contributions.iloc[i][name]]))
    assert points.iloc[i][name] == pytest.approx(100 * (risk[i] - without[0]))
