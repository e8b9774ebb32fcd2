"""Alliance level, trajectory, ruptures and repairs over the ratings so far.

Clinical signal: a weak or weakening early alliance predicts dropout (d = 0.55, Sharf,
Primavera & Diener 2010) and outcome (r = .278, Flückiger et al. 2018). Ruptures show as
V-shaped session-to-session dips; a repaired rupture is not the same as an unrepaired
one (rupture-repair and outcome r = .24, Safran et al. 2011), so both are counted, and
whether the latest rupture is still open is a feature of its own. The SRS below its
cut-off (36, Duncan et al. 2003) is the clinical flag for an alliance concern.

Every value describes the ratings up to and including the row (cumulative and
backward-looking operations only), carried forward over appointments without a rating.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.schema import ALLIANCE_SCALES
from features.segments import Segments


def _scale_trajectory(
    values: pd.Series, by: np.ndarray, session_number: pd.Series, rupture_drop: float, window: int
) -> tuple[pd.Index, dict[str, np.ndarray]]:
    """Trajectory statistics of one scale on the rows that carry a rating: their labels
    and the statistics' columns.

    ``by`` holds each row's client code, non-decreasing (rows sorted by client).
    """
    rated = values.notna().to_numpy()
    index = values.index[rated]
    v = values.to_numpy(dtype=float)[rated]
    keys = by[rated]
    groups = Segments(keys)
    prev = groups.shift(v, 1)
    first = groups.first(v)
    k = groups.count() + 1
    sess = session_number.to_numpy(dtype=float)[rated]
    # the slope runs from the rating `window - 1` ratings back (or the first) to this one
    full = k >= window
    start = np.where(full, groups.shift(v, window - 1), first)
    start_session = np.where(full, groups.shift(sess, window - 1), groups.first(sess))
    slope = np.where(k >= 2, (v - start) / np.maximum(np.minimum(k, window) - 1, 1), np.nan)
    with np.errstate(invalid="ignore"):
        rupture = (prev - v) >= rupture_drop - 1e-9  # no rupture at a client's first rating
    # the level the latest rupture fell from; recovered when back within half a drop of it
    reference = groups.ffill(np.where(rupture, prev, np.nan))
    open_now = ~np.isnan(reference) & (v < reference - rupture_drop / 2)
    open_before = groups.shift(open_now, 1, fill=False)
    repair = open_before & ~open_now & ~rupture
    prev_session = groups.shift(sess, 1)

    def at_rupture(x: np.ndarray) -> np.ndarray:
        """The value at the latest rupture, carried forward."""
        return groups.ffill(np.where(rupture, x, np.nan))

    return index, {
        "last": v,
        "change": v - first,
        "slope": slope,
        "min": pd.Series(v).groupby(keys, sort=False).cummin().to_numpy(),
        "ruptures": groups.cumsum(rupture),
        "unrepaired": open_now.astype(float),
        "repairs": groups.cumsum(repair),
        # context for plain-language reasons, not model inputs
        "ctx_first": first,
        "ctx_last_session": sess,
        "ctx_start": start,
        "ctx_start_session": start_session,
        "ctx_rupture_from": reference,
        "ctx_rupture_to": at_rupture(v),
        "ctx_rupture_from_session": at_rupture(prev_session),
        "ctx_rupture_session": at_rupture(sess),
        "ctx_count": k.astype(float),
    }


def carry_forward(
    part: Mapping[str, np.ndarray],
    labels: pd.Index,
    index: pd.Index,
    by: np.ndarray,
    rows: np.ndarray,
) -> pd.DataFrame:
    """A grouped forward fill of ``part`` over all appointments, read at ``rows`` only.

    ``part`` holds values on some of the appointments (those with a rating); the result
    gives each requested row the latest non-missing value of every column on or before it
    within its client, as ``DataFrame(part, index=labels).reindex(index).groupby(by)
    .ffill()`` would, without building that frame for every appointment.

    Parameters
    ----------
    part
        Float columns (name to values) on the appointments ``labels``.
    labels
        A subset of ``index``, in its order.
    index
        The index of all appointments, sorted by client and date.
    by
        The client of each appointment (aligned with ``index``).
    rows
        Positions (sorted) of the appointments wanted.
    """
    n = len(index)
    if isinstance(index, pd.RangeIndex) and (index.start, index.step) == (0, 1):
        pos = np.asarray(labels, dtype=np.int64)  # the labels are the positions
    else:
        pos = index.get_indexer(labels)
    # for every appointment, the latest position at or before it that has a value in part
    marker = np.full(n, -1, dtype=np.int64)
    marker[pos] = pos
    latest = np.maximum.accumulate(marker) if n else marker
    src = latest[rows]
    valid = src >= 0
    valid[valid] = by[src[valid]] == by[rows[valid]]  # not another client's rating
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[pos] = np.arange(len(pos))
    read = row_of[src[valid]]
    groups = Segments(by[pos])
    out = {}
    for name, values in part.items():
        # each column's latest value at the part rows read, within the client
        column = np.full(len(rows), np.nan)
        column[valid] = groups.ffill(values, at=read)
        out[name] = column
    return pd.DataFrame(out, index=index[rows])


def alliance_prefix(
    sessions: pd.DataFrame,
    session_number: pd.Series,
    *,
    wai_rupture_drop: float,
    srs_rupture_drop: float,
    srs_cutoff: float,
    ors_cutoff: float,
    slope_window: int,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Alliance and ORS features for every appointment row (or the ``rows`` asked for).

    Parameters
    ----------
    sessions
        Appointments sorted by client and date with derived scores ``wai_bond``,
        ``wai_goal``, ``wai_task``, ``srs_total`` and ``ors_total`` (NaN when not rated).
    session_number
        Ordinal of the attended session on attended rows (NaN elsewhere), for reasons.
    wai_rupture_drop, srs_rupture_drop
        Session-to-session fall that counts as a rupture, in scale points.
    srs_cutoff, ors_cutoff
        SRS alliance-concern and ORS clinical cut-offs from the instrument config.
    slope_window
        Number of most recent ratings the slope is taken over.
    rows
        Positions of the appointments to describe (sorted); default all. Every value is
        still computed from all appointments before each row.

    Returns
    -------
    pandas.DataFrame
        One row per requested appointment (index: theirs). Model columns
        ``<scale>_<stat>``, ``srs_below_cutoff``, ``srs_share_below_cutoff``, ``ors_last``,
        ``ors_change``, ``ors_clinical`` and ``ctx_*`` context columns.
    """
    by = sessions["client_id"].to_numpy()
    rows = np.arange(len(sessions)) if rows is None else np.asarray(rows, dtype=np.int64)
    parts: list[pd.DataFrame] = []

    def add(labels: pd.Index, part: dict[str, np.ndarray]) -> None:
        # carry the latest known rating state over appointments that had none
        parts.append(carry_forward(part, labels, sessions.index, by, rows))

    for scale in ALLIANCE_SCALES:
        drop = srs_rupture_drop if scale == "srs_total" else wai_rupture_drop
        labels, traj = _scale_trajectory(sessions[scale], by, session_number, drop, slope_window)
        add(labels, {f"{scale}_{name}": values for name, values in traj.items()})

    groups = Segments(by)
    srs = sessions["srs_total"].to_numpy(dtype=float)
    srs_rated = ~np.isnan(srs)
    below = np.where(srs_rated, (srs < srs_cutoff).astype(float), np.nan)
    rated_so_far = groups.cumsum(srs_rated.astype(float))
    share = groups.cumsum(np.nan_to_num(below, nan=0.0)) / np.where(
        rated_so_far == 0, np.nan, rated_so_far
    )
    add(
        sessions.index[srs_rated],
        {"srs_below_cutoff": below[srs_rated], "srs_share_below_cutoff": share[srs_rated]},
    )

    ors = sessions["ors_total"].to_numpy(dtype=float)
    ors_rated = ~np.isnan(ors)
    rated = ors[ors_rated]
    ors_first = Segments(by[ors_rated]).first(rated)
    add(
        sessions.index[ors_rated],
        {
            "ors_last": rated,
            "ors_change": rated - ors_first,
            "ors_clinical": (rated < ors_cutoff).astype(float),
            "ors_ctx_first": ors_first,
        },
    )
    return pd.concat(parts, axis=1)


def alliance_level(prefix: pd.DataFrame, instruments) -> pd.Series:
    """The latest alliance ratings on one 0-1 scale (0 = lowest possible, 1 = highest).

    The mean of the WAI subscales and the SRS total are each rescaled by their range from
    the instrument config, then averaged over the instruments the client has ratings on,
    so a site collecting WAI only, SRS only or both gets one comparable level (NaN before
    any rating).

    Parameters
    ----------
    prefix
        Rows with ``wai_bond_last``, ``wai_goal_last``, ``wai_task_last`` and
        ``srs_total_last``.
    instruments
        ``configs.config.InstrumentsConfig`` (scale ranges).
    """
    wai, srs = instruments.wai, instruments.srs
    wai_mean = prefix[["wai_bond_last", "wai_goal_last", "wai_task_last"]].mean(axis=1)
    wai_level = (wai_mean - wai.min) / (wai.max - wai.min)
    srs_level = (prefix["srs_total_last"] - srs.total_min) / (srs.total_max - srs.total_min)
    return pd.concat([wai_level, srs_level], axis=1).mean(axis=1).clip(0, 1)


def low_alliance_with_misses(level: pd.Series, missed: pd.Series) -> pd.Series:
    """Missed appointments weighted by how low the alliance is: (1 - level) x misses.

    Clinical signal: a weak alliance and missed sessions together are disengagement on
    both fronts (Sharf et al. 2010 for the alliance, Davis et al. 2020 for non-attendance);
    the product lets a linear model give the pair more weight than the sum of its parts.
    Missing while no alliance rating exists.
    """
    return (1.0 - level) * missed
