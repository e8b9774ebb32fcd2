"""The rows that passed every rule, as typed frames for features and scoring.

Text columns are stripped (categories lower-cased), dates are datetime64[ns] and numbers
float64; every contract column is present, blank where the file lacks it. A ``row``
column keeps each row's 1-based record number in the input file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.contract.columns import CLIENTS_TEXT
from pipeline.contract.parsing import ParsedColumns


def clean_clients(values: ParsedColumns, rejected: pd.Series) -> pd.DataFrame:
    """The clients rows not ``rejected``, typed.

    Parameters
    ----------
    values
        The clients table, parsed.
    rejected
        Boolean per row, True for rows with any problem.

    Returns
    -------
    pandas.DataFrame
        client_id, therapist_id, intake_date, discharge_date, the text columns,
        discharge_reason (lower case), age, planned_sessions and row.
    """
    leading = {
        "client_id": values.text("client_id"),
        "therapist_id": values.text("therapist_id"),
        "intake_date": values.date("intake_date").values,
        "discharge_date": values.date("discharge_date").values,
        **{name: values.text(name) for name in CLIENTS_TEXT},
        "discharge_reason": values.lower("discharge_reason"),
    }
    numbers = {name: values.number(name).values for name in ("age", "planned_sessions")}
    return _assemble(~rejected.to_numpy(dtype=bool), leading, numbers)


def clean_sessions(
    values: ParsedColumns, keep: np.ndarray, ranges: dict[str, tuple[float, float]]
) -> pd.DataFrame:
    """The sessions rows to ``keep``, typed.

    Parameters
    ----------
    values
        The sessions table, parsed.
    keep
        Boolean per row.
    ranges
        The rating columns (:func:`~pipeline.contract.columns.rating_ranges`), in order.

    Returns
    -------
    pandas.DataFrame
        client_id, session_date, status (lower case), therapist_id, every rating column
        and row.
    """
    leading = {
        "client_id": values.text("client_id"),
        "session_date": values.date("session_date").values,
        "status": values.lower("status"),
        "therapist_id": values.text("therapist_id"),
    }
    numbers = {name: values.number(name).values for name in ranges}
    return _assemble(keep, leading, numbers)


def _assemble(
    keep: np.ndarray, leading: dict[str, pd.Series], numbers: dict[str, pd.Series]
) -> pd.DataFrame:
    """The kept rows: text and date columns, then the float columns, then ``row``.

    Built column block by column block (the floats as one 2-D array) because a frame of
    a million rows is otherwise copied several times over.
    """
    rows = np.flatnonzero(keep)
    # nearly always every row is kept: the parsed columns are then used as they are
    every = len(rows) == len(keep)
    head = {}
    for name, column in leading.items():
        if pd.api.types.is_datetime64_any_dtype(column):
            dates = column.to_numpy(dtype="datetime64[ns]")
            head[name] = pd.Series(dates if every else dates[rows], copy=False)
        else:
            text = column.array if every else column.array.take(rows)
            head[name] = pd.Series(text, dtype="str", copy=False)
    if every:
        # the parsed columns themselves, one block each (a copy into one block would
        # touch a million rows' worth of every rating column again)
        floats = pd.DataFrame(
            {name: column.to_numpy(dtype="float64") for name, column in numbers.items()},
            index=pd.RangeIndex(len(rows)),
            copy=False,
        )
    else:
        # Fortran order: each column is contiguous, and it is the layout pandas keeps.
        matrix = np.empty((len(rows), len(numbers)), dtype="float64", order="F")
        for position, column in enumerate(numbers.values()):
            matrix[:, position] = column.to_numpy(dtype="float64")[rows]
        floats = pd.DataFrame(matrix, columns=list(numbers), copy=False)
    return pd.concat(
        [
            pd.DataFrame(head, index=pd.RangeIndex(len(rows))),
            floats,
            pd.DataFrame({"row": (rows + 1).astype("int64")}),
        ],
        axis=1,
    )
