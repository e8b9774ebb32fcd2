"""`dropout-risk train`: inputs → validated tables → landmarks → models → MLflow registry."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from configs.config import Config
from configs.errors import InputError
from configs.settings import FeatureSettings
from features.instruments import derive_scores
from features.landmarks import build_examples
from features.schema import FEATURE_FAMILIES
from models.assessment import Assessment, assess
from models.backtest import backtest_note, caseload_backtest, caseload_run_metrics
from models.progress import Progress, Steps, develop_steps
from models.training import InsufficientDataError, TrainingResult, train_models
from pipeline.commands.inputs import load_inputs
from pipeline.contract.validation import ValidatedTables
from pipeline.registry.registration import register_model
from pipeline.registry.tracking import configure, file_sha256, tracking_uri
from pipeline.reports.model_card import write_model_card
from pipeline.reports.progress import stage

# the stages of `run_training`, in order: each begins with `pipeline.reports.progress.stage`
STAGES = (
    "reading and validating inputs",
    "building landmark and snapshot features",
    "fitting and evaluating the models",
    "back-testing on the held-out clients' past caseloads",
    "assessing the model: curves, subgroups, explanation",
    "summarising the training caseload for drift checks",
    "logging to MLflow and registering the model",
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
    # the aliases this run's version received: always challenger; champion too when the
    # registry had none (the first model has nothing to be compared against)
    aliases: tuple[str, ...] = ()
    # the caseload back-test (models.backtest.caseload_metrics), aggregates only
    caseload: pd.DataFrame | None = None


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
        "data_training_examples": float(len(examples)),
        "data_snapshot_examples": float(examples["example_kind"].eq("snapshot").sum()),
        "data_open_episodes": float(
            examples.drop_duplicates("client_id")["event_days"].isna().sum()
        ),
    }


def card_facts(
    result: TrainingResult,
    config: Config,
    assessment: Assessment,
    temporal: Assessment | None,
    tables: ValidatedTables,
    labels: pd.Series,
    examples: pd.DataFrame,
    methods: list[str],
    *,
    inputs: tuple[Path, Path],
    caseload: pd.DataFrame | None = None,
    caseload_note: str = "",
    run_id: str,
    version: int,
):
    """Everything the model card states, as aggregates (no row, no id)."""
    from pipeline.reports.card_facts import ModelCardFacts

    intake = tables.clients["intake_date"]
    session = tables.sessions["session_date"]
    window = (
        f"{intake.min():%Y-%m}" if len(intake) else "",
        f"{session.max():%Y-%m}" if len(session) else "",
    )
    families: dict[str, list[str]] = {}
    for feature, family in FEATURE_FAMILIES.items():
        families.setdefault(family, []).append(feature)
    return ModelCardFacts(
        model_name=config.tracking.registered_model,
        version=str(version),
        run_id=run_id,
        created=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
        package_version=md.version("dropout-risk"),
        selected=result.selected,
        selected_params=result.selected_params,
        calibration=result.calibration,
        data_window=window,
        data=data_summary(tables, labels, examples, config),
        split=result.split_summary,
        label=config.label.model_dump(mode="json"),
        tiers=config.scoring.tiers.describe(),
        assessment=assessment,
        temporal=temporal,
        temporal_note=result.temporal_note,
        methods=methods,
        config_hash=_fingerprint(config),
        data_fingerprint={"clients": file_sha256(inputs[0]), "sessions": file_sha256(inputs[1])},
        features=families,
        landmarks=config.features.landmark_list(),
        caseload=caseload,
        caseload_note=caseload_note,
        horizon_days=config.label.horizon_days,
    )


def _fingerprint(config: Config) -> str:
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def training_drift_profile(tables: ValidatedTables, config: Config) -> dict:
    """Feature distributions of the caseload as it stood on a few past dates (aggregates).

    Scoring compares each batch with this summary (models.drift). Cross-sections of
    active clients are comparable with a scored batch; landmark training rows are not.
    """
    from features.drift import cross_sections, fit_profile, reference_dates

    drift = config.drift
    dates = reference_dates(
        tables.sessions["session_date"], drift.reference_dates, drift.reference_spacing_days
    )
    rows = cross_sections(
        tables.clients, tables.sessions, config.instruments, config.features, dates
    )
    return fit_profile(rows)


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
        f"Clients were split once by a hash of their id: {t.test_fraction:.0%} of all "
        "clients, open episodes included, were held out; no client's examples appear in "
        "two sets.",
        "Training examples: every episode, open ones included, just after its landmark "
        f"appointments and every {config.features.snapshot_days} days of the calendar while "
        "it was open (snapshots built as `score` builds a row as of a date). Dropout "
        "competes with completion, transfer and other endings; an example's target is "
        "whether its episode ended in dropout, and, for risk_within_horizon, whether it "
        f"did so within {config.label.horizon_days} days. Episodes still open at the export "
        "are censored: an example counts with weight 1 / G(t), G(t) being the share of "
        "examples followed at least as long as its episode took to end (inverse probability "
        "of censoring weighting, by the administrative follow-up to the export); a "
        "censored example weighs 0. No weight depends on how an episode ended.",
        f"Candidates (regularised logistic regression, LightGBM and scikit-learn gradient "
        f"boosting, {int(search['search_configs_evaluated'])} configurations) were compared by "
        f"{t.cv_folds}-fold cross-validation grouped by client on IPCW-weighted log loss "
        f"(on a seeded sample of clients with at most {t.search.max_rows} examples); the "
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
        "fitted on the out-of-fold predictions of the development "
        + ("calendar snapshots" if t.calibrate_on == "snapshots" else "examples")
        + ", with the censoring weights; risk_within_horizon has its own model and calibration and is "
        "capped by risk. No class resampling or outcome-based reweighting was used.",
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


def run_metrics(
    result: TrainingResult,
    tables: ValidatedTables,
    labels: pd.Series,
    examples: pd.DataFrame,
    config: Config,
    assessment: Assessment,
    temporal: Assessment | None,
    backtest: pd.DataFrame,
) -> dict[str, float]:
    """Every figure the training run logs (counts, rates and metrics; never a row)."""
    metrics = data_summary(tables, labels, examples, config) | result.split_summary
    metrics |= result.search | result.history
    metrics |= caseload_run_metrics(backtest)
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
    metrics["drift_reference_rows"] = float(result.model.drift_profile_.get("n_rows", 0))
    return metrics


def evaluation_record(
    result: TrainingResult,
    assessment: Assessment,
    temporal: Assessment | None,
    backtest: pd.DataFrame,
    backtest_on: list[pd.Timestamp],
) -> dict:
    """The run's ``evaluation.json``: search, test, baselines, subgroups, back-test."""
    cv_table = result.cv.groupby(["config", "candidate", "params"])["log_loss"]
    return {
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
        "caseload_backtest": backtest.to_dict("records"),
        "caseload_backtest_dates": [f"{d:%Y-%m-%d}" for d in backtest_on],
    }


def _backtest_steps(progress: Progress | None, config: Config, examples: pd.DataFrame):
    """``progress`` for the caseload back-test, its steps counted: each cross-fitting fold
    (``models.backtest``) develops the chosen configuration again, ``develop_steps`` each.

    A fold's calibration has folds of its own only when the fold's examples exceed the
    smaller of ``training.search.max_rows`` and ``calibration_rows`` (and the two differ).
    That is assumed when all the examples do: the total is exact whenever they do not
    (most clinics) and, for the largest, at worst ``cv_folds`` steps per fold too high,
    never too low. (``models.backtest`` could
    count exactly by passing one ``Steps`` to every fold's ``develop``.)"""
    if progress is None:
        return None
    folds, training = config.training.backtest.crossfit_folds, config.training
    search = training.search
    smaller = min(search.max_rows, search.calibration_rows)
    own_calibration = len(examples) > smaller and search.calibration_rows != search.max_rows
    steps = Steps(progress)
    steps.expect(folds * develop_steps(training.cv_folds, 1, own_calibration))
    return steps


def run_training(
    clients_path: Path,
    sessions_path: Path,
    config: Config,
    progress: Progress | None = None,
    report_dir: Path | None = None,
) -> TrainOutcome:
    """Train, evaluate, log to MLflow and register the model as a new version.

    The version gets the alias ``challenger`` (and ``champion`` too when the registry has
    none); ``dropout-risk promote`` decides whether it replaces the champion.

    The evaluation report (HTML and PNG) is logged under ``evaluation/`` in the run and,
    when ``report_dir`` is given, also written there.

    ``progress`` hears each of ``STAGES`` as it begins and, within the model fitting, each
    counted step (``models.training.Steps``); a ``pipeline.reports.progress.Reporter`` shows them.
    """
    started = time.perf_counter()
    stage(progress, STAGES[0])
    tables = load_inputs(clients_path, sessions_path, config)
    stage(progress, STAGES[1])
    examples, labels, endings = build_examples(tables, config)
    settings = FeatureSettings.from_config(config).to_dict()
    intake_dates = tables.clients.set_index("client_id")["intake_date"]
    stage(progress, STAGES[2])
    try:
        result = train_models(
            examples,
            labels,
            config.training,
            settings,
            progress,
            intake_dates=intake_dates,
            horizon_days=config.label.horizon_days,
        )
    except InsufficientDataError as exc:
        raise InputError(
            f"{Path(clients_path).name}: {exc}. Fix: train on a longer history with closed episodes."
        ) from exc
    stage(progress, STAGES[3])
    backtest, backtest_on = caseload_backtest(
        result,
        tables,
        endings,
        config,
        examples,
        settings,
        _backtest_steps(progress, config, examples),
    )
    stage(progress, STAGES[4])
    assessment, temporal = assess_training(result, config)
    champion = assessment.overall.set_index("model").loc["champion"]
    result.test_intervals = {
        metric: (float(champion[f"{metric}_ci_low"]), float(champion[f"{metric}_ci_high"]))
        for metric in ("auroc", "auprc", "brier", "cal_slope", "cal_intercept")
        if f"{metric}_ci_low" in champion
    }

    stage(progress, STAGES[5])
    result.model.drift_profile_ = training_drift_profile(tables, config)

    stage(progress, STAGES[6])
    mlflow = configure(config)
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
        metrics = run_metrics(
            result, tables, labels, examples, config, assessment, temporal, backtest
        )
        metrics["train_seconds"] = time.perf_counter() - started
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.log_dict(
            evaluation_record(result, assessment, temporal, backtest, backtest_on),
            "evaluation.json",
        )
        # the stored training summary the drift checks compare with (aggregates only)
        mlflow.log_dict(result.model.drift_profile_, "drift_reference.json")
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
        from pipeline.reports.evaluation import write_evaluation_report

        with tempfile.TemporaryDirectory(prefix="dropout-eval-") as tmp:
            target = Path(report_dir) if report_dir is not None else Path(tmp)
            write_evaluation_report(
                assessment,
                target,
                temporal=temporal,
                context=context,
                methods=methods,
                caseload=backtest,
                caseload_note=backtest_note(backtest_on, config),
            )
            mlflow.log_artifacts(str(target), artifact_path="evaluation")

        def write_card(version: int, folder: Path):
            facts = card_facts(
                result,
                config,
                assessment,
                temporal,
                tables,
                labels,
                examples,
                methods,
                inputs=(Path(clients_path), Path(sessions_path)),
                caseload=backtest,
                caseload_note=backtest_note(backtest_on, config),
                run_id=run.info.run_id,
                version=version,
            )
            return (*write_model_card(facts, folder), facts)

        registered = register_model(result, config, write_card)
        mlflow.log_params(
            {
                "registered_version": registered.version,
                "aliases_set": ",".join(registered.aliases),
            }
        )
    return TrainOutcome(
        result=result,
        run_id=run.info.run_id,
        model_version=f"{config.tracking.registered_model} v{registered.version}",
        aliases=registered.aliases,
        tracking_uri=tracking_uri(config),
        tables=tables,
        assessment=assessment,
        temporal=temporal,
        caseload=backtest,
    )
