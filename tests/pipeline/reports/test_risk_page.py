"""The clinical lead's risk list page (issue 4): self-contained, escaped, true to the list.

Unit tests use a tiny hand-built outcome. The browser tests score the session's trained
cohort (conftest.py), write the page and drive it in headless Chromium (Debian's package,
through Playwright): what the page shows must be what the risk list file says.
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pandas as pd
import pytest

from models.caseload import RISK_LIST_COLUMNS
from pipeline.commands.score import run_scoring
from pipeline.reports.risk_page import (
    TIER_LABELS,
    page_data,
    render_report,
    risk_percent,
    write_report,
    write_screenshot,
)

HOSTILE_ID = "<script>alert(1)</script>"
HOSTILE_REASON = "</script><img src=x onerror=alert(2)> <!-- & 'quotes' \"too\""


# ---------------------------------------------------------------- a tiny hand-built outcome


def _row(client_id: str, rank: int, risk: float | None, tier: str, **values) -> dict:
    scored = risk is not None
    row = {
        "client_id": client_id,
        "therapist_id": "T1",
        "site": "north",
        "risk": risk if scored else math.nan,
        "risk_tier": tier,
        "rank": rank,
        "reason_1": f"{client_id} reason one" if scored else "",
        "reason_2": f"{client_id} reason two" if scored else "",
        "reason_3": f"{client_id} reason three" if scored else "",
        "sessions_attended": 3 if scored else 0,
        "last_attended": "2026-03-02" if scored else "",
        "scored": scored,
        "not_scored_reason": "" if scored else "no appointments before the as-of date",
        "model_version": "dropout-risk v7",
    }
    return row | values


def _detail(bond: list[float | None], points: list[tuple[float, str]]) -> dict:
    statuses = ["attended", "no_show", "attended", "late_cancel", "attended", "cancelled"]
    trajectory, session, b = [], 0, iter(bond)
    for k, status in enumerate(statuses):
        went = status == "attended"
        session += went
        value = next(b) if went else None
        trajectory.append(
            {
                "date": f"2026-02-{k + 1:02d}",
                "status": status,
                "session": session if went else None,
                "wai_bond": value,
                "wai_goal": None,
                "wai_task": None,
                "srs_total": 34.0 if went else None,
                "ruptures": ["wai_bond"] if went and session == 3 else [],
            }
        )
    return {
        "trajectory": trajectory,
        "explanation": [
            {"feature": f"f{i}", "words": w, "points": p} for i, (p, w) in enumerate(points)
        ],
    }


def tiny_outcome(hostile: bool = False) -> SimpleNamespace:
    first = HOSTILE_ID if hostile else "A"
    rows = [
        _row(first, 1, 0.4351, "high", reason_1=HOSTILE_REASON if hostile else "A reason one"),
        _row("B", 2, 0.25, "medium", therapist_id="T2", site="south"),
        _row("C", 3, 0.05, "low", therapist_id="T2", site=""),
        _row("D", 4, None, ""),
        _row("E", 5, None, "", not_scored_reason="row rejected: age 240 out of range"),
    ]
    points = [
        (6.1, "Bond rating fell from 4.2 to 3.0 between sessions 2 and 3"),
        (-2.5, "Steady attendance"),
    ]
    details = {
        first: _detail([4.2, 4.4, 3.0], points + [(0.3, HOSTILE_REASON if hostile else "minor")]),
        "B": _detail([4.0, None, 4.1], points),
        "C": _detail([4.5, 4.6, 4.6], [(-4.0, "Attended every session")]),
        # a client who is not in the list: nothing of theirs may reach the page
        "GHOST": _detail([1.0, 1.0, 1.0], [(9.9, "GHOST-secret-words")]),
    }
    return SimpleNamespace(
        risk_list=pd.DataFrame(rows, columns=RISK_LIST_COLUMNS),
        as_of=pd.Timestamp("2026-03-14"),
        model_version="dropout-risk v7",
        tier_rule="High: risk of 40% or more; medium: 20% or more (probability thresholds from config)",
        scales={"wai": [1.0, 5.0], "srs": [0.0, 40.0], "srs_cutoff": 36.0},
        details=details,
    )


def _blob(page: str) -> dict:
    found = re.findall(r"<script type='application/json' id='data'>(.*?)</script>", page, re.S)
    assert len(found) == 1
    return json.loads(found[0])


# ---------------------------------------------------------------- the page as a file


def test_page_is_self_contained():
    page = render_report(tiny_outcome())
    assert page.startswith("<!doctype html>")
    assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page.lower() and "@import" not in page
    assert page.count("<script") == 2  # the data blob and the inline code, nothing loaded


class _Tags(HTMLParser):
    """Start tags and script bodies as an HTML parser sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        if self.lasttag == "script":
            self.scripts.append(data)


def test_hostile_text_cannot_close_the_script_or_become_markup():
    page = render_report(tiny_outcome(hostile=True))
    parsed = _Tags()
    parsed.feed(page)
    # the id and the reason stay inside the blob: two scripts, no image, no early close
    assert parsed.tags.count("script") == 2 and "img" not in parsed.tags
    assert len(re.findall(r"</script", page, re.I)) == 2
    assert "<!--" not in page
    assert HOSTILE_ID not in page  # its "</" is written "<\/" inside the blob
    blob = _blob(page)
    assert blob["rows"][0]["id"] == HOSTILE_ID
    assert blob["rows"][0]["reasons"][0] == HOSTILE_REASON
    assert blob["details"][0]["e"][-1][1] == HOSTILE_REASON


def test_every_listed_client_is_in_the_blob_in_rank_order():
    outcome = tiny_outcome()
    rows = _blob(render_report(outcome))["rows"]
    assert [r["id"] for r in rows] == outcome.risk_list["client_id"].tolist()
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["pct"] for r in rows] == ["43%", "25%", "5%", "", ""]
    assert [r["tier"] for r in rows] == ["high", "medium", "low", "", ""]
    assert rows[3]["why"] == "no appointments before the as-of date" and not rows[3]["scored"]
    assert rows[0]["reasons"] == ["A reason one", "A reason two", "A reason three"]


def test_only_the_listed_clients_are_embedded():
    outcome = tiny_outcome()
    page = render_report(outcome)
    blob = _blob(page)
    assert "GHOST" not in page
    assert set(blob) == {"rows", "details", "scales", "tiers"}
    # one detail slot per listed client; not-scored clients have none
    assert len(blob["details"]) == len(outcome.risk_list)
    assert [d is None for d in blob["details"]] == [False, False, False, True, True]
    first = blob["details"][0]
    assert [t[0] for t in first["t"]] == [f"2026-02-{k:02d}" for k in range(1, 7)]
    assert first["t"][4][7] == ["wai_bond"]  # the rupture at the third attended session
    assert [e[0] for e in first["e"]] == [6.1, -2.5, 0.3]  # largest magnitude first


def test_header_counts_reasons_and_tier_rule():
    page = render_report(tiny_outcome())
    text = re.sub(r"<[^>]+>", "", page.split("<noscript>")[0])
    assert "As of 2026-03-14" in text and "model dropout-risk v7" in text
    assert "5 active clients" in text
    for count in ("1 high", "1 medium", "1 low", "2 not scored"):
        assert count in text
    assert "1: no appointments before the as-of date" in text
    assert "1: row rejected: age 240 out of range" in text
    assert "High: risk of 40% or more; medium: 20% or more" in text


def test_the_page_states_the_smallest_contribution_it_lists():
    from models.caseload import MIN_DETAIL_POINTS

    assert f"less than {MIN_DETAIL_POINTS:g} points are not" in render_report(tiny_outcome())


def test_an_outcome_without_details_or_scales_still_renders():
    outcome = tiny_outcome()
    bare = SimpleNamespace(
        risk_list=outcome.risk_list, as_of=outcome.as_of, model_version=outcome.model_version
    )
    blob = _blob(render_report(bare))
    assert blob["details"] == [None] * 5
    assert blob["scales"] == {"wai": [1.0, 5.0], "srs": [0.0, 40.0], "srs_cutoff": None}


def test_an_empty_caseload_renders():
    outcome = tiny_outcome()
    empty = SimpleNamespace(**{**vars(outcome), "risk_list": outcome.risk_list.iloc[:0]})
    page = render_report(empty)
    assert "0 active clients" in re.sub(r"<[^>]+>", "", page)
    assert _blob(page)["rows"] == []


@pytest.mark.parametrize(
    "risk, shown",
    [
        (0.4, "40%"),
        (0.435, "43%"),  # down on the value as written, not on its binary neighbour
        (0.4399, "43%"),
        (0.3996, "39%"),
        (0.0049, "<1%"),
        (0.0, "0%"),
        (0.9951, ">99%"),
        (1.0, "100%"),
        (math.nan, ""),
        (None, ""),
    ],
)
def test_risk_percent(risk, shown):
    assert risk_percent(risk) == shown


def test_write_report_returns_the_page_it_wrote(tmp_path):
    outcome = tiny_outcome()
    path = write_report(outcome, tmp_path / "out" / "risk.html")
    assert path == tmp_path / "out" / "risk.html"
    assert path.read_text(encoding="utf-8") == render_report(outcome)
    assert [p.name for p in path.parent.iterdir()] == ["risk.html"]  # no temporary left


def test_no_browser_means_no_screenshot_and_no_error(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.reports.risk_page.find_chromium", lambda: None)
    html = write_report(tiny_outcome(), tmp_path / "risk.html")
    assert write_screenshot(html, tmp_path / "risk.png") is None
    assert not (tmp_path / "risk.png").exists()


# ---------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def cohort(trained, tmp_path_factory):
    """The trained cohort's active caseload: the risk list file and its page."""
    folder = tmp_path_factory.mktemp("page")
    outcome = run_scoring(
        trained["clients"], trained["sessions"], folder / "risk.csv", trained["config"]
    )
    html = write_report(outcome, folder / "risk.html")
    csv = pd.read_csv(folder / "risk.csv", dtype=str, keep_default_na=False)
    return SimpleNamespace(outcome=outcome, url=html.as_uri(), csv=csv)


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: errors.append(f"a script opened a dialog: {d.message}"))
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    return page, errors


@pytest.fixture
def page(browser, cohort):
    opened, errors = _open(browser, cohort.url)
    yield opened
    opened.close()
    assert errors == []


def _ids(page) -> list[str]:
    return page.locator("#risk-table tbody th.client").all_inner_texts()


def _shown(page, n: int, total: int) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#shown")).to_have_text(f"{n} of {total} clients shown")


def _show_all(page) -> None:
    # the bar hides itself once every row is listed, which scrolling it into view can
    # already do (the page lists more as it nears the end): so press it from the page,
    # only while it is there, then wait until nothing is left to list
    page.evaluate(
        "() => { if (!document.getElementById('more').hidden) "
        "document.getElementById('show-all').click(); }"
    )
    page.wait_for_function("() => document.getElementById('more').hidden")


def test_rows_on_screen_are_the_risk_list_file(page, cohort):
    csv, total = cohort.csv, len(cohort.csv)
    _shown(page, total, total)
    _show_all(page)
    assert _ids(page) == csv["client_id"].tolist()
    head = page.locator("#risk-table tbody tr")
    for i, rec in enumerate(csv.head(20).itertuples()):
        row = head.nth(i)
        assert row.locator("td").nth(0).inner_text() == rec.rank
        assert row.locator("td.risk").inner_text().strip() == (
            risk_percent(float(rec.risk)) if rec.scored == "true" else "not scored"
        )
        # the tier follows the risk and the risk within the horizon
        assert row.locator("td").nth(5).inner_text().strip().endswith(TIER_LABELS[rec.risk_tier])


def test_sort_by_risk_ascending_then_descending(page, cohort):
    csv = cohort.csv.assign(
        risk_value=pd.to_numeric(cohort.csv["risk"]), rank_value=cohort.csv["rank"].astype(int)
    )
    scored, unscored = csv[csv["scored"] == "true"], csv[csv["scored"] != "true"]
    header = page.locator("#risk-table th[data-key='risk']")
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert page.locator("#risk-table th[aria-sort]").count() == 1
    _show_all(page)
    ascending = scored.sort_values(["risk_value", "rank_value"], kind="stable")
    assert _ids(page) == ascending["client_id"].tolist() + unscored["client_id"].tolist()
    header.locator("button").press("Enter")  # the header is a button: Enter sorts too
    assert header.get_attribute("aria-sort") == "descending"
    _show_all(page)
    descending = scored.sort_values(["risk_value", "rank_value"], ascending=[False, True])
    assert _ids(page) == descending["client_id"].tolist() + unscored["client_id"].tolist()


def test_filter_by_therapist_from_the_select_and_the_therapist_view(page, cohort):
    csv, total = cohort.csv, len(cohort.csv)
    counts = csv["therapist_id"].value_counts()
    busiest, other = counts.index[0], counts.index[-1]
    page.select_option("#f-therapist", value=busiest)
    _shown(page, int(counts[busiest]), total)
    _show_all(page)
    assert _ids(page) == csv.loc[csv["therapist_id"] == busiest, "client_id"].tolist()

    page.click("#tab-therapists")
    view = page.locator("#therapist-table tbody tr")
    high = [int(view.nth(i).locator("td").nth(0).inner_text()) for i in range(view.count())]
    assert high == sorted(high, reverse=True)  # most high-risk clients first
    page.locator(f"#therapist-table button[data-th='{other}']").click()
    assert page.locator("#panel-list").is_visible()
    assert page.input_value("#f-therapist") == other
    _shown(page, int(counts[other]), total)
    assert _ids(page) == csv.loc[csv["therapist_id"] == other, "client_id"].tolist()


def test_search_by_client_id(page, cohort):
    csv, total = cohort.csv, len(cohort.csv)
    wanted = csv["client_id"].iloc[len(csv) // 2]
    page.fill("#f-search", wanted.lower())
    expected = csv.loc[csv["client_id"].str.lower().str.contains(wanted.lower()), "client_id"]
    _shown(page, len(expected), total)
    assert _ids(page) == expected.tolist()
    page.click("#f-clear")
    _shown(page, total, total)


def test_detail_opens_with_enter_and_escape_returns_to_the_row(page, cohort):
    from playwright.sync_api import expect

    client = cohort.csv["client_id"].iloc[0]
    detail = cohort.outcome.details[client]
    row = page.locator("#risk-table tbody tr").first
    row.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#detail")
    expect(dialog).to_be_visible()
    expect(page.locator("#detail-title")).to_have_text(f"Client {client}")
    if any(p["session"] is not None for p in detail["trajectory"]):
        has_ratings = any(
            p.get(k) is not None
            for p in detail["trajectory"]
            for k in ("wai_bond", "wai_goal", "wai_task", "srs_total")
        )
        assert dialog.locator("svg.trajectory").count() == (1 if has_ratings else 0)
    srs = any(p.get("srs_total") is not None for p in detail["trajectory"])
    assert dialog.locator("svg.trajectory line.cutoff").count() == (1 if srs else 0)
    assert dialog.locator("ol.strip li").count() == len(detail["trajectory"])
    first = detail["explanation"][0]
    explanation = dialog.locator(".explanation").inner_text()
    assert first["words"] in explanation
    assert f"{abs(first['points']):.1f} points" in explanation
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.wait_for_function("document.activeElement.getAttribute('data-i') === '0'", timeout=5000)


def test_closing_the_detail_leaves_focus_the_reader_already_moved(page, cohort):
    from playwright.sync_api import expect

    page.locator("#risk-table tbody tr").nth(1).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail")).to_be_visible()
    # the close event runs after this script: a row focused before it must keep focus
    page.evaluate(
        "document.getElementById('detail').close();"
        "document.querySelector('#risk-table tbody tr').focus()"
    )
    expect(page.locator("#detail")).to_be_hidden()
    page.wait_for_timeout(100)
    assert page.evaluate("document.activeElement.getAttribute('data-i')") == "0"


def test_hostile_ids_and_reasons_stay_text_in_the_browser(browser, tmp_path):
    html = write_report(tiny_outcome(hostile=True), tmp_path / "risk.html")
    page, errors = _open(browser, html.as_uri())
    try:
        first = page.locator("#risk-table tbody tr").first
        assert first.locator("th.client").inner_text() == HOSTILE_ID
        assert HOSTILE_REASON in first.locator("td.reasons").inner_text()
        assert page.locator("img").count() == 0
        first.click()
        assert page.locator("#detail-title").inner_text() == f"Client {HOSTILE_ID}"
        assert page.locator("#detail g.rupture").count() == 1
        assert page.locator("#detail .explanation").inner_text().count(HOSTILE_REASON) == 1
    finally:
        page.close()
    assert errors == []
    assert page_data(tiny_outcome(hostile=True))["rows"][0]["id"] == HOSTILE_ID


def test_the_page_names_features_that_drifted_and_says_when_none_did():
    import numpy as np

    from features.drift import fit_profile
    from models.drift import compare

    rng = np.random.default_rng(1)
    profile = fit_profile(pd.DataFrame({"age": rng.normal(35, 10, 3000)}))
    moved = compare(profile, pd.DataFrame({"age": rng.normal(70, 10, 400)}))
    quiet = compare(profile, pd.DataFrame({"age": rng.normal(35, 10, 400)}))
    outcome = tiny_outcome()
    alarm_page = render_report(SimpleNamespace(**vars(outcome), drift=moved))
    assert "Data drift" in alarm_page and "role='alert'" in alarm_page
    assert "Age: distribution shifted" in alarm_page
    quiet_page = render_report(SimpleNamespace(**vars(outcome), drift=quiet))
    assert "No feature moved" in quiet_page and "role='alert'" not in quiet_page
    assert "stores no summary" in render_report(SimpleNamespace(**vars(outcome), drift=None))
