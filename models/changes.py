"""What changed since an earlier date: the contribution that moved most, in words.

``score --since DATE`` scores the same caseload twice, as of DATE and as of the scoring
date, with the same model. For each client in both, ``change_reason`` names the feature
whose contribution to the risk moved most in the direction the risk moved (risen risk:
the contribution that rose most), among the client's own signals whose value changed,
with both values ("Bond rating fell from 4.2 to 3.0 since 2026-06-16", "2 no-shows since
2026-06-16 (3 in all)"). Course bookkeeping (days in treatment, progress through the
plan) changes for everyone every week and is never the change reason.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.schema import ALLIANCE_SCALES, SCALE_LABELS
from models.reason_words import _missing, _num, _plural, reason_templates
from models.reasons import RowReader, is_signal

NEW_CLIENT = "New to the caseload since {date}"
NOTHING_CHANGED = "Nothing in the client's own signals changed since {date}"

# counts and the noun of one
_COUNTS: dict[str, str] = {
    "no_shows": "no-show",
    "late_cancels": "late cancellation",
    "cancellations": "cancellation",
}
_LEVELS: dict[str, str] = {
    **{f"{scale}_last": scale for scale in ALLIANCE_SCALES},
    **{f"{scale}_min": scale for scale in ALLIANCE_SCALES},
    **{f"{scale}_change": scale for scale in ALLIANCE_SCALES},
    **{f"{scale}_slope": scale for scale in ALLIANCE_SCALES},
    "srs_below_cutoff": "srs_total",
    "srs_share_below_cutoff": "srs_total",
    "ors_last": "ors",
    "ors_change": "ors",
    "ors_clinical": "ors",
}


def _int(v) -> int:
    """A count as a whole number; 0 when missing (None too, unlike the reasons' helper)."""
    return 0 if _missing(v) else int(round(v))


def _same(a, b) -> bool:
    if _missing(a) and _missing(b):
        return True
    if _missing(a) or _missing(b):
        return False
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) < 1e-9
        except (TypeError, ValueError):
            return False
    return a == b


def changed_features(then: pd.DataFrame, now: pd.DataFrame, names) -> np.ndarray:
    """Boolean rows × ``names``: the feature's value differs between ``then`` and ``now``."""
    out = np.zeros((len(now), len(names)), dtype=bool)
    for j, name in enumerate(names):
        if name not in now or name not in then:
            continue
        a, b = then[name], now[name]
        if pd.api.types.is_numeric_dtype(a.dtype) and pd.api.types.is_numeric_dtype(b.dtype):
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            both = np.isnan(x) & np.isnan(y)
            out[:, j] = ~both & ~(np.abs(x - y) < 1e-9)
        else:
            x = a.astype(object).where(a.notna(), None).to_numpy()
            y = b.astype(object).where(b.notna(), None).to_numpy()
            out[:, j] = x != y
    return out


def _rating_words(scale: str, then: dict, now: dict, since: str) -> str | None:
    """The latest rating of a scale then and now, or None when it did not change."""
    if scale == "ors":
        key, label = "ors_last", SCALE_LABELS["ors_total"]
    else:
        key, label = f"{scale}_last", SCALE_LABELS[scale]
    a, b = then.get(key), now.get(key)
    if _same(a, b):
        return None
    cap = label[0].upper() + label[1:]
    if _missing(a):
        return f"First {label} since {since}: {_num(b)}"
    if _missing(b):
        return None
    verb = "fell" if b < a else "rose"
    return f"{cap} {verb} from {_num(a)} to {_num(b)} since {since}"


def _change_words(name: str, then: dict, now: dict, since: str, generic: Callable) -> str:
    """One feature's change in words, with both values."""
    if name in _COUNTS:
        a, b = _int(then[name]), _int(now[name])
        if b > a:
            return f"{_plural(b - a, _COUNTS[name])} since {since} ({b} in all)"
    elif name in _LEVELS:
        words = _rating_words(_LEVELS[name], then, now, since)
        if words is not None:
            return words
    elif name == "attendance_rate":
        a, b = then[name], now[name]
        if not (_missing(a) or _missing(b)):
            verb = "fell" if b < a else "rose"
            return f"Attendance {verb} from {100 * a:.0f}% to {100 * b:.0f}% of appointments since {since}"
    elif name == "alliance_level":
        a, b = then[name], now[name]
        if not (_missing(a) or _missing(b)):
            verb = "fell" if b < a else "rose"
            return (
                f"Latest alliance ratings {verb} from {100 * a:.0f}% to {100 * b:.0f}% "
                f"of the scale since {since}"
            )
    elif name == "days_since_last_attended":
        a, b = _int(then[name]), _int(now[name])
        if _int(now["attended"]) == 0:
            return f"Still no session attended, {_plural(b, 'day')} after intake"
        if b > a:
            return f"No session attended since {since}: {_plural(b, 'day')} since the last one"
        return f"Attended a session since {since} (the last {_plural(b, 'day')} ago)"
    elif name == "misses_since_last_attended":
        a, b = _int(then[name]), _int(now[name])
        if b > a:
            return (
                f"{_plural(b - a, 'missed appointment')} since {since}, "
                f"{b} since the last attended session"
            )
        return f"Attended a session since {since}, after {_plural(a, 'missed appointment')}"
    elif name.endswith("_ruptures") or name.endswith("_unrepaired") or name.endswith("_repairs"):
        scale = name.rsplit("_", 1)[0]
        label = SCALE_LABELS.get(scale, scale)
        if name.endswith("_ruptures") and _int(now[name]) > _int(then[name]):
            words = _rating_words(scale, then, now, since)
            drop = f"New drop in {label} since {since}"
            return drop if words is None else f"{drop}: {words[0].lower()}{words[1:]}"
        if name.endswith("_repairs") and _int(now[name]) > _int(then[name]):
            return f"A drop in {label} recovered since {since}"
        words = _rating_words(scale, then, now, since)
        if words is not None:
            return words
    then_words, now_words = generic(then), generic(now)
    if then_words == now_words:
        return f"{now_words} (changed since {since})"
    return f"{now_words} (on {since}: {then_words[0].lower()}{then_words[1:]})"


def change_reasons(
    then: pd.DataFrame,
    now: pd.DataFrame,
    contributions_then: pd.DataFrame,
    contributions_now: pd.DataFrame,
    risk_change: pd.Series,
    settings: dict,
    since: pd.Timestamp,
) -> pd.Series:
    """``change_reason`` for clients scored at both dates (rows aligned by index).

    Parameters
    ----------
    then, now
        Feature rows with their ``ctx_*`` columns at the earlier date and now.
    contributions_then, contributions_now
        Per-feature contributions (margin scale) of the same clients at each date.
    risk_change
        Risk now minus risk then, per client.
    settings
        The model's feature settings (the cut-offs in the wording).
    since
        The earlier date.
    """
    if not len(now):
        return pd.Series(dtype=object, index=now.index)
    names = list(contributions_now.columns)
    then = then.loc[now.index]
    delta = contributions_now.to_numpy() - contributions_then.loc[now.index, names].to_numpy()
    signal = np.array([is_signal(name) for name in names])
    moved = changed_features(then, now, names) & signal[None, :]
    sign = np.sign(risk_change.reindex(now.index).to_numpy(dtype=float))
    sign = np.where(np.isnan(sign) | (sign == 0), 1.0, sign)
    # the contribution that moved most the way the risk moved; otherwise the largest move
    toward = np.where(moved, delta * sign[:, None], -np.inf)
    against = np.where(moved, np.abs(delta), -np.inf)
    best_toward = np.argmax(toward, axis=1)
    has_toward = np.take_along_axis(toward, best_toward[:, None], axis=1)[:, 0] > 1e-9
    pick = np.where(has_toward, best_toward, np.argmax(against, axis=1))
    anything = moved.any(axis=1)
    templates = reason_templates(settings)
    label = f"{since:%Y-%m-%d}"
    rows_then, rows_now = RowReader(then), RowReader(now)
    out = []
    for i in range(len(now)):
        if not anything[i]:
            out.append(NOTHING_CHANGED.format(date=label))
            continue
        name = names[pick[i]]
        out.append(_change_words(name, rows_then[i], rows_now[i], label, templates[name]))
    return pd.Series(out, index=now.index, dtype=object)
