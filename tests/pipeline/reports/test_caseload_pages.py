"""The report folder: an index for the lead and one page per therapist, none carrying
another therapist's clients; file names safe and unique for any therapist id."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata

import pandas as pd
import pytest

from pipeline.reports.caseload_pages import (
    INDEX_NAME,
    render_index,
    restrict,
    therapist_file_name,
    therapist_ids,
    write_report_dir,
)
from tests.pipeline.reports.test_risk_changes import GROUPS, since_outcome
from tests.pipeline.reports.test_risk_page import _blob, tiny_outcome

# client ids that cannot turn up in a page by chance (no word, number or markup holds them)
DISTINCT = {c: f"cl{c}q{hashlib.sha256(c.encode()).hexdigest()[:8]}" for c in "ABCDEFGH"}
NASTY = [
    "../x",
    "a/b",
    "A1",
    "a1",
    "",
    None,
    "CON",
    "con.txt",
    "nul",
    ".",
    "..",
    "Dr. Smith/../x",
    "Thérèse Ñúñez",
    "治疗师",
    "x" * 300,
    "T 1",
    "T-1",
    "T_1",
    "~tilde",
    'a\\b:c*d?e"f<g>h|i',
    " leading and trailing ",
    "line\nbreak\x00nul",
]
SAFE_NAME = re.compile(r"therapist-[A-Za-z0-9_-]*(~[0-9a-f]{10})?\.html")


def _pages(folder) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}


def test_plain_ids_keep_their_names_and_others_are_hashed():
    ids = ["T01", "t-2", "Dr. Smith/../x", ""]
    assert therapist_file_name("T01", ids) == "therapist-T01.html"
    assert therapist_file_name("t-2", ids) == "therapist-t-2.html"
    digest = hashlib.sha256(b"Dr. Smith/../x").hexdigest()[:10]
    assert therapist_file_name("Dr. Smith/../x", ids) == f"therapist-Dr-Smith-x~{digest}.html"
    blank = hashlib.sha256(b"").hexdigest()[:10]
    assert therapist_file_name("", ids) == therapist_file_name(None, ids)
    assert therapist_file_name("", ids) == f"therapist-unnamed~{blank}.html"
    # ids that differ only by case would share a file on a case-insensitive file system
    assert therapist_file_name("A1", ["A1"]) == "therapist-A1.html"
    assert therapist_file_name("A1", ["A1", "a1"]).startswith("therapist-A1~")


def test_file_names_are_safe_and_unique_for_any_ids():
    names = [therapist_file_name(t, NASTY) for t in NASTY]
    # None and "" are one therapist (no id); every other id has its own file
    assert len(set(names)) == len(NASTY) - 1
    assert len({n.lower() for n in names}) == len(set(names))  # also ignoring case
    for name in names:
        assert SAFE_NAME.fullmatch(name), name
        assert len(name.encode()) <= 100
        assert name != INDEX_NAME
        stem = name.removesuffix(".html").split("~")[0].removeprefix("therapist-")
        assert stem not in ("", ".", "..")
    # stable: the same id gets the same name in every run
    assert names == [therapist_file_name(t, list(reversed(NASTY))) for t in NASTY]
    accented = therapist_file_name("Thérèse Ñúñez", NASTY)
    assert accented.startswith("therapist-Therese-Nunez~")
    assert unicodedata.is_normalized("NFC", accented)


def test_restrict_keeps_one_therapists_rows_and_details():
    outcome = since_outcome()
    mine = restrict(outcome, "T2")
    assert mine.risk_list["client_id"].tolist() == ["B", "C"]
    assert mine.risk_list["rank"].tolist() == [1, 2]
    assert set(mine.details) == {"B", "C"}
    assert mine.since == outcome.since and mine.horizon_days == 60
    assert len(outcome.risk_list) == 8 and "GHOST" in outcome.details  # left alone

    @dataclasses.dataclass(frozen=True)
    class Frozen:
        risk_list: pd.DataFrame
        details: dict
        as_of: pd.Timestamp

    frozen = Frozen(outcome.risk_list, outcome.details, outcome.as_of)
    cut = restrict(frozen, "T3")
    assert isinstance(cut, Frozen) and cut.risk_list["client_id"].tolist() == ["F", "G"]
    assert set(cut.details) == {"F", "G"}


def test_no_page_carries_another_therapists_clients(tmp_path):
    outcome = since_outcome(ids=DISTINCT)
    index = write_report_dir(outcome, tmp_path / "report")
    assert index == tmp_path / "report" / INDEX_NAME
    pages = _pages(tmp_path / "report")
    ids = therapist_ids(outcome)
    assert set(pages) == {INDEX_NAME} | {therapist_file_name(t, ids) for t in ids}
    rl = outcome.risk_list
    for therapist in ids:
        page = pages[therapist_file_name(therapist, ids)]
        own = set(rl.loc[rl["therapist_id"] == therapist, "client_id"])
        others = set(rl["client_id"]) - own
        assert own and all(client in page for client in own)
        leaked = [client for client in others if client in page]
        assert not leaked, f"{therapist}'s page names {leaked}"
        blob = _blob(page)
        assert {r["id"] for r in blob["rows"]} == own
        assert not any(client in json.dumps(blob["details"]) for client in others)
        assert "GHOST" not in page
        assert "id='tab-therapists'" not in page and "id='f-therapist'" not in page
        assert f"<a href='{INDEX_NAME}'>" in page
    # the index names therapists and sites, never a client
    assert not [client for client in rl["client_id"] if client in pages[INDEX_NAME]]
    assert "GHOST" not in pages[INDEX_NAME]


def test_the_index_counts_tiers_and_changes_per_therapist_and_site():
    outcome = since_outcome()
    ids = therapist_ids(outcome)
    names = {t: therapist_file_name(t, ids) for t in ids}
    page = render_index(outcome, names)
    rows = dict(re.findall(r"<tr data-therapist='([^']*)'>(.*?)</tr>", page))
    assert list(rows) == ["T1", "T3", "T2"]  # most high-risk first, then medium

    def cells(row: str) -> dict[str, int]:
        return {k: int(v) for k, v in re.findall(r"data-col='(\w+)'>(\d+)<", row)}

    assert cells(rows["T1"]) == {
        "high": 1,
        "medium": 1,
        "low": 0,
        "none": 2,
        "all": 4,
        "to_high": 1,
        "risen": 2,
    }
    assert cells(rows["T3"]) == dict(high=1, medium=0, low=1, none=0, all=2, to_high=1, risen=0)
    assert f"<a href='{names['T2']}'>T2</a>" in rows["T2"]
    sites = dict(re.findall(r"<tr data-site='([^']*)'>(.*?)</tr>", page))
    assert set(sites) == {"north", "south", "east", ""}
    assert cells(sites["east"])["to_high"] == 1 and cells(sites["north"])["all"] == 4
    assert "(no site)" in sites[""]
    total = cells(re.search(r"<tfoot>(.*?)</tfoot>", page, re.S).group(1))
    assert total["all"] == 8 and total["to_high"] == len(GROUPS["to-high"])
    assert "Changes since 2026-03-07" in page


def test_the_index_without_since_has_no_change_columns(tmp_path):
    index = write_report_dir(tiny_outcome(), tmp_path)
    page = index.read_text(encoding="utf-8")
    assert "data-col='to_high'" not in page and "Changes since" not in page
    assert "<script" not in page and "http" not in page
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        INDEX_NAME,
        "therapist-T1.html",
        "therapist-T2.html",
    ]  # no temporary file left


def test_a_blank_or_hostile_therapist_id_gets_a_page(tmp_path):
    outcome = tiny_outcome()
    risk_list = outcome.risk_list.copy()
    risk_list["therapist_id"] = ["<b>x</b>/../..", "<b>x</b>/../..", None, "", "T1"]
    index = write_report_dir(
        type(outcome)(**{**vars(outcome), "risk_list": risk_list}), tmp_path / "out"
    )
    pages = _pages(tmp_path / "out")
    assert len(pages) == 4  # the index, "<b>x</b>/../..", no therapist, T1
    assert all(SAFE_NAME.fullmatch(n) for n in pages if n != INDEX_NAME)
    text = index.read_text(encoding="utf-8")
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text
    assert "(no therapist)" in text
    blank = pages[therapist_file_name("", ["", "T1"])]
    assert {r["id"] for r in _blob(blank)["rows"]} == {"C", "D"}


@pytest.fixture
def report_dir(tmp_path):
    outcome = since_outcome(ids=DISTINCT)
    return write_report_dir(outcome, tmp_path / "report"), outcome


def test_the_index_links_to_each_therapists_page_and_back(open_page, report_dir):
    from playwright.sync_api import expect

    index, outcome = report_dir
    rl = outcome.risk_list
    page = open_page(index.as_uri(), ready=False)
    links = page.locator("#therapist-index tbody a")
    assert links.all_inner_texts() == ["T1", "T3", "T2"]
    for therapist in ("T1", "T3", "T2"):
        row = page.locator(f"#therapist-index tr[data-therapist='{therapist}']")
        shown = int(row.locator("td[data-col='all']").inner_text())
        own = rl.loc[rl["therapist_id"] == therapist, "client_id"].tolist()
        assert shown == len(own)
        row.locator("a").click()
        page.wait_for_selector("body[data-ready]")
        assert page.url.endswith(therapist_file_name(therapist, ["T1", "T2", "T3"]))
        expect(page.locator("h1")).to_have_text(f"Dropout risk list: {therapist}")
        assert page.locator("#risk-table tbody th.client").all_inner_texts() == own
        assert page.locator("#tab-therapists").count() == 0
        assert page.locator("#risk-table tbody td:nth-child(3)").all_inner_texts() == (
            [therapist] * len(own)
        )
        page.locator("#risk-table tbody tr").first.click()
        expect(page.locator("#detail-title")).to_have_text(f"Client {own[0]}")
        page.keyboard.press("Escape")
        page.click("a[href='index.html']")
        expect(page.locator("h1")).to_have_text("Dropout risk by therapist")


def test_a_therapists_page_has_its_own_what_changed(open_page, report_dir):
    index, _ = report_dir
    page = open_page((index.parent / "therapist-T3.html").as_uri())
    page.click("#tab-changes")
    assert page.locator("#chg-new-title .chg-count").inner_text() == "(2)"
    assert page.locator("#chg-left-high-title .chg-count").inner_text() == "(0)"
    assert page.locator("#chg-new tbody th.client").all_inner_texts() == [
        DISTINCT["F"],
        DISTINCT["G"],
    ]
    page.locator("#tab-changes").press("ArrowRight")  # two tabs only: back to the list
    assert page.locator("#panel-list").is_visible()
