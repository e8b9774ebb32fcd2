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

from features.segments import Segments, take

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
    groups = Segments(sessions["client_id"].to_numpy())
    status = sessions["status"].to_numpy()
    attended = status == "attended"
    missed = np.isin(status, MISSED_STATUSES)

    def count(flags: np.ndarray) -> np.ndarray:
        return groups.cumsum(flags.astype(float))

    out: dict[str, np.ndarray] = {}
    appointments = groups.count() + 1.0
    attended_so_far = count(attended)
    out["appointments"] = appointments
    out["attended"] = attended_so_far
    out["attendance_rate"] = attended_so_far / appointments
    out["no_shows"] = count(status == "no_show")
    out["late_cancels"] = count(status == "late_cancel")
    out["cancellations"] = count(status == "cancelled")
    out["missed_first_appointment"] = groups.first(missed.astype(float))

    # misses since the last attended session: misses so far minus misses at that session
    misses = count(missed)
    at_last_attended = groups.ffill(np.where(attended, misses, np.nan))
    out["misses_since_last_attended"] = misses - np.nan_to_num(at_last_attended, nan=0.0)

    dates = sessions["session_date"]
    last_attended = groups.latest(attended)
    out["last_attended_date"] = take(dates.to_numpy(), last_attended, np.datetime64("NaT"))
    # gap between consecutive attended sessions (the first one: from intake)
    previous = take(dates.to_numpy(), groups.shift(last_attended, 1, fill=-1), np.datetime64("NaT"))
    previous = pd.Series(previous, index=sessions.index).fillna(sessions["intake_date"])
    gap = (dates - previous).dt.days.where(attended)
    longest = gap.groupby(sessions["client_id"].to_numpy(), sort=False).cummax().to_numpy(float)
    out["longest_gap_days"] = np.nan_to_num(groups.ffill(longest), nan=0.0)
    out["session_number"] = np.where(attended, attended_so_far, np.nan)
    # one frame at once: a column at a time costs more than a served request's values
    return pd.DataFrame(out, index=sessions.index)
