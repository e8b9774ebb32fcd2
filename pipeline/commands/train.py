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

from configs.config import Config, FeaturesConfig, InstrumentsConfig
from configs.errors import InputError
from features.instruments import derive_scores
from features.labels import episode_endings, episode_labels
from features.landmarks import training_examples
from features.schema import FEATURE_FAMILIES
from models.assessment import Assessment, assess
from models.backtest import (
    NOTEBOOK,
    backtest_dates,
    backtest_predictions,
    caseload_metrics,
    pooled,
)
from models.notebook import NotebookModel
from models.training import InsufficientDataError, Progress, TrainingResult, train_models
from pipeline.contract.validation import ValidatedTables, validate_tables
from pipeline.io.ingest import read_table
from pipeline.registry.tracking import CHAMPION, CHECKSUM_TAG, configure, file_sha256, tracking_uri

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
    # the aliases this run's version received: always challenger; champion too when the
    # registry had none (the first model has nothing to be compared against)
    aliases: tuple[str, ...] = ()
    # the caseload back-test (models.backtest.caseload_metrics), aggregates only
    caseload: pd.DataFrame | None = None


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


def episode_outcomes(tables: ValidatedTables, config: Config) -> pd.Series:
    """Every episode's label (1 dropout, 0 completed, NaN none), as the contract defines it.

    The extraction date (for the optional inactivity label) is the latest session date.
    """
    sessions = tables.sessions
    attended = sessions[sessions["status"].eq("attended")]
    return episode_labels(
        tables.clients,
        last_attended=attended.groupby("client_id")["session_date"].max(),
        extraction_date=sessions["session_date"].max() if len(sessions) else pd.NaT,
        inactive_as_dropout=config.label.inactive_as_dropout,
        inactive_days=config.label.inactive_days,
    )


def export_date(tables: ValidatedTables) -> pd.Timestamp:
    """The date the export was taken: its latest appointment."""
    return tables.sessions["session_date"].max()


def endings_of(tables: ValidatedTables, config: Config) -> pd.DataFrame:
    """How and when each episode ended (open ones censored at the export)."""
    sessions = tables.sessions
    return episode_endings(
        tables.clients,
        last_seen=sessions.groupby("client_id")["session_date"].max(),
        extraction_date=export_date(tables),
        inactive_as_dropout=config.label.inactive_as_dropout,
        inactive_days=config.label.inactive_days,
    )


def build_examples(
    tables: ValidatedTables, config: Config
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Training examples of every episode (landmarks and snapshots, open episodes
    included), the contract's label of each episode, and how each episode ended."""
    labels = episode_outcomes(tables, config)
    endings = endings_of(tables, config)
    examples = training_examples(
        tables.clients,
        tables.sessions,
        endings,
        export_date(tables),
        config.instruments,
        config.features,
    )
    return examples, labels, endings


def caseload_backtest(
    result: TrainingResult, tables: ValidatedTables, endings: pd.DataFrame, config: Config
) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """The held-out clients' caseloads on past dates, scored, against what happened since.

    Returns the metrics table (``models.backtest.caseload_metrics``) and the dates."""
    # the notebook baseline, fitted on the same development clients, scores the same
    # caseloads (its closed-episode rows, unweighted: the usual first model)
    dev = ~tables.clients["client_id"].isin(result.test_clients).to_numpy()
    dev_clients = tables.clients[dev]
    dev_sessions = tables.sessions[tables.sessions["client_id"].isin(dev_clients["client_id"])]
    notebook = NotebookModel(seed=config.training.seed).fit(
        dev_clients, dev_sessions, config.instruments
    )
    predictions, dates = caseload_backtest_predictions(
        result.model, tables, endings, result.test_clients, config, baseline=notebook
    )
    metrics = caseload_metrics(
        predictions,
        config.label.horizon_days,
        n_boot=config.training.bootstrap,
        seed=config.training.seed,
    )
    return metrics, dates


def caseload_backtest_predictions(
    model,
    tables: ValidatedTables,
    endings: pd.DataFrame,
    client_ids,
    config: Config,
    attributes: tuple[str, ...] = (),
    baseline=None,
) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """``model``'s risks on the past caseloads of ``client_ids`` (the back-test dates of
    config), with what happened since; the features are rebuilt with the model's own
    settings."""
    bt = config.training.backtest
    exported = export_date(tables)
    dates = backtest_dates(
        exported,
        n_dates=bt.dates,
        spacing_days=bt.spacing_days,
        min_follow_up_days=bt.min_follow_up_days,
        horizon_days=config.label.horizon_days,
        earliest=tables.clients["intake_date"].min(),
        clients=tables.clients,
        min_ended_share=bt.min_ended_share,
    )
    held = tables.clients["client_id"].isin(client_ids)
    settings = model.feature_settings
    predictions = backtest_predictions(
        model,
        tables.clients[held.to_numpy()],
        tables.sessions,
        endings,
        dates,
        exported,
        InstrumentsConfig.model_validate(settings["instruments"]),
        FeaturesConfig.model_validate(settings["features"]),
        attributes=attributes,
        baseline=baseline,
    )
    return predictions, dates


def backtest_note(dates: list[pd.Timestamp], config: Config) -> str:
    """The back-test's dates and horizon in a sentence (for the report and the card)."""
    if not dates:
        return "No back-test date lies inside the history."
    return (
        f"{len(dates)} as-of dates from {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}, "
        f"{config.training.backtest.spacing_days} days apart; on each, the caseload of "
        "held-out clients open that day, from their appointments up to that day only, "
        f"scored by this model; horizon {config.label.horizon_days} days. The model was "
        "trained on the other clients' whole history."
    )


def caseload_run_metrics(metrics: pd.DataFrame) -> dict[str, float]:
    """The back-test's pooled figures as run metrics: ``caseload_*`` for ``risk``,
    ``caseload_horizon_*`` for ``risk_within_horizon``."""
    names = {
        "auroc": "auroc",
        "auprc": "auprc",
        "brier": "brier",
        "cal_slope": "calibration_slope",
        "calibration_in_the_large": "calibration_in_the_large",
        "observed_rate": "observed_rate",
        "mean_risk": "mean_risk",
        "censored_share": "censored_share",
        "n_rows": "rows",
    }
    out = {}
    for target, prefix in (
        ("risk", "caseload_"),
        ("risk_within_horizon", "caseload_horizon_"),
        (NOTEBOOK, "caseload_notebook_"),
    ):
        figures = pooled(metrics, target)
        for key, name in names.items():
            out[f"{prefix}{name}"] = figures.get(key, float("nan"))
            for end in ("ci_low", "ci_high"):
                if f"{key}_{end}" in figures:
                    out[f"{prefix}{name}_{end}"] = figures[f"{key}_{end}"]
    return out


def feature_settings(config: Config) -> dict:
    """What the model must remember to rebuild its features at scoring time."""
    return {
        "instruments": config.instruments.model_dump(mode="json"),
        "features": config.features.model_dump(mode="json"),
        "tiers": config.scoring.tiers.model_dump(mode="json"),
        "horizon_days": config.label.horizon_days,
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
        "data_training_examples": float(len(examples)),
        "data_snapshot_examples": float(examples["example_kind"].eq("snapshot").sum()),
        "data_open_episodes": float(
            examples.drop_duplicates("client_id")["event_days"].isna().sum()
        ),
    }


def synthetic_request(instruments) -> pd.DataFrame:
    """A served request made of synthetic records only (the model's input example).

    A few open episodes of a generated cohort, with every id replaced: never a real row.
    """
    from pipeline.registry.serving import request_frame
    from pipeline.synthetic.simulate import generate_cohort

    clients, sessions = generate_cohort(40, 1, instruments)
    active = clients[clients["discharge_reason"].isna()].head(2).copy()
    sessions = sessions[sessions["client_id"].isin(active["client_id"])].copy()
    names = {cid: f"example-client-{i + 1}" for i, cid in enumerate(active["client_id"])}
    for frame in (active, sessions):
        frame["client_id"] = frame["client_id"].map(names)
        frame["therapist_id"] = np.where(frame["therapist_id"].isna(), None, "example-therapist")
    active["site"] = "example-site"
    frame = request_frame(active, sessions)
    return frame.astype(object).where(frame.notna(), None)


@dataclass(frozen=True)
class Registered:
    version: int
    aliases: tuple[str, ...]


def _next_version(client, name: str) -> int:
    versions = client.search_model_versions(f"name = '{name}'")
    return 1 + max((int(v.version) for v in versions), default=0)


def register_model(result: TrainingResult, config: Config, card) -> Registered:
    """Log the model as an MLflow pyfunc model and register it as a new version.

    The version gets the alias ``challenger``; when the registry has no ``champion`` yet it
    also becomes the champion (there is nothing to compare it with). Its model card (``card``
    builds the facts for a version number) is inside the model, in the run under
    ``model_card/`` and in the version's description. Must run inside the training run.
    """
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    from pipeline.registry.serving import PYFUNC_ENTRY
    from pipeline.registry.tracking import (
        CHALLENGER,
        RISK_MODEL_ARTIFACT,
        RISK_MODEL_FILE,
        alias_version,
        save_skops_model,
    )
    from pipeline.reports.model_card import write_model_card

    name = config.tracking.registered_model
    client = mlflow.MlflowClient()
    entry = PYFUNC_ENTRY
    signature = ModelSignature(params=ParamSchema([ParamSpec("as_of", "string", "")]))
    requirements = [f"{pkg}=={md.version(pkg)}" for pkg in PIP_REQUIREMENTS_PACKAGES]
    example = synthetic_request(config.instruments)
    with tempfile.TemporaryDirectory(prefix="dropout-model-") as tmp:
        packed = save_skops_model(result.model, Path(tmp) / RISK_MODEL_FILE)
        for _attempt in range(3):
            # the version number goes into the model (its risk lists name it), so it is
            # fixed before logging and checked after; a concurrent registration retries
            expected = _next_version(client, name)
            facts = card(expected)
            card_md, card_html = write_model_card(facts, Path(tmp) / "model_card")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(entry),
                artifacts={
                    RISK_MODEL_ARTIFACT: str(packed),
                    "model_card": str(card_md),
                    "model_card_html": str(card_html),
                },
                # the served model checks its file against this before loading it
                model_config={
                    "version_label": f"{name} v{expected}",
                    CHECKSUM_TAG: file_sha256(packed),
                },
                signature=signature,
                input_example=(example, {"as_of": ""}),
                pip_requirements=requirements,
                metadata={"dropout_risk_version": md.version("dropout-risk")},
                registered_model_name=name,
            )
            version = int(info.registered_model_version)
            if version == expected:
                break
            client.delete_model_version(name, str(version))
        else:  # pragma: no cover - three registrations raced this one
            raise RuntimeError(f"could not register a version of {name}: others kept registering")
        mlflow.log_artifacts(str(Path(tmp) / "model_card"), artifact_path="model_card")
        client.update_model_version(
            name, str(version), description=version_description(card_md.read_text("utf-8"))
        )
        tags = {
            "config_hash": facts.config_hash,
            "data_fingerprint_clients": facts.data_fingerprint["clients"],
            "data_fingerprint_sessions": facts.data_fingerprint["sessions"],
            CHECKSUM_TAG: file_sha256(packed),
            "dropout_risk_version": md.version("dropout-risk"),
        }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    aliases = [CHALLENGER]
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    if alias_version(client, name, CHAMPION) is None:
        client.set_registered_model_alias(name, CHAMPION, str(version))
        client.set_model_version_tag(
            name, str(version), "promotion", "first version: champion (nothing to compare with)"
        )
        aliases.append(CHAMPION)
    return Registered(version=version, aliases=tuple(aliases))


# registry stores cap a version's description (PostgreSQL: varchar(5000))
DESCRIPTION_LIMIT = 5000


def version_description(card: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """The model card as the version's description: whole when it fits, else its opening
    sections cut at a line, with where the full card is."""
    if len(card) <= limit:
        return card
    pointer = (
        "\n\n… (shortened to fit the registry) The full model card is `model_card/model_card.md` "
        "and `.html` in this version's run, and `artifacts/model_card.md` inside the model.\n"
    )
    head = card[: limit - len(pointer)]
    return head[: head.rfind("\n")].rstrip() + pointer


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
    from pipeline.reports.model_card import ModelCardFacts

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

    Scoring compares each batch with this summary (features.drift). Cross-sections of
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
        progress("building landmark and snapshot features")
    examples, labels, endings = build_examples(tables, config)
    settings = feature_settings(config)
    intake_dates = tables.clients.set_index("client_id")["intake_date"]
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
    if progress:
        progress("back-testing on the held-out clients' past caseloads")
    backtest, backtest_on = caseload_backtest(result, tables, endings, config)
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
        progress("summarising the training caseload for drift checks")
    result.model.drift_profile_ = training_drift_profile(tables, config)

    if progress:
        progress("logging to MLflow and registering the model")
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
                "caseload_backtest": backtest.to_dict("records"),
                "caseload_backtest_dates": [f"{d:%Y-%m-%d}" for d in backtest_on],
            },
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

        registered = register_model(
            result,
            config,
            card=lambda version: card_facts(
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
            ),
        )
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
