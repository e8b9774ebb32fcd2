"""`score --since DATE`: the same caseload as of DATE, and what changed (CONTRACT.md)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from configs.errors import InputError
from models.caseload import RISK_LIST_COLUMNS, SINCE_COLUMNS, change_summary
from models.changes import NEW_CLIENT
from pipeline.cli import app
from tests.pipeline.commands.test_score import _client, _inputs, _read_csv, _score, _weekly, _write


@pytest.fixture
def weekly(tmp_path):
    """A client whose bond falls after the since date, a steady one, and a new one."""
    clients = [
        _client("FALL", therapist_id="T1"),
        _client("STEADY", therapist_id="T2"),
        _client("NEW", therapist_id="T2", intake_date="2026-02-20"),
    ]
    sessions = (
        _weekly("FALL", "2026-01-05", ["attended"] * 8, bond=[4.5] * 6 + [3.0, 2.0])
        + _weekly("STEADY", "2026-01-05", ["attended"] * 8)
        + _weekly("NEW", "2026-02-23", ["attended"])
    )
    return _inputs(tmp_path, clients, sessions), sessions


def test_since_adds_the_three_columns_and_no_others(trained, weekly, tmp_path):
    (clients, sessions), _ = weekly
    plain = _score(trained, clients, sessions, tmp_path / "plain.csv")
    since = _score(trained, clients, sessions, tmp_path / "since.csv", since="2026-02-09")
    assert list(plain.risk_list.columns) == RISK_LIST_COLUMNS
    assert list(_read_csv(tmp_path / "since.csv").columns) == RISK_LIST_COLUMNS + SINCE_COLUMNS
    # what was there is unchanged
    pd.testing.assert_frame_equal(since.risk_list[RISK_LIST_COLUMNS], plain.risk_list)
    assert since.since == pd.Timestamp("2026-02-09")


def test_risk_change_and_tier_since_are_the_caseload_scored_as_of_since(trained, weekly, tmp_path):
    (clients, sessions), rows = weekly
    now = _score(trained, clients, sessions, tmp_path / "now.csv", since="2026-02-09")
    # the caseload as of the since date, from a file that stops there: nothing later leaks in
    cut = _write(tmp_path / "cut.csv", [r for r in rows if r["session_date"] <= "2026-02-09"])
    then = _score(trained, clients, cut, tmp_path / "then.csv", as_of="2026-02-09")
    now_rl, then_rl = now.risk_list.set_index("client_id"), then.risk_list.set_index("client_id")
    for client in ("FALL", "STEADY"):
        expected = round(now_rl.loc[client, "risk"] - then_rl.loc[client, "risk"], 4)
        assert now_rl.loc[client, "risk_change"] == pytest.approx(expected, abs=1e-9)
        assert now_rl.loc[client, "tier_since"] == then_rl.loc[client, "risk_tier"]


def test_a_client_new_since_the_date_has_no_change(trained, weekly, tmp_path):
    (clients, sessions), _ = weekly
    outcome = _score(trained, clients, sessions, tmp_path / "risk.csv", since="2026-02-09")
    new = _read_csv(tmp_path / "risk.csv").set_index("client_id").loc["NEW"]
    assert new["risk_change"] == ""
    assert new["tier_since"] == ""
    assert new["change_reason"] == NEW_CLIENT.format(date="2026-02-09")
    counts = change_summary(outcome.risk_list, 0.10)
    assert counts["new"] == 1


def test_the_change_reason_names_the_fallen_rating_with_both_values(trained, weekly, tmp_path):
    (clients, sessions), _ = weekly
    outcome = _score(trained, clients, sessions, tmp_path / "risk.csv", since="2026-02-09")
    fall = outcome.risk_list.set_index("client_id").loc["FALL"]
    assert fall["risk_change"] > 0
    # the bond's own features, or the alliance level they feed, with both values
    assert fall["change_reason"] in {
        "Bond rating fell from 4.5 to 2.0 since 2026-02-09",
        "Latest alliance ratings fell from 88% to 25% of the scale since 2026-02-09",
    }


def test_since_must_be_before_the_as_of_date(trained, weekly, tmp_path):
    (clients, sessions), _ = weekly
    with pytest.raises(InputError) as err:
        _score(trained, clients, sessions, tmp_path / "risk.csv", since="2026-02-23")
    assert str(err.value) == (
        "--since 2026-02-23 is not before the as-of date 2026-02-23. Fix: pass an earlier "
        "--since (e.g. a week before), or a later --as-of."
    )
    with pytest.raises(InputError, match="--since 'last week' is not a date. Fix: use YYYY-MM-DD."):
        _score(trained, clients, sessions, tmp_path / "risk.csv", since="last week")


def test_the_command_writes_the_changes_and_the_pages(trained, weekly, tmp_path):
    (clients, sessions), _ = weekly
    config = str(trained["root"] / "small-search.yaml")
    base = ["score", "--clients", str(clients), "--sessions", str(sessions), "--config", config]
    pages = tmp_path / "pages"
    result = CliRunner().invoke(
        app,
        [*base, "--out", str(tmp_path / "risk.csv"), "--since", "2026-02-09",
         "--report-dir", str(pages)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "since 2026-02-09:" in result.output and "1 new clients" in result.output
    assert list(_read_csv(tmp_path / "risk.csv").columns)[-3:] == SINCE_COLUMNS
    assert (pages / "index.html").exists()
    assert sorted(p.name for p in pages.glob("therapist-*.html")) == [
        "therapist-T1.html",
        "therapist-T2.html",
    ]
    late = CliRunner().invoke(
        app, [*base, "--out", str(tmp_path / "late.csv"), "--since", "2026-03-01"]
    )
    assert late.exit_code == 2
    assert "--since 2026-03-01 is not before the as-of date 2026-02-23" in late.output
    assert not (tmp_path / "late.csv").exists()
