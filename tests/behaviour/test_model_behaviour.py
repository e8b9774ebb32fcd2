"""What the trained model must do, whatever data it was fitted on.

Behaviour tests in the sense of Made-With-ML: perturb one input, hold everything else
fixed, and check the direction of the answer. Run on a model trained end to end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.landmarks import landmark_examples, model_inputs
from features.schema import MONOTONE_DIRECTIONS
from pipeline.train import load_inputs


@pytest.fixture(scope="module")
def model_and_rows(trained):
    outcome = trained["outcome"]
    cfg = trained["config"]
    tables = load_inputs(trained["clients"], trained["sessions"], cfg)
    ex = landmark_examples(tables.clients, tables.sessions, cfg.instruments, cfg.features)
    return outcome.result.model, model_inputs(ex).sample(400, random_state=0)


@pytest.mark.parametrize("feature", sorted(MONOTONE_DIRECTIONS))
def test_more_of_a_risk_sign_never_lowers_risk(model_and_rows, feature):
    model, X = model_and_rows
    sign = MONOTONE_DIRECTIONS[feature]
    base = X.copy()
    if feature in ("attendance_rate",):
        base[feature] = base[feature].fillna(0.5)
        higher = base.assign(**{feature: np.minimum(base[feature] + 0.25, 1.0)})
    elif feature in ("missed_first_appointment", "srs_below_cutoff") or feature.endswith(
        "_unrepaired"
    ):
        base[feature] = 0.0
        higher = base.assign(**{feature: 1.0})
    else:
        base[feature] = base[feature].fillna(0)
        higher = base.assign(**{feature: base[feature] + 2})
    p0 = model.predict_proba(base)[:, 1]
    p1 = model.predict_proba(higher)[:, 1]
    if sign > 0:
        assert (p1 >= p0 - 1e-9).all(), f"more {feature} lowered risk"
    else:
        assert (p1 <= p0 + 1e-9).all(), f"more {feature} raised risk"


def test_worse_early_process_raises_risk_on_average(model_and_rows):
    """Not a constraint but what the literature says the model should learn (d = 0.55)."""
    model, X = model_and_rows
    worse = X.assign(
        misses_since_last_attended=X["misses_since_last_attended"] + 2,
        no_shows=X["no_shows"] + 2,
    )
    assert model.predict_proba(worse)[:, 1].mean() > model.predict_proba(X)[:, 1].mean()


def test_scores_do_not_depend_on_row_order(model_and_rows):
    model, X = model_and_rows
    p = pd.Series(model.predict_proba(X)[:, 1], index=X.index)
    shuffled = X.sample(frac=1.0, random_state=1)
    q = pd.Series(model.predict_proba(shuffled)[:, 1], index=shuffled.index)
    pd.testing.assert_series_equal(p.sort_index(), q.sort_index())
