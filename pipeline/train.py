"""`dropout-risk train`: inputs → validated tables → landmarks → models → MLflow registry."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.instruments import derive_scores
from features.labels import episode_labels
from features.landmarks import landmark_examples, model_inputs
from features.schema import CATEGORICAL_FEATURES, FEATURE_FAMILIES, MODEL_INPUTS
from models.assessment import Assessment, assess
from models.training import InsufficientDataError, Progress, TrainingResult, train_models
from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.ingest import read_table
from pipeline.tracking import CHAMPION, SKOPS_TRUSTED_TYPES, configure, tracking_uri
from pipeline.validation import ValidatedTables, validate_tables

PIP_REQUIREMENTS_PACKAGES = (
    "scikit-learn",
    "pandas",
    "numpy",
    "skops",
    "shap",
    "lightgbm",
    "mlflow",
)


@dataclass(frozen=True)
class TrainOutcome:
    result: TrainingResult
    run_id: str
    model_version: str
    tracking_uri: str
    tables: ValidatedTables
    assessment: Assessment
    temporal: Assessment | None


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
    for name in MODEL_INPUTS:
        col = X[name]
        if name == "therapist_id":
            # never a real therapist id: an unseen one, which gets the overall history rate
            row[name] = "example-therapist"
        elif name in CATEGORICAL_FEATURES:
            mode = col.dropna().mode()
            row[name] = mode.iloc[0] if len(mode) else np.nan
        else:
            row[name] = float(col.median()) if col.notna().any() else np.nan
    return pd.DataFrame([row])


def _fingerprint(config: Config) -> str:
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def dependence_features(result: TrainingResult, n: int = 8) -> list[str]:
    """The alliance and attendance features with the largest mean contribution."""
    families = ("alliance", "attendance", "interaction")
    strength = result.contributions.abs().mean()
    keep = [f for f in strength.index if FEATURE_FAMILIES.get(f) in families]
    return list(strength[keep].sort_values(ascending=False).index[:n])


def assess_training(result: TrainingResult, config: Config) -> tuple[Assessment, Assessment | None]:
    """The test-set assessment (with baselines and explanation) and the temporal one."""
    common = {
        "flag_threshold": config.scoring.tiers.high,
        "n_boot": config.training.bootstrap,
        "seed": config.training.seed,
    }
    assessment = assess(
        result.test_predictions,
        baselines=result.baselines,
        contributions=result.contributions,
        feature_values=result.explained_features,
        feature_families=FEATURE_FAMILIES,
        dependence_features=dependence_features(result),
        **common,
    )
    temporal = None
    if result.temporal_predictions is not None:
        temporal = assess(result.temporal_predictions, **common)
    return assessment, temporal


def methods_text(result: TrainingResult, config: Config) -> list[str]:
    """How the model was built and judged, in sentences for the report (TRIPOD+AI)."""
    t = config.training
    h = result.history
    tiers = config.scoring.tiers
    search = result.search
    return [
        f"Clients were split once: {t.test_fraction:.0%} of labelled episodes were held out "
        "for this evaluation; no client's examples appear in two sets. Each episode counts "
        "once: its landmark examples are weighted 1/n.",
        f"Candidates (regularised logistic regression, LightGBM and scikit-learn gradient "
        f"boosting, {int(search['search_configs_evaluated'])} configurations) were compared by "
        f"{t.cv_folds}-fold cross-validation grouped by client on weighted log loss; the "
        "simplest within one standard error of the best was chosen: "
        f"{result.selected} {json.dumps(result.selected_params, sort_keys=True)}."
        + (
            f" The time box skipped {int(search['search_configs_skipped_by_time_box'])} "
            "configurations."
            if search.get("search_configs_skipped_by_time_box")
            else ""
        ),
        "Coefficients and trees are constrained to the clinically certain direction of "
        "attendance, alliance and history features (more missed sessions never lowers risk).",
        f"Calibration: {result.calibration}, chosen by cross-fitted calibration error and "
        "fitted on the out-of-fold predictions of the development clients. No class "
        "resampling or reweighting was used, so nothing needed recalibrating after it.",
        "Therapist and site history: past dropout rates, encoded out of fold (an episode "
        "never informs its own value) and shrunk toward the overall rate "
        f"({h.get('history_therapist_shrinkage_episodes', float('nan')):.0f} episodes of "
        f"prior weight for therapists); therapists and sites with fewer than "
        f"{t.history.min_episodes} labelled episodes get the overall rate.",
        "Missing inputs: ratings not collected or not yet given stay missing; the logistic "
        "model imputes the median and adds a missing indicator, the boosted trees route "
        "missing values natively, and blank or rare categories pool into their own level.",
        f"Tiers: high from {tiers.high:.0%}, medium from {tiers.medium:.0%} (config), set near "
        "the published base rates (19.7% psychotherapy, 30.4% substance use) and not tuned "
        "on this data; the subgroup flag rate uses the high threshold.",
        "Fairness: AUROC (with client-bootstrap intervals), calibration-in-the-large and flag "
        "rate per age band, gender, site and program with fairlearn's MetricFrame; groups "
        "under 30 episodes are pooled; the largest gap per measure is logged.",
        "Temporal check: the chosen configuration refitted on the earlier intakes and "
        "measured on the later ones (their labelled episodes are, by construction, the "
        "ones that ended soonest).",
    ]


def run_training(
    clients_path: Path,
    sessions_path: Path,
    config: Config,
    progress: Progress | None = None,
    report_dir: Path | None = None,
) -> TrainOutcome:
    """Train, evaluate, log to MLflow and register the model with alias ``champion``.

    The evaluation report (HTML and PNG) is logged under ``evaluation/`` in the run and,
    when ``report_dir`` is given, also written there.
    """
    started = time.perf_counter()
    if progress:
        progress("reading and validating inputs")
    tables = load_inputs(clients_path, sessions_path, config)
    if progress:
        progress("building landmark features")
    examples, labels = labelled_landmarks(tables, config)
    settings = feature_settings(config)
    intake_dates = tables.clients.set_index("client_id")["intake_date"]
    try:
        result = train_models(
            examples, labels, config.training, settings, progress, intake_dates=intake_dates
        )
    except InsufficientDataError as exc:
        raise InputError(
            f"{Path(clients_path).name}: {exc}. Fix: train on a longer history with closed episodes."
        ) from exc
    if progress:
        progress("assessing the model: curves, subgroups, explanation")
    assessment, temporal = assess_training(result, config)
    champion = assessment.overall.set_index("model").loc["champion"]
    result.test_intervals = {
        metric: (float(champion[f"{metric}_ci_low"]), float(champion[f"{metric}_ci_high"]))
        for metric in ("auroc", "auprc", "brier", "cal_slope", "cal_intercept")
        if f"{metric}_ci_low" in champion
    }

    if progress:
        progress("logging to MLflow and registering the model")
    mlflow = configure(config)
    from mlflow.models import infer_signature

    mlflow.set_experiment(config.tracking.experiment)
    with mlflow.start_run(run_name=f"train-{result.selected}") as run:
        params = _flatten("", config.model_dump(mode="json", exclude={"synth", "tracking"}), {})
        params |= {
            "selected_candidate": result.selected,
            "selected_params": json.dumps(result.selected_params, sort_keys=True),
            "calibration_method": result.calibration,
            "config_hash": _fingerprint(config),
        }
        mlflow.log_params(params)
        metrics = data_summary(tables, labels, examples, config) | result.split_summary
        metrics |= result.search | result.history
        metrics |= {f"test_{k}": v for k, v in result.test_metrics.items()}
        for name, (lo, hi) in result.test_intervals.items():
            metrics[f"test_{name}_ci_low"] = lo
            metrics[f"test_{name}_ci_high"] = hi
        for name, values in result.baseline_metrics.items():
            metrics |= {f"baseline_{name}_{k}": v for k, v in values.items()}
        best_baseline = max(v["auroc"] for v in result.baseline_metrics.values())
        metrics["test_auroc_gain_over_best_baseline"] = result.test_metrics["auroc"] - best_baseline
        cv_summary = result.cv.groupby(["config", "candidate"])["log_loss"].agg(["mean", "std"])
        for (i, name), row in cv_summary.iterrows():
            metrics[f"cv_{i}_{name}_log_loss"] = float(row["mean"])
            metrics[f"cv_{i}_{name}_log_loss_sd"] = float(row["std"])
        for _, row in assessment.by_landmark.iterrows():
            metrics[f"test_auroc_landmark_{int(row['landmark'])}"] = float(row["auroc"])
        metrics |= assessment.metrics(prefix="eval_")
        if temporal is not None:
            metrics |= temporal.metrics(prefix="temporal_")
        metrics["train_seconds"] = time.perf_counter() - started
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        cv_table = result.cv.groupby(["config", "candidate", "params"])["log_loss"]
        mlflow.log_dict(
            {
                "cv": cv_table.agg(["mean", "std"]).reset_index().to_dict("records"),
                "selected": {"candidate": result.selected, "params": result.selected_params},
                "test": result.test_metrics,
                "test_intervals": {k: list(v) for k, v in result.test_intervals.items()},
                "baselines": result.baseline_metrics,
                "by_landmark": assessment.by_landmark.to_dict("records"),
                "subgroups": assessment.subgroups.to_dict("records"),
                "fairness_gaps": assessment.gaps,
                "temporal": None if temporal is None else temporal.overall.to_dict("records"),
                "temporal_note": result.temporal_note,
            },
            "evaluation.json",
        )
        context = {
            "selected candidate": result.selected,
            "calibration": result.calibration,
            "labelled episodes": int(result.split_summary["n_labelled_episodes"]),
            "test clients": int(result.split_summary["n_test_clients"]),
            "dropout rate": f"{result.split_summary['dropout_rate']:.1%}",
            "temporal split": result.temporal_note or "not run",
            "run": run.info.run_id,
        }
        methods = methods_text(result, config)
        # matplotlib is imported here, when a report is written, not with the package
        from pipeline.evaluation_report import write_evaluation_report

        with tempfile.TemporaryDirectory(prefix="dropout-eval-") as tmp:
            target = Path(report_dir) if report_dir is not None else Path(tmp)
            write_evaluation_report(
                assessment, target, temporal=temporal, context=context, methods=methods
            )
            mlflow.log_artifacts(str(target), artifact_path="evaluation")

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
        assessment=assessment,
        temporal=temporal,
    )
