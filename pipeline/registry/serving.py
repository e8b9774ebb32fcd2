"""The registered model as a deployable unit: raw contract tables in, risk-list rows out.

`dropout-risk train` registers an MLflow pyfunc model (:class:`RiskListModel`) whose input
is the two contract tables stacked into one frame, with a column ``table`` saying which
table each row belongs to (``clients`` or ``sessions``). It validates the records as
`dropout-risk score` validates files (leniently: a rejected client is listed as not
scored, with the reason), builds the features as of the ``as_of`` parameter (default: the
latest appointment in the request) and returns one risk-list row per active client, in
the contract's columns (CONTRACT.md).

So the same unit answers ``mlflow.pyfunc.load_model(uri).predict(frame)``, ``mlflow models
serve`` (``/invocations`` with ``dataframe_records`` or ``dataframe_split``) and, for
caseloads beyond one machine, ``mlflow.pyfunc.spark_udf`` (docs/scale-out.md).

The model accepts a second input form, **one row per client** (:func:`client_rows`), for
``spark_udf``: Spark hands the model arbitrary batches of rows and needs exactly one output
row per input row, in order, which the stacked form cannot give (a client's appointments
may sit in another batch; its output is one row per *active* client). Each row is a
client's clients-table record plus a column ``sessions`` holding that client's appointments
(a JSON list of objects with the session columns, or a list of records). The answer is one
risk-list row per input row, in input order; ``as_of`` must be given, and ``rank`` is null
(a batch cannot know the caseload's order: rank after scoring, e.g. with a Spark window).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from configs.errors import InputError
from pipeline.contract.columns import CLIENTS_REQUIRED, SESSIONS_REQUIRED
from pipeline.registry.client_rows import SESSIONS_COLUMN, score_client_rows

# MLflow's models-from-code entry point of the registered model (copied into each model)
PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_model.py")
TABLE_COLUMN = "table"
TABLES = ("clients", "sessions")
# how the two tables are named in messages about a request's rows
REQUEST_FILES = {"clients": "clients records", "sessions": "sessions records"}
REQUIRED = {"clients": CLIENTS_REQUIRED, "sessions": SESSIONS_REQUIRED}

# The risk-list columns as a Spark type, for ``spark_udf(..., result_type=...)``: the same
# names and order as RISK_LIST_COLUMNS in models.caseload (a test keeps them in step).
RISK_LIST_SPARK_TYPE = (
    "struct<client_id: string, therapist_id: string, site: string, risk: double, "
    "risk_tier: string, rank: bigint, reason_1: string, reason_2: string, reason_3: string, "
    "sessions_attended: bigint, last_attended: string, scored: boolean, "
    "not_scored_reason: string, model_version: string, risk_within_horizon: double>"
)


def request_frame(clients: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Stack the clients and sessions tables into the model's input frame.

    Columns are the union of both tables' columns plus ``table``; a column a table does
    not have is blank on its rows.
    """
    stacked = pd.concat(
        [
            clients.assign(**{TABLE_COLUMN: "clients"}),
            sessions.assign(**{TABLE_COLUMN: "sessions"}),
        ],
        ignore_index=True,
        sort=False,
    )
    return stacked[[TABLE_COLUMN, *(c for c in stacked.columns if c != TABLE_COLUMN)]]


def split_request(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clients and sessions tables of a stacked request (see :func:`request_frame`).

    Column names are matched in lower case, as in files. Within each table, a column blank
    on all of its rows is dropped: it belongs to the other table (or was not collected).

    Raises
    ------
    InputError
        When the ``table`` column is missing or names another table.
    """
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    if TABLE_COLUMN not in frame.columns:
        raise InputError(
            f"the request has no column {TABLE_COLUMN!r}. Fix: send both tables in one frame "
            f"with {TABLE_COLUMN!r} = 'clients' or 'sessions' on every row "
            "(pipeline.registry.serving.request_frame builds it)."
        )
    # only text can name a table (plain Python: a request's rows are few)
    which = np.array(
        [v.strip().lower() if isinstance(v, str) else None for v in frame[TABLE_COLUMN].tolist()],
        dtype=object,
    )
    unknown = np.array([table not in TABLES for table in which], dtype=bool)
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        raise InputError(
            f"request row {first + 1}, column {TABLE_COLUMN!r}: {frame[TABLE_COLUMN].iloc[first]!r} "
            f"is not a table ({int(unknown.sum())} such rows). Fix: use 'clients' or 'sessions'."
        )
    tables = []
    missing = frame.isna().to_numpy()  # NaN, None, NaT: no value
    others = np.asarray(frame.columns != TABLE_COLUMN)
    for name in TABLES:
        at = np.flatnonzero(which == name)
        if len(at):
            # the columns with a value on some row of this table
            rows = frame.iloc[at, np.flatnonzero(others & ~missing[at].all(axis=0))]
        else:
            # a table with no rows (e.g. a client admitted today, no appointment yet) is
            # an empty table, not one without its columns: its clients are not scored
            rows = pd.DataFrame(columns=list(REQUIRED[name]), dtype=object)
        tables.append(rows.reset_index(drop=True))
    return tables[0], tables[1]


def request_form(frame: pd.DataFrame) -> str:
    """Which input form a request is: ``"stacked"`` or ``"client_rows"``.

    A column ``table`` means the stacked form (:func:`request_frame`); otherwise a column
    ``sessions`` means one row per client (:func:`client_rows`). Names are matched in lower
    case, as in files.

    Raises
    ------
    InputError
        When the request has neither column.
    """
    columns = {str(c).strip().lower() for c in frame.columns}
    if TABLE_COLUMN in columns:
        return "stacked"
    if SESSIONS_COLUMN in columns:
        return "client_rows"
    raise InputError(
        f"the request has no column {TABLE_COLUMN!r} and no column {SESSIONS_COLUMN!r}. Fix: "
        f"either send both tables in one frame with {TABLE_COLUMN!r} = 'clients' or 'sessions' "
        "on every row (pipeline.registry.serving.request_frame builds it), or send one row per client "
        f"with that client's appointments in {SESSIONS_COLUMN!r} "
        "(pipeline.registry.client_rows.client_rows builds it)."
    )


def score_request(
    model, version_label: str, frame: pd.DataFrame, as_of: str | None = None
) -> pd.DataFrame:
    """The risk list for the clients in a stacked request.

    Parameters
    ----------
    model
        A fitted :class:`models.risk_model.RiskModel`.
    version_label
        ``"<registered name> v<version>"``, written in the ``model_version`` column.
    frame
        The stacked clients and sessions records.
    as_of
        ISO date; blank or None means the latest appointment date in the request.

    Returns
    -------
    pandas.DataFrame
        The risk-list columns of CONTRACT.md, one row per active client in the request;
        missing values are None (JSON null when served), not NaN.
    """
    clients_raw, sessions_raw = split_request(frame)
    return score_tables(model, version_label, clients_raw, sessions_raw, as_of)


def score_tables(
    model,
    version_label: str,
    clients_raw: pd.DataFrame,
    sessions_raw: pd.DataFrame,
    as_of: str | None = None,
) -> pd.DataFrame:
    """:func:`score_request` of a request already split into its two tables."""
    from models.caseload import score_caseload

    tables = validate_request(model, clients_raw, sessions_raw)
    as_of_ts = request_as_of(as_of, tables.sessions)
    risk_list = score_caseload(tables, scorer_of(model, version_label), as_of_ts, details=False)
    return as_answer(risk_list.risk_list)


def validate_request(model, clients_raw: pd.DataFrame, sessions_raw: pd.DataFrame):
    """The request's tables validated as files are (leniently), named as request records."""
    from pipeline.contract.validation import validate_tables

    return validate_tables(
        clients_raw,
        sessions_raw,
        model.settings.instruments,
        clients_file=REQUEST_FILES["clients"],
        sessions_file=REQUEST_FILES["sessions"],
    )


def request_as_of(as_of: str | None, sessions: pd.DataFrame) -> pd.Timestamp:
    """The ``as_of`` parameter as a date; blank means the latest valid appointment's date
    (today when there is none)."""
    from models.caseload import parse_as_of

    if as_of:
        return parse_as_of(as_of, "as_of")
    if len(sessions):
        return sessions["session_date"].max()
    return pd.Timestamp.now().normalize()


def as_answer(risk_list: pd.DataFrame) -> pd.DataFrame:
    """Risk-list rows as answered: Python values, missing ones None (JSON null), not NaN."""
    columns = {}
    for name, values in risk_list.items():
        values = values.to_numpy(dtype=object, copy=True)  # its own, to write into
        values[pd.isna(values)] = None
        columns[name] = values
    return pd.DataFrame(columns, index=risk_list.index, columns=risk_list.columns, dtype=object)


def scorer_of(model, version_label: str):
    from pipeline.registry.tracking import LoadedModel

    return LoadedModel(model=model, uri="", version_label=version_label)


# The input is validated by the contract's own rules (pipeline.contract.validation), not by MLflow's
# type-hint validation, so its suggestion to add type hints to `predict` is noise here.
warnings.filterwarnings("ignore", message=".*type hints to the `predict` method.*")

try:  # MLflow is a dependency, but keep this module importable for the pure helpers above
    from mlflow.exceptions import INTERNAL_ERROR, INVALID_PARAMETER_VALUE, MlflowException
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover
    PythonModel = object
    MlflowException = Exception
    INTERNAL_ERROR = INVALID_PARAMETER_VALUE = 0


class RequestRefused(MlflowException):
    """A served request that failed: MLflow's status code, and only the words given here.

    MLflow's scoring server rewrites the message of any ``MlflowException`` raised by
    ``predict`` to "Failed to predict data '<the request>' …", which would put the request's
    health records into the answer and into every log that keeps it. This one keeps the
    message it was made with.
    """

    @property
    def message(self) -> str:
        return self._own_message

    @message.setter
    def message(self, value: str) -> None:
        # the first assignment is MlflowException.__init__'s, with our words; later ones
        # are the server's rewrite
        if not hasattr(self, "_own_message"):
            self._own_message = value


def refusal(message: str, *, bad_request: bool) -> RequestRefused:
    """400 (the caller's to fix) or 500, with ``message`` as the whole answer."""
    return RequestRefused(
        message, error_code=INVALID_PARAMETER_VALUE if bad_request else INTERNAL_ERROR
    )


class RiskListModel(PythonModel):
    """MLflow pyfunc wrapper around the skops-saved :class:`~models.risk_model.RiskModel`.

    Saved with MLflow's models-from-code (``pipeline/registry/pyfunc_model.py``), so nothing is
    pickled: the artifacts hold the skops file, loaded with the reviewed trusted types, and
    the same model as arrays (:mod:`models.array_model`), which is read instead when the
    model's MLmodel records its checksum.
    """

    def load_context(self, context) -> None:
        from pipeline.registry.tracking import (
            ARRAYS_ARTIFACT,
            ARRAYS_CHECKSUM_TAG,
            RISK_MODEL_ARTIFACT,
            load_array_model,
            load_skops_model,
            model_config_record,
            unrecorded_in_model,
            verify_model_file,
        )

        config = context.model_config or {}
        self.version_label = str(config.get("version_label", ""))
        path = context.artifacts[RISK_MODEL_ARTIFACT]
        # the model's own model_config is the only record a served model can reach (the
        # server may have no tracking store); a model without one is refused
        label = self.version_label or f"the model file {path}"
        unrecorded = unrecorded_in_model(label)
        arrays = context.artifacts.get(ARRAYS_ARTIFACT)
        if arrays and config.get(ARRAYS_CHECKSUM_TAG):
            # the same model as arrays: read without scikit-learn or skops
            verify_model_file(
                arrays, label, [model_config_record(config, ARRAYS_CHECKSUM_TAG)], unrecorded
            )
            self.model = load_array_model(arrays)
        else:
            verify_model_file(path, label, [model_config_record(config)], unrecorded)
            self.model = load_skops_model(path)
        # requests that arrive while one is scored are scored together (batching.py)
        from pipeline.registry.batching import RequestBatcher, score_requests

        self._batcher = RequestBatcher(
            lambda requests: score_requests(self.model, self.version_label, requests)
        )

    def predict(self, context, model_input, params=None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        as_of = (params or {}).get("as_of")
        try:
            if request_form(frame) == "client_rows":
                return score_client_rows(self.model, self.version_label, frame, as_of=as_of)
            return self._batcher.submit(frame, as_of)
        except InputError as exc:
            # a bad request is the caller's to fix: MLflow answers 400 with the message
            raise refusal(str(exc), bad_request=True) from None
        except Exception as exc:  # noqa: BLE001 - the answer must not carry the request
            # MLflow's own answer to anything else quotes a traceback, whose lines may hold
            # values of the request; the type is enough to report it
            raise refusal(
                f"internal error ({type(exc).__name__}) while scoring the request. Fix: "
                "report it with the server's version; the request itself is not needed.",
                bad_request=False,
            ) from None
