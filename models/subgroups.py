"""The champion's performance within parts of the held-out set: by landmark and by subgroup.

Subgroups are the key attributes of TRIPOD+AI's fairness reporting (age band, gender,
site, program), measured with fairlearn's `MetricFrame`; the gaps are the largest
between-group differences. Groups with fewer than ``min_group`` episodes are pooled, and
nothing is shown for fewer than ``min_cell`` episodes, so no row describes a few people.

Both tables are returned as rows whose AUROC intervals are filled in later: their
bootstraps are queued on the shared `models.client_bootstrap.BootstrapJobs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from features.schema import SUBGROUP_ATTRIBUTES
from models.client_bootstrap import BootstrapJobs, episode_count
from models.evaluation import binary_metrics

AGE_BANDS: tuple[str, ...] = ("12-17", "18-25", "26-40", "41-64", "65+")
NOT_RECORDED = "not recorded"
POOLED_GROUP = "other (small groups)"

SUBGROUP_TABLE_COLUMNS = [
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
LANDMARK_TABLE_COLUMNS = [
    "landmark",
    "n_episodes",
    "prevalence",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "cal_intercept",
    "mean_risk",
]


def group_labels(values: pd.Series, attribute: str) -> np.ndarray:
    """Each row's group of ``attribute``: an age band, or the stripped text of the value.

    Parameters
    ----------
    values
        The attribute's column.
    attribute
        Its name; ``"age"`` is banded into `AGE_BANDS`.

    Returns
    -------
    numpy.ndarray
        Object array of group names; blank or missing values are `NOT_RECORDED`.
    """
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


def _pooled_labels(
    values: pd.Series, attribute: str, w: np.ndarray, *, min_cell: int, min_group: int
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Group labels with the small groups pooled, the rows to show, and a note if any.

    Small groups are pooled into `POOLED_GROUP`: too few episodes for a stable estimate,
    and a named group of a few people would describe those people. When even the pooled
    group holds fewer than ``min_cell`` episodes, its rows are not shown as a group.
    """
    labels = group_labels(values, attribute)
    episodes = pd.Series(w).groupby(labels).sum()
    small = episodes.index[episodes < min_group]
    labels = np.where(np.isin(labels, small), POOLED_GROUP, labels).astype(object)
    keep = np.ones(len(labels), dtype=bool)
    note = None
    if len(small) and episodes[small].sum() < min_cell:
        keep = labels != POOLED_GROUP
        note = (
            f"{attribute}: small groups held fewer than {min_cell} episodes even when "
            "pooled, so they are counted overall but not shown as a group."
        )
    return labels, keep, note


def _attribute_rows(
    attribute: str,
    labels: np.ndarray,
    keep: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray,
    boot: BootstrapJobs,
    metric_fns: dict[str, Callable],
) -> tuple[list[dict], list[int | None], pd.Series]:
    """The rows of one attribute's groups, their AUROC tickets and the between-group gaps."""
    frame = MetricFrame(
        metrics=metric_fns,
        y_true=y[keep],
        y_pred=p[keep],
        sensitive_features=pd.Series(labels[keep], name="group"),
        sample_params={name: {"sample_weight": w[keep]} for name in metric_fns},
    )
    by_group = frame.by_group
    difference = frame.difference()  # max - min over groups; NaN groups are skipped
    rows: list[dict] = []
    tickets: list[int | None] = []
    for group in _group_order(attribute, list(by_group.index)):
        member = keep & (labels == group)
        auroc = float(by_group.loc[group, "auroc"])
        tickets.append(boot.add(member, p, ("auroc",)) if np.isfinite(auroc) else None)
        rows.append(
            {
                "attribute": attribute,
                "group": group,
                "n_episodes": int(episode_count(w[member].sum())),
                "prevalence": float(np.average(y[member], weights=w[member])),
                "auroc": auroc,
                "auroc_ci_low": math.nan,
                "auroc_ci_high": math.nan,
                "calibration_in_the_large": float(by_group.loc[group, "calibration_in_the_large"]),
                "flag_rate": float(by_group.loc[group, "flag_rate"]),
            }
        )
    return rows, tickets, difference


def subgroups(
    predictions: pd.DataFrame,
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray,
    boot: BootstrapJobs,
    *,
    flag_threshold: float,
    min_cell: int,
    min_group: int,
) -> tuple[list[dict], list[int | None], dict[str, float], list[str]]:
    """The champion per group of every subgroup attribute present, and the largest gaps.

    Parameters
    ----------
    predictions
        The held-out predictions; the columns of `SUBGROUP_ATTRIBUTES` it holds are used.
    y, p, w
        Outcomes (0/1), the champion's risks and example weights, one per row.
    boot
        Where each group's AUROC bootstrap is queued.
    flag_threshold
        Risk at or above which an episode counts as flagged.
    min_cell, min_group
        Fewest episodes behind a shown group, and below which groups are pooled.

    Returns
    -------
    rows
        Rows of `SUBGROUP_TABLE_COLUMNS`, AUROC intervals still NaN.
    tickets
        Per row, the ticket of its AUROC bootstrap (None when its AUROC is undefined).
    gaps
        Largest between-group difference over attributes for ``auroc``,
        ``calibration_in_the_large`` and ``flag_rate`` (NaN when there is none).
    notes
        Sentences on absent attributes and groups not shown.
    """
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
        labels, keep, note = _pooled_labels(
            predictions[attribute], attribute, w, min_cell=min_cell, min_group=min_group
        )
        if note is not None:
            notes.append(note)
        if not keep.any():
            continue
        group_rows, group_tickets, difference = _attribute_rows(
            attribute, labels, keep, y, p, w, boot, metric_fns
        )
        for name in gaps:
            value = float(difference[name])
            if np.isfinite(value) and not (value <= gaps[name]):  # NaN gap: not set yet
                gaps[name] = value
        rows.extend(group_rows)
        tickets.extend(group_tickets)
    return rows, tickets, gaps, notes


def by_landmark(
    landmark: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray,
    clients: np.ndarray,
    boot: BootstrapJobs,
    *,
    min_cell: int,
) -> tuple[list[dict], list[int | None], list[str]]:
    """The champion at each landmark (appointments seen so far) reached by enough clients.

    Parameters
    ----------
    landmark
        Whole-number landmark per row.
    y, p, w
        Outcomes (0/1), the champion's risks and example weights, one per row.
    clients
        Integer client code per row.
    boot
        Where each landmark's AUROC bootstrap is queued.
    min_cell
        Landmarks reached by fewer clients are left out (and noted).

    Returns
    -------
    rows
        Rows of `LANDMARK_TABLE_COLUMNS`, AUROC intervals still NaN.
    tickets
        Per row, the ticket of its AUROC bootstrap (None when its AUROC is undefined).
    notes
        A sentence naming the landmarks left out, if any.
    """
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
                "n_episodes": int(episode_count(w[at].sum())),
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
