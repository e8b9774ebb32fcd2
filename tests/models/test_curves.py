"""The assessment's curves: decision curve, ROC and precision-recall grids, calibration bins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.assessment import assess
from models.curves import DECISION_GRID, FLAG_ALL, FLAG_NONE, ROC_GRID
from tests.conftest import make_predictions


def _predictions(n_clients: int = 240, seed: int = 0, baselines=("intake",)) -> pd.DataFrame:
    return make_predictions(n_clients, seed, baselines=baselines)


def test_decision_curve_reference_strategies_follow_their_formulas():
    rows = _predictions()
    a = assess(rows, baselines=("intake",), n_boot=0)
    dc = a.decision_curve
    assert set(dc["strategy"]) == {"champion", "intake", FLAG_ALL, FLAG_NONE}
    t = DECISION_GRID
    assert t[0] == pytest.approx(0.10) and t[-1] == pytest.approx(0.60) and len(t) == 51
    prevalence = np.average(rows["y"], weights=rows["weight"])
    flag_all = dc[dc["strategy"] == FLAG_ALL]
    np.testing.assert_allclose(flag_all["threshold"], t)
    np.testing.assert_allclose(flag_all["net_benefit"], prevalence - (1 - prevalence) * t / (1 - t))
    assert (dc.loc[dc["strategy"] == FLAG_NONE, "net_benefit"] == 0).all()

    champion = dc[(dc["strategy"] == "champion") & np.isclose(dc["threshold"], 0.3)]
    flagged = rows["risk"] >= 0.3
    w, y = rows["weight"], rows["y"]
    expected = (w * y * flagged).sum() - (w * (1 - y) * flagged).sum() * 0.3 / 0.7
    assert champion["net_benefit"].iloc[0] == pytest.approx(expected / w.sum())


def test_a_perfect_model_has_net_benefit_equal_to_prevalence():
    rows = _predictions()
    rows["risk"] = rows["y"].astype(float)
    a = assess(rows, baselines=("intake",), n_boot=0)
    prevalence = np.average(rows["y"], weights=rows["weight"])
    perfect = a.decision_curve[a.decision_curve["strategy"] == "champion"]
    np.testing.assert_allclose(perfect["net_benefit"], prevalence)


@pytest.mark.parametrize("n_clients", [60, 400])
def test_roc_and_pr_are_on_the_fixed_grid_whatever_the_number_of_examples(n_clients):
    a = assess(_predictions(n_clients), baselines=("intake",), n_boot=0)
    grid = np.round(np.arange(101) / 100, 2)
    np.testing.assert_allclose(ROC_GRID, grid)
    for curve in (a.roc, a.pr):
        assert len(curve) == 2 * 101
        for _, part in curve.groupby("model"):
            np.testing.assert_allclose(part["threshold"], grid)
    roc = a.roc[a.roc["model"] == "champion"]
    assert roc["tpr"].iloc[0] == 1 and roc["fpr"].iloc[0] == 1
    assert (np.diff(roc["tpr"]) <= 1e-12).all() and (np.diff(roc["fpr"]) <= 1e-12).all()


def test_precision_is_hidden_where_few_episodes_are_flagged():
    rows = _predictions()
    a = assess(rows, baselines=("intake",), n_boot=0, min_cell=10)
    pr = a.pr[a.pr["model"] == "champion"].set_index("threshold")
    flagged = np.array([rows.loc[rows["risk"] >= t, "weight"].sum() for t in pr.index], dtype=float)
    assert pr["precision"][flagged < 10].isna().all()
    assert pr["precision"][flagged >= 10].notna().all()


@pytest.mark.parametrize("min_cell", [1, 10, 40])
def test_calibration_bins_hold_at_least_min_cell_episodes(min_cell):
    rows = _predictions()
    a = assess(rows, baselines=("intake",), n_boot=0, min_cell=min_cell)
    curve = a.calibration_curve
    weights = []
    for model, part in curve.groupby("model"):
        assert len(part) <= 10
        assert (part["n_episodes"] >= min_cell).all(), model
        assert part["mean_predicted"].is_monotonic_increasing
        assert (
            (part["observed_ci_low"] <= part["observed"])
            & (part["observed"] <= part["observed_ci_high"])
        ).all()
        weights.append(len(part))
    if min_cell == 40:  # 240 episodes cannot fill ten bins of 40
        assert max(weights) <= 6


def test_too_few_episodes_for_any_calibration_bin_shows_none():
    a = assess(_predictions(8), n_boot=0, min_cell=10, min_group=1)
    assert a.calibration_curve.empty
    assert a.by_landmark.empty
