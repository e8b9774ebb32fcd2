"""Contract checks: each problem is one issues row with a reason that says the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.config import load_config
from configs.errors import InputError
from pipeline.contract.issues import ISSUE_COLUMNS
from pipeline.contract.validation import ValidatedTables, validate_tables


@pytest.fixture(scope="module")
def instruments():
    return load_config().instruments


def _clients(*rows: dict) -> pd.DataFrame:
    base = {"client_id": "C1", "therapist_id": "T1", "intake_date": "2026-01-05"}
    return pd.DataFrame([{**base, **row} for row in rows], dtype="str")


def _sessions(*rows: dict) -> pd.DataFrame:
    base = {"client_id": "C1", "session_date": "2026-01-12", "status": "attended"}
    return pd.DataFrame([{**base, **row} for row in rows], dtype="str")


def _validate(clients, sessions, instruments) -> ValidatedTables:
    return validate_tables(
        clients, sessions, instruments, clients_file="clients.csv", sessions_file="sessions.csv"
    )


def _issue(result: ValidatedTables, table: str, row: int, column: str) -> pd.Series:
    found = result.issues[
        (result.issues["table"] == table)
        & (result.issues["row"] == row)
        & (result.issues["column"] == column)
    ]
    assert len(found) == 1, result.issues.to_string()
    return found.iloc[0]


# ---------------------------------------------------------------- whole-table problems


def test_missing_required_columns_name_file_column_and_fix(instruments):
    clients = _clients({}).drop(columns=["intake_date", "therapist_id"])
    sessions = _sessions({}).drop(columns=["status"])
    with pytest.raises(InputError) as caught:
        _validate(clients, sessions, instruments)
    message = str(caught.value)
    assert "clients.csv: missing required columns therapist_id, intake_date" in message
    assert "(columns found: client_id)" in message
    assert "sessions.csv: missing required column status" in message
    assert "Fix: add the missing columns" in message


def test_missing_required_column_match(instruments):
    sessions = _sessions({}).drop(columns=["session_date"])
    with pytest.raises(InputError, match=r"sessions\.csv: missing required column session_date"):
        _validate(_clients({}), sessions, instruments)


# ---------------------------------------------------------------- clean input


def test_clean_input_passes_typed(instruments):
    clients = _clients(
        {"age": "34", "planned_sessions": "12", "site": " North "},
        {
            "client_id": "C2",
            "discharge_date": "2026-03-01",
            "discharge_reason": " Dropout",
            "intake_date": "2026-01-06T09:30:00",
        },
    )
    sessions = _sessions(
        {"wai_1": "4", "srs_total": "37.5"},
        {"client_id": "C2", "status": "No_Show ", "session_date": "2026-02-01"},
    )
    result = _validate(clients, sessions, instruments)
    assert result.issues.empty
    assert list(result.issues.columns) == list(ISSUE_COLUMNS)
    assert result.n_client_rows == 2 and result.n_session_rows == 2

    c = result.clients
    assert c.columns.tolist() == [
        "client_id",
        "therapist_id",
        "intake_date",
        "discharge_date",
        "site",
        "program",
        "gender",
        "primary_concern",
        "referral_source",
        "discharge_reason",
        "age",
        "planned_sessions",
        "row",
    ]
    assert c["intake_date"].dtype == "datetime64[ns]"
    assert c["intake_date"].tolist() == [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-06")]
    assert pd.isna(c.loc[0, "discharge_date"])
    assert c["discharge_reason"].tolist()[1] == "dropout"
    assert c.loc[0, "site"] == "North"
    assert c["age"].dtype == "float64" and c.loc[0, "age"] == 34
    assert np.isnan(c.loc[1, "age"])
    assert pd.isna(c.loc[0, "program"])  # optional column absent: all missing
    assert c["row"].tolist() == [1, 2]

    s = result.sessions
    assert s["session_date"].dtype == "datetime64[ns]"
    assert s["status"].tolist() == ["attended", "no_show"]
    assert s.loc[0, "srs_total"] == 37.5 and s["srs_total"].dtype == "float64"
    assert {"wai_12", "wai_bond", "srs_4", "ors_total"} <= set(s.columns)
    assert s["wai_12"].isna().all()
    assert s.columns[-1] == "row"


def test_empty_tables(instruments):
    result = _validate(_clients({}).iloc[:0], _sessions({}).iloc[:0], instruments)
    assert result.issues.empty and result.clients.empty and result.sessions.empty
    assert "intake_date" in result.clients.columns
    assert result.rejected_clients.empty


def test_extra_columns_are_reported_and_not_passed_on(instruments):
    clients = _clients({"shoe_size": "42"})
    sessions = _sessions({"wai_13": "3", "notes": "fine"})
    result = _validate(clients, sessions, instruments)
    assert result.extra_columns == {"clients": ["shoe_size"], "sessions": ["wai_13", "notes"]}
    assert "shoe_size" not in result.clients.columns
    assert "notes" not in result.sessions.columns
    assert result.issues.empty


# ---------------------------------------------------------------- clients rows


def test_age_out_of_range(instruments):
    result = _validate(_clients({"age": "240"}), _sessions({}), instruments)
    issue = _issue(result, "clients", 1, "age")
    assert issue["file"] == "clients.csv"
    assert issue["value"] == "240"
    assert issue["client_id"] == "C1"
    assert issue["reason"] == "age 240 out of range 12-100; fix: correct the age or leave it blank"
    assert result.clients.empty
    # its sessions are dropped, not reported again
    assert result.sessions.empty
    assert (result.issues["table"] == "clients").all()
    rejected = result.rejected_clients
    assert rejected.columns.tolist() == [
        "client_id",
        "therapist_id",
        "site",
        "row",
        "reason",
        "active",
    ]
    assert rejected["client_id"].tolist() == ["C1"]
    assert rejected["therapist_id"].tolist() == ["T1"]
    assert rejected["reason"].tolist() == ["row rejected: age 240 out of range 12-100"]
    assert rejected["active"].tolist() == [True]


@pytest.mark.parametrize("age", ["34.5", "forty"])
def test_age_not_whole_number(instruments, age):
    result = _validate(_clients({"age": age}), _sessions({}), instruments)
    assert _issue(result, "clients", 1, "age")["reason"].startswith(
        f"age '{age}' is not a whole number; fix:"
    )


def test_planned_sessions_range(instruments):
    result = _validate(_clients({"planned_sessions": "0"}), _sessions({}), instruments)
    assert (
        "planned_sessions 0 out of range 1-200"
        in _issue(result, "clients", 1, "planned_sessions")["reason"]
    )


def test_duplicate_ids_reject_every_row_and_name_the_others(instruments):
    clients = _clients({}, {"client_id": "C2"}, {"client_id": "C1"}, {"client_id": " C1"})
    result = _validate(clients, _sessions({}, {"client_id": "C2"}), instruments)
    assert result.clients["client_id"].tolist() == ["C2"]
    assert _issue(result, "clients", 1, "client_id")["reason"].startswith(
        "client_id C1 also on rows 3, 4; fix: keep one row per treatment episode"
    )
    assert _issue(result, "clients", 3, "client_id")["reason"].startswith(
        "client_id C1 also on rows 1, 4"
    )
    assert _issue(result, "clients", 4, "client_id")["value"] == " C1"
    assert result.sessions["client_id"].tolist() == ["C2"]
    assert sorted(result.rejected_clients["row"]) == [1, 3, 4]


def test_blank_required_values(instruments):
    clients = _clients({"client_id": None}, {"client_id": "C2", "therapist_id": "  "})
    result = _validate(clients, _sessions({"client_id": "C2"}), instruments)
    assert _issue(result, "clients", 1, "client_id")["reason"].startswith(
        "client_id is blank; fix: fill in"
    )
    assert _issue(result, "clients", 2, "therapist_id")["reason"].startswith(
        "therapist_id is blank"
    )
    # a blank id cannot be named in the risk list
    assert result.rejected_clients["client_id"].tolist() == ["C2"]


@pytest.mark.parametrize("written", ["03/14/2026", "2026-02-30", "2026-3-14", "14.03.2026", "soon"])
def test_bad_or_mixed_intake_dates(instruments, written):
    clients = _clients({"intake_date": written})
    result = _validate(clients, _sessions({}), instruments)
    issue = _issue(result, "clients", 1, "intake_date")
    assert issue["value"] == written
    assert issue["reason"] == (
        f"intake_date '{written}' is not a date in YYYY-MM-DD form; fix: write the intake "
        "date as YYYY-MM-DD (e.g. 2026-03-14); formats like 03/14/2026 are ambiguous"
    )


@pytest.mark.parametrize(
    "written", ["2026-03-14T09:30", "2026-03-14 09:30:00", "2026-03-14T23:30:00-05:00"]
)
def test_time_part_is_ignored(instruments, written):
    sessions = _sessions({"session_date": "2026-03-14"})
    result = _validate(_clients({"intake_date": written}), sessions, instruments)
    assert result.issues.empty
    assert result.clients.loc[0, "intake_date"] == pd.Timestamp("2026-03-14")


@pytest.mark.parametrize("written", ["2026-03-14 soon", "20260314", "2026-03", "2026-03-14Z"])
def test_not_quite_iso_dates_are_rejected(instruments, written):
    result = _validate(_clients({"intake_date": written}), _sessions({}), instruments)
    assert (
        "is not a date in YYYY-MM-DD form" in _issue(result, "clients", 1, "intake_date")["reason"]
    )


def test_implausible_year(instruments):
    result = _validate(_clients({"intake_date": "0202-01-05"}), _sessions({}), instruments)
    assert "outside the years 1900-2199" in _issue(result, "clients", 1, "intake_date")["reason"]


def test_mixed_formats_reject_only_the_odd_rows(instruments):
    clients = _clients({}, {"client_id": "C2", "intake_date": "01/05/2026"})
    result = _validate(clients, _sessions({}), instruments)
    assert result.clients["client_id"].tolist() == ["C1"]
    assert result.issues["row"].tolist() == [2]


def test_discharge_reason_without_date(instruments):
    result = _validate(_clients({"discharge_reason": "dropout"}), _sessions({}), instruments)
    issue = _issue(result, "clients", 1, "discharge_reason")
    assert issue["reason"] == (
        "discharge_reason 'dropout' given without a discharge_date; fix: add the discharge "
        "date, or clear the reason if the episode is still open"
    )
    assert result.rejected_clients["active"].tolist() == [False]


def test_discharge_date_without_reason(instruments):
    result = _validate(_clients({"discharge_date": "2026-02-01"}), _sessions({}), instruments)
    assert _issue(result, "clients", 1, "discharge_date")["reason"].startswith(
        "discharge_date 2026-02-01 given without a discharge_reason; fix: add the discharge_reason"
    )


def test_discharge_before_intake(instruments):
    clients = _clients({"discharge_date": "2026-01-01", "discharge_reason": "completed"})
    result = _validate(clients, _sessions({}), instruments)
    assert _issue(result, "clients", 1, "discharge_date")["reason"].startswith(
        "discharge_date 2026-01-01 is before intake_date 2026-01-05"
    )


def test_unknown_discharge_reason(instruments):
    clients = _clients({"discharge_date": "2026-02-01", "discharge_reason": "moved away"})
    result = _validate(clients, _sessions({}), instruments)
    assert _issue(result, "clients", 1, "discharge_reason")["reason"] == (
        "discharge_reason 'moved away' is not one of completed, dropout, transferred, other; "
        "fix: use one of completed, dropout, transferred, other"
    )
    assert result.rejected_clients["active"].tolist() == [True]


def test_every_problem_of_a_row_is_listed_first_one_in_rejected_clients(instruments):
    clients = _clients({"intake_date": "tomorrow", "age": "7", "planned_sessions": "x"})
    result = _validate(clients, _sessions({}), instruments)
    assert result.issues["column"].tolist() == ["intake_date", "age", "planned_sessions"]
    assert result.rejected_clients["reason"].tolist() == [
        "row rejected: intake_date 'tomorrow' is not a date in YYYY-MM-DD form"
    ]


# ---------------------------------------------------------------- sessions rows


def test_unknown_client_in_sessions(instruments):
    result = _validate(_clients({}), _sessions({}, {"client_id": "C9"}), instruments)
    issue = _issue(result, "sessions", 2, "client_id")
    assert issue["file"] == "sessions.csv"
    assert issue["reason"] == (
        "client_id 'C9' is not in clients.csv; fix: add the client to the clients file or "
        "correct the client_id"
    )
    assert result.sessions["row"].tolist() == [1]


def test_session_before_intake_and_after_discharge(instruments):
    clients = _clients({"discharge_date": "2026-03-01", "discharge_reason": "completed"})
    sessions = _sessions(
        {"session_date": "2026-01-04"},
        {"session_date": "2026-01-05"},
        {"session_date": "2026-03-01T17:00"},
        {"session_date": "2026-03-02"},
    )
    result = _validate(clients, sessions, instruments)
    assert _issue(result, "sessions", 1, "session_date")["reason"] == (
        "session_date 2026-01-04 is before the client's intake_date 2026-01-05 in "
        "clients.csv; fix: correct the session date or the client's intake date"
    )
    assert _issue(result, "sessions", 4, "session_date")["reason"].startswith(
        "session_date 2026-03-02 is after the client's discharge_date 2026-03-01"
    )
    assert result.sessions["row"].tolist() == [2, 3]
    assert result.sessions["session_date"].tolist()[1] == pd.Timestamp("2026-03-01")


def test_bad_session_date(instruments):
    result = _validate(_clients({}), _sessions({"session_date": "12/01/2026"}), instruments)
    assert (
        "session_date '12/01/2026' is not a date in YYYY-MM-DD form"
        in (_issue(result, "sessions", 1, "session_date")["reason"])
    )


@pytest.mark.parametrize("status", ["no-show", "late-cancel", "showed", "cancel"])
def test_unknown_status_lists_the_allowed_ones(instruments, status):
    result = _validate(_clients({}), _sessions({"status": status}), instruments)
    assert _issue(result, "sessions", 1, "status")["reason"] == (
        f"status '{status}' is not one of attended, no_show, late_cancel, cancelled; "
        "fix: use one of attended, no_show, late_cancel, cancelled"
    )


def test_blank_status(instruments):
    result = _validate(_clients({}), _sessions({"status": None}), instruments)
    assert _issue(result, "sessions", 1, "status")["reason"].startswith("status is blank")


@pytest.mark.parametrize(
    ("column", "written", "reason"),
    [
        ("wai_3", "7", "wai_3 7 out of range 1-5; fix: correct the rating"),
        ("wai_bond", "0.5", "wai_bond 0.5 out of range 1-5"),
        ("srs_total", "45", "srs_total 45 out of range 0-40"),
        ("srs_2", "-1", "srs_2 -1 out of range 0-10"),
        ("ors_total", "41", "ors_total 41 out of range 0-40"),
        ("wai_1", "high", "wai_1 'high' is not a number; fix: write a number from 1 to 5"),
        (
            "srs_1",
            "7,5",
            "srs_1 '7,5' is not a number; fix: write a number from 0 to 10 (with a dot",
        ),
        ("ors_total", "inf", "ors_total 'inf' is not a number"),
    ],
)
def test_ratings_out_of_range_or_not_numeric(instruments, column, written, reason):
    result = _validate(_clients({}), _sessions({column: written}), instruments)
    issue = _issue(result, "sessions", 1, column)
    assert issue["reason"].startswith(reason)
    assert issue["value"] == written
    assert issue["client_id"] == "C1"
    assert result.sessions.empty
    # a session problem does not reject the client
    assert result.clients["client_id"].tolist() == ["C1"]
    assert result.rejected_clients.empty


def test_rating_ranges_follow_the_config(instruments):
    wai_s = instruments.model_copy(update={"wai": instruments.wai.model_copy(update={"max": 7})})
    result = _validate(_clients({}), _sessions({"wai_3": "7"}), wai_s)
    assert result.issues.empty
    assert result.sessions.loc[0, "wai_3"] == 7.0


def test_decimal_ratings_are_fine(instruments):
    result = _validate(_clients({}), _sessions({"srs_1": "8.7", "wai_goal": "3.25"}), instruments)
    assert result.issues.empty


def test_sessions_of_rejected_client_are_dropped_silently(instruments):
    clients = _clients({"age": "240"}, {"client_id": "C2"})
    sessions = _sessions({}, {"client_id": "C2"}, {"status": "gone"})
    result = _validate(clients, sessions, instruments)
    # the client is reported once; the session with its own problem is still reported
    assert result.issues[["table", "row", "column"]].values.tolist() == [
        ["clients", 1, "age"],
        ["sessions", 3, "status"],
    ]
    assert result.sessions["client_id"].tolist() == ["C2"]


def test_session_problems_keep_original_row_order(instruments):
    sessions = _sessions(
        {"session_date": "2026-01-20"}, {"wai_1": "9"}, {"session_date": "2026-01-10"}
    )
    result = _validate(_clients({}), sessions, instruments)
    assert result.sessions["row"].tolist() == [1, 3]
    assert result.sessions["session_date"].tolist() == [
        pd.Timestamp("2026-01-20"),
        pd.Timestamp("2026-01-10"),
    ]


# ---------------------------------------------------------------- typed (Parquet) input


def test_typed_parquet_input(tmp_path, instruments):
    from pipeline.io.ingest import read_table

    clients = pd.DataFrame(
        {
            "client_id": [101, 102],
            "therapist_id": ["T1", "T2"],
            "intake_date": pd.to_datetime(["2026-01-05 00:00", "2026-01-06 14:00"]),
            "age": [34, 240],
        }
    )
    sessions = pd.DataFrame(
        {
            "client_id": ["101", "101"],
            "session_date": pd.to_datetime(["2026-01-12", "2026-01-01"]).date,
            "status": ["attended", "attended"],
            "wai_1": [4.0, np.nan],
        }
    )
    clients.to_parquet(tmp_path / "clients.parquet")
    sessions.to_parquet(tmp_path / "sessions.parquet")
    result = _validate(
        read_table(tmp_path / "clients.parquet", role="clients"),
        read_table(tmp_path / "sessions.parquet", role="sessions"),
        instruments,
    )
    assert result.clients["client_id"].tolist() == ["101"]
    assert _issue(result, "clients", 2, "age")["reason"].startswith("age 240 out of range")
    assert _issue(result, "sessions", 2, "session_date")["reason"].startswith(
        "session_date 2026-01-01 is before the client's intake_date 2026-01-05"
    )
    assert result.sessions["wai_1"].tolist() == [4.0]
