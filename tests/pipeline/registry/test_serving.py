"""The registered model is the deployable unit: raw contract records in, risk-list rows out."""

from __future__ import annotations

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
from pipeline.registry.serving import (
    RISK_LIST_SPARK_TYPE,
    request_form,
    request_frame,
    score_request,
    split_request,
)
from tests.servers import free_port, stop_process_tree, wait_for_http


@pytest.fixture(autouse=True)
def _the_trained_store(trained):
    """``models:/`` URIs resolve in the trained model's store: MLflow keeps the last
    tracking URI a training set, and other modules train into stores of their own."""
    mlflow.set_tracking_uri(trained["uri"])


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


def _load_refusal(local: Path) -> str:
    """Why loading the served model from ``local`` is refused (one line)."""
    with pytest.raises(Exception) as caught:
        mlflow.pyfunc.load_model(str(local))
    return " ".join(str(caught.value).split())


def test_the_served_model_refuses_a_tampered_model_file(trained, tmp_path):
    from pipeline.registry.tracking import (
        ARRAYS_CHECKSUM_TAG,
        ARRAYS_FILE,
        CHECKSUM_TAG,
        RISK_MODEL_FILE,
    )

    local = Path(
        mlflow.artifacts.download_artifacts("models:/dropout-risk@champion", dst_path=tmp_path)
    )
    recorded = mlflow.MlflowClient().get_model_version_by_alias("dropout-risk", "champion")
    # the model carries the checksum that the registry recorded for its file
    assert f"{CHECKSUM_TAG}: {recorded.tags[CHECKSUM_TAG]}" in (local / "MLmodel").read_text()
    # untouched, it loads as the champion's own model
    assert mlflow.pyfunc.load_model(str(local)).metadata.run_id == recorded.run_id
    # the file it reads (the array form, recorded in the MLmodel too), tampered: refused
    (arrays_file,) = local.rglob(ARRAYS_FILE)
    original = arrays_file.read_bytes()
    arrays_file.write_bytes(original + b"\0")
    message = _load_refusal(local)
    assert (
        f"does not match the checksum recorded in the model's MLmodel (model_config {ARRAYS_CHECKSUM_TAG})"
        in message
    )
    assert "refused. Fix: restore the artifact store" in message
    # a model without a recorded array form reads its skops file: tampered, refused too
    arrays_file.write_bytes(original)
    mlmodel = local / "MLmodel"
    mlmodel.write_text(
        "\n".join(
            line for line in mlmodel.read_text().splitlines() if ARRAYS_CHECKSUM_TAG not in line
        )
    )
    (skops_file,) = local.rglob(RISK_MODEL_FILE)
    skops_file.write_bytes(skops_file.read_bytes() + b"\0")
    message = _load_refusal(local)
    assert (
        f"does not match the checksum recorded in the model's MLmodel (model_config {CHECKSUM_TAG})"
        in message
    )


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


def test_request_form_is_told_by_its_columns():
    assert request_form(pd.DataFrame({"TABLE": ["clients"]})) == "stacked"
    assert request_form(pd.DataFrame({"client_id": ["a"], "Sessions": ["[]"]})) == "client_rows"
    with pytest.raises(InputError, match="no column 'table' and no column 'sessions'"):
        request_form(pd.DataFrame({"client_id": ["a"]}))


def test_the_spark_result_type_has_the_risk_list_columns_in_order():
    inner = RISK_LIST_SPARK_TYPE.removeprefix("struct<").removesuffix(">")
    assert [field.split(":")[0].strip() for field in inner.split(",")] == RISK_LIST_COLUMNS


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


def _invoke(model, payload: dict) -> tuple[int, dict]:
    """What `mlflow models serve` answers to ``payload``: the scoring server's own handler."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations

    try:
        answer = invocations(
            json.dumps(payload), "application/json", model, model.metadata.get_input_schema()
        )
    except MlflowException as exc:  # the server turns these into the answer's body
        return exc.get_http_status_code(), json.loads(exc.serialize_as_json())
    return answer.status, json.loads(answer.response)


def test_a_newly_admitted_client_without_appointments_gets_a_not_scored_row():
    model = mlflow.pyfunc.load_model("models:/dropout-risk@champion")
    client = pd.DataFrame(
        {"client_id": ["new-1"], "therapist_id": ["T1"], "intake_date": ["2026-06-29"]}
    )
    frame = request_frame(client, pd.DataFrame(columns=["client_id", "session_date", "status"]))
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    status, answer = _invoke(
        model, {"dataframe_records": records, "params": {"as_of": "2026-06-30"}}
    )
    assert status == 200, answer
    (row,) = answer["predictions"]
    assert row["client_id"] == "new-1" and row["scored"] is False
    assert row["not_scored_reason"] == "no appointments before the as-of date"


def test_an_error_answer_names_the_fix_and_never_repeats_the_request():
    model = mlflow.pyfunc.load_model("models:/dropout-risk@champion")
    records = [{"client_id": "secret-client-42", "wai_bond": 4.25, "note": "private words"}]
    status, answer = _invoke(model, {"dataframe_records": records})
    assert status == 400
    message = answer["message"]
    assert message.startswith("the request has no column 'table'") and "Fix:" in message
    body = json.dumps(answer)
    assert "secret-client-42" not in body and "private words" not in body and "4.25" not in body
    assert "Failed to predict data" not in body


def test_a_refusal_keeps_its_own_words_when_the_server_rewrites_them():
    from pipeline.registry.serving import refusal

    exc = refusal("bad request. Fix: send both tables.", bad_request=True)
    exc.message = f"Failed to predict data 'client_id secret'. \nError: {exc.message}"
    assert exc.message == "bad request. Fix: send both tables."
    assert exc.get_http_status_code() == 400
    assert json.loads(exc.serialize_as_json())["message"] == "bad request. Fix: send both tables."
    assert (
        refusal("internal error (X). Fix: report it.", bad_request=False).get_http_status_code()
        == 500
    )
