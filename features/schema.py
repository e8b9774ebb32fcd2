"""The model's input columns: names, kinds and the clinical direction where it is certain.

One list serves training, scoring, explanation and the behaviour tests, so a feature
added here is added everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

# Alliance scales the features are built for. Subscales and totals are derived from the
# items by `features.instruments.derive_scores` using the instrument definitions in config.
ALLIANCE_SCALES: tuple[str, ...] = ("wai_bond", "wai_goal", "wai_task", "srs_total")
SCALE_LABELS: dict[str, str] = {
    "wai_bond": "bond rating",
    "wai_goal": "goal agreement rating",
    "wai_task": "task agreement rating",
    "srs_total": "SRS total",
    "ors_total": "ORS total",
}


@dataclass(frozen=True)
class Feature:
    """One model input column.

    Attributes
    ----------
    name
        Column name.
    kind
        ``numeric`` or ``categorical``.
    family
        ``attendance``, ``alliance``, ``outcome``, ``intake``, ``interaction`` (built
        from two families) or ``history``: used for single-family baselines and reports. ``history`` features are not built from a client's rows but
        learnt from past episodes by the model (``features.history``).
    direction
        +1 when a larger value can only raise dropout risk clinically, -1 when it can only
        lower it, 0 when no direction is certain. The models are constrained to it and the
        behaviour tests check it.
    """

    name: str
    kind: str
    family: str
    direction: int = 0


def _alliance_features() -> list[Feature]:
    # Directions from the alliance literature (EVIDENCE.md), not from any data set: a
    # stronger or rising alliance never raises dropout risk (d = 0.55), a rupture never
    # lowers it, and at equal ruptures a repaired one is the better sign (Safran 2011).
    out: list[Feature] = []
    for scale in ALLIANCE_SCALES:
        out += [
            Feature(f"{scale}_last", "numeric", "alliance", -1),
            Feature(f"{scale}_change", "numeric", "alliance", -1),
            Feature(f"{scale}_slope", "numeric", "alliance", -1),
            Feature(f"{scale}_min", "numeric", "alliance", -1),
            Feature(f"{scale}_ruptures", "numeric", "alliance", +1),
            Feature(f"{scale}_unrepaired", "numeric", "alliance", +1),
            Feature(f"{scale}_repairs", "numeric", "alliance", -1),
        ]
    out += [
        Feature("srs_below_cutoff", "numeric", "alliance", +1),
        Feature("srs_share_below_cutoff", "numeric", "alliance", +1),
        # the latest ratings of every collected scale on one 0-1 scale, so sites with WAI
        # only, SRS only or both share one alliance level
        Feature("alliance_level", "numeric", "alliance", -1),
        # low alliance and missed appointments together: disengagement on both fronts
        Feature("low_alliance_x_misses", "numeric", "interaction", +1),
    ]
    return out


FEATURES: tuple[Feature, ...] = (
    Feature("appointments", "numeric", "attendance"),
    Feature("attendance_rate", "numeric", "attendance", -1),
    Feature("no_shows", "numeric", "attendance", +1),
    Feature("late_cancels", "numeric", "attendance", +1),
    Feature("cancellations", "numeric", "attendance"),
    Feature("missed_first_appointment", "numeric", "attendance", +1),
    Feature("misses_since_last_attended", "numeric", "attendance", +1),
    Feature("days_since_last_attended", "numeric", "attendance", +1),
    Feature("longest_gap_days", "numeric", "attendance", +1),
    Feature("days_in_treatment", "numeric", "attendance"),
    Feature("plan_progress", "numeric", "attendance"),
    *_alliance_features(),
    Feature("ors_last", "numeric", "outcome"),
    Feature("ors_change", "numeric", "outcome"),
    Feature("ors_clinical", "numeric", "outcome"),
    Feature("age", "numeric", "intake"),
    Feature("planned_sessions", "numeric", "intake"),
    Feature("site", "categorical", "intake"),
    Feature("program", "categorical", "intake"),
    Feature("gender", "categorical", "intake"),
    Feature("primary_concern", "categorical", "intake"),
    Feature("referral_source", "categorical", "intake"),
    # a therapist's and a site's past dropout rate, shrunk toward the overall rate:
    # a real share of dropout variance lies between therapists (EVIDENCE.md)
    Feature("therapist_dropout_rate", "numeric", "history", +1),
    Feature("site_dropout_rate", "numeric", "history", +1),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "numeric")
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "categorical")
INTAKE_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.family == "intake")
FEATURE_FAMILIES: dict[str, str] = {f.name: f.family for f in FEATURES}
HISTORY_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.family == "history")
# the columns a model is given: every feature built from the client's own rows, plus the
# therapist id its history features are looked up by (history comes from the model)
ROW_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.family != "history")
MODEL_INPUTS: tuple[str, ...] = (*ROW_FEATURES, "therapist_id")


MONOTONE_DIRECTIONS: dict[str, int] = {f.name: f.direction for f in FEATURES if f.direction}

# the attributes whose groups the fairness checks compare (age is banded first)
SUBGROUP_ATTRIBUTES: tuple[str, ...] = ("age", "gender", "site", "program")
