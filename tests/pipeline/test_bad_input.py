"""Bad inputs, one case each, through `validate`, `score` (lenient and ``--strict``) and `train`.

Every case starts from the same clean, tiny base (five clients with weekly appointments:
A, B, C open, D closed as dropout, E closed as completed), damages it in one way and
writes it to ``tmp_path`` as a clinic would export it. The expected outcome per
CONTRACT.md is in the table below (exit 0 success, 2 unusable inputs, 3 rows rejected
under ``--strict``, 1 never; `validate` exits 3 when it finds problems, where the contract
only asks for "not 0"), with the message fragments and the exact rows the rejection
report must list.

Cases (validate / score / score --strict exits):

==========================  ======  =====  ======  =======================================
case                        valid.  score  strict  what is damaged
==========================  ======  =====  ======  =======================================
clean                       0       0      0       nothing (the control)
missing_file                2       2      2       the clients file does not exist
empty_file                  2       2      2       the sessions file has 0 bytes
semicolon_delimiter         2       2      2       clients saved with ';' between fields
utf8_bom                    0       0      0       both files start with a UTF-8 BOM
missing_required_column     2       2      2       sessions has no ``status`` column
duplicate_client_ids        3       0      3       client B on two rows
sessions_for_unknown_clients 3      0      3       appointments of ids not in clients
unparseable_dates           3       0      3       'next tuesday', intake 'tbd'
impossible_dates            3       0      3       2026-02-30 as session and discharge date
session_outside_episode     3       0      3       after discharge, before intake
future_sessions_past_as_of  0       0      0       appointments after ``--as-of`` (ignored)
unknown_status              3       0      3       'rescheduled' and a blank status
ratings_out_of_range        3       0      3       wai_bond 7, srs_total 45, ors_total -2
non_numeric_ratings         3       0      3       'high', 'thirty', '4,5'
age_240                     3       0      3       client B aged 240
mixed_date_formats          3       0      3       2026-01-12 beside 12/01/2026 in a column
site_without_ratings        0       0      0       no rating at all at site_b
unseen_therapist            0       0      0       a therapist the model never saw
unseen_categories           0       0      0       all five categories never seen
one_client_only             0       0      0       a single open client
zero_active_clients         0       0      0       only closed episodes (empty risk list)
no_rows_at_all              0       0      0       both files header only, ``--as-of`` given
no_rows_no_as_of            0       2      2       the same without ``--as-of``: no default date
unicode_client_ids          0       0      0       ids 'Zoë-01', '客户-二', 'Ørjan 3'
==========================  ======  =====  ======  =======================================

`train` runs every case with the small-search config of the ``trained`` fixture: the
tables are far too small to train on, so it must stop fast with exit 2 and say why (the
unusable file, or how many closed episodes of each outcome it found), never crash.

Whenever a risk list is written: one row per distinct active input client (no discharge
date and no discharge reason, as written; clients whose own row was rejected included),
each client_id exactly once. Under ``--strict`` with rejected rows: exit 3 and the
rejection report is the only file written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.io.output import FORMULA_STARTS
from tests.contract import CLIENT_COLUMNS, REJECTED_COLUMNS, RISK_LIST_COLUMNS

runner = CliRunner()
# wide enough that no message or table cell is wrapped by the console
WIDE = {"COLUMNS": "3000"}

SESSION_COLUMNS = ["client_id", "session_date", "status", "wai_bond", "srs_total", "ors_total"]
NO_APPOINTMENTS = "no appointments before the as-of date"
# what train says about the base tables: one dropout (D) and one completion (E)
BASE_OUTCOMES = (
    "found 1 dropout and 1 completed, transferred or other episodes with at least one appointment"
)


# ---------------------------------------------------------------- the clean base case


def _client(client_id: str, therapist_id: str, intake: str, site: str, **values: str) -> dict:
    row = {
        "client_id": client_id,
        "therapist_id": therapist_id,
        "intake_date": intake,
        "site": site,
        "program": "outpatient",
        "age": "34",
        "gender": "female",
        "primary_concern": "depression",
        "referral_source": "self",
        "planned_sessions": "12",
        "discharge_date": "",
        "discharge_reason": "",
    }
    return row | values


def _weekly(client_id: str, start: str, statuses: list[str]) -> list[dict]:
    """Weekly appointments; attended ones carry a bond rating, an SRS and an ORS total."""
    dates = pd.date_range(start, periods=len(statuses), freq="7D")
    return [
        {
            "client_id": client_id,
            "session_date": f"{date:%Y-%m-%d}",
            "status": status,
            "wai_bond": "4.0" if status == "attended" else "",
            "srs_total": "37" if status == "attended" else "",
            "ors_total": "22" if status == "attended" else "",
        }
        for date, status in zip(dates, statuses, strict=True)
    ]


@dataclass
class Tables:
    """The two tables as lists of rows of text, and the columns each file is written with."""

    clients: list[dict]
    sessions: list[dict]
    client_columns: list[str] = field(default_factory=lambda: list(CLIENT_COLUMNS))
    session_columns: list[str] = field(default_factory=lambda: list(SESSION_COLUMNS))

    def client(self, client_id: str) -> dict:
        (row,) = [row for row in self.clients if row["client_id"] == client_id]
        return row

    def session(self, row: int) -> dict:
        """Sessions record ``row`` (1-based, header not counted, as in the messages)."""
        return self.sessions[row - 1]


def base_tables() -> Tables:
    """Clients rows 1-5: A, B, C open; D dropout; E completed.

    Sessions rows: A 1-4 (01-05 .. 01-26), B 5-7 (01-12 .. 01-26), C 8-9 (01-19, 01-26),
    D 10-12 (01-05 .. 01-19), E 13-16 (01-05 .. 01-26). The latest date, 2026-01-26, is
    the default as-of date.
    """
    clients = [
        _client("A", "T001", "2026-01-05", "site_a"),
        _client("B", "T002", "2026-01-12", "site_b", gender="male", primary_concern="alcohol"),
        _client("C", "T001", "2026-01-19", "site_a", program="intensive_outpatient", age="29"),
        _client(
            "D",
            "T002",
            "2026-01-05",
            "site_b",
            primary_concern="opioid",
            discharge_date="2026-01-24",
            discharge_reason="dropout",
        ),
        _client(
            "E",
            "T001",
            "2026-01-05",
            "site_a",
            discharge_date="2026-01-26",
            discharge_reason="completed",
        ),
    ]
    sessions = (
        _weekly("A", "2026-01-05", ["attended", "attended", "no_show", "attended"])
        + _weekly("B", "2026-01-12", ["attended", "attended", "attended"])
        + _weekly("C", "2026-01-19", ["attended", "no_show"])
        + _weekly("D", "2026-01-05", ["attended", "no_show", "no_show"])
        + _weekly("E", "2026-01-05", ["attended"] * 4)
    )
    return Tables(clients, sessions)


def _write(path: Path, rows: list[dict], columns: list[str]) -> Path:
    pd.DataFrame(rows, columns=columns, dtype="str").to_csv(path, index=False)
    return path


# ---------------------------------------------------------------- how each case damages it


def _delete_clients_file(clients: Path, sessions: Path) -> None:
    clients.unlink()


def _truncate_sessions_file(clients: Path, sessions: Path) -> None:
    sessions.write_bytes(b"")


def _semicolon_clients(clients: Path, sessions: Path) -> None:
    pd.read_csv(clients, dtype="str", keep_default_na=False).to_csv(clients, sep=";", index=False)


def _add_bom(clients: Path, sessions: Path) -> None:
    for path in (clients, sessions):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def _drop_status_column(t: Tables) -> None:
    t.session_columns.remove("status")


def _duplicate_b(t: Tables) -> None:
    t.clients.append(_client("B", "T003", "2026-01-12", "site_b"))  # clients row 6


def _unknown_clients(t: Tables) -> None:
    t.sessions += _weekly("Z-404", "2026-01-12", ["attended"])  # row 17
    t.sessions += _weekly("Zoë-99", "2026-01-19", ["no_show"])  # row 18


def _unparseable_dates(t: Tables) -> None:
    t.session(6)["session_date"] = "next tuesday"  # B's second appointment
    t.client("C")["intake_date"] = "tbd"


def _impossible_dates(t: Tables) -> None:
    t.session(4)["session_date"] = "2026-02-30"  # A's last appointment
    t.client("D")["discharge_date"] = "2026-02-30"


def _outside_episode(t: Tables) -> None:
    t.sessions += _weekly("E", "2026-02-02", ["attended"])  # row 17: E left on 01-26
    t.sessions += _weekly("A", "2026-01-01", ["attended"])  # row 18: A came in on 01-05


def _future_sessions(t: Tables) -> None:
    t.sessions += _weekly("B", "2026-03-02", ["attended"])  # row 17, long after --as-of
    # an episode that starts after --as-of: listed, nothing to score it on yet
    t.clients.append(_client("F", "T002", "2026-02-02", "site_b"))
    t.sessions += _weekly("F", "2026-02-02", ["attended", "attended"])  # rows 18-19


def _unknown_status(t: Tables) -> None:
    t.session(6)["status"] = "rescheduled"
    t.session(9)["status"] = ""


def _ratings_out_of_range(t: Tables) -> None:
    t.session(1)["wai_bond"] = "7"
    t.session(5)["srs_total"] = "45"
    t.session(13)["ors_total"] = "-2"


def _non_numeric_ratings(t: Tables) -> None:
    t.session(2)["wai_bond"] = "high"
    t.session(7)["srs_total"] = "thirty"
    t.session(8)["wai_bond"] = "4,5"


def _age_240(t: Tables) -> None:
    t.client("B")["age"] = "240"


def _mixed_date_formats(t: Tables) -> None:
    t.session(2)["session_date"] = "12/01/2026"
    t.session(6)["session_date"] = "01/19/2026"
    t.session(16)["session_date"] = "2026-01-26 14:30"  # a time part is allowed


def _no_ratings_at_site_b(t: Tables) -> None:
    site_b = {row["client_id"] for row in t.clients if row["site"] == "site_b"}
    for row in t.sessions:
        if row["client_id"] in site_b:
            row.update(wai_bond="", srs_total="", ors_total="")


def _unseen_therapist(t: Tables) -> None:
    t.client("C")["therapist_id"] = "T-NEVER-SEEN"


def _unseen_categories(t: Tables) -> None:
    t.client("B").update(
        site="atlantis",
        program="space_camp",
        gender="nonbinary",
        primary_concern="gaming",
        referral_source="oracle",
    )


def _one_client_only(t: Tables) -> None:
    t.clients[:] = [t.client("A")]
    t.sessions[:] = [row for row in t.sessions if row["client_id"] == "A"]


def _only_closed_episodes(t: Tables) -> None:
    t.clients[:] = [row for row in t.clients if row["discharge_reason"]]
    closed = {row["client_id"] for row in t.clients}
    t.sessions[:] = [row for row in t.sessions if row["client_id"] in closed]


def _header_only(t: Tables) -> None:
    t.clients.clear()
    t.sessions.clear()


UNICODE_IDS = {"A": "Zoë-01", "B": "客户-二", "C": "Ørjan 3"}


def _unicode_ids(t: Tables) -> None:
    for row in t.clients + t.sessions:
        row["client_id"] = UNICODE_IDS.get(row["client_id"], row["client_id"])
    t.client("Zoë-01")["therapist_id"] = "Thérèse"


# ---------------------------------------------------------------- the table of cases


@dataclass(frozen=True)
class Rejected:
    """One row of the rejection report; ``reason`` is the start of its reason."""

    file: str
    row: int
    column: str
    value: str
    reason: str


@dataclass(frozen=True)
class Case:
    name: str
    corrupt: Callable[[Tables], None] | None = None  # edits the tables before writing
    damage: Callable[[Path, Path], None] | None = None  # edits the written files
    validate_exit: int = 0
    score_exit: int = 0
    strict_exit: int = 0
    # for inputs that cannot be used at all: what each command exiting 2 must say
    # ({clients} and {sessions} are the paths passed)
    fatal: tuple[str, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    as_of: str | None = None
    # client_id -> True (scored) or the expected start of its not_scored_reason
    listed: dict = field(default_factory=dict)
    attended: dict = field(default_factory=dict)  # client_id -> (sessions, last attended)
    train_says: tuple[str, ...] = (BASE_OUTCOMES,)
    same_as_clean: bool = False  # the risk list must equal the clean base's, row for row


CASES = [
    Case(
        "clean",
        listed={"A": True, "B": True, "C": True},
        attended={"A": (3, "2026-01-26"), "B": (3, "2026-01-26"), "C": (1, "2026-01-19")},
    ),
    Case(
        "missing_file",
        damage=_delete_clients_file,
        validate_exit=2,
        score_exit=2,
        strict_exit=2,
        fatal=("{clients}: clients file not found. Fix: check the path given to --clients.",),
    ),
    Case(
        "empty_file",
        damage=_truncate_sessions_file,
        validate_exit=2,
        score_exit=2,
        strict_exit=2,
        fatal=(
            "{sessions}: the sessions file is empty (0 bytes). Fix: export the sessions table "
            "again, with a header row naming the columns.",
        ),
    ),
    Case(
        "semicolon_delimiter",
        damage=_semicolon_clients,
        validate_exit=2,
        score_exit=2,
        strict_exit=2,
        fatal=(
            "{clients}: the clients file looks delimited by semicolon (;), not commas",
            "'client_id;therapist_id;intake_date;",
            "Fix: save it as comma-separated CSV (UTF-8)",
        ),
    ),
    Case(
        "utf8_bom",
        damage=_add_bom,
        listed={"A": True, "B": True, "C": True},
        same_as_clean=True,
    ),
    Case(
        "missing_required_column",
        corrupt=_drop_status_column,
        validate_exit=2,
        score_exit=2,
        strict_exit=2,
        fatal=(
            "sessions.csv: missing required column status (columns found: client_id, "
            "session_date, wai_bond, srs_total, ors_total).",
            "Fix: add the missing columns, or rename the matching ones",
        ),
    ),
    Case(
        "duplicate_client_ids",
        corrupt=_duplicate_b,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "clients.csv",
                2,
                "client_id",
                "B",
                "client_id B also on row 6; fix: keep one row per treatment episode",
            ),
            Rejected(
                "clients.csv",
                6,
                "client_id",
                "B",
                "client_id B also on row 2; fix: keep one row per treatment episode",
            ),
        ),  # fmt: skip
        listed={"A": True, "B": "row rejected: client_id B also on row", "C": True},
    ),
    Case(
        "sessions_for_unknown_clients",
        corrupt=_unknown_clients,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "sessions.csv",
                17,
                "client_id",
                "Z-404",
                "client_id 'Z-404' is not in clients.csv; fix: add the client to the clients file or correct the client_id",
            ),
            Rejected(
                "sessions.csv",
                18,
                "client_id",
                "Zoë-99",
                "client_id 'Zoë-99' is not in clients.csv; fix: add the client",
            ),
        ),  # fmt: skip
        listed={"A": True, "B": True, "C": True},
    ),
    Case(
        "unparseable_dates",
        corrupt=_unparseable_dates,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "clients.csv",
                3,
                "intake_date",
                "tbd",
                "intake_date 'tbd' is not a date in YYYY-MM-DD form; fix: write the intake date as YYYY-MM-DD",
            ),
            Rejected(
                "sessions.csv",
                6,
                "session_date",
                "next tuesday",
                "session_date 'next tuesday' is not a date in YYYY-MM-DD form; fix: write the session date as YYYY-MM-DD",
            ),
        ),  # fmt: skip
        listed={"A": True, "B": True, "C": "row rejected: intake_date 'tbd' is not a date"},
        attended={"B": (2, "2026-01-26")},  # the appointment with the bad date is not counted
    ),
    Case(
        "impossible_dates",
        corrupt=_impossible_dates,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "clients.csv",
                4,
                "discharge_date",
                "2026-02-30",
                "discharge_date '2026-02-30' is not a date in YYYY-MM-DD form; fix:",
            ),
            Rejected(
                "sessions.csv",
                4,
                "session_date",
                "2026-02-30",
                "session_date '2026-02-30' is not a date in YYYY-MM-DD form; fix:",
            ),
        ),  # fmt: skip
        # D is a closed episode: rejected, but not active, so not listed
        listed={"A": True, "B": True, "C": True},
        attended={"A": (2, "2026-01-12")},
        train_says=("found 0 dropout and 1 completed, transferred or other episodes",),
    ),
    Case(
        "session_outside_episode",
        corrupt=_outside_episode,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "sessions.csv",
                17,
                "session_date",
                "2026-02-02",
                "session_date 2026-02-02 is after the client's discharge_date 2026-01-26 in clients.csv; fix: correct the session date or the client's discharge date",
            ),
            Rejected(
                "sessions.csv",
                18,
                "session_date",
                "2026-01-01",
                "session_date 2026-01-01 is before the client's intake_date 2026-01-05 in clients.csv; fix: correct the session date or the client's intake date",
            ),
        ),  # fmt: skip
        listed={"A": True, "B": True, "C": True},
        attended={"A": (3, "2026-01-26")},
    ),
    Case(
        "future_sessions_past_as_of",
        corrupt=_future_sessions,
        as_of="2026-01-20",
        listed={"A": True, "B": True, "C": True, "F": NO_APPOINTMENTS},
        attended={
            "A": (2, "2026-01-12"),
            "B": (2, "2026-01-19"),
            "C": (1, "2026-01-19"),
            "F": (0, ""),
        },
    ),
    Case(
        "unknown_status",
        corrupt=_unknown_status,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "sessions.csv",
                6,
                "status",
                "rescheduled",
                "status 'rescheduled' is not one of attended, no_show, late_cancel, cancelled; fix: use one of",
            ),
            Rejected(
                "sessions.csv",
                9,
                "status",
                "",
                "status is blank; fix: fill in the status; it is required on every row",
            ),
        ),  # fmt: skip
        listed={"A": True, "B": True, "C": True},
        attended={"B": (2, "2026-01-26")},
    ),
    Case(
        "ratings_out_of_range",
        corrupt=_ratings_out_of_range,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "sessions.csv",
                1,
                "wai_bond",
                "7",
                "wai_bond 7 out of range 1-5; fix: correct the rating (the instrument's range is 1-5) or leave it blank",
            ),
            Rejected(
                "sessions.csv",
                5,
                "srs_total",
                "45",
                "srs_total 45 out of range 0-40; fix: correct the rating",
            ),
            Rejected(
                "sessions.csv",
                13,
                "ors_total",
                "-2",
                "ors_total -2 out of range 0-40; fix: correct the rating",
            ),
        ),  # fmt: skip
        listed={"A": True, "B": True, "C": True},
        attended={"A": (2, "2026-01-26"), "B": (2, "2026-01-26")},
    ),
    Case(
        "non_numeric_ratings",
        corrupt=_non_numeric_ratings,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "sessions.csv",
                2,
                "wai_bond",
                "high",
                "wai_bond 'high' is not a number; fix: write a number from 1 to 5 (with a dot for decimals), or leave it blank",
            ),
            Rejected(
                "sessions.csv",
                7,
                "srs_total",
                "thirty",
                "srs_total 'thirty' is not a number; fix: write a number from 0 to 40",
            ),
            Rejected(
                "sessions.csv",
                8,
                "wai_bond",
                "4,5",
                "wai_bond '4,5' is not a number; fix: write a number from 1 to 5 (with a dot for decimals)",
            ),
        ),  # fmt: skip
        # C's only attended appointment was rejected; its no-show still counts
        listed={"A": True, "B": True, "C": True},
        attended={"A": (2, "2026-01-26"), "B": (2, "2026-01-19"), "C": (0, "")},
    ),
    Case(
        "age_240",
        corrupt=_age_240,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "clients.csv",
                2,
                "age",
                "240",
                "age 240 out of range 12-100; fix: correct the age or leave it blank",
            ),
        ),  # fmt: skip
        listed={"A": True, "B": "row rejected: age 240 out of range 12-100", "C": True},
    ),
    Case(
        "mixed_date_formats",
        corrupt=_mixed_date_formats,
        validate_exit=3,
        strict_exit=3,
        rejected=(
            Rejected(
                "sessions.csv",
                2,
                "session_date",
                "12/01/2026",
                "session_date '12/01/2026' is not a date in YYYY-MM-DD form; fix: write the session date as YYYY-MM-DD (e.g. 2026-03-14); formats like 03/14/2026 are ambiguous",
            ),
            Rejected(
                "sessions.csv",
                6,
                "session_date",
                "01/19/2026",
                "session_date '01/19/2026' is not a date in YYYY-MM-DD form",
            ),
        ),  # fmt: skip
        listed={"A": True, "B": True, "C": True},
        attended={"A": (2, "2026-01-26"), "B": (2, "2026-01-26")},
    ),
    Case(
        "site_without_ratings",
        corrupt=_no_ratings_at_site_b,
        listed={"A": True, "B": True, "C": True},
        attended={"B": (3, "2026-01-26")},
    ),
    Case("unseen_therapist", corrupt=_unseen_therapist, listed={"A": True, "B": True, "C": True}),
    Case("unseen_categories", corrupt=_unseen_categories, listed={"A": True, "B": True, "C": True}),
    Case(
        "one_client_only",
        corrupt=_one_client_only,
        listed={"A": True},
        attended={"A": (3, "2026-01-26")},
        train_says=("found 0 dropout and 0 completed, transferred or other episodes",),
    ),
    Case("zero_active_clients", corrupt=_only_closed_episodes, listed={}),
    Case(
        "no_rows_at_all",
        corrupt=_header_only,
        as_of="2026-01-26",
        train_says=("found 0 dropout and 0 completed, transferred or other episodes",),
    ),
    Case(
        "no_rows_no_as_of",
        corrupt=_header_only,
        score_exit=2,
        strict_exit=2,
        fatal=(
            "sessions.csv: no usable appointments, so there is no default as-of date. "
            "Fix: pass --as-of YYYY-MM-DD.",
        ),
        train_says=("found 0 dropout and 0 completed, transferred or other episodes",),
    ),
    Case(
        "unicode_client_ids",
        corrupt=_unicode_ids,
        listed={"Zoë-01": True, "客户-二": True, "Ørjan 3": True},
        attended={"Zoë-01": (3, "2026-01-26")},
    ),
]
IDS = [case.name for case in CASES]
assert len(set(IDS)) == len(IDS)


# ---------------------------------------------------------------- running a case


@dataclass(frozen=True)
class Written:
    clients: Path
    sessions: Path
    n_clients: int  # data rows written (before any damage to the files)
    n_sessions: int


def _inputs(case: Case, folder: Path) -> Written:
    """Write the case's tables into ``folder`` as CSV, then damage the files if it says so."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = base_tables()
    if case.corrupt is not None:
        case.corrupt(tables)
    clients = _write(folder / "clients.csv", tables.clients, tables.client_columns)
    sessions = _write(folder / "sessions.csv", tables.sessions, tables.session_columns)
    if case.damage is not None:
        case.damage(clients, sessions)
    return Written(clients, sessions, len(tables.clients), len(tables.sessions))


def _invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def _text(result) -> str:
    """Everything printed (stdout and stderr), whitespace collapsed."""
    return " ".join(result.output.split())


def _no_crash(result) -> None:
    assert result.exit_code != 1, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output


def _score(case: Case, inputs: Written, out: Path, *, strict: bool):
    args = ["score", "--clients", inputs.clients, "--sessions", inputs.sessions, "--out", out]
    if case.as_of:
        args += ["--as-of", case.as_of]
    if strict:
        args.append("--strict")
    return _invoke(*args)


def _read(path: Path) -> pd.DataFrame:
    """A CSV as a reader sees it: all text, blanks as empty strings, any BOM dropped."""
    return pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig")


def _active_input_ids(clients: Path) -> list[str]:
    """Active clients as written: discharge_date and discharge_reason both blank."""
    raw = _read(clients)
    open_ = raw["discharge_date"].str.strip().eq("") & raw["discharge_reason"].str.strip().eq("")
    ids = raw.loc[open_, "client_id"].str.strip()
    return sorted(set(ids[ids.ne("")]))


def _expected_rejections(case: Case, in_csv: bool = False) -> list[tuple]:
    """The expected rejections; ``in_csv``: values as a CSV holds them (a value that a
    spreadsheet would run, such as ``-2``, with the leading quote that keeps it text)."""
    return sorted(
        (r.file, r.row, r.column, _as_csv_text(r.value) if in_csv else r.value)
        for r in case.rejected
    )


def _as_csv_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _n_rejected_rows(case: Case) -> int:
    return len({(r.file, r.row) for r in case.rejected})


def _check_reasons(case: Case, reasons: dict) -> None:
    """Each expected problem's reason starts as expected and says the fix."""
    for expected in case.rejected:
        reason = reasons[(expected.file, expected.row, expected.column)]
        assert reason.startswith(expected.reason), reason
        assert "; fix: " in reason, reason


def _check_rejection_report(case: Case, path: Path) -> None:
    report = _read(path)
    assert list(report.columns) == REJECTED_COLUMNS
    found = sorted(
        (rec.file, int(rec.row), rec.column, rec.value) for rec in report.itertuples(index=False)
    )
    assert found == _expected_rejections(case, in_csv=True), report.to_string()
    _check_reasons(
        case, {(rec.file, int(rec.row), rec.column): rec.reason for rec in report.itertuples()}
    )


def _check_fatal(case: Case, result, inputs: Written) -> None:
    assert case.fatal, f"{case.name}: exit 2 without expected message: {result.output}"
    text = _text(result)
    for fragment in case.fatal:
        assert fragment.format(clients=inputs.clients, sessions=inputs.sessions) in text, text
    assert "error:" in result.stderr


# ---------------------------------------------------------------- the clean base, scored once


@pytest.fixture(scope="module")
def clean_risk_list(trained, tmp_path_factory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("clean")
    inputs = _inputs(CASES[0], folder)
    result = _score(CASES[0], inputs, folder / "risk.csv", strict=False)
    assert result.exit_code == 0, result.output
    return _read(folder / "risk.csv")


# ---------------------------------------------------------------- validate


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_validate(case: Case, tmp_path):
    inputs = _inputs(case, tmp_path / "in")
    result = _invoke("validate", "--clients", inputs.clients, "--sessions", inputs.sessions)
    _no_crash(result)
    assert result.exit_code == case.validate_exit, result.output
    if case.validate_exit == 2:
        _check_fatal(case, result, inputs)
        return
    if not case.rejected:
        assert case.validate_exit == 0
        assert (
            f"ok: {inputs.n_clients} client rows and {inputs.n_sessions} session rows, no problems"
        ) in _text(result)
        return
    # one table row per problem: file, row, column, value as written, reason with the fix
    rows = [
        tuple(cell.strip() for cell in line.split("│")[1:-1])
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    found = sorted((file, int(row), column, value) for file, row, column, value, _ in rows)
    assert found == _expected_rejections(case), result.stdout
    _check_reasons(
        case, {(file, int(row), column): reason for file, row, column, _, reason in rows}
    )
    assert f"error: {len(case.rejected)} problems found in the inputs" in _text(result)


# ---------------------------------------------------------------- score, lenient and strict


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_score(case: Case, strict: bool, trained, clean_risk_list, tmp_path):
    inputs = _inputs(case, tmp_path / "in")
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "risk.csv"
    rejected_path = folder / "risk.rejected.csv"
    result = _score(case, inputs, out, strict=strict)
    _no_crash(result)
    expected_exit = case.strict_exit if strict else case.score_exit
    assert result.exit_code == expected_exit, result.output
    written = sorted(p.name for p in folder.iterdir())

    if expected_exit == 2:
        _check_fatal(case, result, inputs)
        assert "risk.csv" not in written
        if case.validate_exit == 2:
            assert written == []  # nothing at all is written from unusable files
        return
    if expected_exit == 3:
        assert strict and case.rejected
        assert written == ["risk.rejected.csv"]  # the rejection report and nothing else
        text = _text(result)
        n = _n_rejected_rows(case)
        assert f"error: {n} input rows were rejected (--strict): see {rejected_path}" in text
        assert "Fix: correct them, or run without --strict" in text
        _check_rejection_report(case, rejected_path)
        return

    assert expected_exit == 0
    assert not (strict and case.rejected), "--strict with rejected rows must not exit 0"
    assert {"risk.csv", "risk.rejected.csv"} <= set(written)
    _check_rejection_report(case, rejected_path)
    n = _n_rejected_rows(case)
    if n:
        assert f"{n} rejected input rows: see {rejected_path}" in _text(result)
    else:
        assert "rejected input rows" not in _text(result)

    risk = _read(out)
    assert list(risk.columns) == RISK_LIST_COLUMNS
    # the invariant: every distinct active input client exactly once, and no one else
    active = _active_input_ids(inputs.clients)
    assert len(risk) == len(active), risk.to_string()
    assert sorted(risk["client_id"]) == active
    assert risk["client_id"].is_unique
    assert risk["rank"].tolist() == [str(i) for i in range(1, len(risk) + 1)]
    assert sorted(risk["client_id"]) == sorted(case.listed)

    listed = risk.set_index("client_id")
    for client_id, expected in case.listed.items():
        row = listed.loc[client_id]
        if expected is True:
            assert row["scored"] == "true", row.to_dict()
            assert 0 <= float(row["risk"]) <= 1 and row["risk_tier"] in {"high", "medium", "low"}
            assert row["not_scored_reason"] == ""
        else:
            assert row["scored"] == "false", row.to_dict()
            assert row["not_scored_reason"].startswith(expected), row.to_dict()
            assert row["risk"] == "" and row["risk_tier"] == ""
    for client_id, (sessions_attended, last) in case.attended.items():
        assert int(listed.loc[client_id, "sessions_attended"]) == sessions_attended
        assert listed.loc[client_id, "last_attended"] == last
    # therapist and site copied from the client's (first) input row, as written
    raw = _read(inputs.clients).drop_duplicates("client_id").set_index("client_id")
    for client_id in listed.index:
        assert listed.loc[client_id, "therapist_id"] == raw.loc[client_id, "therapist_id"]
        assert listed.loc[client_id, "site"] == raw.loc[client_id, "site"]
    if case.same_as_clean:
        pd.testing.assert_frame_equal(risk, clean_risk_list)


# ---------------------------------------------------------------- train


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_train_refuses_tiny_or_unusable_inputs(case: Case, trained, tmp_path):
    """Far too little to train on: exit 2 at once, with the reason and the fix."""
    inputs = _inputs(case, tmp_path / "in")
    small_search = trained["root"] / "small-search.yaml"
    result = _invoke(
        "train",
        "--clients",
        inputs.clients,
        "--sessions",
        inputs.sessions,
        "--config",
        small_search,
    )
    _no_crash(result)
    assert result.exit_code == 2, result.output
    if case.validate_exit == 2:  # the files themselves are unusable
        _check_fatal(case, result, inputs)
        return
    text = _text(result)
    assert "clients.csv: training needs both outcomes among closed episodes" in text, text
    for fragment in case.train_says:
        assert fragment in text, text
    assert "Fix: train on a longer history with closed episodes." in text
    assert "error:" in result.stderr
