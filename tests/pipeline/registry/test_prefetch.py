"""Fetching the model in a second process: the same model, the same refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest

from configs.config import load_config
from configs.errors import InputError
from features.landmarks import asof_examples, model_inputs
from pipeline.registry import prefetch
from pipeline.registry.prefetch import start_fetch
from pipeline.registry.tracking import ARRAYS_FILE, load_risk_model
from tests.conftest import private_mlflow_store


def _refusals(root: Path, uri: str) -> tuple[str, str]:
    """The refusal of ``uri`` loaded here and fetched by the second process."""
    cfg = load_config()
    with private_mlflow_store(root):
        with pytest.raises(InputError) as here:
            load_risk_model(uri, cfg)
        with start_fetch(uri, cfg) as pending, pytest.raises(InputError) as fetched:
            pending.result()
    return str(here.value), str(fetched.value)


def test_a_missing_model_is_refused_with_the_in_process_message(tmp_path):
    here, fetched = _refusals(tmp_path, "models:/nowhere@champion")
    assert fetched == here
    assert "no model at models:/nowhere@champion" in here and "Fix:" in here


def test_when_the_second_process_fails_the_model_is_loaded_here(tmp_path, monkeypatch):
    # an interpreter that exits at once, answering nothing
    monkeypatch.setattr(prefetch.sys, "executable", "/bin/false")
    here, fetched = _refusals(tmp_path, "models:/nowhere@champion")
    assert fetched == here


def test_the_fetched_model_is_the_registered_one(trained):
    cfg = trained["config"]
    here = load_risk_model("models:/dropout-risk@champion", cfg)
    with start_fetch("models:/dropout-risk@champion", cfg) as pending:
        fetched = pending.result()
    assert fetched.version_label == here.version_label and fetched.uri == here.uri
    tables = trained["outcome"].tables
    as_of = tables.sessions["session_date"].max()
    X = model_inputs(
        asof_examples(tables.clients, tables.sessions, as_of, cfg.instruments, cfg.features)
    )
    np.testing.assert_array_equal(fetched.model.predict_proba(X), here.model.predict_proba(X))


def test_a_tampered_file_is_refused_after_a_fetch_too(trained, tmp_path):
    cfg = trained["config"]
    local = mlflow.artifacts.download_artifacts(
        artifact_uri="models:/dropout-risk@champion",
        dst_path=str(tmp_path),
        tracking_uri=trained["uri"],
    )
    # the file `score` reads: the array form
    packed = next(Path(local).rglob(ARRAYS_FILE))
    packed.write_bytes(packed.read_bytes() + b"\0")
    copy = tmp_path / "copy"
    shutil.copytree(local, copy)
    refused = pytest.raises(InputError, match="does not match the checksum recorded")
    with start_fetch(str(copy), cfg) as pending, refused:
        pending.result()
