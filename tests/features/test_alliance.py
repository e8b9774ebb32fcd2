"""Alliance trajectories: levels, slopes, ruptures and repairs, in the client's own values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.landmarks import landmark_examples
from tests.conftest import make_clients, make_sessions


def _rows(config, statuses, **ratings):
    clients = make_clients({"client_id": "C1"})
    sessions = make_sessions("C1", "2026-01-12", statuses, **ratings)
    return landmark_examples(clients, sessions, config.instruments, config.features).set_index(
        "landmark"
    )


def test_v_shaped_dip_is_a_rupture_then_a_repair(config):
    bond = [4.5, 4.5, 3.5, 4.5, 4.5]
    ex = _rows(config, ["attended"] * 5, wai_bond=bond, wai_goal=[4.0] * 5, wai_task=[4.0] * 5)
    assert ex.loc[2, "wai_bond_ruptures"] == 0
    assert ex.loc[3, "wai_bond_ruptures"] == 1 and ex.loc[3, "wai_bond_unrepaired"] == 1
    assert ex.loc[4, "wai_bond_unrepaired"] == 0 and ex.loc[4, "wai_bond_repairs"] == 1
    assert ex.loc[5, "wai_goal_ruptures"] == 0
    assert ex.loc[3, "wai_bond_ctx_rupture_from"] == 4.5
    assert ex.loc[3, "wai_bond_ctx_rupture_to"] == 3.5
    assert ex.loc[3, "wai_bond_ctx_rupture_from_session"] == 2
    assert ex.loc[3, "wai_bond_ctx_rupture_session"] == 3


def test_unrepaired_drop_stays_open_and_is_carried_over_missed_sessions(config):
    ex = _rows(
        config,
        ["attended", "attended", "attended", "no_show"],
        wai_bond=[4.2, 4.2, 3.0, None],
        wai_goal=[4.0] * 3 + [None],
        wai_task=[4.0] * 3 + [None],
    )
    assert ex.loc[4, "wai_bond_unrepaired"] == 1
    assert ex.loc[4, "wai_bond_last"] == 3.0
    assert ex.loc[4, "wai_bond_change"] == pytest.approx(-1.2)
    assert ex.loc[4, "wai_bond_min"] == 3.0


def test_slope_over_the_last_window_of_ratings(config):
    ex = _rows(config, ["attended"] * 4, srs_total=[38, 37, 35, 33])
    # window 3: (33 - 37) / 2
    assert ex.loc[4, "srs_total_slope"] == pytest.approx(-2.0)
    assert ex.loc[2, "srs_total_slope"] == pytest.approx(-1.0)
    assert ex.loc[1, "srs_total_slope"] != ex.loc[1, "srs_total_slope"]  # NaN with one rating


def test_srs_cutoff_flags_and_share(config):
    ex = _rows(config, ["attended"] * 4, srs_total=[38, 34, 37, 35])
    assert ex.loc[1, "srs_below_cutoff"] == 0 and ex.loc[2, "srs_below_cutoff"] == 1
    assert ex.loc[4, "srs_share_below_cutoff"] == pytest.approx(0.5)
    # SRS clinical rule: at least 1 point below the previous session counts as a rupture
    assert ex.loc[2, "srs_total_ruptures"] == 1 and ex.loc[4, "srs_total_ruptures"] == 2


def test_ratings_on_missed_sessions_are_ignored(config):
    ex = _rows(config, ["attended", "no_show"], srs_total=[38, 20])
    assert ex.loc[2, "srs_total_last"] == 38


def test_ors_level_change_and_clinical_range(config):
    ex = _rows(config, ["attended"] * 3, ors_total=[18, 22, 27])
    assert ex.loc[3, "ors_change"] == 9 and ex.loc[3, "ors_clinical"] == 0
    assert ex.loc[1, "ors_clinical"] == 1


def test_carry_forward_reads_the_latest_value_of_the_same_client_only():
    from features.alliance import carry_forward

    index = pd.RangeIndex(6)
    by = np.array(["A", "A", "A", "B", "B", "B"], dtype=object)
    # ratings at A's 1st and 3rd appointments (a gap in one column) and at B's 2nd
    part = pd.DataFrame({"x": [1.0, np.nan, 7.0], "y": [2.0, 3.0, 4.0]}, index=[0, 2, 4])
    columns = {name: part[name].to_numpy() for name in part}
    out = carry_forward(columns, part.index, index, by, np.arange(6))
    expected = part.reindex(index).groupby(by, sort=False).ffill()
    pd.testing.assert_frame_equal(out, expected)
    # B's first appointment comes before any rating of B: nothing from A leaks into it
    assert np.isnan(out.loc[3, "x"])
    some = carry_forward(columns, part.index, index, by, np.array([2, 5]))
    pd.testing.assert_frame_equal(some, expected.iloc[[2, 5]])
