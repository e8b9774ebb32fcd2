"""Per-client aggregates at a cutoff: the feature table of a typical notebook model.

Clinical signal: the same two families the project's own features read, in the plain
form a data scientist would first write them: attendance (missed appointments and the
time since the last attended session are the behavioural face of disengagement; about
40% of first appointments are missed in NHS talking therapies, Davis et al. 2020) and
the alliance and outcome ratings (the alliance predicts dropout with d = 0.55, Sharf et
al. 2010), summarised by their mean, first, last and lowest values, plus the intake
attributes (weak on their own, Bennemann et al. 2022; ``EVIDENCE.md``). They feed the
baseline in :mod:`models.notebook` that the project's model has to beat.

Every aggregate at a cutoff is built from the client's appointments on or before it
(and, when the cutoff names an appointment number, from the first that many), read off
one row of cumulative, backward-looking columns per appointment: an appointment after
the cutoff can never change the row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.instruments import derive_scores

RATING_SCALES: tuple[str, ...] = ("wai_bond", "wai_goal", "wai_task", "srs_total", "ors_total")
RATING_STATISTICS: tuple[str, ...] = ("mean", "last", "min", "first", "change")
ATTENDANCE_AGGREGATES: tuple[str, ...] = (
    "scheduled",
    "attended",
    "no_shows",
    "late_cancels",
    "attendance_rate",
    "misses_last_two",
    "days_since_last_attended",
)
RATING_AGGREGATES: tuple[str, ...] = tuple(
    f"{scale}_{stat}" for scale in RATING_SCALES for stat in RATING_STATISTICS
)
INTAKE_AGGREGATES: tuple[str, ...] = ("age", "days_in_treatment", "planned_sessions")
CATEGORICAL_AGGREGATES: tuple[str, ...] = (
    "program",
    "primary_concern",
    "referral_source",
    "therapist_id",
    "site",
)
NUMERIC_AGGREGATES: tuple[str, ...] = (
    *ATTENDANCE_AGGREGATES,
    *RATING_AGGREGATES,
    *INTAKE_AGGREGATES,
)
AGGREGATE_FEATURES: tuple[str, ...] = (*NUMERIC_AGGREGATES, *CATEGORICAL_AGGREGATES)

MISSED_STATUSES = ("no_show", "late_cancel")


def appointment_cutoffs(sessions: pd.DataFrame, n_first: int = 8) -> pd.DataFrame:
    """Each client's first ``n_first`` appointments as cutoffs.

    Appointments are numbered per client in date order; appointments on the same date
    keep their input order (the ``row`` column of validated tables when present), so the
    cutoff "after appointment 1" excludes a second appointment on the same day.

    Parameters
    ----------
    sessions
        Appointments with ``client_id`` and ``session_date``.
    n_first
        How many of each client's first appointments become cutoffs.

    Returns
    -------
    pandas.DataFrame
        ``client_id``, ``appointment`` (1-based ordinal) and ``cutoff_date`` (that
        appointment's date), grouped by client (in order of first appearance) and
        sorted by appointment. Pass it to :func:`client_aggregates` as ``cutoffs``.
    """
    if n_first < 1:
        raise ValueError(f"n_first must be at least 1, got {n_first}")
    _require(sessions, ("client_id", "session_date"), "sessions")
    ordered = sessions.iloc[_appointment_order(sessions)]
    ordered = ordered[ordered["session_date"].notna()]
    ordinal = ordered.groupby("client_id", sort=False).cumcount().to_numpy() + 1
    keep = ordinal <= n_first
    return pd.DataFrame(
        {
            "client_id": ordered["client_id"].to_numpy()[keep],
            "appointment": ordinal[keep].astype(np.int64),
            "cutoff_date": ordered["session_date"].to_numpy()[keep],
        }
    )


def client_aggregates(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    instruments: Any,
    *,
    cutoffs: pd.DataFrame,
) -> pd.DataFrame:
    """One row of aggregates per (client, cutoff), from the appointments up to the cutoff.

    Parameters
    ----------
    clients
        Validated clients table: ``client_id``, ``intake_date`` and, when present,
        ``age``, ``planned_sessions`` and the categorical columns (absent ones are
        missing).
    sessions
        Validated sessions table: ``client_id``, ``session_date``, ``status`` and any
        rating columns. Appointments of clients not in ``clients`` are ignored.
    instruments
        The instrument definitions (``InstrumentsConfig`` from config), passed on to
        :func:`features.instruments.derive_scores`.
    cutoffs
        ``client_id`` and ``cutoff_date``, one row per wanted aggregate row; an optional
        ``appointment`` column (1-based, as from :func:`appointment_cutoffs`) further
        limits a row to the client's first that many appointments. Dates are compared
        by day (a time part is ignored, as in the contract).

    Returns
    -------
    pandas.DataFrame
        In the order of ``cutoffs``: ``client_id``, ``cutoff_date`` (and ``appointment``
        when given), then :data:`AGGREGATE_FEATURES`:

        - ``scheduled``, ``attended``, ``no_shows``, ``late_cancels``: appointment counts
          (``scheduled`` counts every status, cancellations included);
          ``attendance_rate`` = attended / scheduled (NaN before any appointment);
          ``misses_last_two``: no-shows and late cancels among the last two appointments;
          ``days_since_last_attended``: days from the last attended session (from intake
          when none) to the cutoff date.
        - ``<scale>_mean``, ``_last``, ``_min``, ``_first``, ``_change`` (last − first)
          for each scale in :data:`RATING_SCALES`, from attended sessions only; NaN
          before the first rating.
        - ``age``, ``planned_sessions``, ``days_in_treatment`` (cutoff − intake, days)
          and the categorical columns as text (NaN when blank or absent).

    Raises
    ------
    ValueError
        When ``cutoffs`` lacks a column, has a blank cutoff date or appointment number,
        or names a client_id that is not in ``clients``.
    """
    _require(cutoffs, ("client_id", "cutoff_date"), "cutoffs")
    _require(clients, ("client_id", "intake_date"), "clients")
    _require(sessions, ("client_id", "session_date", "status"), "sessions")
    client_index = pd.Index(clients["client_id"].to_numpy())
    if not client_index.is_unique:
        raise ValueError("clients has duplicated client_id values; keep one row per episode")

    cut_code = client_index.get_indexer(cutoffs["client_id"].to_numpy())
    if (cut_code < 0).any():
        unknown = pd.unique(cutoffs["client_id"].to_numpy()[cut_code < 0])[:5]
        raise ValueError(
            f"cutoffs name client_id values not in clients (e.g. {list(unknown)}); "
            "build cutoffs from the same clients table"
        )
    cut_date = pd.to_datetime(cutoffs["cutoff_date"]).reset_index(drop=True)
    if cut_date.isna().any():
        raise ValueError("cutoffs has a blank cutoff_date; give every row a date")
    limit = None
    if "appointment" in cutoffs:
        limit = pd.to_numeric(cutoffs["appointment"], errors="coerce").to_numpy(dtype=float)
        if np.isnan(limit).any() or (limit < 1).any():
            raise ValueError("cutoffs has an appointment number that is blank or below 1")

    scored, code = _ordered_scores(sessions, client_index, instruments)
    per_appointment = _appointment_columns(scored, code)

    # how many of the client's appointments fall on or before the cutoff day: the sorted
    # (client, day) keys are searched once for every cutoff
    day = _days(scored["session_date"])
    cut_day = _days(cut_date)
    every_day = np.r_[day, cut_day]
    day_min = every_day.min() if len(every_day) else 0
    span = every_day.max() - day_min + 1 if len(every_day) else 1
    keys = code * span + (day - day_min)
    cut_keys = cut_code.astype(np.int64) * span + (cut_day - day_min)
    first_of_client = np.searchsorted(code, np.arange(len(client_index)), side="left")
    n_known = np.searchsorted(keys, cut_keys, side="right") - first_of_client[cut_code]
    if limit is not None:
        n_known = np.minimum(n_known, limit.astype(np.int64))
    has = n_known > 0
    rows = np.where(has, first_of_client[cut_code] + n_known - 1, 0)

    out = pd.DataFrame({"client_id": cutoffs["client_id"].to_numpy(), "cutoff_date": cut_date})
    if limit is not None:
        out["appointment"] = limit.astype(np.int64)
    for name in ("scheduled", "attended", "no_shows", "late_cancels"):
        out[name] = _pick(per_appointment[name], rows, has, 0.0)
    out["attendance_rate"] = out["attended"] / out["scheduled"].where(out["scheduled"] > 0)
    out["misses_last_two"] = _pick(per_appointment["misses_last_two"], rows, has, 0.0)

    intake = pd.Series(clients["intake_date"].to_numpy()[cut_code])
    last_attended_row = _pick(per_appointment["last_attended_row"], rows, has, -1)
    last_attended = pd.Series(
        _pick(
            scored["session_date"].to_numpy(dtype="datetime64[ns]"),
            last_attended_row,
            last_attended_row >= 0,
            np.datetime64("NaT", "ns"),
        )
    )
    seen = last_attended.fillna(intake)
    out["days_since_last_attended"] = (cut_date - seen).dt.days.astype(float)

    for scale in RATING_SCALES:
        for stat in RATING_STATISTICS:
            name = f"{scale}_{stat}"
            out[name] = _pick(per_appointment[name], rows, has, np.nan)

    out["age"] = _client_numbers(clients, "age", cut_code)
    out["days_in_treatment"] = (cut_date - intake).dt.days.astype(float)
    out["planned_sessions"] = _client_numbers(clients, "planned_sessions", cut_code)
    for name in CATEGORICAL_AGGREGATES:
        out[name] = _client_text(clients, name, cut_code)
    return out


def _appointment_columns(scored: pd.DataFrame, code: np.ndarray) -> dict[str, np.ndarray]:
    """Cumulative columns for every appointment row (rows sorted by client, then date).

    Each value at row ``i`` is a function of the rows of the same client up to ``i``
    only: cumulative sums within the client, the last earlier valid row, or the client's
    first valid row when it lies at or before ``i``.
    """
    n = len(code)
    position = np.arange(n)
    starts = np.r_[True, code[1:] != code[:-1]] if n else np.zeros(0, dtype=bool)
    # the row where each row's client starts
    start_row = np.maximum.accumulate(np.where(starts, position, 0)) if n else position
    status = scored["status"].to_numpy(dtype=object)
    attended = status == "attended"
    missed = np.isin(status, MISSED_STATUSES)

    def cumulative(values: np.ndarray) -> np.ndarray:
        return pd.Series(values).groupby(code, sort=False).cumsum().to_numpy(dtype=float)

    out: dict[str, np.ndarray] = {
        "scheduled": (position - start_row + 1).astype(float),
        "attended": cumulative(attended.astype(np.int64)),
        "no_shows": cumulative((status == "no_show").astype(np.int64)),
        "late_cancels": cumulative((status == "late_cancel").astype(np.int64)),
    }
    previous_missed = np.r_[False, missed[:-1]] & ~starts if n else missed
    out["misses_last_two"] = missed.astype(float) + previous_missed.astype(float)
    out["last_attended_row"] = _last_valid_row(attended, start_row)

    group_starts = np.flatnonzero(starts)
    for scale in RATING_SCALES:
        values = scored[scale].to_numpy(dtype=float)
        rated = np.isfinite(values)
        last_row = _last_valid_row(rated, start_row)
        known = last_row >= 0
        count = cumulative(rated.astype(np.int64))
        total = cumulative(np.where(rated, values, 0.0))
        running_min = pd.Series(values).groupby(code, sort=False).cummin().to_numpy(dtype=float)
        # the client's first rated row counts once the current row has reached it
        if n:
            first_row_of_client = np.minimum.reduceat(np.where(rated, position, n), group_starts)
            first_row = np.repeat(first_row_of_client, np.diff(np.r_[group_starts, n]))
        else:
            first_row = position
        first_known = first_row <= position
        last = _pick(values, last_row, known, np.nan)
        first = _pick(values, first_row, first_known, np.nan)
        out[f"{scale}_mean"] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        out[f"{scale}_last"] = last
        out[f"{scale}_min"] = _pick(running_min, last_row, known, np.nan)
        out[f"{scale}_first"] = first
        out[f"{scale}_change"] = last - first
    return out


def _ordered_scores(
    sessions: pd.DataFrame, client_index: pd.Index, instruments: Any
) -> tuple[pd.DataFrame, np.ndarray]:
    """The derived scores of the known clients' dated appointments, in appointment order.

    Returns the scored rows (index reset) and each row's client code (its position in
    ``clients``), sorted by code, date and input order.
    """
    code = client_index.get_indexer(sessions["client_id"].to_numpy())
    keep = (code >= 0) & sessions["session_date"].notna().to_numpy()
    rating_like = [
        column
        for column in sessions.columns
        if column == "status" or column.startswith(("wai_", "srs_", "ors_"))
    ]
    kept = sessions.loc[keep, ["session_date", *rating_like]]
    if "row" in sessions:
        kept = kept.assign(row=sessions.loc[keep, "row"].to_numpy())
    kept_code = code[keep]
    order = _appointment_order(kept, kept_code)
    kept = kept.iloc[order].reset_index(drop=True)
    scored = derive_scores(kept, instruments)
    for scale in RATING_SCALES:
        if scale not in scored:
            scored[scale] = np.nan
    return scored, kept_code[order].astype(np.int64)


def _appointment_order(sessions: pd.DataFrame, code: np.ndarray | None = None) -> np.ndarray:
    """Positions sorting appointments by client, date and input order (``row`` if any)."""
    if code is None:
        code = pd.factorize(sessions["client_id"], sort=False)[0]
    dates = sessions["session_date"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ties = (
        pd.to_numeric(sessions["row"], errors="coerce").to_numpy(dtype=float)
        if "row" in sessions
        else np.arange(len(sessions), dtype=float)
    )
    return np.lexsort((np.arange(len(sessions)), ties, dates, code))


def _last_valid_row(valid: np.ndarray, start_row: np.ndarray) -> np.ndarray:
    """For every row, the latest row of the same client up to it where ``valid``; -1 if none."""
    if not len(valid):
        return np.zeros(0, dtype=np.int64)
    latest = np.maximum.accumulate(np.where(valid, np.arange(len(valid)), -1))
    return np.where(latest >= start_row, latest, -1)


def _pick(values: np.ndarray, rows: np.ndarray, has: np.ndarray, fill: Any) -> np.ndarray:
    """``values[rows]`` where ``has``, ``fill`` elsewhere (also when ``values`` is empty)."""
    out = np.full(len(rows), fill, dtype=values.dtype)
    if has.any():
        out[has] = values[rows[has]]
    return out


def _days(dates: pd.Series) -> np.ndarray:
    """Whole days since the epoch (the time part dropped)."""
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def _client_numbers(clients: pd.DataFrame, column: str, code: np.ndarray) -> np.ndarray:
    if column not in clients:
        return np.full(len(code), np.nan)
    values = pd.to_numeric(clients[column], errors="coerce").to_numpy(dtype=float)
    return values[code]


def _client_text(clients: pd.DataFrame, column: str, code: np.ndarray) -> np.ndarray:
    if column not in clients:
        return np.full(len(code), np.nan, dtype=object)
    text = clients[column].astype("string").str.strip()
    text = text.mask(text == "")
    return text.to_numpy(dtype=object, na_value=np.nan)[code]


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}; it has {list(frame.columns)}")
