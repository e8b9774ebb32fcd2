"""A held-out evaluation reported the way TRIPOD+AI asks (EVIDENCE.md): frames in, frames out.

`assess` turns one table of test-set predictions into aggregate tables: discrimination and
calibration with client-bootstrap intervals, calibration curves (Van Calster et al. 2019,
BMC Med 17:230), ROC and precision-recall curves on a fixed threshold grid, a decision curve
with net benefit against flag-all and flag-none (Vickers et al. 2019, Diagn Progn Res 3:18),
performance by landmark and in key subgroups (age band, gender, site, program) with
fairlearn's `MetricFrame`, and the average feature contributions that explain the model.

Every quantity uses the example weights, so a client seen at six landmarks counts as one
episode, like a client seen at one. Nothing returned is a single example's row or id: every
cell aggregates at least ``min_cell`` episodes or rows, or is a point of a curve on a fixed
grid. No I/O and no plotting here; `pipeline.reports.evaluation` draws and writes.

This module checks the inputs, runs the steps and holds the result; the steps live in
`models.curves` (calibration, ROC, precision-recall and decision curves),
`models.subgroups` (by landmark and by subgroup, with the fairness gaps),
`models.explanations` (feature importance and dependence) and `models.client_bootstrap`
(episode counts and the client-bootstrap intervals every table shares).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.client_bootstrap import BootstrapJobs, episode_count, fill_auroc_ci, interval
from models.curves import FLAG_ALL, calibration_curve, decision_curve, roc_pr
from models.evaluation import binary_metrics
from models.explanations import explanation
from models.subgroups import (
    LANDMARK_TABLE_COLUMNS,
    SUBGROUP_TABLE_COLUMNS,
    by_landmark,
    subgroups,
)

CHAMPION = "champion"
NET_BENEFIT_LOGGED_AT: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)

_CI_METRICS: tuple[str, ...] = ("auroc", "auprc", "brier", "cal_slope", "cal_intercept")
_POINT_METRICS: tuple[str, ...] = ("auroc", "auprc", "brier", "log_loss", "cal_slope")
_INVALID_METRIC_CHARS = re.compile(r"[^A-Za-z0-9_\-./ ]")


@dataclass(eq=False)
class Assessment:
    """Aggregate evaluation tables of one model on one held-out set.

    Attributes
    ----------
    models
        ``["champion", *baselines]`` in the order given to `assess`.
    overall
        One row per model: ``model, n_examples`` (prediction rows), ``n_episodes`` (sum of
        weights, rounded), ``prevalence, auroc, auprc, brier, log_loss, cal_slope,
        cal_intercept`` and ``<metric>_ci_low`` / ``<metric>_ci_high`` for ``auroc, auprc,
        brier, cal_slope, cal_intercept`` (95% client-bootstrap percentile intervals).
        ``cal_intercept`` is the logistic calibration intercept: above 0 means risk is
        under-estimated on average.
    by_landmark
        Champion by landmark (appointments seen so far): ``landmark, n_episodes,
        prevalence, auroc, auroc_ci_low, auroc_ci_high, cal_intercept, mean_risk``.
        Landmarks reached by fewer than ``min_cell`` clients are left out.
    calibration_curve
        ``model, bin, mean_predicted, observed, n_episodes, observed_ci_low,
        observed_ci_high``: up to 10 weighted-quantile bins per model; a bin with fewer than
        ``min_cell`` episodes is merged into a neighbour. Intervals are Wilson intervals on
        the effective number of clients in the bin.
    roc, pr
        ``model, threshold, fpr, tpr`` and ``model, threshold, recall, precision`` on the
        grid 0.00, 0.01, ..., 1.00 (flag when risk >= threshold). Precision is NaN where
        fewer than ``min_cell`` episodes are flagged.
    decision_curve
        ``threshold, strategy, net_benefit`` for thresholds 0.10 to 0.60 and strategies
        ``champion``, each baseline, ``flag all`` and ``flag none``.
    subgroups
        Champion per group: ``attribute, group, n_episodes, prevalence, auroc, auroc_ci_low,
        auroc_ci_high, calibration_in_the_large, flag_rate``. Here calibration-in-the-large
        is mean risk minus observed rate (above 0 means over-predicts).
    gaps
        Largest between-group difference over attributes for ``auroc``,
        ``calibration_in_the_large`` and ``flag_rate``.
    shap_importance
        ``feature, family, mean_abs_contribution``, largest first; empty without
        contributions.
    dependence
        Feature name to bins ``value_low, value_high, value_mid, n, mean_contribution,
        q25, q75``.
    flag_threshold
        Risk at or above which an episode counts as flagged.
    n_boot, min_cell, min_group
        The settings used, for the methods section of a report.
    notes
        Plain sentences on what was left out and why (absent attributes, groups or
        landmarks too small to show).
    """

    models: list[str]
    overall: pd.DataFrame
    by_landmark: pd.DataFrame
    calibration_curve: pd.DataFrame
    roc: pd.DataFrame
    pr: pd.DataFrame
    decision_curve: pd.DataFrame
    subgroups: pd.DataFrame
    gaps: dict[str, float]
    shap_importance: pd.DataFrame
    dependence: dict[str, pd.DataFrame]
    flag_threshold: float
    n_boot: int = 0
    min_cell: int = 10
    min_group: int = 30
    notes: list[str] = field(default_factory=list)

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat, finite metrics for an experiment tracker such as MLflow.

        Parameters
        ----------
        prefix
            Put in front of every name, e.g. ``"test_"`` or ``"temporal_"``.

        Returns
        -------
        dict
            ``{prefix}{model}_{metric}`` (with ``_ci_low`` / ``_ci_high``) for every model,
            ``{prefix}landmark_{k}_auroc`` and ``..._cal_intercept``,
            ``{prefix}fairness_auroc_gap``, ``{prefix}fairness_calibration_gap``,
            ``{prefix}fairness_flag_rate_gap``, ``{prefix}net_benefit_champion_at_{t}`` and
            ``{prefix}net_benefit_flag_all_at_{t}`` for t in 0.1, 0.2, 0.3, 0.4, and
            ``{prefix}flag_threshold``. NaN values are left out; characters MLflow does not
            accept in names become ``_``.
        """
        out: dict[str, float] = {}
        for row in self.overall.to_dict("records"):
            model = row.pop("model")
            for name, value in row.items():
                out[f"{prefix}{model}_{name}"] = value
        for row in self.by_landmark.to_dict("records"):
            landmark = int(row["landmark"])
            for name in ("auroc", "auroc_ci_low", "auroc_ci_high", "cal_intercept"):
                out[f"{prefix}landmark_{landmark}_{name}"] = row[name]
        out[f"{prefix}fairness_auroc_gap"] = self.gaps.get("auroc", math.nan)
        out[f"{prefix}fairness_calibration_gap"] = self.gaps.get(
            "calibration_in_the_large", math.nan
        )
        out[f"{prefix}fairness_flag_rate_gap"] = self.gaps.get("flag_rate", math.nan)
        curve = self.decision_curve
        for t in NET_BENEFIT_LOGGED_AT:
            at_t = curve[np.isclose(curve["threshold"], t)]
            for strategy in (CHAMPION, FLAG_ALL):
                value = at_t.loc[at_t["strategy"] == strategy, "net_benefit"]
                if len(value):
                    key = strategy.replace(" ", "_")
                    out[f"{prefix}net_benefit_{key}_at_{t:g}"] = value.iloc[0]
        out[f"{prefix}flag_threshold"] = self.flag_threshold
        return {
            _INVALID_METRIC_CHARS.sub("_", name): float(value)
            for name, value in out.items()
            if value is not None and np.isfinite(float(value))
        }


def _check_columns(predictions: pd.DataFrame, baselines: Sequence[str]) -> None:
    required = ["client_id", "y", "weight", "landmark", "risk", *(f"risk_{b}" for b in baselines)]
    missing = [c for c in required if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"predictions: missing column(s) {missing}. Fix: pass one row per client and "
            "landmark with client_id, y, weight, landmark, risk and risk_<name> per baseline."
        )
    if len(predictions) == 0:
        raise ValueError("predictions: no rows. Fix: assess a non-empty held-out set.")
    if len(set(baselines)) != len(baselines) or CHAMPION in baselines:
        raise ValueError(
            f"baselines: names must be unique and not {CHAMPION!r}, got {list(baselines)}."
        )
    if predictions["client_id"].isna().any():
        raise ValueError(
            "predictions['client_id']: blank ids. Fix: every row needs its client's id, the "
            "unit the bootstrap resamples."
        )


def _check_outcomes_and_weights(predictions: pd.DataFrame) -> None:
    y = pd.to_numeric(predictions["y"], errors="coerce")
    if not y.isin([0, 1]).all():
        raise ValueError("predictions['y']: values must be 0 or 1 (1 = dropout), with no blanks.")
    weight = pd.to_numeric(predictions["weight"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(weight)) or np.any(weight <= 0):
        raise ValueError("predictions['weight']: every weight must be a positive finite number.")
    per_client = pd.Series(weight).groupby(predictions["client_id"].to_numpy()).sum()
    off = int((~np.isclose(per_client.to_numpy(), 1.0, atol=1e-6)).sum())
    if off:
        raise ValueError(
            f"predictions['weight']: the weights of {off} client(s) do not sum to 1. Fix: give "
            "each row weight 1 / (rows of that client) so that every episode counts once."
        )


def _check_risks_and_landmarks(predictions: pd.DataFrame, baselines: Sequence[str]) -> None:
    for col in ["risk", *(f"risk_{b}" for b in baselines)]:
        risk = pd.to_numeric(predictions[col], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(risk)) or risk.min() < 0 or risk.max() > 1:
            raise ValueError(
                f"predictions[{col!r}]: risks must be probabilities in [0, 1] with no blanks."
            )
    landmark = pd.to_numeric(predictions["landmark"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(landmark)) or np.any(landmark != np.round(landmark)):
        raise ValueError("predictions['landmark']: must be whole numbers with no blanks.")


def _check_settings(flag_threshold: float, n_boot: int, min_cell: int, min_group: int) -> None:
    if not 0 < flag_threshold < 1:
        raise ValueError(f"flag_threshold must lie strictly between 0 and 1, got {flag_threshold}.")
    if n_boot < 0 or min_cell < 1 or min_group < 1:
        raise ValueError(
            f"n_boot must be >= 0 and min_cell, min_group >= 1; got n_boot={n_boot}, "
            f"min_cell={min_cell}, min_group={min_group}."
        )


def _check_inputs(
    predictions: pd.DataFrame,
    baselines: Sequence[str],
    flag_threshold: float,
    n_boot: int,
    min_cell: int,
    min_group: int,
) -> None:
    """Raise a ValueError naming the first unusable column or setting, and its fix."""
    _check_columns(predictions, baselines)
    _check_outcomes_and_weights(predictions)
    _check_risks_and_landmarks(predictions, baselines)
    _check_settings(flag_threshold, n_boot, min_cell, min_group)


@dataclass
class _ModelTables:
    """The per-model parts of an assessment, before the bootstrap has run.

    ``rows`` are the rows of `Assessment.overall` (intervals still NaN) and ``tickets``
    their bootstrap tickets (None for a model with a single outcome class).
    """

    rows: list[dict] = field(default_factory=list)
    tickets: list[int | None] = field(default_factory=list)
    calibration: list[pd.DataFrame] = field(default_factory=list)
    roc: list[pd.DataFrame] = field(default_factory=list)
    pr: list[pd.DataFrame] = field(default_factory=list)


def _overall_row(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict:
    """One model's point metrics on the whole set, its intervals NaN until filled."""
    point = binary_metrics(y, p, w)
    row = {"model": name, "n_examples": int(point["n_examples"])}
    row["n_episodes"] = int(episode_count(w.sum()))
    row |= {"prevalence": point["prevalence"]}
    row |= {m: point[m] for m in (*_POINT_METRICS, "cal_intercept")}
    row |= {f"{m}_{end}": math.nan for m in _CI_METRICS for end in ("ci_low", "ci_high")}
    return row


def _model_tables(
    risks: Mapping[str, np.ndarray],
    y: np.ndarray,
    w: np.ndarray,
    clients: np.ndarray,
    boot: BootstrapJobs,
    min_cell: int,
) -> _ModelTables:
    """Overall metrics, calibration, ROC and precision-recall curves of every model."""
    tables = _ModelTables()
    everyone = np.ones(len(y), dtype=bool)
    for name, p in risks.items():
        row = _overall_row(name, y, p, w)
        tables.rows.append(row)
        # one outcome class only: every measure is undefined, so there is nothing to resample
        single_class = not np.isfinite(row["auroc"])
        tables.tickets.append(None if single_class else boot.add(everyone, p, _CI_METRICS))
        tables.calibration.append(calibration_curve(name, y, p, w, clients, min_cell))
        roc, pr = roc_pr(name, y, p, w, min_cell)
        tables.roc.append(roc)
        tables.pr.append(pr)
    return tables


def _fill_overall_ci(rows: list[dict], tickets: list[int | None], intervals: list[dict]) -> None:
    for row, ticket in zip(rows, tickets, strict=True):
        for m in _CI_METRICS:
            found = {} if ticket is None else intervals[ticket]
            row[f"{m}_ci_low"], row[f"{m}_ci_high"] = interval(found, m)


def assess(
    predictions: pd.DataFrame,
    *,
    baselines: Sequence[str] = (),
    contributions: pd.DataFrame | None = None,
    feature_values: pd.DataFrame | None = None,
    feature_families: Mapping[str, str] | None = None,
    dependence_features: Sequence[str] = (),
    flag_threshold: float = 0.4,
    n_boot: int = 200,
    seed: int = 0,
    min_cell: int = 10,
    min_group: int = 30,
    n_jobs: int | None = -1,
) -> Assessment:
    """Evaluate the champion (and baselines) on held-out predictions, TRIPOD+AI style.

    Parameters
    ----------
    predictions
        One row per client and landmark: ``client_id`` (the bootstrap unit), ``y`` (1 =
        dropout), ``weight`` (a client's rows sum to 1), ``landmark``, ``risk`` (the
        champion's calibrated probability), ``risk_<name>`` per baseline, and optionally the
        subgroup attributes ``age``, ``gender``, ``site``, ``program`` (blank = "not
        recorded"; an absent column is skipped and noted).
    baselines
        Names of the baseline models, in report order.
    contributions
        Additive contributions to the champion's log-odds, one column per original
        feature, for (a sample of) test rows.
    feature_values
        The features' values for the same rows (same index as ``contributions``).
    feature_families
        Feature name to family; by default the families of ``features.schema.FEATURES``.
        Unknown features get ``"other"``.
    dependence_features
        Features to bin for dependence plots; numeric values only, others are skipped.
    flag_threshold
        Risk at or above which an episode is flagged (for flag rates).
    n_boot, seed
        Client-bootstrap replicates and seed for the 95% intervals; 0 gives NaN intervals.
        The same seed is used for every model, so their intervals come from the same draws.
    min_cell
        Smallest number of episodes (or rows) behind any reported number.
    min_group
        Subgroups with fewer episodes are pooled into "other (small groups)".
    n_jobs
        Processes for the bootstrap when it is long enough to be worth it (joblib
        convention: -1 all cores, 1 none). Results do not depend on it.

    Returns
    -------
    Assessment
        Aggregate tables only; see `Assessment`.

    Raises
    ------
    ValueError
        When a column is missing, outcomes are not 0/1, weights of a client do not sum
        to 1, risks are not probabilities or a setting is out of range.
    """
    _check_inputs(predictions, baselines, flag_threshold, n_boot, min_cell, min_group)
    models = [CHAMPION, *baselines]
    y = predictions["y"].to_numpy(dtype=int)
    w = predictions["weight"].to_numpy(dtype=float)
    # integer codes: ids never travel further than this line
    clients = pd.factorize(predictions["client_id"])[0]
    risks = {
        name: predictions["risk" if name == CHAMPION else f"risk_{name}"].to_numpy(dtype=float)
        for name in models
    }

    # every table queues its intervals first, so that the bootstraps run together
    boot = BootstrapJobs(y=y, w=w, clients=clients)
    per_model = _model_tables(risks, y, w, clients, boot, min_cell)
    champion = risks[CHAMPION]
    landmark_rows, landmark_tickets, notes = by_landmark(
        predictions["landmark"].to_numpy(dtype=float).astype(int),
        y,
        champion,
        w,
        clients,
        boot,
        min_cell=min_cell,
    )
    subgroup_rows, subgroup_tickets, gaps, subgroup_notes = subgroups(
        predictions,
        y,
        champion,
        w,
        boot,
        flag_threshold=flag_threshold,
        min_cell=min_cell,
        min_group=min_group,
    )

    intervals = boot.run(n_boot=n_boot, seed=seed, n_jobs=n_jobs)
    _fill_overall_ci(per_model.rows, per_model.tickets, intervals)
    fill_auroc_ci(landmark_rows, landmark_tickets, intervals)
    fill_auroc_ci(subgroup_rows, subgroup_tickets, intervals)

    importance, dependence, explanation_notes = explanation(
        contributions, feature_values, feature_families, dependence_features, min_cell
    )
    return Assessment(
        models=models,
        overall=pd.DataFrame(per_model.rows),
        by_landmark=pd.DataFrame(landmark_rows, columns=LANDMARK_TABLE_COLUMNS),
        calibration_curve=pd.concat(per_model.calibration, ignore_index=True),
        roc=pd.concat(per_model.roc, ignore_index=True),
        pr=pd.concat(per_model.pr, ignore_index=True),
        decision_curve=decision_curve(y, w, risks),
        subgroups=pd.DataFrame(subgroup_rows, columns=SUBGROUP_TABLE_COLUMNS),
        gaps=gaps,
        shap_importance=importance,
        dependence=dependence,
        flag_threshold=float(flag_threshold),
        n_boot=int(n_boot),
        min_cell=int(min_cell),
        min_group=int(min_group),
        notes=notes + subgroup_notes + explanation_notes,
    )
