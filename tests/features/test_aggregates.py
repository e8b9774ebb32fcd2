"""Per-client aggregates at a cutoff: values by hand, no leakage, same-day appointments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.aggregates import (
    AGGREGATE_FEATURES,
    RATING_AGGREGATES,
    appointment_cutoffs,
    client_aggregates,
)
from pipeline.contract.validation import validate_tables
from pipeline.synthetic import generate_cohort
from tests.conftest import make_clients, make_sessions


@pytest.fixture(scope="module")
def cohort(config):
    clients, sessions = generate_cohort(300, 21, config.instruments)
    tables = validate_tables(
        clients, sessions, config.instruments, clients_file="c.csv", sessions_file="s.csv"
    )
    assert tables.issues.empty
    return tables.clients, tables.sessions


def _two_clients() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A: weekly from 2026-01-12, B: two missed appointments; both intakes 2026-01-05."""
    clients = make_clients(
        {"client_id": "A", "age": 41.0, "planned_sessions": 10.0},
        {"client_id": "B", "therapist_id": "T2", "site": "south", "program": " "},
    )
    a = make_sessions(
        "A",
        "2026-01-12",  # 01-12, 01-19, 01-26, 02-02
        ["attended", "no_show", "attended", "late_cancel"],
        # the no-show's ratings (39, 1.0) must be ignored: nobody rated that session
        srs_total=[30, 39, 34, 20],
        wai_bond=[4.0, 1.0, None, 5.0],
        # the third session's bond comes from its items (3, 5, 7, 9), not an exported mean
        wai_3=[None, None, 3.0, None],
        wai_5=[None, None, 3.0, None],
        wai_7=[None, None, 2.0, None],
        wai_9=[None, None, 4.0, None],
    )
    b = make_sessions("B", "2026-01-19", ["no_show", "cancelled"], srs_total=[35, 36])
    return clients, pd.concat([b, a], ignore_index=True)


def _cutoffs(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"client_id": [p[0] for p in pairs], "cutoff_date": pd.to_datetime([p[1] for p in pairs])}
    )


def test_two_client_example_by_hand(config):
    clients, sessions = _two_clients()
    cutoffs = _cutoffs(
        ("B", "2026-01-30"), ("A", "2026-02-05"), ("A", "2026-01-20"), ("B", "2026-01-10")
    )
    rows = client_aggregates(clients, sessions, config.instruments, cutoffs=cutoffs)
    assert list(rows.columns) == ["client_id", "cutoff_date", *AGGREGATE_FEATURES]
    # the order of the cutoffs
    assert rows["client_id"].tolist() == ["B", "A", "A", "B"]
    b_late, a_all, a_two, b_before = (rows.iloc[i] for i in range(4))

    # A after all four appointments (cutoff Thursday 2026-02-05)
    assert a_all[["scheduled", "attended", "no_shows", "late_cancels"]].tolist() == [4, 2, 1, 1]
    assert a_all["attendance_rate"] == 0.5
    assert a_all["misses_last_two"] == 1  # attended 01-26, late cancel 02-02
    assert a_all["days_since_last_attended"] == 10  # 01-26 -> 02-05
    assert a_all["days_in_treatment"] == 31  # intake 01-05 -> 02-05
    srs = [a_all[f"srs_total_{s}"] for s in ("first", "last", "min", "mean", "change")]
    assert srs == [30, 34, 30, 32, 4]  # 30 and 34 attended; 39 and 20 were not
    bond = [a_all[f"wai_bond_{s}"] for s in ("first", "last", "min", "mean", "change")]
    assert bond == pytest.approx([4.0, 3.0, 3.0, 3.5, -1.0])  # 3.0 = mean of items 3, 5, 7, 9
    assert np.isnan(a_all["wai_goal_mean"]) and np.isnan(a_all["ors_total_last"])
    assert (a_all["age"], a_all["planned_sessions"]) == (41, 10)
    assert a_all[["therapist_id", "site", "program"]].tolist() == ["T1", "north", "outpatient"]

    # A after two (cutoff 2026-01-20): the no-show's 39 does not enter the mean
    assert a_two[["scheduled", "attended", "no_shows"]].tolist() == [2, 1, 1]
    assert a_two["misses_last_two"] == 1
    assert a_two["days_since_last_attended"] == 8  # 01-12 -> 01-20
    assert a_two["srs_total_mean"] == 30 and a_two["srs_total_change"] == 0
    assert a_two["wai_bond_min"] == 4.0

    # B never attended: days since intake, no ratings, a blank program is missing
    assert b_late[["scheduled", "attended", "no_shows", "late_cancels"]].tolist() == [2, 0, 1, 0]
    assert b_late["attendance_rate"] == 0 and b_late["misses_last_two"] == 1
    assert b_late["days_since_last_attended"] == 25  # intake 01-05 -> 01-30
    assert rows.loc[0, list(RATING_AGGREGATES)].isna().all()
    assert pd.isna(b_late["program"]) and b_late["therapist_id"] == "T2"

    # B before its first appointment: an all-zero row, no rate
    assert b_before["scheduled"] == 0 and np.isnan(b_before["attendance_rate"])
    assert b_before["days_since_last_attended"] == 5 and b_before["days_in_treatment"] == 5


def test_two_consecutive_misses_count_two_and_older_misses_drop_out(config):
    clients = make_clients({"client_id": "A"})
    sessions = make_sessions("A", "2026-01-12", ["no_show", "late_cancel", "attended", "no_show"])
    cutoffs = appointment_cutoffs(sessions)
    rows = client_aggregates(clients, sessions, config.instruments, cutoffs=cutoffs)
    assert rows["misses_last_two"].tolist() == [1, 2, 1, 1]


def test_appointment_cutoffs_are_the_first_n_by_ordinal():
    sessions = pd.concat(
        [
            make_sessions("A", "2026-01-12", ["attended"] * 10),
            make_sessions("B", "2026-01-05", ["no_show", "attended"]),
        ]
    ).iloc[::-1]
    cutoffs = appointment_cutoffs(sessions, n_first=8)
    assert cutoffs.columns.tolist() == ["client_id", "appointment", "cutoff_date"]
    a = cutoffs[cutoffs["client_id"] == "A"]
    assert a["appointment"].tolist() == list(range(1, 9))
    assert a["cutoff_date"].tolist() == list(pd.date_range("2026-01-12", periods=8, freq="7D"))
    assert cutoffs[cutoffs["client_id"] == "B"]["appointment"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="n_first"):
        appointment_cutoffs(sessions, n_first=0)


def test_same_day_appointments_are_separated_by_ordinal(config):
    clients = make_clients({"client_id": "A"})
    sessions = make_sessions(
        "A", "2026-01-12", ["attended", "no_show", "attended"], srs_total=[30, None, 38]
    )
    sessions.loc[1, "session_date"] = sessions.loc[0, "session_date"]  # two on 01-12, then 01-26
    cutoffs = appointment_cutoffs(sessions)
    assert cutoffs["appointment"].tolist() == [1, 2, 3]
    assert cutoffs["cutoff_date"].nunique() == 2
    rows = client_aggregates(clients, sessions, config.instruments, cutoffs=cutoffs)
    # after appointment 1 the same-day no-show has not happened yet
    assert rows["scheduled"].tolist() == [1, 2, 3]
    assert rows["no_shows"].tolist() == [0, 1, 1]
    assert rows["days_since_last_attended"].tolist() == [0, 0, 0]
    assert rows["srs_total_last"].tolist() == [30, 30, 38]
    assert rows["misses_last_two"].tolist() == [0, 1, 1]
    assert rows["days_in_treatment"].tolist() == [7, 7, 21]
    # a cutoff by date alone includes everything on that day
    by_date = client_aggregates(
        clients, sessions, config.instruments, cutoffs=_cutoffs(("A", "2026-01-12"))
    )
    assert by_date.loc[0, "scheduled"] == 2 and by_date.loc[0, "no_shows"] == 1


def test_same_day_order_follows_the_row_column(config):
    clients = make_clients({"client_id": "A"})
    sessions = make_sessions("A", "2026-01-12", ["no_show", "attended"], srs_total=[None, 33])
    sessions["session_date"] = sessions.loc[0, "session_date"]
    sessions["row"] = [2, 1]  # the file listed the attended session first
    cutoffs = appointment_cutoffs(sessions)
    rows = client_aggregates(clients, sessions, config.instruments, cutoffs=cutoffs)
    assert rows["attended"].tolist() == [1, 1]
    assert rows["no_shows"].tolist() == [0, 1]


def test_later_sessions_never_change_a_cutoff_row(cohort, config):
    clients, sessions = cohort
    cut = sessions["session_date"].quantile(0.6)
    early = sessions[sessions["session_date"] <= cut]
    # landmark cutoffs that existed at the cut, from the full and the truncated history
    cutoffs = appointment_cutoffs(sessions)
    cutoffs = cutoffs[cutoffs["cutoff_date"] <= cut].reset_index(drop=True)
    full = client_aggregates(clients, sessions, config.instruments, cutoffs=cutoffs)
    truncated = client_aggregates(clients, early, config.instruments, cutoffs=cutoffs)
    pd.testing.assert_frame_equal(full, truncated)
    assert len(full) > 500
    # an as-of date: every client's row is the same with or without what came later
    asof = _cutoffs(*((cid, str(cut.date())) for cid in clients["client_id"]))
    pd.testing.assert_frame_equal(
        client_aggregates(clients, sessions, config.instruments, cutoffs=asof),
        client_aggregates(clients, early, config.instruments, cutoffs=asof),
    )


def test_appending_a_future_session_leaves_earlier_rows(config):
    clients, sessions = _two_clients()
    later = make_sessions("A", "2026-02-09", ["attended"], srs_total=[10], wai_bond=[1.0])
    cutoffs = appointment_cutoffs(sessions)
    before = client_aggregates(clients, sessions, config.instruments, cutoffs=cutoffs)
    after = client_aggregates(
        clients,
        pd.concat([later, sessions], ignore_index=True),
        config.instruments,
        cutoffs=cutoffs,
    )
    pd.testing.assert_frame_equal(before, after)


def test_sessions_of_other_clients_and_empty_inputs(config):
    clients, sessions = _two_clients()
    stranger = make_sessions("Z", "2026-01-12", ["attended"], srs_total=[40])
    cutoffs = _cutoffs(("A", "2026-02-05"))
    with_stranger = client_aggregates(
        clients, pd.concat([stranger, sessions]), config.instruments, cutoffs=cutoffs
    )
    alone = client_aggregates(clients, sessions, config.instruments, cutoffs=cutoffs)
    pd.testing.assert_frame_equal(with_stranger, alone)

    none = client_aggregates(clients, sessions.iloc[:0], config.instruments, cutoffs=cutoffs)
    assert none.loc[0, "scheduled"] == 0 and none.loc[0, "days_since_last_attended"] == 31
    empty = client_aggregates(clients, sessions, config.instruments, cutoffs=cutoffs.iloc[:0])
    assert empty.empty and list(empty.columns) == ["client_id", "cutoff_date", *AGGREGATE_FEATURES]


def test_absent_rating_and_client_columns_are_missing(config):
    clients = make_clients({"client_id": "A"}).drop(columns=["site", "age"])
    sessions = make_sessions("A", "2026-01-12", ["attended"])[
        ["client_id", "session_date", "status"]
    ]
    rows = client_aggregates(
        clients, sessions, config.instruments, cutoffs=_cutoffs(("A", "2026-01-12"))
    )
    assert rows.loc[0, list(RATING_AGGREGATES)].isna().all()
    assert pd.isna(rows.loc[0, "site"]) and np.isnan(rows.loc[0, "age"])
    assert rows.loc[0, "attended"] == 1


@pytest.mark.parametrize(
    ("cutoffs", "match"),
    [
        (pd.DataFrame({"client_id": ["A"]}), "cutoffs lacks the column"),
        (_cutoffs(("nobody", "2026-01-12")), "not in clients"),
        (pd.DataFrame({"client_id": ["A"], "cutoff_date": [pd.NaT]}), "blank cutoff_date"),
        (_cutoffs(("A", "2026-01-12")).assign(appointment=[0]), "appointment number"),
    ],
)
def test_bad_cutoffs_are_refused_with_the_fix(config, cutoffs, match):
    clients, sessions = _two_clients()
    with pytest.raises(ValueError, match=match):
        client_aggregates(clients, sessions, config.instruments, cutoffs=cutoffs)
