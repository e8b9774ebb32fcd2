"""The registered model is the deployable unit: raw contract records in, risk-list rows out."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from configs.errors import InputError
from models.caseload import RISK_LIST_COLUMNS
from pipeline.commands.score import run_scoring
from pipeline.registry.client_rows import _parse_client_rows, client_rows, score_client_rows
from pipeline.registry.serving import (
    RISK_LIST_SPARK_TYPE,
    request_form,
    request_frame,
    score_request,
    split_request,
)
from tests.servers import free_port, stop_process_tree, wait_for_http


def test_request_frame_and_split_request_round_trip():
    clients = pd.DataFrame({"client_id": ["a", "b"], "therapist_id": ["t", "t"], "age": [30, 40]})
    sessions = pd.DataFrame({"client_id": ["a"], "session_date": ["2026-01-05"], "status": ["attended"]})  # fmt: skip
    frame = request_frame(clients, sessions)
    assert frame.columns[0] == "table" and frame["table"].tolist() == ["clients"] * 2 + ["sessions"]
    got_clients, got_sessions = split_request(frame)
    pd.testing.assert_frame_equal(got_clients, clients, check_dtype=False)
    pd.testing.assert_frame_equal(got_sessions, sessions, check_dtype=False)


def test_a_request_without_the_table_column_or_with_another_table_is_refused():
    with pytest.raises(InputError, match="the request has no column 'table'"):
        split_request(pd.DataFrame({"client_id": ["a"]}))
    frame = pd.DataFrame({"TABLE": ["clients", "visits"], "client_id": ["a", "b"]})
    with pytest.raises(InputError, match=r"request row 2, column 'table': 'visits' is not a table"):
        split_request(frame)


def _raw_records(trained, n_clients: int = 40) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A few active clients' rows exactly as the files hold them (text)."""
    clients = pd.read_csv(trained["clients"], dtype=str, keep_default_na=False)
    sessions = pd.read_csv(trained["sessions"], dtype=str, keep_default_na=False)
    active = clients[(clients["discharge_reason"] == "") & (clients["discharge_date"] == "")]
    chosen = active.head(n_clients)
    rows = sessions[sessions["client_id"].isin(chosen["client_id"])]
    blank = lambda f: f.replace("", None)  # noqa: E731 - blank cells are missing values
    return blank(chosen), blank(rows)


def test_score_request_equals_the_score_command_on_the_same_clients(trained, tmp_path):
    clients, sessions = _raw_records(trained)
    as_of = pd.read_csv(trained["sessions"])["session_date"].max()
    model = trained["outcome"].result.model
    served = score_request(model, "dropout-risk v1", request_frame(clients, sessions), as_of=as_of)
    assert list(served.columns) == RISK_LIST_COLUMNS
    clients.to_csv(tmp_path / "c.csv", index=False)
    sessions.to_csv(tmp_path / "s.csv", index=False)
    scored = run_scoring(
        tmp_path / "c.csv", tmp_path / "s.csv", tmp_path / "r.csv", trained["config"], as_of=as_of
    ).risk_list
    assert served["client_id"].tolist() == scored["client_id"].tolist()
    risk = pd.to_numeric(served["risk"]).to_numpy()
    pd.testing.assert_series_equal(
        pd.Series(risk, name="risk"), scored["risk"].astype(float), check_exact=False, atol=1e-9
    )
    assert served["reason_1"].tolist() == scored["reason_1"].tolist()
    # missing values are None (JSON null when served), never NaN
    assert not any(isinstance(v, float) and v != v for v in served.to_numpy().ravel())


def test_a_rejected_client_in_a_request_is_listed_with_the_reason(trained):
    clients, sessions = _raw_records(trained, 3)
    clients = clients.copy()
    clients.iloc[0, clients.columns.get_loc("age")] = "240"
    served = score_request(
        trained["outcome"].result.model, "v", request_frame(clients, sessions), as_of=None
    )
    assert len(served) == 3
    row = served[served["client_id"] == clients["client_id"].iloc[0]].iloc[0]
    assert row["scored"] is False or row["scored"] == False  # noqa: E712 - numpy bool
    assert "age" in row["not_scored_reason"] and "240" in row["not_scored_reason"]


def test_the_registered_pyfunc_model_takes_raw_tables(trained):
    model = mlflow.pyfunc.load_model("models:/dropout-risk@champion")
    version = mlflow.MlflowClient().get_model_version_by_alias("dropout-risk", "champion")
    clients, sessions = _raw_records(trained, 10)
    rows = model.predict(request_frame(clients, sessions), params={"as_of": "2026-06-30"})
    assert list(rows.columns) == RISK_LIST_COLUMNS and len(rows) == 10
    assert set(rows["model_version"]) == {f"dropout-risk v{version.version}"}
    # the input example logged with the model is synthetic
    info = mlflow.models.get_model_info("models:/dropout-risk@champion")
    assert info.signature.params.to_dict()[0]["name"] == "as_of"


def test_the_served_model_refuses_a_tampered_model_file(trained, tmp_path):
    from pipeline.registry.tracking import CHECKSUM_TAG, RISK_MODEL_FILE

    local = Path(
        mlflow.artifacts.download_artifacts("models:/dropout-risk@champion", dst_path=tmp_path)
    )
    recorded = mlflow.MlflowClient().get_model_version_by_alias("dropout-risk", "champion")
    # the model carries the checksum that the registry recorded for its file
    assert f"{CHECKSUM_TAG}: {recorded.tags[CHECKSUM_TAG]}" in (local / "MLmodel").read_text()
    assert mlflow.pyfunc.load_model(str(local)) is not None
    (skops_file,) = local.rglob(RISK_MODEL_FILE)
    skops_file.write_bytes(skops_file.read_bytes() + b"\0")
    with pytest.raises(Exception) as caught:
        mlflow.pyfunc.load_model(str(local))
    message = " ".join(str(caught.value).split())
    assert "does not match the SHA-256 recorded at registration" in message
    assert "refused. Fix: restore the artifact store" in message


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.serving
@pytest.mark.slow
def test_mlflow_models_serve_answers_invocations_with_raw_records(trained, tmp_path):
    version = mlflow.MlflowClient().get_model_version_by_alias("dropout-risk", "champion").version
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = os.environ | {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    env["MLFLOW_TRACKING_URI"] = trained["uri"]
    command = [
        str(Path(bin_dir) / "mlflow"), "models", "serve", "-m", f"models:/dropout-risk/{version}",
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        command, cwd=trained["root"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", 120, proc)
        clients, sessions = _raw_records(trained, 5)
        frame = request_frame(clients, sessions)
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        status, answer = _post(
            f"http://127.0.0.1:{port}/invocations",
            {"dataframe_records": records, "params": {"as_of": "2026-06-30"}},
        )
        assert status == 200, answer
        rows = pd.DataFrame(answer["predictions"])
        assert list(rows.columns) == RISK_LIST_COLUMNS
        assert sorted(rows["client_id"]) == sorted(clients["client_id"])
        scored = rows[rows["scored"]]
        assert len(scored) and scored["risk"].between(0, 1).all()
        assert scored["reason_1"].str.len().gt(0).all()
        assert set(rows["model_version"]) == {f"dropout-risk v{version}"}
        # a request that is not the contract's tables: 400 with the fix in the message
        status, answer = _post(
            f"http://127.0.0.1:{port}/invocations",
            {"dataframe_records": [{"client_id": "x"}]},
        )
        assert status == 400
        assert "no column 'table'" in answer.get("message", "")
    finally:
        stop_process_tree(proc)
        log.close()


# --------------------------------------------------------------------------- one row per client
# The second input form (pipeline.registry.client_rows.client_rows), for mlflow.pyfunc.spark_udf: exactly
# one answer row per request row, in order (tests/pipeline/test_spark.py runs it on Spark).


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


def test_request_form_is_told_by_its_columns():
    assert request_form(pd.DataFrame({"TABLE": ["clients"]})) == "stacked"
    assert request_form(pd.DataFrame({"client_id": ["a"], "Sessions": ["[]"]})) == "client_rows"
    with pytest.raises(InputError, match="no column 'table' and no column 'sessions'"):
        request_form(pd.DataFrame({"client_id": ["a"]}))


def test_the_spark_result_type_has_the_risk_list_columns_in_order():
    inner = RISK_LIST_SPARK_TYPE.removeprefix("struct<").removesuffix(">")
    assert [field.split(":")[0].strip() for field in inner.split(",")] == RISK_LIST_COLUMNS


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
    from models.caseload import parse_as_of, score_caseload
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


def test_a_model_registered_before_the_registry_package_still_loads(trained, tmp_path):
    # earlier versions' entry point imported the class from pipeline.serving
    local = Path(
        mlflow.artifacts.download_artifacts("models:/dropout-risk@champion", dst_path=tmp_path)
    )
    (entry,) = [p for p in local.rglob("*.py") if "set_model" in p.read_text()]
    entry.write_text(
        "import mlflow\n\nfrom pipeline.serving import RiskListModel\n\n"
        "mlflow.models.set_model(RiskListModel())\n",
        encoding="utf-8",
    )
    clients, sessions = _raw_records(trained, 5)
    request = request_frame(clients, sessions)
    old = mlflow.pyfunc.load_model(str(local)).predict(request, params={"as_of": "2026-06-30"})
    new = mlflow.pyfunc.load_model("models:/dropout-risk@champion").predict(
        request, params={"as_of": "2026-06-30"}
    )
    pd.testing.assert_frame_equal(old, new)
