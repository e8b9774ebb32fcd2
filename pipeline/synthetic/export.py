"""The clinic's export: the simulation cut at the extraction date as contract tables.

:func:`build_cohort` runs the whole generator for one seed: intake
(:mod:`pipeline.synthetic.cohort`), the episodes (:mod:`pipeline.synthetic.simulate`) and
the ratings (:mod:`pipeline.synthetic.ratings`), then turns what happened up to the export
into the ``clients`` and ``sessions`` tables of ``../shared/CONTRACT.md``: lower-case
columns, ISO dates, blanks for missing values. Sites differ in what they collect (WAI-SR
items, WAI-SR subscale means only, SRS, ORS) and every collected rating is sometimes
missing. :func:`generate_cohort` returns the two tables and :func:`write_cohort` writes
them as CSV files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.io.output import write_csv
from pipeline.synthetic.cohort import CONCERNS, PROGRAMS, REFERRALS, draw_clients
from pipeline.synthetic.profiles import PROFILES, ClinicProfile, ClinicSite
from pipeline.synthetic.ratings import draw_ratings
from pipeline.synthetic.simulate import (
    ATTENDED,
    REASON_NAMES,
    STATUS_NAMES,
    SUBSCALES,
    Rows,
    Snapshot,
    run_episodes,
    start_episodes,
)

if TYPE_CHECKING:
    from configs.config import InstrumentsConfig, WaiConfig

__all__ = ["Cohort", "build_cohort", "generate_cohort", "iso_dates", "write_cohort"]

_RATING_MISSING = 0.10  # each collected instrument missing at random on an attended session
_ITEM_MISSING = 0.015  # single WAI item skipped
_COVER_SHARE = 0.03  # sessions held by another therapist of the same site


@dataclass
class Cohort:
    """The exported frames with what the simulation knew behind them."""

    clients: pd.DataFrame
    sessions: pd.DataFrame
    client_ids: np.ndarray  # by simulation index
    order: np.ndarray  # simulation indices in intake order (the order of ``clients``)
    origin: np.datetime64  # day 0, the extraction date
    end_day: np.ndarray
    reason: np.ndarray
    snapshot: Snapshot | None
    profile: ClinicProfile


@dataclass(frozen=True)
class _Collected:
    """What each session's site collects, and which collected ratings are present."""

    wai_mode: np.ndarray  # "items", "means" or "" (not collected)
    srs_mode: np.ndarray  # "items", "total", "both" or "" (not collected)
    wai_ok: np.ndarray
    srs_ok: np.ndarray
    ors_ok: np.ndarray


def iso_dates(days: np.ndarray, origin: np.datetime64) -> np.ndarray:
    """Day offsets from ``origin`` as ISO date strings (object array)."""
    return np.datetime_as_string(origin + days.astype("timedelta64[D]"), unit="D").astype(object)


def _int_column(values: np.ndarray) -> pd.arrays.IntegerArray:
    mask = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype(np.int64), mask)


def _running_ids(prefix: str, n: int, min_width: int) -> np.ndarray:
    """``prefix`` and a zero-padded running number 1..n, as a clinic numbers its records."""
    width = max(min_width, len(str(n)))
    return np.array([f"{prefix}{i + 1:0{width}d}" for i in range(n)], dtype=object)


def _resolve(
    profile: ClinicProfile | None, intake_window_days: int | None
) -> tuple[ClinicProfile, int]:
    """The profile to use and the intake window: the argument when given, else the profile's."""
    profile = PROFILES["default"] if profile is None else profile
    window = profile.intake_window_days if intake_window_days is None else intake_window_days
    if window < 1:
        raise ValueError(f"intake_window_days must be at least 1, got {window}")
    return profile, window


def _extraction_day(extraction_date: str) -> np.datetime64:
    """The extraction date as a numpy day, the origin of every simulated day."""
    try:
        return np.datetime64(pd.Timestamp(extraction_date).date(), "D")
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"extraction_date {extraction_date!r} is not an ISO date (YYYY-MM-DD)"
        ) from exc


def _clients_table(
    c: dict[str, np.ndarray],
    end_day: np.ndarray,
    reason: np.ndarray,
    client_ids: np.ndarray,
    ther_ids: np.ndarray,
    order: np.ndarray,
    origin: np.datetime64,
    sites: tuple[ClinicSite, ...],
    export_day: int,
) -> pd.DataFrame:
    """One row per episode in intake order; episodes open at the export have no discharge."""
    site_names = np.array([s.name for s in sites], dtype=object)
    active = end_day > export_day
    discharge = iso_dates(end_day, origin)
    discharge[active] = None
    reason_txt = REASON_NAMES[reason].copy()
    reason_txt[active] = None
    clients = pd.DataFrame(
        {
            "client_id": client_ids,
            "therapist_id": ther_ids[c["therapist"]],
            "intake_date": iso_dates(c["intake_day"], origin),
            "site": site_names[c["site"]],
            "program": np.array(PROGRAMS, dtype=object)[c["program"]],
            "age": c["age"],
            "gender": c["gender"],
            "primary_concern": np.array(CONCERNS, dtype=object)[c["concern"]],
            "referral_source": np.array(REFERRALS, dtype=object)[c["referral"]],
            "planned_sessions": c["planned"],
            "discharge_date": discharge,
            "discharge_reason": reason_txt,
        }
    )
    return clients.iloc[order].reset_index(drop=True)


def _appointments(
    rows: Rows, rank: np.ndarray, export_day: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The simulated appointments up to the export, sorted by client (intake order) and day.

    Returns the client (simulation index), day, status code, latent alliance and ORS of
    each appointment.
    """
    cl = np.concatenate(rows.client)
    day = np.concatenate(rows.day)
    status = np.concatenate(rows.status)
    latent = np.concatenate(rows.latent)
    ors = np.concatenate(rows.ors)
    keep = day <= export_day  # nothing after the export is in it
    srt = np.lexsort((day[keep], rank[cl[keep]]))
    sel = np.flatnonzero(keep)[srt]
    return cl[sel], day[sel], status[sel], latent[sel], ors[sel]


def _collected(
    went: np.ndarray, site: np.ndarray, sites: tuple[ClinicSite, ...], rng: np.random.Generator
) -> _Collected:
    """Each session's site's instruments; each is missing at random on ~10% of attended."""
    r = went.size
    wai_mode = np.array([s.wai or "" for s in sites], dtype=object)[site]
    srs_mode = np.array([s.srs or "" for s in sites], dtype=object)[site]
    ors_on = np.array([s.ors for s in sites])[site]
    wai_ok = went & (wai_mode != "") & (rng.random(r) >= _RATING_MISSING)
    srs_ok = went & (srs_mode != "") & (rng.random(r) >= _RATING_MISSING)
    ors_ok = went & ors_on & (rng.random(r) >= _RATING_MISSING)
    return _Collected(wai_mode, srs_mode, wai_ok, srs_ok, ors_ok)


def _wai_columns(
    items: np.ndarray, collect: _Collected, wai: WaiConfig, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """WAI items where the site exports items (single items sometimes skipped), and the
    subscale means where it exports means only."""
    means = {}
    for name in SUBSCALES:
        cols = np.array(wai.subscales[name]) - 1
        means[f"wai_{name}"] = np.where(
            collect.wai_ok & (collect.wai_mode == "means"),
            np.round(items[:, cols].mean(axis=1), 2),
            np.nan,
        )
    item_ok = (collect.wai_ok & (collect.wai_mode == "items"))[:, None] & (
        rng.random(items.shape) >= _ITEM_MISSING
    )
    return np.where(item_ok, items, np.nan), means


def _cover_therapists(
    c: dict[str, np.ndarray],
    cl: np.ndarray,
    site: np.ndarray,
    ther_ids: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Rarely another therapist of the same site covers the appointment (None otherwise)."""
    primary = c["therapist"][cl]
    n_local = c["n_ther_site"][site]
    local = primary - c["ther_first"][site]
    other = c["ther_first"][site] + (local + rng.integers(1, np.maximum(n_local, 2))) % n_local
    cover = (rng.random(cl.size) < _COVER_SHARE) & (n_local > 1)
    return np.where(cover, ther_ids[other], None)


def _sessions_table(
    c: dict[str, np.ndarray],
    rows: Rows,
    rank: np.ndarray,
    client_ids: np.ndarray,
    ther_ids: np.ndarray,
    origin: np.datetime64,
    profile: ClinicProfile,
    instruments: InstrumentsConfig,
    rng: np.random.Generator,
    export_day: int,
) -> pd.DataFrame:
    """One row per appointment up to the export, with the ratings its site exports."""
    cl, day, status, latent, ors = _appointments(rows, rank, export_day)

    style = rng.normal(0.0, 0.45, rank.size)[cl]  # a client's way of using the SRS line
    rt = draw_ratings(latent, ors, style, instruments, rng)
    site = c["site"][cl]
    collect = _collected(status == ATTENDED, site, profile.sites, rng)
    wai = instruments.wai
    items, means = _wai_columns(rt["wai_items"], collect, wai, rng)
    session_ther = _cover_therapists(c, cl, site, ther_ids, rng)

    data: dict[str, object] = {
        "client_id": client_ids[cl],
        "session_date": iso_dates(day, origin),
        "status": STATUS_NAMES[status],
        "therapist_id": session_ther,
    }
    for j in range(wai.n_items):
        data[f"wai_{j + 1}"] = _int_column(items[:, j])
    data.update(means)
    # A site exporting SRS items only leaves the total blank, one exporting the total
    # only leaves the items blank (the contract computes totals from items when present).
    srs_items_ok = collect.srs_ok & np.isin(collect.srs_mode, ("items", "both"))
    srs_total_ok = collect.srs_ok & np.isin(collect.srs_mode, ("total", "both"))
    srs_items = np.where(srs_items_ok[:, None], rt["srs_items"], np.nan)
    for j in range(instruments.srs.n_items):
        data[f"srs_{j + 1}"] = srs_items[:, j]
    data["srs_total"] = np.where(srs_total_ok, rt["srs_total"], np.nan)
    data["ors_total"] = np.where(collect.ors_ok, rt["ors_total"], np.nan)
    return pd.DataFrame(data)


def build_cohort(
    n_clients: int,
    seed: int,
    instruments: InstrumentsConfig,
    extraction_date: str,
    intake_window_days: int | None,
    profile: ClinicProfile | None,
    *,
    snapshot: bool = False,
    export_day: int = 0,
) -> Cohort:
    """Simulate and cut at the export; see :func:`generate_cohort`.

    ``snapshot`` also keeps every open episode's state at day 0 (for the ceiling);
    ``export_day`` cuts the export that many days after the extraction date instead of
    on it, which shows the future of the same cohort (dates stay relative to the
    extraction date; the tests compare it with the truth).

    Returns
    -------
    Cohort
        The two tables with the simulation's client ids, intake order, every episode's
        end and reason, and the snapshot when asked for.
    """
    if n_clients < 1:
        raise ValueError(f"n_clients must be at least 1, got {n_clients}")
    profile, window = _resolve(profile, intake_window_days)
    origin = _extraction_day(extraction_date)

    rng = np.random.default_rng(seed)
    c = draw_clients(n_clients, rng, profile, window)
    ep = start_episodes(c, rng, profile)
    rows = Rows()
    snap = run_episodes(ep, rng, rows, profile, snapshot_after=0 if snapshot else None)

    # Client ids follow intake order, as a clinic's running numbers would.
    order = np.argsort(c["intake_day"], kind="stable")
    rank = np.empty(n_clients, dtype=np.int64)
    rank[order] = np.arange(n_clients)
    client_ids = _running_ids("C", n_clients, 6)[rank]
    ther_ids = _running_ids("T", c["ther_site"].size, 3)

    clients = _clients_table(
        c, ep.end_day, ep.reason, client_ids, ther_ids, order, origin, profile.sites, export_day
    )
    sessions = _sessions_table(
        c, rows, rank, client_ids, ther_ids, origin, profile, instruments, rng, export_day
    )
    return Cohort(
        clients, sessions, client_ids, order, origin, ep.end_day, ep.reason, snap, profile
    )


def generate_cohort(
    n_clients: int,
    seed: int,
    instruments: InstrumentsConfig,
    extraction_date: str = "2026-06-30",
    intake_window_days: int | None = None,
    profile: ClinicProfile | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate a synthetic cohort of treatment episodes and their appointments.

    The data follow ``../shared/CONTRACT.md`` exactly: lower-case column names, ISO date
    strings, blanks for missing values, every rating inside its instrument's range and
    every session between intake and discharge (or the extraction date for open
    episodes). The effects built in are documented in the package docstring
    (:mod:`pipeline.synthetic`) and cite ``../shared/EVIDENCE.md``.

    Parameters
    ----------
    n_clients
        Number of treatment episodes (rows of ``clients``).
    seed
        Seed of the numpy random generator; the same seed gives identical frames.
    instruments
        Instrument definitions (``configs.config.InstrumentsConfig``): the WAI item key
        and the ranges of WAI, SRS and ORS values. Ratings are rescaled to these ranges,
        so a profile's ``instrument_overrides`` take effect when merged in here
        (:meth:`ClinicProfile.instruments_for`).
    extraction_date
        ISO date of the export. Intakes fall in the window before it; nothing after it
        is recorded and episodes not closed by then are active.
    intake_window_days
        How many days before the extraction date the intakes fall in; None takes the
        profile's (913, about 2.5 years, by default). A short window gives a caseload
        that is mostly active, as the scoring benchmark needs.
    profile
        The clinic to simulate (``PROFILES``); None is ``PROFILES["default"]``, whose
        output is the generator's original cohort for the same seed.

    Returns
    -------
    clients : pandas.DataFrame
        One row per episode with the contract's clients columns.
    sessions : pandas.DataFrame
        One row per scheduled appointment with the contract's sessions columns, sorted by
        client and date.

    Raises
    ------
    ValueError
        When ``n_clients`` or the intake window is below 1 or ``extraction_date`` is not
        an ISO date.
    """
    cohort = build_cohort(
        n_clients, seed, instruments, extraction_date, intake_window_days, profile
    )
    return cohort.clients, cohort.sessions


def write_cohort(
    out_dir: Path,
    n_clients: int,
    seed: int,
    instruments: InstrumentsConfig,
    profile: ClinicProfile | None = None,
) -> tuple[Path, Path]:
    """Generate a cohort and write ``clients.csv`` and ``sessions.csv`` atomically.

    Each file is written to a temporary file in ``out_dir`` and moved into place with
    ``os.replace`` (:func:`pipeline.io.output.write_csv`), so a reader never sees a
    half-written file.

    Parameters
    ----------
    out_dir
        Destination folder; created when missing.
    n_clients, seed, instruments, profile
        As for :func:`generate_cohort`.

    Returns
    -------
    tuple of pathlib.Path
        The paths of ``clients.csv`` and ``sessions.csv``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clients, sessions = generate_cohort(n_clients, seed, instruments, profile=profile)
    clients_path = out_dir / "clients.csv"
    sessions_path = out_dir / "sessions.csv"
    write_csv(clients, clients_path)
    write_csv(sessions, sessions_path)
    return clients_path, sessions_path
