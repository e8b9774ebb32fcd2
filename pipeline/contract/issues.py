"""Running the rules on a table and listing every problem found, in plain language.

Every rule of a table is a vectorised check of its whole column, and every rule runs on
every row, so that one pass collects every problem. Each failure case is then worded: the
file, the row, the column, the value as written and a reason that ends with the fix.
The rejected-clients table, which lets the risk list say why a client was not scored,
is derived from these issues.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from pipeline.contract.columns import DISCHARGE_REASONS
from pipeline.contract.parsing import ParsedColumns, integers_when_whole
from pipeline.contract.rules import Rule

ISSUE_COLUMNS = ("file", "row", "column", "value", "reason", "client_id", "table")
# the columns of the rejected-clients table and their types
REJECTED_TYPES = {
    "client_id": "str",
    "therapist_id": "str",
    "site": "str",
    "row": "int64",
    "reason": "str",
    "active": "bool",
}


def list_issues(
    frame: pd.DataFrame, rules: list[Rule], values: ParsedColumns, table: str, file: str
) -> pd.DataFrame:
    """Run every rule of ``rules`` on ``frame``; list the problems.

    Parameters
    ----------
    frame
        The table's contract columns, as read, with a default index.
    rules
        The table's rules, in the order a row's problems are reported.
    values
        ``frame`` parsed (the rules were built on it); gives each issue's client_id.
    table, file
        ``'clients'`` or ``'sessions'``, and the file name, copied into every issue.

    Returns
    -------
    pandas.DataFrame
        :data:`ISSUE_COLUMNS` plus ``problem`` (the reason without the fix), one row per
        problem, sorted by row and then by rule order.

    Raises
    ------
    RuntimeError
        When a rule raised or its column is missing: a bug here, not in the data.
    """
    assert len({(rule.column, rule.name) for rule in rules}) == len(rules), (
        "each rule needs a name unique within its column"
    )
    client_id = values.text("client_id")
    parts = []
    for order, rule in enumerate(rules):
        positions = np.flatnonzero(_failing(frame, rule))
        if len(positions):
            parts.append(_word_failures(frame, rule, order, positions, client_id, table, file))
    if not parts:
        return empty_issues()
    issues = pd.concat(parts, ignore_index=True)
    issues = issues.sort_values(["row", "_order"], kind="stable", ignore_index=True)
    return issues.drop(columns="_order")


def _failing(frame: pd.DataFrame, rule: Rule) -> np.ndarray:
    """The rule's boolean mask over the rows of ``frame``, by position.

    Raises
    ------
    RuntimeError
        When the column is not there or the rule raised: a bug here, not in the data
        (the required columns were checked before any rule ran).
    """
    if rule.column not in frame.columns:
        raise RuntimeError(f"validation failed internally: no column {rule.column!r} to check")
    column = frame[rule.column]
    try:
        fails = rule.fails(column)
    except Exception as exc:
        raise RuntimeError(
            f"validation failed internally: rule {rule.name!r} on column {rule.column!r} "
            f"raised {type(exc).__name__}"
        ) from exc
    if isinstance(fails, pd.Series) and fails.dtype == bool and fails.index.equals(column.index):
        return fails.to_numpy()  # the usual case, without four copies of the mask
    if isinstance(fails, np.ndarray) and fails.dtype == bool and fails.shape == (len(column),):
        return fails
    mask = pd.Series(fails).reindex(column.index, fill_value=False)
    return mask.fillna(True).astype(bool).to_numpy()


def _word_failures(
    frame: pd.DataFrame,
    rule: Rule,
    order: int,
    positions: np.ndarray,
    client_id: pd.Series,
    table: str,
    file: str,
) -> pd.DataFrame:
    """The issues rows of one rule's failing rows (``positions``, sorted)."""
    n = len(positions)
    written = as_written(frame[rule.column].iloc[positions]).reset_index(drop=True)
    shown = pd.Series(written.array, index=positions).str.strip()
    problem = rule.problem(shown).reset_index(drop=True).astype("str")
    return pd.DataFrame(
        {
            "table": _repeat(table, n),
            "file": _repeat(file, n),
            "row": positions + 1,
            "column": _repeat(rule.column, n),
            "value": written,
            "reason": problem + "; fix: " + rule.fix,
            "problem": problem,
            "client_id": client_id.iloc[positions].reset_index(drop=True),
            "_order": np.full(n, order),
        }
    )


def _repeat(text: str, n: int) -> pd.Series:
    return pd.Series([text], dtype="str").repeat(n).reset_index(drop=True)


def as_written(values: pd.Series) -> pd.Series:
    """The values as the user wrote them: text unchanged, typed values as text.

    A blank (missing) cell is the empty string, as written, never the text "nan".
    Timestamps read as their date, with the time of day only when there is one.
    """
    blank = values.isna().to_numpy(dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(values):
        text = values.dt.strftime("%Y-%m-%d %H:%M:%S").str.replace(" 00:00:00", "", regex=False)
        return text.astype("str").mask(blank, "")
    # 240.0 from Parquet reads as 240
    return integers_when_whole(values).astype("str").mask(blank, "")


def empty_issues() -> pd.DataFrame:
    """An issues table without rows: :data:`ISSUE_COLUMNS` and ``problem``."""
    # built once, handed out as copies: most tables have no problem, and a served
    # request (one client) would otherwise spend milliseconds on empty frames
    return _empty_issues().copy()


@functools.cache
def _empty_issues() -> pd.DataFrame:
    columns = (*ISSUE_COLUMNS, "problem")
    frame = pd.DataFrame({column: pd.Series(dtype="str") for column in columns})
    return frame.astype({"row": "int64"})


def rejected_mask(issues: pd.DataFrame, n_rows: int) -> pd.Series:
    """True for each of the ``n_rows`` rows with at least one issue."""
    rejected = np.zeros(n_rows, dtype=bool)
    rejected[issues["row"].to_numpy(dtype="int64") - 1] = True
    return pd.Series(rejected)


def rejected_clients(issues: pd.DataFrame, values: ParsedColumns) -> pd.DataFrame:
    """One row per rejected clients row with a client_id, with its first problem.

    Parameters
    ----------
    issues
        The clients table's issues (:func:`list_issues`).
    values
        The clients table, parsed.

    Returns
    -------
    pandas.DataFrame
        client_id, therapist_id, site, row, reason (``"row rejected: <problem>"``) and
        ``active`` (True unless the row carries a valid discharge_reason).
    """
    if not len(issues):  # the usual case
        return _no_rejected_clients().copy()
    first = issues[issues["client_id"].notna()].drop_duplicates("row", keep="first")
    positions = first["row"].to_numpy(dtype="int64") - 1
    reason = values.lower("discharge_reason").iloc[positions]
    return pd.DataFrame(
        {
            "client_id": first["client_id"].to_numpy(),
            # copied for the risk list, whatever their own state
            "therapist_id": values.text("therapist_id").iloc[positions].to_numpy(),
            "site": values.text("site").iloc[positions].to_numpy(),
            "row": first["row"].to_numpy(dtype="int64"),
            "reason": ("row rejected: " + first["problem"]).to_numpy(),
            "active": ~reason.isin(DISCHARGE_REASONS).to_numpy(dtype=bool),
        }
    ).astype(REJECTED_TYPES)


@functools.cache
def _no_rejected_clients() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in REJECTED_TYPES.items()})
