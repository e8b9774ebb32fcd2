"""What changed since an earlier date: the contribution that moved most, in words."""

from __future__ import annotations

import numpy as np
import pandas as pd

from configs.config import load_config
from configs.settings import FeatureSettings
from features.schema import FEATURE_NAMES
from models.changes import NOTHING_CHANGED, change_reasons, changed_features

SINCE = pd.Timestamp("2026-06-16")
SETTINGS = FeatureSettings.from_config(load_config(None)).to_dict()


def _rows(**values) -> pd.DataFrame:
    """One client's feature row: every feature at a neutral value, ``values`` on top."""
    row = {name: 0.0 for name in FEATURE_NAMES}
    row.update(
        {
            "site": "north",
            "program": "outpatient",
            "gender": "f",
            "primary_concern": "depression",
            "referral_source": "self",
            "attended": 4.0,
            "appointments": 4.0,
            "planned_sessions": 12.0,
            "ctx_history_prior": 0.2,
        }
    )
    for scale in ("wai_bond", "wai_goal", "wai_task", "srs_total"):
        row[f"{scale}_last"] = np.nan
        row[f"{scale}_ctx_last_session"] = 4.0
        row[f"{scale}_ctx_count"] = 4.0
    row.update(values)
    return pd.DataFrame([row], index=pd.Index(["A"], name="client_id"))


def _contributions(**values) -> pd.DataFrame:
    row = dict.fromkeys(FEATURE_NAMES, 0.0) | values
    return pd.DataFrame([row], index=pd.Index(["A"], name="client_id"))


def _reason(then, now, c_then, c_now, change=0.1) -> str:
    return change_reasons(
        then, now, c_then, c_now, pd.Series([change], index=now.index), SETTINGS, SINCE
    ).iloc[0]


def test_a_fallen_bond_rating_is_worded_with_both_values():
    then, now = _rows(wai_bond_last=4.2), _rows(wai_bond_last=3.0)
    words = _reason(then, now, _contributions(), _contributions(wai_bond_last=0.5))
    assert words == "Bond rating fell from 4.2 to 3.0 since 2026-06-16"


def test_new_no_shows_are_counted_since_the_date():
    then, now = _rows(no_shows=1.0), _rows(no_shows=3.0)
    words = _reason(then, now, _contributions(no_shows=0.1), _contributions(no_shows=0.4))
    assert words == "2 no-shows since 2026-06-16 (3 in all)"


def test_the_contribution_that_moved_the_way_the_risk_moved_wins():
    then = _rows(no_shows=0.0, wai_bond_last=4.0)
    now = _rows(no_shows=1.0, wai_bond_last=4.5)
    # the bond rose (a large fall in its contribution), a no-show was added (a rise)
    c_then, c_now = (
        _contributions(wai_bond_last=0.0),
        _contributions(wai_bond_last=-0.6, no_shows=0.2),
    )
    assert _reason(then, now, c_then, c_now, change=0.03) == "1 no-show since 2026-06-16 (1 in all)"
    # the risk fell overall: the bond is why
    fell = _reason(then, now, c_then, c_now, change=-0.05)
    assert fell == "Bond rating rose from 4.0 to 4.5 since 2026-06-16"


def test_course_bookkeeping_is_never_the_change_reason():
    then = _rows(days_in_treatment=30.0, plan_progress=0.2, appointments=4.0)
    now = _rows(days_in_treatment=37.0, plan_progress=0.3, appointments=5.0)
    c_now = _contributions(days_in_treatment=0.9, plan_progress=0.8, appointments=0.7)
    assert _reason(then, now, _contributions(), c_now) == NOTHING_CHANGED.format(date="2026-06-16")


def test_no_session_since_the_date_is_said_with_the_days():
    then = _rows(days_since_last_attended=7.0)
    now = _rows(days_since_last_attended=21.0)
    words = _reason(then, now, _contributions(), _contributions(days_since_last_attended=0.3))
    assert words == "No session attended since 2026-06-16: 21 days since the last one"


def test_a_feature_without_its_own_wording_gives_now_and_then():
    then, now = _rows(longest_gap_days=7.0), _rows(longest_gap_days=28.0)
    words = _reason(then, now, _contributions(), _contributions(longest_gap_days=0.3))
    assert words == (
        "Longest gap between attended sessions: 28 days "
        "(on 2026-06-16: longest gap between attended sessions: 7 days)"
    )


def test_changed_features_treats_two_missing_values_as_the_same():
    then = pd.DataFrame({"x": [np.nan, 1.0, 1.0], "site": ["a", None, "b"]})
    now = pd.DataFrame({"x": [np.nan, np.nan, 1.0], "site": ["a", None, "c"]})
    assert changed_features(then, now, ["x", "site"]).tolist() == [
        [False, False],
        [True, False],
        [False, True],
    ]
