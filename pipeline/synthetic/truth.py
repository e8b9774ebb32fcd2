"""What happens after the export to the episodes still open, and the ceiling on predicting it.

The simulation does not stop at the extraction date: its own continuation of each
episode open at the export is that client's eventual outcome and discharge date. Each
such episode is also continued many more times from its exact state at the export
(latent alliance, ruptures, a decision to leave already taken, counters, traits), with
fresh randomness; the share of those continuations ending in dropout is the client's
true probability of dropping out, the ceiling a model could reach. :func:`generate_clinic`
returns the export with this truth (:class:`SyntheticClinic`) and :func:`write_clinic`
writes all three tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.io.output import write_csv
from pipeline.synthetic.export import Cohort, build_cohort, iso_dates
from pipeline.synthetic.profiles import ClinicProfile
from pipeline.synthetic.simulate import DROPOUT, REASON_NAMES, Episodes, Rows, run_episodes

if TYPE_CHECKING:
    from configs.config import InstrumentsConfig

__all__ = ["SyntheticClinic", "generate_clinic", "write_clinic"]

# Replicas of open episodes continued at once; bounds the ceiling's memory (~300 bytes
# of state per replica) while keeping each numpy call large enough to be fast.
_REPLICA_CHUNK = 200_000
# The ceiling's randomness comes from its own stream, so asking for it never changes
# the cohort drawn for the same seed.
_CEILING_STREAM = 0x0CE1


@dataclass(frozen=True)
class SyntheticClinic:
    """A synthetic export together with what happened after it.

    Attributes
    ----------
    clients, sessions
        The export, exactly as :func:`~pipeline.synthetic.export.generate_cohort` returns
        it for the same arguments.
    truth
        One row per client active at the export, in ``clients`` order: ``client_id``;
        ``outcome``, the eventual discharge reason (completed, dropout, transferred,
        other); ``discharge_date``, the eventual discharge (ISO, after the extraction
        date); ``dropout_within_horizon``, the outcome is dropout and the discharge falls
        on or before the extraction date plus the horizon; ``p_dropout``, the client's
        true probability of ending in dropout given everything about the episode as it
        stood at the export, latent traits included (the ceiling no model can beat);
        ``p_dropout_within_horizon``, the same for a dropout discharge by the horizon.
    """

    clients: pd.DataFrame
    sessions: pd.DataFrame
    truth: pd.DataFrame


def _ceiling(
    episodes: Episodes,
    draws: int,
    horizon_day: int,
    rng: np.random.Generator,
    profile: ClinicProfile,
) -> tuple[np.ndarray, np.ndarray]:
    """Each open episode's probability of ending in dropout, overall and by a day.

    Every episode is copied ``draws`` times and each copy is played to its end with
    fresh randomness from its state at the export. A copy discharged on or before day 0
    (a dropout who leaves without a trailing appointment, discharged from an earlier
    last appointment) contradicts what the export shows, the episode still open, so it
    is left out of the shares: they are conditional on being open at the export, as the
    episode's real future is.

    Returns
    -------
    p_dropout, p_by_horizon : numpy.ndarray
        Per episode, the share of its copies ending in dropout, and ending in dropout
        with discharge on or before ``horizon_day``.
    """
    m = episodes.alive.size
    p = np.zeros(m)
    p_by = np.zeros(m)
    per_chunk = max(1, _REPLICA_CHUNK // draws)
    for lo in range(0, m, per_chunk):
        sel = np.arange(lo, min(m, lo + per_chunk))
        reps = episodes.take(np.repeat(sel, draws))  # each episode's copies side by side
        run_episodes(reps, rng, Rows(record=False), profile)
        end = reps.end_day.reshape(sel.size, draws)
        dropout = reps.reason.reshape(sel.size, draws) == DROPOUT
        valid = end > 0
        # Should every copy contradict the export (vanishingly unlikely), use them all
        # rather than divide by zero.
        valid = np.where(valid.any(axis=1)[:, None], valid, True)
        n_valid = valid.sum(axis=1)
        p[sel] = (dropout & valid).sum(axis=1) / n_valid
        p_by[sel] = (dropout & valid & (end <= horizon_day)).sum(axis=1) / n_valid
    return p, p_by


def _truth(cohort: Cohort, seed: int, horizon_days: int, draws: int) -> pd.DataFrame:
    """The open caseload's real futures and their probabilities (the ceiling)."""
    end, why = cohort.end_day, cohort.reason
    open_ = end > 0
    dropout = why == DROPOUT
    by_horizon = dropout & (end <= horizon_days)
    # An episode closed in the simulation before day 0 but discharged after it (the
    # discharge paperwork follows the last appointment by days or weeks) has nothing
    # random left: its probabilities are its settled outcome.
    p = dropout.astype(float)
    p_by = by_horizon.astype(float)
    snap = cohort.snapshot
    # Copied but not open: a dropout discharged, from an earlier last appointment, on or
    # before day 0; the export shows it closed, so it is not in the caseload.
    still_open = np.flatnonzero(open_[snap.index])
    rng = np.random.default_rng([seed, _CEILING_STREAM])
    p_open, p_by_open = _ceiling(
        snap.episodes.take(still_open), draws, horizon_days, rng, cohort.profile
    )
    p[snap.index[still_open]] = p_open
    p_by[snap.index[still_open]] = p_by_open

    sel = cohort.order[open_[cohort.order]]
    return pd.DataFrame(
        {
            "client_id": cohort.client_ids[sel],
            "outcome": REASON_NAMES[why[sel]],
            "discharge_date": iso_dates(end[sel], cohort.origin),
            "dropout_within_horizon": by_horizon[sel],
            "p_dropout": p[sel],
            "p_dropout_within_horizon": p_by[sel],
        }
    )


def generate_clinic(
    n_clients: int,
    seed: int,
    instruments: InstrumentsConfig,
    profile: ClinicProfile | None = None,
    *,
    extraction_date: str = "2026-06-30",
    intake_window_days: int | None = None,
    horizon_days: int = 60,
    ceiling_draws: int = 200,
) -> SyntheticClinic:
    """Generate a cohort with the truth and the ceiling for its open caseload.

    The export is :func:`~pipeline.synthetic.export.generate_cohort`'s. For every client
    active at the export the simulation's own continuation gives the eventual outcome;
    continuing each such episode ``ceiling_draws`` more times from its complete state at
    the export (latent alliance, ruptures, a decision to leave already taken, counters,
    traits), with fresh randomness, gives its true probability of dropout. A model
    scored on the export can be compared with both: the outcomes are what it predicts,
    the probabilities are the best any model could do.

    Parameters
    ----------
    n_clients, seed, instruments, profile, extraction_date, intake_window_days
        As for :func:`~pipeline.synthetic.export.generate_cohort`.
    horizon_days
        The horizon of ``dropout_within_horizon`` and ``p_dropout_within_horizon``:
        discharged as a dropout on or before the extraction date plus this many days (the
        contract's ``risk_within_horizon``).
    ceiling_draws
        Continuations per open episode; the probabilities' standard error is at most
        ``0.5 / sqrt(ceiling_draws)``. Drawn from a stream of their own, so the export is
        the same whatever the number.

    Returns
    -------
    SyntheticClinic
        ``clients``, ``sessions`` and ``truth``; the same seed gives the same three.

    Raises
    ------
    ValueError
        As for :func:`~pipeline.synthetic.export.generate_cohort`, and when
        ``horizon_days`` is negative or ``ceiling_draws`` below 1.
    """
    if horizon_days < 0:
        raise ValueError(f"horizon_days must not be negative, got {horizon_days}")
    if ceiling_draws < 1:
        raise ValueError(f"ceiling_draws must be at least 1, got {ceiling_draws}")
    cohort = build_cohort(
        n_clients, seed, instruments, extraction_date, intake_window_days, profile, snapshot=True
    )
    truth = _truth(cohort, seed, horizon_days, ceiling_draws)
    return SyntheticClinic(cohort.clients, cohort.sessions, truth)


def write_clinic(
    out_dir: Path,
    n_clients: int,
    seed: int,
    instruments: InstrumentsConfig,
    profile: ClinicProfile | None = None,
    *,
    horizon_days: int = 60,
    ceiling_draws: int = 200,
) -> tuple[Path, Path, Path]:
    """Like :func:`~pipeline.synthetic.export.write_cohort`, and also write ``truth.csv``.

    Parameters
    ----------
    out_dir
        Destination folder; created when missing.
    n_clients, seed, instruments, profile, horizon_days, ceiling_draws
        As for :func:`generate_clinic`.

    Returns
    -------
    tuple of pathlib.Path
        The paths of ``clients.csv``, ``sessions.csv`` and ``truth.csv``, each written
        atomically.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clinic = generate_clinic(
        n_clients,
        seed,
        instruments,
        profile,
        horizon_days=horizon_days,
        ceiling_draws=ceiling_draws,
    )
    paths = (out_dir / "clients.csv", out_dir / "sessions.csv", out_dir / "truth.csv")
    for frame, path in zip((clinic.clients, clinic.sessions, clinic.truth), paths, strict=True):
        write_csv(frame, path)
    return paths
