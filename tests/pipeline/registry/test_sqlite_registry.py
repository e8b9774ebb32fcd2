"""The direct read of a local SQLite registry finds what MLflow's client finds, or stands aside."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import mlflow
import pytest

from configs.errors import InputError
from pipeline.registry import sqlite_registry
from pipeline.registry.sqlite_registry import (
    KNOWN_SCHEMA,
    parse_registry_uri,
    read_version,
    sqlite_path,
)
from pipeline.registry.tracking import fetch_model, load_risk_model

NAME = "dropout-risk"


def _store_file(trained) -> Path:
    return sqlite_path(trained["uri"])


def test_the_trained_store_has_the_schema_the_queries_were_written_for(trained):
    with sqlite3.connect(_store_file(trained)) as connection:
        (schema,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    # when this fails, MLflow's store schema moved: review sqlite_registry's queries against
    # the new tables, then set KNOWN_SCHEMA to the new revision
    assert schema == KNOWN_SCHEMA


@pytest.mark.parametrize("uri", [f"models:/{NAME}@champion", f"models:/{NAME}@challenger"])
def test_the_direct_read_finds_what_mlflow_finds(trained, tmp_path, monkeypatch, uri):
    direct = fetch_model(uri, trained["config"], tmp_path / "direct")
    assert read_version(uri, trained["uri"]) is not None
    monkeypatch.setattr(sqlite_registry, "read_version", lambda *args: None)
    through_mlflow = fetch_model(uri, trained["config"], tmp_path / "mlflow")
    assert (direct.uri, direct.label, direct.unrecorded) == (
        through_mlflow.uri,
        through_mlflow.label,
        through_mlflow.unrecorded,
    )
    assert direct.records == through_mlflow.records
    assert direct.arrays_records == through_mlflow.arrays_records
    assert all(r.sha256 for r in direct.records) and len(direct.records) == 3
    # the same files: read where they lie, or copied by MLflow
    for a, b in ((direct.packed, through_mlflow.packed), (direct.arrays, through_mlflow.arrays)):
        assert Path(a).read_bytes() == Path(b).read_bytes()
    assert not Path(direct.packed).is_relative_to(tmp_path)


def test_a_version_number_reads_as_its_alias_does(trained):
    client = mlflow.MlflowClient(tracking_uri=trained["uri"])
    number = client.get_model_version_by_alias(NAME, "champion").version
    by_alias = read_version(f"models:/{NAME}@champion", trained["uri"])
    by_number = read_version(f"models:/{NAME}/{number}", trained["uri"])
    assert by_alias[0] == by_number[0] and by_alias[1] == by_number[1]
    assert by_alias[0].label == f"{NAME} v{number}"


@pytest.mark.parametrize(
    "uri",
    [
        "runs:/0123456789abcdef/model",
        "/some/model/directory",
        f"models:/{NAME}",
        f"models:/{NAME}/latest",
        f"models:/{NAME}@",
        f"models:/{NAME}@no-such-alias",
        "models:/no-such-model@champion",
        f"models:/{NAME}/999",
    ],
)
def test_other_uris_and_missing_versions_are_left_to_mlflow(trained, uri):
    assert read_version(uri, trained["uri"]) is None


def test_a_missing_alias_is_reported_as_mlflow_reports_it(trained):
    with pytest.raises(InputError, match=f"no model at models:/{NAME}@nothing-here"):
        load_risk_model(f"models:/{NAME}@nothing-here", trained["config"])


@pytest.mark.parametrize(
    "tracking", ["http://127.0.0.1:5000", "postgresql://db/mlflow", "sqlite:///no/such.db"]
)
def test_other_stores_are_left_to_mlflow(tracking):
    assert read_version(f"models:/{NAME}@champion", tracking) is None


def test_an_unknown_schema_a_remote_location_or_another_workspace_is_left_to_mlflow(
    trained, tmp_path, monkeypatch
):
    uri = f"models:/{NAME}@champion"
    copy = tmp_path / "mlflow.db"
    shutil.copy(_store_file(trained), copy)
    tracking = f"sqlite:///{copy}"
    assert read_version(uri, tracking) is not None
    monkeypatch.setenv("MLFLOW_WORKSPACE", "research")
    assert read_version(uri, tracking) is None
    monkeypatch.delenv("MLFLOW_WORKSPACE")
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE model_versions SET storage_location = 's3://bucket/model'")
    assert read_version(uri, tracking) is None
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfeed'")
    assert read_version(uri, tracking) is None


def test_uris_are_parsed_as_mlflow_names_them():
    assert parse_registry_uri("models:/a-b@champion") == ("a-b", "champion", None)
    assert parse_registry_uri("models:/a-b/12") == ("a-b", None, "12")
    assert parse_registry_uri("models:/a-b/x") is None
    assert parse_registry_uri("runs:/abc/model") is None
    assert sqlite_path("sqlite:///x.db?mode=ro") is None
