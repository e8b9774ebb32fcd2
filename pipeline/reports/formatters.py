"""How the pages write numbers: one set of formatters, also registered as template filters.

The evaluation report and the model card used to carry copies of these that had drifted
apart in small ways; where they differ, a keyword argument picks the behaviour, so each
page prints exactly what it printed before:

- the evaluation report shows a value that is not a number as its own text
  (``keep_text=True``) and an interval even when its estimate is missing
  (``interval_if_no_estimate=True``); the model card shows a dash for both;
- the evaluation report reads an en dash before digits as a minus sign when it decides
  whether a cell is a number (``dash_minus=True``); the model card ignores thousands
  commas instead (``commas=True``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pandas as pd

DASH = "–"


def finite(value: object) -> float | None:
    """``value`` as a float, or None when it is not a finite number.

    Examples
    --------
    >>> finite("0.5"), finite(None), finite(float("nan"))
    (0.5, None, None)
    """
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def num(value: object, digits: int = 3, *, keep_text: bool = False) -> str:
    """A number with ``digits`` decimals; a dash when it is missing or not finite.

    Parameters
    ----------
    value
        Anything ``float`` accepts.
    digits
        Decimals shown.
    keep_text
        Show a value that ``float`` refuses as its own text instead of a dash.

    Examples
    --------
    >>> num(0.81234), num(float("nan")), num(None), num("n/a", keep_text=True)
    ('0.812', '–', '–', 'n/a')
    """
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value) if keep_text else DASH
    return f"{x:.{digits}f}" if math.isfinite(x) else DASH


def pct(value: object, digits: int = 1) -> str:
    """A share as a percentage with ``digits`` decimals; a dash when missing.

    Examples
    --------
    >>> pct(0.2712), pct(0.5, 0), pct(None)
    ('27.1%', '50%', '–')
    """
    x = finite(value)
    return DASH if x is None else f"{100 * x:.{digits}f}%"


def count(value: object) -> str:
    """A count rounded to a whole number with thousands commas; a dash when missing.

    Examples
    --------
    >>> count(81234.0), count(float("nan"))
    ('81,234', '–')
    """
    x = finite(value)
    return DASH if x is None else f"{round(x):,}"


def with_ci(
    row: Mapping,
    metric: str,
    digits: int = 3,
    *,
    keep_text: bool = False,
    interval_if_no_estimate: bool = False,
) -> str:
    """``estimate (low to high)`` from ``row[metric]`` and ``row[metric + "_ci_low"/"_high"]``.

    The estimate alone when either end of the interval is missing.

    Parameters
    ----------
    row
        A mapping (or pandas row) holding the metric and its interval.
    metric, digits
        The column and the decimals shown.
    keep_text
        As for `num`, for the estimate.
    interval_if_no_estimate
        Show the interval even when the estimate is missing (``– (0.1 to 0.2)``);
        otherwise a missing estimate shows as the dash alone.

    Examples
    --------
    >>> with_ci({"auroc": 0.8, "auroc_ci_low": 0.75, "auroc_ci_high": 0.85}, "auroc")
    '0.800 (0.750 to 0.850)'
    >>> with_ci({"auroc": 0.8}, "auroc", 2)
    '0.80'
    """
    estimate = num(row.get(metric, math.nan), digits, keep_text=keep_text)
    low, high = finite(row.get(f"{metric}_ci_low")), finite(row.get(f"{metric}_ci_high"))
    if low is None or high is None or (estimate == DASH and not interval_if_no_estimate):
        return estimate
    return f"{estimate} ({low:.{digits}f} to {high:.{digits}f})"


def significant(value: object, digits: int = 4) -> str:
    """A float to ``digits`` significant digits; anything else as its text.

    Examples
    --------
    >>> significant(0.31234), significant(7), significant("v7")
    ('0.3123', '7', 'v7')
    """
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def looks_numeric(text: str, *, commas: bool = True, dash_minus: bool = False) -> bool:
    """Whether a formatted cell reads as a number, so a table right-aligns it.

    The first word counts, without a trailing ``%``; a dash alone (a missing number)
    counts as a number.

    Parameters
    ----------
    text
        The cell as shown.
    commas
        Ignore thousands commas (``1,234``).
    dash_minus
        Read an en dash as a minus sign (``–0.5``).

    Examples
    --------
    >>> looks_numeric("0.812 (0.79 to 0.83)"), looks_numeric("27.1%"), looks_numeric("–")
    (True, True, True)
    >>> looks_numeric("1,234"), looks_numeric("1,234", commas=False)
    (True, False)
    """
    head = text.split(" ")[0].rstrip("%")
    if commas:
        head = head.replace(",", "")
    if head == DASH:
        return True
    if dash_minus:
        head = head.replace(DASH, "-")
    try:
        float(head)
    except ValueError:
        return False
    return True


def rounded(value: object, digits: int = 2) -> float | None:
    """A finite number rounded to ``digits`` decimals, or None: numbers for page data.

    Examples
    --------
    >>> rounded(4.4567), rounded("3.0", 1), rounded(None), rounded(float("inf"))
    (4.46, 3.0, None, None)
    """
    if value is None:
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


def risk_percent(risk: object) -> str:
    """Risk as the pages print it: a whole percent rounded down, ``''`` when not scored.

    Rounded down on the decimal value as written in the risk list, so a risk never reads
    as reaching a tier threshold it does not reach (0.3996, a medium risk under a 40%
    threshold, is 39%, not 40%); ``<1%`` and ``>99%`` keep a tiny or near-certain risk
    from reading as impossible or certain.

    Examples
    --------
    >>> risk_percent(0.435), risk_percent(0.3996), risk_percent(0.0049), risk_percent(None)
    ('43%', '39%', '<1%', '')
    """
    if risk is None or (isinstance(risk, float) and math.isnan(risk)) or pd.isna(risk):
        return ""
    value = Decimal(str(float(risk)))  # type: ignore[arg-type]
    whole = int((value * 100).quantize(Decimal(1), rounding=ROUND_FLOOR))
    if whole == 0 and value > 0:
        return "<1%"
    if whole == 99 and value > Decimal("0.99"):
        return ">99%"
    return f"{whole}%"


def points_change(change: object) -> str:
    """A change in risk in whole percentage points, rounded half up: ``+12 pts``, ``−3 pts``.

    ``''`` when the change is missing; a change that rounds to nothing is ``0 pts``. The
    minus sign is U+2212, as the page writes it.

    Examples
    --------
    >>> points_change(0.1249), points_change(-0.03), points_change(0.004), points_change(None)
    ('+12 pts', '−3 pts', '0 pts', '')
    """
    x = finite(change)
    if x is None:
        return ""
    whole = int((Decimal(str(x)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if whole == 0:
        return "0 pts"
    return f"+{whole} pts" if whole > 0 else f"\u2212{-whole} pts"


# the names the templates use: ``{{ share|pct }}``, ``{{ row|with_ci("auroc") }}``
FILTERS = {
    "num": num,
    "pct": pct,
    "count": count,
    "with_ci": with_ci,
    "significant": significant,
    "risk_percent": risk_percent,
    "points_change": points_change,
}
