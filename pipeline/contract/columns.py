"""The input contract's columns: names, required sets, allowed values and ranges.

Everything here is read off ``../shared/CONTRACT.md`` (the rating columns off the
instrument definitions in the config). :func:`require_columns` is the one check that
stops a run: without a required column no row can be judged.
"""

from __future__ import annotations

import pandas as pd

from configs.config import InstrumentsConfig
from configs.errors import InputError

CLIENTS_REQUIRED = ("client_id", "therapist_id", "intake_date")
CLIENTS_TEXT = ("site", "program", "gender", "primary_concern", "referral_source")
CLIENTS_COLUMNS = (
    "client_id",
    "therapist_id",
    "intake_date",
    "site",
    "program",
    "age",
    "gender",
    "primary_concern",
    "referral_source",
    "planned_sessions",
    "discharge_date",
    "discharge_reason",
)
SESSIONS_REQUIRED = ("client_id", "session_date", "status")
DISCHARGE_REASONS = ("completed", "dropout", "transferred", "other")
STATUSES = ("attended", "no_show", "late_cancel", "cancelled")
AGE_RANGE = (12, 100)
PLANNED_SESSIONS_RANGE = (1, 200)


def rating_ranges(instruments: InstrumentsConfig) -> dict[str, tuple[float, float]]:
    """Every rating column the contract allows in sessions, with its valid range.

    Parameters
    ----------
    instruments
        The instrument definitions from the config (items, ranges, subscales).

    Returns
    -------
    dict
        ``{column: (low, high)}`` in contract order: WAI items, WAI subscale means, SRS
        items, SRS total, ORS total.
    """
    wai, srs, ors = instruments.wai, instruments.srs, instruments.ors
    ranges: dict[str, tuple[float, float]] = {}
    for item in range(1, wai.n_items + 1):
        ranges[f"wai_{item}"] = (wai.min, wai.max)
    for name in sorted(wai.subscales):
        ranges[f"wai_{name}"] = (wai.min, wai.max)
    for item in range(1, srs.n_items + 1):
        ranges[f"srs_{item}"] = (srs.item_min, srs.item_max)
    ranges["srs_total"] = (srs.total_min, srs.total_max)
    ranges["ors_total"] = (ors.total_min, ors.total_max)
    return ranges


def sessions_columns(instruments: InstrumentsConfig) -> tuple[str, ...]:
    """All columns the contract allows in the sessions table, in contract order."""
    return (*SESSIONS_REQUIRED, "therapist_id", *rating_ranges(instruments))


def require_columns(tables: list[tuple[str, pd.DataFrame, tuple[str, ...]]]) -> None:
    """Stop when a table lacks a required column, naming every missing one at once.

    Parameters
    ----------
    tables
        ``(file, frame, required columns)`` for each table, in the order to report them.

    Raises
    ------
    InputError
        One line per table with missing columns (file, the missing columns, the columns
        that were found), then the fix.
    """
    lines = []
    for file, frame, required in tables:
        missing = [column for column in required if column not in frame.columns]
        if missing:
            found = ", ".join(map(str, frame.columns)) or "none"
            lines.append(
                f"{file}: missing required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (columns found: {found})."
            )
    if lines:
        raise InputError(
            "\n".join(lines)
            + "\nFix: add the missing columns, or rename the matching ones to these exact "
            "lower-case names (see the data contract)."
        )


def split_contract_columns(
    frame: pd.DataFrame, allowed: tuple[str, ...]
) -> tuple[pd.DataFrame, list[str]]:
    """Separate the columns the contract knows from the extra ones, which are ignored.

    Parameters
    ----------
    frame
        One input table.
    allowed
        The columns the contract allows in that table.

    Returns
    -------
    known : pandas.DataFrame
        The allowed columns of ``frame``, in the file's order.
    extra : list of str
        The other columns, in the file's order.
    """
    known = [column for column in frame.columns if column in allowed]
    extra = [column for column in frame.columns if column not in allowed]
    return frame[known], extra
