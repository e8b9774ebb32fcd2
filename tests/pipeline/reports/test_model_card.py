"""The model card: same sections in markdown and HTML, numbers from the assessment, escaped,
self-contained, written atomically, and never a client id."""

from __future__ import annotations

import dataclasses
import math
import re

import pandas as pd
import pytest

from models.assessment import assess
from pipeline.reports.model_card import (
    CARD_SECTION_TITLES,
    CARD_SECTIONS,
    HTML_NAME,
    MARKDOWN_NAME,
    ModelCardFacts,
    render_model_card,
    write_model_card,
)
from tests.conftest import make_predictions

NASTY_SITE = "<b>North & South</b> | east"
NASTY_PARAMS = {"C": 0.5, "note": "<script>alert('x')</script> | y"}
EXPECTED_TITLES = (
    "Model details",
    "Intended use",
    "Training data",
    "Label definition",
    "Model",
    "Performance on past caseloads (the headline)",
    "Landmark view: closed held-out episodes",
    "Subgroups and fairness",
    "Limitations and ethical considerations",
    "Methods",
)


@pytest.fixture(scope="module")
def rows():
    return make_predictions(240, 0, sites=(NASTY_SITE, "south"))


@pytest.fixture(scope="module")
def assessment(rows):
    return assess(rows, baselines=("intake",), n_boot=20, min_group=25, n_jobs=1)


@pytest.fixture(scope="module")
def temporal():
    later = make_predictions(150, 5, sites=("north", "south"))
    return assess(later, baselines=("intake",), n_boot=20, n_jobs=1)


@pytest.fixture
def facts(assessment):
    return ModelCardFacts(
        model_name="dropout-risk",
        version="7",
        run_id="0f3c2a9b8e7d4c1a",
        created="2026-03-14T10:22:01",
        package_version="0.1.0",
        selected="logistic",
        selected_params=dict(NASTY_PARAMS),
        calibration="isotonic",
        data_window=("2021-03", "2025-11"),
        data={
            "data_clients": 6000.0,
            "data_sessions": 81234.0,
            "data_labelled_episodes": 5100.0,
            "data_dropout_rate": 0.2712,
            "data_sites": 4.0,
            "data_therapists": 61.0,
            "data_wai_rated_share": 0.634,
            "data_srs_rated_share": math.nan,
        },
        split={"n_test_clients": 240.0, "n_development_clients": 960.0},
        label={"inactive_as_dropout": False, "inactive_days": 90},
        tiers="High: risk of 40% or more; medium: 20% or more; low: below.",
        assessment=assessment,
        temporal=None,
        temporal_note="too few labelled episodes of each outcome among the later intakes",
        methods=["Clients were split once, by client, before any fitting."],
        config_hash="0123456789abcdef",
        data_fingerprint={"clients": "a1" * 32, "sessions": "b2" * 32},
        features={
            "attendance": ["attendance_rate", "no_shows", "late_cancels"],
            "alliance": ["wai_bond_last", "srs_total_last"],
            "history": ["therapist_dropout_rate"],
        },
        promotion="registered as challenger; champion unchanged",
        landmarks=(1, 2, 3, 4),
        caseload=pd.DataFrame(
            [
                {
                    "target": target,
                    "date": date,
                    "auroc": auroc,
                    "auroc_ci_low": auroc - 0.03,
                    "auroc_ci_high": auroc + 0.03,
                    "auprc": 0.5,
                    "brier": 0.15,
                    "cal_slope": 0.97,
                    "cal_slope_ci_low": 0.85,
                    "cal_slope_ci_high": 1.1,
                    "calibration_in_the_large": -0.012,
                    "calibration_in_the_large_ci_low": -0.04,
                    "calibration_in_the_large_ci_high": 0.02,
                    "n_rows": 1234.0,
                }
                for target, auroc in (
                    ("risk", 0.811),
                    ("risk_within_horizon", 0.853),
                    ("risk_notebook", 0.742),
                )
                for date in ("pooled", "2026-01-31")
            ]
        ),  # fmt: skip
        caseload_note="6 as-of dates from 2025-12-02 to 2026-04-01, 30 days apart",
    )


# ------------------------------------------------------------------------------ helpers


def _md_section(markdown: str, section_id: str) -> str:
    title = re.escape(CARD_SECTION_TITLES[section_id])
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", markdown, flags=re.S | re.M)
    assert match, section_id
    return match.group(1)


def _html_section(page: str, section_id: str) -> str:
    match = re.search(rf"<section id='{re.escape(section_id)}'.*?</section>", page, flags=re.S)
    assert match, section_id
    return match.group(0)


def _both(facts, section_id: str) -> tuple[str, str]:
    markdown, page = render_model_card(facts)
    return _md_section(markdown, section_id), _html_section(page, section_id)


def _row(overall, model: str) -> dict:
    return overall.set_index("model").loc[model].to_dict()


def _ci(row: dict, metric: str) -> str:
    return f"{row[metric]:.3f} ({row[metric + '_ci_low']:.3f} to {row[metric + '_ci_high']:.3f})"


# -------------------------------------------------------------------------------- tests


def test_every_section_has_its_heading_once_and_in_order_in_both_formats(facts):
    assert tuple(CARD_SECTION_TITLES[s] for s in CARD_SECTIONS) == EXPECTED_TITLES
    markdown, page = render_model_card(facts)
    assert markdown.startswith("# Model card: dropout-risk version 7\n")
    assert re.findall(r"^## (.+)$", markdown, flags=re.M) == list(EXPECTED_TITLES)
    html_titles = re.findall(r"<h2 id='[a-z-]+-title'>(.*?)</h2>", page)
    assert html_titles == list(EXPECTED_TITLES)
    assert re.findall(r"<section id='([a-z-]+)'", page) == list(CARD_SECTIONS)
    assert "<h1>Model card: dropout-risk version 7</h1>" in page


def test_the_header_names_the_version_and_where_it_came_from(facts):
    for text in _both(facts, "model-details"):
        for value in (
            "dropout-risk",
            "2026-03-14T10:22:01",
            "0f3c2a9b8e7d4c1a",
            "0.1.0",
            "0123456789abcdef",
            "a1" * 32,
            "b2" * 32,
            "registered as challenger; champion unchanged",
        ):
            assert value in text, value
    markdown = _md_section(render_model_card(facts)[0], "model-details")
    assert "| version | 7 |" in markdown
    no_promotion = dataclasses.replace(facts, promotion="")
    assert "registry status" not in render_model_card(no_promotion)[0]


def test_intended_use_names_the_users_and_what_the_model_is_not_for(facts):
    for text in _both(facts, "intended-use"):
        assert "clinical leads" in text and "data scientists" in text
        assert "stays with the clinicians" in text
        for excluded in ("rationing care", "Judging or ranking therapists", "Diagnosis"):
            assert excluded in text, excluded
        assert "recalibrating" in text
        # the age bands come from the assessment's subgroup table
        assert "26-40" in text


def test_training_data_shows_the_counts_and_rates(facts):
    markdown, page = _both(facts, "training-data")
    for text in (markdown, page):
        assert "intakes from 2021-03, sessions up to 2025-11" in text
        for value in ("6,000", "81,234", "5,100", "27.1%", "61", "63.4%", "240"):
            assert value in text, value
    assert "| attended sessions with an SRS rating | – |" in markdown
    assert "| development clients | 960 |" in markdown


def test_performance_numbers_are_the_assessments(facts, assessment):
    champion = _row(assessment.overall, "champion")
    intake = _row(assessment.overall, "intake")
    for text in _both(facts, "performance"):
        assert _ci(champion, "auroc") in text
        assert _ci(intake, "auroc") in text
        assert _ci(champion, "cal_slope") in text and _ci(champion, "cal_intercept") in text
        assert f"{champion['auprc']:.3f}" in text and f"{champion['brier']:.3f}" in text
        assert "20 bootstrap resamples of clients" in text
        for landmark in assessment.by_landmark.to_dict("records"):
            assert _ci(landmark, "auroc") in text
    markdown = _both(facts, "performance")[0]
    line = next(x for x in markdown.splitlines() if x.startswith("| champion |"))
    assert line == (
        f"| champion | {int(champion['n_episodes'])} | {100 * champion['prevalence']:.1f}% | "
        f"{_ci(champion, 'auroc')} | {champion['auprc']:.3f} | {champion['brier']:.3f} | "
        f"{_ci(champion, 'cal_slope')} | {_ci(champion, 'cal_intercept')} |"
    )


def test_the_model_details_summary_quotes_the_champion(facts, assessment):
    champion = _row(assessment.overall, "champion")
    for text in _both(facts, "model-details"):
        assert f"AUROC {_ci(champion, 'auroc')}" in text


def test_without_a_temporal_check_the_card_says_so_and_why(facts):
    for text in _both(facts, "performance"):
        assert "No temporal check was run for this version" in text
        assert "too few labelled episodes of each outcome among the later intakes" in text
        assert "Temporal check: later intakes" not in text


def test_a_temporal_check_is_shown_with_its_numbers(facts, temporal, assessment):
    note = "trained on intakes before 2025-01-01, tested on intakes from then on"
    card = dataclasses.replace(facts, temporal=temporal, temporal_note=note)
    later = _row(temporal.overall, "champion")
    before = _row(assessment.overall, "champion")["auroc"]
    for text in _both(card, "performance"):
        assert "No temporal check was run" not in text
        assert "Temporal check: later intakes" in text and note in text
        assert _ci(later, "auroc") in text
        assert f"({later['auroc'] - before:+.3f})" in text
    for text in _both(card, "limitations"):
        assert f"calibration intercept was {_ci(later, 'cal_intercept')}" in text


def test_subgroups_and_gaps_come_from_the_assessment(facts, assessment):
    markdown, page = _both(facts, "subgroups")
    for r in assessment.subgroups.to_dict("records"):
        assert _ci(r, "auroc") in markdown and _ci(r, "auroc") in page
        assert f"{r['calibration_in_the_large']:.3f}" in markdown
        assert f"{100 * r['flag_rate']:.1f}%" in page
    for text in (markdown, page):
        assert f"{assessment.gaps['auroc']:.3f}" in text
        assert f"{assessment.gaps['calibration_in_the_large']:.3f}" in text
        # the pooling rule is the assessment's (min_group=25 here, 30 by default)
        assert "Groups under 25 episodes are pooled" in text
        assert "risk ≥ 0.40" in text


def test_the_caseload_back_test_comes_before_the_landmark_view(facts):
    markdown, page = render_model_card(facts)
    for text in _both(facts, "caseload"):
        assert "6 as-of dates from 2025-12-02" in text
        assert "0.811 (0.781 to 0.841)" in text  # risk's pooled AUROC with its interval
        assert "0.853" in text and "0.742" in text  # risk_within_horizon, the notebook
        assert "-0.012" in text or "−0.012" in text
        assert "2026-01-31" not in text  # per-date rows stay in the evaluation report
    assert markdown.index("Performance on past caseloads") < markdown.index("Landmark view")
    empty = dataclasses.replace(facts, caseload=None)
    assert "No caseload back-test was recorded" in _both(empty, "caseload")[0]


@pytest.mark.parametrize("inactive", [True, False])
def test_the_label_section_follows_the_inactive_as_dropout_switch(facts, inactive):
    card = dataclasses.replace(facts, label={"inactive_as_dropout": inactive, "inactive_days": 120})
    for text in _both(card, "label"):
        assert "discharge_reason is dropout" in text
        assert "discharge_reason is completed" in text
        assert "transferred or other" in text
        assert "using nothing recorded after that moment" in text
        assert "after appointments 1, 2, 3, 4" in text
        if inactive:
            assert "Inactive-as-dropout is ON" in text and "120 days" in text
            assert "is OFF" not in text
        else:
            assert "Inactive-as-dropout is OFF" in text and "120" not in text
            assert "is ON" not in text


def test_the_model_section_lists_candidate_calibration_features_and_tiers(facts):
    markdown, page = _both(facts, "model")
    for text in (markdown, page):
        assert "logistic" in text and "isotonic regression" in text
        assert "6 features in 3 families" in text
        assert "High: risk of 40% or more" in text
    assert "| attendance | 3 | attendance_rate, no_shows, late_cancels |" in markdown
    assert "| history | 1 | therapist_dropout_rate |" in markdown
    # the families come in the clinical order, not alphabetically
    assert markdown.index("| attendance |") < markdown.index("| alliance |")


def test_values_are_escaped_on_the_page(facts):
    _, page = render_model_card(facts)
    assert "<b>North" not in page and "<script" not in page
    assert "&lt;b&gt;North &amp; South&lt;/b&gt; | east" in _html_section(page, "subgroups")
    params = _html_section(page, "model")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in params
    hostile = dataclasses.replace(facts, version="<i>7</i>", tiers="<img src=x onerror=y>")
    _, page = render_model_card(hostile)
    assert "<i>7</i>" not in page and "<img" not in page
    assert "<title>Model card: dropout-risk version &lt;i&gt;7&lt;/i&gt;</title>" in page


def test_values_are_escaped_in_the_markdown(facts):
    markdown, _ = render_model_card(facts)
    assert "<b>" not in markdown and "<script>" not in markdown
    assert r"\<b\>North \& South\</b\> \| east" in markdown
    assert r"\<script\>" in markdown


def test_every_markdown_table_row_has_as_many_cells_as_its_header(facts, temporal):
    card = dataclasses.replace(facts, temporal=temporal, temporal_note="later intakes")
    markdown, _ = render_model_card(card)
    tables = re.findall(r"(?:^\|.*\|\n)+", markdown, flags=re.M)
    assert len(tables) >= 8
    for table in tables:
        counts = {len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(counts) == 1, table


def test_the_page_is_self_contained_and_printable(facts):
    _, page = render_model_card(facts)
    assert page.startswith("<!DOCTYPE html><html lang='en'>")
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "http://" not in page and "https://" not in page and "url(" not in page
    # the only links are the table of contents' jumps within the page
    links = re.findall(r"\b(?:src|href)\s*=\s*['\"]?([^'\" >]*)", page)
    assert links and all(link.startswith("#") for link in links)
    assert "@media print" in page
    assert page.count("<th scope='col'>") >= 20 and "<th scope='row'>" in page


def test_no_client_id_appears_in_either_format(facts, rows, temporal):
    ids = rows["client_id"].unique()
    assert len(ids) == 240 and ids[0] == "client-0000"
    card = dataclasses.replace(facts, temporal=temporal, temporal_note="later intakes")
    for text in render_model_card(card):
        assert [i for i in ids if i in text] == []
        assert "client-" not in text


def test_missing_numbers_show_as_a_dash_never_nan(rows, facts):
    no_intervals = assess(rows, baselines=("intake",), n_boot=0, n_jobs=1)
    # a gap is NaN when no attribute has two groups with a defined measure
    no_intervals = dataclasses.replace(
        no_intervals, gaps={"auroc": math.nan, "calibration_in_the_large": math.nan}
    )
    card = dataclasses.replace(facts, assessment=no_intervals, data={}, split={})
    champion = _row(no_intervals.overall, "champion")
    for text in render_model_card(card):
        assert not re.search(r"\bnan\b", text, flags=re.I)
        assert "–" in text
        assert f"AUROC {champion['auroc']:.3f}," in text  # no interval, no brackets
        assert "No bootstrap intervals were computed" in text
    markdown = render_model_card(card)[0]
    for measure in ("AUROC", "calibration-in-the-large", "flag rate"):
        assert f"| {measure} | – |" in markdown
    assert "| clients (treatment episodes) | – |" in markdown


def test_limitations_are_general_and_carry_the_assessment_notes(rows, facts):
    without_program = assess(rows.drop(columns="program"), n_boot=0, n_jobs=1)
    card = dataclasses.replace(facts, assessment=without_program)
    for text in _both(card, "limitations"):
        assert "Observational data" in text
        assert "how discharges are coded" in text
        assert "Censoring" in text
        assert "New therapists" in text and "overall rate" in text
        assert "PSI" in text
        assert "No program column was given, so no program subgroups." in text
    for text in render_model_card(card):
        assert "synthetic" not in text.lower()


def test_methods_carry_the_sentences_from_training(facts):
    for text in _both(facts, "methods"):
        assert "Clients were split once, by client, before any fitting." in text
        assert "Mitchell et al. 2019" in text and "TRIPOD+AI" in text


def test_an_assessment_without_a_champion_row_is_refused(facts, assessment):
    broken = dataclasses.replace(
        assessment, overall=assessment.overall[assessment.overall["model"] != "champion"]
    )
    with pytest.raises(ValueError, match="no 'champion' row"):
        render_model_card(dataclasses.replace(facts, assessment=broken))


def test_write_model_card_writes_both_files_as_rendered(facts, tmp_path):
    out = tmp_path / "nested" / "card"
    md_path, html_path = write_model_card(facts, out)
    assert (md_path, html_path) == (out / MARKDOWN_NAME, out / HTML_NAME)
    assert (MARKDOWN_NAME, HTML_NAME) == ("model_card.md", "model_card.html")
    markdown, page = render_model_card(facts)
    assert md_path.read_text(encoding="utf-8") == markdown
    assert html_path.read_text(encoding="utf-8") == page
    assert sorted(p.name for p in out.iterdir()) == [HTML_NAME, MARKDOWN_NAME]


def test_write_model_card_replaces_files_atomically(facts, tmp_path, monkeypatch):
    (tmp_path / MARKDOWN_NAME).write_text("old card", encoding="utf-8")
    (tmp_path / HTML_NAME).write_text("old page", encoding="utf-8")

    def fail(src, dst):
        raise OSError("disk full")

    # the rename is the moment a file changes: when it fails, the old card must survive whole
    monkeypatch.setattr("pipeline.io.output.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_model_card(facts, tmp_path)
    assert (tmp_path / MARKDOWN_NAME).read_text(encoding="utf-8") == "old card"
    assert (tmp_path / HTML_NAME).read_text(encoding="utf-8") == "old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == [HTML_NAME, MARKDOWN_NAME]

    monkeypatch.undo()
    write_model_card(facts, tmp_path)
    assert (tmp_path / MARKDOWN_NAME).read_text(encoding="utf-8") == render_model_card(facts)[0]
