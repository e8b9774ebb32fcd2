"""Calibration slope and intercept, weighted metrics and client-level bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.evaluation import binary_metrics, bootstrap_intervals, calibration_slope_intercept


def _simulated(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    lp = rng.normal(-1.2, 1.0, n)
    p = 1 / (1 + np.exp(-lp))
    y = (rng.random(n) < p).astype(int)
    return y, p, lp


def test_well_calibrated_predictions_have_slope_one_and_intercept_zero():
    y, p, _ = _simulated()
    slope, intercept = calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.06)
    assert intercept == pytest.approx(0.0, abs=0.05)


def test_too_extreme_predictions_have_slope_below_one():
    y, _, lp = _simulated()
    slope, _ = calibration_slope_intercept(y, 1 / (1 + np.exp(-2 * lp)))
    assert slope == pytest.approx(0.5, abs=0.05)


def test_underestimated_risk_has_positive_intercept():
    y, _, lp = _simulated()
    _, intercept = calibration_slope_intercept(y, 1 / (1 + np.exp(-(lp - 0.5))))
    assert intercept == pytest.approx(0.5, abs=0.06)


def test_weights_count_each_episode_once():
    # one client duplicated three times with weight 1/3 equals the client counted once
    y = np.array([1, 0, 0, 0, 1])
    p = np.array([0.8, 0.3, 0.3, 0.3, 0.6])
    w = np.array([1, 1 / 3, 1 / 3, 1 / 3, 1])
    once = binary_metrics(np.array([1, 0, 1]), np.array([0.8, 0.3, 0.6]))
    weighted = binary_metrics(y, p, w)
    assert weighted["brier"] == pytest.approx(once["brier"])
    assert weighted["prevalence"] == pytest.approx(2 / 3)


def test_single_class_gives_nan_not_an_error():
    out = binary_metrics(np.zeros(5, dtype=int), np.full(5, 0.2))
    assert np.isnan(out["auroc"])


def test_bootstrap_interval_contains_the_estimate():
    y, p, _ = _simulated(3000)
    groups = np.arange(3000) // 3
    ci = bootstrap_intervals(y, p, np.ones(3000), groups, n_boot=50, seed=1)
    point = binary_metrics(y, p)
    for name, (lo, hi) in ci.items():
        assert lo <= point[name] <= hi, name


def test_bootstrap_auroc_matches_the_full_metric_computation():
    """The fast AUROC path gives the intervals binary_metrics would (ties included)."""
    from models.evaluation import bootstrap_intervals

    rng = np.random.default_rng(4)
    n = 600
    groups = rng.integers(0, 150, n).astype(str)
    y = rng.integers(0, 2, n)
    p = np.round(rng.random(n) * 0.5 + 0.4 * y, 1)  # rounded: many ties
    w = rng.random(n) + 0.5
    fast = bootstrap_intervals(y, p, w, groups, n_boot=50, seed=3, metrics=("auroc",))
    both = bootstrap_intervals(y, p, w, groups, n_boot=50, seed=3, metrics=("auroc", "brier"))
    assert fast["auroc"] == both["auroc"]
    # the same resamples through sklearn's weighted roc_auc_score
    codes = np.unique(groups, return_inverse=True)[1]
    n_groups = codes.max() + 1
    draw_rng = np.random.default_rng(3)
    values = []
    for _ in range(50):
        counts = np.bincount(draw_rng.integers(0, n_groups, n_groups), minlength=n_groups)
        mult = counts[codes]
        keep = mult > 0
        values.append(roc_auc_score(y[keep], p[keep], sample_weight=(w * mult)[keep]))
    assert fast["auroc"] == pytest.approx((np.percentile(values, 2.5), np.percentile(values, 97.5)))


def test_paired_auroc_difference_is_zero_for_one_model_and_signed_for_two():
    from models.evaluation import paired_auroc_difference

    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 2, n)
    good = y + rng.normal(0, 0.8, n)
    poor = y + rng.normal(0, 3.0, n)
    w = np.ones(n)
    groups = np.arange(n)
    same = paired_auroc_difference(y, good, good, w, groups, n_boot=50, seed=0)
    assert same == (0.0, 0.0, 0.0)
    diff, low, high = paired_auroc_difference(y, good, poor, w, groups, n_boot=200, seed=0)
    assert diff == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, poor))
    assert 0 < low < diff < high
    back = paired_auroc_difference(y, poor, good, w, groups, n_boot=200, seed=0)
    assert back[0] == pytest.approx(-diff) and back[2] < 0
    assert np.isnan(paired_auroc_difference(y, good, poor, w, groups, n_boot=0, seed=0)[1])
