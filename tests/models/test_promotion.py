"""The promotion gates: each refuses on its own, good figures pass (numbers in, verdicts out)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from configs.config import PromotionConfig
from features.drift import fit_profile
from models.drift import compare
from models.promotion import decide

PASSING = {
    "auroc_champion": 0.80,
    "auroc_challenger": 0.81,
    "auroc_difference": 0.01,
    "auroc_difference_ci_low": -0.01,
    "auroc_difference_ci_high": 0.03,
    "cal_slope_champion": 1.0,
    "cal_slope_challenger": 0.97,
    "calibration_in_the_large_champion": 0.01,
    "calibration_in_the_large_challenger": -0.02,
    "gap_auroc_champion": 0.06,
    "gap_auroc_challenger": 0.06,
    "gap_calibration_champion": 0.10,
    "gap_calibration_challenger": 0.11,
}


def _verdicts(gates) -> dict[str, bool]:
    return {g.name: g.passed for g in gates}


def _drift(moved: bool):
    """A real drift report: the same ages, or ages shifted by 30 years."""
    import numpy as np

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(35, 10, 2000)})
    batch = pd.DataFrame({"age": rng.normal(65 if moved else 35, 10, 500)})
    return compare(fit_profile(reference), batch)


def test_all_gates_pass_on_good_figures():
    gates = decide(PASSING, PromotionConfig(), drift=_drift(False))
    assert [g.name for g in gates] == [
        "auroc",
        "calibration_slope",
        "calibration_in_the_large",
        "subgroup_gap",
        "drift",
    ]
    assert all(_verdicts(gates).values())


@pytest.mark.parametrize(
    ("gate", "change"),
    [
        # the whole interval of the difference lies below zero: worse beyond noise
        ("auroc", {"auroc_difference_ci_low": -0.06, "auroc_difference_ci_high": -0.01}),
        ("calibration_slope", {"cal_slope_challenger": 0.7}),
        ("calibration_slope", {"cal_slope_challenger": 1.3}),
        ("calibration_slope", {"cal_slope_challenger": math.nan}),
        ("calibration_in_the_large", {"calibration_in_the_large_challenger": 0.06}),
        ("calibration_in_the_large", {"calibration_in_the_large_challenger": -0.07}),
        ("calibration_in_the_large", {"calibration_in_the_large_challenger": math.nan}),
        ("subgroup_gap", {"gap_auroc_challenger": 0.09}),
        ("subgroup_gap", {"gap_calibration_challenger": 0.2}),
    ],
)
def test_each_gate_refuses_on_its_own(gate, change):
    gates = decide(PASSING | change, PromotionConfig(), drift=_drift(False))
    assert {name for name, ok in _verdicts(gates).items() if not ok} == {gate}


def test_the_drift_gate_refuses_on_a_drift_alarm():
    gates = decide(PASSING, PromotionConfig(), drift=_drift(True))
    assert {name for name, ok in _verdicts(gates).items() if not ok} == {"drift"}
    drift = next(g for g in gates if g.name == "drift")
    assert "alarm: age" in drift.challenger


def test_a_lower_auroc_within_the_interval_or_the_margin_still_passes():
    within = PASSING | {"auroc_difference": -0.01, "auroc_difference_ci_high": 0.005}
    assert _verdicts(decide(within, PromotionConfig()))["auroc"]
    below = PASSING | {"auroc_difference_ci_high": -0.01}
    assert not _verdicts(decide(below, PromotionConfig()))["auroc"]
    assert _verdicts(decide(below, PromotionConfig(auroc_margin=0.02)))["auroc"]


def test_gap_tolerance_and_unmeasurable_gaps():
    grown = PASSING | {"gap_auroc_challenger": 0.075}
    assert _verdicts(decide(grown, PromotionConfig()))["subgroup_gap"]  # within 0.02
    assert not _verdicts(decide(grown, PromotionConfig(subgroup_gap_tolerance=0.01)))[
        "subgroup_gap"
    ]
    unmeasured = PASSING | {"gap_auroc_champion": math.nan, "gap_calibration_champion": math.nan}
    assert _verdicts(decide(unmeasured, PromotionConfig()))["subgroup_gap"]


def test_without_a_champion_only_the_challengers_own_gates_apply():
    figures = {k: v for k, v in PASSING.items() if "champion" not in k and "difference" not in k}
    gates = decide(figures, PromotionConfig(), has_champion=False)
    assert all(_verdicts(gates).values())
    assert gates[0].champion == "no champion"
    bad = decide(figures | {"cal_slope_challenger": 1.5}, PromotionConfig(), has_champion=False)
    assert not _verdicts(bad)["calibration_slope"]
