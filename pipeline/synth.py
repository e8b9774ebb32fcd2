"""Synthetic clinic exports that follow ``../shared/CONTRACT.md``.

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

Everything is vectorised over clients: the simulation loops over the appointment index
and updates numpy vectors for every open episode at once.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pipeline.config import InstrumentsConfig

__all__ = ["generate_cohort", "write_cohort"]

# --------------------------------------------------------------------------------------
# Fixed design of the synthetic network of clinics
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    name: str
    weight: float  # share of all episodes
    wai: str | None  # "items", "means" (subscale means only) or None (not collected)
    srs: bool
    ors: bool
    first_no_show: float  # first-appointment no-show rate (Davis et al. 2020: ~40% NHS)
    sud_share: float  # share of substance-use episodes in the site's caseload


_SITES: tuple[_Site, ...] = (
    _Site("site_a", 0.19, "items", True, True, 0.22, 0.35),
    _Site("site_b", 0.16, "items", False, False, 0.30, 0.70),
    _Site("site_c", 0.15, None, True, True, 0.26, 0.45),
    _Site("site_d", 0.14, "items", True, True, 0.20, 0.55),
    _Site("site_e", 0.13, "means", False, True, 0.33, 0.60),
    _Site("site_f", 0.12, None, True, True, 0.28, 0.80),
    _Site("site_g", 0.11, "items", True, False, 0.24, 0.40),
)

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
# Planned course length (weekly sessions) by program.
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

_INTAKE_WINDOW_DAYS = 913  # about 2.5 years of intakes before the extraction date
_MAX_APPOINTMENTS = 400  # safety stop; every episode ends long before this
_RATING_MISSING = 0.10  # each collected instrument missing at random on an attended session
_ITEM_MISSING = 0.015  # single WAI item skipped
_COVER_SHARE = 0.03  # sessions held by another therapist of the same site


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
    n: int, rng: np.random.Generator, window_days: int = _INTAKE_WINDOW_DAYS
) -> dict[str, np.ndarray]:
    """Intake attributes, site, therapist and the therapist's characteristics."""
    n_sites = len(_SITES)
    site_w = np.array([s.weight for s in _SITES])
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
    ther_hazard = rng.normal(0.0, 0.30, n_ther) + 0.40 * trainee
    ther_warmth = rng.normal(0.0, 0.12, n_ther) - 0.10 * trainee
    ther_repair = np.where(trainee, 0.45, 0.62) + rng.normal(0.0, 0.05, n_ther)
    caseload = rng.dirichlet(np.full(n_ther, 4.0))  # relative within site below
    therapist = np.empty(n, dtype=np.int64)
    for s in range(n_sites):  # loop over the few sites, not over clients
        members = np.flatnonzero(site == s)
        local = ther_first[s] + np.arange(n_ther_site[s])
        w = caseload[local] / caseload[local].sum()
        therapist[members] = rng.choice(local, size=members.size, p=w)

    sud_share = np.array([s.sud_share for s in _SITES])[site]
    is_sud = rng.random(n) < sud_share
    psy_pick = rng.choice(len(_PSY_CONCERNS), size=n, p=_PSY_CONCERN_P)
    sud_pick = rng.choice(len(_SUD_CONCERNS), size=n, p=_SUD_CONCERN_P)
    concern = np.where(is_sud, len(_PSY_CONCERNS) + sud_pick, psy_pick)

    program = _choice_index(rng, np.where(is_sud[:, None], _SUD_PROGRAM_P, _PSY_PROGRAM_P))
    planned = np.empty(n, dtype=np.int64)
    for p, name in enumerate(_PROGRAMS):
        members = np.flatnonzero(program == p)
        planned[members] = rng.choice(np.array(_PLANNED_CHOICES[name]), size=members.size)

    referral = _choice_index(rng, np.where(is_sud[:, None], _SUD_REFERRAL_P, _PSY_REFERRAL_P))

    # Age: mostly adults 18-70, about 5% adolescents (contract range 12-100).
    adolescent = rng.random(n) < 0.05
    adult_age = np.clip(np.rint(rng.normal(38.0, 13.0, n) - 3.0 * is_sud), 18, 90)
    age = np.where(adolescent, rng.integers(12, 18, n), adult_age).astype(np.int64)

    gender_p = np.where(is_sud[:, None], (0.35, 0.63, 0.02), (0.62, 0.36, 0.02))
    gender = np.array(_GENDERS, dtype=object)[_choice_index(rng, gender_p)]
    gender[rng.random(n) < 0.01] = None  # optional column, sometimes left blank

    # Intakes over ~2.5 years (or ``window_days``); the network grows, so recent months are busier (density
    # doubles across the window: inverse CDF of a density proportional to 1 + t).
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
    """Appointment rows emitted by the simulation, one list entry per appointment index."""

    client: list[np.ndarray]
    day: list[np.ndarray]
    status: list[np.ndarray]
    latent: list[np.ndarray]  # (m, 3) bond, goal, task on the 1-5 scale; NaN if not attended
    ors: list[np.ndarray]  # canonical 0-40; NaN if not attended

    def add(self, client, day, status, latent=None, ors=None) -> None:
        m = client.size
        if m == 0:
            return
        self.client.append(client)
        self.day.append(day)
        self.status.append(status.astype(np.int8))
        self.latent.append(np.full((m, 3), np.nan) if latent is None else latent)
        self.ors.append(np.full(m, np.nan) if ors is None else ors)


def _simulate(c: dict[str, np.ndarray], rng: np.random.Generator):
    """Run every episode appointment by appointment; return rows and episode ends."""
    n = c["age"].size
    therapist = c["therapist"]
    trainee = c["trainee"][therapist]
    program_w = np.array([_PROGRAM_ALLIANCE_WEIGHT[p] for p in _PROGRAMS])[c["program"]]

    # ---- client-level latent traits -------------------------------------------------
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

    # Fixed intake part of the hazard logit.
    concern_logit = np.array([_CONCERN_LOGIT[k] for k in _CONCERNS])[c["concern"]]
    referral_logit = np.array([_REFERRAL_LOGIT[k] for k in _REFERRALS])[c["referral"]]
    # Younger clients drop out more (Swift & Greenberg 2012).
    age_logit = np.clip(0.02 * (35 - c["age"]), -0.40, 0.45)
    intake_logit = concern_logit + referral_logit + age_logit + c["ther_hazard"][therapist]

    site_first_ns = np.array([s.first_no_show for s in _SITES])[c["site"]]
    target = np.maximum(1, c["planned"] + rng.integers(-2, 2, n))  # about the plan
    first_gap = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 15, n))
    start_day = c["intake_day"] + first_gap

    # ---- episode state --------------------------------------------------------------
    alive = np.ones(n, dtype=bool)
    disengaged = np.zeros(n, dtype=bool)
    trailing_left = np.zeros(n, dtype=np.int64)
    attended = np.zeros(n, dtype=np.int64)
    last_status = np.full(n, -1, dtype=np.int64)
    consec_miss = np.zeros(n, dtype=np.int64)
    cur = base.copy()  # latent alliance at the last attended session
    prev = base.copy()
    dip = np.zeros((n, 3))
    dip_decay = np.zeros(n)
    unrepaired = np.zeros(n, dtype=bool)
    repair_boost = np.zeros(n)
    last_day = c["intake_day"].copy()
    end_day = np.zeros(n, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int8)
    rows = _Rows([], [], [], [], [])

    def close(idx: np.ndarray, day: np.ndarray, why: int, lo: int, hi: int) -> None:
        end_day[idx] = day + rng.integers(lo, hi + 1, idx.size)
        reason[idx] = why
        alive[idx] = False

    def emit_trailing(idx: np.ndarray, day: np.ndarray) -> None:
        # A dropout's last appointments: mostly no-shows, some late cancels.
        u = rng.random(idx.size)
        status = np.where(u < 0.72, _NO_SHOW, np.where(u < 0.93, _LATE_CANCEL, _CANCELLED))
        rows.add(idx, day, status)
        last_day[idx] = day
        trailing_left[idx] -= 1
        done = trailing_left[idx] == 0
        # discharge some weeks after the last scheduled appointment
        close(idx[done], day[done], _DROPOUT, 7, 35)

    for k in range(_MAX_APPOINTMENTS):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        jitter = rng.integers(-2, 3, idx.size) if k else np.zeros(idx.size, dtype=np.int64)
        day_all = start_day[idx] + 7 * k + jitter

        # 1. Clients already disengaged play out their trailing missed appointments.
        trail = disengaged[idx]
        emit_trailing(idx[trail], day_all[trail])
        eng, day = idx[~trail], day_all[~trail]

        # 2. Hazard of disengaging before this appointment, from what happened so far.
        bond = cur[eng, 0]
        if k == 0:
            # Some clients never come at all: the first appointment is missed for good.
            lp = intake_logit[eng] + 0.6 + 0.5 * (3.9 - bond)
        else:
            goal, task = cur[eng, 1], cur[eng, 2]
            fall = np.where(attended[eng] >= 2, np.maximum(0.0, prev[eng, 0] - bond), 0.0)
            ls = last_status[eng]
            missed_logit = np.select(
                [ls == _NO_SHOW, ls == _LATE_CANCEL, ls == _CANCELLED], [0.9, 0.6, 0.2], 0.0
            )
            # Low alliance (bond especially) and a falling bond (Sharf et al. 2010: d = 0.55
            # for alliance and dropout, stronger in longer and residential care), unrepaired
            # ruptures (EVIDENCE.md, rupture section) and recent missed appointments. The
            # trainee, stimulant and age effects sit in intake_logit.
            process_logit = program_w[eng] * (
                -0.40 * (bond - 4.0) - 0.20 * (goal - 3.8) - 0.20 * (task - 3.8) + 0.70 * fall
            )
            process_logit += 0.90 * unrepaired[eng] + missed_logit
            process_logit += 0.5 * (consec_miss[eng] >= 2)
            # Missed the first appointment and never attended since: most never come.
            process_logit += 1.1 * (attended[eng] == 0)
            time_logit = -0.25 * np.log1p(k)  # dropout concentrates early
            lp = intake_logit[eng] + process_logit + time_logit
        quit_ = rng.random(eng.size) < _sigmoid(lp)
        if quit_.any():
            q = eng[quit_]
            # Typically 1-3 trailing missed appointments; a few leave without one, but a
            # client who never attended always has at least the missed first appointment.
            n_trail = rng.choice(np.arange(4), size=q.size, p=(0.08, 0.42, 0.32, 0.18))
            n_trail = np.where(attended[q] == 0, np.maximum(n_trail, 1), n_trail)
            disengaged[q] = True
            trailing_left[q] = n_trail
            none_left = n_trail == 0
            close(q[none_left], last_day[q[none_left]], _DROPOUT, 7, 35)
            keep = ~none_left
            emit_trailing(q[keep], day[quit_][keep])
            eng, day = eng[~quit_], day[~quit_]

        # 3. Attendance of those still engaged.
        if k == 0:
            p_ns = np.maximum(0.02, site_first_ns[eng] + 0.1 * attend_re[eng])
            p_lc = np.full(eng.size, 0.03)
            p_c = np.full(eng.size, 0.04)
        else:
            p_ns = _sigmoid(
                -2.9
                + attend_re[eng]
                + 0.5 * (4.0 - cur[eng, 0])
                + 0.6 * (last_status[eng] == _NO_SHOW)
                + 0.3 * c["is_sud"][eng]
            )
            p_lc = np.full(eng.size, 0.035)
            p_c = np.full(eng.size, 0.05)
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
        last_status[miss] = status[~went]
        consec_miss[miss] += 1
        last_day[miss] = day_miss

        # 4. Attended sessions: alliance moves, ruptures happen, ratings are given.
        a, day_a = eng[went], day[went]
        m = a.size
        if m:
            dip[a] *= dip_decay[a][:, None]
            resolved = dip[a].max(axis=1) < 0.3
            unrepaired[a[resolved]] = False
            # Rupture onset: more likely with a trainee and a weaker bond.
            p_rupt = _sigmoid(-2.6 + 0.4 * trainee[a] + 0.5 * (3.9 - base[a, 0]))
            onset = rng.random(m) < p_rupt
            if onset.any():
                r = a[onset]
                hit = rng.random((r.size, 3)) < np.array([0.75, 0.45, 0.45])
                hit[~hit.any(axis=1), 0] = True  # at least one subscale, bond by default
                depth = np.clip(rng.normal(1.0, 0.2, r.size), 0.6, 1.5)[:, None]
                new_dip = hit * depth * rng.uniform(0.8, 1.1, (r.size, 3))
                dip[r] = np.maximum(dip[r], new_dip)
                p_rep = np.clip(
                    c["ther_repair"][therapist[r]] + 0.1 * (base[r, 0] - 3.95), 0.1, 0.9
                )
                repaired = rng.random(r.size) < p_rep
                # A repaired rupture recovers at the next sessions (V shape) and leaves the
                # alliance a little stronger (Safran et al. 2011, repair-outcome r = .24);
                # an unrepaired one lingers.
                dip_decay[r] = np.where(repaired, 0.2, 0.85)
                unrepaired[r] = ~repaired
                repair_boost[r] += 0.08 * repaired
            noise = 0.12 * rng.normal(0.0, 1.0, (m, 1)) + 0.12 * rng.normal(0.0, 1.0, (m, 3))
            growth = slope[a] * np.minimum(attended[a], 10) + repair_boost[a]
            latent = np.clip(base[a] + growth[:, None] - dip[a] + noise, 1.0, 5.0)
            prev[a] = np.where(attended[a][:, None] > 0, cur[a], latent)
            cur[a] = latent
            ors = (
                ors0[a]
                + ors_gain[a] * (1.0 - np.exp(-attended[a] / 5.0))
                - 2.0 * dip[a].max(axis=1)
                + rng.normal(0.0, 2.2, m)
            )
            rows.add(a, day_a, status[went], latent, np.clip(ors, 0.0, 40.0))
            attended[a] += 1
            last_status[a] = _ATTENDED
            consec_miss[a] = 0
            last_day[a] = day_a

            # 5. Episode ends after an attended session: completion, or transfer/other.
            done = attended[a] >= target[a]
            close(a[done], day_a[done], _COMPLETED, 0, 14)
            rest, day_r = a[~done], day_a[~done]
            moved = rng.random(rest.size) < 0.005
            why = np.where(rng.random(moved.sum()) < 0.6, _TRANSFERRED, _OTHER)
            for w in (_TRANSFERRED, _OTHER):
                sel = rest[moved][why == w]
                close(sel, day_r[moved][why == w], w, 0, 21)

    # Safety stop: anything still open (should not happen) is closed as "other".
    left = np.flatnonzero(alive)
    close(left, last_day[left], _OTHER, 0, 7)

    return rows, end_day, reason


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


def generate_cohort(
    n_clients: int,
    seed: int,
    instruments: InstrumentsConfig,
    extraction_date: str = "2026-06-30",
    intake_window_days: int = _INTAKE_WINDOW_DAYS,
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
        Instrument definitions (``pipeline.config.InstrumentsConfig``): the WAI item key
        and the ranges of WAI, SRS and ORS values.
    extraction_date
        ISO date of the export. Intakes fall in the 2.5 years before it; nothing after it
        is recorded and episodes not closed by then are active.
    intake_window_days
        How many days before the extraction date the intakes fall in (default about 2.5
        years). A short window gives a caseload that is mostly active, as the scoring
        benchmark needs.

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
        When ``n_clients`` or ``intake_window_days`` is below 1 or ``extraction_date`` is
        not an ISO date.
    """
    if n_clients < 1:
        raise ValueError(f"n_clients must be at least 1, got {n_clients}")
    if intake_window_days < 1:
        raise ValueError(f"intake_window_days must be at least 1, got {intake_window_days}")
    try:
        origin = np.datetime64(pd.Timestamp(extraction_date).date(), "D")
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"extraction_date {extraction_date!r} is not an ISO date (YYYY-MM-DD)"
        ) from exc

    rng = np.random.default_rng(seed)
    c = _draw_clients(n_clients, rng, intake_window_days)
    rows, end_day, reason = _simulate(c, rng)

    # Client ids follow intake order, as a clinic's running numbers would.
    order = np.argsort(c["intake_day"], kind="stable")
    rank = np.empty(n_clients, dtype=np.int64)
    rank[order] = np.arange(n_clients)
    id_width = max(6, len(str(n_clients)))
    client_ids = np.array([f"C{i + 1:0{id_width}d}" for i in range(n_clients)], dtype=object)[rank]
    n_ther = c["ther_site"].size
    ther_width = max(3, len(str(n_ther)))
    ther_ids = np.array([f"T{i + 1:0{ther_width}d}" for i in range(n_ther)], dtype=object)
    site_names = np.array([s.name for s in _SITES], dtype=object)

    active = end_day > 0
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
    keep = day <= 0  # nothing after the extraction date is in the export
    srt = np.lexsort((day[keep], rank[cl[keep]]))
    sel = np.flatnonzero(keep)[srt]
    cl, day, status, latent, ors = cl[sel], day[sel], status[sel], latent[sel], ors[sel]
    r = cl.size

    style = rng.normal(0.0, 0.45, n_clients)[cl]  # a client's way of using the SRS line
    rt = _ratings(latent, ors, style, instruments, rng)
    went = status == _ATTENDED
    site = c["site"][cl]
    wai_mode = np.array([s.wai or "" for s in _SITES], dtype=object)[site]
    srs_on = np.array([s.srs for s in _SITES])[site]
    ors_on = np.array([s.ors for s in _SITES])[site]
    # Each instrument is missing at random on ~10% of attended sessions.
    wai_ok = went & (wai_mode != "") & (rng.random(r) >= _RATING_MISSING)
    srs_ok = went & srs_on & (rng.random(r) >= _RATING_MISSING)
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
    srs_items = np.where(srs_ok[:, None], rt["srs_items"], np.nan)
    for j in range(instruments.srs.n_items):
        data[f"srs_{j + 1}"] = srs_items[:, j]
    data["srs_total"] = np.where(srs_ok, rt["srs_total"], np.nan)
    data["ors_total"] = np.where(ors_ok, rt["ors_total"], np.nan)
    sessions = pd.DataFrame(data)
    return clients, sessions


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
) -> tuple[Path, Path]:
    """Generate a cohort and write ``clients.csv`` and ``sessions.csv`` atomically.

    Each file is written to a temporary file in ``out_dir`` and moved into place with
    ``os.replace``, so a reader never sees a half-written file.

    Parameters
    ----------
    out_dir
        Destination folder; created when missing.
    n_clients, seed, instruments
        As for :func:`generate_cohort`.

    Returns
    -------
    tuple of pathlib.Path
        The paths of ``clients.csv`` and ``sessions.csv``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clients, sessions = generate_cohort(n_clients, seed, instruments)
    clients_path = out_dir / "clients.csv"
    sessions_path = out_dir / "sessions.csv"
    _atomic_csv(clients, clients_path)
    _atomic_csv(sessions, sessions_path)
    return clients_path, sessions_path
