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
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from joblib import Parallel, delayed

from models.evaluation import binary_metrics, bootstrap_intervals

SUBGROUP_ATTRIBUTES: tuple[str, ...] = ("age", "gender", "site", "program")
AGE_BANDS: tuple[str, ...] = ("12-17", "18-25", "26-40", "41-64", "65+")
NOT_RECORDED = "not recorded"
POOLED_GROUP = "other (small groups)"
FLAG_ALL = "flag all"
FLAG_NONE = "flag none"
CHAMPION = "champion"

# Fixed grids: a curve drawn on them is an aggregate at every point, never one point per
# example, so the curves cannot reveal an individual's risk.
ROC_GRID: np.ndarray = np.round(np.linspace(0.0, 1.0, 101), 2)
# Plausible thresholds for offering an extra retention contact (Vickers et al. 2019: show
# the range where a clinician might reasonably act, not 0 to 1).
DECISION_GRID: np.ndarray = np.round(np.arange(10, 61) / 100, 2)
NET_BENEFIT_LOGGED_AT: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)

_CI_METRICS: tuple[str, ...] = ("auroc", "auprc", "brier", "cal_slope", "cal_intercept")
_POINT_METRICS: tuple[str, ...] = ("auroc", "auprc", "brier", "log_loss", "cal_slope")
_N_CALIBRATION_BINS = 10
_MAX_DISTINCT_FOR_VALUE_BINS = 12
_N_DEPENDENCE_BINS = 10
_Z95 = 1.959963984540054
# below this estimated bootstrap time, starting worker processes costs more than it saves
_PARALLEL_ABOVE_SECONDS = 4.0
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


# ---------------------------------------------------------------------------- validation


def _check_inputs(
    predictions: pd.DataFrame,
    baselines: Sequence[str],
    flag_threshold: float,
    n_boot: int,
    min_cell: int,
    min_group: int,
) -> None:
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
    for col in ["risk", *(f"risk_{b}" for b in baselines)]:
        risk = pd.to_numeric(predictions[col], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(risk)) or risk.min() < 0 or risk.max() > 1:
            raise ValueError(
                f"predictions[{col!r}]: risks must be probabilities in [0, 1] with no blanks."
            )
    landmark = pd.to_numeric(predictions["landmark"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(landmark)) or np.any(landmark != np.round(landmark)):
        raise ValueError("predictions['landmark']: must be whole numbers with no blanks.")
    if not 0 < flag_threshold < 1:
        raise ValueError(f"flag_threshold must lie strictly between 0 and 1, got {flag_threshold}.")
    if n_boot < 0 or min_cell < 1 or min_group < 1:
        raise ValueError(
            f"n_boot must be >= 0 and min_cell, min_group >= 1; got n_boot={n_boot}, "
            f"min_cell={min_cell}, min_group={min_group}."
        )


# ------------------------------------------------------------------------------ helpers


def _episode_count(weight_sum):
    """Episodes as a whole number: half rounds up, with a tolerance for summation error.

    Weights of 1/k often sum to exactly x.5, where plain rounding would depend on the
    last bit of the sum.
    """
    return np.floor(np.asarray(weight_sum, dtype=float) + 0.5 + 1e-9).astype(int)


def _ci(intervals: Mapping[str, tuple[float, float]], metric: str) -> tuple[float, float]:
    return intervals.get(metric, (math.nan, math.nan))


def _flagged_sums(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Weighted true and false positives when flagging risk >= t, for every t at once.

    Also returns the weighted positives and negatives, summed the same way, so that a
    threshold flagging everyone gives a rate of exactly 1.
    """
    order = np.argsort(p, kind="stable")
    sorted_p = p[order]
    pos_above = np.concatenate([np.cumsum((w * y)[order][::-1])[::-1], [0.0]])
    neg_above = np.concatenate([np.cumsum((w * (1 - y))[order][::-1])[::-1], [0.0]])
    first_flagged = np.searchsorted(sorted_p, thresholds, side="left")
    return pos_above[first_flagged], neg_above[first_flagged], pos_above[0], neg_above[0]


def _roc_pr(
    model: str, y: np.ndarray, p: np.ndarray, w: np.ndarray, min_cell: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    tp, fp, positives, negatives = _flagged_sums(y, p, w, ROC_GRID)
    flagged = tp + fp
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / positives if positives > 0 else np.full_like(tp, np.nan)
        fpr = fp / negatives if negatives > 0 else np.full_like(fp, np.nan)
        # precision over a handful of flagged episodes would describe those few people
        precision = np.where(flagged >= min_cell, tp / flagged, np.nan)
    roc = pd.DataFrame({"model": model, "threshold": ROC_GRID, "fpr": fpr, "tpr": tpr})
    pr = pd.DataFrame(
        {"model": model, "threshold": ROC_GRID, "recall": tpr, "precision": precision}
    )
    return roc, pr


def net_benefit(y: np.ndarray, p: np.ndarray, w: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Weighted net benefit of flagging risk >= t (Vickers et al. 2019).

    Parameters
    ----------
    y, p, w
        Outcomes (0/1), predicted risks and example weights.
    thresholds
        Risk thresholds t in (0, 1).

    Returns
    -------
    numpy.ndarray
        ``TP/N - FP/N * t / (1 - t)`` per threshold, N the sum of weights: true positives
        gained per episode, minus false positives weighted by the odds of t, the exchange
        rate a clinician accepts when choosing t.
    """
    tp, fp, positives, negatives = _flagged_sums(y, p, w, thresholds)
    n = positives + negatives
    return tp / n - fp / n * thresholds / (1 - thresholds)


def _decision_curve(y: np.ndarray, w: np.ndarray, risks: Mapping[str, np.ndarray]) -> pd.DataFrame:
    t = DECISION_GRID
    prevalence = float(np.average(y, weights=w))
    parts = [
        pd.DataFrame({"threshold": t, "strategy": m, "net_benefit": net_benefit(y, p, w, t)})
        for m, p in risks.items()
    ]
    parts.append(
        pd.DataFrame(
            {
                "threshold": t,
                "strategy": FLAG_ALL,
                "net_benefit": prevalence - (1 - prevalence) * t / (1 - t),
            }
        )
    )
    parts.append(pd.DataFrame({"threshold": t, "strategy": FLAG_NONE, "net_benefit": 0.0}))
    return pd.concat(parts, ignore_index=True)


def _wilson(observed: np.ndarray, n_eff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z2 = _Z95**2
    denom = 1 + z2 / n_eff
    centre = (observed + z2 / (2 * n_eff)) / denom
    half = _Z95 * np.sqrt(observed * (1 - observed) / n_eff + z2 / (4 * n_eff**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def _merge_small_bins(weight: np.ndarray, min_cell: int) -> np.ndarray:
    """Map each bin to a merged bin so that every merged bin holds >= min_cell episodes.

    The smallest bin joins its smaller neighbour until none is too small; bins stay
    contiguous in risk order.
    """
    groups = [[i] for i in range(len(weight))]
    sizes = list(weight)
    while len(sizes) > 1 and min(sizes) < min_cell:
        i = int(np.argmin(sizes))
        if i == 0:
            j = 1
        elif i == len(sizes) - 1:
            j = i - 1
        else:
            j = i - 1 if sizes[i - 1] <= sizes[i + 1] else i + 1
        lo, hi = min(i, j), max(i, j)
        groups[lo : hi + 1] = [groups[lo] + groups[hi]]
        sizes[lo : hi + 1] = [sizes[lo] + sizes[hi]]
    mapping = np.empty(len(weight), dtype=int)
    for new, members in enumerate(groups):
        mapping[members] = new
    return mapping


def _calibration_curve(
    model: str,
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray,
    clients: np.ndarray,
    min_cell: int,
) -> pd.DataFrame:
    """Weighted-quantile bins of predicted risk against the observed dropout rate.

    A smoothed or binned calibration plot with intervals, not the Hosmer-Lemeshow test
    (Van Calster et al. 2019).
    """
    # a risk value's place is the middle of its weight in the weighted distribution, so
    # tied risks share a bin and splitting a row into halves changes nothing
    values, value_of_row = np.unique(p, return_inverse=True)
    value_weight = np.bincount(value_of_row, weights=w)
    middle = (np.cumsum(value_weight) - value_weight / 2) / value_weight.sum()
    value_bin = np.minimum(
        (middle * _N_CALIBRATION_BINS + 1e-9).astype(int), _N_CALIBRATION_BINS - 1
    )
    raw_bin = np.unique(value_bin[value_of_row], return_inverse=True)[1]
    mapping = _merge_small_bins(np.bincount(raw_bin, weights=w), min_cell)
    bins = mapping[raw_bin]
    n_bins = int(bins.max()) + 1
    total = np.bincount(bins, weights=w, minlength=n_bins)
    mean_predicted = np.bincount(bins, weights=w * p, minlength=n_bins) / total
    observed = np.bincount(bins, weights=w * y, minlength=n_bins) / total
    # outcomes of one client are identical across its rows, so the client (its summed
    # weight within the bin) is the independent unit for the effective sample size
    cell, cell_bin_client = np.unique(bins * (clients.max() + 1) + clients, return_inverse=True)
    client_weight = np.bincount(cell_bin_client, weights=w)
    client_bin = cell // (clients.max() + 1)
    sum_sq = np.bincount(client_bin, weights=client_weight**2, minlength=n_bins)
    low, high = _wilson(observed, total**2 / sum_sq)
    frame = pd.DataFrame(
        {
            "model": model,
            "bin": np.arange(1, n_bins + 1),
            "mean_predicted": mean_predicted,
            "observed": observed,
            "n_episodes": _episode_count(total),
            "observed_ci_low": low,
            "observed_ci_high": high,
        }
    )
    # only possible when the whole set holds fewer than min_cell episodes
    return frame[total >= min_cell].reset_index(drop=True)


def _group_labels(values: pd.Series, attribute: str) -> np.ndarray:
    if attribute == "age":
        age = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        band = np.searchsorted(np.array([18, 26, 41, 65]), age, side="right")
        labels = np.array(AGE_BANDS, dtype=object)[np.clip(band, 0, len(AGE_BANDS) - 1)]
        return np.where(np.isnan(age), NOT_RECORDED, labels).astype(object)
    text = values.astype(object).where(values.notna(), None)
    out = np.array([NOT_RECORDED if v is None else str(v).strip() for v in text], dtype=object)
    out[out == ""] = NOT_RECORDED
    return out


def _group_order(attribute: str, groups: Sequence[str]) -> list[str]:
    last = (NOT_RECORDED, POOLED_GROUP)
    if attribute == "age":
        first = [g for g in AGE_BANDS if g in groups]
    else:
        first = sorted(g for g in groups if g not in last)
    return first + [g for g in last if g in groups]


def _auroc(y_true, y_pred, sample_weight) -> float:
    return binary_metrics(y_true, y_pred, sample_weight)["auroc"]


def _calibration_in_the_large(y_true, y_pred, sample_weight) -> float:
    return float(
        np.average(y_pred, weights=sample_weight) - np.average(y_true, weights=sample_weight)
    )


def _flag_rate_metric(threshold: float):
    def flag_rate(y_true, y_pred, sample_weight) -> float:
        return float(np.average(np.asarray(y_pred) >= threshold, weights=sample_weight))

    return flag_rate


_SUBGROUP_COLUMNS = [
    "attribute",
    "group",
    "n_episodes",
    "prevalence",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "calibration_in_the_large",
    "flag_rate",
]


@dataclass
class _BootstrapJobs:
    """Client-bootstrap intervals, collected first and then run together.

    Every interval comes from `models.evaluation.bootstrap_intervals` (one definition of the
    bootstrap for the project); collecting the calls lets them share the available cores.
    """

    y: np.ndarray
    w: np.ndarray
    clients: np.ndarray
    jobs: list[tuple[np.ndarray, np.ndarray, tuple[str, ...]]] = field(default_factory=list)

    def add(self, member: np.ndarray, p: np.ndarray, metrics: tuple[str, ...]) -> int:
        """Queue the bootstrap of ``metrics`` over the rows in ``member``; return its ticket."""
        self.jobs.append((member, p, metrics))
        return len(self.jobs) - 1

    def run(self, *, n_boot: int, seed: int, n_jobs: int | None) -> list[dict]:
        """Intervals per ticket, in order; identical whether run in parallel or not."""
        if n_boot == 0 or not self.jobs:
            return [{} for _ in self.jobs]
        calls = [
            (self.y[m], p[m], self.w[m], self.clients[m], metrics) for m, p, metrics in self.jobs
        ]
        # a replicate of every metric costs ~6 ms in binary_metrics plus ~0.5 us per row;
        # of AUROC alone (one sort shared by all replicates) ~0.2 ms plus ~0.02 us per row
        seconds = n_boot * sum(
            len(c[0]) * 2e-8 + 2e-4 if c[4] == ("auroc",) else len(c[0]) * 0.5e-6 + 6e-3
            for c in calls
        )
        if n_jobs == 1 or len(calls) == 1 or seconds < _PARALLEL_ABOVE_SECONDS:
            return [
                bootstrap_intervals(y, p, w, g, n_boot=n_boot, seed=seed, metrics=metrics)
                for y, p, w, g, metrics in calls
            ]
        # largest first, so that no long job starts last
        order = sorted(range(len(calls)), key=lambda i: -len(calls[i][0]))
        results = Parallel(n_jobs=n_jobs)(
            delayed(bootstrap_intervals)(y, p, w, g, n_boot=n_boot, seed=seed, metrics=metrics)
            for y, p, w, g, metrics in (calls[i] for i in order)
        )
        out: list[dict] = [{}] * len(calls)
        for i, result in zip(order, results, strict=True):
            out[i] = result
        return out


def _subgroups(
    predictions: pd.DataFrame,
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray,
    boot: _BootstrapJobs,
    *,
    flag_threshold: float,
    min_cell: int,
    min_group: int,
) -> tuple[list[dict], list[int | None], dict[str, float], list[str]]:
    rows: list[dict] = []
    tickets: list[int | None] = []
    notes: list[str] = []
    gaps = {"auroc": math.nan, "calibration_in_the_large": math.nan, "flag_rate": math.nan}
    metric_fns = {
        "auroc": _auroc,
        "calibration_in_the_large": _calibration_in_the_large,
        "flag_rate": _flag_rate_metric(flag_threshold),
    }
    for attribute in SUBGROUP_ATTRIBUTES:
        if attribute not in predictions.columns:
            notes.append(f"No {attribute} column was given, so no {attribute} subgroups.")
            continue
        labels = _group_labels(predictions[attribute], attribute)
        episodes = pd.Series(w).groupby(labels).sum()
        small = episodes.index[episodes < min_group]
        # small groups are pooled: too few episodes for a stable estimate, and a named
        # group of a few people would describe those people
        labels = np.where(np.isin(labels, small), POOLED_GROUP, labels).astype(object)
        keep = np.ones(len(labels), dtype=bool)
        if len(small) and episodes[small].sum() < min_cell:
            keep = labels != POOLED_GROUP
            notes.append(
                f"{attribute}: small groups held fewer than {min_cell} episodes even when "
                "pooled, so they are counted overall but not shown as a group."
            )
        if not keep.any():
            continue
        frame = MetricFrame(
            metrics=metric_fns,
            y_true=y[keep],
            y_pred=p[keep],
            sensitive_features=pd.Series(labels[keep], name="group"),
            sample_params={name: {"sample_weight": w[keep]} for name in metric_fns},
        )
        by_group = frame.by_group
        difference = frame.difference()  # max - min over groups; NaN groups are skipped
        for name in gaps:
            value = float(difference[name])
            if np.isfinite(value) and not (value <= gaps[name]):  # NaN gap: not set yet
                gaps[name] = value
        for group in _group_order(attribute, list(by_group.index)):
            member = keep & (labels == group)
            auroc = float(by_group.loc[group, "auroc"])
            tickets.append(boot.add(member, p, ("auroc",)) if np.isfinite(auroc) else None)
            rows.append(
                {
                    "attribute": attribute,
                    "group": group,
                    "n_episodes": int(_episode_count(w[member].sum())),
                    "prevalence": float(np.average(y[member], weights=w[member])),
                    "auroc": auroc,
                    "auroc_ci_low": math.nan,
                    "auroc_ci_high": math.nan,
                    "calibration_in_the_large": float(
                        by_group.loc[group, "calibration_in_the_large"]
                    ),
                    "flag_rate": float(by_group.loc[group, "flag_rate"]),
                }
            )
    return rows, tickets, gaps, notes


_LANDMARK_COLUMNS = [
    "landmark",
    "n_episodes",
    "prevalence",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "cal_intercept",
    "mean_risk",
]


def _by_landmark(
    landmark: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray,
    clients: np.ndarray,
    boot: _BootstrapJobs,
    *,
    min_cell: int,
) -> tuple[list[dict], list[int | None], list[str]]:
    rows, tickets, left_out = [], [], []
    for value in np.unique(landmark):
        at = landmark == value
        if len(np.unique(clients[at])) < min_cell:
            left_out.append(int(value))
            continue
        point = binary_metrics(y[at], p[at], w[at])
        tickets.append(boot.add(at, p, ("auroc",)) if np.isfinite(point["auroc"]) else None)
        rows.append(
            {
                "landmark": int(value),
                "n_episodes": int(_episode_count(w[at].sum())),
                "prevalence": point["prevalence"],
                "auroc": point["auroc"],
                "auroc_ci_low": math.nan,
                "auroc_ci_high": math.nan,
                "cal_intercept": point["cal_intercept"],
                "mean_risk": float(np.average(p[at], weights=w[at])),
            }
        )
    notes = (
        [
            f"Landmark(s) {left_out} were reached by fewer than {min_cell} clients and are not "
            "shown separately (they count in the overall results)."
        ]
        if left_out
        else []
    )
    return rows, tickets, notes


def _fill_auroc_ci(rows: list[dict], tickets: list[int | None], intervals: list[dict]) -> None:
    for row, ticket in zip(rows, tickets, strict=True):
        if ticket is not None:
            row["auroc_ci_low"], row["auroc_ci_high"] = _ci(intervals[ticket], "auroc")


_IMPORTANCE_COLUMNS = ["feature", "family", "mean_abs_contribution"]
_DEPENDENCE_COLUMNS = [
    "value_low",
    "value_high",
    "value_mid",
    "n",
    "mean_contribution",
    "q25",
    "q75",
]


def _default_families() -> dict[str, str]:
    # the schema is the one list of features (features/schema.py); imported late so that
    # a caller passing its own families does not depend on it
    from features.schema import FEATURES

    return {f.name: f.family for f in FEATURES}


def _shap_importance(contributions: pd.DataFrame, families: Mapping[str, str]) -> pd.DataFrame:
    values = contributions.apply(pd.to_numeric, errors="coerce").abs().mean(axis=0)
    frame = pd.DataFrame(
        {
            "feature": [str(c) for c in values.index],
            "family": [families.get(str(c), "other") for c in values.index],
            "mean_abs_contribution": values.to_numpy(dtype=float),
        }
    )
    frame = frame[np.isfinite(frame["mean_abs_contribution"])]
    return frame.sort_values(
        ["mean_abs_contribution", "feature"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def _dependence_bins(x: np.ndarray, c: np.ndarray, min_cell: int) -> pd.DataFrame:
    """Binned contribution of one feature against its value.

    Few distinct values get one bin each; otherwise up to 10 quantile bins. The outer
    edges are the ``min_cell``-th smallest and largest values, not the minimum and
    maximum, so that no single client's extreme value is shown.
    """
    distinct = np.unique(x)
    if len(distinct) <= _MAX_DISTINCT_FOR_VALUE_BINS:
        bins = np.searchsorted(distinct, x)
        low = high = distinct
    else:
        inner = np.unique(np.quantile(x, np.arange(1, _N_DEPENDENCE_BINS) / _N_DEPENDENCE_BINS))
        bins = np.searchsorted(inner, x, side="right")
        ordered = np.sort(x)
        bottom = ordered[min(min_cell, len(x)) - 1]
        top = ordered[max(len(x) - min_cell, 0)]
        low = np.concatenate([[bottom], inner])
        high = np.concatenate([inner, [top]])
    rows = []
    for b in range(len(low)):
        member = c[bins == b]
        if len(member) < min_cell:
            continue
        q25, q75 = np.quantile(member, [0.25, 0.75])
        rows.append(
            {
                "value_low": float(low[b]),
                "value_high": float(high[b]),
                "value_mid": float((low[b] + high[b]) / 2),
                "n": int(len(member)),
                "mean_contribution": float(member.mean()),
                "q25": float(q25),
                "q75": float(q75),
            }
        )
    return pd.DataFrame(rows, columns=_DEPENDENCE_COLUMNS)


def _explanation(
    contributions: pd.DataFrame | None,
    feature_values: pd.DataFrame | None,
    feature_families: Mapping[str, str] | None,
    dependence_features: Sequence[str],
    min_cell: int,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], list[str]]:
    empty = pd.DataFrame(columns=_IMPORTANCE_COLUMNS)
    if contributions is None or contributions.shape[1] == 0:
        return empty, {}, []
    if len(contributions) < min_cell:
        return (
            empty,
            {},
            [f"Feature contributions were given for fewer than {min_cell} rows; not shown."],
        )
    families = _default_families() if feature_families is None else dict(feature_families)
    importance = _shap_importance(contributions, families)
    dependence: dict[str, pd.DataFrame] = {}
    if feature_values is None or not dependence_features:
        return importance, dependence, []
    if feature_values.index.equals(contributions.index):
        aligned = feature_values
    elif feature_values.index.is_unique and contributions.index.isin(feature_values.index).all():
        aligned = feature_values.reindex(contributions.index)
    else:
        raise ValueError(
            "feature_values: its rows cannot be matched to the contribution rows. Fix: give "
            "both frames the same index (one row per explained prediction)."
        )
    notes = []
    for feature in dependence_features:
        if feature not in contributions.columns or feature not in feature_values.columns:
            continue
        x = pd.to_numeric(aligned[feature], errors="coerce")
        c = pd.to_numeric(contributions[feature], errors="coerce")
        x, c = x.to_numpy(dtype=float), c.to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(c)
        if not ok.any():
            notes.append(f"{feature}: no numeric values, so no dependence plot.")
            continue
        bins = _dependence_bins(x[ok], c[ok], min_cell)
        if len(bins):
            dependence[feature] = bins
    return importance, dependence, notes


# --------------------------------------------------------------------------------- assess


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

    boot = _BootstrapJobs(y=y, w=w, clients=clients)
    everyone = np.ones(len(y), dtype=bool)
    overall_rows, overall_tickets, calibration, rocs, prs = [], [], [], [], []
    for name, p in risks.items():
        point = binary_metrics(y, p, w)
        row = {"model": name, "n_examples": int(point["n_examples"])}
        row["n_episodes"] = int(_episode_count(w.sum()))
        row |= {"prevalence": point["prevalence"]}
        row |= {m: point[m] for m in (*_POINT_METRICS, "cal_intercept")}
        row |= {f"{m}_{end}": math.nan for m in _CI_METRICS for end in ("ci_low", "ci_high")}
        overall_rows.append(row)
        # one outcome class only: every measure is undefined, so there is nothing to resample
        single_class = not np.isfinite(point["auroc"])
        overall_tickets.append(None if single_class else boot.add(everyone, p, _CI_METRICS))
        calibration.append(_calibration_curve(name, y, p, w, clients, min_cell))
        roc, pr = _roc_pr(name, y, p, w, min_cell)
        rocs.append(roc)
        prs.append(pr)

    champion = risks[CHAMPION]
    landmark_rows, landmark_tickets, notes = _by_landmark(
        predictions["landmark"].to_numpy(dtype=float).astype(int),
        y,
        champion,
        w,
        clients,
        boot,
        min_cell=min_cell,
    )
    subgroup_rows, subgroup_tickets, gaps, subgroup_notes = _subgroups(
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
    for row, ticket in zip(overall_rows, overall_tickets, strict=True):
        for m in _CI_METRICS:
            found = {} if ticket is None else intervals[ticket]
            row[f"{m}_ci_low"], row[f"{m}_ci_high"] = _ci(found, m)
    _fill_auroc_ci(landmark_rows, landmark_tickets, intervals)
    _fill_auroc_ci(subgroup_rows, subgroup_tickets, intervals)

    importance, dependence, explanation_notes = _explanation(
        contributions, feature_values, feature_families, dependence_features, min_cell
    )
    return Assessment(
        models=models,
        overall=pd.DataFrame(overall_rows),
        by_landmark=pd.DataFrame(landmark_rows, columns=_LANDMARK_COLUMNS),
        calibration_curve=pd.concat(calibration, ignore_index=True),
        roc=pd.concat(rocs, ignore_index=True),
        pr=pd.concat(prs, ignore_index=True),
        decision_curve=_decision_curve(y, w, risks),
        subgroups=pd.DataFrame(subgroup_rows, columns=_SUBGROUP_COLUMNS),
        gaps=gaps,
        shap_importance=importance,
        dependence=dependence,
        flag_threshold=float(flag_threshold),
        n_boot=int(n_boot),
        min_cell=int(min_cell),
        min_group=int(min_group),
        notes=notes + subgroup_notes + explanation_notes,
    )
