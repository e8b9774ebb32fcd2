"""Row-level checks of the clients and sessions tables against the data contract.

Every rule of ``../shared/CONTRACT.md`` is a vectorised pandera ``Check`` on one column.
Each table is validated lazily, so one pass collects every problem; each failure case is
then translated into a plain-language reason that quotes the value and says how to fix
it. A row with any problem is rejected and the remaining rows are passed on as clean,
typed frames. Only a missing required column stops the run (:class:`InputError`, exit 2).

Values are parsed once per column (dates and numbers on the distinct values only, which
makes a million-row sessions table cheap); the checks and the clean frames share them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

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
# Dates outside these years are typos (and would not fit pandas' nanosecond timestamps).
PLAUSIBLE_YEARS = (1900, 2199)

ISSUE_COLUMNS = ("file", "row", "column", "value", "reason", "client_id", "table")
# YYYY-MM-DD, optionally followed by an ISO 8601 time of day and zone (both ignored).
_ISO_DATE = (
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


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
    _require_columns(
        [
            (clients_file, clients_raw, CLIENTS_REQUIRED),
            (sessions_file, sessions_raw, SESSIONS_REQUIRED),
        ]
    )
    ranges = rating_ranges(instruments)
    allowed = {"clients": CLIENTS_COLUMNS, "sessions": sessions_columns(instruments)}
    extra = {
        "clients": [c for c in clients_raw.columns if c not in allowed["clients"]],
        "sessions": [c for c in sessions_raw.columns if c not in allowed["sessions"]],
    }
    clients_in = clients_raw[[c for c in clients_raw.columns if c in allowed["clients"]]]
    sessions_in = sessions_raw[[c for c in sessions_raw.columns if c in allowed["sessions"]]]

    clients_values = _ParsedColumns(clients_in)
    client_rules = _client_rules(clients_values)
    client_issues = _run_rules(clients_in, client_rules, clients_values, "clients", clients_file)
    client_rejected = _rejected_mask(client_issues, len(clients_in))
    clients = _clean_clients(clients_values, client_rejected)

    sessions_values = _ParsedColumns(sessions_in)
    episodes = _Episodes.from_clients(clients_values, clients_file)
    session_rules = _session_rules(sessions_values, episodes, ranges)
    session_issues = _run_rules(
        sessions_in, session_rules, sessions_values, "sessions", sessions_file
    )
    session_rejected = _rejected_mask(session_issues, len(sessions_in))
    # Sessions of a client whose row was rejected: the client is already reported.
    clean_ids = pd.Index(clients["client_id"])
    keep_sessions = ~session_rejected & sessions_values.on_distinct(
        "clean_client", "client_id", lambda u: clean_ids.get_indexer(u) >= 0, False
    )
    sessions = _clean_sessions(sessions_values, keep_sessions.to_numpy(), ranges)

    issues = pd.concat([client_issues, session_issues], ignore_index=True)
    rejected_clients = _rejected_clients(client_issues, clients_values)
    return ValidatedTables(
        clients=clients,
        sessions=sessions,
        issues=issues[list(ISSUE_COLUMNS)],
        rejected_clients=rejected_clients,
        extra_columns=extra,
        n_client_rows=len(clients_raw),
        n_session_rows=len(sessions_raw),
    )


# --------------------------------------------------------------------------- parsing


class _ParsedColumns:
    """One raw table, each column parsed at most once; shared by the checks and the output.

    Work happens on a column's distinct values (``pd.factorize``) and is spread back to
    the rows: sessions repeat the same dates, statuses and ratings many times, and this
    is what keeps a million rows within a few seconds.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.index = frame.index
        self._cache: dict[tuple[str, str], object] = {}

    def has(self, column: str) -> bool:
        return column in self.frame.columns

    def _memo(self, kind: str, column: str, build: Callable[[], object]):
        key = (kind, column)
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def raw(self, column: str) -> pd.Series:
        if column in self.frame.columns:
            return self.frame[column]
        return pd.Series(np.nan, index=self.index, dtype="float64")

    def distinct(self, column: str) -> _Distinct:
        """Row codes into the column's distinct values, those as stripped text."""
        return self._memo("distinct", column, lambda: _Distinct.of(self.raw(column)))

    def on_distinct(
        self, kind: str, column: str, compute: Callable[[pd.Series], np.ndarray], fill: object
    ) -> pd.Series:
        """``compute`` on the distinct values (stripped text), spread to the rows.

        Rows whose raw value is missing get ``fill``; ``kind`` names the result for reuse.
        """
        return self._memo(
            kind,
            column,
            lambda: self.distinct(column).spread(compute(self.distinct(column).text), fill),
        )

    def text(self, column: str) -> pd.Series:
        """Stripped text, missing when blank (pandas ``str`` dtype)."""
        return self._memo("text", column, lambda: self.distinct(column).spread_text())

    def lower(self, column: str) -> pd.Series:
        return self._memo("lower", column, lambda: self.distinct(column).spread_text(lower=True))

    def blank(self, column: str) -> pd.Series:
        return self.on_distinct("blank", column, lambda u: u.isna().to_numpy(dtype=bool), True)

    def date(self, column: str) -> _Dates:
        def build() -> _Dates:
            raw = self.raw(column)
            if pd.api.types.is_datetime64_any_dtype(raw):
                return _typed_dates(raw)
            distinct = self.distinct(column)
            parsed = _parse_dates(distinct.text)
            return _Dates(
                values=distinct.spread(parsed["values"], np.datetime64("NaT", "ns")),
                unparseable=distinct.spread(parsed["unparseable"], False),
                implausible=distinct.spread(parsed["implausible"], False),
            )

        return self._memo("date", column, build)

    def number(self, column: str) -> _Numbers:
        def build() -> _Numbers:
            raw = self.raw(column)
            if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
                values = pd.Series(raw.to_numpy(dtype="float64", na_value=np.nan), index=raw.index)
                finite = np.isfinite(values)
                return _Numbers(values=values.where(finite), not_numeric=values.notna() & ~finite)
            distinct = self.distinct(column)
            numbers = pd.to_numeric(distinct.text, errors="coerce").to_numpy(dtype="float64")
            finite = np.isfinite(numbers)
            return _Numbers(
                values=distinct.spread(np.where(finite, numbers, np.nan), np.nan),
                not_numeric=distinct.spread(distinct.text.notna().to_numpy(bool) & ~finite, False),
            )

        return self._memo("number", column, build)


@dataclass(frozen=True)
class _Distinct:
    # Per row, the position of its value in ``text``; rows whose raw value is missing
    # point one past the end, where ``spread`` puts the fill value.
    codes: np.ndarray
    text: pd.Series  # the distinct raw values as stripped text, missing when blank
    index: pd.Index

    @classmethod
    def of(cls, raw: pd.Series) -> _Distinct:
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        codes[codes < 0] = len(uniques)
        return cls(codes=codes, text=_as_text(pd.Series(uniques, dtype=raw.dtype)), index=raw.index)

    def spread(self, values: np.ndarray, fill: object) -> pd.Series:
        """Per-distinct ``values`` to per-row; rows with a missing raw value get ``fill``."""
        values = np.asarray(values)
        extended = np.append(values, np.array([fill], dtype=values.dtype))
        return pd.Series(extended.take(self.codes), index=self.index)

    def spread_text(self, *, lower: bool = False) -> pd.Series:
        text = self.text.str.lower() if lower else self.text
        text = pd.concat([text, pd.Series([None], dtype="str")], ignore_index=True)
        return pd.Series(text.array.take(self.codes), index=self.index, dtype="str")


@dataclass(frozen=True)
class _Dates:
    values: pd.Series  # datetime64[ns], normalised; NaT when blank or invalid
    unparseable: pd.Series  # present but not a YYYY-MM-DD calendar date
    implausible: pd.Series  # a real date outside PLAUSIBLE_YEARS


@dataclass(frozen=True)
class _Numbers:
    values: pd.Series  # float64; NaN when blank or not a number
    not_numeric: pd.Series  # present but not a finite number


def _as_text(series: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(series):
        whole = series.dropna()
        if (whole == np.floor(whole)).all():
            # ids stored as floats in Parquet (101.0) must read as "101"
            series = series.astype("Int64")
    text = series.astype("str").str.strip()
    return text.mask(text == "")


def _parse_dates(text: pd.Series) -> dict[str, np.ndarray]:
    """Parse ISO 8601 dates (``YYYY-MM-DD``, any time part ignored) from stripped text."""
    iso = text.str.fullmatch(_ISO_DATE).fillna(False).to_numpy(dtype=bool)
    # The time part (and any zone) is ignored: the date as written is the date.
    stamps = pd.to_datetime(text.str.slice(0, 10).where(iso), format="%Y-%m-%d", errors="coerce")
    plausible = stamps.dt.year.between(*PLAUSIBLE_YEARS).to_numpy(dtype=bool)
    return {
        "values": stamps.where(plausible).astype("datetime64[ns]").to_numpy(),
        "unparseable": text.notna().to_numpy(dtype=bool) & stamps.isna().to_numpy(dtype=bool),
        "implausible": stamps.notna().to_numpy(dtype=bool) & ~plausible,
    }


def _typed_dates(stamps: pd.Series) -> _Dates:
    """Dates stored as timestamps (Parquet): local calendar date, time dropped."""
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)
    stamps = stamps.dt.normalize()
    plausible = stamps.dt.year.between(*PLAUSIBLE_YEARS)
    return _Dates(
        values=stamps.where(plausible).astype("datetime64[ns]"),
        unparseable=pd.Series(False, index=stamps.index),
        implausible=stamps.notna() & ~plausible,
    )


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class _Rule:
    """One contract rule on one column.

    ``fails`` receives the raw column (as pandera hands it over) and returns a boolean
    mask of the rows breaking the rule. ``problem`` turns the failing values (stripped
    text, indexed by row position) into the problem's description; ``fix`` says what to
    do. The reason shown to the user is ``"<problem>; fix: <fix>"``.
    """

    column: str
    name: str
    fails: Callable[[pd.Series], pd.Series]
    problem: Callable[[pd.Series], pd.Series]
    fix: str


def _fmt(value: float) -> str:
    return f"{value:g}"


def _said(column: str, text: str) -> Callable[[pd.Series], pd.Series]:
    """Problem text '<column> <value> <text>' (the value as written)."""
    return lambda values: column + " " + values.fillna("") + " " + text


def _said_quoted(column: str, text: str) -> Callable[[pd.Series], pd.Series]:
    return lambda values: column + " '" + values.fillna("") + "' " + text


def _constant(text: str) -> Callable[[pd.Series], pd.Series]:
    return lambda values: pd.Series(text, index=values.index, dtype="str")


def _required_rule(values: _ParsedColumns, column: str, what: str) -> _Rule:
    return _Rule(
        column,
        "required",
        lambda s: values.blank(column),
        _constant(f"{column} is blank"),
        f"fill in the {what}; it is required on every row",
    )


def _date_rules(values: _ParsedColumns, column: str, what: str) -> list[_Rule]:
    return [
        _Rule(
            column,
            "iso_date",
            lambda s: values.date(column).unparseable,
            _said_quoted(column, "is not a date in YYYY-MM-DD form"),
            f"write the {what} as YYYY-MM-DD (e.g. 2026-03-14); formats like 03/14/2026 are ambiguous",
        ),
        _Rule(
            column,
            "plausible_date",
            lambda s: values.date(column).implausible,
            _said(column, f"is outside the years {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]}"),
            f"correct the {what}",
        ),
    ]


def _whole_number_rules(
    values: _ParsedColumns, column: str, what: str, bounds: tuple[int, int]
) -> list[_Rule]:
    low, high = bounds

    def not_whole(s: pd.Series) -> pd.Series:
        number = values.number(column)
        v = number.values
        return number.not_numeric | (v.notna() & (v != np.floor(v)))

    def out_of_range(s: pd.Series) -> pd.Series:
        v = values.number(column).values
        # NaN compares False: blanks and non-numbers are not "out of range"
        return (v == np.floor(v)) & ((v < low) | (v > high))

    return [
        _Rule(
            column,
            "whole_number",
            not_whole,
            _said_quoted(column, "is not a whole number"),
            f"write the {what} as a whole number, or leave it blank",
        ),
        _Rule(
            column,
            "range",
            out_of_range,
            _said(column, f"out of range {low}-{high}"),
            f"correct the {what} or leave it blank",
        ),
    ]


def _rating_rules(values: _ParsedColumns, column: str, bounds: tuple[float, float]) -> list[_Rule]:
    low, high = bounds

    def out_of_range(s: pd.Series) -> pd.Series:
        v = values.number(column).values
        # NaN compares False: blanks and non-numbers are not "out of range"
        return (v < low) | (v > high)

    return [
        _Rule(
            column,
            "number",
            lambda s: values.number(column).not_numeric,
            _said_quoted(column, "is not a number"),
            f"write a number from {_fmt(low)} to {_fmt(high)} (with a dot for decimals), or leave it blank",
        ),
        _Rule(
            column,
            "range",
            out_of_range,
            _said(column, f"out of range {_fmt(low)}-{_fmt(high)}"),
            f"correct the rating (the instrument's range is {_fmt(low)}-{_fmt(high)}) or leave it blank",
        ),
    ]


def _allowed_rule(values: _ParsedColumns, column: str, allowed: tuple[str, ...]) -> _Rule:
    listed = ", ".join(allowed)
    return _Rule(
        column,
        "allowed",
        lambda s: values.on_distinct(
            "not_allowed",
            column,
            lambda u: (u.notna() & ~u.str.lower().isin(allowed)).to_numpy(dtype=bool),
            False,
        ),
        _said_quoted(column, f"is not one of {listed}"),
        f"use one of {listed}",
    )


def _client_rules(values: _ParsedColumns) -> list[_Rule]:
    client_id = values.text("client_id")
    duplicated = client_id.notna() & client_id.duplicated(keep=False)

    def duplicate_problem(shown: pd.Series) -> pd.Series:
        ids = client_id.loc[shown.index]
        rows = pd.Series(shown.index + 1, index=shown.index)
        rows_by_id = rows.groupby(ids.to_numpy()).agg(list)
        texts = []
        for position, identifier in ids.items():
            others = [r for r in rows_by_id[identifier] if r != position + 1]
            listed = ", ".join(str(r) for r in others[:5])
            if len(others) > 5:
                listed += f" and {len(others) - 5} more"
            texts.append(
                f"client_id {identifier} also on row{'s' if len(others) > 1 else ''} {listed}"
            )
        return pd.Series(texts, index=shown.index, dtype="str")

    def discharge_before_intake(s: pd.Series) -> pd.Series:
        return values.date("discharge_date").values < values.date("intake_date").values

    def intake_shown(shown: pd.Series) -> pd.Series:
        intake = values.date("intake_date").values.loc[shown.index].dt.strftime("%Y-%m-%d")
        return "discharge_date " + shown.fillna("") + " is before intake_date " + intake

    has_date = ~values.blank("discharge_date")
    has_reason = ~values.blank("discharge_reason")
    rules = [
        _required_rule(values, "client_id", "client id"),
        _Rule(
            "client_id",
            "unique",
            lambda s: duplicated,
            duplicate_problem,
            "keep one row per treatment episode; give each episode its own client_id",
        ),
        _required_rule(values, "therapist_id", "therapist id"),
        _required_rule(values, "intake_date", "intake date"),
        *_date_rules(values, "intake_date", "intake date"),
    ]
    if values.has("age"):
        rules += _whole_number_rules(values, "age", "age", AGE_RANGE)
    if values.has("planned_sessions"):
        rules += _whole_number_rules(
            values, "planned_sessions", "planned number of sessions", PLANNED_SESSIONS_RANGE
        )
    if values.has("discharge_date"):
        rules += [
            *_date_rules(values, "discharge_date", "discharge date"),
            _Rule(
                "discharge_date",
                "not_before_intake",
                discharge_before_intake,
                intake_shown,
                "correct the discharge date or the intake date",
            ),
            _Rule(
                "discharge_date",
                "needs_reason",
                lambda s: has_date & ~has_reason,
                _said("discharge_date", "given without a discharge_reason"),
                "add the discharge_reason (completed, dropout, transferred, other), "
                "or clear the date if the episode is still open",
            ),
        ]
    if values.has("discharge_reason"):
        rules += [
            _allowed_rule(values, "discharge_reason", DISCHARGE_REASONS),
            _Rule(
                "discharge_reason",
                "needs_date",
                lambda s: has_reason & ~has_date,
                _said_quoted("discharge_reason", "given without a discharge_date"),
                "add the discharge date, or clear the reason if the episode is still open",
            ),
        ]
    return rules


@dataclass(frozen=True)
class _Episodes:
    """What sessions are checked against: the client ids and each episode's dates."""

    all_ids: pd.Index  # every non-blank client_id in the clients file
    ids: pd.Index  # ids occurring once, with their dates below
    intake: np.ndarray  # datetime64[ns]
    discharge: np.ndarray  # datetime64[ns]; NaT when open or invalid
    clients_file: str

    @classmethod
    def from_clients(cls, values: _ParsedColumns, clients_file: str) -> _Episodes:
        client_id = values.text("client_id")
        present = client_id.notna()
        # An id on several rows is rejected; its sessions are not judged by either row.
        single = present & ~client_id.duplicated(keep=False)
        intake = values.date("intake_date").values
        discharge = values.date("discharge_date").values
        # A discharge before intake is itself an error; don't judge sessions by it.
        discharge = discharge.where(~(discharge < intake))
        return cls(
            all_ids=pd.Index(client_id[present].unique()),
            ids=pd.Index(client_id[single]),
            intake=intake[single].to_numpy(dtype="datetime64[ns]"),
            discharge=discharge[single].to_numpy(dtype="datetime64[ns]"),
            clients_file=clients_file,
        )

    def dates_for(self, sessions: _ParsedColumns) -> tuple[pd.Series, pd.Series]:
        """Each session's episode intake and discharge dates (NaT when unknown)."""
        distinct = sessions.distinct("client_id")
        position = self.ids.get_indexer(distinct.text)  # -1: unknown, blank or duplicated id
        found = position >= 0
        nat = np.datetime64("NaT", "ns")
        intake = np.where(found, self.intake[position] if len(self.ids) else nat, nat)
        discharge = np.where(found, self.discharge[position] if len(self.ids) else nat, nat)
        return (
            distinct.spread(intake.astype("datetime64[ns]"), nat),
            distinct.spread(discharge.astype("datetime64[ns]"), nat),
        )


def _session_rules(
    values: _ParsedColumns, episodes: _Episodes, ranges: dict[str, tuple[float, float]]
) -> list[_Rule]:
    intake, discharge = episodes.dates_for(values)
    session_date = values.date("session_date").values

    def episode_problem(relation: str, dates: pd.Series, name: str) -> Callable:
        def problem(shown: pd.Series) -> pd.Series:
            other = dates.loc[shown.index].dt.strftime("%Y-%m-%d")
            return (
                "session_date "
                + shown.fillna("")
                + f" is {relation} the client's {name} "
                + other
                + f" in {episodes.clients_file}"
            )

        return problem

    rules = [
        _required_rule(values, "client_id", "client id"),
        _Rule(
            "client_id",
            "known_client",
            lambda s: values.on_distinct(
                "unknown_client",
                "client_id",
                lambda u: u.notna().to_numpy(dtype=bool) & (episodes.all_ids.get_indexer(u) < 0),
                False,
            ),
            _said_quoted("client_id", f"is not in {episodes.clients_file}"),
            "add the client to the clients file or correct the client_id",
        ),
        _required_rule(values, "session_date", "session date"),
        *_date_rules(values, "session_date", "session date"),
        _Rule(
            "session_date",
            "before_intake",
            lambda s: session_date < intake,
            episode_problem("before", intake, "intake_date"),
            "correct the session date or the client's intake date",
        ),
        _Rule(
            "session_date",
            "after_discharge",
            lambda s: session_date > discharge,
            episode_problem("after", discharge, "discharge_date"),
            "correct the session date or the client's discharge date",
        ),
        _required_rule(values, "status", "status"),
        _allowed_rule(values, "status", STATUSES),
    ]
    for column, bounds in ranges.items():
        if values.has(column):
            rules += _rating_rules(values, column, bounds)
    return rules


# --------------------------------------------------------------------------- running


def _run_rules(
    frame: pd.DataFrame, rules: list[_Rule], values: _ParsedColumns, table: str, file: str
) -> pd.DataFrame:
    """Validate ``frame`` with one pandera schema built from ``rules``; list the problems."""
    by_key = {(rule.column, rule.name): (order, rule) for order, rule in enumerate(rules)}
    assert len(by_key) == len(rules), "each rule needs a name unique within its column"
    schema = pa.DataFrameSchema(
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
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    else:
        return _empty_issues()

    known = pd.MultiIndex.from_tuples(list(by_key), names=["column", "check"])
    found = pd.MultiIndex.from_frame(failures[["column", "check"]].astype(object))
    if failures["index"].isna().any() or not found.isin(known).all():
        # a check that raised, or a schema-level failure: a bug here, not in the data
        raise RuntimeError(
            "validation failed internally: "
            + failures[["column", "check", "failure_case"]].head(5).to_string(index=False)
        )
    client_id = values.text("client_id")
    parts = []
    for (column, check), group in failures.groupby(["column", "check"], sort=False):
        order, rule = by_key[(column, check)]
        positions = np.sort(group["index"].to_numpy(dtype="int64"))
        n = len(positions)
        written = _as_written(frame[column].iloc[positions]).reset_index(drop=True)
        shown = pd.Series(written.array, index=positions).str.strip()
        problem = rule.problem(shown).reset_index(drop=True).astype("str")
        parts.append(
            pd.DataFrame(
                {
                    "table": _repeat(table, n),
                    "file": _repeat(file, n),
                    "row": positions + 1,
                    "column": _repeat(column, n),
                    "value": written,
                    "reason": problem + "; fix: " + rule.fix,
                    "problem": problem,
                    "client_id": client_id.iloc[positions].reset_index(drop=True),
                    "_order": np.full(n, order),
                }
            )
        )
    issues = pd.concat(parts, ignore_index=True)
    issues = issues.sort_values(["row", "_order"], kind="stable", ignore_index=True)
    return issues.drop(columns="_order")


def _repeat(text: str, n: int) -> pd.Series:
    return pd.Series([text], dtype="str").repeat(n).reset_index(drop=True)


def _passes(fails: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    def check(series: pd.Series) -> pd.Series:
        return ~fails(series).reindex(series.index, fill_value=False).astype(bool)

    return check


def _as_written(values: pd.Series) -> pd.Series:
    """The values as the user wrote them: text unchanged, typed values as text.

    A blank (missing) cell is the empty string, as written, never the text "nan".
    """
    blank = values.isna().to_numpy(dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(values):
        text = values.dt.strftime("%Y-%m-%d %H:%M:%S").str.replace(" 00:00:00", "", regex=False)
        return text.astype("str").mask(blank, "")
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            values = values.astype("Int64")  # 240.0 from Parquet reads as 240
    return values.astype("str").mask(blank, "")


def _empty_issues() -> pd.DataFrame:
    columns = (*ISSUE_COLUMNS, "problem")
    frame = pd.DataFrame({column: pd.Series(dtype="str") for column in columns})
    return frame.astype({"row": "int64"})


def _rejected_mask(issues: pd.DataFrame, n_rows: int) -> pd.Series:
    rejected = np.zeros(n_rows, dtype=bool)
    rejected[issues["row"].to_numpy(dtype="int64") - 1] = True
    return pd.Series(rejected)


def _rejected_clients(issues: pd.DataFrame, values: _ParsedColumns) -> pd.DataFrame:
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


# --------------------------------------------------------------------------- clean frames


def _clean_clients(values: _ParsedColumns, rejected: pd.Series) -> pd.DataFrame:
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


def _clean_sessions(
    values: _ParsedColumns, keep: np.ndarray, ranges: dict[str, tuple[float, float]]
) -> pd.DataFrame:
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
    head = {}
    for name, column in leading.items():
        if pd.api.types.is_datetime64_any_dtype(column):
            head[name] = pd.Series(column.to_numpy(dtype="datetime64[ns]")[rows])
        else:
            head[name] = pd.Series(column.array.take(rows), dtype="str")
    # Fortran order: each column is contiguous, and it is the layout pandas keeps.
    matrix = np.empty((len(rows), len(numbers)), dtype="float64", order="F")
    for position, column in enumerate(numbers.values()):
        matrix[:, position] = column.to_numpy(dtype="float64")[rows]
    return pd.concat(
        [
            pd.DataFrame(head, index=pd.RangeIndex(len(rows))),
            pd.DataFrame(matrix, columns=list(numbers), copy=False),
            pd.DataFrame({"row": (rows + 1).astype("int64")}),
        ],
        axis=1,
    )


# --------------------------------------------------------------------------- columns


def _require_columns(tables: list[tuple[str, pd.DataFrame, tuple[str, ...]]]) -> None:
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
