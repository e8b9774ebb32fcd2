"""Shared fixtures: tiny inline tables and one small trained model for the slower tests."""

from __future__ import annotations

import contextlib
import inspect

import numpy as np
import pandas as pd
import pytest

from configs.config import load_config

# what a test (or a fixture it uses) calls when it trains a real model
TRAINS = ("run_training(", "train_models(", "run_demo(", "run_promotion(", "MAKERS[", '"train",')


def trains(function) -> bool:
    """Whether ``function``'s own source trains a model (see ``TRAINS``)."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return any(call in source for call in TRAINS)


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test that trains, itself or through any fixture it uses, so
    ``-m "not slow"`` leaves none of them in."""
    for item in items:
        functions = [getattr(item, "function", None)]
        for defs in item._fixtureinfo.name2fixturedefs.values():
            functions += [d.func for d in defs]
        if any(trains(f) for f in functions if f is not None):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _mlflow_follows_the_environment():
    """Each test starts with MLflow pointed at the store the environment names, so a test
    that pointed it at another store does not leak into the next (loading a registry
    version from a local SQLite store no longer goes through MLflow, so it no longer
    points MLflow anywhere)."""
    import os
    import sys

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri and "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(uri)
    yield


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

    from pipeline.commands.train import run_training
    from pipeline.synthetic import write_cohort

    root = tmp_path_factory.mktemp("trained")
    # a small search keeps the suite quick; every candidate still takes part
    settings = root / "small-search.yaml"
    settings.write_text(
        "training:\n  bootstrap: 20\n  cv_folds: 3\n  search:\n    configs_per_candidate: 1\n"
    )
    cfg = load_config(settings)
    clients, sessions = write_cohort(root / "data", 1500, 11, cfg.instruments)
    with private_mlflow_store(root) as uri:
        outcome = run_training(clients, sessions, cfg, report_dir=root / "evaluation")
        yield {
            "outcome": outcome,
            "clients": clients,
            "sessions": sessions,
            "root": root,
            "config": cfg,
            "uri": uri,
        }


@contextlib.contextmanager
def private_mlflow_store(root):
    """An SQLite MLflow store in ``root``, used as the working directory meanwhile."""
    import os

    old, cwd = os.environ.get("MLFLOW_TRACKING_URI"), os.getcwd()
    uri = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.chdir(root)  # MLflow puts artifacts beside the SQLite store's working directory
    try:
        yield uri
    finally:
        os.chdir(cwd)
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old


def make_predictions(
    n_clients: int = 240,
    seed: int = 0,
    *,
    baselines=("intake",),
    sites=("north", "south"),
    max_landmarks: int = 4,
    with_missing: bool = True,
) -> pd.DataFrame:
    """Held-out predictions as training hands them to the assessment.

    One to ``max_landmarks`` landmark rows per client whose weights sum to 1; a champion
    risk that tracks the outcome and weaker baselines. Client ids contain '-', which is
    not in the base64 alphabet, so an id cannot appear inside an embedded image by chance.
    """
    rng = np.random.default_rng(seed)
    k = rng.integers(1, max_landmarks + 1, n_clients)
    signal = rng.normal(size=n_clients)
    y = (rng.random(n_clients) < 1 / (1 + np.exp(-(1.5 * signal - 0.8)))).astype(int)
    rows = pd.DataFrame(
        {
            "client_id": np.repeat([f"client-{i:04d}" for i in range(n_clients)], k),
            "y": np.repeat(y, k),
            "weight": np.repeat(1 / k, k),
            "landmark": np.concatenate([np.arange(1, j + 1) for j in k]),
        }
    )
    lp = np.repeat(1.5 * signal - 0.8, k) + rng.normal(0, 0.7, len(rows))
    rows["risk"] = 1 / (1 + np.exp(-lp))
    for b in baselines:
        rows[f"risk_{b}"] = 1 / (1 + np.exp(-(0.4 * lp + rng.normal(0, 1, len(rows)))))
    age = rng.uniform(12, 80, n_clients)
    if with_missing:
        age[: n_clients // 20] = np.nan
    programs = ["outpatient", "group", None] if with_missing else ["outpatient", "group"]
    rows["age"] = np.repeat(age, k)
    rows["gender"] = np.repeat(rng.choice(["female", "male"], n_clients), k)
    rows["site"] = np.repeat(rng.choice(list(sites), n_clients), k)
    rows["program"] = np.repeat(rng.choice(programs, n_clients), k)
    return rows
