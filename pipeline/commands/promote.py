"""`dropout-risk promote`: move the alias champion to the challenger only when it is safe.

Both registered versions are measured on the same clients, ones that neither model was
trained on: the held-out split is a fixed hash of each client's id and the seed
(``models.training.held_out``), and the clients held out by both models' splits are used.
The gates (``models.promotion.decide``; bounds in config ``promotion``) are:

* **AUROC**: the challenger is not worse beyond the paired client-bootstrap interval of
  the difference (the interval's upper end is at least ``-auroc_margin``);
* **calibration slope**: the challenger's slope on those clients lies within bounds;
* **calibration-in-the-large**: its observed − predicted lies within ``±calibration_in_the_large``;
* **subgroup gap**: the challenger's largest subgroup gaps (AUROC, calibration-in-the-
  large) exceed the champion's by at most ``subgroup_gap_tolerance``;
* **drift**: the caseload in the data (its active clients as of the latest appointment)
  raises no drift alarm against the challenger's stored training summary.

The decision, every figure behind it and whether ``--force`` was used are logged as an
MLflow run of the experiment and as tags of the challenger's version.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from configs.config import Config
from configs.errors import InputError
from features.drift import cross_sections
from features.schema import SUBGROUP_ATTRIBUTES
from models.backtest import caseload_metrics, pooled, subgroup_gaps, target_frame
from models.caseload import batch_drift
from models.drift import DriftReport
from models.evaluation import paired_auroc_difference
from models.progress import Progress
from models.promotion import Gate, decide
from models.training import held_out
from pipeline.registry.tracking import (
    CHALLENGER,
    CHAMPION,
    alias_version,
    configure,
    load_risk_model,
)
from pipeline.reports.progress import stage

# fewer labelled held-out episodes than this cannot support a comparison
MIN_EPISODES = 50
# the stages of `run_promotion`, in order: each begins with `pipeline.reports.progress.stage`
STAGES = (
    "finding the challenger and the champion in the registry",
    "loading both models",
    "reading and validating inputs",
    "measuring challenger and champion on held-out clients",
    "checking the caseload for drift",
    "logging the decision to MLflow",
)


@dataclass(frozen=True)
class PromotionOutcome:
    gates: list[Gate]
    promoted: bool
    forced: bool
    champion_version: str | None
    challenger_version: str
    run_id: str
    figures: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def decision(self) -> str:
        failed = self.note or not all(g.passed for g in self.gates)
        if self.promoted and self.forced and failed:
            return "promoted (forced)"
        return "promoted" if self.promoted else "refused"


def _held_out_clients(tables, models: dict) -> np.ndarray:
    """Clients held out by every model's split (none of them trained on these)."""
    ids = tables.clients["client_id"].to_numpy()
    keep = np.ones(len(ids), dtype=bool)
    for label, model in models.items():
        split = getattr(model, "split_", None)
        if not split:
            raise InputError(
                f"the {label} model does not record how its held-out clients were chosen "
                "(registered by an earlier dropout-risk). Fix: retrain it, or promote with --force."
            )
        keep &= held_out(ids, split["test_fraction"], split["seed"])
    return ids[keep]


def measure(tables, champion, challenger, config: Config) -> tuple[dict[str, float], int]:
    """Every figure the gates need: the caseload back-test on the clients both models
    held out (their caseloads on past dates, as `score` would have met them, against
    what happened since; ``models.backtest``)."""
    from features.labels import endings_of
    from models.backtest import caseload_backtest_predictions

    models = {"challenger": challenger} | ({"champion": champion} if champion is not None else {})
    held = _held_out_clients(tables, models)
    endings = endings_of(tables, config)
    horizon = int(config.label.horizon_days)
    frames = {}
    for label, model in models.items():
        predictions, _ = caseload_backtest_predictions(
            model, tables, endings, held, config, attributes=SUBGROUP_ATTRIBUTES
        )
        frames[label] = predictions
    first = frames["challenger"]
    risk = target_frame(first, horizon)["risk"]
    seen = risk["w"] > 0
    n_episodes = int(first.loc[seen.to_numpy(), "client_id"].nunique())
    if n_episodes < MIN_EPISODES or risk.loc[seen, "y"].nunique() < 2:
        raise InputError(
            f"only {n_episodes} held-out clients with an observed outcome are in the past "
            f"caseloads of both models (at least {MIN_EPISODES}, with both outcomes, are "
            "needed to compare them). Fix: promote with the export the challenger was "
            "trained on, or a longer one."
        )
    figures: dict[str, float] = {"episodes": float(n_episodes), "caseload_rows": float(len(first))}
    seed = config.training.seed
    for label, predictions in frames.items():
        if not predictions[["date", "client_id"]].equals(first[["date", "client_id"]]):
            raise RuntimeError("the two models' back-test rows differ")  # pragma: no cover
        metrics = caseload_metrics(
            predictions, horizon, n_boot=config.promotion.bootstrap, seed=seed
        )
        pooled_risk = pooled(metrics, "risk")
        figures[f"auroc_{label}"] = pooled_risk["auroc"]
        figures[f"auprc_{label}"] = pooled_risk["auprc"]
        figures[f"brier_{label}"] = pooled_risk["brier"]
        figures[f"cal_slope_{label}"] = pooled_risk["cal_slope"]
        figures[f"cal_slope_{label}_ci_low"] = pooled_risk.get("cal_slope_ci_low", math.nan)
        figures[f"cal_slope_{label}_ci_high"] = pooled_risk.get("cal_slope_ci_high", math.nan)
        figures[f"calibration_in_the_large_{label}"] = pooled_risk["calibration_in_the_large"]
        horizon_figures = pooled(metrics, "risk_within_horizon")
        figures[f"horizon_auroc_{label}"] = horizon_figures["auroc"]
        figures[f"horizon_cal_slope_{label}"] = horizon_figures["cal_slope"]
        gaps = subgroup_gaps(
            target_frame(predictions, horizon)["risk"],
            predictions[list(SUBGROUP_ATTRIBUTES)],
        )
        figures[f"gap_auroc_{label}"] = gaps["auroc"]
        figures[f"gap_calibration_{label}"] = gaps["calibration_in_the_large"]
    if champion is not None:
        old = target_frame(frames["champion"], horizon)["risk"]
        diff, low, high = paired_auroc_difference(
            risk.loc[seen, "y"].to_numpy(),
            risk.loc[seen, "p"].to_numpy(),
            old.loc[seen, "p"].to_numpy(),
            risk.loc[seen, "w"].to_numpy(),
            pd.factorize(risk.loc[seen, "client_id"])[0],
            n_boot=config.promotion.bootstrap,
            seed=seed,
        )
        figures |= {
            "auroc_difference": diff,
            "auroc_difference_ci_low": low,
            "auroc_difference_ci_high": high,
        }
    return figures, n_episodes


def caseload_drift(tables, model, config: Config) -> DriftReport | None:
    """The data's current caseload against a model's stored training summary."""
    if not getattr(model, "drift_profile_", None) or not len(tables.sessions):
        return None
    settings = model.settings
    rows = cross_sections(
        tables.clients,
        tables.sessions,
        settings.instruments,
        settings.features,
        [tables.sessions["session_date"].max()],
    )
    return batch_drift(model, rows, config.drift)


def _load_champion(name: str, version, config: Config, force: bool):
    """The champion's model, or (None, why) when it cannot be compared and ``force`` is set.

    A champion registered by an earlier dropout-risk may not load, or may not record its
    held-out split; it cannot be compared fairly, so only ``--force`` replaces it.
    """
    if version is None:
        return None, ""
    try:
        model = load_risk_model(f"models:/{name}/{version}", config).model
        problem = "" if getattr(model, "split_", None) else "it does not record its held-out split"
    except InputError as exc:
        model, problem = None, str(exc)
    if not problem:
        return model, ""
    if not force:
        raise InputError(
            f"the champion {name} v{version} cannot be compared with the challenger: {problem}. "
            "Fix: promote with --force to replace it without a comparison (logged as forced)."
        )
    return None, f"champion v{version} not compared ({problem})"


def run_promotion(
    clients_path: Path,
    sessions_path: Path,
    config: Config,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> PromotionOutcome:
    """Compare challenger with champion on the given data; move champion when the gates pass.

    ``progress`` hears each of ``STAGES`` as it begins (``pipeline.reports.progress.stage``).

    Raises
    ------
    InputError
        No challenger, unusable data, or too few held-out episodes (exit status 2).
    """
    from pipeline.commands.inputs import load_inputs

    stage(progress, STAGES[0])
    mlflow = configure(config)
    client = mlflow.MlflowClient()
    name = config.tracking.registered_model
    challenger_version = alias_version(client, name, CHALLENGER)
    if challenger_version is None:
        raise InputError(
            f"the registry has no {name}@{CHALLENGER}. Fix: run `dropout-risk train` first "
            "(each run registers a new version as the challenger)."
        )
    champion_version = alias_version(client, name, CHAMPION)
    new, old = challenger_version.version, getattr(champion_version, "version", None)
    if old == new:
        return PromotionOutcome(
            gates=[], promoted=False, forced=force, champion_version=old,
            challenger_version=new, run_id="",
            note=f"{name} v{new} is already the champion: nothing to promote.",
        )  # fmt: skip
    stage(progress, STAGES[1])
    challenger = load_risk_model(f"models:/{name}/{new}", config).model
    champion, unusable = _load_champion(name, old, config, force)
    stage(progress, STAGES[2])
    tables = load_inputs(clients_path, sessions_path, config)
    stage(progress, STAGES[3])
    figures, _ = measure(tables, champion, challenger, config)
    stage(progress, STAGES[4])
    drift = caseload_drift(tables, challenger, config)
    drift_champion = None if champion is None else caseload_drift(tables, champion, config)
    if drift is not None:
        figures |= drift.metrics(prefix="drift_challenger_")
    if drift_champion is not None:
        figures |= drift_champion.metrics(prefix="drift_champion_")
    gates = decide(
        figures,
        config.promotion,
        has_champion=champion is not None,
        drift=drift,
        drift_champion=drift_champion,
    )
    # a champion that could not be compared counts as a failed comparison: only --force
    passed = all(g.passed for g in gates) and not unusable
    promoted = passed or force

    stage(progress, STAGES[5])
    mlflow.set_experiment(config.tracking.experiment)
    with mlflow.start_run(run_name=f"promote-v{new}") as run:
        decision = "promoted" if promoted else "refused"
        mlflow.log_params(
            {
                "promotion_decision": decision,
                "forced": str(bool(force and not passed)).lower(),
                "force_flag": str(bool(force)).lower(),
                "champion_version": str(old) if old is not None else "none",
                "challenger_version": str(new),
                **{
                    f"promotion.{k}": json.dumps(v) if isinstance(v, list | tuple) else v
                    for k, v in config.promotion.model_dump(mode="json").items()
                },
            }
        )
        metrics = {k: v for k, v in figures.items() if math.isfinite(v)}
        metrics |= {f"gate_{g.name}_passed": float(g.passed) for g in gates}
        mlflow.log_metrics(metrics)
        mlflow.log_dict(
            {
                "decision": decision,
                "forced": bool(force and not passed),
                "champion_version": old,
                "challenger_version": new,
                "gates": [g.__dict__ for g in gates],
                "figures": {k: (v if math.isfinite(v) else None) for k, v in figures.items()},
            },
            "promotion.json",
        )
        mlflow.log_text(decision_markdown(gates, decision, old, new), "promotion.md")
    client.set_model_version_tag(name, new, "promotion_decision", decision)
    client.set_model_version_tag(name, new, "promotion_run_id", run.info.run_id)
    if force and not passed:
        client.set_model_version_tag(name, new, "promotion_forced", "true")
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, new)
    return PromotionOutcome(
        gates=gates,
        promoted=promoted,
        forced=force,
        champion_version=old,
        challenger_version=new,
        run_id=run.info.run_id,
        figures=figures,
        note=unusable,
    )


def decision_markdown(gates: list[Gate], decision: str, old, new) -> str:
    """The decision table as markdown (logged with the promotion run)."""
    lines = [
        f"# Promotion of v{new} (champion: {'v' + str(old) if old else 'none'}): {decision}",
        "",
        "| gate | champion | challenger | rule | passed |",
        "|---|---|---|---|---|",
    ]
    for g in gates:
        cells = [g.name, g.champion, g.challenger, g.rule, "yes" if g.passed else "NO"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
