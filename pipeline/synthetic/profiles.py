"""Named synthetic clinics: the knobs that make one clinic's export differ from another's.

A :class:`ClinicProfile` changes how :func:`pipeline.synthetic.generate_cohort` simulates a
network of sites: course length, how often appointments are booked, how readily clients
disengage or miss appointments, how much therapists differ, how long intakes have been
running before the export, and which instruments each site collects. ``PROFILES`` holds
the clinics the benchmark compares; ``PROFILES["default"]`` reproduces the generator's
original cohort exactly.

Every profile stays inside the published ranges of ``../shared/EVIDENCE.md``: dropout
among closed episodes between the psychotherapy rate of Swift & Greenberg 2012 (19.7%)
and the substance-use rate of Lappan et al. 2020 (30.4%, prediction interval 6-74%),
first-appointment non-attendance up to the ~40% Davis et al. 2020 report for the NHS.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from configs.config import InstrumentsConfig

__all__ = ["PROFILES", "ClinicProfile", "ClinicSite"]

_WAI_MODES = ("items", "means")
_SRS_MODES = ("items", "total", "both")
_INSTRUMENTS = ("wai", "srs", "ors")


@dataclass(frozen=True)
class ClinicSite:
    """One site of a synthetic clinic network and what it collects.

    Attributes
    ----------
    name
        Site name written to ``clients.site``.
    weight
        Relative share of the network's episodes (normalised over the sites).
    wai
        ``"items"`` (WAI items), ``"means"`` (bond/goal/task subscale means only) or None
        (WAI not collected).
    srs
        ``"items"`` (SRS items, ``srs_total`` blank), ``"total"`` (``srs_total`` only, items
        blank), ``"both"`` or None (SRS not collected).
    ors
        Whether the site records ``ors_total``.
    first_no_show
        Probability that the first appointment is a no-show (Davis et al. 2020: ~40% in
        the NHS).
    sud_share
        Share of substance-use episodes in the site's caseload.
    """

    name: str
    weight: float
    wai: str | None
    srs: str | None
    ors: bool
    first_no_show: float
    sud_share: float

    def __post_init__(self) -> None:
        if self.weight <= 0:
            raise ValueError(f"site {self.name}: weight must be positive, got {self.weight}")
        if self.wai is not None and self.wai not in _WAI_MODES:
            raise ValueError(f"site {self.name}: wai must be one of {_WAI_MODES} or None")
        if self.srs is not None and self.srs not in _SRS_MODES:
            raise ValueError(f"site {self.name}: srs must be one of {_SRS_MODES} or None")
        for attr in ("first_no_show", "sud_share"):
            if not 0.0 <= getattr(self, attr) <= 1.0:
                raise ValueError(f"site {self.name}: {attr} must lie in 0..1")


# The original network: seven sites that differ in what they export (WAI-SR items, WAI-SR
# subscale means only, SRS, ORS) and in first-appointment no-shows (20-33%, below the NHS
# ~40% of Davis et al. 2020).
DEFAULT_SITES: tuple[ClinicSite, ...] = (
    ClinicSite("site_a", 0.19, "items", "both", True, 0.22, 0.35),
    ClinicSite("site_b", 0.16, "items", None, False, 0.30, 0.70),
    ClinicSite("site_c", 0.15, None, "both", True, 0.26, 0.45),
    ClinicSite("site_d", 0.14, "items", "both", True, 0.20, 0.55),
    ClinicSite("site_e", 0.13, "means", None, True, 0.33, 0.60),
    ClinicSite("site_f", 0.12, None, "both", True, 0.28, 0.80),
    ClinicSite("site_g", 0.11, "items", "both", False, 0.24, 0.40),
)


def _frozen_overrides(overrides: Mapping) -> Mapping[str, Mapping[str, object]]:
    """A read-only two-level copy, so a shared profile in ``PROFILES`` cannot be edited."""
    out = {}
    for name, values in overrides.items():
        if name not in _INSTRUMENTS:
            raise ValueError(f"instrument_overrides: unknown instrument {name!r}")
        if not isinstance(values, Mapping):
            raise ValueError(f"instrument_overrides[{name!r}] must be a mapping of settings")
        out[name] = MappingProxyType(copy.deepcopy(dict(values)))
    return MappingProxyType(out)


@dataclass(frozen=True)
class ClinicProfile:
    """How one synthetic clinic differs from the default network.

    Attributes
    ----------
    name
        Short name (the key in ``PROFILES``).
    description
        One sentence for people choosing a profile.
    sites
        The site table: names, shares and the instruments each site collects.
    course_multiplier
        Planned sessions are ``rint(course_multiplier * drawn plan)``, clipped to 1..200.
    interval_days
        Days between booked appointments (7 weekly, 14 fortnightly); at least 5, so the
        +-2 day jitter never puts two appointments on one day or out of order.
    dropout_shift
        Added to the logit of the per-appointment disengagement hazard.
    no_show_shift
        Added to the logit of the no-show probability, at the first appointment (whose
        probability is otherwise the site's rate) and after it.
    therapist_spread
        Standard deviation of the therapist random effect on the disengagement logit.
    intake_window_days
        Intakes fall in this many days before the extraction date; a shorter window leaves
        a larger share of episodes open at the export.
    instrument_overrides
        Instrument settings this clinic's data need, e.g. ``{"wai": {"min": 1, "max": 7}}``
        for WAI-S (Tracey & Kokotovic 1989). The generator rescales to whatever
        instruments it is given, so a caller merges these into its config
        (:meth:`instruments_for`, or :meth:`config_overrides` for a ``--config`` YAML).
    """

    name: str
    description: str
    sites: tuple[ClinicSite, ...] = DEFAULT_SITES
    course_multiplier: float = 1.0
    interval_days: int = 7
    dropout_shift: float = 0.0
    no_show_shift: float = 0.0
    therapist_spread: float = 0.30
    intake_window_days: int = 913  # about 2.5 years of intakes before the export
    # excluded from the hash: a mapping is not hashable, and the other fields identify
    # the profile well enough for a set or a cache key
    instrument_overrides: Mapping[str, Mapping[str, object]] = field(
        default_factory=dict, hash=False
    )

    def __post_init__(self) -> None:
        if not self.sites:
            raise ValueError(f"profile {self.name}: needs at least one site")
        if len({s.name for s in self.sites}) != len(self.sites):
            raise ValueError(f"profile {self.name}: site names must be unique")
        if self.course_multiplier <= 0:
            raise ValueError(f"profile {self.name}: course_multiplier must be positive")
        if self.interval_days < 5:
            raise ValueError(f"profile {self.name}: interval_days must be at least 5")
        if self.therapist_spread < 0:
            raise ValueError(f"profile {self.name}: therapist_spread must not be negative")
        if self.intake_window_days < 1:
            raise ValueError(f"profile {self.name}: intake_window_days must be at least 1")
        object.__setattr__(self, "sites", tuple(self.sites))
        object.__setattr__(
            self, "instrument_overrides", _frozen_overrides(self.instrument_overrides)
        )

    def config_overrides(self) -> dict:
        """The profile's instrument settings as a plain config fragment.

        Returns
        -------
        dict
            ``{"instruments": {...}}`` ready to dump into a ``--config`` YAML (empty dict
            when the profile uses the configured instruments as they are).
        """
        if not self.instrument_overrides:
            return {}
        return {"instruments": {k: dict(v) for k, v in self.instrument_overrides.items()}}

    def instruments_for(self, instruments: InstrumentsConfig) -> InstrumentsConfig:
        """Merge the profile's instrument settings into ``instruments``.

        Parameters
        ----------
        instruments
            The configured instrument definitions.

        Returns
        -------
        InstrumentsConfig
            A validated copy with the overrides applied (``instruments`` itself when the
            profile has none).
        """
        if not self.instrument_overrides:
            return instruments
        data = instruments.model_dump()
        for name, values in self.instrument_overrides.items():
            data[name] = {**data[name], **values}
        return type(instruments).model_validate(data)


def _profiles(*profiles: ClinicProfile) -> dict[str, ClinicProfile]:
    return {p.name: p for p in profiles}


PROFILES: dict[str, ClinicProfile] = _profiles(
    ClinicProfile(
        "default",
        "The original seven-site network: weekly sessions, mixed psychotherapy and "
        "substance-use caseloads, sites that differ in what they collect.",
    ),
    # The "clinic 2": courses almost twice as long, more missed appointments, and
    # a younger service (intakes over the last ~18 months), so that 35-45% of episodes are
    # still open at the export. Longer exposure raises the cumulative dropout, so the
    # per-appointment hazard is lowered a little to stay near the published rates.
    ClinicProfile(
        "long_courses",
        "Long courses (x1.8), more no-shows, a young service with ~40% of episodes open.",
        course_multiplier=1.8,
        no_show_shift=0.35,
        dropout_shift=-0.40,
        intake_window_days=540,
    ),
    # A fortnightly substance-use service: more disengagement (Lappan et al. 2020: SUD
    # dropout 30.4%, stimulants highest), larger differences between counsellors, SRS
    # exported as a total only at two sites and one site without ORS.
    ClinicProfile(
        "fortnightly_sud",
        "Fortnightly substance-use service, higher dropout, therapists differ more.",
        sites=(
            ClinicSite("sud_north", 0.30, "items", "both", True, 0.28, 0.90),
            ClinicSite("sud_south", 0.25, None, "total", True, 0.32, 0.95),
            ClinicSite("sud_east", 0.25, "means", "total", True, 0.30, 0.85),
            ClinicSite("sud_west", 0.20, "items", "both", False, 0.35, 0.90),
        ),
        interval_days=14,
        dropout_shift=0.35,
        therapist_spread=0.45,
    ),
    # Brief primary-care style psychotherapy: short courses, SRS items only at every
    # site (no WAI), mostly depression and anxiety, and fewer leavers (Swift & Greenberg
    # 2012: ~20% for psychotherapy; shorter courses also mean less exposure).
    ClinicProfile(
        "srs_only_brief",
        "Brief therapy (x0.6 courses), SRS items only everywhere, lower dropout.",
        sites=(
            ClinicSite("brief_1", 0.40, None, "items", True, 0.22, 0.10),
            ClinicSite("brief_2", 0.35, None, "items", True, 0.25, 0.15),
            ClinicSite("brief_3", 0.25, None, "items", False, 0.20, 0.05),
        ),
        course_multiplier=0.6,
        dropout_shift=-0.15,
    ),
    # A clinic that uses the WAI-S on 1-7 (Tracey & Kokotovic 1989): WAI items at every
    # site, SRS at half of them and no ORS anywhere.
    ClinicProfile(
        "wai_s",
        "WAI-S (1-7) items at every site, SRS at half of them, no ORS.",
        sites=(
            ClinicSite("wais_1", 0.30, "items", "both", False, 0.24, 0.40),
            ClinicSite("wais_2", 0.25, "items", None, False, 0.28, 0.50),
            ClinicSite("wais_3", 0.25, "items", "both", False, 0.22, 0.35),
            ClinicSite("wais_4", 0.20, "items", None, False, 0.30, 0.55),
        ),
        instrument_overrides={"wai": {"min": 1, "max": 7}},
    ),
)
