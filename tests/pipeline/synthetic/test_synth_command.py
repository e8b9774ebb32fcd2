"""Tests of the ``synth`` command: profiles by name, the truth file and the plain export."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from configs.config import load_config
from pipeline.cli import app
from pipeline.synthetic import PROFILES, generate_cohort
from tests.pipeline.synthetic.common import TRUTH_COLUMNS, WAI_ITEMS

runner = CliRunner()


def _text(result) -> str:
    return " ".join(result.output.split())


def test_synth_unknown_profile_exits_2_and_lists_the_names(tmp_path):
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--profile", "nope"])
    assert result.exit_code == 2, result.output
    text = _text(result)
    assert "nope" in text
    for name in PROFILES:
        assert name in text
    assert not (tmp_path / "clients.csv").exists()


def test_synth_help_names_every_profile():
    result = runner.invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    for name in PROFILES:
        assert name in _text(result)


def test_synth_truth_writes_truth_csv(tmp_path):
    out = tmp_path / "clinic"
    args = ["synth", "--out", str(out), "--n-clients", "300", "--seed", "2", "--truth"]
    result = runner.invoke(app, [*args, "--profile", "long_courses"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["clients.csv", "sessions.csv", "truth.csv"]
    clients = pd.read_csv(out / "clients.csv")
    truth = pd.read_csv(out / "truth.csv")
    assert list(truth.columns) == TRUTH_COLUMNS
    assert (
        truth["client_id"].tolist()
        == clients.loc[clients["discharge_date"].isna(), "client_id"].tolist()
    )
    assert "profile long_courses" in _text(result)


def test_synth_without_truth_writes_the_contract_files_only(tmp_path):
    result = runner.invoke(
        app, ["synth", "--out", str(tmp_path), "--n-clients", "300", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients.csv", "sessions.csv"]
    clients, sessions = generate_cohort(300, 3, load_config().instruments)
    assert (tmp_path / "clients.csv").read_text() == clients.to_csv(index=False)
    assert (tmp_path / "sessions.csv").read_text() == sessions.to_csv(index=False)


def test_synth_wai_s_profile_writes_one_to_seven_and_says_so(tmp_path):
    result = runner.invoke(
        app, ["synth", "--out", str(tmp_path), "--n-clients", "300", "--profile", "wai_s"]
    )
    assert result.exit_code == 0, result.output
    sessions = pd.read_csv(tmp_path / "sessions.csv")
    assert sessions[WAI_ITEMS].max().max() == 7
    assert "instruments:" in _text(result) and "'max': 7" in _text(result)
