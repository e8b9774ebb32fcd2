"""`dropout-risk score`: the risk list follows the contract, row for row and column for column.

Everything here reuses the session's ``trained`` model (conftest.py); nothing trains again.
Small cases are tiny inline tables written to ``tmp_path`` as CSV, as a clinic would export them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from configs.errors import InputError, RejectedRowsError
from features.schema import FEATURE_NAMES
from models.caseload import NO_APPOINTMENTS, RISK_LIST_COLUMNS, score_caseload
from pipeline.cli import app
from pipeline.commands.score import REJECTED_COLUMNS, run_scoring
from pipeline.contract.validation import validate_tables
from pipeline.registry.tracking import LoadedModel, default_model_uri, load_risk_model
from tests.contract import RISK_LIST_COLUMNS as CONTRACT_COLUMNS

REASONS = ["reason_1", "reason_2", "reason_3"]


# ---------------------------------------------------------------- tiny inline inputs


def _client(client_id: str, **values: str) -> dict:
    row = {
        "client_id": client_id,
        "therapist_id": "T1",
        "intake_date": "2026-01-05",
        "site": "north",
        "program": "outpatient",
        "age": "30",
        "primary_concern": "depression",
        "referral_source": "self",
        "planned_sessions": "12",
        "discharge_date": "",
        "discharge_reason": "",
    }
    return row | values


def _weekly(
    client_id: str, start: str, statuses: list[str], bond: list[float] | None = None
) -> list[dict]:
    """Weekly appointments; attended ones carry a bond rating and an SRS total."""
    rows = []
    bond = bond or [4.0] * len(statuses)
    for i, (date, status) in enumerate(
        zip(pd.date_range(start, periods=len(statuses), freq="7D"), statuses, strict=True)
    ):
        attended = status == "attended"
        rows.append(
            {
                "client_id": client_id,
                "session_date": f"{date:%Y-%m-%d}",
                "status": status,
                "wai_bond": str(bond[i]) if attended else "",
                "srs_total": "35" if attended else "",
                "ors_total": "20" if attended else "",
            }
        )
    return rows


def _write(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    pd.DataFrame(rows, columns=columns, dtype="str").to_csv(path, index=False)
    return path


def _inputs(tmp_path: Path, clients: list[dict], sessions: list[dict]) -> tuple[Path, Path]:
    session_columns = ["client_id", "session_date", "status", "wai_bond", "srs_total", "ors_total"]
    return (
        _write(tmp_path / "clients.csv", clients),
        _write(tmp_path / "sessions.csv", sessions, session_columns),
    )


def _read_csv(path: Path) -> pd.DataFrame:
    """The file exactly as a reader sees it: all text, blanks as empty strings."""
    return pd.read_csv(path, dtype="str", keep_default_na=False)


def _score(trained, clients: Path, sessions: Path, out: Path, **kwargs):
    return run_scoring(clients, sessions, out, trained["config"], **kwargs)


@pytest.fixture
def small(tmp_path):
    """Two active clients with appointments, one without any, one closed episode."""
    clients = [
        _client("A", therapist_id="T1", site="north"),
        _client("B", therapist_id="T2", site="south", intake_date="2026-01-12"),
        _client("NEW", therapist_id="T3", site="east", intake_date="2026-02-20"),
        _client("DONE", discharge_date="2026-02-01", discharge_reason="completed"),
    ]
    sessions = (
        _weekly(
            "A",
            "2026-01-05",
            ["attended", "attended", "no_show", "attended"],
            bond=[4.5, 4.0, 0, 3.0],
        )
        + _weekly("B", "2026-01-12", ["attended", "attended", "attended"])
        + _weekly("DONE", "2026-01-05", ["attended", "attended"])
    )
    return _inputs(tmp_path, clients, sessions)


# ---------------------------------------------------------------- the whole synthetic cohort


@pytest.fixture(scope="module")
def cohort_scored(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("score") / "risk.csv"
    outcome = run_scoring(trained["clients"], trained["sessions"], out, trained["config"])
    return outcome, out


def test_risk_list_has_the_contract_columns_in_order(cohort_scored):
    outcome, out = cohort_scored
    assert RISK_LIST_COLUMNS == CONTRACT_COLUMNS
    assert list(outcome.risk_list.columns) == CONTRACT_COLUMNS
    assert list(_read_csv(out).columns) == CONTRACT_COLUMNS


def test_one_row_per_active_input_client(trained, cohort_scored):
    outcome, out = cohort_scored
    raw = _read_csv(trained["clients"])
    active = raw["discharge_date"].str.strip().eq("") & raw["discharge_reason"].str.strip().eq("")
    written = _read_csv(out)
    assert active.sum() > 0
    assert len(written) == active.sum() == len(outcome.risk_list)
    assert sorted(written["client_id"]) == sorted(raw.loc[active, "client_id"])
    assert written["client_id"].is_unique


def test_rank_order_and_risk_range(cohort_scored):
    rl = cohort_scored[0].risk_list
    assert rl["rank"].tolist() == list(range(1, len(rl) + 1))
    scored = rl[rl["scored"]]
    assert len(scored) > 0
    # scored rows come first, highest risk first
    assert rl["scored"].tolist() == [True] * len(scored) + [False] * (len(rl) - len(scored))
    assert scored["risk"].is_monotonic_decreasing
    assert scored["risk"].between(0, 1).all()
    assert rl.loc[~rl["scored"], "risk"].isna().all()


def test_tiers_follow_the_config_thresholds(trained, cohort_scored):
    rl = cohort_scored[0].risk_list
    tiers = trained["config"].scoring.tiers
    assert (tiers.high, tiers.medium) == (0.40, 0.20)
    scored = rl[rl["scored"]]
    expected = np.where(
        scored["risk"] >= tiers.high,
        "high",
        np.where(scored["risk"] >= tiers.medium, "medium", "low"),
    )
    assert scored["risk_tier"].tolist() == expected.tolist()
    assert set(rl.loc[~rl["scored"], "risk_tier"]) <= {""}


def test_reasons_are_plain_language(cohort_scored):
    rl = cohort_scored[0].risk_list
    scored = rl[rl["scored"]]
    assert (scored["reason_1"] != "").mean() >= 0.8
    technical = [name for name in FEATURE_NAMES if "_" in name]  # names a reader must never see
    assert "wai_bond_slope" in technical
    for text in scored[REASONS].to_numpy().ravel():
        assert isinstance(text, str)
        if not text:
            continue
        assert not any(name in text for name in technical), text
        assert not re.search(r"\bnan\b|\binf\b|None", text, flags=re.IGNORECASE), text
    assert rl.loc[~rl["scored"], REASONS].eq("").all().all()


def test_model_version_names_the_registered_model(cohort_scored):
    outcome, out = cohort_scored
    assert re.fullmatch(r"dropout-risk v\d+", outcome.model_version)
    assert set(_read_csv(out)["model_version"]) == {outcome.model_version}


def test_default_as_of_is_the_latest_session(trained, cohort_scored):
    outcome, _ = cohort_scored
    sessions = pd.read_csv(trained["sessions"], usecols=["session_date"])
    assert outcome.as_of == pd.to_datetime(sessions["session_date"]).max()


def test_clean_inputs_write_an_empty_rejected_file(cohort_scored):
    outcome, out = cohort_scored
    assert outcome.n_rejected_rows == 0
    assert outcome.rejected_path == out.with_name("risk.rejected.csv")
    assert list(_read_csv(outcome.rejected_path).columns) == REJECTED_COLUMNS


# ---------------------------------------------------------------- clients that cannot be scored


def test_active_client_without_appointments_is_listed_last(trained, small, tmp_path):
    out = tmp_path / "risk.csv"
    outcome = _score(trained, *small, out)
    written = _read_csv(out).set_index("client_id")
    assert sorted(written.index) == ["A", "B", "NEW"]  # the closed episode is not listed
    new = written.loc["NEW"]
    assert new["scored"] == "false"
    assert new["not_scored_reason"] == NO_APPOINTMENTS == "no appointments before the as-of date"
    assert new["risk"] == "" and new["risk_tier"] == ""
    assert new[REASONS].tolist() == ["", "", ""]
    assert (new["therapist_id"], new["site"], new["sessions_attended"]) == ("T3", "east", "0")
    assert int(new["rank"]) == 3
    for cid in ("A", "B"):
        row = written.loc[cid]
        assert row["scored"] == "true" and row["not_scored_reason"] == ""
        assert 0 <= float(row["risk"]) <= 1
        assert row["risk_tier"] in {"high", "medium", "low"}
    assert written.loc["A", "sessions_attended"] == "3"
    assert written.loc["A", "last_attended"] == "2026-01-26"
    assert outcome.n_rejected_rows == 0


@pytest.mark.parametrize("details", [False, True])
def test_the_appointments_are_let_go_before_the_reasons_unless_the_page_needs_them(
    trained, small, tmp_path, monkeypatch, details
):
    import weakref

    import models.caseload
    import pipeline.commands.score as score_module

    held = {}  # the validated appointments, and the active clients' ones that are scored
    alive = []

    def validating(*args, **kwargs):
        tables = real_validated(*args, **kwargs)
        held["validated"] = weakref.ref(tables.sessions)
        return tables

    def building(clients, sessions, *args, **kwargs):
        held["scored"] = weakref.ref(sessions)
        return real_examples(clients, sessions, *args, **kwargs)

    def wording(*args, **kwargs):
        alive.append({name: ref() is not None for name, ref in held.items()})
        return real_reasons(*args, **kwargs)

    real_validated, real_examples = score_module._validated, models.caseload.asof_examples
    real_reasons = models.caseload.top_reasons
    monkeypatch.setattr(score_module, "_validated", validating)
    monkeypatch.setattr(models.caseload, "asof_examples", building)
    monkeypatch.setattr(models.caseload, "top_reasons", wording)
    outcome = _score(trained, *small, tmp_path / "risk.csv", details=details)
    # the page's trajectories are drawn from the scored ones after the reasons; the closed
    # episode's appointments make those a copy, so the validated ones are never needed
    assert alive == [{"validated": False, "scored": details}]
    assert len(outcome.risk_list) == 3 and bool(outcome.details) == details


@pytest.mark.parametrize("threshold, calls", [(7, 2), (8, 0)])
def test_only_a_large_caseload_gives_memory_back_between_its_stages(
    trained, small, tmp_path, monkeypatch, threshold, calls
):
    import models.caseload

    given = []
    monkeypatch.setattr(models.caseload, "give_back", lambda: given.append(1))
    # the small caseload's active clients have 7 appointments
    monkeypatch.setattr(models.caseload, "GIVE_BACK_APPOINTMENTS", threshold)
    outcome = _score(trained, *small, tmp_path / "risk.csv")
    assert len(given) == calls
    assert len(outcome.risk_list) == 3


def test_the_read_tables_memory_is_given_back_before_validation(
    trained, small, tmp_path, monkeypatch
):
    import pipeline.commands.score as score_module

    events = []
    real_read, real_validated = score_module.read_table, score_module._validated

    def reading(*args, **kwargs):
        events.append("read")
        return real_read(*args, **kwargs)

    def validating(*args, **kwargs):
        events.append("validate")
        return real_validated(*args, **kwargs)

    monkeypatch.setattr(score_module, "read_table", reading)
    monkeypatch.setattr(score_module, "_validated", validating)
    monkeypatch.setattr(score_module, "give_back", lambda: events.append("give back"))
    outcome = _score(trained, *small, tmp_path / "risk.csv")
    # after both tables are read, before validation builds its columns, and again before
    # the list is written
    assert events[:4] == ["read", "read", "give back", "validate"]
    assert events.count("give back") == 3 and events[-1] == "give back"
    assert len(outcome.risk_list) == 3


def test_rejected_client_row_is_listed_with_its_reason(trained, tmp_path):
    clients = [_client("A"), _client("OLD", age="240", therapist_id="T9", site="west")]
    sessions = _weekly("A", "2026-01-05", ["attended", "attended"]) + _weekly(
        "OLD", "2026-01-05", ["attended", "attended"]
    )
    out = tmp_path / "risk.csv"
    outcome = _score(trained, *_inputs(tmp_path, clients, sessions), out)

    written = _read_csv(out).set_index("client_id")
    assert sorted(written.index) == ["A", "OLD"]
    old = written.loc["OLD"]
    assert old["scored"] == "false"
    assert "age 240" in old["not_scored_reason"]
    assert old["not_scored_reason"].startswith("row rejected:")
    assert (old["therapist_id"], old["site"]) == ("T9", "west")
    assert old["risk"] == "" and old["risk_tier"] == ""
    assert old["model_version"] == outcome.model_version
    assert written.loc["A", "scored"] == "true"
    assert int(old["rank"]) == 2

    rejected_path = tmp_path / "risk.rejected.csv"
    assert outcome.rejected_path == rejected_path
    assert outcome.n_rejected_rows == 1
    rejected = _read_csv(rejected_path)
    assert list(rejected.columns) == ["file", "row", "column", "value", "reason"]
    assert rejected[["file", "row", "column", "value"]].to_dict("records") == [
        {"file": "clients.csv", "row": "2", "column": "age", "value": "240"}
    ]
    assert "age 240" in rejected.loc[0, "reason"]


def test_strict_writes_only_the_rejection_report(trained, tmp_path):
    clients = [_client("A"), _client("OLD", age="240")]
    sessions = _weekly("A", "2026-01-05", ["attended", "attended"])
    out = tmp_path / "risk.csv"
    with pytest.raises(
        RejectedRowsError, match=r"1 input rows were rejected .*risk\.rejected\.csv"
    ):
        _score(trained, *_inputs(tmp_path, clients, sessions), out, strict=True)
    assert not out.exists()
    rejected = _read_csv(tmp_path / "risk.rejected.csv")
    assert rejected[["row", "column", "value"]].values.tolist() == [["2", "age", "240"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clients.csv",
        "risk.rejected.csv",
        "sessions.csv",
    ]


def test_strict_with_clean_inputs_scores_as_usual(trained, small, tmp_path):
    out = tmp_path / "risk.csv"
    outcome = _score(trained, *small, out, strict=True)
    assert out.exists() and len(outcome.risk_list) == 3


# ---------------------------------------------------------------- the as-of date


def test_sessions_after_as_of_are_not_used(trained, tmp_path):
    clients = [_client("A"), _client("LATE", intake_date="2026-01-05")]
    sessions = _weekly("A", "2026-01-05", ["attended"] * 8) + _weekly(
        "LATE", "2026-04-06", ["attended", "attended"]
    )
    paths = _inputs(tmp_path, clients, sessions)
    outcome = _score(trained, *paths, tmp_path / "risk.csv", as_of="2026-01-26")
    rl = outcome.risk_list.set_index("client_id")
    assert outcome.as_of == pd.Timestamp("2026-01-26")
    assert not rl.loc["LATE", "scored"]
    assert rl.loc["LATE", "not_scored_reason"] == NO_APPOINTMENTS
    # appointments on the as-of date count; later ones do not
    assert rl.loc["A", "sessions_attended"] == 4
    assert rl.loc["A", "last_attended"] == "2026-01-26"

    # the same list as from a file that stops at the as-of date: nothing later leaks in
    cut = [row for row in sessions if row["session_date"] <= "2026-01-26"]
    cut_paths = (paths[0], _write(tmp_path / "cut.csv", cut))
    alone = _score(trained, *cut_paths, tmp_path / "cut_risk.csv", as_of="2026-01-26")
    pd.testing.assert_frame_equal(outcome.risk_list, alone.risk_list)


def test_as_of_accepts_a_time_part(trained, small, tmp_path):
    outcome = _score(trained, *small, tmp_path / "risk.csv", as_of="2026-01-26T15:30:00")
    assert outcome.as_of == pd.Timestamp("2026-01-26")


def test_as_of_that_is_not_a_date_is_an_input_error(trained, small, tmp_path):
    with pytest.raises(InputError, match=r"--as-of 'last week' is not a date.*YYYY-MM-DD"):
        _score(trained, *small, tmp_path / "risk.csv", as_of="last week")


# ---------------------------------------------------------------- edges of the inputs


def test_zero_active_clients_give_an_empty_list_with_the_header(trained, tmp_path):
    clients = [
        _client("A", discharge_date="2026-02-01", discharge_reason="completed"),
        _client("B", discharge_date="2026-02-01", discharge_reason="dropout"),
    ]
    sessions = _weekly("A", "2026-01-05", ["attended", "attended"]) + _weekly(
        "B", "2026-01-05", ["no_show"]
    )
    out = tmp_path / "risk.csv"
    outcome = _score(trained, *_inputs(tmp_path, clients, sessions), out)
    assert len(outcome.risk_list) == 0
    assert list(outcome.risk_list.columns) == CONTRACT_COLUMNS
    assert out.read_text(encoding="utf-8").strip() == ",".join(CONTRACT_COLUMNS)


def test_as_of_before_every_appointment_lists_everyone_unscored(trained, small, tmp_path):
    out = tmp_path / "risk.csv"
    outcome = _score(trained, *small, out, as_of="2025-12-31")
    written = _read_csv(out)
    assert sorted(written["client_id"]) == ["A", "B", "NEW"]
    assert set(written["scored"]) == {"false"}
    assert set(written["not_scored_reason"]) == {NO_APPOINTMENTS}
    assert written["rank"].tolist() == ["1", "2", "3"]
    assert written[["risk", "risk_tier", "last_attended"]].eq("").all().all()
    assert len(outcome.risk_list) == 3


def test_only_active_client_rejected_is_still_listed(trained, tmp_path):
    clients = [
        _client("OLD", age="240"),
        _client("DONE", discharge_date="2026-02-01", discharge_reason="dropout"),
    ]
    sessions = _weekly("DONE", "2026-01-05", ["attended", "no_show"])
    out = tmp_path / "risk.csv"
    outcome = _score(trained, *_inputs(tmp_path, clients, sessions), out)
    written = _read_csv(out)
    assert written["client_id"].tolist() == ["OLD"]
    assert written.loc[0, "scored"] == "false" and "age 240" in written.loc[0, "not_scored_reason"]
    assert outcome.n_rejected_rows == 1


def test_only_the_required_columns_are_enough(trained, tmp_path):
    clients = _write(
        tmp_path / "clients.csv",
        [
            {"client_id": "A", "therapist_id": "T1", "intake_date": "2026-01-05"},
            {"client_id": "B", "therapist_id": "T2", "intake_date": "2026-01-05"},
        ],
    )
    sessions = _write(
        tmp_path / "sessions.csv",
        [
            {"client_id": "A", "session_date": "2026-01-05", "status": "attended"},
            {"client_id": "A", "session_date": "2026-01-12", "status": "no_show"},
        ],
    )
    out = tmp_path / "risk.csv"
    outcome = _score(trained, clients, sessions, out)
    written = _read_csv(out).set_index("client_id")
    assert written.loc["A", "scored"] == "true"
    assert written.loc["A", "site"] == ""
    assert written.loc["B", "not_scored_reason"] == NO_APPOINTMENTS
    assert outcome.n_rejected_rows == 0


def test_parquet_output_round_trips(trained, small, tmp_path):
    as_csv = _score(trained, *small, tmp_path / "risk.csv")
    as_parquet = _score(trained, *small, tmp_path / "risk.parquet")
    assert as_parquet.rejected_path == tmp_path / "risk.rejected.csv"
    back = pd.read_parquet(tmp_path / "risk.parquet")
    assert list(back.columns) == CONTRACT_COLUMNS
    pd.testing.assert_frame_equal(back, as_parquet.risk_list, check_dtype=False)
    pd.testing.assert_frame_equal(as_parquet.risk_list, as_csv.risk_list)
    csv = pd.read_csv(tmp_path / "risk.csv", keep_default_na=False, na_values={"risk": [""]})
    assert csv["client_id"].tolist() == back["client_id"].tolist()
    assert csv["rank"].tolist() == back["rank"].tolist()
    np.testing.assert_allclose(csv["risk"].astype(float), back["risk"].astype(float))
    assert csv["scored"].tolist() == back["scored"].tolist()
    assert csv["not_scored_reason"].tolist() == back["not_scored_reason"].fillna("").tolist()


def test_unicode_client_ids_survive(trained, tmp_path):
    ids = ["Zoë-01", "客户-二", "Ørjan 3"]
    clients = [_client(cid, therapist_id="Thérèse") for cid in ids]
    sessions = _weekly(ids[0], "2026-01-05", ["attended", "attended"]) + _weekly(
        ids[1], "2026-01-05", ["attended"]
    )
    paths = _inputs(tmp_path, clients, sessions)
    _score(trained, *paths, tmp_path / "risk.csv")
    _score(trained, *paths, tmp_path / "risk.parquet")
    written = _read_csv(tmp_path / "risk.csv")
    assert sorted(written["client_id"]) == sorted(ids)
    assert set(written["therapist_id"]) == {"Thérèse"}
    assert written.set_index("client_id").loc["Ørjan 3", "not_scored_reason"] == NO_APPOINTMENTS
    assert sorted(pd.read_parquet(tmp_path / "risk.parquet")["client_id"]) == sorted(ids)


def test_formulas_in_the_export_stay_text_in_the_csv_and_raw_in_parquet(trained, tmp_path):
    hostile = {
        "client_id": "@SUM(1+1)",
        "therapist_id": '=HYPERLINK("http://x","click")',
        "site": "+cmd|'/c calc'!A0",
    }
    clients = [_client(**hostile), _client("BAD", age="-3", therapist_id="=1+1")]
    sessions = _weekly(hostile["client_id"], "2026-01-05", ["attended", "attended"])
    paths = _inputs(tmp_path, clients, sessions)
    _score(trained, *paths, tmp_path / "risk.csv")
    _score(trained, *paths, tmp_path / "risk.parquet")
    row = _read_csv(tmp_path / "risk.csv").iloc[0]
    assert row["client_id"] == "'@SUM(1+1)"
    assert row["therapist_id"] == "'" + hostile["therapist_id"]
    assert row["site"] == "'" + hostile["site"]
    listed = pd.read_csv(tmp_path / "risk.csv", dtype=str, keep_default_na=False)
    assert not listed.map(lambda v: v.startswith(("=", "+", "-", "@"))).any().any()
    # the rejection report is a CSV a lead opens too: the bad value -3 is text there
    rejected = _read_csv(tmp_path / "risk.rejected.csv")
    assert "'-3" in set(rejected["value"])
    assert not rejected.map(lambda v: v.startswith(("=", "+", "-", "@"))).any().any()
    raw = pd.read_parquet(tmp_path / "risk.parquet").set_index("client_id")
    assert raw.loc[hostile["client_id"], "therapist_id"] == hostile["therapist_id"]


# ---------------------------------------------------------------- unusable requests


@pytest.mark.parametrize("name", ["risk.xlsx", "risk", "risk.csv.bak"])
def test_unknown_output_extension_is_an_input_error(trained, small, tmp_path, name):
    with pytest.raises(InputError, match=r"unknown output format.*\.csv or \.parquet"):
        _score(trained, *small, tmp_path / name)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(
    "uri",
    [
        "models:/no-such-model@champion",
        "models:/dropout-risk@no-such-alias",
        "models:/dropout-risk/999",
    ],
)
def test_missing_model_is_an_input_error_with_the_fix(trained, small, tmp_path, uri):
    with pytest.raises(InputError, match="dropout-risk train") as caught:
        _score(trained, *small, tmp_path / "risk.csv", model_uri=uri)
    assert uri in str(caught.value)
    assert not (tmp_path / "risk.csv").exists()


def test_model_path_that_does_not_exist_is_an_input_error(trained, small, tmp_path):
    with pytest.raises(InputError, match="dropout-risk train"):
        _score(trained, *small, tmp_path / "risk.csv", model_uri=str(tmp_path / "no-model"))


# the caseload scorer directly (models.caseload.score_caseload)


class _FixedRisk:
    """The trained model, but with chosen probabilities (by client id)."""

    def __init__(self, model, risks: dict[str, float]):
        self._model, self._risks = model, risks

    def __getattr__(self, name):
        return getattr(self._model, name)

    def predict_and_explain(self, X, with_base=False, features=None):
        p = np.array([self._risks[cid] for cid in X.index], dtype=float)
        contributions, base = self._model.explain(X)
        return (p, contributions, base) if with_base else (p, contributions)


def test_tier_agrees_with_the_risk_as_written(trained):
    """A probability just under a threshold that rounds onto it is listed in that tier."""
    cfg = trained["config"]
    loaded = load_risk_model(default_model_uri(cfg), cfg)
    risks = {"H": 0.399996, "M": 0.199996, "L": 0.05}
    fixed = LoadedModel(
        model=_FixedRisk(loaded.model, risks), uri=loaded.uri, version_label=loaded.version_label
    )
    clients = pd.DataFrame([_client(cid) for cid in risks], dtype="str")
    sessions = pd.DataFrame(
        sum((_weekly(cid, "2026-01-05", ["attended", "attended"]) for cid in risks), []),
        dtype="str",
    )
    tables = validate_tables(
        clients, sessions, cfg.instruments, clients_file="clients.csv", sessions_file="sessions.csv"
    )
    caseload = score_caseload(tables, fixed, pd.Timestamp("2026-01-31"), details=False)
    rl = caseload.risk_list.set_index("client_id")
    assert rl["risk"].to_dict() == {"H": 0.4, "M": 0.2, "L": 0.05}
    assert rl["risk_tier"].to_dict() == {"H": "high", "M": "medium", "L": "low"}
    assert rl["rank"].to_dict() == {"H": 1, "M": 2, "L": 3}


def test_clients_far_into_an_episode_are_scored_like_early_ones(trained, tmp_path):
    """Session 1 or session 30: every active client with an appointment gets a risk.

    Thirty appointments with three no-shows is steadier than three no-shows in four: the
    later landmarks let the model tell them apart instead of extrapolating the counts.
    """
    steady = ["attended"] * 9 + ["no_show"]
    clients = [
        _client("EARLY", intake_date="2025-11-03"),
        _client("LONG", intake_date="2025-06-02"),
        _client("SHAKY", intake_date="2025-11-03"),
    ]
    sessions = (
        _weekly("EARLY", "2025-11-10", ["attended"])
        + _weekly("LONG", "2025-06-09", steady * 3)
        + _weekly("SHAKY", "2025-11-10", ["no_show", "attended", "no_show", "no_show"])
    )
    out = tmp_path / "risk.csv"
    _score(trained, *_inputs(tmp_path, clients, sessions), out, as_of="2026-01-05")
    written = _read_csv(out).set_index("client_id")
    assert (written["scored"] == "true").all()
    assert written.loc["LONG", "sessions_attended"] == "27"
    risk = written["risk"].astype(float)
    assert risk.between(0, 1).all()
    assert risk["LONG"] < risk["SHAKY"]


def test_capacity_rule_needs_the_per_site_numbers(tmp_path):
    from configs.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("scoring:\n  tiers:\n    rule: capacity\n    high_per_site: 5\n")
    with pytest.raises(InputError, match="capacity needs high_per_site and medium_per_site"):
        load_config(path)


def test_scoring_uses_the_tier_rule_of_the_config_it_is_given(trained, small, tmp_path):
    from configs.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(
        "scoring:\n  tiers:\n    rule: capacity\n    high_per_site: 1\n    medium_per_site: 0\n"
    )
    cfg = load_config(path)
    outcome = run_scoring(*small, tmp_path / "risk.csv", cfg)
    listed = outcome.risk_list.set_index("client_id")
    # A (north) and B (south) are each the highest risk at their site
    assert listed.loc[["A", "B"], "risk_tier"].tolist() == ["high", "high"]
    assert (
        "2 highest" not in outcome.tier_rule and "1 highest risks at each site" in outcome.tier_rule
    )


def test_details_hold_each_scored_clients_trajectory_and_full_explanation(cohort_scored):
    outcome, _ = cohort_scored
    listed = outcome.risk_list
    scored = listed[listed["scored"]]
    assert set(outcome.details) == set(scored["client_id"])
    for _, row in scored.head(30).iterrows():
        detail = outcome.details[row["client_id"]]
        path = detail["trajectory"]
        attended = [p for p in path if p["status"] == "attended"]
        assert len(attended) == row["sessions_attended"]
        assert [p["session"] for p in attended] == list(range(1, len(attended) + 1))
        assert all(p["date"] <= f"{outcome.as_of:%Y-%m-%d}" for p in path)
        technical = [name for name in FEATURE_NAMES if "_" in name]  # never shown to readers
        for item in detail["explanation"]:
            assert item["words"] and not any(name in item["words"] for name in technical)
        points = [abs(item["points"]) for item in detail["explanation"]]
        assert points == sorted(points, reverse=True) and min(points, default=1) >= 0.1
        words = [item["words"] for item in detail["explanation"]]
        assert len(set(words)) == len(words)  # features that read the same are one line
    assert outcome.scales["srs_cutoff"] == 36 and outcome.tier_rule.startswith("High:")


def test_ruptures_are_marked_at_the_session_of_the_fall(trained, tmp_path):
    clients = [_client("R")]
    sessions = _weekly("R", "2026-01-05", ["attended"] * 4, bond=[4.4, 4.2, 3.0, 3.1])
    outcome = _score(trained, *_inputs(tmp_path, clients, sessions), tmp_path / "risk.csv")
    path = outcome.details["R"]["trajectory"]
    assert [p["ruptures"] for p in path] == [[], [], ["wai_bond"], []]
    assert [p["wai_bond"] for p in path] == [4.4, 4.2, 3.0, 3.1]


# ---------------------------------------------------------------- drift against training


def test_the_training_caseload_raises_no_drift_alarm(cohort_scored):
    outcome, out = cohort_scored
    drift = outcome.drift
    assert drift is not None and drift.judged and not drift.alarm
    assert drift.n_rows == int(outcome.risk_list["scored"].sum())
    written = json.loads(outcome.drift_path.read_text())
    assert outcome.drift_path == out.with_name("risk.drift.json")
    assert written["alarm"] is False and written["n_rows"] == drift.n_rows


def test_a_shifted_caseload_raises_the_alarm_on_the_moved_features(trained, tmp_path):
    """Sites stop exporting SRS and the caseload is 25 years older: both are named."""
    clients = _read_csv(trained["clients"])
    sessions = _read_csv(trained["sessions"])
    ages = pd.to_numeric(clients["age"], errors="coerce")
    clients["age"] = (ages + 25).clip(upper=100).map(lambda a: "" if a != a else str(int(a)))
    for column in [c for c in sessions.columns if c.startswith("srs_")]:
        sessions[column] = ""
    clients.to_csv(tmp_path / "c.csv", index=False)
    sessions.to_csv(tmp_path / "s.csv", index=False)
    outcome = _score(trained, tmp_path / "c.csv", tmp_path / "s.csv", tmp_path / "r.csv")
    drift = outcome.drift
    assert drift.alarm
    alarms = set(drift.table.loc[drift.table["status"].eq("alarm"), "feature"])
    assert {"age", "srs_total_last"} <= alarms
    # rows that did not move stay quiet: attendance was not touched
    status = drift.table.set_index("feature")["status"]
    assert status["no_shows"] == "ok"
    result = CliRunner().invoke(
        app,
        ["score", "--clients", str(tmp_path / "c.csv"), "--sessions", str(tmp_path / "s.csv"),
         "--out", str(tmp_path / "cli.csv"), "--config", str(trained["root"] / "small-search.yaml")],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "drift ALARM" in result.output and "srs_total_last" in result.output


def test_a_tiny_caseload_is_not_judged_for_drift(trained, small, tmp_path):
    outcome = _score(trained, *small, tmp_path / "r.csv")
    assert outcome.drift is not None and not outcome.drift.judged
    assert "Not judged: the batch has 2 rows" in outcome.drift.note


def test_a_session_dated_after_today_is_not_the_default_as_of(trained, tmp_path):
    clients, sessions = _inputs(
        tmp_path,
        [_client("A"), _client("B")],
        _weekly("A", "2026-01-12", ["attended", "attended"])
        + [
            {
                "client_id": "B",
                "session_date": "2099-01-19",
                "status": "attended",
                "wai_bond": "4",
                "srs_total": "35",
                "ors_total": "20",
            }
        ],
    )
    out = tmp_path / "risk.csv"
    with pytest.raises(InputError) as caught:
        _score(trained, clients, sessions, out)
    message = str(caught.value)
    assert "sessions.csv: row 3, column session_date: 2099-01-19 is after today" in message
    assert "Fix: correct that date, or pass --as-of YYYY-MM-DD" in message
    assert not out.exists()
    # with an explicit as-of date the same files are scored
    outcome = _score(trained, clients, sessions, out, as_of="2026-01-19")
    assert sorted(outcome.risk_list["client_id"]) == ["A", "B"]


def test_default_as_of_compares_with_the_given_today():
    from pipeline.commands.score import default_as_of

    sessions = pd.DataFrame(
        {"session_date": pd.to_datetime(["2026-01-05", "2026-02-02"]), "row": [1, 2]}
    )
    assert default_as_of(sessions, "s.csv", today="2026-02-02") == pd.Timestamp("2026-02-02")
    with pytest.raises(InputError, match=r"s.csv: row 2, column session_date: 2026-02-02"):
        default_as_of(sessions, "s.csv", today="2026-02-01")
