"""The pages come from templates in the package: one self-contained file each, data escaped.

A page inlines its stylesheet (and the risk page its script) from ``static/``, loads
nothing, and shows clinic text as text: markup, template syntax and script-closing
sequences in the data never become markup.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from importlib import resources
from types import SimpleNamespace

import pytest

from models.assessment import assess
from pipeline.reports.card_blocks import Bullets, Paragraph, table
from pipeline.reports.evaluation import render_evaluation_html, render_figures
from pipeline.reports.model_card import render_model_card
from pipeline.reports.risk_page import render_report
from pipeline.reports.tables import Table
from pipeline.reports.templating import ENVIRONMENT, json_for_script, render, static_text
from pipeline.reports.vocabulary import FAMILY_ORDER, TIER_ICONS, TIER_LABELS, in_family_order
from tests.conftest import make_predictions
from tests.pipeline.reports.test_model_card import facts  # noqa: F401  (a fixture)
from tests.pipeline.reports.test_risk_page import tiny_outcome

TEMPLATES = (
    "base.html.j2",
    "macros.html.j2",
    "risk_page.html.j2",
    "risk_header.html.j2",
    "caseload_index.html.j2",
    "evaluation.html.j2",
    "evaluation_sections.html.j2",
    "model_card.html.j2",
    "model_card_blocks.html.j2",
)
STATIC = ("risk_page.css", "risk_page.js", "evaluation.css", "model_card.css")
# clinic text that would be markup, template syntax or a script end if not escaped
HOSTILE = "<script>alert(1)</script> {{ 7*7 }} {% if 1 %}x{% endif %} 'single' \"double\" & <!--"
# template syntax in the data is shown as written, never run
LITERAL = "{{ 7*7 }} {% if 1 %}x{% endif %}"


def _package_file(folder: str, name: str):
    return resources.files("pipeline.reports").joinpath(folder, name)


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_templates_are_in_the_package(name):
    assert _package_file("templates", name).is_file()
    assert ENVIRONMENT.get_template(name) is not None


@pytest.mark.parametrize("name", STATIC)
def test_the_stylesheets_and_script_are_in_the_package(name):
    assert _package_file("static", name).is_file()
    assert static_text(name).strip()


@pytest.fixture(scope="module")
def assessment():
    rows = make_predictions(200, 0, sites=("north", "south"), max_landmarks=3)
    return assess(rows, baselines=("intake",), n_boot=5, min_group=20, n_jobs=1)


@pytest.fixture(scope="module")
def evaluation_page(assessment):
    figures = render_figures(assessment)
    return render_evaluation_html(
        assessment,
        figures,
        context={"model version": HOSTILE, HOSTILE: 0.31234},
        methods=[HOSTILE],
    )


def _assert_self_contained(page: str, stylesheet: str) -> None:
    assert page.count("<style>") == 1 and static_text(stylesheet) in page
    assert "<link" not in page.lower() and "@import" not in page
    for attribute, value in re.findall(r"\b(src|href)\s*=\s*['\"]([^'\"]*)['\"]", page, re.I):
        if attribute.lower() == "src":
            assert value.startswith("data:image/png;base64,"), value[:40]
        else:
            assert value.startswith("#"), value  # links within the page only
    assert "http://" not in page and "https://" not in page


def test_the_risk_page_is_one_file_with_its_style_and_script_inline():
    page = render_report(tiny_outcome())
    _assert_self_contained(page, "risk_page.css")
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert scripts == ["\n" + static_text("risk_page.js")]


def test_the_evaluation_report_is_one_file_with_its_style_and_figures_inline(evaluation_page):
    _assert_self_contained(evaluation_page, "evaluation.css")
    assert "<script" not in evaluation_page
    # no feature contributions in this assessment, so no importance figures: 6 of the 8
    assert evaluation_page.count("<img src='data:image/png;base64,") == 6
    assert evaluation_page.count("<img") == 6


def test_the_model_card_page_is_one_file_with_its_style_inline(facts):  # noqa: F811
    _, page = render_model_card(facts)
    _assert_self_contained(page, "model_card.css")
    assert "<script" not in page


def test_clinic_text_on_the_risk_page_header_is_escaped():
    outcome = tiny_outcome()
    risk_list = outcome.risk_list.copy()
    risk_list.loc[3, "not_scored_reason"] = HOSTILE
    changed = {"risk_list": risk_list, "tier_rule": HOSTILE, "model_version": HOSTILE}
    page = render_report(SimpleNamespace(**{**vars(outcome), **changed}))
    header = page.split("<noscript>")[0]
    assert header.count(html.escape(HOSTILE)) == 3  # the model, the tier rule, the reason
    assert "<script>alert(1)" not in header and LITERAL in header


def test_clinic_text_in_the_page_data_cannot_end_the_script():
    outcome = tiny_outcome()
    risk_list = outcome.risk_list.copy()
    risk_list.loc[0, "reason_1"] = HOSTILE
    page = render_report(SimpleNamespace(**{**vars(outcome), "risk_list": risk_list}))
    blob = re.search(r"<script type='application/json' id='data'>(.*?)</script>", page, re.S)
    assert "</" not in blob.group(1) and "<!--" not in blob.group(1)
    assert json.loads(blob.group(1))["rows"][0]["reasons"][0] == HOSTILE


def test_clinic_text_in_the_evaluation_report_is_escaped(evaluation_page):
    # both cells of a context row, and a method; escaped as html.escape spells it
    assert evaluation_page.count(html.escape(HOSTILE)) == 3
    assert "<script>alert(1)" not in evaluation_page and LITERAL in evaluation_page


def test_clinic_text_in_the_model_card_is_escaped(facts):  # noqa: F811
    hostile = dataclasses.replace(facts, promotion=HOSTILE, methods=[HOSTILE])
    markdown, page = render_model_card(hostile)
    assert page.count(html.escape(HOSTILE)) == 2
    assert "<script>alert(1)" not in page and LITERAL in page
    assert "{{ 7\\*7 }}" in markdown and "\\<script\\>" in markdown


def test_json_for_script_keeps_the_data_and_cannot_close_a_script():
    data = {"text": "</script><!-- x --> </SCRIPT", "n": 1, "none": None, "é": "✓"}
    text = json_for_script(data)
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == data
    with pytest.raises(ValueError):
        json_for_script({"x": float("nan")})


def test_values_are_escaped_as_html_escape_spells_them():
    page = ENVIRONMENT.from_string("<p title='{{ v }}'>{{ v }}</p>").render(v="a'b\"c<&>")
    assert page == "<p title='a&#x27;b&quot;c&lt;&amp;&gt;'>a&#x27;b&quot;c&lt;&amp;&gt;</p>"


def test_a_missing_template_value_is_an_error_not_a_blank():
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        ENVIRONMENT.from_string("{{ nothing }}").render()


def test_the_table_macro_escapes_cells_and_right_aligns_numbers():
    macro = ENVIRONMENT.get_template("macros.html.j2").module.table
    by_cell = Table("<cap>", ["site", "n"], [["<b>north</b>", "1,204"], ["south", "12"]])
    assert str(macro(by_cell)) == (
        "<table><caption>&lt;cap&gt;</caption><thead><tr><th scope='col'>site</th>"
        "<th scope='col'>n</th></tr></thead><tbody><tr><th scope='row'>&lt;b&gt;north&lt;/b&gt;"
        "</th><td>1,204</td></tr><tr><th scope='row'>south</th><td class='num'>12</td></tr>"
        "</tbody></table>"
    )
    by_column = table("c", ["site", "n"], [["north", "1,204"], ["south", "–"]])
    assert "<td class='num'>1,204</td>" in str(macro(by_column))


def test_model_card_blocks_render_in_html():
    block = ENVIRONMENT.get_template("model_card_blocks.html.j2").module.block
    assert str(block(Paragraph("a & b"))) == "<p>a &amp; b</p>"
    assert str(block(Bullets(("x", "<y>")))) == "<ul><li>x</li><li>&lt;y&gt;</li></ul>"


def test_render_reads_the_package_templates():
    page = render("base.html.j2", stylesheet="model_card.css")
    assert page.startswith("<!DOCTYPE html><html lang='en'>")
    assert page.endswith("</style></head><body></body></html>")


def test_the_page_data_carries_the_tiers_the_script_shows():
    page = render_report(tiny_outcome())
    blob = re.search(r"<script type='application/json' id='data'>(.*?)</script>", page, re.S)
    tiers = json.loads(blob.group(1))["tiers"]
    assert {t: tuple(v[:2]) for t, v in tiers.items()} == {
        t: (TIER_LABELS[t], TIER_ICONS[t]) for t in TIER_LABELS
    }
    assert [tiers[t][2] for t in ("high", "medium", "low", "")] == [3, 2, 1, 0]
    assert "var TIERS = DATA.tiers;" in static_text("risk_page.js")


def test_families_are_listed_in_one_order():
    assert in_family_order({"history", "interaction", "zeta", "attendance"}) == [
        "attendance",
        "interaction",
        "history",
        "zeta",
    ]
    assert set(FAMILY_ORDER) >= {"attendance", "alliance", "interaction", "history"}


def test_the_importance_figure_keeps_its_colours_by_naming_five_families():
    from pipeline.reports import figures

    # interaction came later and takes the colour after the five, as before
    assert figures._FIGURE_FAMILY_ORDER == (
        "attendance",
        "alliance",
        "outcome",
        "intake",
        "history",
    )
