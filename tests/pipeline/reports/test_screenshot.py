"""Screenshots of the risk page, also of a view a click opens (the demo's "What changed").

`write_screenshot` starts Playwright itself, which cannot run beside another Playwright in
the same thread, so these tests are in a module of their own that never opens the
`browser` fixture.
"""

from __future__ import annotations

import os
import struct

import pytest

from pipeline.reports.risk_page import find_chromium, write_report, write_screenshot
from tests.pipeline.reports.conftest import MISSING_BROWSER
from tests.pipeline.reports.test_risk_changes import since_outcome

PNG = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG)
    return struct.unpack(">II", png[16:24])


@pytest.fixture
def chromium():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    else:
        found = find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING_BROWSER)
        pytest.skip(MISSING_BROWSER)
    return found


def test_a_screenshot_after_a_click_shows_another_view(chromium, tmp_path):
    html = write_report(since_outcome(), tmp_path / "risk.html")
    plain = write_screenshot(html, tmp_path / "risk.png")
    changes = write_screenshot(html, tmp_path / "changes.png", click="#tab-changes")
    assert plain == tmp_path / "risk.png" and changes == tmp_path / "changes.png"
    assert _size(plain.read_bytes()) == _size(changes.read_bytes()) == (1280, 900)
    assert plain.read_bytes() != changes.read_bytes()
    # a selector that matches nothing gives no screenshot, and no error
    assert write_screenshot(html, tmp_path / "none.png", click="#no-such-tab") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changes.png", "risk.html", "risk.png"]


def test_no_browser_means_no_screenshot_after_a_click_either(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.reports.risk_page.find_chromium", lambda: None)
    html = write_report(since_outcome(), tmp_path / "risk.html")
    assert write_screenshot(html, tmp_path / "risk.png", click="#tab-changes") is None
    assert not (tmp_path / "risk.png").exists()
