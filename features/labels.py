"""The label: does the episode end in dropout (CONTRACT.md, "The label")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from configs.config import Config


def episode_labels(
    clients: pd.DataFrame,
    *,
    last_attended: pd.Series | None = None,
    extraction_date: pd.Timestamp | None = None,
    inactive_as_dropout: bool = False,
    inactive_days: int = 90,
) -> pd.Series:
    """1.0 for dropout, 0.0 for completion, NaN for unlabelled episodes.

    ``transferred``/``other`` and active episodes carry no label. With
    ``inactive_as_dropout`` an active episode whose last attended session (or intake,
    when none) lies more than ``inactive_days`` before ``extraction_date`` is a dropout.

    Parameters
    ----------
    clients
        Validated clients table.
    last_attended
        Last attended session date per client_id (for the inactivity rule).
    extraction_date
        The date the export was taken (for the inactivity rule).
    inactive_as_dropout, inactive_days
        The config switch of CONTRACT.md.

    Returns
    -------
    pandas.Series
        Indexed by client_id.
    """
    reason = clients["discharge_reason"].astype("string").str.strip().str.lower()
    label = np.select(
        [
            reason.eq("dropout").fillna(False).to_numpy(),
            reason.eq("completed").fillna(False).to_numpy(),
        ],
        [1.0, 0.0],
        default=np.nan,
    )
    out = pd.Series(label, index=pd.Index(clients["client_id"].to_numpy(), name="client_id"))
    if inactive_as_dropout:
        if extraction_date is None:
            raise ValueError("inactive_as_dropout needs the extraction date")
        active = (reason.isna() & clients["discharge_date"].isna()).to_numpy()
        seen = pd.Series(clients["intake_date"].to_numpy(), index=out.index)
        if last_attended is not None:
            seen = last_attended.reindex(out.index).fillna(seen)
        idle = (extraction_date - seen).dt.days.to_numpy() > inactive_days
        out[active & idle] = 1.0
    return out


def active_mask(clients: pd.DataFrame) -> pd.Series:
    """True for episodes still open: discharge_date and discharge_reason both blank."""
    reason = clients["discharge_reason"].astype("string").str.strip()
    blank_reason = reason.isna() | reason.eq("")
    return pd.Series(
        (blank_reason & clients["discharge_date"].isna()).to_numpy(),
        index=pd.Index(clients["client_id"].to_numpy(), name="client_id"),
    )


def open_on(clients: pd.DataFrame, date: pd.Timestamp) -> np.ndarray:
    """True for episodes open on ``date``: intake on or before it and not yet discharged
    (discharge blank or after it; an export taken on the discharge day shows it closed)."""
    discharge = clients["discharge_date"]
    return ((clients["intake_date"] <= date) & (discharge.isna() | (discharge > date))).to_numpy()


def episode_endings(
    clients: pd.DataFrame,
    *,
    last_seen: pd.Series | None = None,
    extraction_date: pd.Timestamp | None = None,
    inactive_as_dropout: bool = False,
    inactive_days: int = 90,
) -> pd.DataFrame:
    """How and when each episode ended, for a time-to-event view of the label.

    Dropout competes with completion, transfer and other endings (EVIDENCE.md, Nicolaie
    et al. 2013): ``outcome`` is 1.0 for a dropout, 0.0 for every other ending (the
    episode ended, not in dropout) and NaN for an episode still open, which is
    *censored* at the export, not unlabelled. ``end_date`` is the discharge date; an
    episode closed with a reason but no date ends at its last appointment (``last_seen``),
    the latest date the record vouches for. With ``inactive_as_dropout`` an open episode
    idle for more than ``inactive_days`` is a dropout ending ``inactive_days`` after it
    was last seen (CONTRACT.md's switch).

    Returns
    -------
    pandas.DataFrame
        Indexed by client_id: ``outcome``, ``end_date`` and ``open`` (True while the
        episode is open at the export: censored).
    """
    index = pd.Index(clients["client_id"].to_numpy(), name="client_id")
    reason = clients["discharge_reason"].astype("string").str.strip().str.lower()
    reason = reason.mask(reason == "")
    closed = (reason.notna() | clients["discharge_date"].notna()).to_numpy()
    known = reason.isin(["dropout", "completed", "transferred", "other"]).fillna(False).to_numpy()
    # a closed episode whose reason is blank or unknown cannot be labelled: NaN, not open
    outcome = np.where(known, reason.eq("dropout").fillna(False).to_numpy().astype(float), np.nan)
    end = pd.Series(pd.to_datetime(clients["discharge_date"]).to_numpy(), index=index)
    seen = pd.Series(pd.to_datetime(clients["intake_date"]).to_numpy(), index=index)
    if last_seen is not None:
        seen = last_seen.reindex(index).fillna(seen)
    end = end.where(end.notna() | ~closed, seen)
    out = pd.DataFrame(
        {"outcome": outcome, "end_date": end.to_numpy(), "open": ~closed}, index=index
    )
    if inactive_as_dropout:
        if extraction_date is None:
            raise ValueError("inactive_as_dropout needs the extraction date")
        idle_end = seen + pd.Timedelta(days=inactive_days)
        idle = ~closed & (idle_end < extraction_date).to_numpy()
        out.loc[idle, "outcome"] = 1.0
        out.loc[idle, "end_date"] = idle_end[idle].to_numpy()
        out.loc[idle, "open"] = False
    return out


def episode_outcomes(tables, config: Config) -> pd.Series:
    """Every episode's label (1 dropout, 0 completed, NaN none), as the contract defines it.

    The extraction date (for the optional inactivity label) is the latest session date.
    """
    sessions = tables.sessions
    attended = sessions[sessions["status"].eq("attended")]
    return episode_labels(
        tables.clients,
        last_attended=attended.groupby("client_id")["session_date"].max(),
        extraction_date=sessions["session_date"].max() if len(sessions) else pd.NaT,
        inactive_as_dropout=config.label.inactive_as_dropout,
        inactive_days=config.label.inactive_days,
    )


def export_date(tables) -> pd.Timestamp:
    """The date the export was taken: its latest appointment."""
    return tables.sessions["session_date"].max()


def endings_of(tables, config: Config) -> pd.DataFrame:
    """How and when each episode ended (open ones censored at the export)."""
    sessions = tables.sessions
    return episode_endings(
        tables.clients,
        last_seen=sessions.groupby("client_id")["session_date"].max(),
        extraction_date=export_date(tables),
        inactive_as_dropout=config.label.inactive_as_dropout,
        inactive_days=config.label.inactive_days,
    )
