"""Fit, select, calibrate and evaluate: pure functions, frames in, fitted model out.

Honest evaluation (brief, "Standards"): clients are split once into a held-out test set,
a calibration set and a fitting set; examples of one client never cross sets. Candidates
are compared by cross-validation grouped by client on the fitting set only; the chosen
one is refitted there, calibrated on the calibration set and measured on the test set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from features.landmarks import model_inputs
from models.candidates import SIMPLICITY_ORDER, build_candidates, make_intake_baseline
from models.evaluation import binary_metrics, bootstrap_intervals
from models.risk_model import RiskModel, choose_calibration
from pipeline.config import TrainingConfig

Progress = Callable[[str], None]


class InsufficientDataError(ValueError):
    """Too few labelled episodes of each outcome to fit and evaluate honestly."""


@dataclass
class TrainingResult:
    """Everything a training run produces; no rows of input data are kept."""

    model: RiskModel
    selected: str
    calibration: str
    cv: pd.DataFrame
    test_metrics: dict[str, float]
    test_intervals: dict[str, tuple[float, float]]
    baseline_metrics: dict[str, float]
    by_landmark: pd.DataFrame
    split_summary: dict[str, float] = field(default_factory=dict)


def split_clients(labels: pd.Series, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split labelled client ids into (rest, held_out), stratified by outcome."""
    ids = labels.index.to_numpy()
    y = labels.to_numpy().astype(int)
    stratify = y if min(np.bincount(y, minlength=2)) >= 2 else None
    rest, held = train_test_split(ids, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(rest), np.sort(held)


def _rows_of(examples: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    return examples[examples["client_id"].isin(ids)]


def cross_validate(
    candidates: dict,
    examples: pd.DataFrame,
    y: np.ndarray,
    folds: int,
    seed: int,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Weighted log loss of each candidate in each client-grouped fold."""
    X = model_inputs(examples)
    w = examples["weight"].to_numpy()
    groups = examples["client_id"].to_numpy()
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = []
    for fold, (fit_idx, val_idx) in enumerate(splitter.split(X, y, groups)):
        for name, estimator in candidates.items():
            if progress:
                progress(f"cross-validating {name}, fold {fold + 1}/{folds}")
            fitted = clone(estimator).fit(
                X.iloc[fit_idx], y[fit_idx], classifier__sample_weight=w[fit_idx]
            )
            p = fitted.predict_proba(X.iloc[val_idx])[:, 1]
            rows.append(
                {
                    "candidate": name,
                    "fold": fold,
                    "log_loss": log_loss(y[val_idx], p, sample_weight=w[val_idx], labels=[0, 1]),
                }
            )
    return pd.DataFrame(rows)


def select_candidate(cv: pd.DataFrame) -> str:
    """Lowest mean log loss; a simpler candidate within one standard error of it wins."""
    stats = cv.groupby("candidate")["log_loss"].agg(["mean", "std", "count"])
    best = stats["mean"].idxmin()
    se = stats.loc[best, "std"] / np.sqrt(stats.loc[best, "count"])
    for name in SIMPLICITY_ORDER:
        if name in stats.index and stats.loc[name, "mean"] <= stats.loc[best, "mean"] + se:
            return name
    return best


def train_models(
    examples: pd.DataFrame,
    labels: pd.Series,
    config: TrainingConfig,
    feature_settings: dict,
    progress: Progress | None = None,
) -> TrainingResult:
    """Select, fit, calibrate and evaluate the dropout model.

    Parameters
    ----------
    examples
        Landmark examples (``client_id``, ``landmark``, ``weight`` and the features).
    labels
        Episode outcome per client_id (1 dropout, 0 completed); unlabelled clients absent.
    config
        Training settings.
    feature_settings
        Stored in the model so scoring rebuilds the same features.
    progress
        Called with a short description before each long step.
    """
    labels = labels.dropna().astype(int)
    examples = examples[examples["client_id"].isin(labels.index)].reset_index(drop=True)
    labels = labels[labels.index.isin(examples["client_id"].unique())]
    if labels.nunique() < 2 or labels.value_counts().min() < config.cv_folds + 2:
        raise InsufficientDataError(
            "training needs both outcomes among closed episodes: found "
            f"{int((labels == 1).sum())} dropout and {int((labels == 0).sum())} completed episodes "
            f"with at least one appointment (at least {config.cv_folds + 2} of each are needed)"
        )
    seed = config.seed
    dev_ids, test_ids = split_clients(labels, config.test_fraction, seed)
    fit_ids, cal_ids = split_clients(labels.loc[dev_ids], config.calibration_fraction, seed + 1)
    parts = {
        name: _rows_of(examples, ids)
        for name, ids in (("fit", fit_ids), ("cal", cal_ids), ("test", test_ids))
    }
    ys = {name: part["client_id"].map(labels).to_numpy() for name, part in parts.items()}
    ws = {name: part["weight"].to_numpy() for name, part in parts.items()}
    Xs = {name: model_inputs(part) for name, part in parts.items()}

    candidates = build_candidates(config.candidates, seed)
    cv = cross_validate(candidates, parts["fit"], ys["fit"], config.cv_folds, seed, progress)
    selected = select_candidate(cv)

    if progress:
        progress(f"fitting {selected} on {len(fit_ids)} clients")
    pipeline = clone(candidates[selected]).fit(
        Xs["fit"], ys["fit"], classifier__sample_weight=ws["fit"]
    )
    method = config.calibration
    if method == "auto":
        margin = np.asarray(pipeline.decision_function(Xs["cal"]), dtype=float)
        method = choose_calibration(margin, ys["cal"], ws["cal"], seed)
    if progress:
        progress(f"calibrating ({method}) on {len(cal_ids)} held-out clients")
    model = RiskModel(
        pipeline=pipeline, calibration=method, candidate=selected, feature_settings=feature_settings
    )
    model.fit(Xs["cal"], ys["cal"], sample_weight=ws["cal"])

    if progress:
        progress(f"evaluating on {len(test_ids)} test clients")
    p_test = model.predict_proba(Xs["test"])[:, 1]
    test_metrics = binary_metrics(ys["test"], p_test, ws["test"])
    intervals = bootstrap_intervals(
        ys["test"],
        p_test,
        ws["test"],
        parts["test"]["client_id"].to_numpy(),
        n_boot=config.bootstrap,
        seed=seed,
    )
    baseline = make_intake_baseline(seed).fit(
        Xs["fit"], ys["fit"], classifier__sample_weight=ws["fit"]
    )
    baseline_metrics = binary_metrics(
        ys["test"], baseline.predict_proba(Xs["test"])[:, 1], ws["test"]
    )

    landmark = parts["test"]["landmark"].to_numpy()
    by_landmark = pd.DataFrame(
        [
            {"landmark": int(k)} | binary_metrics(ys["test"][landmark == k], p_test[landmark == k])
            for k in np.unique(landmark)
        ]
    )
    summary = {
        "n_labelled_episodes": float(len(labels)),
        "dropout_rate": float(labels.mean()),
        "n_fit_clients": float(len(fit_ids)),
        "n_calibration_clients": float(len(cal_ids)),
        "n_test_clients": float(len(test_ids)),
        "n_examples": float(len(examples)),
    }
    return TrainingResult(
        model=model,
        selected=selected,
        calibration=method,
        cv=cv,
        test_metrics=test_metrics,
        test_intervals=intervals,
        baseline_metrics=baseline_metrics,
        by_landmark=by_landmark,
        split_summary=summary,
    )


def evaluate_model(
    model, examples: pd.DataFrame, labels: pd.Series, *, n_boot: int = 0, seed: int = 0
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Metrics (and bootstrap intervals) of a fitted model on labelled landmark examples.

    For external validation: ``examples`` come from episodes the model never saw.
    """
    labels = labels.dropna().astype(int)
    examples = examples[examples["client_id"].isin(labels.index)]
    y = examples["client_id"].map(labels).to_numpy()
    w = examples["weight"].to_numpy()
    p = model.predict_proba(model_inputs(examples))[:, 1]
    metrics = binary_metrics(y, p, w)
    intervals = bootstrap_intervals(
        y, p, w, examples["client_id"].to_numpy(), n_boot=n_boot, seed=seed
    )
    return metrics, intervals
