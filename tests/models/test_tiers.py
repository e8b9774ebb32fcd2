"""Risk tiers by probability thresholds and by each site's capacity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from configs.config import TiersConfig
from models.tiers import assign_capacity_tiers, assign_tiers, tiers_of


def test_capacity_tiers_flag_the_highest_risks_at_each_site():
    risk = pd.Series([0.9, 0.8, 0.7, 0.6, 0.5, np.nan, 0.4])
    site = pd.Series(["n", "n", "n", "s", "s", "s", None])
    ids = pd.Series(["a", "b", "c", "d", "e", "f", "g"])
    tiers = assign_capacity_tiers(risk, site, ids, high=1, medium=1)
    assert tiers.tolist() == ["high", "medium", "low", "high", "medium", "", "high"]


def test_capacity_ties_are_broken_by_client_id_not_row_order():
    risk = pd.Series([0.5, 0.5])
    site = pd.Series(["n", "n"])
    first = assign_capacity_tiers(risk, site, pd.Series(["b", "a"]), high=1, medium=0)
    assert first.tolist() == ["low", "high"]


def test_threshold_tiers_include_the_threshold_and_leave_unscored_blank():
    risk = pd.Series([0.4, 0.39, 0.2, 0.1, np.nan])
    assert assign_tiers(risk, high=0.4, medium=0.2).tolist() == [
        "high",
        "medium",
        "medium",
        "low",
        "",
    ]


def test_the_rule_of_the_config_is_applied():
    rows = pd.DataFrame(
        {"risk": [0.9, 0.1, 0.05], "site": ["n", "n", "n"], "client_id": ["a", "b", "c"]}
    )
    by_probability = tiers_of(rows, TiersConfig())
    by_capacity = tiers_of(rows, TiersConfig(rule="capacity", high_per_site=0, medium_per_site=2))
    assert by_probability.tolist() == ["high", "low", "low"]
    assert by_capacity.tolist() == ["medium", "medium", "low"]


def test_the_tier_rule_can_read_the_risk_within_the_horizon():
    frame = pd.DataFrame(
        {
            "client_id": ["a", "b", "c"],
            "site": ["n", "n", "n"],
            "risk": [0.9, 0.5, 0.3],
            "risk_within_horizon": [0.1, 0.45, 0.25],
        }
    )
    soon = TiersConfig(by="risk_within_horizon", high=0.4, medium=0.2)
    assert tiers_of(frame, soon).tolist() == ["low", "high", "medium"]
    assert tiers_of(frame, TiersConfig(high=0.4, medium=0.2)).tolist() == ["high", "high", "medium"]
    capacity = TiersConfig(
        by="risk_within_horizon", rule="capacity", high_per_site=1, medium_per_site=1
    )
    assert tiers_of(frame, capacity).tolist() == ["low", "high", "medium"]
    assert soon.describe(60) == (
        "High: risk of dropout within 60 days of 40% or more; medium: 20% or more; "
        "low: below (probability thresholds from config)."
    )
    assert capacity.describe(60).startswith(
        "High: the 1 highest risks of dropout within 60 days at each site"
    )
