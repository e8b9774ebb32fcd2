"""Privacy by construction: nothing of a client's rows reaches MLflow, whatever is logged."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from configs.config import load_config
from tests.conftest import private_mlflow_store

ID_MARK = "SENTINELID"
VALUE_MARKS = ("zz-sentinel-concern", "zz-sentinel-referral")


def _readable(path: Path) -> bytes:
    """A file's bytes, and for zip archives (skops models) every member's bytes too."""
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            data += b"".join(archive.read(name) for name in archive.namelist())
    return data


@pytest.mark.slow
def test_sentinel_ids_and_values_appear_nowhere_in_the_run_or_the_registered_model(tmp_path):
    from pipeline.commands.train import run_training
    from pipeline.synthetic import generate_cohort

    settings = tmp_path / "small.yaml"
    settings.write_text(
        "training:\n  bootstrap: 20\n  cv_folds: 3\n  search:\n    configs_per_candidate: 1\n"
    )
    cfg = load_config(settings)
    clients, sessions = generate_cohort(1500, 5, cfg.instruments)
    names = {cid: f"{ID_MARK}{i:05d}" for i, cid in enumerate(clients["client_id"])}
    clients["client_id"] = clients["client_id"].map(names)
    sessions["client_id"] = sessions["client_id"].map(names)
    # values only one client has: a rare category must never be stored by name
    clients.loc[3, "primary_concern"] = VALUE_MARKS[0]
    clients.loc[3, "referral_source"] = VALUE_MARKS[1]
    clients.to_csv(tmp_path / "clients.csv", index=False)
    sessions.to_csv(tmp_path / "sessions.csv", index=False)

    with private_mlflow_store(tmp_path) as uri:
        outcome = run_training(tmp_path / "clients.csv", tmp_path / "sessions.csv", cfg)
        client = mlflow.MlflowClient(tracking_uri=uri)
        run = client.get_run(outcome.run_id)
        number = outcome.model_version.rsplit(" v", 1)[1]
        version = client.get_model_version("dropout-risk", number)
        run_files = Path(
            mlflow.artifacts.download_artifacts(run_id=outcome.run_id, dst_path=str(tmp_path / "r"))
        )
        model_files = Path(
            mlflow.artifacts.download_artifacts(
                f"models:/dropout-risk/{number}", dst_path=str(tmp_path / "m")
            )
        )
    text = json.dumps(
        [run.data.params, run.data.metrics, run.data.tags, version.tags, version.description],
        default=str,
    ).encode()
    files = [p for p in [*run_files.rglob("*"), *model_files.rglob("*")] if p.is_file()]
    assert any(p.suffix == ".skops" for p in files) and any(p.suffix == ".png" for p in files)
    searched = {str(p.relative_to(tmp_path)): _readable(p) for p in files}
    searched["params, metrics, tags, description"] = text
    for mark in (ID_MARK, *VALUE_MARKS):
        found = [where for where, data in searched.items() if mark.encode() in data]
        assert not found, f"{mark!r} found in {found}"
    # the search can find: the marks are in the input files
    assert ID_MARK in (tmp_path / "clients.csv").read_text()
    assert VALUE_MARKS[0] in pd.read_csv(tmp_path / "clients.csv")["primary_concern"].tolist()
