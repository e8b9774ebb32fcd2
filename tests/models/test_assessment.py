"""The held-out assessment: weights, curves, calibration bins, subgroups, gaps and privacy."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from models.assessment import (
    DECISION_GRID,
    FLAG_ALL,
    FLAG_NONE,
    POOLED_GROUP,
    ROC_GRID,
    assess,
)
from tests.conftest import make_predictions


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


# ----------------------------------------------------------------------------- weights


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


# --------------------------------------------------------------------------- curves


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


# ------------------------------------------------------------------------- calibration


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


# --------------------------------------------------------------------------- subgroups


def test_age_is_banded_and_blanks_are_not_recorded():
    rows = _predictions(400)
    a = assess(rows, n_boot=0, min_group=1, min_cell=1)
    ages = a.subgroups[a.subgroups["attribute"] == "age"]["group"].tolist()
    assert ages == ["12-17", "18-25", "26-40", "41-64", "65+", "not recorded"]
    programs = a.subgroups[a.subgroups["attribute"] == "program"]["group"].tolist()
    assert programs == ["group", "outpatient", "not recorded"]


def test_small_subgroups_are_pooled_and_tiny_remainders_are_not_shown():
    rows = _predictions(300)
    ids = rows["client_id"]
    rows.loc[ids.isin([f"client-{i:04d}" for i in range(12)]), "site"] = "tiny east"
    rows.loc[ids.isin([f"client-{i:04d}" for i in range(12, 25)]), "site"] = "tiny west"
    a = assess(rows, n_boot=0, min_group=30, min_cell=10)
    sites = a.subgroups[a.subgroups["attribute"] == "site"].set_index("group")
    assert "tiny east" not in sites.index and "tiny west" not in sites.index
    assert sites.loc[POOLED_GROUP, "n_episodes"] == 25
    assert (sites["n_episodes"] >= 10).all()

    rows.loc[ids.isin([f"client-{i:04d}" for i in range(12, 25)]), "site"] = "north"
    rows.loc[ids.isin([f"client-{i:04d}" for i in range(12)]), "site"] = "north"
    rows.loc[ids.isin([f"client-{i:04d}" for i in range(3)]), "site"] = "tiny east"
    a = assess(rows, n_boot=0, min_group=30, min_cell=10)
    sites = a.subgroups[a.subgroups["attribute"] == "site"]["group"].tolist()
    assert sites == ["north", "south"]
    assert any("site" in note and "not shown" in note for note in a.notes)


def test_gaps_are_the_largest_between_group_difference_ignoring_single_class_groups():
    rows = _predictions(400)
    stayers = rows.groupby("client_id")["y"].transform("max") == 0
    first_stayers = rows.loc[stayers, "client_id"].drop_duplicates().iloc[:40]
    rows.loc[rows["client_id"].isin(first_stayers), "site"] = "only stayers"
    a = assess(rows, n_boot=0, min_group=30)
    table = a.subgroups
    assert np.isnan(table.set_index("group").loc["only stayers", "auroc"])
    for metric in ("auroc", "calibration_in_the_large", "flag_rate"):
        spread = table.groupby("attribute")[metric].agg(lambda v: v.max() - v.min())
        assert a.gaps[metric] == pytest.approx(spread.max()), metric
        assert np.isfinite(a.gaps[metric])


def test_subgroup_statistics_are_weighted_and_auroc_has_a_bootstrap_interval():
    rows = _predictions(300)
    a = assess(rows, n_boot=10, min_group=30, flag_threshold=0.4)
    female = a.subgroups.set_index(["attribute", "group"]).loc[("gender", "female")]
    part = rows[rows["gender"] == "female"]
    w = part["weight"]
    assert female["n_episodes"] == int(np.floor(w.sum() + 0.5))
    assert female["flag_rate"] == pytest.approx(np.average(part["risk"] >= 0.4, weights=w))
    assert female["calibration_in_the_large"] == pytest.approx(
        np.average(part["risk"], weights=w) - np.average(part["y"], weights=w)
    )
    assert female["auroc_ci_low"] < female["auroc"] < female["auroc_ci_high"]
    champion = a.overall.set_index("model").loc["champion"]
    assert champion["auroc_ci_low"] < champion["auroc"] < champion["auroc_ci_high"]
    assert (a.by_landmark["auroc_ci_low"] <= a.by_landmark["auroc_ci_high"]).all()


# -------------------------------------------------------------------------- explanation


def _explained(rows: pd.DataFrame, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    sample = rows.set_index("client_id").iloc[:200]  # indexed by client id on purpose
    values = pd.DataFrame(
        {
            "attendance_rate": rng.uniform(0, 1, len(sample)),
            "no_shows": rng.integers(0, 4, len(sample)).astype(float),
            "prior_episodes": rng.integers(0, 3, len(sample)).astype(float),
        },
        index=sample.index,
    )
    contributions = pd.DataFrame(
        {
            "attendance_rate": -0.8 * (values["attendance_rate"] - 0.5),
            "no_shows": 0.5 * (values["no_shows"] - 1),
            "prior_episodes": 0.05 * values["prior_episodes"],
        },
        index=sample.index,
    )
    return contributions, values


def test_importance_is_sorted_with_families_and_dependence_is_binned():
    rows = _predictions()
    contributions, values = _explained(rows)
    a = assess(
        rows,
        n_boot=0,
        contributions=contributions,
        feature_values=values,
        feature_families={
            "attendance_rate": "attendance",
            "no_shows": "attendance",
            "prior_episodes": "history",
        },
        dependence_features=["attendance_rate", "no_shows", "not_a_feature"],
        min_cell=10,
    )
    imp = a.shap_importance
    assert imp["feature"].tolist() == ["no_shows", "attendance_rate", "prior_episodes"]
    assert imp["family"].tolist() == ["attendance", "attendance", "history"]
    assert imp["mean_abs_contribution"].is_monotonic_decreasing
    assert set(a.dependence) == {"attendance_rate", "no_shows"}
    shows = a.dependence["no_shows"]
    assert shows["value_mid"].tolist() == [0.0, 1.0, 2.0, 3.0]  # few values: one bin each
    rate = a.dependence["attendance_rate"]
    assert len(rate) <= 10 and (rate["n"] >= 10).all()
    assert (rate["q25"] <= rate["mean_contribution"] + 1e-9).all()
    # outer edges are bottom- and top-coded, never the single smallest or largest value
    assert rate["value_low"].min() > values["attendance_rate"].min()
    assert rate["value_high"].max() < values["attendance_rate"].max()


def test_without_contributions_the_explanation_is_empty():
    a = assess(_predictions(), n_boot=0)
    assert a.shap_importance.empty
    assert list(a.shap_importance.columns) == ["feature", "family", "mean_abs_contribution"]
    assert a.dependence == {}


# ------------------------------------------------------------------------------ privacy


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


# ------------------------------------------------------------------------------ metrics


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


def test_parallel_bootstrap_gives_the_same_intervals(monkeypatch):
    import models.assessment as assessment

    rows = _predictions(120)
    sequential = assess(rows, baselines=("intake",), n_boot=5, min_group=20, n_jobs=1)
    monkeypatch.setattr(assessment, "_PARALLEL_ABOVE_SECONDS", 0.0)
    parallel = assess(rows, baselines=("intake",), n_boot=5, min_group=20, n_jobs=2)
    for name, frame in _frames(sequential).items():
        pd.testing.assert_frame_equal(frame, _frames(parallel)[name], obj=name)
    assert sequential.overall["auroc_ci_low"].notna().all()
