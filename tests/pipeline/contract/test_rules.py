"""The rules per table: which exist, in which order, and how a problem is worded."""

from __future__ import annotations

import pandas as pd

from configs.config import load_config
from pipeline.contract.columns import rating_ranges
from pipeline.contract.issues import list_issues
from pipeline.contract.parsing import ParsedColumns
from pipeline.contract.rules import Episodes, client_rules, session_rules


def _clients(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"client_id": ["C1"] * n, "therapist_id": ["T1"] * n, "intake_date": ["2026-01-05"] * n}
    return pd.DataFrame({**base, **columns}, dtype="str")


def test_client_rules_follow_the_columns_present():
    names = [(r.column, r.name) for r in client_rules(ParsedColumns(_clients(site=["A"])))]
    assert names == [
        ("client_id", "required"),
        ("client_id", "unique"),
        ("therapist_id", "required"),
        ("intake_date", "required"),
        ("intake_date", "iso_date"),
        ("intake_date", "plausible_date"),
    ]
    with_discharge = ParsedColumns(_clients(discharge_date=[""], discharge_reason=[""]))
    assert [(r.column, r.name) for r in client_rules(with_discharge)][6:] == [
        ("discharge_date", "iso_date"),
        ("discharge_date", "plausible_date"),
        ("discharge_date", "not_before_intake"),
        ("discharge_date", "needs_reason"),
        ("discharge_reason", "allowed"),
        ("discharge_reason", "needs_date"),
    ]


def test_a_duplicated_id_lists_at_most_five_other_rows():
    frame = _clients(client_id=["D"] * 8)
    values = ParsedColumns(frame)
    issues = list_issues(frame, client_rules(values), values, "clients", "c.csv")
    assert issues.loc[0, "reason"] == (
        "client_id D also on rows 2, 3, 4, 5, 6 and 2 more; fix: keep one row per treatment "
        "episode; give each episode its own client_id"
    )
    assert issues.loc[7, "problem"] == "client_id D also on rows 1, 2, 3, 4, 5 and 2 more"


def test_sessions_are_judged_against_single_ids_only():
    clients = ParsedColumns(
        _clients(
            client_id=["C1", "C2", "C2"],
            discharge_date=["2026-02-01", "", ""],
            discharge_reason=["dropout", "", ""],
        )
    )
    episodes = Episodes.from_clients(clients, "c.csv")
    assert list(episodes.all_ids) == ["C1", "C2"]
    assert list(episodes.ids) == ["C1"]
    sessions = pd.DataFrame(
        {
            "client_id": ["C1", "C2", "C1"],
            "session_date": ["2026-03-01", "2020-01-01", "2026-01-10"],
            "status": ["attended"] * 3,
        },
        dtype="str",
    )
    values = ParsedColumns(sessions)
    ranges = rating_ranges(load_config().instruments)
    issues = list_issues(
        sessions, session_rules(values, episodes, ranges), values, "sessions", "s.csv"
    )
    # the duplicated client's session is not judged by either of its rows
    assert issues["problem"].tolist() == [
        "session_date 2026-03-01 is after the client's discharge_date 2026-02-01 in c.csv"
    ]
