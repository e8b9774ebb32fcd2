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

The modules, in the order the generator uses them:

* :mod:`~pipeline.synthetic.profiles`: the named clinics and their sites;
* :mod:`~pipeline.synthetic.cohort`: intake, i.e. sites, therapists and each client's case;
* :mod:`~pipeline.synthetic.simulate`: the episodes, appointment by appointment, with
  their complete state, so they can be stopped at the export and continued;
* :mod:`~pipeline.synthetic.ratings`: the instrument ratings of each attended session;
* :mod:`~pipeline.synthetic.export`: the contract tables cut at the extraction date
  (:func:`generate_cohort`, :func:`write_cohort`);
* :mod:`~pipeline.synthetic.truth`: each open episode's real future and its true
  probability of dropout, the ceiling a model could reach (:func:`generate_clinic`,
  :func:`write_clinic`).
"""

from pipeline.synthetic.export import generate_cohort, write_cohort
from pipeline.synthetic.profiles import DEFAULT_SITES, PROFILES, ClinicProfile, ClinicSite
from pipeline.synthetic.truth import SyntheticClinic, generate_clinic, write_clinic

__all__ = [
    "DEFAULT_SITES",
    "PROFILES",
    "ClinicProfile",
    "ClinicSite",
    "SyntheticClinic",
    "generate_clinic",
    "generate_cohort",
    "write_clinic",
    "write_cohort",
]
