"""What a fitted model must do, whatever data it was fitted on.

Behaviour tests in the sense of Made-With-ML: perturb one input, hold everything else
fixed, and check the direction of the answer. Run on the champion trained end to end and
on each candidate fitted through the same development path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.settings import FeatureSettings
from features.landmarks import build_examples, landmark_examples, model_inputs
from features.schema import MONOTONE_DIRECTIONS
from models.training import develop
from pipeline.commands.inputs import load_inputs

SMALL = {
    "logistic": {"C": 0.5},
    "lightgbm": {
        "n_estimators": 60,
        "learning_rate": 0.1,
        "num_leaves": 15,
        "min_child_samples": 20,
        "reg_lambda": 1.0,
        "colsample_bytree": 0.8,
    },
    "hist_gradient_boosting": {
        "max_iter": 60,
        "learning_rate": 0.1,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 20,
        "l2_regularization": 1.0,
    },
}


@pytest.fixture(scope="module")
def rows(trained):
    cfg = trained["config"]
    tables = load_inputs(trained["clients"], trained["sessions"], cfg)
    ex = landmark_examples(tables.clients, tables.sessions, cfg.instruments, cfg.features)
    return model_inputs(ex).sample(400, random_state=0)


@pytest.fixture(scope="module", params=["champion", *SMALL])
def model(request, trained):
    if request.param == "champion":
        return trained["outcome"].result.model
    cfg = trained["config"]
    tables = load_inputs(trained["clients"], trained["sessions"], cfg)
    examples, _, _ = build_examples(tables, cfg)
    training = cfg.training.model_copy(update={"cv_folds": 2})
    fixed = (request.param, SMALL[request.param])
    return develop(
        examples, training, FeatureSettings.from_config(cfg).to_dict(), fixed=fixed
    ).model


def _raise(frame: pd.DataFrame, feature: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frame with ``feature`` at a base value and at a clinically larger one."""
    base = frame.copy()
    if feature in ("attendance_rate", "alliance_level") or feature.endswith("_rate"):
        base[feature] = base[feature].fillna(0.5).clip(0, 0.75)
        return base, base.assign(**{feature: base[feature] + 0.25})
    if feature in ("missed_first_appointment", "srs_below_cutoff") or feature.endswith(
        "_unrepaired"
    ):
        return base.assign(**{feature: 0.0}), base.assign(**{feature: 1.0})
    base[feature] = base[feature].fillna(0)
    return base, base.assign(**{feature: base[feature] + 2})


@pytest.mark.parametrize("feature", sorted(MONOTONE_DIRECTIONS))
def test_more_of_a_risk_sign_never_lowers_risk(model, rows, feature):
    features = model.features(rows)
    base, higher = _raise(features, feature)
    p0 = model.proba_from_features(base)[:, 1]
    p1 = model.proba_from_features(higher)[:, 1]
    if MONOTONE_DIRECTIONS[feature] > 0:
        assert (p1 >= p0 - 1e-9).all(), f"more {feature} lowered risk"
    else:
        assert (p1 <= p0 + 1e-9).all(), f"more {feature} raised risk"


def test_more_missed_sessions_never_lower_risk_through_the_model_inputs(model, rows):
    """The same check through predict_proba, on the inputs scoring gives the model."""
    worse = rows.assign(
        no_shows=rows["no_shows"] + 1,
        misses_since_last_attended=rows["misses_since_last_attended"] + 1,
    )
    assert (model.predict_proba(worse)[:, 1] >= model.predict_proba(rows)[:, 1] - 1e-9).all()


def test_worse_early_process_raises_risk_on_average(model, rows):
    """Not a constraint but what the literature says the model should learn (d = 0.55)."""
    worse = rows.assign(
        misses_since_last_attended=rows["misses_since_last_attended"] + 2,
        no_shows=rows["no_shows"] + 2,
    )
    assert model.predict_proba(worse)[:, 1].mean() > model.predict_proba(rows)[:, 1].mean()


def test_scores_do_not_depend_on_row_order(model, rows):
    p = pd.Series(model.predict_proba(rows)[:, 1], index=rows.index)
    shuffled = rows.sample(frac=1.0, random_state=1)
    q = pd.Series(model.predict_proba(shuffled)[:, 1], index=shuffled.index)
    pd.testing.assert_series_equal(p.sort_index(), q.sort_index())


def test_an_unseen_therapist_gets_the_overall_history_rate(model, rows):
    unseen = rows.assign(therapist_id="a-therapist-never-seen")
    history = model.features(unseen)["therapist_dropout_rate"]
    assert np.allclose(history, model.history.prior_)
