"""Instrument scoring: subscales from items, prorating, fallbacks, non-attended rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.config import load_config
from features.instruments import derive_scores

NaN = np.nan
# WAI-SR key (Hatcher & Gillaspy 2006): task 1, 2, 10, 12; bond 3, 5, 7, 9; goal 4, 6, 8, 11
TASK, BOND, GOAL = (1, 2, 10, 12), (3, 5, 7, 9), (4, 6, 8, 11)


@pytest.fixture(scope="module")
def instruments():
    return load_config().instruments


def _items(values: dict[int, float]) -> dict[str, float]:
    return {f"wai_{item}": values.get(item, NaN) for item in range(1, 13)}


def _session(status: str = "attended", **ratings) -> dict:
    return {"client_id": "C1", "status": status, **ratings}


def test_subscales_and_total_from_all_items(instruments):
    items = {**dict.fromkeys(TASK, 4.0), **dict.fromkeys(BOND, 5.0), **dict.fromkeys(GOAL, 3.0)}
    items[1] = 2.0  # task: 2, 4, 4, 4 -> 3.5
    sessions = pd.DataFrame([_session(**_items(items))])
    scored = derive_scores(sessions, instruments)
    row = scored.iloc[0]
    assert row["wai_task"] == pytest.approx(3.5)
    assert row["wai_bond"] == 5.0
    assert row["wai_goal"] == 3.0
    assert row["wai_total"] == pytest.approx(sum(items.values()))  # 12-60 scale
    assert row["wai_total"] == pytest.approx((3.5 + 5 + 3) * 4)


def test_subscale_prorated_from_three_items(instruments):
    items = {3: 4.0, 5: 5.0, 7: 3.0}  # bond item 9 unanswered
    scored = derive_scores(pd.DataFrame([_session(**_items(items), wai_bond=1.0)]), instruments)
    assert scored.loc[0, "wai_bond"] == pytest.approx(4.0)  # items win over the export


def test_too_few_items_fall_back_to_exported_subscale(instruments):
    items = {3: 4.0, 5: 5.0}  # two bond items only
    sessions = pd.DataFrame(
        [
            _session(**_items(items), wai_bond=2.5),
            _session(**_items(items), wai_bond=NaN),
        ]
    )
    scored = derive_scores(sessions, instruments)
    assert scored.loc[0, "wai_bond"] == 2.5
    assert np.isnan(scored.loc[1, "wai_bond"])


def test_exported_subscales_only(instruments):
    sessions = pd.DataFrame([_session(wai_bond=4.0, wai_goal=3.5, wai_task=3.0)])
    scored = derive_scores(sessions, instruments)
    assert scored.loc[0, "wai_total"] == pytest.approx((4.0 + 3.5 + 3.0) * 4)


def test_total_missing_unless_all_three_subscales(instruments):
    sessions = pd.DataFrame([_session(wai_bond=4.0, wai_goal=3.5)])
    scored = derive_scores(sessions, instruments)
    assert np.isnan(scored.loc[0, "wai_total"])
    assert np.isnan(scored.loc[0, "wai_task"])


def test_srs_total_from_items_else_exported(instruments):
    sessions = pd.DataFrame(
        [
            _session(srs_1=9.0, srs_2=8.5, srs_3=9.0, srs_4=8.0, srs_total=10.0),
            _session(srs_1=9.0, srs_2=NaN, srs_3=9.0, srs_4=8.0, srs_total=33.0),
            _session(srs_1=9.0, srs_2=NaN, srs_3=9.0, srs_4=8.0, srs_total=NaN),
        ]
    )
    scored = derive_scores(sessions, instruments)
    assert scored.loc[0, "srs_total"] == pytest.approx(34.5)
    assert scored.loc[1, "srs_total"] == 33.0
    assert np.isnan(scored.loc[2, "srs_total"])


def test_absent_columns_give_missing_scores(instruments):
    scored = derive_scores(pd.DataFrame([_session()]), instruments)
    for column in ("wai_bond", "wai_goal", "wai_task", "wai_total", "srs_total", "ors_total"):
        assert np.isnan(scored.loc[0, column])
        assert scored[column].dtype == "float64"


@pytest.mark.parametrize("status", ["no_show", "late_cancel", "cancelled"])
def test_ratings_blanked_on_sessions_not_attended(instruments, status):
    ratings = {**_items(dict.fromkeys(range(1, 13), 4.0)), "srs_total": 38.0, "ors_total": 20.0}
    sessions = pd.DataFrame([_session(**ratings), _session(status, **ratings)])
    scored = derive_scores(sessions, instruments)
    rating_columns = [c for c in scored.columns if c.startswith(("wai_", "srs_", "ors_"))]
    assert scored.loc[0, rating_columns].notna().all()
    assert scored.loc[1, rating_columns].isna().all()
    assert scored.loc[1, "status"] == status


def test_input_is_not_modified(instruments):
    sessions = pd.DataFrame([_session("no_show", **_items({1: 4.0}), srs_total=30.0)])
    before = sessions.copy()
    derive_scores(sessions, instruments)
    pd.testing.assert_frame_equal(sessions, before)


def test_custom_key_from_config(instruments):
    # a two-item-per-subscale instrument: the minimum is capped at the subscale length
    wai = instruments.wai.model_copy(
        update={"n_items": 6, "subscales": {"bond": (1, 2), "goal": (3, 4), "task": (5, 6)}}
    )
    custom = instruments.model_copy(update={"wai": wai})
    sessions = pd.DataFrame(
        [_session(wai_1=3.0, wai_2=5.0, wai_3=2.0, wai_4=2.0, wai_5=1.0, wai_6=1.0)]
    )
    scored = derive_scores(sessions, custom)
    assert scored.loc[0, "wai_bond"] == 4.0
    assert scored.loc[0, "wai_total"] == pytest.approx(14.0)


def test_scores_without_the_items_are_the_same_scores(config):
    from features.instruments import derive_scores

    sessions = pd.DataFrame(
        {
            "status": ["attended", "no_show", "attended"],
            **{f"wai_{i}": [4.0, 2.0, np.nan] for i in range(1, 13)},
            **{f"srs_{i}": [8.0, 9.0, 7.5] for i in range(1, 5)},
            "ors_total": [20.0, 30.0, np.nan],
        }
    )
    full = derive_scores(sessions, config.instruments)
    scores = derive_scores(sessions, config.instruments, keep_items=False)
    assert not [c for c in scores.columns if c[-1].isdigit()]
    pd.testing.assert_frame_equal(scores, full[scores.columns])
    # nobody rated the session that did not take place
    assert full.loc[1].drop("status").isna().all()
    assert full.loc[0, "srs_total"] == 32.0 and np.isnan(full.loc[2, "wai_bond"])
