"""Attendance over the appointments a client has had so far.

Clinical signal: missed appointments are the behavioural face of disengagement. A
no-show at the first appointment (about 40% non-attendance in NHS talking therapies,
Davis et al. 2020), a run of misses since the last attended session and long gaps
between sessions precede dropout; they are the earliest signal a clinic has
(EVIDENCE.md). Cancellations with notice are counted apart: they are rescheduling,
not disengagement.

Every column describes the *prefix* of the client's appointments up to and including
that row, computed with cumulative operations only, so no row can see a later one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MISSED_STATUSES = ("no_show", "late_cancel")


def attendance_prefix(sessions: pd.DataFrame) -> pd.DataFrame:
    """Cumulative attendance features for every appointment row.

    Parameters
    ----------
    sessions
        Appointments sorted by client and date, with columns ``client_id``,
        ``session_date``, ``status`` and ``intake_date`` (the episode's start).

    Returns
    -------
    pandas.DataFrame
        Same index; columns ``appointments``, ``attended``, ``attendance_rate``,
        ``no_shows``, ``late_cancels``, ``cancellations``, ``missed_first_appointment``,
        ``misses_since_last_attended``, ``longest_gap_days``, ``session_number`` (the
        ordinal of the attended session on attended rows, else NaN) and
        ``last_attended_date`` (NaT before the first attended session).
    """
    by = sessions["client_id"].to_numpy()
    status = sessions["status"].to_numpy()
    attended = status == "attended"
    missed = np.isin(status, MISSED_STATUSES)
    frame = pd.DataFrame(
        {
            "_by": by,
            "one": 1,
            "att": attended.astype(np.int32),
            "noshow": (status == "no_show").astype(np.int32),
            "late": (status == "late_cancel").astype(np.int32),
            "canc": (status == "cancelled").astype(np.int32),
            "miss": missed.astype(np.int32),
        },
        index=sessions.index,
    )
    cums = frame.groupby("_by", sort=False)[
        ["one", "att", "noshow", "late", "canc", "miss"]
    ].cumsum()
    out = pd.DataFrame(index=sessions.index)
    out["appointments"] = cums["one"].astype(float)
    out["attended"] = cums["att"].astype(float)
    out["attendance_rate"] = out["attended"] / out["appointments"]
    out["no_shows"] = cums["noshow"].astype(float)
    out["late_cancels"] = cums["late"].astype(float)
    out["cancellations"] = cums["canc"].astype(float)

    first_row = out["appointments"].to_numpy() == 1
    first_missed = pd.Series(
        np.where(first_row, missed.astype(float), np.nan), index=sessions.index
    )
    out["missed_first_appointment"] = first_missed.groupby(by, sort=False).ffill()

    # misses since the last attended session: misses so far minus misses at that session
    miss_at_attended = cums["miss"].where(attended)
    miss_at_last_attended = miss_at_attended.groupby(by, sort=False).ffill().fillna(0)
    out["misses_since_last_attended"] = (cums["miss"] - miss_at_last_attended).astype(float)

    dates = sessions["session_date"]
    attended_dates = dates.where(attended)
    out["last_attended_date"] = attended_dates.groupby(by, sort=False).ffill()
    # gap between consecutive attended sessions (the first one: from intake)
    previous_attended = (
        attended_dates.groupby(by, sort=False).ffill().groupby(by, sort=False).shift(1)
    )
    previous_attended = previous_attended.fillna(sessions["intake_date"])
    gap = (dates - previous_attended).dt.days.where(attended)
    out["longest_gap_days"] = (
        gap.groupby(by, sort=False)
        .cummax()
        .groupby(by, sort=False)
        .ffill()
        .fillna(0.0)
        .astype(float)
    )
    out["session_number"] = out["attended"].where(attended)
    return out
