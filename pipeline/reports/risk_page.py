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

Scored with ``--since DATE`` (the outcome's ``since``), the table gains a change column and
the page a "What changed" view: the clients new to high, risen by at least
``risen_points``, no longer high, and new to the caseload (`change_flags`). Its tables are
built when the view first opens, each listing its first 100 clients until asked for all.
The same page made from one therapist's rows is that therapist's page
(`pipeline.reports.caseload_pages`).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd

from models.caseload import change_groups
from pipeline.io.output import atomic_write, write_text
from pipeline.reports.formatters import points_change, risk_percent, rounded
from pipeline.reports.templating import render
from pipeline.reports.vocabulary import (
    CHANGE_GROUPS,
    CHANGE_HELP,
    CHANGE_TITLES,
    SCORED_TIERS,
    TIER_ICONS,
    TIER_LABELS,
    horizon_label,
    tier_table,
)

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "SCREENSHOT_VIEWPORT",
    "TIER_ICONS",
    "TIER_LABELS",
    "change_flags",
    "find_chromium",
    "header_view",
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
# a page is ready once its script says so; a page without a script (the index) at once
_READY = "body[data-ready], body:not(:has(script))"

_RATINGS = ("wai_bond", "wai_goal", "wai_task", "srs_total")
_DEFAULT_SCALES = {"wai": [1.0, 5.0], "srs": [0.0, 40.0], "srs_cutoff": None}
# a rise in risk of at least this much counts as "risen" when the outcome does not say
RISEN_POINTS = 0.10


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


def since_of(outcome) -> pd.Timestamp | None:
    """The date the changes are measured from, or None when the list has no since columns."""
    since = getattr(outcome, "since", None)
    if since is None or pd.isna(since) or "risk_change" not in outcome.risk_list:
        return None
    return pd.Timestamp(since)


def risen_points(outcome) -> float:
    """The rise in risk (0-1) that counts as risen: the outcome's, else 0.10."""
    value = rounded(getattr(outcome, "risen_points", None), 6)
    return RISEN_POINTS if value is None else value


def change_flags(outcome) -> pd.DataFrame | None:
    """Which clients fall in each group of the "What changed" view; None without ``since``.

    One boolean column per group of `CHANGE_GROUPS`, rows as in the risk list:

    - ``to-high``: high now and not high on the since date (new clients included);
    - ``risen``: ``risk_change`` of at least `risen_points`;
    - ``left-high``: high on the since date and not high now (or not scored now);
    - ``new``: scored now with no risk then (not in the caseload on the since date).
    """
    if since_of(outcome) is None:
        return None
    rl = outcome.risk_list
    if "scored" not in rl:
        rl = rl.assign(scored=_scored_flags(rl))
    if "tier_since" not in rl:
        rl = rl.assign(tier_since="")
    return change_groups(rl, risen_points(outcome))


def _change_groups(outcome, flags: pd.DataFrame) -> dict[str, list[int]]:
    """Each group's row positions: risen by the size of the rise, the others in rank order."""
    positions = pd.Series(range(len(flags)), index=flags.index)
    change = pd.to_numeric(outcome.risk_list["risk_change"], errors="coerce")
    groups = {}
    for key in CHANGE_GROUPS:
        chosen = positions[flags[key]]
        if key == "risen":
            by = pd.DataFrame({"change": change[flags[key]], "at": chosen})
            chosen = by.sort_values(["change", "at"], ascending=[False, True])["at"]
        groups[key] = [int(i) for i in chosen]
    return groups


def _change_fields(rec: dict, scored: bool, risk: float | None) -> dict:
    """A row's since fields: change, tier then, risk then, whether new, the change in words."""
    change = rounded(rec.get("risk_change"), 4) if scored else None
    new = scored and change is None
    then = None if change is None or risk is None else round(risk - change, 4)
    was = _text(rec.get("tier_since"))
    return {
        "chg": change,
        "chgtxt": "new" if new else points_change(change),
        "was": was if was in TIER_LABELS else "",
        "thenpct": risk_percent(then),
        "new": new,
        "cr": _text(rec.get("change_reason")),
    }


def page_data(outcome) -> dict:
    """What the page embeds: the listed clients' rows and details, the scales and the tiers.

    Details are matched to the rows by client id and kept in the same order, so nothing
    about a client outside the list can reach the page. With ``since`` the rows also carry
    what changed and ``changes`` lists the "What changed" groups by row position.
    """
    rl = outcome.risk_list
    details = getattr(outcome, "details", None) or {}
    since = since_of(outcome)
    scored = _scored_flags(rl).tolist()
    rows, detail = [], []
    for i, rec in enumerate(rl.to_dict("records")):
        client = _text(rec.get("client_id"))
        risk = rounded(rec.get("risk"), 4) if scored[i] else None
        soon = rounded(rec.get("risk_within_horizon"), 4) if scored[i] else None
        tier = _text(rec.get("risk_tier")) if scored[i] else ""
        found = details.get(client) if scored[i] else None
        if found is None and scored[i]:
            found = details.get(rec.get("client_id"))
        row = {
            "id": client,
            "th": _text(rec.get("therapist_id")),
            "site": _text(rec.get("site")),
            "risk": risk,
            "pct": risk_percent(risk),
            "soon": soon,
            "soonpct": risk_percent(soon),
            "tier": tier if tier in TIER_LABELS else "",
            "rank": int(rec["rank"]) if rounded(rec.get("rank")) is not None else i + 1,
            "reasons": [
                text
                for text in (_text(rec.get(c)) for c in ("reason_1", "reason_2", "reason_3"))
                if text
            ],
            "ctx": "" if found is None else _text(found.get("context")),
            "n": int(rounded(rec.get("sessions_attended")) or 0),
            "last": _text(rec.get("last_attended")),
            "scored": bool(scored[i]),
            "why": _text(rec.get("not_scored_reason")),
        }
        if since is not None:
            row |= _change_fields(rec, bool(scored[i]), risk)
        rows.append(row)
        detail.append(
            None
            if found is None
            else {
                "t": _trajectory(found.get("trajectory")),
                "e": _explanation(found.get("explanation")),
            }
        )
    data = {"rows": rows, "details": detail, "scales": _scales(outcome), "tiers": tier_table()}
    if since is not None:
        groups = _change_groups(outcome, change_flags(outcome))
        data["changes"] = {"since": f"{since:%Y-%m-%d}", "groups": groups}
    return data


def changes_view(outcome) -> dict | None:
    """The "What changed" groups for the template: key, title, help and count; or None."""
    flags = change_flags(outcome)
    if flags is None:
        return None
    n = f"{round(risen_points(outcome) * 100, 1):g}"
    return {
        "since": f"{since_of(outcome):%Y-%m-%d}",
        "groups": [
            {
                "key": key,
                "title": CHANGE_TITLES[key].format(n=n),
                "help": CHANGE_HELP[key].format(n=n),
                "n": int(flags[key].sum()),
            }
            for key in CHANGE_GROUPS
        ],
    }


def header_view(outcome) -> dict:
    """What the page's header shows: counts by tier, why clients were not scored, drift.

    Parameters
    ----------
    outcome
        The scoring outcome: ``risk_list`` and optionally ``as_of``, ``model_version``,
        ``tier_rule``, ``drift``, ``horizon_days`` and ``since``.

    Returns
    -------
    dict
        Plain values for ``templates/risk_header.html.j2``; the template escapes them.
        ``since`` is the date the changes are measured from (``""`` without one) and
        ``horizon`` the heading of the risk within the horizon.
    """
    rl = outcome.risk_list
    scored = _scored_flags(rl)
    tiers = rl.loc[scored, "risk_tier"].astype(str).value_counts()
    reasons = rl.loc[~scored, "not_scored_reason"].map(_text).replace("", "reason not given")
    as_of = getattr(outcome, "as_of", None)
    changes = changes_view(outcome)
    horizon = horizon_label(getattr(outcome, "horizon_days", None))
    return {
        "as_of": "" if as_of is None or pd.isna(as_of) else f"{pd.Timestamp(as_of):%Y-%m-%d}",
        "model": _text(getattr(outcome, "model_version", "")),
        "clients": len(rl),
        "tiers": [(tier, int(tiers.get(tier, 0))) for tier in SCORED_TIERS],
        "not_scored": int((~scored).sum()),
        "rule": _text(getattr(outcome, "tier_rule", "")),
        "reasons": [(str(reason), int(n)) for reason, n in reasons.value_counts().items()],
        "drift": drift_view(getattr(outcome, "drift", None)),
        "horizon": horizon,
        "horizon_words": "soon" if horizon == "Soon" else f"{horizon.lower()} of the as-of date",
        "since": "" if changes is None else changes["since"],
        "changes": [] if changes is None else changes["groups"],
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


def render_report(outcome, *, therapist: str | None = None, back: str = "") -> str:
    """The risk list page as one HTML document (header, ranked table, therapist view).

    With ``since`` on the outcome the table gains a change column and the page a "What
    changed" view. ``therapist`` makes it one therapist's page: their name in the title
    and no "By therapist" view (the outcome should hold only their clients, see
    `pipeline.reports.caseload_pages`); ``back`` is a link to the page listing them all.
    """
    header = header_view(outcome)
    return render(
        "risk_page.html.j2",
        header=header,
        data=page_data(outcome),
        changes=changes_view(outcome),
        therapist=therapist,
        back=back,
        tier_labels=TIER_LABELS,
        tier_icons=TIER_ICONS,
    )


def write_report(outcome, path: Path, **view) -> Path:
    """Write the page atomically; returns ``path``. ``view`` as for `render_report`."""
    return write_text(render_report(outcome, **view), Path(path))


def find_chromium() -> str | None:
    """Debian's Chromium (``make browser`` installs it), or ``None``."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


def write_screenshot(html_path: Path, png_path: Path, click: str | None = None) -> Path | None:
    """A 1280x900 screenshot of a page, or ``None`` when Playwright or Chromium is missing.

    The risk page is shot once its script has built the table; a page without a script
    (the index of `pipeline.reports.caseload_pages`) once it has loaded.

    ``click`` is a CSS selector to click once the page is ready, e.g. ``#tab-changes`` for
    the "What changed" view (a screenshot paints a fresh frame). Returns ``None`` also
    when the browser cannot start or the selector matches nothing, so a demo without a
    browser still finishes; the page itself is unaffected.
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
                page.wait_for_selector(_READY, timeout=30_000)
                if click is not None:
                    page.click(click, timeout=5_000)
                page.screenshot(path=str(tmp), type="png")
            finally:
                browser.close()

    try:
        return atomic_write(Path(png_path), shoot)
    except PlaywrightError:
        return None
