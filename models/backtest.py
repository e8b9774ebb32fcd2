"""The caseload back-test: the model judged the way `score` is used.

`score` meets a cross-section: the episodes open on a date, days or weeks after each
client's last appointment, whose outcome lies in the future. The back-test rebuilds that
cross-section on past dates from what an export taken then would have shown (episodes
open on the date, appointments on or before it, nothing later), scores it with a model
that never saw those clients (the held-out split), and compares the risks with what
happened to those clients since, up to the export.

An episode still open at the export is censored: its eventual outcome is unknown.
Pooled over the dates, an example whose episode ended ``t`` days after its date is
observed only on dates at least ``t`` days before the export, so each observed example
weighs 1 / (share of examples followed that long) (IPCW, ``models.censoring``); the
within-horizon outcome is observed for every example (every date lies at least the
horizon before the export). Per-date figures of the eventual outcome lean on that
pooling and are shown for the trend only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from configs.config import Config
from features.labels import export_date, open_on
from features.landmarks import asof_examples, model_inputs
from models.censoring import censoring_weights, horizon_outcome
from models.evaluation import binary_metrics, bootstrap_intervals
from models.notebook import NotebookModel

if TYPE_CHECKING:
    from models.training import TrainingResult

METRICS = ("auroc", "auprc", "brier", "cal_slope", "cal_intercept")
# the risk-list columns the back-test judges, with the target each one predicts
TARGETS = ("risk", "risk_within_horizon")
# a baseline's risks of the eventual outcome, judged beside ``risk`` when present
NOTEBOOK = "risk_notebook"
# what each judged column is, in words, for the report and the model card
TARGET_LABELS = {
    "risk": "risk (ends in dropout)",
    "risk_within_horizon": "risk_within_horizon (dropout discharge within the horizon)",
    NOTEBOOK: "baseline: notebook model (gradient boosting on per-client aggregates)",
}


def ended_share(clients: pd.DataFrame, date: pd.Timestamp) -> float:
    """The share of the episodes open on ``date`` that had ended by the export."""
    open_then = open_on(clients, date)
    if not open_then.any():
        return float("nan")
    return float(clients["discharge_date"][open_then].notna().mean())


def backtest_dates(
    export_date: pd.Timestamp,
    *,
    n_dates: int,
    spacing_days: int,
    min_follow_up_days: int,
    horizon_days: int,
    earliest: pd.Timestamp | None = None,
    clients: pd.DataFrame | None = None,
    min_ended_share: float | None = None,
) -> list[pd.Timestamp]:
    """The as-of dates, oldest first, ``spacing_days`` apart; none before ``earliest``.

    The latest lies at least ``max(min_follow_up, horizon)`` days before the export, and,
    with ``clients`` and ``min_ended_share``, far enough back that at least that share of
    the episodes open on it have ended by the export ("enough follow-up": the eventual
    outcome of an episode that outlasts every date's follow-up cannot be recovered by any
    weighting). A history where no date reaches the share takes the date that comes
    closest (the report gives the censored share).
    """
    latest = export_date - pd.Timedelta(days=max(min_follow_up_days, horizon_days))
    if clients is not None and min_ended_share is not None:
        step = pd.Timedelta(days=spacing_days)
        candidates = []
        date = latest
        while earliest is None or date >= earliest:
            share = ended_share(clients, date)
            if np.isfinite(share):
                candidates.append((date, share))
                if share >= min_ended_share:
                    break
            elif candidates:
                break  # before the first intakes: no caseload any more
            date -= step
        if candidates:
            reached = [d for d, share in candidates if share >= min_ended_share]
            latest = reached[0] if reached else max(candidates, key=lambda c: c[1])[0]
    dates = [latest - pd.Timedelta(days=spacing_days * k) for k in range(n_dates)]
    if earliest is not None:
        dates = [d for d in dates if d >= earliest]
    return sorted(pd.Timestamp(d) for d in dates)


def caseload_on(
    clients: pd.DataFrame, sessions: pd.DataFrame, date: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables an export taken on ``date`` would have held for the open caseload.

    Episodes with an intake on or before the date and no discharge by then (discharge
    blank or after it), with their discharge fields blank as they were then, and their
    appointments on or before the date. Nothing recorded after the date is kept.
    """
    then = clients[open_on(clients, date)].copy()
    then["discharge_date"] = pd.NaT
    then["discharge_reason"] = pd.Series(pd.NA, index=then.index, dtype="string")
    known = sessions[
        sessions["client_id"].isin(then["client_id"]) & (sessions["session_date"] <= date)
    ]
    return then, known


def backtest_predictions(
    model,
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    endings: pd.DataFrame,
    dates: Sequence[pd.Timestamp],
    export_date: pd.Timestamp,
    instruments,
    features,
    *,
    attributes: Sequence[str] = (),
    baseline=None,
) -> pd.DataFrame:
    """Score the caseload of each date and attach what happened since.

    Parameters
    ----------
    model
        A fitted ``RiskModel`` that never saw these clients.
    clients, sessions
        The whole export (validated tables) of the clients to back-test.
    endings
        ``features.labels.episode_endings`` of the export: how and when each ended.
    dates
        The as-of dates (:func:`backtest_dates`).
    attributes
        Extra example columns to keep (e.g. subgroup attributes).
    baseline
        A fitted ``models.notebook.NotebookModel`` (or anything with its
        ``predict_asof``) to score the same caseloads as ``risk_notebook``.

    Returns
    -------
    pandas.DataFrame
        One row per scored client per date: ``date``, ``client_id``, ``risk``,
        ``risk_within_horizon``, ``outcome`` (NaN: still open at the export),
        ``event_days`` (date to end), ``follow_up_days`` (date to export).
    """
    parts = []
    for date in dates:
        then, known = caseload_on(clients, sessions, pd.Timestamp(date))
        rows = asof_examples(then, known, pd.Timestamp(date), instruments, features)
        if not len(rows):
            continue
        X = model_inputs(rows)
        risk = model.predict_proba(X)[:, 1]
        soon = model.predict_horizon(X, risk)
        ending = endings.reindex(rows["client_id"].to_numpy())
        event = pd.to_datetime(ending["end_date"]).to_numpy() - np.datetime64(date)
        event_days = pd.to_timedelta(event).days.to_numpy(dtype=float)
        frame = pd.DataFrame(
            {
                "date": pd.Timestamp(date),
                "client_id": rows["client_id"].to_numpy(),
                "risk": risk,
                "risk_within_horizon": soon,
                "outcome": ending["outcome"].to_numpy(dtype=float),
                "event_days": np.where(ending["open"].to_numpy(dtype=bool), np.nan, event_days),
                "follow_up_days": float((export_date - pd.Timestamp(date)).days),
            }
        )
        for name in attributes:
            frame[name] = rows[name].to_numpy()
        if baseline is not None:
            theirs = baseline.predict_asof(then, known, pd.Timestamp(date), instruments)
            frame[NOTEBOOK] = theirs.reindex(frame["client_id"].to_numpy()).to_numpy(float)
        parts.append(frame)
    if not parts:
        return pd.DataFrame(
            columns=["date", "client_id", *TARGETS, "outcome", "event_days", "follow_up_days"]
        )
    return pd.concat(parts, ignore_index=True)


def target_frame(predictions: pd.DataFrame, horizon_days: int) -> dict[str, pd.DataFrame]:
    """Per target: ``y`` and its censoring weight ``w`` beside each prediction.

    Closed episodes with an unknown reason weigh 0 (their outcome cannot be known)."""
    outcome = predictions["outcome"].to_numpy(dtype=float)
    event = predictions["event_days"].to_numpy(dtype=float)
    follow = predictions["follow_up_days"].to_numpy(dtype=float)
    unknown = np.isnan(outcome) & ~np.isnan(event)
    out = {}
    eventual = np.nan_to_num(outcome).astype(int)
    judged = [
        ("risk", None, eventual),
        ("risk_within_horizon", horizon_days, horizon_outcome(outcome, event, horizon_days)),
    ]
    if NOTEBOOK in predictions:
        judged.append((NOTEBOOK, None, eventual))
    for target, horizon, y in judged:
        w = censoring_weights(event, follow, horizon_days=horizon)
        w[unknown] = 0.0
        out[target] = pd.DataFrame(
            {
                "date": predictions["date"].to_numpy(),
                "client_id": predictions["client_id"].to_numpy(),
                "p": predictions[target].to_numpy(dtype=float),
                "y": y,
                "w": w,
            }
        )
    return out


def _figures(frame: pd.DataFrame, n_boot: int, seed: int) -> dict[str, float]:
    seen = frame[frame["w"] > 0]
    values = binary_metrics(seen["y"], seen["p"], seen["w"])
    out = {m: values.get(m, float("nan")) for m in METRICS}
    # calibration-in-the-large as observed rate minus mean predicted risk (a difference
    # of probabilities, the figure a reader of the list can check against a count)
    total = float(seen["w"].sum())
    observed = float((seen["w"] * seen["y"]).sum() / total) if total else float("nan")
    predicted = float((seen["w"] * seen["p"]).sum() / total) if total else float("nan")
    out |= {
        "observed_rate": observed,
        "mean_risk": predicted,
        "calibration_in_the_large": observed - predicted,
        "n_rows": float(len(frame)),
        "n_clients": float(frame["client_id"].nunique()),
        "censored_share": float((frame["w"] == 0).mean()) if len(frame) else float("nan"),
    }
    if n_boot and len(seen) and seen["y"].nunique() == 2:
        intervals = bootstrap_intervals(
            seen["y"], seen["p"], seen["w"], seen["client_id"], n_boot=n_boot, seed=seed
        )
        for m, (lo, hi) in intervals.items():
            out[f"{m}_ci_low"], out[f"{m}_ci_high"] = lo, hi
        out |= _citl_interval(seen, n_boot, seed)
    return out


def _citl_interval(seen: pd.DataFrame, n_boot: int, seed: int) -> dict[str, float]:
    """Client-bootstrap 95% interval of observed − predicted."""
    codes = pd.factorize(seen["client_id"])[0]
    n = codes.max() + 1
    wy = np.bincount(codes, weights=seen["w"] * seen["y"], minlength=n)
    wp = np.bincount(codes, weights=seen["w"] * seen["p"], minlength=n)
    ww = np.bincount(codes, weights=seen["w"], minlength=n)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        c = np.bincount(rng.integers(0, n, n), minlength=n)
        draws.append((c @ wy - c @ wp) / (c @ ww))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {
        "calibration_in_the_large_ci_low": float(lo),
        "calibration_in_the_large_ci_high": float(hi),
    }


def caseload_metrics(
    predictions: pd.DataFrame, horizon_days: int, *, n_boot: int = 200, seed: int = 0
) -> pd.DataFrame:
    """AUROC, AUPRC, Brier, calibration slope and calibration-in-the-large (observed −
    predicted), with client-bootstrap 95% intervals, for ``risk`` and
    ``risk_within_horizon``, pooled over the dates (``date`` = "pooled") and per date.

    Returns
    -------
    pandas.DataFrame
        One row per target and date; aggregates only (no id, no row).
    """
    rows = []
    for target, frame in target_frame(predictions, horizon_days).items():
        rows.append({"target": target, "date": "pooled"} | _figures(frame, n_boot, seed))
        for date, part in frame.groupby("date", sort=True):
            figures = _figures(part, 0, seed)
            rows.append({"target": target, "date": f"{pd.Timestamp(date):%Y-%m-%d}"} | figures)
    return pd.DataFrame(rows)


def pooled(metrics: pd.DataFrame, target: str = "risk") -> dict[str, float]:
    """The pooled figures of one target as a plain dict."""
    row = metrics[(metrics["target"] == target) & (metrics["date"] == "pooled")]
    return (
        {} if row.empty else {k: float(v) for k, v in row.iloc[0].drop(["target", "date"]).items()}
    )


def subgroup_gaps(
    frame: pd.DataFrame, groups: pd.DataFrame, *, min_clients: int = 30
) -> dict[str, float]:
    """The largest gap across the groups of each attribute in ``groups`` (same rows as
    ``frame`` of :func:`target_frame`): AUROC, and calibration-in-the-large (observed −
    predicted). Groups with fewer than ``min_clients`` clients are left out."""
    from models.subgroups import group_labels as _group_labels

    gaps = {"auroc": float("nan"), "calibration_in_the_large": float("nan")}
    seen = (frame["w"] > 0).to_numpy()
    for attribute in groups.columns:
        labels = _group_labels(groups[attribute].reset_index(drop=True), attribute)
        aurocs, citls = [], []
        for group in np.unique(labels):
            member = seen & (labels == group)
            part = frame[member]
            if part["client_id"].nunique() < min_clients:
                continue
            figures = binary_metrics(part["y"], part["p"], part["w"])
            if np.isfinite(figures["auroc"]):
                aurocs.append(figures["auroc"])
            total = part["w"].sum()
            citls.append(float(((part["w"] * (part["y"] - part["p"])).sum()) / total))
        for name, values in (("auroc", aurocs), ("calibration_in_the_large", citls)):
            if len(values) >= 2:
                gap = max(values) - min(values)
                gaps[name] = gap if not np.isfinite(gaps[name]) else max(gaps[name], gap)
    return gaps


def caseload_backtest(
    result: TrainingResult,
    tables,
    endings: pd.DataFrame,
    config: Config,
    examples: pd.DataFrame | None = None,
    settings: dict | None = None,
    progress=None,
) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """Past caseloads on the back-test dates, scored, against what happened since.

    The held-out clients are scored by the model; with ``examples`` (the training
    examples of every client) and ``training.backtest.crossfit_folds``, each fold of the
    development clients is scored by the chosen configuration refitted and recalibrated
    without that fold, so no client is ever scored by a model that saw it. The notebook
    baseline is fitted the same way (on the clients its scoring model was fitted on).

    Returns the metrics table (``models.backtest.caseload_metrics``) and the dates."""
    seed = config.training.seed
    scored_by = [(result.model, np.asarray(result.test_clients), np.asarray(result.test_clients))]
    folds = config.training.backtest.crossfit_folds
    if folds and examples is not None:
        scored_by += _crossfit_models(result, examples, config, settings, folds, progress)
    parts, dates = [], []
    for model, clients, left_out in scored_by:
        # the notebook: the usual first model (closed-episode rows, unweighted)
        fit_on = ~tables.clients["client_id"].isin(left_out).to_numpy()
        fit_clients = tables.clients[fit_on]
        fit_sessions = tables.sessions[tables.sessions["client_id"].isin(fit_clients["client_id"])]
        notebook = NotebookModel(seed=seed).fit(fit_clients, fit_sessions, config.instruments)
        predictions, dates = caseload_backtest_predictions(
            model, tables, endings, clients, config, baseline=notebook
        )
        parts.append(predictions)
    metrics = caseload_metrics(
        pd.concat(parts, ignore_index=True),
        config.label.horizon_days,
        n_boot=config.training.bootstrap,
        seed=seed,
    )
    return metrics, dates


def _crossfit_models(
    result: TrainingResult,
    examples: pd.DataFrame,
    config: Config,
    settings: dict | None,
    folds: int,
    progress=None,
) -> list[tuple[object, np.ndarray, np.ndarray]]:
    """``(model, clients it scores, clients it was not fitted on)`` per fold of the
    development clients: the chosen configuration refitted without the fold."""
    from models.training import client_folds, develop

    held = np.asarray(result.test_clients)
    dev = examples[~examples["client_id"].isin(held)].reset_index(drop=True)
    fold = client_folds(dev, folds, config.training.seed + 1)
    out = []
    for k in range(folds):
        scored = np.unique(dev.loc[fold == k, "client_id"].to_numpy())
        label = f"back-test fold {k + 1}/{folds}"
        model = develop(
            dev[fold != k].reset_index(drop=True),
            config.training,
            settings if settings is not None else result.model.feature_settings,
            (lambda text, label=label: progress(f"{label}: {text}")) if progress else None,
            fixed=(result.selected, result.selected_params),
            horizon_days=config.label.horizon_days,
        ).model
        out.append((model, scored, np.concatenate([held, scored])))
    return out


def caseload_backtest_predictions(
    model,
    tables,
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
    settings = model.settings
    predictions = backtest_predictions(
        model,
        tables.clients[held.to_numpy()],
        tables.sessions,
        endings,
        dates,
        exported,
        settings.instruments,
        settings.features,
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
        f"{config.training.backtest.spacing_days} days apart; on each, the caseload open "
        "that day, from appointments up to that day only: the held-out clients scored by "
        "this model"
        + (
            f", and each of {folds} folds of the development clients by the same "
            "configuration refitted and recalibrated without that fold"
            if (folds := config.training.backtest.crossfit_folds)
            else ""
        )
        + f"; horizon {config.label.horizon_days} days. Each model was trained on the "
        "other clients' whole history."
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
