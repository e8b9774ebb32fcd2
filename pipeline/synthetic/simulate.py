"""The episode simulation: each client's appointments, alliance and ending, step by step.

The process carries the effects of ``../shared/EVIDENCE.md``:

* a per-appointment hazard of disengaging, set at intake by concern, referral, age and
  the therapist (:mod:`pipeline.synthetic.cohort`), and moved by low or falling alliance,
  unrepaired ruptures and missed appointments; the alliance-dropout link is stronger in
  longer and residential treatment (Sharf et al. 2010);
* alliance on Bordin's three subscales (bond, goal, task) with a client-specific trend
  and V-shaped ruptures that are repaired or not (EVIDENCE.md, rupture section; Safran
  et al. 2011 for the benefit of repair);
* a dropout's last appointments are mostly no-shows, and first appointments are missed
  more often than later ones (Davis et al. 2020);
* ORS improves with engagement, more with a strong alliance (Flückiger et al. 2018).

Everything is vectorised over clients: :func:`run_episodes` loops over appointments and
updates numpy vectors for every open episode at once. Each episode carries its own
appointment index in :class:`Episodes`, so the simulation can be stopped at the export
(:class:`Snapshot`) and continued for any subset of episodes, which is how
:mod:`pipeline.synthetic.truth` finds the future of the episodes open at the export.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from pipeline.synthetic.cohort import CONCERNS, PROGRAMS, REFERRALS
from pipeline.synthetic.profiles import ClinicProfile

__all__ = [
    "ATTENDED",
    "CANCELLED",
    "COMPLETED",
    "DROPOUT",
    "LATE_CANCEL",
    "NO_SHOW",
    "OTHER",
    "REASON_NAMES",
    "STATUS_NAMES",
    "SUBSCALES",
    "TRANSFERRED",
    "Episodes",
    "Rows",
    "Snapshot",
    "run_episodes",
    "start_episodes",
]

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
# Sharf et al. 2010: the alliance-dropout link is stronger in longer and inpatient care.
_PROGRAM_ALLIANCE_WEIGHT = {"outpatient": 1.0, "intensive_outpatient": 1.15, "residential": 1.3}
# Mandated and employer referrals carry outside leverage to stay; self-referrals leave
# more easily. Small intake effects: intake data alone predicts weakly (Bennemann 2022).
_REFERRAL_LOGIT = {"self": 0.10, "court": -0.20, "physician": 0.0, "family": 0.0, "employer": -0.10}

# Appointment status and discharge reason codes, and their names in the contract.
ATTENDED, NO_SHOW, LATE_CANCEL, CANCELLED = 0, 1, 2, 3
STATUS_NAMES = np.array(["attended", "no_show", "late_cancel", "cancelled"], dtype=object)
REASON_NAMES = np.array(["", "completed", "dropout", "transferred", "other"], dtype=object)
COMPLETED, DROPOUT, TRANSFERRED, OTHER = 1, 2, 3, 4

# Internal order of Bordin's subscales in the latent arrays.
SUBSCALES = ("bond", "goal", "task")

_MAX_APPOINTMENTS = 400  # safety stop; every episode ends long before this
_UNBOOKED = np.iinfo(np.int64).min  # no appointment day fixed in advance


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Rows:
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
        """Record one batch of appointments (missed ones without latent alliance or ORS)."""
        m = client.size
        if m == 0 or not self.record:
            return
        self.client.append(client)
        self.day.append(day)
        self.status.append(status.astype(np.int8))
        self.latent.append(np.full((m, 3), np.nan) if latent is None else latent)
        self.ors.append(np.full(m, np.nan) if ors is None else ors)


@dataclass
class Episodes:
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

    def take(self, idx: np.ndarray) -> Episodes:
        """An independent copy of the episodes ``idx`` (repeats give replicas)."""
        return Episodes(**{f.name: getattr(self, f.name)[idx] for f in dataclasses.fields(self)})

    @staticmethod
    def concat(parts: list[Episodes]) -> Episodes:
        """The episodes of ``parts`` one after the other."""
        names = [f.name for f in dataclasses.fields(Episodes)]
        return Episodes(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})


@dataclass
class Snapshot:
    """Episodes as they stood at the export: which ones (``index``) and their state."""

    index: np.ndarray
    episodes: Episodes


def start_episodes(
    c: dict[str, np.ndarray], rng: np.random.Generator, profile: ClinicProfile
) -> Episodes:
    """Draw each client's latent traits and set up the episode state before intake.

    Parameters
    ----------
    c
        The clients as :func:`pipeline.synthetic.cohort.draw_clients` returns them.
    rng
        The cohort's random generator, continued after the intake draws.
    profile
        The clinic: its sites' first-appointment no-shows and its dropout and no-show
        shifts.

    Returns
    -------
    Episodes
        One open episode per client, before its first appointment.
    """
    n = c["age"].size
    therapist = c["therapist"]
    program_w = np.array([_PROGRAM_ALLIANCE_WEIGHT[p] for p in PROGRAMS])[c["program"]]

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
    concern_logit = np.array([_CONCERN_LOGIT[k] for k in CONCERNS])[c["concern"]]
    referral_logit = np.array([_REFERRAL_LOGIT[k] for k in REFERRALS])[c["referral"]]
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

    return Episodes(
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


def _close(ep: Episodes, idx, day, why: int, lo: int, hi: int, rng) -> None:
    """Discharge ``idx`` between ``lo`` and ``hi`` days after ``day``."""
    ep.end_day[idx] = day + rng.integers(lo, hi + 1, idx.size)
    ep.reason[idx] = why
    ep.alive[idx] = False


def _emit_trailing(ep: Episodes, idx, day, rng, rows: Rows) -> None:
    """One of a dropout's last appointments: mostly no-shows, some late cancels."""
    u = rng.random(idx.size)
    status = np.where(u < 0.72, NO_SHOW, np.where(u < 0.93, LATE_CANCEL, CANCELLED))
    rows.add(idx, day, status)
    ep.last_day[idx] = day
    ep.trailing_left[idx] -= 1
    done = ep.trailing_left[idx] == 0
    # discharge some weeks after the last scheduled appointment
    _close(ep, idx[done], day[done], DROPOUT, 7, 35, rng)


def _schedule(ep: Episodes, idx: np.ndarray, rng, interval: int) -> np.ndarray:
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


def _hazard_logit(ep: Episodes, eng: np.ndarray) -> np.ndarray:
    """Logit of disengaging before this appointment, from what happened so far."""
    k = ep.appt[eng]
    bond, goal, task = ep.cur[eng, 0], ep.cur[eng, 1], ep.cur[eng, 2]
    # Some clients never come at all: the first appointment is missed for good.
    lp_first = ep.intake_logit[eng] + 0.6 + 0.5 * (3.9 - bond)
    fall = np.where(ep.attended[eng] >= 2, np.maximum(0.0, ep.prev[eng, 0] - bond), 0.0)
    ls = ep.last_status[eng]
    missed_logit = np.select(
        [ls == NO_SHOW, ls == LATE_CANCEL, ls == CANCELLED], [0.9, 0.6, 0.2], 0.0
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
    return np.where(k == 0, lp_first, ep.intake_logit[eng] + process_logit + time_logit)


def _disengage(
    ep: Episodes, eng: np.ndarray, day: np.ndarray, rng, rows: Rows
) -> tuple[np.ndarray, np.ndarray]:
    """Let engaged clients decide to leave; the episodes still engaged and their days."""
    quit_ = rng.random(eng.size) < _sigmoid(_hazard_logit(ep, eng))
    if quit_.any():
        q = eng[quit_]
        # Typically 1-3 trailing missed appointments; a few leave without one, but a
        # client who never attended always has at least the missed first appointment.
        n_trail = rng.choice(np.arange(4), size=q.size, p=(0.08, 0.42, 0.32, 0.18))
        n_trail = np.where(ep.attended[q] == 0, np.maximum(n_trail, 1), n_trail)
        ep.disengaged[q] = True
        ep.trailing_left[q] = n_trail
        none_left = n_trail == 0
        _close(ep, q[none_left], ep.last_day[q[none_left]], DROPOUT, 7, 35, rng)
        keep = ~none_left
        _emit_trailing(ep, q[keep], day[quit_][keep], rng, rows)
        eng, day = eng[~quit_], day[~quit_]
    return eng, day


def _attend(
    ep: Episodes, eng: np.ndarray, day: np.ndarray, rng, rows: Rows, no_show_shift: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Attendance of the engaged clients; records the missed appointments.

    Returns the episodes that attended, their days and their (attended) status codes.
    """
    first = ep.appt[eng] == 0
    p_later = _sigmoid(
        -2.9
        + no_show_shift
        + ep.attend_re[eng]
        + 0.5 * (4.0 - ep.cur[eng, 0])
        + 0.6 * (ep.last_status[eng] == NO_SHOW)
        + 0.3 * ep.is_sud[eng]
    )
    p_ns = np.where(first, ep.first_no_show[eng], p_later)
    p_lc = np.where(first, 0.03, 0.035)
    p_c = np.where(first, 0.04, 0.05)
    u = rng.random(eng.size)
    status = np.where(
        u < p_ns,
        NO_SHOW,
        np.where(
            u < p_ns + p_lc,
            LATE_CANCEL,
            np.where(u < p_ns + p_lc + p_c, CANCELLED, ATTENDED),
        ),
    )
    went = status == ATTENDED
    miss, day_miss = eng[~went], day[~went]
    rows.add(miss, day_miss, status[~went])
    ep.last_status[miss] = status[~went]
    ep.consec_miss[miss] += 1
    ep.last_day[miss] = day_miss
    return eng[went], day[went], status[went]


def _rupture(ep: Episodes, a: np.ndarray, rng) -> None:
    """At an attended session earlier ruptures heal a little and new ones may begin."""
    m = a.size
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


def _rate(
    ep: Episodes, a: np.ndarray, day_a: np.ndarray, status_a: np.ndarray, rng, rows: Rows
) -> None:
    """The alliance and ORS of an attended session; records the sessions."""
    m = a.size
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
    rows.add(a, day_a, status_a, latent, np.clip(ors, 0.0, 40.0))
    ep.attended[a] += 1
    ep.last_status[a] = ATTENDED
    ep.consec_miss[a] = 0
    ep.last_day[a] = day_a


def _end_after_session(ep: Episodes, a: np.ndarray, day_a: np.ndarray, rng) -> None:
    """Episode ends after an attended session: completion, or transfer/other."""
    done = ep.attended[a] >= ep.target[a]
    _close(ep, a[done], day_a[done], COMPLETED, 0, 14, rng)
    rest, day_r = a[~done], day_a[~done]
    moved = rng.random(rest.size) < 0.005
    why = np.where(rng.random(moved.sum()) < 0.6, TRANSFERRED, OTHER)
    for w in (TRANSFERRED, OTHER):
        sel = rest[moved][why == w]
        _close(ep, sel, day_r[moved][why == w], w, 0, 21, rng)


def _play(ep: Episodes, idx, day_all, rng, rows: Rows, no_show_shift: float) -> None:
    """Play one appointment for each episode ``idx`` on ``day_all``."""
    # Clients already disengaged play out their trailing missed appointments.
    trail = ep.disengaged[idx]
    _emit_trailing(ep, idx[trail], day_all[trail], rng, rows)
    eng, day = _disengage(ep, idx[~trail], day_all[~trail], rng, rows)
    a, day_a, status_a = _attend(ep, eng, day, rng, rows, no_show_shift)
    if a.size:
        _rupture(ep, a, rng)
        _rate(ep, a, day_a, status_a, rng, rows)
        _end_after_session(ep, a, day_a, rng)
    ep.appt[idx] += 1


def run_episodes(
    ep: Episodes,
    rng: np.random.Generator,
    rows: Rows,
    profile: ClinicProfile,
    snapshot_after: int | None = None,
) -> Snapshot | None:
    """Play every open episode to its end, appointment by appointment.

    With ``snapshot_after`` (a day), each episode still open when its next appointment
    first falls after that day is copied just before that appointment is played, with
    the appointment's day fixed in the copy: that copy is the episode's state at the
    export. Copying draws no random numbers, so the episodes play out the same either way.

    Parameters
    ----------
    ep
        The episodes, changed in place: on return every one is closed, with its
        ``end_day`` and ``reason``.
    rng
        The random generator; each appointment's draws follow in a fixed order.
    rows
        Receives every appointment played (nothing when ``rows.record`` is False).
    profile
        The clinic: appointment interval and no-show shift.
    snapshot_after
        The day to copy the open episodes at, or None for no copy.

    Returns
    -------
    Snapshot or None
        The copies with the simulation indices they came from (None without
        ``snapshot_after``).
    """
    n = ep.alive.size
    seen = np.zeros(n, dtype=bool)
    parts: list[Episodes] = []
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
    _close(ep, left, ep.last_day[left], OTHER, 0, 7, rng)
    if snapshot_after is None:
        return None
    if not parts:
        empty = ep.take(np.zeros(0, dtype=np.int64))
        return Snapshot(np.zeros(0, dtype=np.int64), empty)
    return Snapshot(np.concatenate(index), Episodes.concat(parts))
