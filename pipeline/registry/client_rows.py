"""The registered model's second input form: one row per client (for ``spark_udf``).

Spark hands the model arbitrary batches of rows and needs exactly one output row per
input row, in order, which the stacked form (``pipeline.registry.serving``) cannot give.
Each row is a client's clients-table record plus a column ``sessions`` holding that
client's appointments (a JSON list of objects with the session columns, or a list of
records). The answer is one risk-list row per input row, in input order.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from configs.errors import InputError

# the one-row-per-client form: the column holding each client's appointments
SESSIONS_COLUMN = "sessions"
CLIENT_ROWS_FILES = {"clients": "request rows", "sessions": "request appointments"}
AS_OF_REQUIRED = (
    "a one-row-per-client request needs the as-of date as the parameter 'as_of' "
    "(YYYY-MM-DD): its default, the latest appointment in the request, would differ from "
    "one batch (Spark partition) to the next. Fix: pass params={'as_of': 'YYYY-MM-DD'} "
    "(to predict, to /invocations, or to mlflow.pyfunc.spark_udf)."
)
CLIENT_ROWS_FIX = (
    "send the client's appointments as a JSON list of objects with the session columns, "
    'e.g. [{"session_date": "2026-03-02", "status": "attended"}] '
    "(pipeline.registry.client_rows.client_rows builds it); blank or [] means no appointments"
)


def _is_blank(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _text(value) -> str | None:
    """A cell as stripped text (ids stored as whole floats read as ``"101"``); None if blank."""
    if _is_blank(value):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value).strip()


def _id_text(values: pd.Series) -> pd.Series:
    return pd.Series([_text(v) for v in values.array], index=values.index, dtype=object)


def _json_value(value):
    """A cell as a JSON value: dates as ISO text, numpy scalars as Python ones, blanks None."""
    if isinstance(value, list | tuple | dict | np.ndarray):
        return value.tolist() if isinstance(value, np.ndarray) else value
    if _is_blank(value):
        return None
    if isinstance(value, dt.datetime):  # pandas Timestamp included
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.strftime("%Y-%m-%d")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return _json_value(pd.Timestamp(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def client_rows(clients: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """The one-row-per-client input frame: each clients row plus its appointments as JSON.

    The clients table keeps its columns and row order; the column ``sessions`` holds, for
    each row, a JSON list of that client's appointments in the sessions table's order,
    each an object with the session columns (``client_id`` left out: the row says whose
    they are; blank values left out; dates as ``YYYY-MM-DD``). A client with no
    appointments gets ``[]``. For Spark, build the same column with ``collect_list`` and
    ``to_json`` (docs/scale-out.md).

    Raises
    ------
    InputError
        When either table has no ``client_id`` column, the clients table already has a
        ``sessions`` column, or an appointment's client is not in the clients table (it
        could not be placed on any row; ``dropout-risk validate`` lists such rows).
    """
    clients = clients.rename(columns=lambda c: str(c).strip().lower()).reset_index(drop=True)
    sessions = sessions.rename(columns=lambda c: str(c).strip().lower()).reset_index(drop=True)
    for name, table in (("clients", clients), ("sessions", sessions)):
        if "client_id" not in table.columns:
            raise InputError(
                f"{name}: missing required column client_id (columns found: "
                f"{', '.join(map(str, table.columns)) or 'none'}). Fix: add it."
            )
    if SESSIONS_COLUMN in clients.columns:
        raise InputError(
            f"clients: already has a column {SESSIONS_COLUMN!r}, which the one-row-per-client "
            "form uses for the appointments. Fix: rename or drop it."
        )
    owner = _id_text(clients["client_id"])
    key = _id_text(sessions["client_id"])
    unplaced = key.isna() | ~key.isin(set(owner.dropna()))
    if unplaced.any():
        first = int(np.flatnonzero(unplaced.to_numpy())[0])
        raise InputError(
            f"sessions row {first + 1}: client_id {sessions['client_id'].iloc[first]!r} is not "
            f"in clients ({int(unplaced.sum())} such rows), so it belongs on no client's row. "
            "Fix: pass only these clients' appointments "
            "(sessions[sessions['client_id'].isin(clients['client_id'])]), or add the client."
        )
    columns = [c for c in sessions.columns if c != "client_id"]
    grouped: dict[str, list[dict]] = {}
    for client, values in zip(
        key.array, sessions[columns].itertuples(index=False, name=None), strict=True
    ):
        record = {}
        for column, value in zip(columns, values, strict=True):
            value = _json_value(value)
            if value is not None:
                record[column] = value
        grouped.setdefault(client, []).append(record)
    out = clients.copy()
    out[SESSIONS_COLUMN] = [json.dumps(grouped.get(client, [])) for client in owner.array]
    return out


def _appointments(cell) -> list[dict]:
    """A ``sessions`` cell as a list of records.

    Accepts a JSON text (a list of objects), a list / tuple / numpy array of mappings or
    Spark ``Row`` objects (an ``array<struct>`` column), or a blank (no appointments).

    Raises
    ------
    ValueError
        With what is wrong, in words.
    """
    if isinstance(cell, bytes):
        cell = cell.decode("utf-8", errors="replace")
    if isinstance(cell, str):
        if not cell.strip():
            return []
        try:
            cell = json.loads(cell)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc.msg} at character {exc.pos})") from None
        if cell is None:
            return []
    elif not isinstance(cell, list | tuple | np.ndarray | Mapping) and _is_blank(cell):
        return []
    if isinstance(cell, np.ndarray):
        cell = cell.tolist()
    if isinstance(cell, Mapping) or hasattr(cell, "asDict"):
        raise ValueError("is one object, not a list of appointments")
    if not isinstance(cell, list | tuple):
        raise ValueError(f"is {type(cell).__name__} {cell!r}, not a list of appointments")
    records = []
    for position, item in enumerate(cell, start=1):
        if hasattr(item, "asDict"):  # a pyspark Row
            item = item.asDict(recursive=True)
        if not isinstance(item, Mapping):
            raise ValueError(
                f"appointment {position} is {item!r}, not an object with the session columns"
            )
        records.append({str(k).strip().lower(): v for k, v in item.items()})
    return records


@dataclass(frozen=True)
class _ClientRows:
    """A one-row-per-client request taken apart.

    ``clients`` is the request without ``sessions`` (row ``i`` is request row ``i + 1``);
    ``sessions`` the appointments of the rows that could be read, with ``client_id`` set
    from their row; ``origin`` gives, per appointment, its request row position and its
    1-based place in that row's list; ``problems`` maps a request row position to what is
    wrong with its ``sessions`` cell.
    """

    clients: pd.DataFrame
    sessions: pd.DataFrame
    origin: np.ndarray
    problems: dict[int, str]


def _parse_client_rows(frame: pd.DataFrame) -> _ClientRows:
    from pipeline.contract.columns import SESSIONS_REQUIRED

    frame = frame.rename(columns=lambda c: str(c).strip().lower()).reset_index(drop=True)
    if SESSIONS_COLUMN not in frame.columns:
        raise InputError(f"the request has no column {SESSIONS_COLUMN!r}. Fix: {CLIENT_ROWS_FIX}.")
    clients = frame.drop(columns=SESSIONS_COLUMN)
    if "client_id" in clients.columns:
        owners = [_text(v) for v in clients["client_id"].array]
    else:  # validation names the missing required column
        owners = [None] * len(clients)
    records: list[dict] = []
    origin: list[tuple[int, int]] = []
    problems: dict[int, str] = {}
    for position, (cell, owner) in enumerate(
        zip(frame[SESSIONS_COLUMN].array, owners, strict=True)
    ):
        try:
            items = _appointments(cell)
        except ValueError as exc:
            problems[position] = str(exc)
            continue
        for number, item in enumerate(items, start=1):
            given = _text(item.get("client_id"))
            if given is not None and given != owner:
                problems[position] = (
                    f"appointment {number} has client_id {given!r}, not this row's {owner!r}"
                )
                break
            item["client_id"] = owner
        else:
            records.extend(items)
            origin.extend((position, number) for number in range(1, len(items) + 1))
    sessions = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    # the required columns always exist, so a batch without any appointment (or where no
    # appointment has a status) is judged row by row like any other, never refused whole
    for column in SESSIONS_REQUIRED:
        if column not in sessions.columns:
            sessions[column] = pd.Series([None] * len(sessions), dtype=object)
    sessions = sessions[
        [*SESSIONS_REQUIRED, *(c for c in sessions.columns if c not in SESSIONS_REQUIRED)]
    ]
    return _ClientRows(
        clients=clients,
        sessions=sessions,
        origin=np.array(origin, dtype="int64").reshape(-1, 2),
        problems=problems,
    )


def score_client_rows(
    model, version_label: str, frame: pd.DataFrame, as_of: str | None
) -> pd.DataFrame:
    """The risk-list row of every row of a one-row-per-client request, in input order.

    Exactly one output row per input row (what ``mlflow.pyfunc.spark_udf`` requires). The
    rows are validated by the contract's rules (pipeline.contract.validation) as one batch. A row
    is scored when it passed, its episode is active and it has an appointment on or
    before ``as_of``; otherwise ``scored`` is false and ``not_scored_reason`` says why,
    naming the request row (its place in this batch), its client_id and the column. A row
    with a rejected appointment is not scored (unlike a file, where the appointment is
    left out and listed in the rejection report: here the answer is the only report).

    ``risk`` is null when not scored and ``rank`` is always null: the rank is a
    caseload-wide order no batch can know (rank after scoring). ``risk_tier`` is null too
    when the model's tiers are by capacity per site, for the same reason. Text columns are
    never null (blank is ``""``, as in the written risk list): ``spark_udf`` would turn a
    null text into ``"None"``.

    Raises
    ------
    InputError
        ``as_of`` missing or not a date; a required clients column missing.
    """
    from models.caseload import RISK_LIST_COLUMNS, parse_as_of, score_caseload
    from pipeline.contract.validation import validate_tables
    from pipeline.registry.tracking import LoadedModel

    if _is_blank(as_of):
        raise InputError(AS_OF_REQUIRED)
    as_of_ts = parse_as_of(as_of, "as_of")
    parsed = _parse_client_rows(frame)
    settings = model.settings
    instruments = settings.instruments
    tables = validate_tables(
        parsed.clients,
        parsed.sessions,
        instruments,
        clients_file=CLIENT_ROWS_FILES["clients"],
        sessions_file=CLIENT_ROWS_FILES["sessions"],
    )
    client_id = _client_ids(parsed.clients)
    reasons = _rejection_reasons(parsed, tables, client_id)
    loaded = LoadedModel(model=model, uri="", version_label=version_label)
    risk_list = score_caseload(tables, loaded, as_of_ts, details=False).risk_list

    out = _unscored_answer(parsed.clients, client_id, version_label)
    _fill_from_risk_list(out, tables.clients, risk_list, reasons)
    out = _as_written(out)
    if settings.tiers.rule == "capacity":
        out["risk_tier"] = None  # the highest risks *at each site*: caseload-wide as well
    out["rank"] = None
    return out[RISK_LIST_COLUMNS].reset_index(drop=True)


def _client_ids(clients: pd.DataFrame) -> pd.Series:
    """Each request row's client_id as text (None where blank or absent)."""
    if "client_id" not in clients.columns:
        return pd.Series([None] * len(clients), dtype=object)
    return pd.Series([_text(v) for v in clients["client_id"].array], dtype=object)


def _rejection_reasons(parsed: _ClientRows, tables, client_id: pd.Series) -> dict[int, str]:
    """Why each rejected request row is not scored: its first problem, naming the row."""

    def where(position: int, column: str) -> str:
        who = client_id.iloc[position]
        named = f" (client_id {who!r})" if who is not None else ""
        return f"row rejected: request row {position + 1}{named}, column {column}"

    # why each rejected row is not scored: its first problem
    reasons: dict[int, str] = {
        position: f"{where(position, repr(SESSIONS_COLUMN))}: {problem}; fix: {CLIENT_ROWS_FIX}"
        for position, problem in parsed.problems.items()
    }
    issues = tables.issues
    for issue in issues[issues["table"].eq("clients")].drop_duplicates("row").itertuples():
        position = int(issue.row) - 1
        reasons.setdefault(position, f"{where(position, repr(issue.column))}: {issue.reason}")
    for issue in issues[issues["table"].eq("sessions")].itertuples():
        position, number = (int(v) for v in parsed.origin[int(issue.row) - 1])
        column = f"{SESSIONS_COLUMN!r}, appointment {number}, field {issue.column!r}"
        reasons.setdefault(position, f"{where(position, column)}: {issue.reason}")
    return reasons


def _unscored_answer(clients: pd.DataFrame, client_id: pd.Series, version_label: str):
    """One not-scored risk-list row per request row, with its ids and the model version."""
    n = len(clients)

    def text_column(name: str) -> pd.Series:
        if name not in clients.columns:
            return pd.Series([""] * n, dtype=object)
        return pd.Series([_text(v) or "" for v in clients[name].array], dtype=object)

    out = pd.DataFrame(
        {
            "client_id": client_id.fillna(""),
            "therapist_id": text_column("therapist_id"),
            "site": text_column("site"),
            "risk": np.nan,
            "risk_tier": "",
            "rank": None,
            "reason_1": "",
            "reason_2": "",
            "reason_3": "",
            "sessions_attended": 0,
            "last_attended": "",
            "scored": False,
            "not_scored_reason": "",
            "model_version": version_label,
            "risk_within_horizon": np.nan,
        },
        index=pd.RangeIndex(n),
    ).astype(
        {
            "risk": float,
            "risk_within_horizon": float,
            "rank": object,
            "sessions_attended": "int64",
            "scored": bool,
        }
    )
    return out


def _fill_from_risk_list(
    out: pd.DataFrame, valid: pd.DataFrame, risk_list: pd.DataFrame, reasons: dict[int, str]
) -> None:
    """Copy the listed clients' risk-list rows into ``out`` at their request rows; the
    others get why they were not scored (closed episode, or the row's rejection)."""
    from models.caseload import RISK_LIST_COLUMNS

    # rows that passed validation: listed by score_caseload when active
    valid_positions = valid["row"].to_numpy(dtype="int64") - 1
    keep = np.array([p not in reasons for p in valid_positions], dtype=bool)
    valid, valid_positions = valid[keep], valid_positions[keep]
    listed = risk_list.drop_duplicates("client_id").set_index("client_id")
    in_list = valid["client_id"].isin(listed.index).to_numpy()
    columns = [c for c in RISK_LIST_COLUMNS if c not in ("client_id", "rank")]
    if in_list.any():
        found = listed.loc[valid["client_id"].to_numpy()[in_list], columns]
        for column in columns:
            out.loc[valid_positions[in_list], column] = found[column].to_numpy()
    # the others: closed episodes, then rejected rows (one assignment: batches are large)
    unlisted = {
        int(position): _not_active(row)
        for position, row in zip(
            valid_positions[~in_list], valid[~in_list].itertuples(index=False), strict=True
        )
    }
    unlisted.update(reasons)
    if unlisted:
        out.loc[list(unlisted), "not_scored_reason"] = list(unlisted.values())


def _as_written(out: pd.DataFrame) -> pd.DataFrame:
    """Types as the written risk list has them: text never null, risks null when unscored."""
    out["scored"] = out["scored"].astype(bool)
    out["sessions_attended"] = out["sessions_attended"].astype("int64")
    for column in ("therapist_id", "site", "risk_tier", "reason_1", "reason_2", "reason_3"):
        out[column] = out[column].where(out[column].notna(), "")
    out["last_attended"] = out["last_attended"].where(out["last_attended"].notna(), "")
    out = out.astype(object)
    out["risk"] = out["risk"].where(out["scored"].astype(bool), None)
    out["risk_within_horizon"] = out["risk_within_horizon"].where(
        out["scored"].astype(bool) & out["risk_within_horizon"].notna(), None
    )
    return out


def _not_active(row) -> str:
    """Why a valid clients row was not listed: its episode is closed."""
    said = []
    if not _is_blank(row.discharge_reason):
        said.append(f"discharge_reason {row.discharge_reason!r}")
    if not _is_blank(row.discharge_date):
        said.append(f"discharge_date {pd.Timestamp(row.discharge_date):%Y-%m-%d}")
    return f"not an active episode ({', '.join(said)}): only open episodes are scored"
