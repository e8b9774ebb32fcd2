"""The risk page with ``score --since``: the change column, the "What changed" view, the
risk within the horizon and the context line.

Unit tests use a hand-built outcome with the since columns (`since_outcome`); the browser
tests open its page in headless Chromium. One test scores the session's trained cohort
with ``since`` and checks the page against the risk list file.
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pandas as pd
import pytest

from models.caseload import RISK_LIST_COLUMNS
from pipeline.reports.caseload_pages import write_report_dir
from pipeline.reports.formatters import points_change
from pipeline.reports.risk_page import change_flags, page_data, render_report, write_report
from pipeline.reports.vocabulary import horizon_label
from tests.pipeline.reports.test_risk_page import (
    HOSTILE_REASON,
    _blob,
    _detail,
    _row,
    _Tags,
    tiny_outcome,
)

SINCE = pd.Timestamp("2026-03-07")
CONTEXT = "Context: planned course of 30 sessions; referral source: court"
RULE = (
    "The reasons are the client's own signals (attendance, alliance ratings, outcome ratings,"
    " what changed), strongest first; what the team cannot change (course length, progress"
    " through the plan, age, referral, concern, therapist and site history) is on the Context"
    " line. The detail keeps the full explanation."
)
SINCE_COLUMNS = ["risk_change", "tier_since", "change_reason"]
# what each group of the view holds, in the order it lists them
GROUPS = {
    "to-high": ["F", "A"],
    "risen": ["A", "H"],  # +15 points, then +10 exactly (the bar itself counts)
    "left-high": ["B", "D"],  # D is not scored now
    "new": ["F", "G"],
}
NEW = f"New to the caseload since {SINCE:%Y-%m-%d}"


def _since_row(row: dict, change: float | None, was: str, words: str, soon=None) -> dict:
    scored = row["scored"]
    return row | {
        "risk_within_horizon": soon if soon is not None else math.nan,
        "risk_change": math.nan if change is None else change,
        "tier_since": was,
        "change_reason": words if scored else "",
    }


def since_outcome(hostile: bool = False, ids=None) -> SimpleNamespace:
    """Eight clients scored now and as of `SINCE`; ``ids`` renames them (a mapping)."""
    name = (ids or {}).get
    bond = "Bond rating fell from 4.2 to 3.0 since 2026-03-07"
    rows = [
        _since_row(_row("F", 1, 0.6, "high", therapist_id="T3", site="east"), None, "", NEW, 0.31),
        _since_row(_row("A", 2, 0.4351, "high"), 0.15, "medium", bond, 0.2),
        _since_row(_row("H", 3, 0.30, "medium"), 0.10, "low", "2 no-shows since 2026-03-07", 0.12),
        _since_row(
            _row("B", 4, 0.25, "medium", therapist_id="T2", site="south"),
            -0.2,
            "high",
            HOSTILE_REASON if hostile else "Attended a session since 2026-03-07",
            0.1,
        ),
        _since_row(_row("G", 5, 0.08, "low", therapist_id="T3", site="east"), None, "", NEW, 0.02),
        _since_row(
            _row("C", 6, 0.05, "low", therapist_id="T2", site=""), -0.03, "low", "Steady", 0.01
        ),
        _since_row(_row("D", 7, None, ""), None, "high", ""),
        _since_row(_row("E", 8, None, "", not_scored_reason="row rejected: age 240"), None, "", ""),
    ]
    points = [(6.1, "Bond rating fell from 4.2 to 3.0 between sessions 2 and 3"), (-2.5, "Steady")]
    details = {}
    for client in "FAHBGC":
        label = name(client, client)
        own = [*points, (1.0, f"{label} own words")]
        details[label] = _detail([4.2, 4.4, 3.0], own) | {
            "context": CONTEXT if client == "A" else ""
        }
    details["GHOST"] = _detail([1.0, 1.0, 1.0], [(9.9, "GHOST-secret-words")])
    frame = pd.DataFrame(rows, columns=RISK_LIST_COLUMNS + SINCE_COLUMNS)
    if ids:
        frame["client_id"] = frame["client_id"].map(name)
        for col in ("reason_1", "reason_2", "reason_3"):
            frame[col] = frame[col].str.replace(
                r"^([A-H]) ", lambda m: f"{name(m[1])} ", regex=True
            )
    base = tiny_outcome()
    return SimpleNamespace(
        **{**vars(base), "risk_list": frame, "details": details},
        since=SINCE,
        horizon_days=60,
        risen_points=0.10,
    )


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))


def test_points_change_and_horizon_label():
    assert [points_change(x) for x in (0.15, -0.2, 0.005, -0.004, math.nan)] == [
        "+15 pts",
        "−20 pts",
        "+1 pts",
        "0 pts",
        "",
    ]
    assert horizon_label(60) == "Within 60 days" and horizon_label(None) == "Soon"


def test_the_groups_follow_the_since_columns():
    outcome = since_outcome()
    flags = change_flags(outcome)
    ids = outcome.risk_list["client_id"]
    for key, expected in GROUPS.items():
        assert sorted(ids[flags[key]]) == sorted(expected), key
    changes = page_data(outcome)["changes"]
    assert changes["since"] == "2026-03-07"
    assert {k: [ids[i] for i in v] for k, v in changes["groups"].items()} == GROUPS


def test_rows_carry_what_changed():
    rows = {r["id"]: r for r in page_data(since_outcome())["rows"]}
    a, f, b, d = rows["A"], rows["F"], rows["B"], rows["D"]
    assert (a["chg"], a["chgtxt"], a["was"], a["thenpct"], a["new"]) == (
        0.15,
        "+15 pts",
        "medium",
        "28%",
        False,
    )
    assert a["cr"].startswith("Bond rating fell") and a["ctx"] == CONTEXT
    assert (f["chg"], f["chgtxt"], f["was"], f["thenpct"], f["new"]) == (None, "new", "", "", True)
    assert f["cr"] == NEW
    assert (b["chgtxt"], b["was"]) == ("−20 pts", "high")
    assert (d["chg"], d["chgtxt"], d["new"], d["was"]) == (None, "", False, "high")
    assert (a["soon"], a["soonpct"], d["soon"], d["soonpct"]) == (0.2, "20%", None, "")


def test_the_header_says_since_when_and_how_many_changed():
    page = render_report(since_outcome())
    header = _text(page.split("<noscript>")[0])
    assert "Changes since 2026-03-07" in header
    for words in ("2 new to high", "2 risen by at least 10 points", "2 left high", "2 new clients"):
        assert words in header
    assert RULE in header
    assert "“Within 60 days” is the chance that it ends in dropout within 60 days" in header
    assert "data-key='chg'" in page and "data-key='soon'" in page
    tabs = re.findall(r"role='tab' id='([^']+)'", page)
    assert tabs == ["tab-list", "tab-changes", "tab-therapists"]
    for key in GROUPS:
        assert f"id='chg-{key}-title'" in page
    assert "Risen by at least 10 points <span class='chg-count'>(2)</span>" in page


def test_without_since_the_page_is_as_before():
    outcome = tiny_outcome()
    page = render_report(outcome)
    assert "id='tab-changes'" not in page and "id='panel-changes'" not in page
    assert "data-key='chg'" not in page and "Changes since" not in page
    assert set(_blob(page)) == {"rows", "details", "scales", "tiers"}
    assert "chg" not in _blob(page)["rows"][0]
    # no horizon on the outcome: the column is headed "Soon"
    assert ">Soon<span class='arrow'" in page
    assert RULE in _text(page)
    # since without the since columns (an older scorer) shows no changes either
    late = SimpleNamespace(**vars(outcome), since=SINCE)
    assert "id='tab-changes'" not in render_report(late) and change_flags(late) is None


def test_change_reasons_and_context_stay_text():
    page = render_report(since_outcome(hostile=True))
    parsed = _Tags()
    parsed.feed(page)
    assert parsed.tags.count("script") == 2 and "img" not in parsed.tags
    assert HOSTILE_REASON not in page  # its "</" is written "<\/" inside the blob
    rows = _blob(page)["rows"]
    assert rows[3]["cr"] == HOSTILE_REASON


def test_a_bigger_risen_bar_takes_fewer_clients():
    outcome = since_outcome()
    outcome.risen_points = 0.12
    ids = outcome.risk_list["client_id"]
    assert [ids[i] for i in page_data(outcome)["changes"]["groups"]["risen"]] == ["A"]
    assert "Risen by at least 12 points" in render_report(outcome)


def _ids(locator) -> list[str]:
    return locator.locator("th.client").all_inner_texts()


@pytest.fixture
def since_page(open_page, tmp_path):
    html = write_report(since_outcome(hostile=True), tmp_path / "risk.html")
    return open_page(html.as_uri())


def test_what_changed_lists_the_groups_and_opens_the_detail(since_page):
    from playwright.sync_api import expect

    page = since_page
    assert page.locator("#panel-changes").is_hidden()
    page.click("#tab-changes")
    expect(page.locator("#panel-changes")).to_be_visible()
    assert page.locator("#panel-list").is_hidden()
    assert page.get_attribute("#tab-changes", "aria-selected") == "true"
    for key, expected in GROUPS.items():
        count = page.locator(f"#chg-{key}-title .chg-count").inner_text()
        assert count == f"({len(expected)})"
        assert _ids(page.locator(f"#chg-{key} tbody")) == expected
    risen = page.locator("#chg-risen tbody tr").first
    # "then → now", with " to " for a screen reader instead of the arrow
    words = re.sub(r"\s+", " ", risen.inner_text())
    assert "+15 pts" in words and "28% → to 43%" in words
    assert "Medium" in risen.locator("td").nth(2).inner_text()
    left = page.locator("#chg-left-high tbody tr")
    assert HOSTILE_REASON in left.first.locator("td.cr").inner_text()
    assert "not scored" in left.nth(1).inner_text()
    assert page.locator("img").count() == 0

    risen.click()
    dialog = page.locator("#detail")
    expect(dialog).to_be_visible()
    expect(page.locator("#detail-title")).to_have_text("Client A")
    assert CONTEXT in dialog.locator(".ctx").inner_text()
    assert "Since 2026-03-07:" in dialog.locator(".change").inner_text()
    assert "Within 60 days 20%" in dialog.locator(".facts").inner_text()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # focus returns to the row in the view, and Enter opens it again
    page.wait_for_function("document.activeElement.closest('#chg-risen') !== null", timeout=5000)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#detail-title")).to_have_text("Client H")


def test_the_tabs_follow_the_arrow_keys_in_order(since_page):
    page = since_page
    page.focus("#tab-list")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-changes"
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-therapists"
    assert page.locator("#panel-therapists").is_visible()
    page.keyboard.press("ArrowRight")
    assert page.locator("#panel-list").is_visible()


def test_the_list_shows_the_change_the_context_and_the_risk_within_the_horizon(since_page):
    page = since_page
    rows = page.locator("#risk-table tbody tr")
    assert rows.first.locator("td.chg").inner_text() == "new"
    second = rows.nth(1)
    assert second.locator("td.chg").inner_text() == "+15 pts"
    assert second.locator("td.soon").inner_text() == "20%"
    assert second.locator(".ctx").inner_text() == CONTEXT
    assert rows.nth(6).locator("td.soon").inner_text() == ""  # not scored
    head = page.locator("#risk-table th[data-key='soon']")
    assert head.inner_text().startswith("Within 60 days")
    assert page.locator("#more").is_hidden()  # every row is listed: no "Show more"


def test_sort_by_the_risk_within_the_horizon_and_by_the_change(since_page):
    page = since_page
    order = since_outcome().risk_list
    scored = order[order["scored"]]
    unscored = order.loc[~order["scored"], "client_id"].tolist()
    head = page.locator("#risk-table th[data-key='soon']")
    head.locator("button").click()
    assert head.get_attribute("aria-sort") == "ascending"
    up = scored.sort_values(["risk_within_horizon", "rank"])["client_id"].tolist()
    assert _ids(page.locator("#risk-table tbody")) == up + unscored
    head.locator("button").click()
    assert head.get_attribute("aria-sort") == "descending"
    down = scored.sort_values(["risk_within_horizon", "rank"], ascending=[False, True])
    assert _ids(page.locator("#risk-table tbody")) == down["client_id"].tolist() + unscored

    change = page.locator("#risk-table th[data-key='chg']")
    change.locator("button").click()
    change.locator("button").click()
    assert change.get_attribute("aria-sort") == "descending"
    # largest rise first; new clients (no change) after the others, then the unscored
    assert _ids(page.locator("#risk-table tbody")) == ["A", "H", "C", "B", "F", "G"] + unscored


@pytest.fixture(scope="module")
def cohort_since(trained, tmp_path_factory):
    """The trained cohort scored with ``since`` a week before its latest session."""
    from pipeline.commands.score import run_scoring

    folder = tmp_path_factory.mktemp("since")
    latest = pd.to_datetime(pd.read_csv(trained["sessions"])["session_date"]).max()
    since = f"{latest - pd.Timedelta(days=7):%Y-%m-%d}"
    outcome = run_scoring(
        trained["clients"], trained["sessions"], folder / "risk.csv", trained["config"], since=since
    )
    html = write_report(outcome, folder / "risk.html")
    csv = pd.read_csv(folder / "risk.csv", dtype=str, keep_default_na=False)
    return SimpleNamespace(outcome=outcome, url=html.as_uri(), csv=csv, since=since, folder=folder)


def test_cohort_since_page_matches_the_risk_list_file(cohort_since, open_page):
    from playwright.sync_api import expect

    csv, since = cohort_since.csv, cohort_since.since
    assert {"risk_change", "tier_since", "change_reason"} <= set(csv.columns)
    scored = csv["scored"] == "true"
    change = pd.to_numeric(csv["risk_change"], errors="coerce")
    risen = cohort_since.outcome.risen_points
    expected = {
        "to-high": (csv["risk_tier"] == "high") & (csv["tier_since"] != "high"),
        "risen": scored & (change >= risen - 1e-9),
        "left-high": (csv["tier_since"] == "high") & (csv["risk_tier"] != "high"),
        "new": scored & change.isna(),
    }
    page = open_page(cohort_since.url)
    assert f"Changes since {since}" in page.locator("header").inner_text()
    page.click("#tab-changes")
    for key, mask in expected.items():
        count = page.locator(f"#chg-{key}-title .chg-count").inner_text()
        assert count == f"({int(mask.sum())})", key
        if mask.any():
            shown = _ids(page.locator(f"#chg-{key} tbody"))
            assert sorted(shown) == sorted(csv.loc[mask, "client_id"]), key
    first = next((k for k, mask in expected.items() if mask.any()), None)
    if first is not None:
        row = page.locator(f"#chg-{first} tbody tr").first
        client = row.locator("th.client").inner_text()
        row.click()
        expect(page.locator("#detail-title")).to_have_text(f"Client {client}")
        page.keyboard.press("Escape")
    # the change column says what the file says
    page.click("#tab-list")
    top = page.locator("#risk-table tbody tr").first
    rec = csv.iloc[0]
    want = points_change(float(rec.risk_change)) if rec.risk_change else "new"
    assert top.locator("td.chg").inner_text() == (want if rec.scored == "true" else "")

    # the folder of pages: each therapist's page holds their clients and nobody else's
    from pipeline.reports.caseload_pages import therapist_file_name

    index = write_report_dir(cohort_since.outcome, cohort_since.folder / "pages")
    ids = list(dict.fromkeys(csv["therapist_id"]))
    text = index.read_text(encoding="utf-8")
    assert not [c for c in csv["client_id"] if c in text]
    for therapist in ids:
        mine = (index.parent / therapist_file_name(therapist, ids)).read_text(encoding="utf-8")
        own = csv["therapist_id"] == therapist
        assert all(c in mine for c in csv.loc[own, "client_id"])
        assert not [c for c in csv.loc[~own, "client_id"] if c in mine], therapist


def test_a_long_group_lists_its_first_hundred_until_asked(open_page, tmp_path):
    rows = [
        _since_row(_row(f"N{k:03d}", k + 1, 0.3, "medium"), None, "", NEW, 0.1) for k in range(150)
    ]
    outcome = since_outcome()
    outcome.risk_list = pd.DataFrame(rows, columns=RISK_LIST_COLUMNS + SINCE_COLUMNS)
    page = open_page(write_report(outcome, tmp_path / "risk.html").as_uri())
    page.click("#tab-changes")
    group = page.locator("#chg-new")
    assert group.locator("tbody tr").count() == 100
    assert group.locator(".more-text").inner_text() == "Listed 100 of 150."
    group.locator("button.chg-all").click()
    assert group.locator("tbody tr").count() == 150 and group.locator(".more").is_hidden()
    assert page.evaluate("document.activeElement.querySelector('th').textContent") == "N100"
    assert page.locator("#chg-to-high p.empty").inner_text() == "None."
