"""The registered model's one-row-per-client form (pipeline.registry.client_rows), for
mlflow.pyfunc.spark_udf: exactly one answer row per request row, in order
(tests/pipeline/registry/test_spark.py runs it on Spark)."""

from __future__ import annotations

import copy
import json

import mlflow
import pandas as pd
import pytest

from configs.errors import InputError
from models.caseload import RISK_LIST_COLUMNS, parse_as_of, score_caseload
from pipeline.registry.client_rows import _parse_client_rows, client_rows, score_client_rows


@pytest.fixture(autouse=True)
def _the_trained_store(trained):
    """``models:/`` URIs resolve in the trained model's store: MLflow keeps the last
    tracking URI a training set, and other modules train into stores of their own."""
    mlflow.set_tracking_uri(trained["uri"])


def test_client_rows_and_their_parsing_round_trip():
    clients = pd.DataFrame(
        {"client_id": ["a", "b", "c"], "therapist_id": ["t", "t", "u"], "age": ["30", None, "41"]}
    )
    sessions = pd.DataFrame(
        {
            "client_id": ["b", "a", "b"],
            "session_date": [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-06"), pd.NaT],
            "status": ["attended", "no_show", "attended"],
            "wai_3": [4.0, float("nan"), 5.0],
        }
    )
    frame = client_rows(clients, sessions)
    assert frame.columns.tolist() == ["client_id", "therapist_id", "age", "sessions"]
    assert frame["client_id"].tolist() == ["a", "b", "c"]
    assert json.loads(frame["sessions"].iloc[0]) == [
        {"session_date": "2026-01-06", "status": "no_show"}
    ]
    # the client's appointments in the table's order; blanks left out; none is []
    assert json.loads(frame["sessions"].iloc[1]) == [
        {"session_date": "2026-01-05", "status": "attended", "wai_3": 4.0},
        {"status": "attended", "wai_3": 5.0},
    ]
    assert frame["sessions"].iloc[2] == "[]"
    parsed = _parse_client_rows(frame)
    assert not parsed.problems
    got_clients, got_sessions = parsed.clients, parsed.sessions
    pd.testing.assert_frame_equal(got_clients, clients)
    assert got_sessions["client_id"].tolist() == ["a", "b", "b"]
    assert got_sessions.columns.tolist()[:3] == ["client_id", "session_date", "status"]
    assert got_sessions["session_date"].tolist()[:2] == ["2026-01-06", "2026-01-05"]


def test_client_rows_refuses_appointments_that_belong_on_no_row():
    clients = pd.DataFrame({"client_id": ["a"], "therapist_id": ["t"]})
    sessions = pd.DataFrame({"client_id": ["a", "zz"], "session_date": ["2026-01-05"] * 2})
    with pytest.raises(InputError, match=r"sessions row 2: client_id 'zz' is not in clients"):
        client_rows(clients, sessions)


def _mixed_client_rows(trained, n_active: int = 25, n_closed: int = 10):
    """Active and closed clients as the files hold them, shuffled, plus the as-of date."""
    clients = pd.read_csv(trained["clients"], dtype=str, keep_default_na=False)
    sessions = pd.read_csv(trained["sessions"], dtype=str, keep_default_na=False)
    open_ = (clients["discharge_reason"] == "") & (clients["discharge_date"] == "")
    chosen = pd.concat([clients[open_].head(n_active), clients[~open_].head(n_closed)])
    chosen = chosen.sample(frac=1.0, random_state=3).reset_index(drop=True)
    rows = sessions[sessions["client_id"].isin(chosen["client_id"])]
    blank = lambda f: f.replace("", None)  # noqa: E731 - blank cells are missing values
    as_of = (pd.to_datetime(sessions["session_date"]).max() - pd.Timedelta(days=10)).strftime(
        "%Y-%m-%d"
    )
    return blank(chosen), blank(rows).reset_index(drop=True), as_of


def _reference_list(trained, clients, sessions, as_of) -> pd.DataFrame:
    """What `dropout-risk score` lists for the same tables, by client_id."""
    from configs.config import InstrumentsConfig
    from pipeline.contract.validation import validate_tables
    from pipeline.registry.tracking import LoadedModel

    model = trained["outcome"].result.model
    instruments = InstrumentsConfig.model_validate(model.feature_settings["instruments"])
    tables = validate_tables(
        clients, sessions, instruments, clients_file="c.csv", sessions_file="s.csv"
    )
    loaded = LoadedModel(model=model, uri="", version_label="v")
    caseload = score_caseload(tables, loaded, parse_as_of(as_of, "as_of"), details=False)
    return caseload.risk_list.set_index("client_id")


def test_the_pyfunc_model_answers_one_row_per_client_row_in_input_order(trained):
    model = mlflow.pyfunc.load_model("models:/dropout-risk@champion")
    clients, sessions, as_of = _mixed_client_rows(trained)
    frame = client_rows(clients, sessions)
    rows = model.predict(frame, params={"as_of": as_of})
    assert list(rows.columns) == RISK_LIST_COLUMNS
    assert rows["client_id"].tolist() == frame["client_id"].tolist()  # one per row, in order
    assert rows["rank"].isna().all()  # caseload-wide: the caller ranks
    reference = _reference_list(trained, clients, sessions, as_of)
    for row in rows.itertuples(index=False):
        if row.client_id not in reference.index:
            assert row.scored is False and row.risk is None
            assert row.not_scored_reason.startswith("not an active episode (discharge_reason")
            continue
        want = reference.loc[row.client_id]
        assert bool(row.scored) == bool(want["scored"])
        assert row.not_scored_reason == want["not_scored_reason"]
        if want["scored"]:
            assert abs(row.risk - want["risk"]) < 1e-9
            assert abs(row.risk_within_horizon - want["risk_within_horizon"]) < 1e-9
            assert row.risk_within_horizon <= row.risk
        else:
            assert row.risk is None and row.risk_within_horizon is None
        for column in ("risk_tier", "reason_1", "reason_2", "reason_3", "last_attended"):
            assert getattr(row, column) == want[column], column
        assert row.sessions_attended == want["sessions_attended"]
    assert rows["scored"].sum() > 10 and (~rows["scored"].astype(bool)).sum() >= 10
    # the same rows in another order give the same answers in that order
    backwards = model.predict(frame.iloc[::-1], params={"as_of": as_of})
    pd.testing.assert_frame_equal(backwards.iloc[::-1].reset_index(drop=True), rows)
    # text is never null (spark_udf would write a null text as "None"), numbers may be
    for column in RISK_LIST_COLUMNS:
        if column not in ("risk", "rank", "risk_within_horizon"):
            assert rows[column].notna().all(), column


def test_a_client_rows_request_lists_bad_rows_as_not_scored_and_scores_the_rest(trained):
    model = mlflow.pyfunc.load_model("models:/dropout-risk@champion")
    clients, sessions, as_of = _mixed_client_rows(trained, 6, 0)
    frame = client_rows(clients, sessions)
    good = model.predict(frame, params={"as_of": as_of})
    frame.loc[1, "age"] = "240"
    frame.loc[2, "sessions"] = "[{not json"
    appointments = json.loads(frame.loc[3, "sessions"])
    appointments[1]["status"] = "maybe"
    frame.loc[3, "sessions"] = json.dumps(appointments)
    frame.loc[4, "sessions"] = json.dumps([{"client_id": "someone-else", "status": "attended"}])
    rows = model.predict(frame, params={"as_of": as_of})
    assert rows["client_id"].tolist() == frame["client_id"].tolist()
    ids = frame["client_id"]
    reasons = rows["not_scored_reason"]
    assert reasons[1].startswith(f"row rejected: request row 2 (client_id '{ids[1]}'), column 'age': age 240")  # fmt: skip
    assert reasons[2].startswith(
        f"row rejected: request row 3 (client_id '{ids[2]}'), column 'sessions': is not valid JSON"
    )
    assert reasons[3].startswith(
        f"row rejected: request row 4 (client_id '{ids[3]}'), column 'sessions', appointment 2, "
        "field 'status': status 'maybe'"
    )
    assert "appointment 1 has client_id 'someone-else'" in reasons[4]
    assert not rows["scored"][1:5].astype(bool).any() and rows["risk"][1:5].isna().all()
    # the other rows are scored exactly as before
    for i in (0, 5):
        assert rows.loc[i, "scored"] == good.loc[i, "scored"]
        assert rows.loc[i, "risk"] == good.loc[i, "risk"]


def test_a_client_rows_request_without_as_of_is_refused(trained):
    model = mlflow.pyfunc.load_model("models:/dropout-risk@champion")
    clients, sessions, _ = _mixed_client_rows(trained, 2, 0)
    frame = client_rows(clients, sessions)
    for params in (None, {"as_of": ""}):
        with pytest.raises(mlflow.exceptions.MlflowException, match="needs the as-of date"):
            model.predict(frame, params=params)


def test_client_rows_accept_a_list_of_records_as_well_as_json(trained):
    model = trained["outcome"].result.model
    clients, sessions, as_of = _mixed_client_rows(trained, 5, 2)
    frame = client_rows(clients, sessions)
    as_json = score_client_rows(model, "v", frame, as_of)
    records = frame.assign(sessions=[json.loads(cell) for cell in frame["sessions"]])
    pd.testing.assert_frame_equal(score_client_rows(model, "v", records, as_of), as_json)
    # an empty batch answers with no rows
    assert len(score_client_rows(model, "v", frame.iloc[:0], as_of)) == 0


def test_capacity_tiers_are_left_to_the_caller_in_the_client_rows_form(trained):
    model = copy.copy(trained["outcome"].result.model)
    capacity = {"rule": "capacity", "high_per_site": 1, "medium_per_site": 1}
    model.feature_settings = {**model.feature_settings, "tiers": capacity}
    clients, sessions, as_of = _mixed_client_rows(trained, 5, 0)
    rows = score_client_rows(model, "v", client_rows(clients, sessions), as_of)
    assert rows["scored"].astype(bool).any() and rows["risk_tier"].isna().all()
