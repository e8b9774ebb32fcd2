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


def attendance_prefix(sessions: pd.DataFrame, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Cumulative attendance features for every appointment row (or the ``rows`` asked for).

    Parameters
    ----------
    sessions
        Appointments sorted by client and date, with columns ``client_id``,
        ``session_date``, ``status`` and ``intake_date`` (the episode's start).
    rows
        Positions of the appointments to describe (sorted); default all. Every value is
        still computed from all appointments before each row.

    Returns
    -------
    pandas.DataFrame
        One row per requested appointment (index: theirs); columns ``appointments``,
        ``attended``, ``attendance_rate``, ``no_shows``, ``late_cancels``,
        ``cancellations``, ``missed_first_appointment``, ``misses_since_last_attended``,
        ``longest_gap_days``, ``session_number`` (the ordinal of the attended session on
        attended rows, else NaN) and ``last_attended_date`` (NaT before the first
        attended session).
    """
    groups = Segments(sessions["client_id"].to_numpy())
    status = sessions["status"]
    attended = status_in(status, ("attended",))
    missed = status_in(status, MISSED_STATUSES)
    every = rows is None
    rows = np.arange(len(sessions)) if every else np.asarray(rows, dtype=np.int64)

    def at(values: np.ndarray) -> np.ndarray:
        # only the rows asked for are kept: a caseload asks for one row in five or six
        return values if every else values[rows]

    def count(flags: np.ndarray) -> np.ndarray:
        return groups.cumsum(flags.astype(float))

    out: dict[str, np.ndarray] = {}
    appointments = groups.count() + 1.0
    attended_so_far = count(attended)
    out["appointments"] = at(appointments)
    out["attended"] = at(attended_so_far)
    out["attendance_rate"] = at(attended_so_far / appointments)
    out["no_shows"] = at(count(status_in(status, ("no_show",))))
    out["late_cancels"] = at(count(status_in(status, ("late_cancel",))))
    out["cancellations"] = at(count(status_in(status, ("cancelled",))))
    out["missed_first_appointment"] = at(groups.first(missed.astype(float)))

    # misses since the last attended session: misses so far minus misses at that session
    misses = count(missed)
    at_last_attended = groups.ffill(np.where(attended, misses, np.nan))
    out["misses_since_last_attended"] = at(misses - np.nan_to_num(at_last_attended, nan=0.0))

    dates = sessions["session_date"]
    last_attended = groups.latest(attended)
    out["last_attended_date"] = at(take(dates.to_numpy(), last_attended, np.datetime64("NaT")))
    # gap between consecutive attended sessions (the first one: from intake)
    previous = take(dates.to_numpy(), groups.shift(last_attended, 1, fill=-1), np.datetime64("NaT"))
    previous = pd.Series(previous, index=sessions.index).fillna(sessions["intake_date"])
    gap = (dates - previous).dt.days.where(attended)
    longest = gap.groupby(sessions["client_id"].to_numpy(), sort=False).cummax().to_numpy(float)
    out["longest_gap_days"] = at(np.nan_to_num(groups.ffill(longest), nan=0.0))
    out["session_number"] = at(np.where(attended, attended_so_far, np.nan))
    # one frame at once: a column at a time costs more than a served request's values
    return pd.DataFrame(out, index=sessions.index if every else sessions.index[rows])


def status_in(status: pd.Series, values: tuple[str, ...]) -> np.ndarray:
    """Where the status is one of ``values`` (a missing one never is); a categorical
    status (as :func:`features.landmarks.appointment_prefix` makes it) by its codes, not
    a million compared strings."""
    array = status.array
    if isinstance(array, pd.Categorical):
        wanted = [array.categories.get_loc(value) for value in values if value in array.categories]
        return np.isin(array.codes, wanted)
    text = status.to_numpy()
    found = np.zeros(len(text), dtype=bool)
    for value in values:
        found |= text == value
    return found


def session_numbers(sessions: pd.DataFrame) -> np.ndarray:
    """Each appointment's ordinal among its client's attended sessions (1, 2, ...) on
    attended rows, NaN on the others; rows sorted by client and date."""
    attended = status_in(sessions["status"], ("attended",))
    so_far = Segments(sessions["client_id"].to_numpy()).cumsum(attended.astype(float))
    return np.where(attended, so_far, np.nan)
