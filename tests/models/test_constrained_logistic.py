"""Sign-constrained logistic regression keeps clinically certain directions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from models.constrained_logistic import SignConstrainedLogisticRegression


def _collinear(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = a + 0.5 * rng.normal(size=n)  # strongly correlated with a
    z = 1.5 * a - 0.4 * b
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return pd.DataFrame({"no_shows__no_shows": a, "late_cancels__late_cancels": b}), y


def test_matches_sklearn_when_unconstrained():
    X, y = _collinear()
    ours = SignConstrainedLogisticRegression(C=1.0).fit(X, y)
    ref = LogisticRegression(C=1.0, max_iter=5000).fit(X.to_numpy(), y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=2e-3)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=2e-3)


def test_bounded_coefficient_keeps_its_sign():
    X, y = _collinear()
    free = SignConstrainedLogisticRegression(C=1.0).fit(X, y)
    assert free.coef_[0, 1] < 0  # the unconstrained fit gives late cancels a protective weight
    fixed = SignConstrainedLogisticRegression(C=1.0, directions={"late_cancels": 1}).fit(X, y)
    assert fixed.coef_[0, 1] >= 0


def test_missing_indicators_are_left_free():
    X, y = _collinear()
    X = X.rename(
        columns={"late_cancels__late_cancels": "late_cancels__missingindicator_late_cancels"}
    )
    fit = SignConstrainedLogisticRegression(C=1.0, directions={"late_cancels": 1}).fit(X, y)
    assert fit.coef_[0, 1] < 0


def test_probabilities_and_labels():
    X, y = _collinear()
    fit = SignConstrainedLogisticRegression().fit(X, y)
    p = fit.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1)
    assert set(fit.predict(X)) <= {0, 1}
    with pytest.raises(ValueError, match="two classes"):
        SignConstrainedLogisticRegression().fit(X, np.zeros(len(y), dtype=int))
