"""ArrayRiskModel: the same risks and explanations as the RiskModel it was read off."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.group_rates import with_history
from features.history import DropoutHistoryEncoder
from models.array_export import array_model
from models.array_model import ArrayRiskModel, load_arrays, save_arrays
from models.candidates import MAKERS
from models.risk_model import RiskModel
from tests.models.conftest import labelled_inputs


@pytest.fixture(scope="module")
def data(config):
    return labelled_inputs(config, 600, 5)


def _fitted(candidate: str, config, X, y, w):
    space = getattr(config.training.candidates, candidate)
    pipe = MAKERS[candidate](space.grid()[0], 0)
    half = len(X) // 2
    history = DropoutHistoryEncoder(min_episodes=1).fit(X.iloc[:half], y[:half], w[:half])
    features = with_history(X.iloc[:half], history.transform(X.iloc[:half]))
    pipe.fit(features, y[:half], classifier__sample_weight=w[:half])
    return pipe, history, features, half


@pytest.fixture(
    scope="module",
    params=[
        ("logistic", "sigmoid"),
        ("logistic", "isotonic"),
        ("lightgbm", "sigmoid"),
        ("hist_gradient_boosting", "isotonic"),
    ],
    ids=lambda p: "-".join(p),
)
def pair(request, data, config, tmp_path_factory):
    """A RiskModel with a horizon model, and its array form after a save and a load."""
    candidate, calibration = request.param
    X, y, w = data
    pipe, history, features, half = _fitted(candidate, config, X, y, w)
    model = RiskModel(
        pipeline=pipe,
        history=history,
        calibration=calibration,
        candidate=candidate,
        feature_settings={"instruments": {}, "features": {}},
    ).fit(X.iloc[half:], y[half:], sample_weight=w[half:])
    # a horizon model of another target (any labels do for the comparison)
    soon = MAKERS[candidate](getattr(config.training.candidates, candidate).grid()[0], 1)
    y_soon = (y[:half] * (np.arange(half) % 3 > 0)).astype(int)
    soon.fit(features, y_soon, classifier__sample_weight=w[:half])
    margin = soon[-1].decision_function(soon[:-1].transform(features))
    model.fit_horizon(soon, calibration, margin, y_soon, w[:half], 60)
    model.drift_profile_ = {"n_rows": 12, "features": {}}
    model.split_ = {"method": "sha256", "seed": 3, "test_fraction": 0.25}
    arrays = array_model(model)
    assert arrays is not None
    path = save_arrays(arrays, tmp_path_factory.mktemp("arrays") / "model.npz")
    return model, load_arrays(path)


def _rows(data, n=400):
    X = data[0].iloc[-n:].copy()
    # a therapist and site the history never saw, and blanks where the inputs allow them
    X.iloc[0, X.columns.get_loc("therapist_id")] = "T-never-seen"
    X.iloc[1, X.columns.get_loc("site")] = "a new site"
    X.iloc[2, X.columns.get_loc("program")] = np.nan
    return X


def test_risks_and_contributions_equal_the_risk_model(pair, data):
    model, arrays = pair
    X = _rows(data)
    risk, contributions, base = model.predict_and_explain(X, with_base=True)
    risk_a, contributions_a, base_a = arrays.predict_and_explain(X, with_base=True)
    np.testing.assert_allclose(risk_a, risk, rtol=0, atol=1e-12)
    np.testing.assert_allclose(base_a, base, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(contributions_a, contributions, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(
        arrays.probability_points(contributions_a, base_a),
        model.probability_points(contributions, base),
        rtol=0,
        atol=1e-9,
    )
    # risks differ from one client to the next: the comparison is not of constants
    assert np.ptp(risk) > 0.05


def test_rows_explained_in_blocks_are_explained_as_alone(pair, data, monkeypatch):
    import models.array_model
    import models.explained_risk

    X = _rows(data)
    for model in pair:
        whole = model.predict_and_explain(X, with_base=True)
        soon = model.predict_horizon(X)
        # blocks of 64 rows, the last one short (400 rows)
        monkeypatch.setattr(models.explained_risk, "EXPLAIN_ROWS", 64)
        monkeypatch.setattr(models.array_model, "EXPLAIN_ROWS", 64)
        blocks = model.predict_and_explain(X, with_base=True)
        np.testing.assert_array_equal(blocks[0], whole[0])
        pd.testing.assert_frame_equal(blocks[1], whole[1], check_exact=True)
        np.testing.assert_array_equal(blocks[2], whole[2])
        np.testing.assert_array_equal(model.predict_horizon(X), soon)
        monkeypatch.undo()


def test_a_tree_model_explains_all_rows_in_one_pass(pair, data, monkeypatch):
    import models.explained_risk

    X = _rows(data)
    monkeypatch.setattr(models.explained_risk, "EXPLAIN_ROWS", 64)
    for model in pair:
        passes = []
        real = model._contributions

        def counted(encoded, index, real=real, passes=passes):
            passes.append(len(encoded))
            return real(encoded, index)

        monkeypatch.setattr(model, "_contributions", counted)
        model.predict_and_explain(X, with_base=True)
        # tree SHAP works per pattern of split directions in the rows it is given: blocks
        # would work out the same patterns again in each; a linear model's rows are apart
        expected = [64] * 6 + [16] if model.kind_ == "linear" else [400]
        assert passes == expected


def test_margin_probability_and_horizon_equal_the_risk_model(pair, data):
    model, arrays = pair
    X = _rows(data)
    np.testing.assert_allclose(arrays.margin(X), model.margin(X), rtol=0, atol=1e-9)
    np.testing.assert_allclose(arrays.predict_proba(X), model.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(
        arrays.predict_horizon(X), model.predict_horizon(X), rtol=0, atol=1e-12
    )
    assert arrays.has_horizon and arrays.horizon_days_ == 60


def test_history_settings_and_training_facts_carry_over(pair, data):
    model, arrays = pair
    X = _rows(data)
    pd.testing.assert_frame_equal(arrays.history.transform(X), model.history.transform(X))
    assert arrays.history.prior_ == model.history.prior_
    assert arrays.feature_settings == model.feature_settings
    assert arrays.drift_profile_ == model.drift_profile_
    assert arrays.split_ == model.split_
    assert (arrays.candidate, arrays.calibration, arrays.kind_) == (
        model.candidate,
        model.calibration,
        model.kind_,
    )


def test_a_model_without_horizon_has_none(pair, tmp_path):
    _, arrays = pair
    bare = ArrayRiskModel(
        {"feature_settings": {}, "kind": arrays.kind_, "sources": list(arrays.sources_)},
        arrays.margin_model,
        arrays.calibrator_,
        arrays.history,
    )
    again = load_arrays(save_arrays(bare, tmp_path / "bare.npz"))
    assert not again.has_horizon and not hasattr(again, "drift_profile_")
    with pytest.raises(AttributeError, match="no horizon model"):
        again.predict_horizon(pd.DataFrame())


def test_an_unknown_classifier_is_not_read_off(pair):
    model, _ = pair

    class Other:
        pass

    odd = RiskModel(pipeline=model.pipeline[:-1], history=model.history)
    odd.pipeline = type(model.pipeline)(list(model.pipeline[:-1].steps) + [("c", Other())])
    odd.calibrator_ = model.calibrator_
    odd.kind_, odd.sources_, odd.candidate = "tree", model.sources_, ""
    odd.feature_settings = {}
    assert array_model(odd) is None


def test_files_that_are_not_array_models_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", values=np.arange(3))
    with pytest.raises(ValueError, match="no header"):
        load_arrays(tmp_path / "plain.npz")
    header = np.frombuffer(json.dumps({"format": "other", "format_version": 9}).encode(), np.uint8)
    np.savez(tmp_path / "other.npz", header=header)
    with pytest.raises(ValueError, match="format 'other' version 9"):
        load_arrays(tmp_path / "other.npz")
    # an object array would need pickle to read: refused, never unpickled
    np.savez(tmp_path / "objects.npz", header=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_arrays(tmp_path / "objects.npz")


def test_both_forms_compute_risk_points_and_horizon_with_one_implementation():
    from models.explained_risk import ExplainedRisk

    shared = ("predict_and_explain", "probability_points", "predict_horizon", "explain",
              "predict_proba", "proba_from_features", "margin", "features",
              "_explained")  # fmt: skip
    for name in shared:
        # neither form overrides them: a change to how risk is computed reaches both
        assert getattr(RiskModel, name) is getattr(ExplainedRisk, name), name
        assert getattr(ArrayRiskModel, name) is getattr(ExplainedRisk, name), name
    for model_class in (RiskModel, ArrayRiskModel):
        for part in ("_encode", "_contributions", "_margin_of", "_calibrate", "_horizon_of"):
            assert part in vars(model_class), (model_class.__name__, part)
