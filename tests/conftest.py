"""Shared fixtures: tiny inline tables and one small trained model for the slower tests."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.config import load_config


@pytest.fixture(scope="session")
def config():
    return load_config()


def make_clients(*rows: dict) -> pd.DataFrame:
    """Validated-shape clients rows with sensible defaults."""
    base = {
        "client_id": "C1",
        "therapist_id": "T1",
        "intake_date": "2026-01-05",
        "site": "north",
        "program": "outpatient",
        "gender": "female",
        "primary_concern": "depression",
        "referral_source": "self",
        "age": 30.0,
        "planned_sessions": 12.0,
        "discharge_date": None,
        "discharge_reason": None,
    }
    frame = pd.DataFrame([{**base, **row} for row in rows])
    for col in ("intake_date", "discharge_date"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def make_sessions(client_id: str, start: str, statuses: list[str], **ratings: list) -> pd.DataFrame:
    """Weekly appointments for one client; ``ratings`` are per-appointment lists (None = blank)."""
    dates = pd.date_range(start, periods=len(statuses), freq="7D")
    frame = pd.DataFrame(
        {"client_id": client_id, "session_date": dates, "status": statuses, "therapist_id": None}
    )
    for col in (
        [f"wai_{i}" for i in range(1, 13)]
        + ["wai_bond", "wai_goal", "wai_task"]
        + [f"srs_{i}" for i in range(1, 5)]
        + ["srs_total", "ors_total"]
    ):
        values = ratings.get(col, [None] * len(statuses))
        frame[col] = pd.array(values, dtype="float64")
    return frame


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A model trained end to end on a small synthetic cohort, in a private MLflow store."""
    import os

    from pipeline.synth import write_cohort
    from pipeline.train import run_training

    root = tmp_path_factory.mktemp("trained")
    # a small search keeps the suite quick; every candidate still takes part
    settings = root / "small-search.yaml"
    settings.write_text(
        "training:\n  bootstrap: 20\n  cv_folds: 3\n  search:\n    configs_per_candidate: 1\n"
    )
    cfg = load_config(settings)
    clients, sessions = write_cohort(root / "data", 1500, 11, cfg.instruments)
    old, cwd = os.environ.get("MLFLOW_TRACKING_URI"), os.getcwd()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.chdir(root)  # MLflow puts artifacts beside the SQLite store's working directory
    try:
        outcome = run_training(clients, sessions, cfg, report_dir=root / "evaluation")
        yield {
            "outcome": outcome,
            "clients": clients,
            "sessions": sessions,
            "root": root,
            "config": cfg,
            "uri": os.environ["MLFLOW_TRACKING_URI"],
        }
    finally:
        os.chdir(cwd)
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
