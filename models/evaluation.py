"""Discrimination and calibration measures, as TRIPOD+AI asks (EVIDENCE.md).

AUROC and AUPRC for discrimination, Brier score and log loss for overall accuracy,
calibration slope and calibration-in-the-large (intercept) instead of the
Hosmer-Lemeshow test (Van Calster et al. 2019). Every measure takes example weights so
that an episode with six landmarks counts as much as one with a single landmark, and
intervals come from a bootstrap over clients (examples of one client move together).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _weighted_logistic(
    design: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray
) -> np.ndarray:
    """Unpenalised weighted logistic regression by Newton's method (few parameters)."""
    beta = np.zeros(design.shape[1])
    for _ in range(50):
        eta = design @ beta + offset
        mu = expit(eta)
        grad = design.T @ (w * (y - mu))
        hess = (design * (w * mu * (1 - mu))[:, None]).T @ design
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(beta)), grad)
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def calibration_slope_intercept(
    y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None
) -> tuple[float, float]:
    """Calibration slope and calibration-in-the-large.

    The slope is b in logit P(y) = a + b logit(p); 1 is ideal, below 1 means predictions
    too extreme. The intercept is a in logit P(y) = a + logit(p) (slope fixed at 1);
    0 is ideal, positive means risk is under-estimated on average.
    """
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=float)
    lp = _logit(np.asarray(p, dtype=float))
    ones = np.ones((len(y), 1))
    slope = _weighted_logistic(np.column_stack([ones, lp]), y, w, np.zeros_like(y))[1]
    intercept = _weighted_logistic(ones, y, w, lp)[0]
    return float(slope), float(intercept)


def binary_metrics(y, p, w=None) -> dict[str, float]:
    """AUROC, AUPRC, Brier, log loss, calibration slope and intercept, prevalence."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    out = {"n_examples": float(len(y)), "prevalence": float(np.average(y, weights=w))}
    if len(np.unique(y)) < 2:
        return out | {
            k: float("nan")
            for k in ("auroc", "auprc", "brier", "log_loss", "cal_slope", "cal_intercept")
        }
    slope, intercept = calibration_slope_intercept(y, p, w)
    return out | {
        "auroc": float(roc_auc_score(y, p, sample_weight=w)),
        "auprc": float(average_precision_score(y, p, sample_weight=w)),
        "brier": float(brier_score_loss(y, p, sample_weight=w)),
        "log_loss": float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), sample_weight=w)),
        "cal_slope": slope,
        "cal_intercept": intercept,
    }


def _auroc_presorted(y: np.ndarray, w: np.ndarray, tie_end: np.ndarray) -> float:
    """Weighted AUROC of rows already sorted by score; ``tie_end`` ends each run of ties.

    The Mann-Whitney form: for each positive, the weight of negatives scored below it
    plus half the weight of those tied with it.
    """
    pos = np.cumsum(w * y)[tie_end]
    neg = np.cumsum(w * (1 - y))[tie_end]
    if pos[-1] <= 0 or neg[-1] <= 0:
        return float("nan")
    pos_here = np.diff(pos, prepend=0.0)
    neg_here = np.diff(neg, prepend=0.0)
    below = np.concatenate([[0.0], neg[:-1]])
    return float(np.sum(pos_here * (below + 0.5 * neg_here)) / (pos[-1] * neg[-1]))


def bootstrap_intervals(
    y,
    p,
    w,
    groups,
    *,
    n_boot: int,
    seed: int,
    metrics=("auroc", "auprc", "brier", "cal_slope", "cal_intercept"),
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals from resampling clients with replacement.

    A client drawn k times contributes its examples with k times the weight. Only the
    requested metrics are computed; AUROC alone takes one sort for all resamples.
    """
    if n_boot <= 0:
        return {}
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    w = np.asarray(w, dtype=float)
    codes = np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = codes.max() + 1
    by_score = np.argsort(p, kind="stable")
    y_sorted, w_sorted, codes_sorted = y[by_score], w[by_score], codes[by_score]
    tie_end = np.flatnonzero(np.append(np.diff(p[by_score]) != 0, True))
    others = [m for m in metrics if m != "auroc"]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in metrics}
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
        if "auroc" in draws:
            weight = w_sorted * counts[codes_sorted]
            draws["auroc"].append(_auroc_presorted(y_sorted, weight, tie_end))
        if others:
            mult = counts[codes]
            drawn = mult > 0
            values = binary_metrics(y[drawn], p[drawn], (w * mult)[drawn])
            for m in others:
                draws[m].append(values[m])
    return {
        m: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5)))
        for m, v in draws.items()
    }


def paired_auroc_difference(
    y, p_new, p_old, w, groups, *, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """AUROC(new) - AUROC(old) on the same rows, with a paired client-bootstrap 95% interval.

    Both models are measured on the same resampled clients in every replicate, so the
    interval is that of the difference (much narrower than comparing two intervals).
    Returns (difference, low, high); the interval is NaN when ``n_boot`` is 0.
    """
    y = np.asarray(y, dtype=int)
    w = np.asarray(w, dtype=float)
    codes = np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    sorted_views = []
    for p in (np.asarray(p_new, dtype=float), np.asarray(p_old, dtype=float)):
        order = np.argsort(p, kind="stable")
        tie_end = np.flatnonzero(np.append(np.diff(p[order]) != 0, True))
        sorted_views.append((y[order], w[order], codes[order], tie_end))

    def difference(counts: np.ndarray | None) -> float:
        values = []
        for y_s, w_s, c_s, tie_end in sorted_views:
            weight = w_s if counts is None else w_s * counts[c_s]
            values.append(_auroc_presorted(y_s, weight, tie_end))
        return values[0] - values[1]

    point = difference(None)
    if n_boot <= 0 or n_groups == 0:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = [
        difference(np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups))
        for _ in range(n_boot)
    ]
    return (
        float(point),
        float(np.nanpercentile(draws, 2.5)),
        float(np.nanpercentile(draws, 97.5)),
    )
