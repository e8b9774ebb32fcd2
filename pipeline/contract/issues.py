"""Running the rules on a table and listing every problem found, in plain language.

The rules of one table become one pandera schema (a ``Check`` per rule), validated
lazily so that one pass collects every problem. Each failure case is then worded: the
file, the row, the column, the value as written and a reason that ends with the fix.
The rejected-clients table, which lets the risk list say why a client was not scored,
is derived from these issues.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.contract.columns import DISCHARGE_REASONS
from pipeline.contract.parsing import ParsedColumns, integers_when_whole
from pipeline.contract.rules import Rule

ISSUE_COLUMNS = ("file", "row", "column", "value", "reason", "client_id", "table")


def list_issues(
    frame: pd.DataFrame, rules: list[Rule], values: ParsedColumns, table: str, file: str
) -> pd.DataFrame:
    """Validate ``frame`` with one pandera schema built from ``rules``; list the problems.

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
        When a check raised or the schema itself failed: a bug here, not in the data.
    """
    by_key = {(rule.column, rule.name): (order, rule) for order, rule in enumerate(rules)}
    assert len(by_key) == len(rules), "each rule needs a name unique within its column"
    try:
        _schema(rules, table).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    else:
        return empty_issues()
    _refuse_internal_failures(failures, by_key)
    client_id = values.text("client_id")
    parts = []
    for (column, check), group in failures.groupby(["column", "check"], sort=False):
        order, rule = by_key[(column, check)]
        positions = np.sort(group["index"].to_numpy(dtype="int64"))
        parts.append(_word_failures(frame, rule, order, positions, client_id, table, file))
    issues = pd.concat(parts, ignore_index=True)
    issues = issues.sort_values(["row", "_order"], kind="stable", ignore_index=True)
    return issues.drop(columns="_order")


def _schema(rules: list[Rule], table: str) -> pa.DataFrameSchema:
    """One column per ruled column, one check per rule, in rule order."""
    return pa.DataFrameSchema(
        {
            column: pa.Column(
                # ignore_na=False: blanks are judged by the rules themselves
                checks=[
                    pa.Check(_passes(rule.fails), name=rule.name, ignore_na=False)
                    for rule in rules
                    if rule.column == column
                ],
                nullable=True,
                required=True,
            )
            for column in dict.fromkeys(rule.column for rule in rules)
        },
        name=table,
    )


def _refuse_internal_failures(failures: pd.DataFrame, by_key: dict) -> None:
    """Raise when a failure is not a row breaking a known rule."""
    known = pd.MultiIndex.from_tuples(list(by_key), names=["column", "check"])
    found = pd.MultiIndex.from_frame(failures[["column", "check"]].astype(object))
    if failures["index"].isna().any() or not found.isin(known).all():
        # a check that raised, or a schema-level failure: a bug here, not in the data
        raise RuntimeError(
            "validation failed internally: "
            + failures[["column", "check", "failure_case"]].head(5).to_string(index=False)
        )


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


def _passes(fails: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    def check(series: pd.Series) -> pd.Series:
        return ~fails(series).reindex(series.index, fill_value=False).astype(bool)

    return check


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
    ).astype(
        {
            "client_id": "str",
            "therapist_id": "str",
            "site": "str",
            "row": "int64",
            "reason": "str",
            "active": "bool",
        }
    )
