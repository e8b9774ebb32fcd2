"""Feature rows for a client at a moment in time: training landmarks and scoring as-of.

A training example is a *landmark*: the state of an episode just after its 1st, 2nd, ...
scheduled appointment (the landmark list in config: dense early, sparser later, so a
client at appointment 20 is scored by a model that has seen clients at appointment 20),
labelled with the episode's eventual outcome and built only from the appointments up
to that one. Scoring builds the same row as of a date, from the
appointments on or before it. Both take the row of one appointment from
:func:`appointment_prefix`, whose every column is a cumulative (backward-looking)
function of the client's appointments, so a later appointment can never change it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.alliance import alliance_level, alliance_prefix, low_alliance_with_misses
from features.attendance import attendance_prefix
from features.instruments import derive_scores
from features.intake import intake_features
from features.schema import (
    ALLIANCE_SCALES,
    CATEGORICAL_FEATURES,
    MODEL_INPUTS,
    NUMERIC_FEATURES,
    ROW_FEATURES,
)
from pipeline.config import FeaturesConfig, InstrumentsConfig

KEY_COLUMNS = ("client_id", "landmark", "cutoff_date")


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
    sessions = sessions[sessions["client_id"].isin(clients["client_id"])]
    scored = derive_scores(sessions, instruments)
    order_cols = ["client_id", "session_date"] + (["row"] if "row" in scored else [])
    scored = scored.sort_values(order_cols, kind="stable").reset_index(drop=True)
    intake = pd.Series(clients["intake_date"].to_numpy(), index=clients["client_id"].to_numpy())
    # reindex rather than map: map cannot cast an empty date Series (no clients at all)
    scored["intake_date"] = intake.reindex(scored["client_id"].to_numpy()).to_numpy()
    # the features group by client many times: integer codes (rows are sorted by client, so
    # a new code starts where the id changes) are hashed far faster than id strings
    ids = scored["client_id"].to_numpy()
    codes = np.cumsum(np.r_[False, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, np.int64)
    grouped = scored.assign(client_id=codes)
    attendance = attendance_prefix(grouped)
    if isinstance(at, str) and at == "all":
        rows = np.arange(len(scored))
    elif isinstance(at, str) and at == "last":
        rows = np.flatnonzero(np.r_[codes[1:] != codes[:-1], True]) if len(codes) else codes
    elif isinstance(at, str):
        raise ValueError(f"at must be 'all', 'last' or appointment numbers, got {at!r}")
    else:
        rows = np.flatnonzero(attendance["appointments"].isin(list(at)).to_numpy())
    alliance = alliance_prefix(
        grouped,
        attendance["session_number"],
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
            attendance.iloc[rows],
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
    """Training examples: one per episode after each landmark appointment it reached.

    Each example carries ``weight`` = 1 / (number of landmarks of its episode), so every
    episode counts once however many appointments it reached.

    Returns
    -------
    pandas.DataFrame
        Key columns, ``weight``, the model features and ``ctx_*`` context columns.
    """
    rows = appointment_prefix(clients, sessions, instruments, features, at=features.landmark_list())
    rows["landmark"] = rows["appointments"].astype(int)
    rows["cutoff_date"] = rows["session_date"]
    out = _complete(rows, clients)
    out.insert(3, "weight", 1.0 / out.groupby("client_id")["landmark"].transform("size"))
    return out


def asof_examples(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    as_of: pd.Timestamp,
    instruments: InstrumentsConfig,
    features: FeaturesConfig,
) -> pd.DataFrame:
    """Scoring rows: each client's state as of ``as_of`` from appointments on or before it.

    Clients with no appointment on or before ``as_of`` get no row (the caller lists them
    as not scored).
    """
    known = sessions[sessions["session_date"] <= as_of]
    last = appointment_prefix(clients, known, instruments, features, at="last")
    last["landmark"] = last["appointments"].astype(int)
    last["cutoff_date"] = as_of
    return _complete(last, clients)


def model_inputs(examples: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, in the declared order, with one missing marker (NaN).

    These are the features built from the client's own rows plus ``therapist_id``; the
    history features are added by the model from what it learnt (``features.history``).
    """
    X = examples.loc[:, list(MODEL_INPUTS)].copy()
    for name in (*CATEGORICAL_FEATURES, "therapist_id"):
        X[name] = X[name].astype("string").to_numpy(dtype=object, na_value=np.nan)
    for name in (f for f in NUMERIC_FEATURES if f in ROW_FEATURES):
        X[name] = pd.to_numeric(X[name], errors="coerce").astype(float)
    return X
