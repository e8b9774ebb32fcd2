"""The evaluation report: files, sections in order, self-contained, escaped, no client ids."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from models.assessment import assess
from pipeline.reports.evaluation import FIGURES, REPORT_SECTIONS, write_evaluation_report
from tests.conftest import make_predictions

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NASTY_SITE = "<b>North & South</b>"


def _predictions(n_clients: int = 200, seed: int = 0) -> pd.DataFrame:
    return make_predictions(
        n_clients, seed, sites=(NASTY_SITE, "south"), max_landmarks=3, with_missing=False
    )


def _explained(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    index = rows["client_id"].iloc[:150]  # indexed by client id: must not leak
    values = pd.DataFrame(
        {
            "attendance_rate": rng.uniform(0, 1, len(index)),
            "no_shows": rng.integers(0, 4, len(index)).astype(float),
            "wai_bond_last": rng.normal(5, 1, len(index)),
        },
        index=index,
    )
    contributions = pd.DataFrame(
        {
            "attendance_rate": -(values["attendance_rate"] - 0.5),
            "no_shows": 0.4 * (values["no_shows"] - 1),
            "wai_bond_last": -0.2 * (values["wai_bond_last"] - 5),
        },
        index=index,
    )
    return contributions, values


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return _predictions()


@pytest.fixture(scope="module")
def assessment(rows):
    contributions, values = _explained(rows)
    return assess(
        rows,
        baselines=("intake",),
        contributions=contributions,
        feature_values=values,
        dependence_features=["attendance_rate", "no_shows", "wai_bond_last"],
        n_boot=5,
        min_group=20,
    )


@pytest.fixture(scope="module")
def written(assessment, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "nested" / "evaluation"
    paths = write_evaluation_report(
        assessment,
        out,
        context={"model version": "v7 <beta>", "dropout rate": 0.31234},
        methods=["Thresholds were chosen with clinicians <before> seeing test data."],
    )
    return out, paths, (out / "report.html").read_text(encoding="utf-8")


def _section(page: str, section_id: str) -> str:
    match = re.search(rf"<section id=['\"]{section_id}['\"].*?</section>", page, flags=re.S)
    assert match, section_id
    return match.group(0)


def test_every_file_is_written_non_empty_with_the_report_last(written):
    out, paths, _ = written
    assert [p.name for p in paths] == [*FIGURES, "report.html"]
    assert len(FIGURES) == 8
    for path in paths:
        assert path.parent == out and path.stat().st_size > 0, path
    for path in paths[:-1]:
        assert path.read_bytes().startswith(PNG_SIGNATURE), path
    assert paths[-1].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_every_section_appears_once_in_order_with_a_heading(written):
    page = written[2]
    required = "summary discrimination calibration decision-curve landmarks subgroups"
    required += " explanation baselines temporal methods"
    assert set(required.split()) <= set(REPORT_SECTIONS)
    positions = []
    for section_id in REPORT_SECTIONS:
        found = [m.start() for m in re.finditer(rf"id=['\"]{re.escape(section_id)}['\"]", page)]
        assert len(found) == 1, section_id
        positions.append(found[0])
        assert "<h2" in _section(page, section_id)
    assert positions == sorted(positions)
    assert page.count("<section") == len(REPORT_SECTIONS)


def test_the_page_is_self_contained(written):
    page = written[2]
    assert not re.search(r"(?:src|href)\s*=\s*['\"]?\s*(?:https?:)?//", page, flags=re.I)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    assert page.count("src='data:image/png;base64,") == len(FIGURES)


def test_without_temporal_validation_the_page_says_so(written):
    temporal = _section(written[2], "temporal")
    assert "No temporal validation was run" in temporal
    assert "too few dated episodes" in temporal


def test_a_temporal_assessment_is_shown_as_a_table(assessment, tmp_path):
    later = assess(_predictions(120, seed=5), baselines=("intake",), n_boot=0)
    paths = write_evaluation_report(assessment, tmp_path, temporal=later)
    temporal = _section(paths[-1].read_text(encoding="utf-8"), "temporal")
    assert "No temporal validation was run" not in temporal
    assert "<table" in temporal and "later (temporal) test period" in temporal


def test_no_client_id_reaches_the_page(written, rows):
    page = written[2]
    ids = rows["client_id"].unique()
    assert len(ids) == 200
    assert [i for i in ids if i in page] == []
    assert "client-" not in page


def test_text_from_the_data_and_the_caller_is_escaped(written):
    page = written[2]
    assert "&lt;b&gt;North &amp; South&lt;/b&gt;" in _section(page, "subgroups")
    assert "<b>North" not in page
    assert "v7 &lt;beta&gt;" in _section(page, "summary")
    methods = _section(page, "methods")
    assert "<li>Thresholds were chosen with clinicians &lt;before&gt; seeing test data.</li>" in (
        methods
    )


def test_tables_come_from_the_assessment(written, assessment):
    page = written[2]
    champion = assessment.overall.set_index("model").loc["champion"]
    assert f"{champion['auroc']:.3f}" in _section(page, "discrimination")
    decision = _section(page, "decision-curve")
    assert all(f"<th scope='row'>{t}</th>" in decision for t in ("0.1", "0.3", "0.6"))
    top = assessment.shap_importance["feature"].iloc[0]
    assert top in _section(page, "explanation")
    assert "intake" in _section(page, "baselines")


def test_a_run_without_contributions_still_writes_every_figure(tmp_path):
    plain = assess(_predictions(80, seed=2), n_boot=0, min_group=10)
    paths = write_evaluation_report(plain, tmp_path)
    assert [p.name for p in paths] == [*FIGURES, "report.html"]
    assert all(p.stat().st_size > 0 for p in paths)
    page = paths[-1].read_text(encoding="utf-8")
    assert "No feature contributions were supplied" in _section(page, "explanation")
    assert "No baseline models were evaluated" in _section(page, "baselines")


def test_the_caseload_back_test_is_the_first_section(assessment, tmp_path):
    from models.backtest import caseload_metrics

    rng = np.random.default_rng(2)
    n = 900
    risk = rng.uniform(0.05, 0.6, n)
    frame = pd.DataFrame(
        {
            "date": np.repeat(pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"]), 300),
            "client_id": [f"client-{i:04d}" for i in range(n)],
            "risk": risk,
            "risk_within_horizon": risk / 2,
            "risk_notebook": np.clip(risk + rng.normal(0, 0.1, n), 0.01, 0.99),
            "outcome": (rng.random(n) < risk).astype(float),
            "event_days": rng.uniform(0, 90, n),
            "follow_up_days": 200.0,
        }
    )
    metrics = caseload_metrics(frame, 60, n_boot=20, seed=0)
    paths = write_evaluation_report(
        assessment, tmp_path, caseload=metrics, caseload_note="3 as-of dates <a month apart>"
    )
    page = paths[-1].read_text(encoding="utf-8")
    assert REPORT_SECTIONS[0] == "caseload"
    section = _section(page, "caseload")
    assert "3 as-of dates &lt;a month apart&gt;" in section
    pooled = metrics[(metrics["target"] == "risk") & (metrics["date"] == "pooled")].iloc[0]
    assert f"{pooled['auroc']:.3f}" in section
    assert "notebook model" in section and "risk_within_horizon" in section
    for date in ("2026-01-01", "2026-02-01", "2026-03-01"):
        assert date in section  # the per-date table
    assert "client-" not in page
