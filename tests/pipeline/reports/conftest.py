"""The browser the page tests drive: Debian's Chromium through Playwright, one per module.

Without Chromium or Playwright the browser tests are skipped, and fail on CI.
"""

from __future__ import annotations

import os

import pytest

from pipeline.reports.risk_page import CHROMIUM_ARGS, find_chromium

MISSING_BROWSER = (
    "Chromium or Playwright is missing: run `make browser` (Debian's chromium) and "
    "`make install` (Playwright)"
)


@pytest.fixture(scope="module")
def browser():
    chromium = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING_BROWSER)
        pytest.skip(MISSING_BROWSER)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser):
    """``open_page(url)`` opens a page and returns it once its script is ready (``ready=False``
    for a page without one); at the end of the test every page it opened is closed, and none
    may have raised an error or opened a dialog."""
    opened, errors = [], []

    def open_(url: str, ready: bool = True):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on("dialog", lambda d: errors.append(f"a script opened a dialog: {d.message}"))
        page.goto(url)
        if ready:
            page.wait_for_selector("body[data-ready]")
        opened.append(page)
        return page

    yield open_
    for page in opened:
        page.close()
    assert errors == []
