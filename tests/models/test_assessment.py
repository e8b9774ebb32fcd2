"""The held-out assessment as a whole: weights, input checks, privacy and tracker metrics."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from models.assessment import assess
from tests.conftest import make_predictions
from tests.models.test_explanations import _explained


def _predictions(n_clients: int = 240, seed: int = 0, baselines=("intake",)) -> pd.DataFrame:
    return make_predictions(n_clients, seed, baselines=baselines)


def _frames(a) -> dict[str, pd.DataFrame]:
    return {
        "overall": a.overall,
        "by_landmark": a.by_landmark,
        "calibration_curve": a.calibration_curve,
        "roc": a.roc,
        "pr": a.pr,
        "decision_curve": a.decision_curve,
        "subgroups": a.subgroups,
        "shap_importance": a.shap_importance,
        **{f"dependence[{k}]": v for k, v in a.dependence.items()},
    }


def test_duplicating_rows_with_halved_weights_leaves_every_result_unchanged():
    rows = _predictions()
    # duplicate only dropouts' rows: an unweighted computation would see more dropouts
    dup = rows[rows["y"] == 1].copy()
    doubled = pd.concat(
        [
            rows.assign(weight=np.where(rows["y"] == 1, rows["weight"] / 2, rows["weight"])),
            dup.assign(weight=dup["weight"] / 2),
        ],
        ignore_index=True,
    )
    assert doubled["y"].mean() != pytest.approx(rows["y"].mean(), abs=0.02)  # test can fail

    once = assess(rows, baselines=("intake",), n_boot=5, min_group=10)
    twice = assess(doubled, baselines=("intake",), n_boot=5, min_group=10)

    for name, frame in _frames(once).items():
        other = _frames(twice)[name]
        if name == "overall":  # n_examples counts prediction rows, not episodes
            frame, other = frame.drop(columns="n_examples"), other.drop(columns="n_examples")
        pd.testing.assert_frame_equal(frame, other, check_exact=False, rtol=1e-6, atol=1e-9)
    assert once.gaps == pytest.approx(twice.gaps)
    assert twice.overall["n_examples"].iloc[0] > once.overall["n_examples"].iloc[0]


def test_episode_counts_are_sums_of_weights():
    rows = _predictions()
    a = assess(rows, baselines=("intake",), n_boot=0)
    n_clients = rows["client_id"].nunique()
    assert set(a.overall["n_episodes"]) == {n_clients}
    assert a.overall["n_examples"].iloc[0] == len(rows)
    sums = a.calibration_curve.groupby("model")["n_episodes"].sum()
    assert (abs(sums - n_clients) <= 10).all()  # rounding per bin


def test_weights_that_do_not_sum_to_one_per_client_are_rejected():
    rows = _predictions().assign(weight=1.0)
    with pytest.raises(ValueError, match="do not sum to 1"):
        assess(rows, n_boot=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.drop(columns="risk_intake"), r"missing column\(s\) \['risk_intake'\]"),
        (lambda r: r.assign(y=2), "must be 0 or 1"),
        (lambda r: r.assign(risk=1.5), r"predictions\['risk'\]: risks must be probabilities"),
    ],
)
def test_unusable_inputs_name_the_column(change, message):
    with pytest.raises(ValueError, match=message):
        assess(change(_predictions()), baselines=("intake",), n_boot=0)


def test_no_client_id_appears_in_any_result():
    rows = _predictions(120)
    contributions, values = _explained(rows)
    a = assess(
        rows,
        baselines=("intake",),
        n_boot=5,
        contributions=contributions,
        feature_values=values,
        dependence_features=["attendance_rate", "no_shows"],
        min_group=5,
        min_cell=5,
    )
    text = (
        "\n".join(frame.to_csv(index=True) for frame in _frames(a).values())
        + repr(a.gaps)
        + repr(a.metrics())
        + repr(a.notes)
        + repr(a.models)
    )
    assert "client-0000" in rows["client_id"].to_numpy()
    leaked = [c for c in rows["client_id"].unique() if c in text]
    assert leaked == []
    assert "client-" not in text


def test_metrics_are_finite_and_named_as_mlflow_accepts():
    rows = _predictions()
    rows["risk_intake+history"] = rows["risk_intake"]
    a = assess(rows, baselines=("intake", "intake+history"), n_boot=5)
    metrics = a.metrics(prefix="test_")
    assert all(re.fullmatch(r"[A-Za-z0-9_\-./ ]+", k) for k in metrics)
    assert all(isinstance(v, float) and np.isfinite(v) for v in metrics.values())
    for key in (
        "test_champion_auroc",
        "test_champion_auroc_ci_low",
        "test_champion_cal_slope_ci_high",
        "test_intake_brier",
        "test_intake_history_auroc",
        "test_fairness_auroc_gap",
        "test_fairness_calibration_gap",
        "test_fairness_flag_rate_gap",
        "test_net_benefit_champion_at_0.1",
        "test_net_benefit_champion_at_0.4",
    ):
        assert key in metrics, key
    assert metrics["test_champion_auroc"] == pytest.approx(a.overall["auroc"].iloc[0])


def test_metrics_leave_out_nan_values():
    a = assess(_predictions(), n_boot=0)
    metrics = a.metrics()
    assert "champion_auroc" in metrics
    assert not any(k.endswith("_ci_low") for k in metrics)
