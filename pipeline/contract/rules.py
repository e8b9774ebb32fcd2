"""The contract's row rules and cross-table rules, each a :class:`Rule` on one column.

A rule says which rows break it (a boolean mask computed from the parsed values), how to
describe the problem (quoting the value as written) and how to fix it. Rules are listed
per table in the order their problems are reported within a row. Sessions are judged
against the clients table through :class:`Episodes`: the client must exist and the
session must fall between the episode's intake and discharge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.contract.columns import (
    AGE_RANGE,
    DISCHARGE_REASONS,
    PLANNED_SESSIONS_RANGE,
    STATUSES,
)
from pipeline.contract.parsing import PLAUSIBLE_YEARS, ParsedColumns


@dataclass(frozen=True)
class Rule:
    """One contract rule on one column.

    ``fails`` receives the raw column (as read) and returns a boolean
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


def _required_rule(values: ParsedColumns, column: str, what: str) -> Rule:
    return Rule(
        column,
        "required",
        lambda s: values.blank(column),
        _constant(f"{column} is blank"),
        f"fill in the {what}; it is required on every row",
    )


def _date_rules(values: ParsedColumns, column: str, what: str) -> list[Rule]:
    return [
        Rule(
            column,
            "iso_date",
            lambda s: values.date(column).unparseable,
            _said_quoted(column, "is not a date in YYYY-MM-DD form"),
            f"write the {what} as YYYY-MM-DD (e.g. 2026-03-14); "
            "formats like 03/14/2026 are ambiguous",
        ),
        Rule(
            column,
            "plausible_date",
            lambda s: values.date(column).implausible,
            _said(column, f"is outside the years {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]}"),
            f"correct the {what}",
        ),
    ]


def _whole_number_rules(
    values: ParsedColumns, column: str, what: str, bounds: tuple[int, int]
) -> list[Rule]:
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
        Rule(
            column,
            "whole_number",
            not_whole,
            _said_quoted(column, "is not a whole number"),
            f"write the {what} as a whole number, or leave it blank",
        ),
        Rule(
            column,
            "range",
            out_of_range,
            _said(column, f"out of range {low}-{high}"),
            f"correct the {what} or leave it blank",
        ),
    ]


def _rating_rules(values: ParsedColumns, column: str, bounds: tuple[float, float]) -> list[Rule]:
    low, high = bounds

    def out_of_range(s: pd.Series) -> pd.Series:
        v = values.number(column).values
        # NaN compares False: blanks and non-numbers are not "out of range"
        return (v < low) | (v > high)

    return [
        Rule(
            column,
            "number",
            lambda s: values.number(column).not_numeric,
            _said_quoted(column, "is not a number"),
            f"write a number from {_fmt(low)} to {_fmt(high)} (with a dot for decimals), "
            "or leave it blank",
        ),
        Rule(
            column,
            "range",
            out_of_range,
            _said(column, f"out of range {_fmt(low)}-{_fmt(high)}"),
            f"correct the rating (the instrument's range is {_fmt(low)}-{_fmt(high)}) "
            "or leave it blank",
        ),
    ]


def _allowed_rule(values: ParsedColumns, column: str, allowed: tuple[str, ...]) -> Rule:
    listed = ", ".join(allowed)
    return Rule(
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


def _duplicate_problem(client_id: pd.Series) -> Callable[[pd.Series], pd.Series]:
    """Problem text for a duplicated id: the other rows holding it (at most five listed)."""

    def problem(shown: pd.Series) -> pd.Series:
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

    return problem


def _discharge_rules(values: ParsedColumns) -> list[Rule]:
    """A discharge is a valid date on or after intake, and date and reason come together."""

    def discharge_before_intake(s: pd.Series) -> pd.Series:
        return values.date("discharge_date").values < values.date("intake_date").values

    def intake_shown(shown: pd.Series) -> pd.Series:
        intake = values.date("intake_date").values.loc[shown.index].dt.strftime("%Y-%m-%d")
        return "discharge_date " + shown.fillna("") + " is before intake_date " + intake

    has_date = ~values.blank("discharge_date")
    has_reason = ~values.blank("discharge_reason")
    rules = []
    if values.has("discharge_date"):
        rules += [
            *_date_rules(values, "discharge_date", "discharge date"),
            Rule(
                "discharge_date",
                "not_before_intake",
                discharge_before_intake,
                intake_shown,
                "correct the discharge date or the intake date",
            ),
            Rule(
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
            Rule(
                "discharge_reason",
                "needs_date",
                lambda s: has_reason & ~has_date,
                _said_quoted("discharge_reason", "given without a discharge_date"),
                "add the discharge date, or clear the reason if the episode is still open",
            ),
        ]
    return rules


def client_rules(values: ParsedColumns) -> list[Rule]:
    """The rules for the clients table, in the order a row's problems are reported.

    Parameters
    ----------
    values
        The clients table, parsed.

    Returns
    -------
    list of Rule
        Required values, unique client_id, valid dates, age and planned sessions as
        whole numbers in range (when the columns exist), and the discharge rules.
    """
    client_id = values.text("client_id")
    duplicated = client_id.notna() & client_id.duplicated(keep=False)
    rules = [
        _required_rule(values, "client_id", "client id"),
        Rule(
            "client_id",
            "unique",
            lambda s: duplicated,
            _duplicate_problem(client_id),
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
    return rules + _discharge_rules(values)


@dataclass(frozen=True)
class Episodes:
    """What sessions are checked against: the client ids and each episode's dates.

    Attributes
    ----------
    all_ids
        Every non-blank client_id in the clients file.
    ids
        The ids occurring once, with their dates in ``intake`` and ``discharge``.
    intake, discharge
        datetime64[ns] per id in ``ids``; discharge is NaT when open or invalid.
    clients_file
        The clients file's name, quoted in messages.
    """

    all_ids: pd.Index
    ids: pd.Index
    intake: np.ndarray
    discharge: np.ndarray
    clients_file: str

    @classmethod
    def from_clients(cls, values: ParsedColumns, clients_file: str) -> Episodes:
        """The episodes of the parsed clients table (rejected rows included)."""
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

    def dates_for(self, sessions: ParsedColumns) -> tuple[pd.Series, pd.Series]:
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


def _episode_problem(
    relation: str, dates: pd.Series, name: str, clients_file: str
) -> Callable[[pd.Series], pd.Series]:
    """Problem text for a session outside its episode, quoting the episode's date."""

    def problem(shown: pd.Series) -> pd.Series:
        other = dates.loc[shown.index].dt.strftime("%Y-%m-%d")
        return (
            "session_date "
            + shown.fillna("")
            + f" is {relation} the client's {name} "
            + other
            + f" in {clients_file}"
        )

    return problem


def session_rules(
    values: ParsedColumns, episodes: Episodes, ranges: dict[str, tuple[float, float]]
) -> list[Rule]:
    """The rules for the sessions table, in the order a row's problems are reported.

    Parameters
    ----------
    values
        The sessions table, parsed.
    episodes
        The clients table's ids and episode dates.
    ranges
        The rating columns and their ranges (:func:`~pipeline.contract.columns.rating_ranges`).

    Returns
    -------
    list of Rule
        Required values, a known client_id, a valid session date inside the episode, an
        allowed status, and each rating column present a number in range.
    """
    intake, discharge = episodes.dates_for(values)
    session_date = values.date("session_date").values
    rules = [
        _required_rule(values, "client_id", "client id"),
        Rule(
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
        Rule(
            "session_date",
            "before_intake",
            lambda s: session_date < intake,
            _episode_problem("before", intake, "intake_date", episodes.clients_file),
            "correct the session date or the client's intake date",
        ),
        Rule(
            "session_date",
            "after_discharge",
            lambda s: session_date > discharge,
            _episode_problem("after", discharge, "discharge_date", episodes.clients_file),
            "correct the session date or the client's discharge date",
        ),
        _required_rule(values, "status", "status"),
        _allowed_rule(values, "status", STATUSES),
    ]
    for column, bounds in ranges.items():
        if values.has(column):
            rules += _rating_rules(values, column, bounds)
    return rules
