"""Feature rows for a client at a moment in time: training landmarks and scoring as-of.

A training example is the state of an episode at a moment `score` could meet it: a
*landmark*, just after its 1st, 2nd, ... scheduled appointment (the landmark list in
config: dense early, sparser later, so a client at appointment 20 is scored by a model
that has seen clients at appointment 20), or a *snapshot*, on a calendar date while the
episode was open, days or weeks after its latest appointment. Each is built only from
the appointments up to that moment and carries what happened afterwards (how and when
the episode ended, or that it was still open at the export). Scoring builds the same row
as of a date, from the appointments on or before it. All take the row of one appointment from
:func:`appointment_prefix`, whose every column is a cumulative (backward-looking)
function of the client's appointments, so a later appointment can never change it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from configs.config import Config, FeaturesConfig, InstrumentsConfig
from features.alliance import alliance_level, alliance_prefix, low_alliance_with_misses
from features.attendance import attendance_prefix, session_numbers
from features.ids import (
    among,
    nondecreasing_text,
    range_numbers,
    rows_of,
    run_codes,
    text_bounds,
)
from features.instruments import derive_scores
from features.intake import intake_features
from features.labels import endings_of, episode_outcomes, export_date
from features.schema import (
    ALLIANCE_SCALES,
    CATEGORICAL_FEATURES,
    MODEL_INPUTS,
    NUMERIC_FEATURES,
    ROW_FEATURES,
)
from features.segments import Segments

KEY_COLUMNS = ("client_id", "landmark", "cutoff_date")
# Scoring rows are built for this many clients at a time: one part's columns stay small
# enough for the processor's caches. At 200,000 clients the features took 2.2 s in parts
# of 50,000 where one pass took 3.4 s (medians of 4, 2 cores).
ASOF_PART_CLIENTS = 50_000


def appointment_prefix(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    instruments: InstrumentsConfig,
    features: FeaturesConfig,
    *,
    keep_ratings: bool = False,
    at: str | Sequence[int] = "all",
) -> pd.DataFrame:
    """One row per appointment describing everything known up to and including it.

    Parameters
    ----------
    clients, sessions
        Validated contract tables; appointments of clients not in ``clients`` are ignored.
    instruments, features
        Instrument definitions and feature settings from config.
    keep_ratings
        Also return each appointment's ``status`` and its own ratings (``rated_<scale>``),
        for showing a client's trajectory.
    at
        Which appointments to describe: ``"all"``, ``"last"`` (each client's latest) or
        appointment numbers (the landmarks: each client's 1st, 2nd, ... appointment).
        Each row is still built from every appointment before it; asking only for the rows
        needed saves the time and memory of the others.

    Returns
    -------
    pandas.DataFrame
        ``client_id``, ``session_date``, ``intake_date``, attendance and alliance columns,
        sorted by client, date and input order.
    """
    # only the episodes asked about: appointments of other clients are not theirs to describe
    sessions = rows_of(sessions, among(sessions["client_id"], clients["client_id"]))
    scored = derive_scores(sessions, instruments, keep_items=False)
    # what the features read (not the item ratings the scores were derived from)
    needed = ["client_id", "session_date", "status", *ALLIANCE_SCALES, "ors_total"]
    scored = scored[needed + (["row"] if "row" in scored else [])]
    # the status read as Python text from its few values (the features compare it often)
    scored = scored.assign(status=pd.Categorical(scored["status"]))
    scored = _by_client_and_date(scored).reset_index(drop=True)
    # the features group by client many times: integer codes (rows are sorted by client, so
    # a new code starts where the id changes) are hashed far faster than id strings
    codes = run_codes(scored["client_id"])
    firsts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else codes
    intake = pd.Series(clients["intake_date"].to_numpy(), index=clients["client_id"].to_numpy())
    # reindex rather than map: map cannot cast an empty date Series (no clients at all);
    # each client's id looked up once, not once per appointment
    first_ids = scored["client_id"].iloc[firsts].to_numpy(dtype=object)
    scored["intake_date"] = intake.reindex(first_ids).to_numpy()[codes]
    grouped = scored.assign(client_id=codes)
    if isinstance(at, str) and at == "all":
        rows = np.arange(len(scored))
    elif isinstance(at, str) and at == "last":
        rows = np.flatnonzero(np.r_[codes[1:] != codes[:-1], True]) if len(codes) else codes
    elif isinstance(at, str):
        raise ValueError(f"at must be 'all', 'last' or appointment numbers, got {at!r}")
    else:
        appointments = Segments(codes).count() + 1.0  # the client's 1st, 2nd, ... appointment
        rows = np.flatnonzero(np.isin(appointments, list(at)))
    attendance = attendance_prefix(grouped, rows=rows)
    alliance = alliance_prefix(
        grouped,
        pd.Series(session_numbers(grouped), index=grouped.index),
        wai_rupture_drop=instruments.wai.rupture_drop,
        srs_rupture_drop=instruments.srs.rupture_drop,
        srs_cutoff=instruments.srs.cutoff,
        ors_cutoff=instruments.ors.cutoff,
        slope_window=features.slope_window,
        rows=rows,
    )
    prefix = pd.concat(
        [
            scored[["client_id", "session_date", "intake_date"]].iloc[rows],
            attendance,
            alliance,
        ],
        axis=1,
    )
    if keep_ratings:
        prefix["status"] = scored["status"].to_numpy()[rows]
        for scale in (*ALLIANCE_SCALES, "ors_total"):
            prefix[f"rated_{scale}"] = scored[scale].to_numpy(dtype=float)[rows]
    prefix["alliance_level"] = alliance_level(prefix, instruments)
    prefix["low_alliance_x_misses"] = low_alliance_with_misses(
        prefix["alliance_level"], prefix["no_shows"] + prefix["late_cancels"]
    )
    return prefix


def _by_client_and_date(scored: pd.DataFrame) -> pd.DataFrame:
    """The appointments sorted by client, date and input row (stable), as they nearly
    always come: then as they are, without the sort's copy of every column."""
    order_cols = ["client_id", "session_date"] + (["row"] if "row" in scored else [])
    if _sorted_by(scored, order_cols):
        return scored
    return scored.sort_values(order_cols, kind="stable")


def _sorted_by(frame: pd.DataFrame, order_cols: list[str]) -> bool:
    """Whether the rows are already in the order a stable sort by ``order_cols`` gives:
    client ids never decrease, and within a client neither do dates (nor input rows on
    one date). False whenever that cannot be told cheaply (ids not Arrow text, a missing
    date)."""
    if len(frame) < 2:
        return True
    if not nondecreasing_text(frame["client_id"]):
        return False
    codes = run_codes(frame["client_id"])
    same = codes[1:] == codes[:-1]
    dates = frame["session_date"].to_numpy(dtype="datetime64[ns]")
    if np.isnat(dates).any():
        return False
    if np.any(same & (dates[1:] < dates[:-1])):
        return False
    if "row" in order_cols:
        rows = frame["row"].to_numpy()
        tie = same & (dates[1:] == dates[:-1])
        if np.any(tie & (rows[1:] < rows[:-1])):
            return False
    return True


def _complete(rows: pd.DataFrame, clients: pd.DataFrame) -> pd.DataFrame:
    """Add the features that depend on the cutoff date and the intake attributes."""
    intake = intake_features(clients)
    rows = rows.join(intake, on="client_id")
    # the key the model looks the therapist's history up by (features.history)
    therapist = pd.Series(
        clients["therapist_id"].astype("string").str.strip().to_numpy(dtype=object),
        index=clients["client_id"].to_numpy(),
    )
    rows["therapist_id"] = therapist.reindex(rows["client_id"].to_numpy()).to_numpy()
    cutoff = rows["cutoff_date"]
    seen = rows["last_attended_date"].fillna(rows["intake_date"])
    rows["days_since_last_attended"] = (cutoff - seen).dt.days.astype(float).clip(lower=0)
    rows["days_in_treatment"] = (cutoff - rows["intake_date"]).dt.days.astype(float).clip(lower=0)
    planned = rows["planned_sessions"].where(rows["planned_sessions"] > 0)
    rows["plan_progress"] = rows["attended"] / planned
    # context for the reader and the reasons, not model inputs
    ctx = [c for c in rows.columns if "ctx_" in c] + ["attended", "last_attended_date"]
    return rows[[*KEY_COLUMNS, *MODEL_INPUTS, *ctx]].reset_index(drop=True)


def landmark_examples(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    instruments: InstrumentsConfig,
    features: FeaturesConfig,
) -> pd.DataFrame:
    """One row per episode after each landmark appointment it reached.

    The landmark part of :func:`training_examples`, without what happened afterwards.

    Returns
    -------
    pandas.DataFrame
        Key columns, the model features and ``ctx_*`` context columns.
    """
    rows = appointment_prefix(clients, sessions, instruments, features, at=features.landmark_list())
    rows["landmark"] = rows["appointments"].astype(int)
    rows["cutoff_date"] = rows["session_date"]
    return _complete(rows, clients)


def asof_examples(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    as_of: pd.Timestamp,
    instruments: InstrumentsConfig,
    features: FeaturesConfig,
    *,
    part_clients: int = ASOF_PART_CLIENTS,
) -> pd.DataFrame:
    """Scoring rows: each client's state as of ``as_of`` from appointments on or before it.

    Clients with no appointment on or before ``as_of`` get no row (the caller lists them
    as not scored). A caseload of more than ``part_clients`` clients is worked through in
    ranges of client ids of about that many clients, which gives the rows one pass gives.
    """
    known = rows_of(sessions, (sessions["session_date"] <= as_of).to_numpy())
    parts = [
        _asof_rows(them, theirs, as_of, instruments, features)
        for them, theirs in _client_parts(clients, known, part_clients)
    ]
    # a range whose clients have no appointment yet adds no row (nor its columns' types)
    parts = [rows for rows in parts if len(rows)] or parts[:1]
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _asof_rows(clients, sessions, as_of, instruments, features) -> pd.DataFrame:
    last = appointment_prefix(clients, sessions, instruments, features, at="last")
    last["landmark"] = last["appointments"].astype(int)
    last["cutoff_date"] = as_of
    return _complete(last, clients)


def _client_parts(clients: pd.DataFrame, sessions: pd.DataFrame, size: int):
    """The clients and their appointments by ranges of client ids, in id order, one range
    at a time; all in one when there are ``size`` clients or fewer, or ids that are not
    Arrow text. A table sorted by client gives slices; another, a range's rows copied
    only while the range is worked on."""
    bounds = text_bounds(clients["client_id"], size) if len(clients) > size else None
    of_client = range_numbers(clients["client_id"], bounds) if bounds else None
    of_session = range_numbers(sessions["client_id"], bounds) if bounds else None
    if of_client is None or of_session is None:
        yield clients, sessions
        return
    ranges = len(bounds) + 1
    pick_client = _range_picker(clients, of_client, ranges)
    pick_session = _range_picker(sessions, of_session, ranges)
    for number in range(ranges):
        yield pick_client(number), pick_session(number)


def _range_picker(frame: pd.DataFrame, numbers: np.ndarray, ranges: int):
    """``number -> the frame's rows in range number`` (0 to ``ranges - 1``)."""
    if len(numbers) < 2 or (numbers[1:] >= numbers[:-1]).all():
        starts = np.searchsorted(numbers, np.arange(ranges + 1))
        return lambda number: frame.iloc[starts[number] : starts[number + 1]]
    return lambda number: rows_of(frame, numbers == number)


def model_inputs(examples: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, in the declared order, with one missing marker (NaN).

    These are the features built from the client's own rows plus ``therapist_id``; the
    history features are added by the model from what it learnt (``features.history``).
    """
    text = {*CATEGORICAL_FEATURES, "therapist_id"}
    numeric = {f for f in NUMERIC_FEATURES if f in ROW_FEATURES}
    columns = {}
    for name in MODEL_INPUTS:
        values = examples[name]
        if name in text:
            columns[name] = values.astype("string").to_numpy(dtype=object, na_value=np.nan)
        elif name in numeric and values.dtype != np.float64:
            columns[name] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        else:
            columns[name] = values.to_numpy(copy=True)
    # built at once: a column at a time costs more than the values of a served request
    return pd.DataFrame(columns, index=examples.index)


def snapshot_dates(
    first_seen: pd.Series, last_open: pd.Series, export_date: pd.Timestamp, every_days: int
) -> pd.DataFrame:
    """The calendar dates each episode is snapshotted on: every ``every_days`` days back
    from ``export_date``, from its first appointment to the last day it was still open.

    A clinic scores its caseload on a date days or weeks after each client's latest
    appointment; a snapshot is that state. The grid is one calendar for every episode, so
    the snapshots of a date are the caseload of that date, and no date depends on when
    (or how) an episode ended beyond its being open then.

    Returns
    -------
    pandas.DataFrame
        ``client_id`` and ``cutoff_date``, one row per episode and date.
    """
    step = int(every_days)
    first = (export_date - first_seen).dt.days.to_numpy(dtype=float)
    last = (export_date - last_open).dt.days.to_numpy(dtype=float)
    # k days back: a date d = export - k*step is in [first_seen, last_open]
    k_low = np.ceil(np.maximum(last, 0) / step)
    k_high = np.floor(first / step)
    valid = np.isfinite(k_low) & np.isfinite(k_high) & (k_high >= k_low)
    count = np.where(valid, k_high - k_low + 1, 0).astype(np.int64)
    owner = np.repeat(np.arange(len(count)), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    k = k_low[owner] + offset
    return pd.DataFrame(
        {
            "client_id": first_seen.index.to_numpy()[owner],
            "cutoff_date": export_date - pd.to_timedelta(k * step, unit="D"),
        }
    )


def snapshot_examples(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    end_dates: pd.Series,
    export_date: pd.Timestamp,
    instruments: InstrumentsConfig,
    features: FeaturesConfig,
) -> pd.DataFrame:
    """One row per episode and calendar date (:func:`snapshot_dates`) while it was open,
    built exactly as :func:`asof_examples` builds a row as of that date.

    ``end_dates`` is each episode's discharge date by client_id (NaT while open); an
    episode is open on a date before its discharge date (an export taken on the discharge
    day shows it closed).
    """
    prefix = appointment_prefix(clients, sessions, instruments, features, at="all")
    prefix = prefix.reset_index(drop=True)
    first_seen = prefix.groupby("client_id", sort=False)["session_date"].min()
    end = end_dates.reindex(first_seen.index)
    last_open = (end - pd.Timedelta(days=1)).fillna(export_date).clip(upper=export_date)
    grid = snapshot_dates(first_seen, last_open, export_date, features.snapshot_days)
    grid = grid.sort_values("cutoff_date", kind="stable")
    if grid.empty:  # no appointment at all: nothing to snapshot (and nothing to merge on)
        none = prefix.iloc[:0].assign(cutoff_date=pd.Series(dtype="datetime64[ns]"), landmark=0)
        return _complete(none, clients)
    # the state as of d is the client's last appointment on or before d (ties: the last
    # in order, as `asof_examples` takes it)
    rows = prefix.assign(_order=np.arange(len(prefix))).sort_values(
        ["session_date", "_order"], kind="stable"
    )
    snaps = pd.merge_asof(
        grid,
        rows,
        left_on="cutoff_date",
        right_on="session_date",
        by="client_id",
        direction="backward",
        allow_exact_matches=True,
    ).drop(columns="_order")
    snaps["landmark"] = snaps["appointments"].astype(int)
    return _complete(snaps, clients)


def training_examples(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    endings: pd.DataFrame,
    export_date: pd.Timestamp,
    instruments: InstrumentsConfig,
    features: FeaturesConfig,
) -> pd.DataFrame:
    """Training examples of every episode, open ones included: landmarks and snapshots.

    * a *landmark* (:func:`landmark_examples`) is the state just after one of the
      landmark appointments;
    * a *snapshot* (:func:`snapshot_examples`) is the state on a calendar date (every
      ``features.snapshot_days`` days back from the export) while the episode was open,
      built exactly as `score` builds a row as of a date (the last appointment on or
      before it, time since it counted up to the date).

    Each example carries what happened after it, for the time-to-event targets:
    ``outcome`` (1 dropout, 0 another ending, NaN open at export or unknown),
    ``event_days`` (days from the example to the episode's end; NaN while open) and
    ``follow_up_days`` (days from the example to the export: how long its future was
    watched). No example is weighted here, and nothing after an example's cutoff enters
    its features.

    Parameters
    ----------
    endings
        :func:`features.labels.episode_endings` of ``clients``.
    export_date
        The date the export was taken (its latest appointment).
    """
    args = (instruments, features)
    out = pd.concat(
        [
            landmark_examples(clients, sessions, *args).assign(example_kind="landmark"),
            snapshot_examples(clients, sessions, endings["end_date"], export_date, *args).assign(
                example_kind="snapshot"
            ),
        ],
        ignore_index=True,
    )
    ending = endings.reindex(out["client_id"].to_numpy())
    out["outcome"] = ending["outcome"].to_numpy(dtype=float)
    event = pd.to_datetime(ending["end_date"]).to_numpy() - out["cutoff_date"].to_numpy()
    event_days = pd.to_timedelta(event).days.to_numpy(dtype=float)
    out["event_days"] = np.where(ending["open"].to_numpy(dtype=bool), np.nan, event_days)
    out["follow_up_days"] = (export_date - out["cutoff_date"]).dt.days.to_numpy(dtype=float)
    order = out.sort_values(["client_id", "cutoff_date", "example_kind"], kind="stable").index
    return out.loc[order].reset_index(drop=True)


def build_examples(tables, config: Config) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Training examples of every episode (landmarks and snapshots, open episodes
    included), the contract's label of each episode, and how each episode ended."""
    labels = episode_outcomes(tables, config)
    endings = endings_of(tables, config)
    examples = training_examples(
        tables.clients,
        tables.sessions,
        endings,
        export_date(tables),
        config.instruments,
        config.features,
    )
    return examples, labels, endings
