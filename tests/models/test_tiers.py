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
