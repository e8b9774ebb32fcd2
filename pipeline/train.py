"""`dropout-risk train`: inputs → validated tables → landmarks → models → MLflow registry."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.instruments import derive_scores
from features.labels import episode_labels
from features.landmarks import landmark_examples, model_inputs
from features.schema import CATEGORICAL_FEATURES, FEATURE_NAMES
from models.training import InsufficientDataError, Progress, TrainingResult, train_models
from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.ingest import read_table
from pipeline.tracking import CHAMPION, SKOPS_TRUSTED_TYPES, configure, tracking_uri
from pipeline.validation import ValidatedTables, validate_tables

PIP_REQUIREMENTS_PACKAGES = ("scikit-learn", "pandas", "numpy", "skops", "shap", "mlflow")


@dataclass(frozen=True)
class TrainOutcome:
    result: TrainingResult
    run_id: str
    model_version: str
    tracking_uri: str
    tables: ValidatedTables


def load_inputs(clients_path: Path, sessions_path: Path, config: Config) -> ValidatedTables:
    """Read and validate both tables (fatal problems raise InputError)."""
    clients_raw = read_table(Path(clients_path), role="clients")
    sessions_raw = read_table(Path(sessions_path), role="sessions")
    return validate_tables(
        clients_raw,
        sessions_raw,
        config.instruments,
        clients_file=Path(clients_path).name,
        sessions_file=Path(sessions_path).name,
    )


def labelled_landmarks(tables: ValidatedTables, config: Config) -> tuple[pd.DataFrame, pd.Series]:
    """Landmark examples of the labelled episodes, and every episode's label.

    The extraction date (for the optional inactivity label) is the latest session date.
    """
    sessions = tables.sessions
    extraction = sessions["session_date"].max() if len(sessions) else pd.NaT
    attended = sessions[sessions["status"].eq("attended")]
    labels = episode_labels(
        tables.clients,
        last_attended=attended.groupby("client_id")["session_date"].max(),
        extraction_date=extraction,
        inactive_as_dropout=config.label.inactive_as_dropout,
        inactive_days=config.label.inactive_days,
    )
    labelled = tables.clients[tables.clients["client_id"].isin(labels.dropna().index)]
    examples = landmark_examples(labelled, sessions, config.instruments, config.features)
    return examples, labels


def feature_settings(config: Config) -> dict:
    """What the model must remember to rebuild its features at scoring time."""
    return {
        "instruments": config.instruments.model_dump(mode="json"),
        "features": config.features.model_dump(mode="json"),
        "tiers": config.scoring.tiers.model_dump(mode="json"),
    }


def _flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value if not isinstance(value, list | tuple) else json.dumps(value)
    return out


def data_summary(
    tables: ValidatedTables, labels: pd.Series, examples: pd.DataFrame, config: Config
) -> dict[str, float]:
    """Counts and rates only: never a row, never an id (brief, Privacy).

    Rated shares use the derived scores, so a site exporting WAI items only counts as rated.
    """
    clients = tables.clients
    scores = derive_scores(tables.sessions, config.instruments)
    attended = scores[scores["status"].eq("attended")]
    return {
        "data_clients": float(len(clients)),
        "data_sessions": float(len(scores)),
        "data_rejected_rows": float(len(tables.issues[["table", "row"]].drop_duplicates())),
        "data_labelled_episodes": float(labels.notna().sum()),
        "data_dropout_rate": float(labels.dropna().mean()),
        "data_sites": float(clients["site"].nunique()),
        "data_therapists": float(clients["therapist_id"].nunique()),
        "data_attendance_rate": float(len(attended) / len(scores)) if len(scores) else float("nan"),
        "data_wai_rated_share": float(attended["wai_bond"].notna().mean()),
        "data_srs_rated_share": float(attended["srs_total"].notna().mean()),
        "data_landmark_examples": float(len(examples)),
    }


def synthetic_input_example(X: pd.DataFrame) -> pd.DataFrame:
    """One aggregated row (medians, most frequent category) standing in for real data."""
    row = {}
    for name in FEATURE_NAMES:
        col = X[name]
        if name in CATEGORICAL_FEATURES:
            mode = col.dropna().mode()
            row[name] = mode.iloc[0] if len(mode) else np.nan
        else:
            row[name] = float(col.median()) if col.notna().any() else np.nan
    return pd.DataFrame([row])


def _fingerprint(config: Config) -> str:
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def run_training(
    clients_path: Path, sessions_path: Path, config: Config, progress: Progress | None = None
) -> TrainOutcome:
    """Train, evaluate, log to MLflow and register the model with alias ``champion``."""
    started = time.perf_counter()
    if progress:
        progress("reading and validating inputs")
    tables = load_inputs(clients_path, sessions_path, config)
    if progress:
        progress("building landmark features")
    examples, labels = labelled_landmarks(tables, config)
    settings = feature_settings(config)
    try:
        result = train_models(examples, labels, config.training, settings, progress)
    except InsufficientDataError as exc:
        raise InputError(
            f"{Path(clients_path).name}: {exc}. Fix: train on a longer history with closed episodes."
        ) from exc

    if progress:
        progress("logging to MLflow and registering the model")
    mlflow = configure(config)
    from mlflow.models import infer_signature

    mlflow.set_experiment(config.tracking.experiment)
    with mlflow.start_run(run_name=f"train-{result.selected}") as run:
        params = _flatten("", config.model_dump(mode="json", exclude={"synth", "tracking"}), {})
        params |= {
            "selected_candidate": result.selected,
            "calibration_method": result.calibration,
            "config_hash": _fingerprint(config),
        }
        mlflow.log_params(params)
        metrics = data_summary(tables, labels, examples, config) | result.split_summary
        metrics |= {f"test_{k}": v for k, v in result.test_metrics.items()}
        for name, (lo, hi) in result.test_intervals.items():
            metrics[f"test_{name}_ci_low"] = lo
            metrics[f"test_{name}_ci_high"] = hi
        metrics |= {f"baseline_intake_{k}": v for k, v in result.baseline_metrics.items()}
        cv_summary = result.cv.groupby("candidate")["log_loss"].agg(["mean", "std"])
        for name, row in cv_summary.iterrows():
            metrics[f"cv_{name}_log_loss"] = float(row["mean"])
            metrics[f"cv_{name}_log_loss_sd"] = float(row["std"])
        for _, row in result.by_landmark.iterrows():
            metrics[f"test_auroc_landmark_{int(row['landmark'])}"] = float(row.get("auroc", np.nan))
        metrics["train_seconds"] = time.perf_counter() - started
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.log_dict(
            {
                "cv": cv_summary.reset_index().to_dict("records"),
                "test": result.test_metrics,
                "test_intervals": {k: list(v) for k, v in result.test_intervals.items()},
                "baseline_intake": result.baseline_metrics,
                "by_landmark": result.by_landmark.to_dict("records"),
            },
            "evaluation.json",
        )
        X_all = model_inputs(examples)
        example = synthetic_input_example(X_all)
        signature = infer_signature(example, result.model.predict_proba(example))
        requirements = [f"{pkg}=={md.version(pkg)}" for pkg in PIP_REQUIREMENTS_PACKAGES]
        info = mlflow.sklearn.log_model(
            sk_model=result.model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            signature=signature,
            input_example=example,
            pip_requirements=requirements,
            pyfunc_predict_fn="predict_proba",
            # no code_paths: loading must not put code from the artifact store on sys.path;
            # the installed dropout-risk version that wrote the model is recorded instead
            metadata={"dropout_risk_version": md.version("dropout-risk")},
            registered_model_name=config.tracking.registered_model,
        )
        version = info.registered_model_version
        client = mlflow.MlflowClient()
        client.set_registered_model_alias(config.tracking.registered_model, CHAMPION, version)
    return TrainOutcome(
        result=result,
        run_id=run.info.run_id,
        model_version=f"{config.tracking.registered_model} v{version}",
        tracking_uri=tracking_uri(config),
        tables=tables,
    )
