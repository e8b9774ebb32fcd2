"""Baselines: the SRS rule and single-family logistic regressions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.baselines import SrsRuleBaseline, build_baselines, family_features


def test_srs_rule_gives_each_arm_its_dropout_rate():
    X = pd.DataFrame({"srs_total_last": [30.0, 31.0, 38.0, 39.0, np.nan, np.nan]})
    y = np.array([1, 1, 0, 1, 0, 0])
    rule = SrsRuleBaseline(cutoff=36).fit(X, y, sample_weight=np.ones(6))
    p = rule.predict_proba(pd.DataFrame({"srs_total_last": [20.0, 36.0, np.nan]}))[:, 1]
    assert p == pytest.approx([1 - 1e-4, 0.5, 1e-4])


def test_family_baselines_use_only_their_family():
    assert "no_shows" in family_features("attendance")
    assert "wai_bond_last" not in family_features("attendance")
    assert "low_alliance_x_misses" not in family_features("alliance")  # two families
    assert set(build_baselines(0, 36)) == {
        "srs_rule",
        "attendance_only",
        "alliance_only",
        "intake_only",
    }
