"""The clinical lead's risk list page: one self-contained HTML file (issue 4).

Clinical leads review a caseload weekly and decide whom to call. The page opens from disk
in any browser with no network: all CSS and JavaScript are inline and the data is one
JSON blob in ``<script type="application/json" id="data">``. Only the caseload in the risk
list is embedded (its rows and, for scored clients, their trajectory and explanation),
never other clients or training data.

The page is ``templates/risk_page.html.j2`` with its header in ``risk_header.html.j2``;
the styles and the script are ``static/risk_page.css`` and ``static/risk_page.js``. The
script builds each table row once and keeps it; sorting and filtering reorder the built
rows. Laying out a table costs about 0.3 ms a row in Chromium, so the first 200 matching
rows are in the document at once and more follow as the reader scrolls (or asks for all;
printing lists all). A caseload of 5,000 clients stays quick: ``bench/page.py``.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd

from pipeline.io.output import atomic_write, write_text
from pipeline.reports.formatters import risk_percent, rounded
from pipeline.reports.templating import render
from pipeline.reports.vocabulary import SCORED_TIERS, TIER_ICONS, TIER_LABELS, tier_table

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "SCREENSHOT_VIEWPORT",
    "TIER_ICONS",
    "TIER_LABELS",
    "find_chromium",
    "page_data",
    "render_report",
    "risk_percent",
    "write_report",
    "write_screenshot",
]

# Debian's package; Playwright drives it instead of a browser build of its own
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]
SCREENSHOT_VIEWPORT = {"width": 1280, "height": 900}

_RATINGS = ("wai_bond", "wai_goal", "wai_task", "srs_total")
_DEFAULT_SCALES = {"wai": [1.0, 5.0], "srs": [0.0, 40.0], "srs_cutoff": None}


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return "" if pd.isna(value) else str(value)


def _scored_flags(frame: pd.DataFrame) -> pd.Series:
    if "scored" in frame:
        return frame["scored"].astype(str).str.lower().isin(["true", "1"])
    return frame["risk"].notna()


def _trajectory(points: list[dict]) -> list[list]:
    """Appointments as compact rows: date, status, session, bond, goal, task, SRS, ruptures."""
    rows = []
    for p in points or []:
        session = p.get("session")
        rows.append(
            [
                _text(p.get("date")),
                _text(p.get("status")),
                None if session is None or pd.isna(session) else int(session),
                *(rounded(p.get(scale)) for scale in _RATINGS),
                [s for s in (p.get("ruptures") or []) if s in _RATINGS],
            ]
        )
    return rows


def _explanation(items: list[dict]) -> list[list]:
    """``[points, words]`` pairs, largest magnitude first."""
    pairs = [
        [rounded(item.get("points"), 1) or 0.0, _text(item.get("words"))] for item in items or []
    ]
    return sorted(pairs, key=lambda pair: -abs(pair[0]))


def _scales(outcome) -> dict:
    scales = dict(_DEFAULT_SCALES)
    scales.update(getattr(outcome, "scales", None) or {})
    return {
        "wai": [rounded(v) for v in scales["wai"]],
        "srs": [rounded(v) for v in scales["srs"]],
        "srs_cutoff": rounded(scales.get("srs_cutoff")),
    }


def page_data(outcome) -> dict:
    """What the page embeds: the listed clients' rows and details, the scales and the tiers.

    Details are matched to the rows by client id and kept in the same order, so nothing
    about a client outside the list can reach the page.
    """
    rl = outcome.risk_list
    details = getattr(outcome, "details", None) or {}
    scored = _scored_flags(rl).tolist()
    rows, detail = [], []
    for i, rec in enumerate(rl.to_dict("records")):
        client = _text(rec.get("client_id"))
        risk = rounded(rec.get("risk"), 4) if scored[i] else None
        tier = _text(rec.get("risk_tier")) if scored[i] else ""
        rows.append(
            {
                "id": client,
                "th": _text(rec.get("therapist_id")),
                "site": _text(rec.get("site")),
                "risk": risk,
                "pct": risk_percent(risk),
                "tier": tier if tier in TIER_LABELS else "",
                "rank": int(rec["rank"]) if rounded(rec.get("rank")) is not None else i + 1,
                "reasons": [
                    text
                    for text in (_text(rec.get(c)) for c in ("reason_1", "reason_2", "reason_3"))
                    if text
                ],
                "n": int(rounded(rec.get("sessions_attended")) or 0),
                "last": _text(rec.get("last_attended")),
                "scored": bool(scored[i]),
                "why": _text(rec.get("not_scored_reason")),
            }
        )
        found = details.get(client) if scored[i] else None
        if found is None and scored[i]:
            found = details.get(rec.get("client_id"))
        detail.append(
            None
            if found is None
            else {
                "t": _trajectory(found.get("trajectory")),
                "e": _explanation(found.get("explanation")),
            }
        )
    return {"rows": rows, "details": detail, "scales": _scales(outcome), "tiers": tier_table()}


def header_view(outcome) -> dict:
    """What the page's header shows: counts by tier, why clients were not scored, drift.

    Parameters
    ----------
    outcome
        The scoring outcome: ``risk_list`` and optionally ``as_of``, ``model_version``,
        ``tier_rule`` and ``drift``.

    Returns
    -------
    dict
        Plain values for ``templates/risk_header.html.j2``; the template escapes them.
    """
    rl = outcome.risk_list
    scored = _scored_flags(rl)
    tiers = rl.loc[scored, "risk_tier"].astype(str).value_counts()
    reasons = rl.loc[~scored, "not_scored_reason"].map(_text).replace("", "reason not given")
    as_of = getattr(outcome, "as_of", None)
    return {
        "as_of": "" if as_of is None or pd.isna(as_of) else f"{pd.Timestamp(as_of):%Y-%m-%d}",
        "model": _text(getattr(outcome, "model_version", "")),
        "clients": len(rl),
        "tiers": [(tier, int(tiers.get(tier, 0))) for tier in SCORED_TIERS],
        "not_scored": int((~scored).sum()),
        "rule": _text(getattr(outcome, "tier_rule", "")),
        "reasons": [(str(reason), int(n)) for reason, n in reasons.value_counts().items()],
        "drift": drift_view(getattr(outcome, "drift", None)),
    }


def drift_view(report) -> dict:
    """The batch's drift check for the header: which features moved against the training data.

    ``state`` is ``unchecked`` (the model stores no training summary), ``not judged``
    (the batch was too small; ``note`` says why), ``quiet`` (no feature moved) or
    ``moved`` (``moved`` lists them, ``alarm`` says whether any is in alarm).
    """
    if report is None:
        return {"state": "unchecked"}
    if not report.judged:
        return {"state": "not judged", "note": report.note}
    moved = report.moved()
    if not len(moved):
        return {"state": "quiet", "n_rows": report.n_rows}
    return {
        "state": "moved",
        "alarm": bool(report.alarm),
        "moved": [
            {
                "tier": "high" if rec["status"] == "alarm" else "medium",
                "status": str(rec["status"]),
                "text": report.describe(rec),
            }
            for rec in moved.to_dict("records")
        ],
    }


def render_report(outcome) -> str:
    """The risk list page as one HTML document (header, ranked table, therapist view)."""
    return render(
        "risk_page.html.j2",
        header=header_view(outcome),
        data=page_data(outcome),
        tier_labels=TIER_LABELS,
        tier_icons=TIER_ICONS,
    )


def write_report(outcome, path: Path) -> Path:
    """Write the page atomically; returns ``path``."""
    return write_text(render_report(outcome), Path(path))


def find_chromium() -> str | None:
    """Debian's Chromium (``make browser`` installs it), or ``None``."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


def write_screenshot(html_path: Path, png_path: Path) -> Path | None:
    """A 1280x900 screenshot of the page, or ``None`` when Playwright or Chromium is missing.

    Returns ``None`` also when the browser cannot start, so a demo without a browser still
    finishes; the page itself is unaffected.
    """
    chromium = find_chromium()
    if chromium is None:
        return None
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    url = Path(html_path).resolve().as_uri()

    def shoot(tmp: Path) -> None:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=SCREENSHOT_VIEWPORT)
                page.goto(url)
                page.wait_for_selector("body[data-ready]", timeout=30_000)
                page.screenshot(path=str(tmp), type="png")
            finally:
                browser.close()

    try:
        return atomic_write(Path(png_path), shoot)
    except PlaywrightError:
        return None
