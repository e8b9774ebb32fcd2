"""The words of each reason: one template per feature, in the client's own values.

A template turns a client's feature row (a mapping of feature and ``ctx_*`` context
values) into one line a clinical lead reads ("Bond rating fell from 4.2 to 3.0 between
sessions 2 and 3"). :mod:`models.reasons` chooses which features become reasons;
:func:`reason_templates` gives the words for the instruments a model was trained with.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from features.schema import ALLIANCE_SCALES, FEATURE_NAMES, SCALE_LABELS

Template = Callable[[dict], str]


def _num(x: float, digits: int = 1) -> str:
    """A rating as a clinician writes it: one decimal (4.2, 3.0)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "?"
    return f"{x:.{digits}f}"


def _cut(x: float) -> str:
    """A cut-off or threshold: no trailing zeros (36, 0.5)."""
    return f"{x:g}"


def _int(x: float) -> int:
    # float() first: rounding a NumPy scalar goes through NumPy and is ten times slower
    return int(round(float(x))) if x == x else 0


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _scale_templates(scale: str, rupture_drop: float) -> dict[str, Template]:
    label = SCALE_LABELS[scale]
    cap = label[0].upper() + label[1:]

    def none_yet(r: dict) -> str:
        return f"No {label} recorded yet"

    def last(r: dict) -> str:
        v = r[f"{scale}_last"]
        if _missing(v):
            return none_yet(r)
        return f"{cap} {_num(v)} at session {_int(r[f'{scale}_ctx_last_session'])}"

    def between(r: dict, a: str, b: str) -> str:
        return f"between sessions {_int(r[a])} and {_int(r[b])}"

    def slope(r: dict) -> str:
        v, start = r[f"{scale}_last"], r[f"{scale}_ctx_start"]
        if _missing(v):
            return none_yet(r)
        if _missing(start) or r[f"{scale}_ctx_count"] < 2:
            return last(r)
        verb = "fell" if v < start else ("rose" if v > start else "stayed")
        span = between(r, f"{scale}_ctx_start_session", f"{scale}_ctx_last_session")
        if verb == "stayed":
            return f"{cap} unchanged at {_num(v)} {span}"
        return f"{cap} {verb} from {_num(start)} to {_num(v)} {span}"

    def change(r: dict) -> str:
        v, first = r[f"{scale}_last"], r[f"{scale}_ctx_first"]
        if _missing(v):
            return none_yet(r)
        if _missing(first) or r[f"{scale}_ctx_count"] < 2:
            return last(r)
        verb = "fell" if v < first else ("rose" if v > first else "held")
        if verb == "held":
            return f"{cap} held at {_num(v)} since the first rating"
        return f"{cap} {verb} from {_num(first)} at the first rating to {_num(v)} now"

    def minimum(r: dict) -> str:
        v = r[f"{scale}_min"]
        return none_yet(r) if _missing(v) else f"Lowest {label} so far: {_num(v)}"

    def ruptures(r: dict) -> str:
        if _missing(r[f"{scale}_last"]):
            return none_yet(r)
        n = _int(r[f"{scale}_ruptures"])
        if n == 0:
            return f"No drop in {label} of {_cut(rupture_drop)} points or more so far"
        return f"{_plural(n, 'drop')} in {label} of {_cut(rupture_drop)} points or more between sessions"

    def unrepaired(r: dict) -> str:
        if _missing(r[f"{scale}_last"]):
            return none_yet(r)
        if r[f"{scale}_unrepaired"] >= 0.5:
            fall = (
                f"{cap} fell from {_num(r[f'{scale}_ctx_rupture_from'])} to "
                f"{_num(r[f'{scale}_ctx_rupture_to'])} "
                f"{between(r, f'{scale}_ctx_rupture_from_session', f'{scale}_ctx_rupture_session')}"
            )
            now = r[f"{scale}_last"]
            still = "" if now == r[f"{scale}_ctx_rupture_to"] else f" (now {_num(now)})"
            return f"{fall} and has not recovered{still}"
        return f"No unresolved drop in {label}"

    def repairs(r: dict) -> str:
        if _missing(r[f"{scale}_last"]):
            return none_yet(r)
        n, drops = _int(r[f"{scale}_repairs"]), _int(r[f"{scale}_ruptures"])
        if drops == 0:
            return f"No drop in {label} so far"
        return f"{_plural(drops, 'drop')} in {label} so far, {n} since recovered"

    return {
        f"{scale}_last": last,
        f"{scale}_change": change,
        f"{scale}_slope": slope,
        f"{scale}_min": minimum,
        f"{scale}_ruptures": ruptures,
        f"{scale}_unrepaired": unrepaired,
        f"{scale}_repairs": repairs,
    }


def reason_templates(settings: dict) -> dict[str, Template]:
    """A template per model feature, using the instrument cut-offs in ``settings``.

    Parameters
    ----------
    settings
        The model's ``feature_settings`` (``instruments`` and ``features`` as dicts).
    """
    inst = settings["instruments"]
    srs_cut = inst["srs"]["cutoff"]
    ors_cut = inst["ors"]["cutoff"]

    def appts(r: dict) -> str:
        return f"in the first {_plural(_int(r['appointments']), 'appointment')}"

    def count(col: str, word: str) -> Template:
        return lambda r: f"{_plural(_int(r[col]), word)} {appts(r)}"

    def attended(r: dict) -> str:
        return (
            f"Attended {_int(r['attended'])} of {_plural(_int(r['appointments']), 'appointment')}"
        )

    def misses_since(r: dict) -> str:
        n = _int(r["misses_since_last_attended"])
        if _int(r["attended"]) == 0:
            return f"No session attended yet; {_plural(n, 'missed appointment')} so far"
        return f"{_plural(n, 'missed appointment')} since the last attended session"

    def since_last(r: dict) -> str:
        d = _int(r["days_since_last_attended"])
        if _int(r["attended"]) == 0:
            return f"No session attended in the {_plural(d, 'day')} since intake"
        return f"{_plural(d, 'day')} since the last attended session"

    def first_missed(r: dict) -> str:
        return (
            "Missed the first appointment"
            if r["missed_first_appointment"] >= 0.5
            else "Attended the first appointment"
        )

    def progress(r: dict) -> str:
        if _missing(r["plan_progress"]):
            return "Planned course length not recorded"
        return f"{_int(r['attended'])} of {_int(r['planned_sessions'])} planned sessions attended"

    def srs_below(r: dict) -> str:
        v = r["srs_total_last"]
        if _missing(v):
            return "No SRS recorded yet"
        side = "below" if v < srs_cut else "at or above"
        return f"Last SRS total {_num(v)} is {side} the alliance-concern cut-off of {_cut(srs_cut)}"

    def srs_share(r: dict) -> str:
        v = r["srs_share_below_cutoff"]
        if _missing(v):
            return "No SRS recorded yet"
        return f"{100 * v:.0f}% of SRS ratings below the cut-off of {_cut(srs_cut)}"

    def ors_last(r: dict) -> str:
        v = r["ors_last"]
        if _missing(v):
            return "No ORS recorded yet"
        where = "in the clinical range" if v < ors_cut else "above the clinical cut-off"
        return f"ORS total {_num(v)}, {where} (cut-off {_cut(ors_cut)})"

    def ors_change(r: dict) -> str:
        v, first = r["ors_last"], r["ors_ctx_first"]
        if _missing(v):
            return "No ORS recorded yet"
        if v == first:
            return f"ORS total unchanged at {_num(v)} since the first rating"
        verb = "improved" if v > first else "worsened"
        return f"ORS total {verb} from {_num(first)} to {_num(v)} since the first rating"

    def age(r: dict) -> str:
        return "Age not recorded" if _missing(r["age"]) else f"Age {_int(r['age'])} at intake"

    def planned(r: dict) -> str:
        if _missing(r["planned_sessions"]):
            return "Planned course length not recorded"
        return f"Planned course of {_plural(_int(r['planned_sessions']), 'session')}"

    def category(col: str, title: str) -> Template:
        return lambda r: f"{title}: {r[col]}" if not _missing(r[col]) else f"{title} not recorded"

    def level(r: dict) -> str:
        v = r["alliance_level"]
        if _missing(v):
            return "No alliance rating recorded yet"
        return f"Latest alliance ratings at {100 * v:.0f}% of the scale (100% = highest possible)"

    def low_with_misses(r: dict) -> str:
        v = r["alliance_level"]
        missed = _int(r["no_shows"]) + _int(r["late_cancels"])
        if _missing(v):
            return f"{_plural(missed, 'missed appointment')} and no alliance rating yet"
        return (
            f"{_plural(missed, 'missed appointment')} while alliance ratings are at "
            f"{100 * v:.0f}% of the scale"
        )

    def history(who: str, everyone: str) -> Template:
        def words(r: dict) -> str:
            v, prior = r.get(f"{who}_dropout_rate"), r.get("ctx_history_prior")
            if _missing(v) or _missing(prior):
                return f"Past dropout rate of this {who} not known"
            if abs(v - prior) < 1e-9:
                return f"Too few closed episodes with this {who} to know its dropout rate"
            return (
                f"Past dropout rate with this {who}: {100 * v:.0f}% "
                f"({everyone}: {100 * prior:.0f}%)"
            )

        return words

    templates: dict[str, Template] = {
        "alliance_level": level,
        "low_alliance_x_misses": low_with_misses,
        "therapist_dropout_rate": history("therapist", "all therapists"),
        "site_dropout_rate": history("site", "all sites"),
        "appointments": lambda r: f"{_plural(_int(r['appointments']), 'appointment')} so far",
        "attendance_rate": attended,
        "no_shows": count("no_shows", "no-show"),
        "late_cancels": count("late_cancels", "late cancellation"),
        "cancellations": count("cancellations", "cancellation"),
        "missed_first_appointment": first_missed,
        "misses_since_last_attended": misses_since,
        "days_since_last_attended": since_last,
        "longest_gap_days": lambda r: (
            f"Longest gap between attended sessions: {_plural(_int(r['longest_gap_days']), 'day')}"
        ),
        "days_in_treatment": lambda r: (
            f"{_plural(_int(r['days_in_treatment']), 'day')} since intake"
        ),
        "plan_progress": progress,
        "srs_below_cutoff": srs_below,
        "srs_share_below_cutoff": srs_share,
        "ors_last": ors_last,
        "ors_change": ors_change,
        "ors_clinical": ors_last,
        "age": age,
        "planned_sessions": planned,
        "site": category("site", "Site"),
        "program": category("program", "Program"),
        "gender": category("gender", "Gender"),
        "primary_concern": category("primary_concern", "Primary concern"),
        "referral_source": category("referral_source", "Referral source"),
    }
    for scale in ALLIANCE_SCALES:
        drop = inst["srs"]["rupture_drop"] if scale == "srs_total" else inst["wai"]["rupture_drop"]
        templates.update(_scale_templates(scale, drop))
    missing = set(FEATURE_NAMES) - set(templates)
    if missing:  # a feature added to the schema must get words too
        raise RuntimeError(f"no reason template for features {sorted(missing)}")
    return templates
