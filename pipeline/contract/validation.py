"""Validating the clients and sessions tables against the data contract.

:func:`validate_tables` is the one entry point. It checks that the required columns are
there (the only problem that stops the run, :class:`~configs.errors.InputError`, exit
2), sets the extra columns aside, parses each table once (:mod:`.parsing`), runs the
contract's rules on it (:mod:`.rules`, :mod:`.issues`) and passes the rows without any
problem on as clean, typed frames (:mod:`.clean_frames`). Every rule of
``../shared/CONTRACT.md`` is checked on every row, so one pass reports every problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from configs.config import InstrumentsConfig
from pipeline.contract.clean_frames import clean_clients, clean_sessions
from pipeline.contract.columns import (
    CLIENTS_COLUMNS,
    CLIENTS_REQUIRED,
    SESSIONS_REQUIRED,
    rating_ranges,
    require_columns,
    sessions_columns,
    split_contract_columns,
)
from pipeline.contract.issues import (
    ISSUE_COLUMNS,
    list_issues,
    rejected_clients,
    rejected_mask,
)
from pipeline.contract.parsing import ParsedColumns
from pipeline.contract.rules import Episodes, client_rules, session_rules


@dataclass(frozen=True)
class ValidatedTables:
    """The outcome of :func:`validate_tables`.

    Attributes
    ----------
    clients, sessions
        Clean, typed rows that passed every check, in input order, with a ``row`` column
        holding the 1-based record number in the input file.
    issues
        One row per problem: file, row, column, value (as written), reason (with the
        fix), client_id, table (``'clients'`` or ``'sessions'``). Sorted by table, row
        and column.
    rejected_clients
        One row per rejected clients row with a non-blank client_id (a duplicated id
        gives one row each): client_id, therapist_id, site, row, reason (``"row
        rejected: <first problem>"``) and ``active`` (True unless the row carries a valid
        discharge_reason), so the risk list can say why the client was not scored.
    extra_columns
        Per table (``'clients'``, ``'sessions'``), the columns outside the contract, ignored.
    n_client_rows, n_session_rows
        Data records read from each file.
    """

    clients: pd.DataFrame
    sessions: pd.DataFrame
    issues: pd.DataFrame
    rejected_clients: pd.DataFrame
    extra_columns: dict[str, list[str]]
    n_client_rows: int
    n_session_rows: int


def validate_tables(
    clients_raw: pd.DataFrame,
    sessions_raw: pd.DataFrame,
    instruments: InstrumentsConfig,
    *,
    clients_file: str,
    sessions_file: str,
) -> ValidatedTables:
    """Check both tables against the contract; keep the rows that pass.

    Parameters
    ----------
    clients_raw, sessions_raw
        The tables as returned by :func:`pipeline.io.ingest.read_table` (lower-case column
        names; text or typed values). Row ``i`` (by position) is record ``i + 1``.
    instruments
        Instrument definitions: which rating columns exist and their ranges.
    clients_file, sessions_file
        File names to quote in messages and in the ``file`` column of ``issues``.

    Returns
    -------
    ValidatedTables

    Raises
    ------
    InputError
        When a required column is missing in either table (all such columns are named
        in one message, with the columns that were found).
    """
    clients_raw = clients_raw.reset_index(drop=True)
    sessions_raw = sessions_raw.reset_index(drop=True)
    require_columns(
        [
            (clients_file, clients_raw, CLIENTS_REQUIRED),
            (sessions_file, sessions_raw, SESSIONS_REQUIRED),
        ]
    )
    ranges = rating_ranges(instruments)
    clients_in, clients_extra = split_contract_columns(clients_raw, CLIENTS_COLUMNS)
    sessions_in, sessions_extra = split_contract_columns(
        sessions_raw, sessions_columns(instruments)
    )

    clients_values = ParsedColumns(clients_in)
    clients_values.factorize_text_columns()
    client_issues = list_issues(
        clients_in, client_rules(clients_values), clients_values, "clients", clients_file
    )
    clients = clean_clients(clients_values, rejected_mask(client_issues, len(clients_in)))

    sessions_values = ParsedColumns(sessions_in)
    sessions_values.factorize_text_columns()
    episodes = Episodes.from_clients(clients_values, clients_file)
    session_issues = list_issues(
        sessions_in,
        session_rules(sessions_values, episodes, ranges),
        sessions_values,
        "sessions",
        sessions_file,
    )
    keep = _sessions_to_keep(sessions_values, session_issues, clients)
    sessions = clean_sessions(sessions_values, keep, ranges)

    issues = pd.concat([client_issues, session_issues], ignore_index=True)
    return ValidatedTables(
        clients=clients,
        sessions=sessions,
        issues=issues[list(ISSUE_COLUMNS)],
        rejected_clients=rejected_clients(client_issues, clients_values),
        extra_columns={"clients": clients_extra, "sessions": sessions_extra},
        n_client_rows=len(clients_raw),
        n_session_rows=len(sessions_raw),
    )


def _sessions_to_keep(
    values: ParsedColumns, issues: pd.DataFrame, clients: pd.DataFrame
) -> np.ndarray:
    """Sessions without problems whose client row passed too.

    The sessions of a rejected client are dropped without an issue of their own: the
    client's row is already reported.
    """
    rejected = rejected_mask(issues, len(values.index))
    clean_ids = pd.Index(clients["client_id"])
    of_clean_client = values.on_distinct(
        "clean_client", "client_id", lambda u: clean_ids.get_indexer(u) >= 0, False
    )
    return (~rejected & of_clean_client).to_numpy()
