"""Synthetic clinic exports that follow ``../shared/CONTRACT.md``, with a known future.

The cohort is built so a model has something real to find, with the size and direction
of every effect taken from ``../shared/EVIDENCE.md``:

* dropout among closed episodes near 20% for psychotherapy concerns and near 30% for
  substance use, highest for stimulants (Swift & Greenberg 2012; Lappan et al. 2020);
* younger clients and trainee therapists drop out more (Swift & Greenberg 2012), and a
  share of the dropout variance lies between therapists (therapist random effect);
* early alliance of dropouts about 0.55 SD below completers' (Sharf et al. 2010), with the
  effect stronger in longer and residential treatment;
* alliance moves on Bordin's three subscales (bond, goal, task) with a trend and with
  V-shaped ruptures that are repaired or not (EVIDENCE.md, rupture section; Safran et al.
  2011 for the benefit of repair);
* first-appointment non-attendance is elevated (Davis et al. 2020 report about 40% in the
  NHS; sites here range 20-35%);
* sites differ in what they collect: WAI-SR items, WAI-SR subscale means only, SRS, ORS.

A :class:`~pipeline.synthetic.profiles.ClinicProfile` (``PROFILES``) turns the knobs that make
clinics differ: course length, appointment interval, dropout and no-show levels, therapist
spread, the intake window and the site table.

Everything is vectorised over clients: the simulation loops over appointments and updates
numpy vectors for every open episode at once. Each episode carries its own appointment
index, so the simulation can be stopped at the export and continued for any subset of
episodes: :func:`generate_clinic` continues each episode still open at the export many
times from its exact state then, which gives every open client's true probability of
dropping out (the ceiling a model could reach) next to the outcome that really follows.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.synthetic.profiles import PROFILES, ClinicProfile, ClinicSite

if TYPE_CHECKING:
    from configs.config import InstrumentsConfig

__all__ = [
    "PROFILES",
    "ClinicProfile",
    "ClinicSite",
    "SyntheticClinic",
    "generate_clinic",
    "generate_cohort",
    "write_clinic",
    "write_cohort",
]

# --------------------------------------------------------------------------------------
# Fixed design of the synthetic network of clinics (the sites are in the profile)
# --------------------------------------------------------------------------------------

_PSY_CONCERNS = ("depression", "anxiety")
_SUD_CONCERNS = ("alcohol", "opioid", "stimulant", "co_occurring")
_CONCERNS = _PSY_CONCERNS + _SUD_CONCERNS
_PSY_CONCERN_P = (0.55, 0.45)
_SUD_CONCERN_P = (0.35, 0.25, 0.18, 0.22)
# Logit of the per-appointment disengagement hazard by concern: psychotherapy concerns
# calibrated to ~20% dropout among closed episodes (Swift & Greenberg 2012: 19.7%),
# substance use to ~30% (Lappan et al. 2020: 30.4%), stimulants highest (Lappan et al.).
_CONCERN_LOGIT = {
    "depression": -4.75,
    "anxiety": -4.80,
    "alcohol": -4.40,
    "opioid": -4.30,
    "stimulant": -4.00,
    "co_occurring": -4.25,
}

_PROGRAMS = ("outpatient", "intensive_outpatient", "residential")
_PSY_PROGRAM_P = (0.88, 0.12, 0.0)
_SUD_PROGRAM_P = (0.55, 0.27, 0.18)
# Planned course length (sessions) by program, before the profile's course multiplier.
_PLANNED_CHOICES = {
    "outpatient": (6, 8, 10, 12, 12, 16, 16, 20, 24),
    "intensive_outpatient": (12, 16, 20, 24, 24, 30),
    "residential": (4, 6, 8, 8, 10, 12),
}
# Sharf et al. 2010: the alliance-dropout link is stronger in longer and inpatient care.
_PROGRAM_ALLIANCE_WEIGHT = {"outpatient": 1.0, "intensive_outpatient": 1.15, "residential": 1.3}

_REFERRALS = ("self", "court", "physician", "family", "employer")
_PSY_REFERRAL_P = (0.45, 0.02, 0.35, 0.12, 0.06)
_SUD_REFERRAL_P = (0.30, 0.25, 0.20, 0.17, 0.08)
# Mandated and employer referrals carry outside leverage to stay; self-referrals leave
# more easily. Small intake effects: intake data alone predicts weakly (Bennemann 2022).
_REFERRAL_LOGIT = {"self": 0.10, "court": -0.20, "physician": 0.0, "family": 0.0, "employer": -0.10}

_GENDERS = ("female", "male", "non_binary")

_ATTENDED, _NO_SHOW, _LATE_CANCEL, _CANCELLED = 0, 1, 2, 3
_STATUS_NAMES = np.array(["attended", "no_show", "late_cancel", "cancelled"], dtype=object)
_REASON_NAMES = np.array(["", "completed", "dropout", "transferred", "other"], dtype=object)
_COMPLETED, _DROPOUT, _TRANSFERRED, _OTHER = 1, 2, 3, 4

# Internal order of Bordin's subscales in the latent arrays.
_SUBSCALES = ("bond", "goal", "task")

_MAX_APPOINTMENTS = 400  # safety stop; every episode ends long before this
_RATING_MISSING = 0.10  # each collected instrument missing at random on an attended session
_ITEM_MISSING = 0.015  # single WAI item skipped
_COVER_SHARE = 0.03  # sessions held by another therapist of the same site
_UNBOOKED = np.iinfo(np.int64).min  # no appointment day fixed in advance
# Replicas of open episodes continued at once; bounds the ceiling's memory (~300 bytes
# of state per replica) while keeping each numpy call large enough to be fast.
_REPLICA_CHUNK = 200_000
# The ceiling's randomness comes from its own stream, so asking for it never changes
# the cohort drawn for the same seed.
_CEILING_STREAM = 0x0CE1


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _choice_index(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _iso(days: np.ndarray, origin: np.datetime64) -> np.ndarray:
    """Day offsets from ``origin`` as ISO date strings (object array)."""
    return np.datetime_as_string(origin + days.astype("timedelta64[D]"), unit="D").astype(object)


def _rescale(x: np.ndarray, lo0: float, hi0: float, lo: float, hi: float) -> np.ndarray:
    """Map values simulated on the canonical range [lo0, hi0] onto the configured range."""
    return lo + (x - lo0) * (hi - lo) / (hi0 - lo0)


# --------------------------------------------------------------------------------------
# Clients, therapists and sites
# --------------------------------------------------------------------------------------


def _draw_clients(
    n: int, rng: np.random.Generator, profile: ClinicProfile, window_days: int
) -> dict[str, np.ndarray]:
    """Intake attributes, site, therapist and the therapist's characteristics."""
    sites = profile.sites
    n_sites = len(sites)
    site_w = np.array([s.weight for s in sites])
    site = rng.choice(n_sites, size=n, p=site_w / site_w.sum())

    # Therapists: about 60 episodes each over the window, at least 3 per site. Caseloads
    # differ (Dirichlet weights). A quarter are trainees (higher dropout, Swift & Greenberg
    # 2012). Each therapist has a random effect on dropout and on the bond they build
    # (EVIDENCE.md: therapist differences; warmth predicts alliance).
    site_counts = np.bincount(site, minlength=n_sites)
    n_ther_site = np.maximum(3, np.rint(site_counts / 60).astype(int))
    ther_first = np.concatenate([[0], np.cumsum(n_ther_site)[:-1]])
    n_ther = int(n_ther_site.sum())
    ther_site = np.repeat(np.arange(n_sites), n_ther_site)
    trainee = rng.random(n_ther) < 0.25
    ther_hazard = rng.normal(0.0, profile.therapist_spread, n_ther) + 0.40 * trainee
    ther_warmth = rng.normal(0.0, 0.12, n_ther) - 0.10 * trainee
    ther_repair = np.where(trainee, 0.45, 0.62) + rng.normal(0.0, 0.05, n_ther)
    caseload = rng.dirichlet(np.full(n_ther, 4.0))  # relative within site below
    therapist = np.empty(n, dtype=np.int64)
    for s in range(n_sites):  # loop over the few sites, not over clients
        members = np.flatnonzero(site == s)
        local = ther_first[s] + np.arange(n_ther_site[s])
        w = caseload[local] / caseload[local].sum()
        therapist[members] = rng.choice(local, size=members.size, p=w)

    sud_share = np.array([s.sud_share for s in sites])[site]
    is_sud = rng.random(n) < sud_share
    psy_pick = rng.choice(len(_PSY_CONCERNS), size=n, p=_PSY_CONCERN_P)
    sud_pick = rng.choice(len(_SUD_CONCERNS), size=n, p=_SUD_CONCERN_P)
    concern = np.where(is_sud, len(_PSY_CONCERNS) + sud_pick, psy_pick)

    program = _choice_index(rng, np.where(is_sud[:, None], _SUD_PROGRAM_P, _PSY_PROGRAM_P))
    planned = np.empty(n, dtype=np.int64)
    for p, name in enumerate(_PROGRAMS):
        members = np.flatnonzero(program == p)
        planned[members] = rng.choice(np.array(_PLANNED_CHOICES[name]), size=members.size)
    # The profile's course length; x1.0 leaves every plan as drawn (the plans lie in 4..30).
    planned = np.clip(np.rint(profile.course_multiplier * planned), 1, 200).astype(np.int64)

    referral = _choice_index(rng, np.where(is_sud[:, None], _SUD_REFERRAL_P, _PSY_REFERRAL_P))

    # Age: mostly adults 18-70, about 5% adolescents (contract range 12-100).
    adolescent = rng.random(n) < 0.05
    adult_age = np.clip(np.rint(rng.normal(38.0, 13.0, n) - 3.0 * is_sud), 18, 90)
    age = np.where(adolescent, rng.integers(12, 18, n), adult_age).astype(np.int64)

    gender_p = np.where(is_sud[:, None], (0.35, 0.63, 0.02), (0.62, 0.36, 0.02))
    gender = np.array(_GENDERS, dtype=object)[_choice_index(rng, gender_p)]
    gender[rng.random(n) < 0.01] = None  # optional column, sometimes left blank

    # Intakes over the window (default ~2.5 years); the network grows, so recent months
    # are busier (density doubles across the window: inverse CDF of a density
    # proportional to 1 + t).
    t = -1.0 + np.sqrt(1.0 + 3.0 * rng.random(n))
    intake_day = -np.rint((1.0 - t) * window_days).astype(np.int64)
    return {
        "site": site,
        "therapist": therapist,
        "ther_site": ther_site,
        "ther_first": ther_first,
        "n_ther_site": n_ther_site,
        "trainee": trainee,
        "ther_hazard": ther_hazard,
        "ther_warmth": ther_warmth,
        "ther_repair": ther_repair,
        "concern": concern,
        "is_sud": is_sud,
        "program": program,
        "planned": planned,
        "referral": referral,
        "age": age,
        "gender": gender,
        "intake_day": intake_day,
    }


# --------------------------------------------------------------------------------------
# The episode simulation
# --------------------------------------------------------------------------------------


@dataclass
class _Rows:
    """Appointment rows emitted by the simulation, one list entry per batch of episodes.

    ``record=False`` discards them: the ceiling's replicas need only how episodes end.
    """

    client: list[np.ndarray] = field(default_factory=list)
    day: list[np.ndarray] = field(default_factory=list)
    status: list[np.ndarray] = field(default_factory=list)
    latent: list[np.ndarray] = field(default_factory=list)  # (m, 3) 1-5; NaN if not attended
    ors: list[np.ndarray] = field(default_factory=list)  # canonical 0-40; NaN if not attended
    record: bool = True

    def add(self, client, day, status, latent=None, ors=None) -> None:
        m = client.size
        if m == 0 or not self.record:
            return
        self.client.append(client)
        self.day.append(day)
        self.status.append(status.astype(np.int8))
        self.latent.append(np.full((m, 3), np.nan) if latent is None else latent)
        self.ors.append(np.full(m, np.nan) if ors is None else ors)


@dataclass
class _Episodes:
    """Everything the simulation knows about each episode, one array entry per episode.

    The fixed traits are drawn at intake; the state changes at every appointment. Taken
    together they are the complete state: continuing the simulation from a copy (see
    :meth:`take`) is the same process as continuing the original episode.
    """

    # fixed traits
    trainee: np.ndarray  # the primary therapist is a trainee
    repair: np.ndarray  # the therapist's probability of repairing a rupture
    program_w: np.ndarray  # weight of alliance in the hazard (program)
    is_sud: np.ndarray
    base: np.ndarray  # (n, 3) alliance baseline, bond/goal/task on 1-5
    slope: np.ndarray  # alliance growth per attended session (first 10)
    attend_re: np.ndarray  # tendency to miss appointments
    ors0: np.ndarray
    ors_gain: np.ndarray
    intake_logit: np.ndarray  # fixed part of the disengagement logit
    first_no_show: np.ndarray  # no-show probability of the first appointment
    target: np.ndarray  # attended sessions at which the course completes
    start_day: np.ndarray  # day of the first appointment
    # state
    alive: np.ndarray
    disengaged: np.ndarray  # decided to leave; trailing missed appointments to come
    trailing_left: np.ndarray
    attended: np.ndarray
    last_status: np.ndarray
    consec_miss: np.ndarray
    cur: np.ndarray  # (n, 3) latent alliance at the last attended session
    prev: np.ndarray  # (n, 3) the one before
    dip: np.ndarray  # (n, 3) current rupture depth per subscale
    dip_decay: np.ndarray
    unrepaired: np.ndarray
    repair_boost: np.ndarray
    last_day: np.ndarray  # day of the last appointment (intake day before the first)
    appt: np.ndarray  # index of the next appointment (0 = first)
    booked_day: np.ndarray  # day of the next appointment when already fixed, else _UNBOOKED
    end_day: np.ndarray  # discharge day once closed
    reason: np.ndarray  # discharge reason code once closed

    def take(self, idx: np.ndarray) -> _Episodes:
        """An independent copy of the episodes ``idx`` (repeats give replicas)."""
        return _Episodes(**{f.name: getattr(self, f.name)[idx] for f in dataclasses.fields(self)})

    @staticmethod
    def concat(parts: list[_Episodes]) -> _Episodes:
        """The episodes of ``parts`` one after the other."""
        names = [f.name for f in dataclasses.fields(_Episodes)]
        return _Episodes(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})


def _start(c: dict[str, np.ndarray], rng: np.random.Generator, profile: ClinicProfile) -> _Episodes:
    """Draw each client's latent traits and set up the episode state before intake."""
    n = c["age"].size
    therapist = c["therapist"]
    program_w = np.array([_PROGRAM_ALLIANCE_WEIGHT[p] for p in _PROGRAMS])[c["program"]]

    # Alliance baseline per subscale: a general propensity shared by the three subscales
    # plus subscale-specific parts and the therapist's warmth. Sessions 1-10 add a
    # client-specific trend that is mostly positive but sometimes falling.
    z = rng.normal(0.0, 1.0, n)
    mu = np.array([3.95, 3.75, 3.75])  # bond is usually rated highest on WAI-SR
    base = (
        mu[None, :]
        + 0.42 * z[:, None]
        + 0.22 * rng.normal(0.0, 1.0, (n, 3))
        + c["ther_warmth"][therapist][:, None]
    )
    slope = rng.normal(0.02, 0.035, n)
    attend_re = rng.normal(0.0, 0.6, n)  # client's tendency to miss appointments
    # ORS starts mostly in the clinical range (<25) and improves with engagement; the gain
    # grows with alliance (Flückiger et al. 2018: alliance-outcome r = .278).
    ors0 = np.clip(rng.normal(18.5, 6.0, n), 2.0, 38.0)
    ors_gain = 7.0 + 3.0 * z + rng.normal(0.0, 3.5, n)

    # Fixed intake part of the hazard logit, shifted by the clinic's dropout level.
    concern_logit = np.array([_CONCERN_LOGIT[k] for k in _CONCERNS])[c["concern"]]
    referral_logit = np.array([_REFERRAL_LOGIT[k] for k in _REFERRALS])[c["referral"]]
    # Younger clients drop out more (Swift & Greenberg 2012).
    age_logit = np.clip(0.02 * (35 - c["age"]), -0.40, 0.45)
    intake_logit = concern_logit + referral_logit + age_logit + c["ther_hazard"][therapist]
    intake_logit = intake_logit + profile.dropout_shift

    site_first_ns = np.array([s.first_no_show for s in profile.sites])[c["site"]]
    first_no_show = np.maximum(0.02, site_first_ns + 0.1 * attend_re)
    if profile.no_show_shift:
        # The shift acts on the logit, as it does after the first appointment, so a
        # high-no-show clinic cannot push a probability past 1. Skipped at 0: the
        # logit round trip would perturb the default cohort's last bits.
        logit = np.log(first_no_show / (1.0 - first_no_show))
        first_no_show = _sigmoid(logit + profile.no_show_shift)
    target = np.maximum(1, c["planned"] + rng.integers(-2, 2, n))  # about the plan
    first_gap = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 15, n))

    return _Episodes(
        trainee=c["trainee"][therapist],
        repair=c["ther_repair"][therapist],
        program_w=program_w,
        is_sud=c["is_sud"],
        base=base,
        slope=slope,
        attend_re=attend_re,
        ors0=ors0,
        ors_gain=ors_gain,
        intake_logit=intake_logit,
        first_no_show=first_no_show,
        target=target,
        start_day=c["intake_day"] + first_gap,
        alive=np.ones(n, dtype=bool),
        disengaged=np.zeros(n, dtype=bool),
        trailing_left=np.zeros(n, dtype=np.int64),
        attended=np.zeros(n, dtype=np.int64),
        last_status=np.full(n, -1, dtype=np.int64),
        consec_miss=np.zeros(n, dtype=np.int64),
        cur=base.copy(),
        prev=base.copy(),
        dip=np.zeros((n, 3)),
        dip_decay=np.zeros(n),
        unrepaired=np.zeros(n, dtype=bool),
        repair_boost=np.zeros(n),
        last_day=c["intake_day"].copy(),
        appt=np.zeros(n, dtype=np.int64),
        booked_day=np.full(n, _UNBOOKED, dtype=np.int64),
        end_day=np.zeros(n, dtype=np.int64),
        reason=np.zeros(n, dtype=np.int8),
    )


def _close(ep: _Episodes, idx, day, why: int, lo: int, hi: int, rng) -> None:
    """Discharge ``idx`` between ``lo`` and ``hi`` days after ``day``."""
    ep.end_day[idx] = day + rng.integers(lo, hi + 1, idx.size)
    ep.reason[idx] = why
    ep.alive[idx] = False


def _emit_trailing(ep: _Episodes, idx, day, rng, rows: _Rows) -> None:
    """One of a dropout's last appointments: mostly no-shows, some late cancels."""
    u = rng.random(idx.size)
    status = np.where(u < 0.72, _NO_SHOW, np.where(u < 0.93, _LATE_CANCEL, _CANCELLED))
    rows.add(idx, day, status)
    ep.last_day[idx] = day
    ep.trailing_left[idx] -= 1
    done = ep.trailing_left[idx] == 0
    # discharge some weeks after the last scheduled appointment
    _close(ep, idx[done], day[done], _DROPOUT, 7, 35, rng)


def _schedule(ep: _Episodes, idx: np.ndarray, rng, interval: int) -> np.ndarray:
    """Day of each episode's next appointment: its own index times the interval."""
    k = ep.appt[idx]
    later = k > 0
    # The first appointment keeps its day; later ones move by up to 2 days. No draw when
    # every episode is at its first, as in the original weekly loop.
    if later.any():
        jitter = np.where(later, rng.integers(-2, 3, idx.size), 0)
    else:
        jitter = np.zeros(idx.size, dtype=np.int64)
    day = ep.start_day[idx] + interval * k + jitter
    booked = ep.booked_day[idx] != _UNBOOKED
    if booked.any():
        # An appointment already fixed when the episode was copied keeps its day.
        day = np.where(booked, ep.booked_day[idx], day)
        ep.booked_day[idx[booked]] = _UNBOOKED
    return day


def _play(ep: _Episodes, idx, day_all, rng, rows: _Rows, no_show_shift: float) -> None:
    """Play one appointment for each episode ``idx`` on ``day_all``."""
    # 1. Clients already disengaged play out their trailing missed appointments.
    trail = ep.disengaged[idx]
    _emit_trailing(ep, idx[trail], day_all[trail], rng, rows)
    eng, day = idx[~trail], day_all[~trail]

    # 2. Hazard of disengaging before this appointment, from what happened so far.
    k = ep.appt[eng]
    bond, goal, task = ep.cur[eng, 0], ep.cur[eng, 1], ep.cur[eng, 2]
    # Some clients never come at all: the first appointment is missed for good.
    lp_first = ep.intake_logit[eng] + 0.6 + 0.5 * (3.9 - bond)
    fall = np.where(ep.attended[eng] >= 2, np.maximum(0.0, ep.prev[eng, 0] - bond), 0.0)
    ls = ep.last_status[eng]
    missed_logit = np.select(
        [ls == _NO_SHOW, ls == _LATE_CANCEL, ls == _CANCELLED], [0.9, 0.6, 0.2], 0.0
    )
    # Low alliance (bond especially) and a falling bond (Sharf et al. 2010: d = 0.55
    # for alliance and dropout, stronger in longer and residential care), unrepaired
    # ruptures (EVIDENCE.md, rupture section) and recent missed appointments. The
    # trainee, stimulant and age effects sit in intake_logit.
    process_logit = ep.program_w[eng] * (
        -0.40 * (bond - 4.0) - 0.20 * (goal - 3.8) - 0.20 * (task - 3.8) + 0.70 * fall
    )
    process_logit += 0.90 * ep.unrepaired[eng] + missed_logit
    process_logit += 0.5 * (ep.consec_miss[eng] >= 2)
    # Missed the first appointment and never attended since: most never come.
    process_logit += 1.1 * (ep.attended[eng] == 0)
    time_logit = -0.25 * np.log1p(k)  # dropout concentrates early
    lp = np.where(k == 0, lp_first, ep.intake_logit[eng] + process_logit + time_logit)
    quit_ = rng.random(eng.size) < _sigmoid(lp)
    if quit_.any():
        q = eng[quit_]
        # Typically 1-3 trailing missed appointments; a few leave without one, but a
        # client who never attended always has at least the missed first appointment.
        n_trail = rng.choice(np.arange(4), size=q.size, p=(0.08, 0.42, 0.32, 0.18))
        n_trail = np.where(ep.attended[q] == 0, np.maximum(n_trail, 1), n_trail)
        ep.disengaged[q] = True
        ep.trailing_left[q] = n_trail
        none_left = n_trail == 0
        _close(ep, q[none_left], ep.last_day[q[none_left]], _DROPOUT, 7, 35, rng)
        keep = ~none_left
        _emit_trailing(ep, q[keep], day[quit_][keep], rng, rows)
        eng, day = eng[~quit_], day[~quit_]

    # 3. Attendance of those still engaged.
    first = ep.appt[eng] == 0
    p_later = _sigmoid(
        -2.9
        + no_show_shift
        + ep.attend_re[eng]
        + 0.5 * (4.0 - ep.cur[eng, 0])
        + 0.6 * (ep.last_status[eng] == _NO_SHOW)
        + 0.3 * ep.is_sud[eng]
    )
    p_ns = np.where(first, ep.first_no_show[eng], p_later)
    p_lc = np.where(first, 0.03, 0.035)
    p_c = np.where(first, 0.04, 0.05)
    u = rng.random(eng.size)
    status = np.where(
        u < p_ns,
        _NO_SHOW,
        np.where(
            u < p_ns + p_lc,
            _LATE_CANCEL,
            np.where(u < p_ns + p_lc + p_c, _CANCELLED, _ATTENDED),
        ),
    )
    went = status == _ATTENDED
    miss, day_miss = eng[~went], day[~went]
    rows.add(miss, day_miss, status[~went])
    ep.last_status[miss] = status[~went]
    ep.consec_miss[miss] += 1
    ep.last_day[miss] = day_miss

    # 4. Attended sessions: alliance moves, ruptures happen, ratings are given.
    a, day_a = eng[went], day[went]
    m = a.size
    if m:
        ep.dip[a] *= ep.dip_decay[a][:, None]
        resolved = ep.dip[a].max(axis=1) < 0.3
        ep.unrepaired[a[resolved]] = False
        # Rupture onset: more likely with a trainee and a weaker bond.
        p_rupt = _sigmoid(-2.6 + 0.4 * ep.trainee[a] + 0.5 * (3.9 - ep.base[a, 0]))
        onset = rng.random(m) < p_rupt
        if onset.any():
            r = a[onset]
            hit = rng.random((r.size, 3)) < np.array([0.75, 0.45, 0.45])
            hit[~hit.any(axis=1), 0] = True  # at least one subscale, bond by default
            depth = np.clip(rng.normal(1.0, 0.2, r.size), 0.6, 1.5)[:, None]
            new_dip = hit * depth * rng.uniform(0.8, 1.1, (r.size, 3))
            ep.dip[r] = np.maximum(ep.dip[r], new_dip)
            p_rep = np.clip(ep.repair[r] + 0.1 * (ep.base[r, 0] - 3.95), 0.1, 0.9)
            repaired = rng.random(r.size) < p_rep
            # A repaired rupture recovers at the next sessions (V shape) and leaves the
            # alliance a little stronger (Safran et al. 2011, repair-outcome r = .24);
            # an unrepaired one lingers.
            ep.dip_decay[r] = np.where(repaired, 0.2, 0.85)
            ep.unrepaired[r] = ~repaired
            ep.repair_boost[r] += 0.08 * repaired
        noise = 0.12 * rng.normal(0.0, 1.0, (m, 1)) + 0.12 * rng.normal(0.0, 1.0, (m, 3))
        growth = ep.slope[a] * np.minimum(ep.attended[a], 10) + ep.repair_boost[a]
        latent = np.clip(ep.base[a] + growth[:, None] - ep.dip[a] + noise, 1.0, 5.0)
        ep.prev[a] = np.where(ep.attended[a][:, None] > 0, ep.cur[a], latent)
        ep.cur[a] = latent
        ors = (
            ep.ors0[a]
            + ep.ors_gain[a] * (1.0 - np.exp(-ep.attended[a] / 5.0))
            - 2.0 * ep.dip[a].max(axis=1)
            + rng.normal(0.0, 2.2, m)
        )
        rows.add(a, day_a, status[went], latent, np.clip(ors, 0.0, 40.0))
        ep.attended[a] += 1
        ep.last_status[a] = _ATTENDED
        ep.consec_miss[a] = 0
        ep.last_day[a] = day_a

        # 5. Episode ends after an attended session: completion, or transfer/other.
        done = ep.attended[a] >= ep.target[a]
        _close(ep, a[done], day_a[done], _COMPLETED, 0, 14, rng)
        rest, day_r = a[~done], day_a[~done]
        moved = rng.random(rest.size) < 0.005
        why = np.where(rng.random(moved.sum()) < 0.6, _TRANSFERRED, _OTHER)
        for w in (_TRANSFERRED, _OTHER):
            sel = rest[moved][why == w]
            _close(ep, sel, day_r[moved][why == w], w, 0, 21, rng)

    ep.appt[idx] += 1


@dataclass
class _Snapshot:
    """Episodes as they stood at the export: which ones (``index``) and their state."""

    index: np.ndarray
    episodes: _Episodes


def _run(
    ep: _Episodes,
    rng: np.random.Generator,
    rows: _Rows,
    profile: ClinicProfile,
    snapshot_after: int | None = None,
) -> _Snapshot | None:
    """Play every open episode to its end, appointment by appointment.

    With ``snapshot_after`` (a day), each episode still open when its next appointment
    first falls after that day is copied just before that appointment is played, with
    the appointment's day fixed in the copy: that copy is the episode's state at the
    export. Copying draws no random numbers, so the episodes play out the same either way.
    """
    n = ep.alive.size
    seen = np.zeros(n, dtype=bool)
    parts: list[_Episodes] = []
    index: list[np.ndarray] = []
    while True:
        idx = np.flatnonzero(ep.alive & (ep.appt < _MAX_APPOINTMENTS))
        if idx.size == 0:
            break
        day = _schedule(ep, idx, rng, profile.interval_days)
        if snapshot_after is not None:
            new = (day > snapshot_after) & ~seen[idx]
            if new.any():
                sel = idx[new]
                state = ep.take(sel)
                state.booked_day = day[new].copy()
                parts.append(state)
                index.append(sel)
                seen[sel] = True
        _play(ep, idx, day, rng, rows, profile.no_show_shift)

    # Safety stop: anything still open (should not happen) is closed as "other".
    left = np.flatnonzero(ep.alive)
    _close(ep, left, ep.last_day[left], _OTHER, 0, 7, rng)
    if snapshot_after is None:
        return None
    if not parts:
        empty = ep.take(np.zeros(0, dtype=np.int64))
        return _Snapshot(np.zeros(0, dtype=np.int64), empty)
    return _Snapshot(np.concatenate(index), _Episodes.concat(parts))


def _ceiling(
    episodes: _Episodes,
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
        _run(reps, rng, _Rows(record=False), profile)
        end = reps.end_day.reshape(sel.size, draws)
        dropout = reps.reason.reshape(sel.size, draws) == _DROPOUT
        valid = end > 0
        # Should every copy contradict the export (vanishingly unlikely), use them all
        # rather than divide by zero.
        valid = np.where(valid.any(axis=1)[:, None], valid, True)
        n_valid = valid.sum(axis=1)
        p[sel] = (dropout & valid).sum(axis=1) / n_valid
        p_by[sel] = (dropout & valid & (end <= horizon_day)).sum(axis=1) / n_valid
    return p, p_by


# --------------------------------------------------------------------------------------
# Assembly into contract-shaped frames
# --------------------------------------------------------------------------------------


def _ratings(
    latent: np.ndarray,
    ors: np.ndarray,
    style: np.ndarray,
    instruments: InstrumentsConfig,
    rng: np.random.Generator,
) -> dict[str, object]:
    """Item-level ratings from the latent subscales (NaN rows stay NaN)."""
    r = latent.shape[0]
    wai = instruments.wai
    out: dict[str, object] = {}

    # WAI items: each item scatters around its subscale's latent value (1-5 canonical),
    # then is mapped to the configured range and rounded to a whole step.
    item_sub = np.zeros(wai.n_items, dtype=np.int64)
    for s, name in enumerate(_SUBSCALES):
        for item in wai.subscales[name]:
            item_sub[item - 1] = s
    item_bias = np.linspace(-0.12, 0.12, wai.n_items)  # items differ a little in difficulty
    raw = latent[:, item_sub] + item_bias[None, :] + rng.normal(0.0, 0.5, (r, wai.n_items))
    items = np.clip(np.rint(_rescale(raw, 1.0, 5.0, wai.min, wai.max)), wai.min, wai.max)
    out["wai_items"] = items

    # SRS: items track relationship~bond, goals~goal, approach~task, overall~all three,
    # near the ceiling (most totals 34-40) and lower when alliance is low or ruptured.
    srs = instruments.srs
    composite = latent.mean(axis=1)
    srs_src = [latent[:, 0], latent[:, 1], latent[:, 2], composite]
    srs_items = np.empty((r, srs.n_items))
    for j in range(srs.n_items):
        src = srs_src[j] if j < len(srs_src) else composite
        val = 9.6 + 1.7 * (src - 4.05) + style + rng.normal(0.0, 0.4, r)
        val = _rescale(np.clip(val, 0.0, 10.0), 0.0, 10.0, srs.item_min, srs.item_max)
        srs_items[:, j] = np.round(val, 1)
    out["srs_items"] = srs_items
    out["srs_total"] = np.round(np.clip(srs_items.sum(axis=1), srs.total_min, srs.total_max), 1)

    ors_cfg = instruments.ors
    out["ors_total"] = np.round(
        np.clip(
            _rescale(ors, 0.0, 40.0, ors_cfg.total_min, ors_cfg.total_max),
            ors_cfg.total_min,
            ors_cfg.total_max,
        ),
        1,
    )
    return out


def _int_column(values: np.ndarray) -> pd.arrays.IntegerArray:
    mask = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype(np.int64), mask)


@dataclass
class _Cohort:
    """The exported frames with what the simulation knew behind them."""

    clients: pd.DataFrame
    sessions: pd.DataFrame
    client_ids: np.ndarray  # by simulation index
    order: np.ndarray  # simulation indices in intake order (the order of ``clients``)
    origin: np.datetime64  # day 0, the extraction date
    end_day: np.ndarray
    reason: np.ndarray
    snapshot: _Snapshot | None
    profile: ClinicProfile


def _resolve(
    profile: ClinicProfile | None, intake_window_days: int | None
) -> tuple[ClinicProfile, int]:
    """The profile to use and the intake window: the argument when given, else the profile's."""
    profile = PROFILES["default"] if profile is None else profile
    window = profile.intake_window_days if intake_window_days is None else intake_window_days
    if window < 1:
        raise ValueError(f"intake_window_days must be at least 1, got {window}")
    return profile, window


def _generate(
    n_clients: int,
    seed: int,
    instruments: InstrumentsConfig,
    extraction_date: str,
    intake_window_days: int | None,
    profile: ClinicProfile | None,
    *,
    snapshot: bool = False,
    export_day: int = 0,
) -> _Cohort:
    """Simulate and cut at the export; see :func:`generate_cohort`.

    ``snapshot`` also keeps every open episode's state at day 0 (for the ceiling);
    ``export_day`` cuts the export that many days after the extraction date instead of
    on it, which shows the future of the same cohort (dates stay relative to the
    extraction date; the tests compare it with the truth).
    """
    if n_clients < 1:
        raise ValueError(f"n_clients must be at least 1, got {n_clients}")
    profile, window = _resolve(profile, intake_window_days)
    try:
        origin = np.datetime64(pd.Timestamp(extraction_date).date(), "D")
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"extraction_date {extraction_date!r} is not an ISO date (YYYY-MM-DD)"
        ) from exc

    rng = np.random.default_rng(seed)
    c = _draw_clients(n_clients, rng, profile, window)
    ep = _start(c, rng, profile)
    rows = _Rows()
    snap = _run(ep, rng, rows, profile, snapshot_after=0 if snapshot else None)
    end_day, reason = ep.end_day, ep.reason
    sites = profile.sites

    # Client ids follow intake order, as a clinic's running numbers would.
    order = np.argsort(c["intake_day"], kind="stable")
    rank = np.empty(n_clients, dtype=np.int64)
    rank[order] = np.arange(n_clients)
    id_width = max(6, len(str(n_clients)))
    client_ids = np.array([f"C{i + 1:0{id_width}d}" for i in range(n_clients)], dtype=object)[rank]
    n_ther = c["ther_site"].size
    ther_width = max(3, len(str(n_ther)))
    ther_ids = np.array([f"T{i + 1:0{ther_width}d}" for i in range(n_ther)], dtype=object)
    site_names = np.array([s.name for s in sites], dtype=object)

    active = end_day > export_day
    discharge = _iso(end_day, origin)
    discharge[active] = None
    reason_txt = _REASON_NAMES[reason].copy()
    reason_txt[active] = None
    clients = pd.DataFrame(
        {
            "client_id": client_ids,
            "therapist_id": ther_ids[c["therapist"]],
            "intake_date": _iso(c["intake_day"], origin),
            "site": site_names[c["site"]],
            "program": np.array(_PROGRAMS, dtype=object)[c["program"]],
            "age": c["age"],
            "gender": c["gender"],
            "primary_concern": np.array(_CONCERNS, dtype=object)[c["concern"]],
            "referral_source": np.array(_REFERRALS, dtype=object)[c["referral"]],
            "planned_sessions": c["planned"],
            "discharge_date": discharge,
            "discharge_reason": reason_txt,
        }
    )
    clients = clients.iloc[order].reset_index(drop=True)

    # ---- sessions ------------------------------------------------------------------
    cl = np.concatenate(rows.client)
    day = np.concatenate(rows.day)
    status = np.concatenate(rows.status)
    latent = np.concatenate(rows.latent)
    ors = np.concatenate(rows.ors)
    keep = day <= export_day  # nothing after the export is in it
    srt = np.lexsort((day[keep], rank[cl[keep]]))
    sel = np.flatnonzero(keep)[srt]
    cl, day, status, latent, ors = cl[sel], day[sel], status[sel], latent[sel], ors[sel]
    r = cl.size

    style = rng.normal(0.0, 0.45, n_clients)[cl]  # a client's way of using the SRS line
    rt = _ratings(latent, ors, style, instruments, rng)
    went = status == _ATTENDED
    site = c["site"][cl]
    wai_mode = np.array([s.wai or "" for s in sites], dtype=object)[site]
    srs_mode = np.array([s.srs or "" for s in sites], dtype=object)[site]
    ors_on = np.array([s.ors for s in sites])[site]
    # Each instrument is missing at random on ~10% of attended sessions.
    wai_ok = went & (wai_mode != "") & (rng.random(r) >= _RATING_MISSING)
    srs_ok = went & (srs_mode != "") & (rng.random(r) >= _RATING_MISSING)
    ors_ok = went & ors_on & (rng.random(r) >= _RATING_MISSING)

    items = rt["wai_items"]
    wai = instruments.wai
    means = {}
    for name in _SUBSCALES:
        cols = np.array(wai.subscales[name]) - 1
        means[f"wai_{name}"] = np.where(
            wai_ok & (wai_mode == "means"), np.round(items[:, cols].mean(axis=1), 2), np.nan
        )
    item_ok = (wai_ok & (wai_mode == "items"))[:, None] & (rng.random(items.shape) >= _ITEM_MISSING)
    items = np.where(item_ok, items, np.nan)

    # Rarely another therapist of the same site covers the appointment.
    primary = c["therapist"][cl]
    n_local = c["n_ther_site"][site]
    local = primary - c["ther_first"][site]
    other = c["ther_first"][site] + (local + rng.integers(1, np.maximum(n_local, 2))) % n_local
    cover = (rng.random(r) < _COVER_SHARE) & (n_local > 1)
    session_ther = np.where(cover, ther_ids[other], None)

    data: dict[str, object] = {
        "client_id": client_ids[cl],
        "session_date": _iso(day, origin),
        "status": _STATUS_NAMES[status],
        "therapist_id": session_ther,
    }
    for j in range(wai.n_items):
        data[f"wai_{j + 1}"] = _int_column(items[:, j])
    data.update(means)
    # A site exporting SRS items only leaves the total blank, one exporting the total
    # only leaves the items blank (the contract computes totals from items when present).
    srs_items_ok = srs_ok & np.isin(srs_mode, ("items", "both"))
    srs_total_ok = srs_ok & np.isin(srs_mode, ("total", "both"))
    srs_items = np.where(srs_items_ok[:, None], rt["srs_items"], np.nan)
    for j in range(instruments.srs.n_items):
        data[f"srs_{j + 1}"] = srs_items[:, j]
    data["srs_total"] = np.where(srs_total_ok, rt["srs_total"], np.nan)
    data["ors_total"] = np.where(ors_ok, rt["ors_total"], np.nan)
    sessions = pd.DataFrame(data)
    return _Cohort(clients, sessions, client_ids, order, origin, end_day, reason, snap, profile)


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
    episodes). The effects built in are documented in the module docstring and cite
    ``../shared/EVIDENCE.md``.

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
    cohort = _generate(n_clients, seed, instruments, extraction_date, intake_window_days, profile)
    return cohort.clients, cohort.sessions


@dataclass(frozen=True)
class SyntheticClinic:
    """A synthetic export together with what happened after it.

    Attributes
    ----------
    clients, sessions
        The export, exactly as :func:`generate_cohort` returns it for the same arguments.
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


def _truth(cohort: _Cohort, seed: int, horizon_days: int, draws: int) -> pd.DataFrame:
    """The open caseload's real futures and their probabilities (the ceiling)."""
    end, why = cohort.end_day, cohort.reason
    open_ = end > 0
    dropout = why == _DROPOUT
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
            "outcome": _REASON_NAMES[why[sel]],
            "discharge_date": _iso(end[sel], cohort.origin),
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

    The export is :func:`generate_cohort`'s. For every client active at the export the
    simulation's own continuation gives the eventual outcome; continuing each such
    episode ``ceiling_draws`` more times from its complete state at the export (latent
    alliance, ruptures, a decision to leave already taken, counters, traits), with
    fresh randomness, gives its true probability of dropout. A model scored on the
    export can be compared with both: the outcomes are what it predicts, the
    probabilities are the best any model could do.

    Parameters
    ----------
    n_clients, seed, instruments, profile, extraction_date, intake_window_days
        As for :func:`generate_cohort`.
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
        As for :func:`generate_cohort`, and when ``horizon_days`` is negative or
        ``ceiling_draws`` below 1.
    """
    if horizon_days < 0:
        raise ValueError(f"horizon_days must not be negative, got {horizon_days}")
    if ceiling_draws < 1:
        raise ValueError(f"ceiling_draws must be at least 1, got {ceiling_draws}")
    cohort = _generate(
        n_clients, seed, instruments, extraction_date, intake_window_days, profile, snapshot=True
    )
    truth = _truth(cohort, seed, horizon_days, ceiling_draws)
    return SyntheticClinic(cohort.clients, cohort.sessions, truth)


def _atomic_csv(frame: pd.DataFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            frame.to_csv(fh, index=False)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the export is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_cohort(
    out_dir: Path,
    n_clients: int,
    seed: int,
    instruments: InstrumentsConfig,
    profile: ClinicProfile | None = None,
) -> tuple[Path, Path]:
    """Generate a cohort and write ``clients.csv`` and ``sessions.csv`` atomically.

    Each file is written to a temporary file in ``out_dir`` and moved into place with
    ``os.replace``, so a reader never sees a half-written file.

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
    _atomic_csv(clients, clients_path)
    _atomic_csv(sessions, sessions_path)
    return clients_path, sessions_path


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
    """Like :func:`write_cohort`, and also write the open caseload's ``truth.csv``.

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
        _atomic_csv(frame, path)
    return paths
