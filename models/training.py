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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedGroupKFold

from configs.config import TrainingConfig
from features.group_rates import with_history
from features.history import DropoutHistoryEncoder, out_of_fold_history
from features.landmarks import model_inputs
from features.schema import SUBGROUP_ATTRIBUTES
from models.baselines import build_baselines
from models.candidates import MAKERS, SIMPLICITY_ORDER, search_space
from models.censoring import censoring_weights, horizon_outcome
from models.evaluation import binary_metrics
from models.progress import Progress, Steps, develop_steps
from models.risk_model import RiskModel, choose_calibration

# attributes the subgroup analysis is done by (TRIPOD+AI: key subgroups)
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
    # the held-out client ids (in memory only, never logged): the caseload back-test
    # scores their caseloads
    test_clients: np.ndarray | None = None


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


@dataclass(frozen=True)
class Targets:
    """The two time-to-event targets of the training examples and their IPCW weights.

    ``y``/``w``: the eventual outcome (dropout or not) and its censoring weight;
    ``y_horizon``/``w_horizon``: dropout within the horizon and its weight. A weight is 0
    where the target was not observed (the episode was still open too soon before the
    export). No weight depends on the outcome (``models.censoring``).
    """

    y: np.ndarray
    w: np.ndarray
    y_horizon: np.ndarray
    w_horizon: np.ndarray
    horizon_days: int


def targets(examples: pd.DataFrame, horizon_days: int) -> Targets:
    """The targets of ``features.landmarks.training_examples`` rows.

    The censoring distribution is the follow-up of all the given examples, so a subset
    (development clients) is weighted by its own follow-up.
    """
    outcome = examples["outcome"].to_numpy(dtype=float)
    event = examples["event_days"].to_numpy(dtype=float)
    follow = examples["follow_up_days"].to_numpy(dtype=float)
    # closed with an unknown reason: neither target can be known
    unknown = np.isnan(outcome) & ~np.isnan(event)
    w = censoring_weights(event, follow)
    w_h = censoring_weights(event, follow, horizon_days=horizon_days)
    w[unknown], w_h[unknown] = 0.0, 0.0
    return Targets(
        y=np.nan_to_num(outcome).astype(int),
        w=w,
        y_horizon=horizon_outcome(outcome, event, horizon_days),
        w_horizon=w_h,
        horizon_days=int(horizon_days),
    )


def episode_table(examples: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One row per episode with a known ending (its first example), for the history encoder.

    A therapist's past dropout rate counts episodes, not examples: an episode seen on 20
    dates is still one episode. Returns the model inputs, outcomes and client ids.
    """
    known = examples[examples["outcome"].notna()]
    first = known.drop_duplicates("client_id")
    return (
        model_inputs(first).reset_index(drop=True),
        first["outcome"].to_numpy(dtype=int),
        first["client_id"].to_numpy(),
    )


def client_folds(examples: pd.DataFrame, n_folds: int, seed: int) -> np.ndarray:
    """A fold number per example, whole clients per fold, stratified by how they ended
    (dropout, another ending, still open)."""
    per_client = examples.drop_duplicates("client_id")
    stratum = per_client["outcome"].fillna(2).to_numpy(dtype=int)
    ids = per_client["client_id"].to_numpy()
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold_of = {}
    for k, (_, val) in enumerate(splitter.split(ids, stratum, ids)):
        fold_of.update(dict.fromkeys(ids[val], k))
    return examples["client_id"].map(fold_of).to_numpy(dtype=int)


def _cross_validate(
    name: str,
    params: dict,
    Xf: pd.DataFrame,
    y: np.ndarray,
    w: np.ndarray,
    fold: np.ndarray,
    n_folds: int,
    seed: int,
    progress: Progress | None,
    label: str,
) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold margins of one configuration and the weighted log loss of each fold."""
    oof = np.full(len(Xf), np.nan)
    losses = []
    for k in range(n_folds):
        if progress:
            progress(f"{label}, fold {k + 1} of {n_folds}")
        fit_idx, val_idx = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        estimator = MAKERS[name](params, seed)
        estimator.fit(Xf.iloc[fit_idx], y[fit_idx], classifier__sample_weight=w[fit_idx])
        oof[val_idx] = estimator.decision_function(Xf.iloc[val_idx])
        losses.append(
            log_loss(y[val_idx], expit(oof[val_idx]), sample_weight=w[val_idx], labels=[0, 1])
        )
    return oof, losses


def search_sample(groups: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Row positions of a seeded sample of whole clients holding at most ``max_rows`` rows
    (every row when there are fewer). Clients are drawn without regard to outcome."""
    if len(groups) <= max_rows:
        return np.arange(len(groups))
    ids, codes, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(ids))
    keep = np.zeros(len(ids), dtype=bool)
    keep[order[np.cumsum(counts[order]) <= max_rows]] = True
    return np.flatnonzero(keep[codes])


def develop(
    examples: pd.DataFrame,
    config: TrainingConfig,
    feature_settings: dict,
    progress: Progress | None = None,
    fixed: tuple[str, dict] | None = None,
    horizon_days: int = 60,
) -> Development:
    """Cross-validate the configurations, pick one, calibrate it and refit it.

    Both targets are fitted: the eventual outcome (``risk``, which the search selects
    on) and dropout within the horizon, with the chosen configuration. Examples whose
    target was not observed (weight 0) are left out of that target's fits.

    Parameters
    ----------
    examples
        Development examples of ``features.landmarks.training_examples``.
    config
        Training settings (folds, search, candidates, calibration, history).
    feature_settings
        Stored in the model.
    fixed
        ``(candidate, params)`` to use instead of searching (the temporal check reuses
        the chosen configuration); it is still cross-validated for its calibration.
    horizon_days
        The horizon of ``risk_within_horizon``.
    """
    seed, n_folds = config.seed, config.cv_folds
    t = targets(examples, horizon_days)
    X = model_inputs(examples)
    groups = examples["client_id"].to_numpy()
    fold = client_folds(examples, n_folds, seed)
    history = config.history
    episodes = episode_table(examples)
    # out of fold with the cross-validation's own folds: a validation row's history
    # comes from the same episodes its candidate is fitted on, never from its own
    encoded = out_of_fold_history(
        X,
        groups,
        fold,
        episodes,
        shrinkage=history.shrinkage,
        min_episodes=history.min_episodes,
    )
    Xf_all = with_history(X, encoded)
    risk_rows = np.flatnonzero(t.w > 0)
    Xf, y, w, f = Xf_all.iloc[risk_rows], t.y[risk_rows], t.w[risk_rows], fold[risk_rows]
    sample = search_sample(groups[risk_rows], config.search.max_rows, seed)
    Xs, ys, ws, fs = Xf.iloc[sample], y[sample], w[sample], f[sample]

    configs = (
        [fixed]
        if fixed
        else search_space(config.candidates, config.search.configs_per_candidate, seed)
    )
    # the calibration is fitted on out-of-fold margins of a sample as large as
    # `calibration_rows` (every example of most clinics), not of the search's sample
    cal = search_sample(groups[risk_rows], config.search.calibration_rows, seed)
    own_calibration_folds = not (len(cal) == len(sample) and np.array_equal(cal, sample))
    # every step counted before the first
    steps = progress if isinstance(progress, Steps) else Steps(progress)
    steps.expect(develop_steps(n_folds, len(configs), own_calibration_folds))
    started = time.perf_counter()
    budget = config.search.max_minutes * 60
    rows, margins, truncated = [], {}, 0
    seen_candidates: set[str] = set()
    for i, (name, params) in enumerate(configs):
        # time box: past the budget only a candidate's first configuration still runs
        if time.perf_counter() - started > budget and name in seen_candidates:
            truncated += 1
            steps.skip(n_folds)
            continue
        seen_candidates.add(name)
        label = f"cross-validating {name} (configuration {i + 1} of {len(configs)})"
        margins[i], losses = _cross_validate(
            name, params, Xs, ys, ws, fs, n_folds, seed, steps, label
        )
        for k, loss in enumerate(losses):
            rows.append(
                {
                    "config": i,
                    "candidate": name,
                    "params": json.dumps(params, sort_keys=True),
                    "fold": k,
                    "log_loss": loss,
                }
            )
    cv = pd.DataFrame(rows)
    chosen = select_candidate(cv)
    selected, params = configs[chosen]

    if not own_calibration_folds:
        margin = margins[chosen]
    else:
        label = f"cross-validating {selected} for its calibration"
        margin, _ = _cross_validate(
            selected, params, Xf.iloc[cal], y[cal], w[cal], f[cal], n_folds, seed, steps, label
        )
    kinds = examples["example_kind"].to_numpy()
    if config.calibrate_on == "snapshots":
        on = kinds[risk_rows[cal]] == "snapshot"
        cal, margin = cal[on], np.asarray(margin)[on]
    method = config.calibration
    if method == "auto":
        method = choose_calibration(margin, y[cal], w[cal], seed)
    steps(f"refitting {selected} on {len(np.unique(groups))} development clients")
    pipeline = MAKERS[selected](params, seed).fit(Xf, y, classifier__sample_weight=w)
    X_ep, y_ep, _ = episodes
    encoder = DropoutHistoryEncoder(
        shrinkage=history.shrinkage, min_episodes=history.min_episodes
    ).fit(X_ep, y_ep)
    model = RiskModel(
        pipeline=pipeline,
        history=encoder,
        calibration=method,
        candidate=selected,
        feature_settings=feature_settings,
    )
    model.fit(X.iloc[risk_rows[cal]], y[cal], sample_weight=w[cal], margin=margin)

    # dropout within the horizon: the chosen configuration, its own calibration
    h_rows = np.flatnonzero(t.w_horizon > 0)
    Xh, yh, wh, fh = Xf_all.iloc[h_rows], t.y_horizon[h_rows], t.w_horizon[h_rows], fold[h_rows]
    h_cal = search_sample(groups[h_rows], config.search.calibration_rows, seed)
    label = f"fitting the {horizon_days}-day horizon model ({selected})"
    h_margin, _ = _cross_validate(
        selected, params, Xh.iloc[h_cal], yh[h_cal], wh[h_cal], fh[h_cal], n_folds, seed,
        steps, label,
    )  # fmt: skip
    if config.calibrate_on == "snapshots":
        on = kinds[h_rows[h_cal]] == "snapshot"
        h_cal, h_margin = h_cal[on], np.asarray(h_margin)[on]
    h_method = config.calibration
    if h_method == "auto":
        h_method = choose_calibration(h_margin, yh[h_cal], wh[h_cal], seed)
    steps(f"refitting the {horizon_days}-day horizon model ({selected})")
    h_pipeline = MAKERS[selected](params, seed).fit(Xh, yh, classifier__sample_weight=wh)
    model.fit_horizon(h_pipeline, h_method, h_margin, yh[h_cal], wh[h_cal], horizon_days)
    search = {
        "search_configs_evaluated": float(cv["config"].nunique()),
        "search_configs_skipped_by_time_box": float(truncated),
        "search_seconds": time.perf_counter() - started,
    }
    return Development(model, selected, params, method, cv, search)


def landmark_assessment_rows(examples: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """The secondary, landmark view of held-out clients: the landmark rows of closed
    episodes labelled as the contract labels them (dropout 1, completed 0), each episode
    weighted once (1/n of its landmarks). It describes closed episodes, not a caseload;
    the caseload back-test (``models.backtest``) is the headline."""
    rows = examples[
        examples["example_kind"].eq("landmark") & examples["client_id"].isin(labels.index)
    ].copy()
    rows["y"] = rows["client_id"].map(labels).to_numpy(dtype=int)
    rows["weight"] = 1.0 / rows.groupby("client_id")["client_id"].transform("size")
    return rows.reset_index(drop=True)


def _prediction_frame(rows: pd.DataFrame, risk: np.ndarray) -> pd.DataFrame:
    frame = rows[["client_id", "y", "weight", "landmark", *SUBGROUP_ATTRIBUTES]].copy()
    frame["risk"] = risk
    return frame.reset_index(drop=True)


def train_models(
    examples: pd.DataFrame,
    labels: pd.Series,
    config: TrainingConfig,
    feature_settings: dict,
    progress: Progress | None = None,
    intake_dates: pd.Series | None = None,
    horizon_days: int = 60,
) -> TrainingResult:
    """Select, fit, calibrate and evaluate the dropout model.

    Parameters
    ----------
    examples
        Examples of every episode (``features.landmarks.training_examples``), open ones
        included (censored).
    labels
        The contract's label per client_id (1 dropout, 0 completed, NaN none), for the
        landmark view of the held-out clients.
    config
        Training settings.
    feature_settings
        Stored in the model so scoring rebuilds the same features.
    progress
        Called with a short description before each long step; a ``CountedProgress``
        is also told each step's number and the total (``Steps``).
    intake_dates
        Intake date per client_id, for the temporal check (skipped when None).
    horizon_days
        The horizon of ``risk_within_horizon``.
    """
    labels = labels.dropna().astype(int)
    folds = config.cv_folds
    endings = examples.drop_duplicates("client_id").set_index("client_id")["outcome"].dropna()
    if not _enough(endings, folds) or endings.nunique() < 2:
        raise InsufficientDataError(
            "training needs both outcomes among closed episodes: found "
            f"{int((endings == 1).sum())} dropout and {int((endings == 0).sum())} completed, "
            "transferred or other episodes with at least one appointment (at least "
            f"{folds + 2} of each are needed)"
        )
    seed = config.seed
    all_ids = np.sort(examples["client_id"].unique())
    held = held_out(all_ids, config.test_fraction, seed)
    dev_ids, test_ids = all_ids[~held], all_ids[held]
    test_labels = labels[labels.index.isin(test_ids)]
    if (
        not (_enough(endings[endings.index.isin(dev_ids)], folds) and _enough(test_labels, 0))
        or test_labels.nunique() < 2
    ):
        raise InsufficientDataError(
            f"the held-out {config.test_fraction:.0%} of clients ({len(test_ids)}) or the rest "
            f"({len(dev_ids)}) lack episodes of one outcome; more closed episodes are needed"
        )
    dev = examples[examples["client_id"].isin(dev_ids)].reset_index(drop=True)
    test = landmark_assessment_rows(examples[examples["client_id"].isin(test_ids)], test_labels)

    # counted: develop's steps (it adds them), the evaluation, the temporal check
    temporal_check = intake_dates is not None and config.temporal_fraction > 0
    steps = Steps(progress)
    steps.expect(1 + temporal_check)
    developed = develop(dev, config, feature_settings, steps, horizon_days=horizon_days)
    model = developed.model
    # how the held-out clients were chosen, so a later model can be compared with this one
    # on clients neither has seen (pipeline.commands.promote)
    model.split_ = {"method": "sha256", "seed": int(seed), "test_fraction": config.test_fraction}

    steps(f"evaluating on {len(test_ids)} held-out test clients, with baselines")
    y_test, w_test = test["y"].to_numpy(dtype=int), test["weight"].to_numpy(dtype=float)
    X_test = model_inputs(test)
    p_test = model.predict_proba(X_test)[:, 1]
    predictions = _prediction_frame(test, p_test)
    baseline_metrics = {}
    srs_cutoff = feature_settings["instruments"]["srs"]["cutoff"]
    baselines = build_baselines(seed, srs_cutoff)
    t_dev = targets(dev, horizon_days)
    fit_rows = np.flatnonzero(t_dev.w > 0)
    X_dev = model_inputs(dev.iloc[fit_rows])
    for name, baseline in baselines.items():
        baseline.fit(X_dev, t_dev.y[fit_rows], sample_weight=t_dev.w[fit_rows])
        p = baseline.predict_proba(X_test)[:, 1]
        predictions[f"risk_{name}"] = p
        baseline_metrics[name] = binary_metrics(y_test, p, w_test)
    test_metrics = binary_metrics(y_test, p_test, w_test)

    # global explanation on a sample of test rows (exact contributions; aggregated later)
    sample = X_test.sample(n=min(EXPLANATION_SAMPLE, len(X_test)), random_state=seed)
    contributions, _ = model.explain(sample)
    explained = model.features(sample)

    temporal, note = None, ""
    if temporal_check:
        temporal, note = _temporal_check(
            examples, labels, intake_dates, config, feature_settings, developed, steps,
            horizon_days,
        )  # fmt: skip

    encoder = model.history
    history = {
        "history_prior_dropout_rate": encoder.prior_,
        "history_therapists_stored": float(len(encoder.rates_["therapist_id"])),
        "history_sites_stored": float(len(encoder.rates_["site"])),
        "history_therapist_shrinkage_episodes": encoder.shrinkage_["therapist_id"],
        "history_site_shrinkage_episodes": encoder.shrinkage_["site"],
    }
    t_all = targets(examples, horizon_days)
    per_episode = examples.drop_duplicates("client_id")
    summary = {
        "n_labelled_episodes": float(len(labels)),
        "n_closed_episodes": float(per_episode["outcome"].notna().sum()),
        "n_open_episodes": float(per_episode["event_days"].isna().sum()),
        "dropout_rate": float(labels.mean()),
        "n_development_clients": float(len(dev_ids)),
        "n_test_clients": float(len(test_ids)),
        "n_examples": float(len(examples)),
        "n_snapshot_examples": float(examples["example_kind"].eq("snapshot").sum()),
        "n_censored_examples": float((t_all.w == 0).sum()),
        "max_censoring_weight": float(t_all.w.max()) if len(t_all.w) else float("nan"),
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
        test_clients=test_ids,
    )


def _temporal_check(
    examples: pd.DataFrame,
    labels: pd.Series,
    intake_dates: pd.Series,
    config: TrainingConfig,
    feature_settings: dict,
    developed: Development,
    steps: Steps,
    horizon_days: int,
) -> tuple[pd.DataFrame | None, str]:
    """Refit the chosen configuration on earlier intakes; predict the later ones."""
    earlier, later = split_by_intake(labels, intake_dates, config.temporal_fraction)
    if not (_enough(labels.loc[earlier], config.cv_folds) and _enough(labels.loc[later], 0)):
        steps.skip(1)
        return None, "too few labelled episodes of each outcome among the earlier or later intakes"
    steps(f"temporal check: {len(earlier)} earlier intakes predict {len(later)} later ones")
    cut = intake_dates.reindex(later).min()
    dev = examples[examples["client_id"].map(intake_dates) < cut].reset_index(drop=True)
    test = landmark_assessment_rows(
        examples[examples["client_id"].isin(later)], labels[labels.index.isin(later)]
    )
    fixed = (developed.selected, developed.params)
    model = develop(dev, config, feature_settings, None, fixed, horizon_days).model
    risk = model.predict_proba(model_inputs(test))[:, 1]
    note = f"trained on intakes before {cut:%Y-%m-%d}, tested on intakes from then on"
    return _prediction_frame(test, risk), note
