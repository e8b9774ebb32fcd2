"""The curves of the held-out assessment, every point an aggregate of many episodes.

A calibration curve in weighted-quantile bins with Wilson intervals (Van Calster et al.
2019, BMC Med 17:230), ROC and precision-recall curves on a fixed threshold grid, and a
decision curve with net benefit against flag-all and flag-none (Vickers et al. 2019,
Diagn Progn Res 3:18). Every quantity uses the example weights, so a client seen at six
landmarks counts as one episode, like a client seen at one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from models.client_bootstrap import episode_count

FLAG_ALL = "flag all"
FLAG_NONE = "flag none"

# Fixed grids: a curve drawn on them is an aggregate at every point, never one point per
# example, so the curves cannot reveal an individual's risk.
ROC_GRID: np.ndarray = np.round(np.linspace(0.0, 1.0, 101), 2)
# Plausible thresholds for offering an extra retention contact (Vickers et al. 2019: show
# the range where a clinician might reasonably act, not 0 to 1).
DECISION_GRID: np.ndarray = np.round(np.arange(10, 61) / 100, 2)

_N_CALIBRATION_BINS = 10
_Z95 = 1.959963984540054


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


def roc_pr(
    model: str, y: np.ndarray, p: np.ndarray, w: np.ndarray, min_cell: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weighted ROC and precision-recall curves of one model on `ROC_GRID`.

    Parameters
    ----------
    model
        The model's name, repeated in the ``model`` column.
    y, p, w
        Outcomes (0/1), predicted risks and example weights.
    min_cell
        Fewest flagged episodes behind a precision; below it precision is NaN.

    Returns
    -------
    tuple of pandas.DataFrame
        ``model, threshold, fpr, tpr`` and ``model, threshold, recall, precision``, one row
        per grid threshold (flag when risk >= threshold).
    """
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


def decision_curve(y: np.ndarray, w: np.ndarray, risks: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Net benefit on `DECISION_GRID` of every model and of flagging everyone or no one.

    Parameters
    ----------
    y, w
        Outcomes (0/1) and example weights.
    risks
        Model name to its predicted risks, in report order.

    Returns
    -------
    pandas.DataFrame
        ``threshold, strategy, net_benefit``: the models in order, then `FLAG_ALL` and
        `FLAG_NONE`.
    """
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


def _calibration_bins(p: np.ndarray, w: np.ndarray, min_cell: int) -> np.ndarray:
    """Each row's calibration bin: weighted-quantile bins of risk, small ones merged."""
    # a risk value's place is the middle of its weight in the weighted distribution, so
    # tied risks share a bin and splitting a row into halves changes nothing
    _, value_of_row = np.unique(p, return_inverse=True)
    value_weight = np.bincount(value_of_row, weights=w)
    middle = (np.cumsum(value_weight) - value_weight / 2) / value_weight.sum()
    value_bin = np.minimum(
        (middle * _N_CALIBRATION_BINS + 1e-9).astype(int), _N_CALIBRATION_BINS - 1
    )
    raw_bin = np.unique(value_bin[value_of_row], return_inverse=True)[1]
    mapping = _merge_small_bins(np.bincount(raw_bin, weights=w), min_cell)
    return mapping[raw_bin]


def _client_sum_of_squares(
    bins: np.ndarray, w: np.ndarray, clients: np.ndarray, n_bins: int
) -> np.ndarray:
    """Per bin, the sum over clients of the squared weight each client has in the bin."""
    # outcomes of one client are identical across its rows, so the client (its summed
    # weight within the bin) is the independent unit for the effective sample size
    cell, cell_bin_client = np.unique(bins * (clients.max() + 1) + clients, return_inverse=True)
    client_weight = np.bincount(cell_bin_client, weights=w)
    client_bin = cell // (clients.max() + 1)
    return np.bincount(client_bin, weights=client_weight**2, minlength=n_bins)


def calibration_curve(
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

    Parameters
    ----------
    model
        The model's name, repeated in the ``model`` column.
    y, p, w
        Outcomes (0/1), predicted risks and example weights.
    clients
        Integer client code per row, the independent unit of the intervals.
    min_cell
        Fewest episodes in a bin; a smaller bin is merged into a neighbour.

    Returns
    -------
    pandas.DataFrame
        ``model, bin, mean_predicted, observed, n_episodes, observed_ci_low,
        observed_ci_high``, up to 10 bins in risk order; the Wilson intervals use the
        effective number of clients in the bin.
    """
    bins = _calibration_bins(p, w, min_cell)
    n_bins = int(bins.max()) + 1
    total = np.bincount(bins, weights=w, minlength=n_bins)
    mean_predicted = np.bincount(bins, weights=w * p, minlength=n_bins) / total
    observed = np.bincount(bins, weights=w * y, minlength=n_bins) / total
    sum_sq = _client_sum_of_squares(bins, w, clients, n_bins)
    low, high = _wilson(observed, total**2 / sum_sq)
    frame = pd.DataFrame(
        {
            "model": model,
            "bin": np.arange(1, n_bins + 1),
            "mean_predicted": mean_predicted,
            "observed": observed,
            "n_episodes": episode_count(total),
            "observed_ci_low": low,
            "observed_ci_high": high,
        }
    )
    # only possible when the whole set holds fewer than min_cell episodes
    return frame[total >= min_cell].reset_index(drop=True)
