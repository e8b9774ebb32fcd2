"""`dropout-risk score`: the active caseload as of a date → the ranked, explained risk list."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# read after the second process has fetched the model; imported now, while it fetches
import models.array_model  # noqa: F401
from configs.config import Config
from configs.errors import InputError, RejectedRowsError
from models.caseload import parse_as_of, score_caseload
from models.drift import DriftReport
from models.memory import give_back
from pipeline.contract.validation import ValidatedTables, validate_tables
from pipeline.io.ingest import read_table
from pipeline.io.output import TABLE_SUFFIXES, write_table, write_text
from pipeline.io.read_ahead import ReadAhead
from pipeline.registry.prefetch import PendingModel, start_fetch
from pipeline.registry.tracking import default_model_uri

REJECTED_COLUMNS = ["file", "row", "column", "value", "reason"]


@dataclass(frozen=True)
class ScoreOutcome:
    risk_list: pd.DataFrame
    out_path: Path | None
    rejected_path: Path
    n_rejected_rows: int
    as_of: pd.Timestamp
    model_version: str
    extra_columns: dict
    # for the risk page: each scored client's trajectory and full explanation, the
    # tier rule in words and the rating scales
    details: dict = field(default_factory=dict)
    tier_rule: str = ""
    scales: dict = field(default_factory=dict)
    # the batch against the model's training summary (None: the model has no summary)
    drift: DriftReport | None = None
    drift_path: Path | None = None
    # with --since: the earlier date the changes are measured from, and the rise in risk
    # the page calls "risen"
    since: pd.Timestamp | None = None
    risen_points: float = 0.10
    horizon_days: int | None = None


def default_as_of(sessions: pd.DataFrame, sessions_file: str, today=None) -> pd.Timestamp:
    """The latest appointment date, unless it lies after today (a typo, e.g. 2099).

    One mistyped year would otherwise score the whole caseload as of that year, with
    every client's time since the last session counted up to it.

    Raises
    ------
    InputError
        When the latest appointment is after today, naming its row, with the fix.
    """
    today = pd.Timestamp.now().normalize() if today is None else pd.Timestamp(today)
    dates = sessions["session_date"]
    latest = dates.max()
    if latest > today:
        at = dates.idxmax()
        row = sessions.loc[at, "row"] if "row" in sessions else at + 1
        raise InputError(
            f"{sessions_file}: row {row}, column session_date: {latest:%Y-%m-%d} is after "
            f"today ({today:%Y-%m-%d}), so the latest appointment cannot be the default as-of "
            "date. Fix: correct that date, or pass --as-of YYYY-MM-DD to score as of a date."
        )
    return latest


def since_date(text: str, as_of: pd.Timestamp) -> pd.Timestamp:
    """The ``--since`` date, which must lie before the as-of date.

    Raises
    ------
    InputError
        Not a date, or not before ``as_of``, with the fix.
    """
    since = parse_as_of(text, "--since")
    if since >= as_of:
        raise InputError(
            f"--since {since:%Y-%m-%d} is not before the as-of date {as_of:%Y-%m-%d}. "
            "Fix: pass an earlier --since (e.g. a week before), or a later --as-of."
        )
    return since


def rejected_path_for(out: Path) -> Path:
    """``<out stem>.rejected.csv`` beside the output (CONTRACT.md)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.rejected.csv")


def drift_path_for(out: Path) -> Path:
    """``<out stem>.drift.json`` beside the output: the drift check of the batch."""
    out = Path(out)
    return out.with_name(f"{out.stem}.drift.json")


def rejected_rows(tables: ValidatedTables) -> pd.DataFrame:
    """The rejection report: file, row, column, value and reason of every problem."""
    if not len(tables.issues):
        return pd.DataFrame(columns=REJECTED_COLUMNS)
    return tables.issues[REJECTED_COLUMNS].reset_index(drop=True)


def _validated(clients_raw, sessions_raw, instruments, clients_path, sessions_path):
    return validate_tables(
        clients_raw,
        sessions_raw,
        instruments,
        clients_file=Path(clients_path).name,
        sessions_file=Path(sessions_path).name,
    )


def run_scoring(
    clients_path: Path,
    sessions_path: Path,
    out: Path,
    config: Config,
    *,
    as_of: str | None = None,
    model_uri: str | None = None,
    strict: bool = False,
    details: bool = True,
    since: str | None = None,
    pending: PendingModel | None = None,
    ahead: ReadAhead | None = None,
) -> ScoreOutcome:
    """Read, validate, score and write the risk list and its rejection report.

    ``details`` also builds each scored client's trajectory and full explanation, which
    only the HTML page shows (``ScoreOutcome.details``); a batch job without a page
    passes False and saves most of the time per client. ``since`` (a date before the
    as-of date) also scores the caseload as it stood then and adds what changed.
    ``pending`` is a fetch of the model already started by the caller
    (:func:`~pipeline.registry.prefetch.start_fetch`, which the command line calls before it
    imports this module); ``model_uri`` is then not used, and the caller closes it.
    ``ahead`` is a reading of the CSV exports started by the caller, likewise
    (:class:`~pipeline.io.read_ahead.ReadAhead`).

    Raises
    ------
    InputError
        Inputs unusable or no model (exit 2).
    RejectedRowsError
        ``strict`` and rows were rejected; only the rejection report was written (exit 3).
    """
    out = Path(out)
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise InputError(f"{out}: unknown output format. Fix: end --out in .csv or .parquet.")
    # the model is fetched by a second process while this one reads the exports
    fetching = (
        contextlib.nullcontext(pending)
        if pending is not None
        else start_fetch(model_uri or default_model_uri(config), config)
    )
    with fetching as pending:
        try:
            clients_raw = read_table(Path(clients_path), role="clients", ahead=ahead)
            sessions_raw = read_table(Path(sessions_path), role="sessions", ahead=ahead)
        except InputError:
            pending.result()  # a missing or refused model is reported first, as it always was
            raise
        # the Arrow tables the frames were converted from are freed but still resident,
        # and validation's peak came on top: at 200,000 clients the run's peak is 130 MB
        # lower from Parquet and 50 MB lower from CSV (medians of 5 pairs), in no more time
        give_back()
        # validation need not wait for the model: a model is nearly always trained with
        # the instruments of the config that scores with it; when not, or when these
        # tables fail, they are validated again with the model's (below)
        try:
            tables = _validated(
                clients_raw, sessions_raw, config.instruments, clients_path, sessions_path
            )
        except InputError:
            tables = None
        loaded = pending.result()
    instruments = loaded.model.settings.instruments
    if tables is None or instruments != config.instruments:
        tables = _validated(clients_raw, sessions_raw, instruments, clients_path, sessions_path)
    del clients_raw, sessions_raw  # the text as read: the validated tables hold what is used
    give_back()
    rejected = rejected_rows(tables)
    rejected_path = rejected_path_for(out)
    write_table(rejected, rejected_path)
    n_rejected = int(rejected[["file", "row"]].drop_duplicates().shape[0]) if len(rejected) else 0
    if strict and n_rejected:
        raise RejectedRowsError(
            f"{n_rejected} input rows were rejected (--strict): see {rejected_path}. "
            "Fix: correct them, or run without --strict to score the rest."
        )
    if as_of is None:
        if not len(tables.sessions):
            raise InputError(
                f"{Path(sessions_path).name}: no usable appointments, so there is no default as-of date. Fix: pass --as-of YYYY-MM-DD."
            )
        as_of_ts = default_as_of(tables.sessions, Path(sessions_path).name)
    else:
        as_of_ts = parse_as_of(as_of, "--as-of")
    since_ts = None if since is None else since_date(since, as_of_ts)
    extra_columns = tables.extra_columns
    # handed over, not shared: the scorer lets the appointments go once it has their
    # features, and this frame would otherwise hold them to the end
    handed_over = [tables]
    del tables
    caseload = score_caseload(
        handed_over.pop(),
        loaded,
        as_of_ts,
        config.scoring.tiers,
        details=details,
        drift=config.drift,
        since=since_ts,
    )
    risk_list = caseload.risk_list
    give_back()  # the features and reasons, before the list is written
    write_table(risk_list, out)
    drift_file = None
    if caseload.drift is not None:
        drift_file = write_text(json.dumps(caseload.drift.to_dict(), indent=2), drift_path_for(out))
    return ScoreOutcome(
        risk_list=risk_list,
        out_path=out,
        rejected_path=rejected_path,
        n_rejected_rows=n_rejected,
        as_of=as_of_ts,
        model_version=loaded.version_label,
        extra_columns=extra_columns,
        details=caseload.details,
        tier_rule=config.scoring.tiers.describe(loaded.model.settings.horizon_days),
        drift=caseload.drift,
        drift_path=drift_file,
        since=since_ts,
        risen_points=config.scoring.risen_by,
        horizon_days=loaded.model.settings.horizon_days,
        scales={
            "wai": [instruments.wai.min, instruments.wai.max],
            "srs": [instruments.srs.total_min, instruments.srs.total_max],
            "srs_cutoff": instruments.srs.cutoff,
        },
    )
