"""The assessment by subgroup: age bands, pooled small groups, gaps and weighted statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.assessment import assess
from models.subgroups import POOLED_GROUP
from tests.conftest import make_predictions


def _predictions(n_clients: int = 240, seed: int = 0, baselines=("intake",)) -> pd.DataFrame:
    return make_predictions(n_clients, seed, baselines=baselines)


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
