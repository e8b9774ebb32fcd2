"""Intake of the synthetic network: the sites, their therapists and each client's case.

Everything a clinic knows at intake is drawn here, with the case mix of
``../shared/EVIDENCE.md``: psychotherapy and substance-use concerns, the programs and
planned course lengths that go with them, referral sources, age and gender, and the
intake dates. The therapists are drawn per site, each with a random effect on dropout and
on the alliance they build; trainees drop out more (Swift & Greenberg 2012).

The clients are returned as a dict of numpy arrays, one entry per client (or per
therapist for the therapist columns), in simulation order. The episode simulation
(:mod:`pipeline.synthetic.simulate`) continues from here with the same random generator.
"""

from __future__ import annotations

import numpy as np

from pipeline.synthetic.profiles import ClinicProfile

__all__ = [
    "CONCERNS",
    "PROGRAMS",
    "REFERRALS",
    "draw_clients",
]

_PSY_CONCERNS = ("depression", "anxiety")
_SUD_CONCERNS = ("alcohol", "opioid", "stimulant", "co_occurring")
CONCERNS = _PSY_CONCERNS + _SUD_CONCERNS
_PSY_CONCERN_P = (0.55, 0.45)
_SUD_CONCERN_P = (0.35, 0.25, 0.18, 0.22)

PROGRAMS = ("outpatient", "intensive_outpatient", "residential")
_PSY_PROGRAM_P = (0.88, 0.12, 0.0)
_SUD_PROGRAM_P = (0.55, 0.27, 0.18)
# Planned course length (sessions) by program, before the profile's course multiplier.
_PLANNED_CHOICES = {
    "outpatient": (6, 8, 10, 12, 12, 16, 16, 20, 24),
    "intensive_outpatient": (12, 16, 20, 24, 24, 30),
    "residential": (4, 6, 8, 8, 10, 12),
}

REFERRALS = ("self", "court", "physician", "family", "employer")
_PSY_REFERRAL_P = (0.45, 0.02, 0.35, 0.12, 0.06)
_SUD_REFERRAL_P = (0.30, 0.25, 0.20, 0.17, 0.08)

_GENDERS = ("female", "male", "non_binary")


def _choice_index(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _draw_therapists(
    site: np.ndarray, rng: np.random.Generator, profile: ClinicProfile
) -> dict[str, np.ndarray]:
    """Each site's therapists, their traits, and the primary therapist of every client.

    Therapists: about 60 episodes each over the window, at least 3 per site. Caseloads
    differ (Dirichlet weights). A quarter are trainees (higher dropout, Swift & Greenberg
    2012). Each therapist has a random effect on dropout and on the bond they build
    (EVIDENCE.md: therapist differences; warmth predicts alliance).
    """
    n = site.size
    n_sites = len(profile.sites)
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
    return {
        "therapist": therapist,
        "ther_site": ther_site,
        "ther_first": ther_first,
        "n_ther_site": n_ther_site,
        "trainee": trainee,
        "ther_hazard": ther_hazard,
        "ther_warmth": ther_warmth,
        "ther_repair": ther_repair,
    }


def draw_clients(
    n: int, rng: np.random.Generator, profile: ClinicProfile, window_days: int
) -> dict[str, np.ndarray]:
    """Intake attributes, site, therapist and the therapist's characteristics.

    Parameters
    ----------
    n
        Number of clients (treatment episodes).
    rng
        The cohort's random generator; the draws made here come first in its stream.
    profile
        The clinic: its sites, therapist spread and course multiplier.
    window_days
        Intakes fall in this many days before the extraction date (day 0).

    Returns
    -------
    dict of numpy.ndarray
        Per client: ``site``, ``therapist``, ``concern``, ``is_sud``, ``program``,
        ``planned``, ``referral``, ``age``, ``gender`` and ``intake_day`` (days relative
        to the extraction date). Per therapist: ``ther_site``, ``trainee``,
        ``ther_hazard``, ``ther_warmth`` and ``ther_repair``. Per site: ``ther_first``
        and ``n_ther_site``, the site's first therapist and its number of therapists.
    """
    sites = profile.sites
    n_sites = len(sites)
    site_w = np.array([s.weight for s in sites])
    site = rng.choice(n_sites, size=n, p=site_w / site_w.sum())
    therapists = _draw_therapists(site, rng, profile)

    sud_share = np.array([s.sud_share for s in sites])[site]
    is_sud = rng.random(n) < sud_share
    psy_pick = rng.choice(len(_PSY_CONCERNS), size=n, p=_PSY_CONCERN_P)
    sud_pick = rng.choice(len(_SUD_CONCERNS), size=n, p=_SUD_CONCERN_P)
    concern = np.where(is_sud, len(_PSY_CONCERNS) + sud_pick, psy_pick)

    program = _choice_index(rng, np.where(is_sud[:, None], _SUD_PROGRAM_P, _PSY_PROGRAM_P))
    planned = np.empty(n, dtype=np.int64)
    for p, name in enumerate(PROGRAMS):
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
        **therapists,
        "concern": concern,
        "is_sud": is_sud,
        "program": program,
        "planned": planned,
        "referral": referral,
        "age": age,
        "gender": gender,
        "intake_day": intake_day,
    }
