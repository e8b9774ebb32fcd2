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
caseloads beyond one machine, ``mlflow.pyfunc.spark_udf``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pipeline.config import InstrumentsConfig
from pipeline.errors import InputError

TABLE_COLUMN = "table"
TABLES = ("clients", "sessions")
# how the two tables are named in messages about a request's rows
REQUEST_FILES = {"clients": "clients records", "sessions": "sessions records"}


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
            "(pipeline.serving.request_frame builds it)."
        )
    which = frame[TABLE_COLUMN].astype("string").str.strip().str.lower()
    unknown = ~which.isin(TABLES) | which.isna()
    if unknown.any():
        first = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(
            f"request row {first + 1}, column {TABLE_COLUMN!r}: {frame[TABLE_COLUMN].iloc[first]!r} "
            f"is not a table ({int(unknown.sum())} such rows). Fix: use 'clients' or 'sessions'."
        )
    tables = []
    for name in TABLES:
        rows = frame[which.eq(name).to_numpy()].drop(columns=TABLE_COLUMN)
        rows = rows.loc[:, rows.notna().any(axis=0)] if len(rows) else rows
        tables.append(rows.reset_index(drop=True))
    return tables[0], tables[1]


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
    from pipeline.score import parse_as_of, score_caseload
    from pipeline.tracking import LoadedModel
    from pipeline.validation import validate_tables

    clients_raw, sessions_raw = split_request(frame)
    instruments = InstrumentsConfig.model_validate(model.feature_settings["instruments"])
    tables = validate_tables(
        clients_raw,
        sessions_raw,
        instruments,
        clients_file=REQUEST_FILES["clients"],
        sessions_file=REQUEST_FILES["sessions"],
    )
    if as_of:
        as_of_ts = parse_as_of(as_of, "as_of")
    elif len(tables.sessions):
        as_of_ts = tables.sessions["session_date"].max()
    else:
        as_of_ts = pd.Timestamp.now().normalize()
    loaded = LoadedModel(model=model, uri="", version_label=version_label)
    risk_list = score_caseload(tables, loaded, as_of_ts, details=False).risk_list
    return risk_list.astype(object).where(risk_list.notna(), None)


# The input is validated by the contract's own rules (pipeline.validation), not by MLflow's
# type-hint validation, so its suggestion to add type hints to `predict` is noise here.
warnings.filterwarnings("ignore", message=".*type hints to the `predict` method.*")

try:  # MLflow is a dependency, but keep this module importable for the pure helpers above
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover
    PythonModel = object


class RiskListModel(PythonModel):
    """MLflow pyfunc wrapper around the skops-saved :class:`~models.risk_model.RiskModel`.

    Saved with MLflow's models-from-code (``pipeline/pyfunc_model.py``), so nothing is
    pickled: the artifact holds the skops file, loaded with the reviewed trusted types.
    """

    def load_context(self, context) -> None:
        from pipeline.tracking import load_skops_model

        self.model = load_skops_model(context.artifacts["risk_model"])
        config = context.model_config or {}
        self.version_label = str(config.get("version_label", ""))

    def predict(self, context, model_input, params=None):
        from mlflow.exceptions import INVALID_PARAMETER_VALUE, MlflowException

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        try:
            return score_request(
                self.model, self.version_label, frame, as_of=(params or {}).get("as_of")
            )
        except InputError as exc:
            # a bad request is the caller's to fix: MLflow answers 400 with the message
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc
