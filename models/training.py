"""Search, select, calibrate and evaluate: pure functions, frames in, fitted model out.

Honest evaluation (brief, "Standards"): clients are split once into a development set
and a held-out test set; examples of one client never cross sets. On the development
set, every candidate configuration is cross-validated with folds grouped by client;
the therapist and site history features are encoded out of fold with the same folds.
The chosen configuration's out-of-fold margins fit the calibration (isotonic or
sigmoid), then it is refitted on the whole development set and measured once on the
test set, beside the baselines. A temporal check repeats the fit on the earlier intakes
and measures it on the later ones.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedGroupKFold

from features.history import DropoutHistoryEncoder, out_of_fold_history, with_history
from features.landmarks import model_inputs
from models.baselines import build_baselines
from models.candidates import MAKERS, SIMPLICITY_ORDER, search_space
from models.evaluation import binary_metrics
from models.risk_model import RiskModel, choose_calibration
from pipeline.config import TrainingConfig

Progress = Callable[[str], None]
# attributes the subgroup analysis is done by (TRIPOD+AI: key subgroups)
SUBGROUP_COLUMNS = ("age", "gender", "site", "program")
# test rows explained for the global explanation (exact, so a sample suffices)
EXPLANATION_SAMPLE = 3000


class InsufficientDataError(ValueError):
    """Too few labelled episodes of each outcome to fit and evaluate honestly."""


@dataclass
class Development:
    """A configuration chosen, fitted and calibrated on one development set."""

    model: RiskModel
    selected: str
    params: dict
    calibration: str
    cv: pd.DataFrame
    search: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainingResult:
    """Everything a training run produces.

    ``test_predictions`` and ``temporal_predictions`` hold one row per test example
    (for the evaluation report's aggregates); they stay in memory and are never logged.
    """

    model: RiskModel
    selected: str
    selected_params: dict
    calibration: str
    cv: pd.DataFrame
    search: dict[str, float]
    test_metrics: dict[str, float]
    baseline_metrics: dict[str, dict[str, float]]
    test_predictions: pd.DataFrame
    baselines: tuple[str, ...]
    contributions: pd.DataFrame
    explained_features: pd.DataFrame
    temporal_predictions: pd.DataFrame | None = None
    temporal_note: str = ""
    # 95% client-bootstrap intervals of the test metrics, filled by the assessment
    # (models.assessment), which resamples the champion and the baselines together
    test_intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    history: dict[str, float] = field(default_factory=dict)
    split_summary: dict[str, float] = field(default_factory=dict)


def held_out(client_ids, fraction: float, seed: int) -> np.ndarray:
    """Whether each client belongs to the held-out set: a fixed hash of (seed, client id).

    A client's side depends only on its own id, the seed and the fraction, never on which
    other clients are in the export. So a client held out of one training is held out of
    every later training on a longer history with the same seed and fraction, and a new
    model and the one in use can be compared on clients neither has seen
    (``dropout-risk promote``).
    """
    ids = [str(c) for c in np.asarray(client_ids, dtype=object)]
    salt = f"dropout-risk-split:{int(seed)}:".encode()
    draws = np.fromiter(
        (
            int.from_bytes(hashlib.sha256(salt + c.encode()).digest()[:8], "big") / 2.0**64
            for c in ids
        ),
        dtype=float,
        count=len(ids),
    )
    return draws < fraction


def split_clients(labels: pd.Series, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split labelled client ids into (rest, held_out) with :func:`held_out`."""
    ids = labels.index.to_numpy()
    held = held_out(ids, fraction, seed)
    return np.sort(ids[~held]), np.sort(ids[held])


def split_by_intake(
    labels: pd.Series, intake_dates: pd.Series, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split labelled client ids into (earlier, later) intakes, ``fraction`` later."""
    dates = intake_dates.reindex(labels.index)
    order = dates.sort_values(kind="stable").index.to_numpy()
    n_later = int(round(len(order) * fraction))
    return np.sort(order[: len(order) - n_later]), np.sort(order[len(order) - n_later :])


def _enough(y: np.ndarray | pd.Series, folds: int) -> bool:
    counts = np.bincount(np.asarray(y, dtype=int), minlength=2)
    return bool(counts.min() >= folds + 2)


def select_candidate(cv: pd.DataFrame) -> int:
    """The configuration to use: simplest candidate within one SE of the best mean log loss.

    ``cv`` has one row per configuration and fold (``config``, ``candidate``,
    ``log_loss``). Among configurations whose mean is within one standard error of the
    best, the simplest candidate (``SIMPLICITY_ORDER``) wins, and within it the lowest mean.
    """
    stats = cv.groupby(["config", "candidate"])["log_loss"].agg(["mean", "std", "count"])
    stats = stats.reset_index()
    best = stats.loc[stats["mean"].idxmin()]
    se = best["std"] / np.sqrt(best["count"]) if best["count"] > 1 else 0.0
    close = stats[stats["mean"] <= best["mean"] + se]
    rank = {name: i for i, name in enumerate(SIMPLICITY_ORDER)}
    close = close.assign(simplicity=close["candidate"].map(rank))
    return int(close.sort_values(["simplicity", "mean", "config"]).iloc[0]["config"])


def develop(
    examples: pd.DataFrame,
    y: np.ndarray,
    config: TrainingConfig,
    feature_settings: dict,
    progress: Progress | None = None,
    fixed: tuple[str, dict] | None = None,
) -> Development:
    """Cross-validate the configurations, pick one, calibrate it and refit it.

    Parameters
    ----------
    examples
        Development landmark examples (``client_id``, ``weight``, model inputs).
    y
        Each example's episode outcome.
    config
        Training settings (folds, search, candidates, calibration, history).
    feature_settings
        Stored in the model.
    fixed
        ``(candidate, params)`` to use instead of searching (the temporal check reuses
        the chosen configuration); it is still cross-validated for its calibration.
    """
    seed = config.seed
    X = model_inputs(examples)
    w = examples["weight"].to_numpy(dtype=float)
    groups = examples["client_id"].to_numpy()
    splitter = StratifiedGroupKFold(n_splits=config.cv_folds, shuffle=True, random_state=seed)
    folds = list(splitter.split(X, y, groups))
    history = config.history
    # out of fold with the cross-validation's own folds: a validation row's history
    # comes from the same episodes its candidate is fitted on, never from its own
    encoded_history = out_of_fold_history(
        X,
        y,
        w,
        groups,
        shrinkage=history.shrinkage,
        min_episodes=history.min_episodes,
        folds=folds,
    )
    Xf = with_history(X, encoded_history)

    configs = (
        [fixed]
        if fixed
        else search_space(config.candidates, config.search.configs_per_candidate, seed)
    )
    started = time.perf_counter()
    budget = config.search.max_minutes * 60
    rows, margins, truncated = [], {}, 0
    seen_candidates: set[str] = set()
    for i, (name, params) in enumerate(configs):
        # time box: past the budget only a candidate's first configuration still runs
        if time.perf_counter() - started > budget and name in seen_candidates:
            truncated += 1
            continue
        seen_candidates.add(name)
        oof = np.full(len(X), np.nan)
        for k, (fit_idx, val_idx) in enumerate(folds):
            if progress:
                progress(f"cross-validating {name} #{i + 1}/{len(configs)}, fold {k + 1}")
            estimator = MAKERS[name](params, seed)
            estimator.fit(Xf.iloc[fit_idx], y[fit_idx], classifier__sample_weight=w[fit_idx])
            oof[val_idx] = estimator.decision_function(Xf.iloc[val_idx])
            rows.append(
                {
                    "config": i,
                    "candidate": name,
                    "params": json.dumps(params, sort_keys=True),
                    "fold": k,
                    "log_loss": log_loss(
                        y[val_idx], expit(oof[val_idx]), sample_weight=w[val_idx], labels=[0, 1]
                    ),
                }
            )
        margins[i] = oof
    cv = pd.DataFrame(rows)
    chosen = select_candidate(cv)
    selected, params = configs[chosen]

    method = config.calibration
    if method == "auto":
        method = choose_calibration(margins[chosen], y, w, seed)
    if progress:
        progress(f"refitting {selected} on {len(np.unique(groups))} development clients")
    pipeline = MAKERS[selected](params, seed).fit(Xf, y, classifier__sample_weight=w)
    encoder = DropoutHistoryEncoder(
        shrinkage=history.shrinkage, min_episodes=history.min_episodes
    ).fit(X, y, sample_weight=w)
    model = RiskModel(
        pipeline=pipeline,
        history=encoder,
        calibration=method,
        candidate=selected,
        feature_settings=feature_settings,
    )
    model.fit(X, y, sample_weight=w, margin=margins[chosen])
    search = {
        "search_configs_evaluated": float(cv["config"].nunique()),
        "search_configs_skipped_by_time_box": float(truncated),
        "search_seconds": time.perf_counter() - started,
    }
    return Development(model, selected, params, method, cv, search)


def _outcomes(examples: pd.DataFrame, labels: pd.Series) -> np.ndarray:
    return examples["client_id"].map(labels).to_numpy(dtype=int)


def _prediction_frame(examples: pd.DataFrame, y: np.ndarray, risk: np.ndarray) -> pd.DataFrame:
    frame = examples[["client_id", "weight", "landmark", *SUBGROUP_COLUMNS]].copy()
    frame.insert(1, "y", y)
    frame["risk"] = risk
    return frame.reset_index(drop=True)


def train_models(
    examples: pd.DataFrame,
    labels: pd.Series,
    config: TrainingConfig,
    feature_settings: dict,
    progress: Progress | None = None,
    intake_dates: pd.Series | None = None,
) -> TrainingResult:
    """Select, fit, calibrate and evaluate the dropout model.

    Parameters
    ----------
    examples
        Landmark examples (``client_id``, ``landmark``, ``weight`` and the model inputs).
    labels
        Episode outcome per client_id (1 dropout, 0 completed); unlabelled clients absent.
    config
        Training settings.
    feature_settings
        Stored in the model so scoring rebuilds the same features.
    progress
        Called with a short description before each long step.
    intake_dates
        Intake date per client_id, for the temporal check (skipped when None).
    """
    labels = labels.dropna().astype(int)
    examples = examples[examples["client_id"].isin(labels.index)].reset_index(drop=True)
    labels = labels[labels.index.isin(examples["client_id"].unique())]
    folds = config.cv_folds
    if not _enough(labels, folds) or labels.nunique() < 2:
        raise InsufficientDataError(
            "training needs both outcomes among closed episodes: found "
            f"{int((labels == 1).sum())} dropout and {int((labels == 0).sum())} completed episodes "
            f"with at least one appointment (at least {folds + 2} of each are needed)"
        )
    seed = config.seed
    dev_ids, test_ids = split_clients(labels, config.test_fraction, seed)
    if not (_enough(labels.loc[dev_ids], folds) and _enough(labels.loc[test_ids], 0)):
        raise InsufficientDataError(
            f"the held-out {config.test_fraction:.0%} of clients ({len(test_ids)}) or the rest "
            f"({len(dev_ids)}) lack episodes of one outcome; more closed episodes are needed"
        )
    dev = examples[examples["client_id"].isin(dev_ids)].reset_index(drop=True)
    test = examples[examples["client_id"].isin(test_ids)].reset_index(drop=True)
    y_dev, y_test = _outcomes(dev, labels), _outcomes(test, labels)
    w_test = test["weight"].to_numpy(dtype=float)

    developed = develop(dev, y_dev, config, feature_settings, progress)
    model = developed.model
    # how the held-out clients were chosen, so a later model can be compared with this one
    # on clients neither has seen (pipeline.promote)
    model.split_ = {"method": "sha256", "seed": int(seed), "test_fraction": config.test_fraction}

    if progress:
        progress(f"evaluating on {len(test_ids)} held-out test clients, with baselines")
    X_dev, X_test = model_inputs(dev), model_inputs(test)
    p_test = model.predict_proba(X_test)[:, 1]
    predictions = _prediction_frame(test, y_test, p_test)
    baseline_metrics = {}
    srs_cutoff = feature_settings["instruments"]["srs"]["cutoff"]
    baselines = build_baselines(seed, srs_cutoff)
    w_dev = dev["weight"].to_numpy(dtype=float)
    for name, baseline in baselines.items():
        baseline.fit(X_dev, y_dev, sample_weight=w_dev)
        p = baseline.predict_proba(X_test)[:, 1]
        predictions[f"risk_{name}"] = p
        baseline_metrics[name] = binary_metrics(y_test, p, w_test)
    test_metrics = binary_metrics(y_test, p_test, w_test)

    # global explanation on a sample of test rows (exact contributions; aggregated later)
    sample = X_test.sample(n=min(EXPLANATION_SAMPLE, len(X_test)), random_state=seed)
    contributions, _ = model.explain(sample)
    explained = model.features(sample)

    temporal, note = None, ""
    if intake_dates is not None and config.temporal_fraction > 0:
        temporal, note = _temporal_check(
            examples, labels, intake_dates, config, feature_settings, developed, progress
        )

    encoder = model.history
    history = {
        "history_prior_dropout_rate": encoder.prior_,
        "history_therapists_stored": float(len(encoder.rates_["therapist_id"])),
        "history_sites_stored": float(len(encoder.rates_["site"])),
        "history_therapist_shrinkage_episodes": encoder.shrinkage_["therapist_id"],
        "history_site_shrinkage_episodes": encoder.shrinkage_["site"],
    }
    summary = {
        "n_labelled_episodes": float(len(labels)),
        "dropout_rate": float(labels.mean()),
        "n_development_clients": float(len(dev_ids)),
        "n_test_clients": float(len(test_ids)),
        "n_examples": float(len(examples)),
    }
    return TrainingResult(
        model=model,
        selected=developed.selected,
        selected_params=developed.params,
        calibration=developed.calibration,
        cv=developed.cv,
        search=developed.search,
        test_metrics=test_metrics,
        baseline_metrics=baseline_metrics,
        test_predictions=predictions,
        baselines=tuple(baselines),
        contributions=contributions,
        explained_features=explained,
        temporal_predictions=temporal,
        temporal_note=note,
        history=history,
        split_summary=summary,
    )


def _temporal_check(
    examples: pd.DataFrame,
    labels: pd.Series,
    intake_dates: pd.Series,
    config: TrainingConfig,
    feature_settings: dict,
    developed: Development,
    progress: Progress | None,
) -> tuple[pd.DataFrame | None, str]:
    """Refit the chosen configuration on earlier intakes; predict the later ones."""
    earlier, later = split_by_intake(labels, intake_dates, config.temporal_fraction)
    if not (_enough(labels.loc[earlier], config.cv_folds) and _enough(labels.loc[later], 0)):
        return None, "too few labelled episodes of each outcome among the earlier or later intakes"
    if progress:
        progress(f"temporal check: {len(earlier)} earlier intakes predict {len(later)} later ones")
    dev = examples[examples["client_id"].isin(earlier)].reset_index(drop=True)
    test = examples[examples["client_id"].isin(later)].reset_index(drop=True)
    fixed = (developed.selected, developed.params)
    model = develop(dev, _outcomes(dev, labels), config, feature_settings, None, fixed).model
    risk = model.predict_proba(model_inputs(test))[:, 1]
    cut = intake_dates.reindex(later).min()
    note = f"trained on intakes before {cut:%Y-%m-%d}, tested on intakes from then on"
    return _prediction_frame(test, _outcomes(test, labels), risk), note
