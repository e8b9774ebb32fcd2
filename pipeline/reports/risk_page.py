"""The clinical lead's risk list page: one self-contained HTML file (issue 4).

Clinical leads review a caseload weekly and decide whom to call. The page opens from disk
in any browser with no network: all CSS and JavaScript are inline and the data is one
JSON blob in ``<script type="application/json" id="data">``. Only the caseload in the risk
list is embedded (its rows and, for scored clients, their trajectory and explanation),
never other clients or training data.

The script builds each table row once and keeps it; sorting and filtering reorder the
built rows. Laying out a table costs about 0.3 ms a row in Chromium, so the first 200
matching rows are in the document at once and more follow as the reader scrolls (or asks
for all; printing lists all). A caseload of 5,000 clients stays quick: ``bench/page.py``.
"""

from __future__ import annotations

import html
import json
import math
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

from pipeline.io.output import atomic_write, write_text

# Debian's package; Playwright drives it instead of a browser build of its own
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]
SCREENSHOT_VIEWPORT = {"width": 1280, "height": 900}

TIER_LABELS = {"high": "High", "medium": "Medium", "low": "Low", "": "Not scored"}
# a shape beside the word, so the tier never rests on colour alone
TIER_ICONS = {"high": "▲", "medium": "◆", "low": "○", "": "–"}
_RATINGS = ("wai_bond", "wai_goal", "wai_task", "srs_total")
_DEFAULT_SCALES = {"wai": [1.0, 5.0], "srs": [0.0, 40.0], "srs_cutoff": None}


def risk_percent(risk) -> str:
    """Risk as the page prints it: a whole percent rounded half up, ``''`` when not scored.

    Half up on the decimal value as written in the risk list (0.435 is 44%), not on its
    binary approximation; ``<1%`` and ``>99%`` keep a tiny or near-certain risk from
    reading as impossible or certain.
    """
    if risk is None or (isinstance(risk, float) and math.isnan(risk)) or pd.isna(risk):
        return ""
    value = Decimal(str(float(risk)))
    pct = int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if pct == 0 and value > 0:
        return "<1%"
    if pct == 100 and value < 1:
        return ">99%"
    return f"{pct}%"


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return "" if pd.isna(value) else str(value)


def _number(value, digits: int = 2):
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


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
                *(_number(p.get(scale)) for scale in _RATINGS),
                [s for s in (p.get("ruptures") or []) if s in _RATINGS],
            ]
        )
    return rows


def _explanation(items: list[dict]) -> list[list]:
    """``[points, words]`` pairs, largest magnitude first."""
    pairs = [
        [_number(item.get("points"), 1) or 0.0, _text(item.get("words"))] for item in items or []
    ]
    return sorted(pairs, key=lambda pair: -abs(pair[0]))


def _scales(outcome) -> dict:
    scales = dict(_DEFAULT_SCALES)
    scales.update(getattr(outcome, "scales", None) or {})
    return {
        "wai": [_number(v) for v in scales["wai"]],
        "srs": [_number(v) for v in scales["srs"]],
        "srs_cutoff": _number(scales.get("srs_cutoff")),
    }


def page_data(outcome) -> dict:
    """What the page embeds: the listed clients' rows and details, and the rating scales.

    Details are matched to the rows by client id and kept in the same order, so nothing
    about a client outside the list can reach the page.
    """
    rl = outcome.risk_list
    details = getattr(outcome, "details", None) or {}
    scored = _scored_flags(rl).tolist()
    rows, detail = [], []
    for i, rec in enumerate(rl.to_dict("records")):
        client = _text(rec.get("client_id"))
        risk = _number(rec.get("risk"), 4) if scored[i] else None
        tier = _text(rec.get("risk_tier")) if scored[i] else ""
        rows.append(
            {
                "id": client,
                "th": _text(rec.get("therapist_id")),
                "site": _text(rec.get("site")),
                "risk": risk,
                "pct": risk_percent(risk),
                "tier": tier if tier in TIER_LABELS else "",
                "rank": int(rec["rank"]) if _number(rec.get("rank")) is not None else i + 1,
                "reasons": [
                    text
                    for text in (_text(rec.get(c)) for c in ("reason_1", "reason_2", "reason_3"))
                    if text
                ],
                "n": int(_number(rec.get("sessions_attended")) or 0),
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
    return {"rows": rows, "details": detail, "scales": _scales(outcome)}


def _json_for_script(data: dict) -> str:
    """JSON that no text can end early: ``</`` and ``<!--`` cannot close or confuse the script."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def _header(outcome) -> str:
    esc = html.escape
    rl = outcome.risk_list
    scored = _scored_flags(rl)
    tiers = rl.loc[scored, "risk_tier"].astype(str).value_counts()
    reasons = rl.loc[~scored, "not_scored_reason"].map(_text).replace("", "reason not given")
    reasons = reasons.value_counts()
    as_of = getattr(outcome, "as_of", None)
    as_of_text = "" if as_of is None or pd.isna(as_of) else f"{pd.Timestamp(as_of):%Y-%m-%d}"
    model = _text(getattr(outcome, "model_version", ""))
    counts = [f"<li><strong>{len(rl)}</strong> active clients</li>"]
    for tier in ("high", "medium", "low"):
        counts.append(
            f"<li><span class='tier tier-{tier}'><span aria-hidden='true'>{TIER_ICONS[tier]}</span> "
            f"<strong>{int(tiers.get(tier, 0))}</strong> {tier}</span></li>"
        )
    counts.append(f"<li><strong>{int((~scored).sum())}</strong> not scored</li>")
    not_scored = ""
    if len(reasons):
        items = "".join(
            f"<li><strong>{int(n)}</strong>: {esc(str(reason))}</li>"
            for reason, n in reasons.items()
        )
        not_scored = f"<div class='not-scored'><h2 class='small'>Not scored, and why</h2><ul>{items}</ul></div>"
    drift_html = _drift(getattr(outcome, "drift", None))
    rule = _text(getattr(outcome, "tier_rule", ""))
    rule_html = f"<p class='rule'><strong>Tiers.</strong> {esc(rule)}</p>" if rule else ""
    return (
        "<header><h1>Dropout risk list</h1>"
        f"<p class='meta'>As of <strong>{esc(as_of_text)}</strong> · model <strong>{esc(model)}</strong></p>"
        f"<ul class='counts'>{''.join(counts)}</ul>{rule_html}{not_scored}{drift_html}"
        "<p class='help'>Risk is the model's estimate of the chance that the episode ends in "
        "dropout. The reasons are the factors that raise it most for that client. "
        "Select a row (click, or Enter) to see the client's ratings, appointments and the "
        "full explanation.</p></header>"
    )


def _drift(report) -> str:
    """The batch's drift check in words: which features moved against the training data."""
    esc = html.escape
    if report is None:
        return (
            "<div class='drift'><h2 class='small'>Data drift</h2><p>Not checked: this model "
            "stores no summary of its training data (retrain it).</p></div>"
        )
    if not report.judged:
        return (
            f"<div class='drift'><h2 class='small'>Data drift</h2><p>{esc(report.note)}</p></div>"
        )
    moved = report.moved()
    if not len(moved):
        return (
            "<div class='drift'><h2 class='small'>Data drift</h2><p>No feature moved: this "
            f"caseload ({report.n_rows} clients) looks like the data the model learnt from.</p></div>"
        )
    alarm = report.alarm
    items = "".join(
        f"<li><span class='tier tier-{'high' if rec['status'] == 'alarm' else 'medium'}'>"
        f"{esc(str(rec['status']))}</span> {esc(report.describe(rec))}</li>"
        for rec in moved.to_dict("records")
    )
    lead = (
        "Alarm: this caseload differs from the data the model learnt from; its risks may "
        "be less accurate until the data are checked or the model retrained."
        if alarm
        else "Some features moved a little against the data the model learnt from."
    )
    return (
        f"<div class='drift{' drift-alarm' if alarm else ''}' role='{'alert' if alarm else 'note'}'>"
        f"<h2 class='small'>Data drift</h2><p>{esc(lead)}</p><ul>{items}</ul></div>"
    )


def render_report(outcome) -> str:
    """The risk list page as one HTML document (header, ranked table, therapist view)."""
    body = _BODY.replace("@@HEADER@@", _header(outcome))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Dropout risk list</title>"
        f"<style>{_STYLE}</style></head><body>{body}"
        f"<script type='application/json' id='data'>{_json_for_script(page_data(outcome))}</script>"
        f"<script>{_SCRIPT}</script></body></html>"
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


_BODY = """
<a class='skip' href='#risk-table'>Skip to the table</a>
@@HEADER@@
<noscript><p class='warn'>This page needs JavaScript to show the table. The same list is
in the risk list file (CSV or Parquet).</p></noscript>
<main>
<div role='tablist' aria-label='Views' class='tabs'>
<button type='button' role='tab' id='tab-list' aria-controls='panel-list'
 aria-selected='true'>Risk list</button>
<button type='button' role='tab' id='tab-therapists' aria-controls='panel-therapists'
 aria-selected='false' tabindex='-1'>By therapist</button>
</div>
<section id='panel-list' role='tabpanel' aria-labelledby='tab-list'>
<form class='controls' role='search' onsubmit='return false'>
<div><label for='f-therapist'>Therapist</label>
<select id='f-therapist'><option value=''>All therapists</option></select></div>
<div><label for='f-site'>Site</label>
<select id='f-site'><option value=''>All sites</option></select></div>
<div><label for='f-tier'>Tier</label>
<select id='f-tier'><option value=''>All tiers</option><option value='high'>High</option>
<option value='medium'>Medium</option><option value='low'>Low</option>
<option value='none'>Not scored</option></select></div>
<div><label for='f-search'>Client id</label>
<input id='f-search' type='search' autocomplete='off' spellcheck='false'
 placeholder='Search client id'></div>
<div><button type='button' id='f-clear'>Clear filters</button></div>
</form>
<p id='shown' class='shown' aria-live='polite'></p>
<table id='risk-table'>
<caption class='sr'>Active clients ranked by dropout risk. Column headers sort the table.</caption>
<colgroup><col class='c-rank'><col class='c-client'><col class='c-th'><col class='c-site'>
<col class='c-risk'><col class='c-tier'><col class='c-reasons'><col class='c-n'><col class='c-last'>
</colgroup>
<thead><tr>
<th scope='col' data-key='rank' aria-sort='ascending'><button type='button'>Rank<span class='arrow' aria-hidden='true'></span></button></th>
<th scope='col' data-key='id'><button type='button'>Client<span class='arrow' aria-hidden='true'></span></button></th>
<th scope='col' data-key='th'><button type='button'>Therapist<span class='arrow' aria-hidden='true'></span></button></th>
<th scope='col' data-key='site'><button type='button'>Site<span class='arrow' aria-hidden='true'></span></button></th>
<th scope='col' data-key='risk'><button type='button'>Risk<span class='arrow' aria-hidden='true'></span></button></th>
<th scope='col' data-key='tier'><button type='button'>Tier<span class='arrow' aria-hidden='true'></span></button></th>
<th scope='col' data-key='reasons'><button type='button'>Main reasons<span class='arrow' aria-hidden='true'></span></button></th>
<th scope='col' data-key='n'><button type='button'>Sessions attended<span class='arrow' aria-hidden='true'></span></button></th>
<th scope='col' data-key='last'><button type='button'>Last attended<span class='arrow' aria-hidden='true'></span></button></th>
</tr></thead>
<tbody></tbody>
</table>
<div id='more' class='more' hidden><span id='more-text'></span>
<button type='button' id='show-more'>Show more</button>
<button type='button' id='show-all'>Show all</button></div>
<p id='empty' class='empty' hidden>No client matches these filters.</p>
</section>
<section id='panel-therapists' role='tabpanel' aria-labelledby='tab-therapists' hidden>
<p class='help'>Each therapist's active clients by tier, most high-risk clients first.
Select a therapist to see their clients in the risk list.</p>
<table id='therapist-table'>
<caption class='sr'>Active clients per therapist by tier</caption>
<thead><tr><th scope='col'>Therapist</th><th scope='col' class='num'>High</th>
<th scope='col' class='num'>Medium</th><th scope='col' class='num'>Low</th>
<th scope='col' class='num'>Not scored</th><th scope='col' class='num'>Active clients</th>
<th scope='col'>Mix</th></tr></thead>
<tbody></tbody>
</table>
</section>
</main>
<dialog id='detail' aria-labelledby='detail-title'>
<div class='dialog-head'><h2 id='detail-title'>Client</h2>
<button type='button' class='close' id='detail-close'>Close <span aria-hidden='true'>✕</span><span class='sr'> (Escape)</span></button></div>
<div id='detail-body'></div>
</dialog>
"""

# Colours: text and badges meet WCAG AA (4.5:1) on their backgrounds; series colours are
# the Okabe-Ito palette (distinguishable with colour-vision deficiency) and also differ by
# marker shape and dash, so no line is told apart by colour alone.
_STYLE = """
:root{--fg:#1a1a1a;--muted:#4d4d4d;--line:#c8c8c8;--accent:#0b57d0;--bg-head:#f2f2f2;
--high-fg:#7a1010;--high-bg:#fde2e1;--med-fg:#5c4300;--med-bg:#fff0c2;
--low-fg:#1d5c2c;--low-bg:#e2f2e6;--none-fg:#3d3d3d;--none-bg:#ececec}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.25rem;
color:var(--fg);background:#fff;line-height:1.4}
h1{margin:.2rem 0 .4rem;font-size:1.6rem}
h2.small{font-size:1rem;margin:.6rem 0 .2rem}
.meta,.rule,.help{margin:.3rem 0}
.help{color:var(--muted);max-width:60rem}
.counts{list-style:none;display:flex;flex-wrap:wrap;gap:.5rem 1.2rem;padding:0;margin:.5rem 0}
.not-scored ul{margin:.2rem 0;padding-left:1.2rem}
.drift p{margin:.2rem 0}.drift ul{margin:.2rem 0;padding-left:1.2rem;list-style:none}
.drift-alarm{border-left:4px solid #b3261e;padding-left:.6rem}
.sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);
white-space:nowrap}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.4rem;z-index:5}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.tier{display:inline-block;padding:.05rem .45rem;border-radius:.3rem;font-weight:600;
white-space:nowrap;border:1px solid currentColor}
.tier-high{color:var(--high-fg);background:var(--high-bg)}
.tier-medium{color:var(--med-fg);background:var(--med-bg)}
.tier-low{color:var(--low-fg);background:var(--low-bg)}
.tier-none{color:var(--none-fg);background:var(--none-bg)}
.tabs{display:flex;gap:.25rem;border-bottom:2px solid var(--line);margin:1rem 0 .6rem}
.tabs button{font:inherit;padding:.45rem .9rem;border:1px solid var(--line);border-bottom:none;
background:var(--bg-head);color:var(--fg);border-radius:.4rem .4rem 0 0;cursor:pointer}
.tabs button[aria-selected=true]{background:#fff;font-weight:700;border-color:var(--accent);
box-shadow:inset 0 3px 0 var(--accent)}
.controls{display:flex;flex-wrap:wrap;gap:.6rem 1rem;align-items:flex-end;margin:.4rem 0}
.controls label{display:block;font-size:.85rem;font-weight:600}
.controls select,.controls input,.controls button{font:inherit;padding:.3rem .4rem;
border:1px solid #767676;border-radius:.3rem;background:#fff;color:var(--fg)}
.controls button{cursor:pointer}
.shown{font-weight:600;margin:.4rem 0}
table{border-collapse:collapse;width:100%;font-size:.9rem}
#risk-table{table-layout:fixed}
.c-rank{width:4.2rem}.c-client{width:8.5rem}.c-th{width:7.5rem}.c-site{width:6.5rem}
.c-risk{width:8rem}.c-tier{width:8.2rem}.c-n{width:6rem}.c-last{width:7.4rem}
th,td{border-bottom:1px solid var(--line);padding:.35rem .45rem;text-align:left;
vertical-align:top;overflow-wrap:anywhere}
thead th{background:var(--bg-head);position:sticky;top:0;z-index:1;vertical-align:bottom}
thead th button{font:inherit;font-weight:700;border:0;background:none;padding:0;
color:var(--fg);cursor:pointer;text-align:left}
thead th button:hover{text-decoration:underline}
.arrow::after{content:" ↕";color:#767676}
th[aria-sort=ascending] .arrow::after{content:" ▲";color:var(--fg)}
th[aria-sort=descending] .arrow::after{content:" ▼";color:var(--fg)}
tbody th{font-weight:600}
#risk-table tbody tr{cursor:pointer}
#risk-table tbody tr:hover{background:#f3f7ff}
#risk-table tbody tr:focus{outline:3px solid var(--accent);outline-offset:-3px;background:#eef4ff}
.num{text-align:right}
td.num{font-variant-numeric:tabular-nums}
.pct{display:inline-block;min-width:2.6rem;font-variant-numeric:tabular-nums;font-weight:600}
.bar{display:inline-block;width:3.6rem;height:.55rem;background:#e4e4e4;border:1px solid #8c8c8c;
vertical-align:middle}
.bar>span{display:block;height:100%;background:#3b3b3b}
.reasons ol{margin:0;padding-left:1.1rem}
.why{color:var(--muted);font-style:italic}
.empty{font-weight:600;padding:.6rem 0}
.more{display:flex;gap:.8rem;align-items:center;padding:.6rem 0}
.more button{font:inherit;padding:.3rem .7rem;border:1px solid #767676;border-radius:.3rem;
background:#fff;cursor:pointer}
#therapist-table{max-width:60rem}
#therapist-table button{font:inherit;color:var(--accent);background:none;border:0;padding:0;
text-decoration:underline;cursor:pointer;text-align:left}
.mix{display:flex;width:10rem;height:.8rem;border:1px solid #8c8c8c}
.mix span{display:block;height:100%}
.mix .m-high{background:#b3261e}.mix .m-medium{background:#e0a526}.mix .m-low{background:#4c9a5f}
.mix .m-none{background:#bdbdbd}
dialog{width:min(58rem,96vw);max-height:92vh;border:1px solid #767676;border-radius:.5rem;
padding:0;color:var(--fg)}
dialog::backdrop{background:rgba(0,0,0,.45)}
.dialog-head{display:flex;justify-content:space-between;align-items:center;gap:1rem;
position:sticky;top:0;background:#fff;padding:.7rem 1rem;border-bottom:1px solid var(--line);z-index:2}
.dialog-head h2{margin:0;font-size:1.25rem}
.close{font:inherit;padding:.3rem .7rem;border:1px solid #767676;border-radius:.3rem;
background:#fff;cursor:pointer}
#detail-body{padding:.4rem 1rem 1rem}
#detail-body h3{font-size:1.05rem;margin:1rem 0 .3rem}
#detail-body h4{font-size:.95rem;margin:.6rem 0 .2rem}
.facts{margin:.3rem 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem}
svg.trajectory{width:100%;height:auto;max-width:52rem;display:block}
svg text{font-family:inherit;font-size:11px;fill:#333}
svg text.halo{paint-order:stroke;stroke:#fff;stroke-width:4px}
.legend{display:flex;flex-wrap:wrap;gap:.3rem 1rem;list-style:none;padding:0;margin:.3rem 0;
font-size:.85rem;align-items:center}
.legend svg{vertical-align:middle}
.strip{display:flex;flex-wrap:wrap;gap:3px;list-style:none;padding:0;margin:.3rem 0}
.strip li,.key{display:inline-flex;align-items:center;justify-content:center;width:1.7rem;
height:1.7rem;border-radius:.25rem;font-weight:700;font-size:.9rem;border:1px solid #555}
.st-attended{background:#1e6b34;color:#fff}
.st-no_show{background:#b3261e;color:#fff}
.st-late_cancel{background:#f2b84b;color:#1a1a1a}
.st-cancelled{background:#e6e6e6;color:#1a1a1a;border-style:dashed!important}
.st-other{background:#fff;color:#1a1a1a}
.expl{list-style:none;padding:0;margin:.2rem 0}
.expl li{display:grid;grid-template-columns:7.8rem 5rem 1fr;gap:.5rem;align-items:baseline;
padding:.15rem 0;border-bottom:1px dotted var(--line)}
.pts{font-weight:700;font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap}
.up .pts{color:var(--high-fg)}.down .pts{color:var(--low-fg)}
.pbar{display:inline-block;height:.6rem;align-self:center}
.up .pbar{background:#b3261e}.down .pbar{background:#2f7d44}
.values{font-size:.85rem}
.values table{width:auto}
@page{size:landscape;margin:12mm}
@media print{
body{margin:0;font-size:9pt}
.controls,.tabs,dialog,#panel-therapists,.skip,noscript,.help,.bar,.arrow,.more{display:none!important}
#panel-list{display:block!important}
#risk-table{font-size:8.5pt}
.c-rank{width:4.5%}.c-client{width:9%}.c-th{width:8%}.c-site{width:7%}.c-risk{width:5.5%}
.c-tier{width:8.5%}.c-reasons{width:40%}.c-n{width:8.5%}.c-last{width:9%}
thead th{position:static}
thead th button{color:#000;text-decoration:none}
thead{display:table-header-group}
tr{break-inside:avoid}
th,td{overflow:visible;white-space:normal;padding:.2rem .3rem}
#risk-table tbody tr:focus{outline:none;background:none}
.tier{print-color-adjust:exact;-webkit-print-color-adjust:exact}
}
@media (prefers-reduced-motion:reduce){*{scroll-behavior:auto}}
"""

# The page's behaviour. Every text from the data passes through esc() before it joins
# any HTML; rows are built once and only reordered or detached afterwards.
_SCRIPT = r"""
(function () {
"use strict";
var DATA = JSON.parse(document.getElementById("data").textContent);
var ROWS = DATA.rows, DETAILS = DATA.details, SCALES = DATA.scales;
var N = ROWS.length;
var TIERS = {high: ["High", "▲", 3], medium: ["Medium", "◆", 2], low: ["Low", "○", 1],
  "": ["Not scored", "–", 0]};
var STATUS = {attended: ["✓", "attended"], no_show: ["✗", "no-show"],
  late_cancel: ["L", "late cancel"], cancelled: ["C", "cancelled"]};
var SERIES = [
  {key: "bond", col: 3, label: "Bond", color: "#0072B2", dash: "", shape: "circle"},
  {key: "goal", col: 4, label: "Goal", color: "#D55E00", dash: "6 3", shape: "square"},
  {key: "task", col: 5, label: "Task", color: "#009E73", dash: "2 3", shape: "triangle"},
  {key: "srs", col: 6, label: "SRS total", color: "#6A3D9A", dash: "", shape: "circle"}];
var RUPTURE_COL = {wai_bond: 3, wai_goal: 4, wai_task: 5, srs_total: 6};
var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});

function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
  });
}
function $(id) { return document.getElementById(id); }
function tierBadge(t) {
  var d = TIERS[t] || TIERS[""];
  return "<span class='tier tier-" + (t || "none") + "'><span aria-hidden='true'>" + d[1] +
    "</span> " + d[0] + "</span>";
}
function fmt(x, digits) { return x == null ? "–" : Number(x).toFixed(digits); }

// ---------------------------------------------------------------- table rows, built once
var tbody = document.querySelector("#risk-table tbody");
function rowHtml(r, i) {
  var risk = r.scored
    ? "<span class='pct'>" + esc(r.pct) + "</span><span class='bar' aria-hidden='true'>" +
      "<span style='width:" + Math.max(0, Math.min(100, r.risk * 100)).toFixed(1) +
      "%'></span></span>"
    : "<span class='why'>not scored</span>";
  var reasons = r.scored
    ? "<ol>" + r.reasons.map(function (x) { return "<li>" + esc(x) + "</li>"; }).join("") + "</ol>"
    : "<span class='why'>Not scored: " + esc(r.why) + "</span>";
  return "<tr tabindex='0' data-i='" + i + "'><td class='num'>" + r.rank + "</td>" +
    "<th scope='row' class='client'>" + esc(r.id) + "</th><td>" + esc(r.th) + "</td><td>" +
    esc(r.site) + "</td><td class='risk'>" + risk + "</td><td>" + tierBadge(r.tier) +
    "</td><td class='reasons'>" + reasons + "</td><td class='num'>" + r.n + "</td><td>" +
    (r.last ? esc(r.last) : "<span class='why'>none yet</span>") + "</td></tr>";
}
for (var i = 0; i < N; i++) {
  var r = ROWS[i];
  r.idLower = r.id.toLowerCase();
  r.tierOrder = (TIERS[r.tier] || TIERS[""])[2];
  r.firstReason = r.reasons[0] || "";
}
// Rows are built on first use and kept: sorting and filtering only reorder built rows.
// A table lays out slowly (about 0.3 ms a row), so only the first PAGE matching rows are
// in the document at first; more follow as the reader scrolls, and all before printing.
var PAGE = 200, TRS = new Array(N), scratch = document.createElement("tbody");
function built(indices) {
  var missing = indices.filter(function (i) { return !TRS[i]; });
  if (missing.length) {
    scratch.innerHTML = missing.map(function (i) { return rowHtml(ROWS[i], i); }).join("");
    var made = Array.prototype.slice.call(scratch.rows);
    missing.forEach(function (i, k) { TRS[i] = made[k]; });
  }
  return indices.map(function (i) { return TRS[i]; });
}

// ---------------------------------------------------------------- filters and sorting
function uniqueSorted(key) {
  var seen = {}, out = [];
  ROWS.forEach(function (r) { if (!seen.hasOwnProperty(r[key])) { seen[r[key]] = 1; out.push(r[key]); } });
  return out.sort(collator.compare);
}
function fillSelect(select, values, blankLabel) {
  var html = "";
  values.forEach(function (v) {
    html += "<option value='" + esc(v) + "'>" + esc(v === "" ? blankLabel : v) + "</option>";
  });
  select.insertAdjacentHTML("beforeend", html);
}
var fTherapist = $("f-therapist"), fSite = $("f-site"), fTier = $("f-tier"),
  fSearch = $("f-search");
fillSelect(fTherapist, uniqueSorted("th"), "(no therapist)");
fillSelect(fSite, uniqueSorted("site"), "(no site)");

var SORT_KEYS = {
  rank: function (r) { return r.rank; }, id: function (r) { return r.id; },
  th: function (r) { return r.th; }, site: function (r) { return r.site; },
  risk: function (r) { return r.risk; }, tier: function (r) { return r.tierOrder; },
  reasons: function (r) { return r.firstReason; }, n: function (r) { return r.n; },
  last: function (r) { return r.last; }};
var sortKey = "rank", sortDir = 1;
var order = ROWS.map(function (_, i) { return i; });

function sortRows() {
  var get = SORT_KEYS[sortKey];
  order.sort(function (a, b) {
    var ra = ROWS[a], rb = ROWS[b];
    // not-scored clients stay last whichever way the table is sorted
    if (ra.scored !== rb.scored) return ra.scored ? -1 : 1;
    var va = get(ra), vb = get(rb), c;
    if (typeof va === "number" || typeof vb === "number") {
      c = va == null ? (vb == null ? 0 : 1) : vb == null ? -1 : (va - vb) * sortDir;
    } else if (va === "" || vb === "") {
      c = va === vb ? 0 : va === "" ? 1 : -1;
    } else {
      c = collator.compare(va, vb) * sortDir;
    }
    return c || ra.rank - rb.rank;
  });
}

var matched = [], listed = 0;
function matches(r, th, site, tier, q) {
  return (th === null || r.th === th) && (site === null || r.site === site) &&
    (tier === null || (tier === "none" ? !r.scored : r.tier === tier)) &&
    (q === "" || r.idLower.indexOf(q) !== -1);
}
function render() {
  var th = fTherapist.selectedIndex > 0 ? fTherapist.value : null;
  var site = fSite.selectedIndex > 0 ? fSite.value : null;
  var tier = fTier.value || null;
  var q = fSearch.value.trim().toLowerCase();
  matched = order.filter(function (i) { return matches(ROWS[i], th, site, tier, q); });
  tbody.textContent = "";
  listed = 0;
  more(PAGE);
  $("shown").textContent = N === 0 ? "No active clients." :
    matched.length + " of " + N + " clients shown";
  $("empty").hidden = matched.length > 0 || N === 0;
}
function more(count) {
  var upto = Math.min(matched.length, listed + count);
  if (upto > listed) {
    var frag = document.createDocumentFragment();
    built(matched.slice(listed, upto)).forEach(function (tr) { frag.appendChild(tr); });
    tbody.appendChild(frag);
    listed = upto;
  }
  var rest = matched.length - listed;
  $("more").hidden = rest === 0;
  $("more-text").textContent = "Listed " + listed + " of " + matched.length + ".";
  $("show-more").textContent = "Show " + Math.min(PAGE, rest) + " more";
  $("show-all").textContent = "Show all " + matched.length;
}
$("show-more").addEventListener("click", function () { more(PAGE); });
$("show-all").addEventListener("click", function () { more(matched.length); });
if ("IntersectionObserver" in window) {
  new IntersectionObserver(function (seen) {
    if (seen[0].isIntersecting && listed < matched.length) more(PAGE);
  }, {rootMargin: "600px"}).observe($("more"));
}
window.addEventListener("beforeprint", function () { more(matched.length); });
if (window.matchMedia) {
  var printing = window.matchMedia("print");
  var toPrint = function (e) { if (e.matches) more(matched.length); };
  if (printing.addEventListener) printing.addEventListener("change", toPrint);
}

var heads = Array.prototype.slice.call(document.querySelectorAll("#risk-table thead th"));
heads.forEach(function (head) {
  head.querySelector("button").addEventListener("click", function () {
    var key = head.getAttribute("data-key");
    sortDir = key === sortKey ? -sortDir : 1;
    sortKey = key;
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    head.setAttribute("aria-sort", sortDir === 1 ? "ascending" : "descending");
    sortRows();
    render();
  });
});
[fTherapist, fSite, fTier].forEach(function (s) { s.addEventListener("change", render); });
var searchTimer = null;
fSearch.addEventListener("input", function () {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(render, 120);
});
$("f-clear").addEventListener("click", function () {
  fTherapist.selectedIndex = 0; fSite.selectedIndex = 0; fTier.selectedIndex = 0;
  fSearch.value = "";
  render();
});

// ---------------------------------------------------------------- keyboard on rows
tbody.addEventListener("click", function (e) {
  var tr = e.target.closest("tr");
  if (tr) openDetail(+tr.getAttribute("data-i"));
});
tbody.addEventListener("keydown", function (e) {
  var tr = e.target.closest("tr");
  if (!tr || e.target !== tr) return;
  if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    openDetail(+tr.getAttribute("data-i"));
  } else if (e.key === "ArrowDown") {
    e.preventDefault();
    if (!tr.nextElementSibling) more(PAGE);
    if (tr.nextElementSibling) tr.nextElementSibling.focus();
  } else if (e.key === "ArrowUp" && tr.previousElementSibling) {
    e.preventDefault(); tr.previousElementSibling.focus();
  }
});

// ---------------------------------------------------------------- the detail dialog
var dialog = $("detail"), lastRow = null;

function marker(shape, x, y, color, size) {
  var s = size || 4;
  if (shape === "square")
    return "<rect x='" + (x - s) + "' y='" + (y - s) + "' width='" + 2 * s + "' height='" +
      2 * s + "' fill='" + color + "'/>";
  if (shape === "triangle")
    return "<path d='M" + x + " " + (y - s - 1) + "L" + (x + s + 1) + " " + (y + s) + "L" +
      (x - s - 1) + " " + (y + s) + "Z' fill='" + color + "'/>";
  return "<circle cx='" + x + "' cy='" + y + "' r='" + s + "' fill='" + color + "'/>";
}
function legendSwatch(s) {
  return "<svg width='30' height='12' aria-hidden='true'><line x1='1' y1='6' x2='29' y2='6' stroke='" +
    s.color + "' stroke-width='2' stroke-dasharray='" + s.dash + "'/>" +
    marker(s.shape, 15, 6, s.color, 4) + "</svg>";
}
function ticks(lo, hi) {
  var span = hi - lo, step = span <= 6 ? 1 : span <= 12 ? 2 : span <= 30 ? 5 : 10, out = [];
  for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

function chart(traj) {
  var att = traj.filter(function (t) { return t[2] != null; });
  var has = function (col) { return att.some(function (t) { return t[col] != null; }); };
  var panels = [];
  var wai = SERIES.slice(0, 3).filter(function (s) { return has(s.col); });
  if (wai.length) panels.push({title: "Working alliance (WAI)", series: wai, range: SCALES.wai});
  if (has(6)) panels.push({title: "Session Rating Scale total", series: [SERIES[3]],
    range: SCALES.srs, cutoff: SCALES.srs_cutoff});
  if (!panels.length) return "<p>No alliance ratings recorded yet.</p>";
  var W = 720, L = 48, R = 16, PH = 150, GAP = 44, TOP = 22;
  var H = TOP + panels.length * PH + (panels.length - 1) * GAP + 34;
  var maxS = Math.max.apply(null, att.map(function (t) { return t[2]; }).concat([1]));
  var x = function (s) { return maxS === 1 ? (L + W - R) / 2 : L + (s - 1) / (maxS - 1) * (W - L - R); };
  var every = Math.ceil(maxS / 20);
  var svg = "", ruptures = 0;
  panels.forEach(function (p, k) {
    // the scale's own range, widened if a rating falls outside it (a data error shows)
    var lo = p.range[0], hi = p.range[1], top = TOP + k * (PH + GAP);
    p.series.forEach(function (se) {
      att.forEach(function (t) {
        if (t[se.col] != null) { lo = Math.min(lo, t[se.col]); hi = Math.max(hi, t[se.col]); }
      });
    });
    if (!(hi > lo)) hi = lo + 1;
    var y = function (v) { return top + PH - (v - lo) / (hi - lo) * PH; };
    svg += "<text x='" + L + "' y='" + (top - 8) + "' font-weight='700'>" + esc(p.title) + "</text>";
    ticks(lo, hi).forEach(function (v) {
      svg += "<line x1='" + L + "' x2='" + (W - R) + "' y1='" + y(v) + "' y2='" + y(v) +
        "' stroke='#e0e0e0'/><text x='" + (L - 6) + "' y='" + (y(v) + 4) + "' text-anchor='end'>" + v + "</text>";
    });
    if (p.cutoff != null) {
      svg += "<line class='cutoff' x1='" + L + "' x2='" + (W - R) + "' y1='" + y(p.cutoff) + "' y2='" +
        y(p.cutoff) + "' stroke='#333' stroke-width='1.5' stroke-dasharray='6 4'/>" +
        "<text class='halo' x='" + (W - R - 4) + "' y='" + (y(p.cutoff) + 14) + "' text-anchor='end'>cut-off " +
        p.cutoff + "</text>";
    }
    for (var s = 1; s <= maxS; s += every) {
      svg += "<text x='" + x(s) + "' y='" + (top + PH + 15) + "' text-anchor='middle'>" + s + "</text>";
    }
    p.series.forEach(function (se) {
      var d = "", open = false, dots = "";
      att.forEach(function (t) {
        var v = t[se.col];
        if (v == null) { open = false; return; }
        d += (open ? "L" : "M") + x(t[2]).toFixed(1) + " " + y(v).toFixed(1);
        open = true;
        dots += "<g>" + marker(se.shape, x(t[2]), y(v), se.color) + "<title>Session " + t[2] +
          " (" + esc(t[0]) + "): " + se.label + " " + fmt(v, 1) + "</title></g>";
      });
      svg += "<path d='" + d + "' fill='none' stroke='" + se.color + "' stroke-width='2' stroke-dasharray='" +
        se.dash + "'/>" + dots;
    });
    var labels = [];
    att.forEach(function (t) {
      t[7].forEach(function (scale) {
        var col = RUPTURE_COL[scale];
        var se = p.series.filter(function (q) { return q.col === col; })[0];
        if (!se || t[col] == null) return;
        ruptures++;
        var cx = x(t[2]), cy = y(t[col]);
        // a word beside each ring unless it would overprint another one; the ring and its
        // tooltip mark every rupture
        var free = labels.every(function (b) { return Math.abs(b[0] - cx) > 48 || Math.abs(b[1] - cy) > 14; });
        if (free) labels.push([cx, cy]);
        svg += "<g class='rupture'><circle cx='" + cx + "' cy='" + cy + "' r='9' fill='none' stroke='#000' stroke-width='2'/>" +
          (free ? "<text class='halo' x='" + Math.min(W - 24, Math.max(L + 24, cx)) + "' y='" + (cy - 13) + "' text-anchor='middle' font-weight='700'>rupture</text>" : "") +
          "<title>Rupture at session " + t[2] + " (" + esc(t[0]) + "): " + se.label +
          " rating dropped to " + fmt(t[col], 1) + "</title></g>";
      });
    });
  });
  svg += "<text x='" + ((L + W - R) / 2) + "' y='" + (H - 4) + "' text-anchor='middle'>Attended session</text>";
  var used = [];
  panels.forEach(function (p) { used = used.concat(p.series); });
  var label = "Ratings over " + maxS + " attended sessions" + (ruptures ? ", " + ruptures + " rupture" +
    (ruptures === 1 ? "" : "s") + " marked" : "");
  var legend = "<ul class='legend'>" + used.map(function (s) {
    return "<li>" + legendSwatch(s) + " " + s.label + "</li>";
  }).join("") + "<li><svg width='22' height='22' aria-hidden='true'><circle cx='11' cy='11' r='8' fill='none' stroke='#000' stroke-width='2'/></svg> rupture (a drop from the session before)</li>" +
    (SCALES.srs_cutoff != null && has(6) ? "<li><svg width='30' height='8' aria-hidden='true'><line x1='0' y1='4' x2='30' y2='4' stroke='#333' stroke-width='1.5' stroke-dasharray='6 4'/></svg> SRS cut-off (below it flags an alliance concern)</li>" : "") +
    "</ul>";
  var table = "<details class='values'><summary>Ratings as a table</summary><table><thead><tr>" +
    "<th scope='col'>Session</th><th scope='col'>Date</th>" +
    used.map(function (s) { return "<th scope='col'>" + s.label + "</th>"; }).join("") +
    "<th scope='col'>Rupture</th></tr></thead><tbody>" +
    att.map(function (t) {
      return "<tr><th scope='row'>" + t[2] + "</th><td>" + esc(t[0]) + "</td>" +
        used.map(function (s) { return "<td>" + fmt(t[s.col], 1) + "</td>"; }).join("") +
        "<td>" + esc(t[7].join(", ").replace(/wai_|_total/g, "")) + "</td></tr>";
    }).join("") + "</tbody></table></details>";
  return "<svg class='trajectory' viewBox='0 0 " + W + " " + H + "' role='img' aria-label='" +
    esc(label) + "'>" + svg + "</svg>" + legend + table;
}

function strip(traj) {
  if (!traj.length) return "<p>No appointments recorded.</p>";
  var cells = traj.map(function (t) {
    var st = STATUS[t[1]] || ["?", t[1] || "unknown"];
    var text = t[0] + ": " + st[1] + (t[2] != null ? ", session " + t[2] : "");
    return "<li class='st-" + (STATUS[t[1]] ? t[1] : "other") + "' title='" + esc(text) +
      "'><span aria-hidden='true'>" + esc(st[0]) + "</span><span class='sr'>" + esc(text) + "</span></li>";
  }).join("");
  var legend = "<ul class='legend' aria-label='Key'>" + Object.keys(STATUS).map(function (k) {
    return "<li><span class='key st-" + k + "' aria-hidden='true'>" + STATUS[k][0] + "</span> " +
      STATUS[k][1] + "</li>";
  }).join("") + "</ul>";
  return "<ol class='strip' aria-label='Appointments from " + esc(traj[0][0]) + " to " +
    esc(traj[traj.length - 1][0]) + "'>" + cells + "</ol><p class='values'>" + traj.length +
    " appointments from " + esc(traj[0][0]) + " to " + esc(traj[traj.length - 1][0]) + "</p>" + legend;
}

function points(p) {
  return (p > 0 ? "+" : p < 0 ? "−" : "±") + Math.abs(p).toFixed(1) + " points";
}
function explanation(items) {
  if (!items.length) return "<p>No explanation available.</p>";
  var biggest = Math.max.apply(null, items.map(function (e) { return Math.abs(e[0]); })) || 1;
  function list(kind, sel) {
    var chosen = items.filter(sel);
    if (!chosen.length) return "";
    return "<ul class='expl " + kind + "'>" + chosen.map(function (e) {
      return "<li><span class='pts'>" + points(e[0]) + "</span><span class='pbar' aria-hidden='true' style='width:" +
        (Math.abs(e[0]) / biggest * 100).toFixed(0) + "%'></span><span>" + esc(e[1]) + "</span></li>";
    }).join("") + "</ul>";
  }
  var up = list("up", function (e) { return e[0] > 0; });
  var down = list("down", function (e) { return e[0] < 0; });
  var zero = list("zero", function (e) { return e[0] === 0; });
  return "<p class='help'>Each line is one factor and how many percentage points it moves this " +
    "client's risk, largest first. Factors that move it by less than 0.1 points are not " +
    "listed.</p>" +
    (up ? "<h4>Raising the risk</h4>" + up : "") + (down ? "<h4>Lowering the risk</h4>" + down : "") +
    (zero ? "<h4>Little or no effect</h4>" + zero : "");
}

function openDetail(i) {
  var r = ROWS[i], d = DETAILS[i];
  lastRow = built([i])[0];
  $("detail-title").textContent = "Client " + r.id;
  var facts = "<ul class='facts'><li>Risk <strong>" + (r.scored ? esc(r.pct) : "not scored") +
    "</strong></li><li>" + tierBadge(r.tier) + "</li><li>Rank " + r.rank + " of " + N +
    "</li><li>Therapist <strong>" + esc(r.th) + "</strong></li>" +
    (r.site ? "<li>Site <strong>" + esc(r.site) + "</strong></li>" : "") +
    "<li>" + r.n + " sessions attended" + (r.last ? ", last " + esc(r.last) : "") + "</li></ul>";
  var body = facts;
  if (!r.scored) {
    body += "<p><strong>Not scored:</strong> " + esc(r.why) + ".</p>";
  } else if (!d) {
    body += "<p>No detail was recorded for this client.</p>";
  } else {
    body += "<section aria-labelledby='h-traj'><h3 id='h-traj'>Alliance ratings by session</h3>" +
      chart(d.t) + "</section><section aria-labelledby='h-att'><h3 id='h-att'>Appointments in date order</h3>" +
      strip(d.t) + "</section><section aria-labelledby='h-expl' class='explanation'><h3 id='h-expl'>Why this risk</h3>" +
      explanation(d.e) + "</section>";
  }
  $("detail-body").innerHTML = body;
  if (!dialog.open) dialog.showModal();
  $("detail-close").focus();
}
$("detail-close").addEventListener("click", function () { dialog.close(); });
dialog.addEventListener("click", function (e) { if (e.target === dialog) dialog.close(); });
dialog.addEventListener("close", function () {
  if (lastRow && lastRow.isConnected) lastRow.focus();
});

// ---------------------------------------------------------------- the therapist view
function therapistView() {
  var by = {};
  ROWS.forEach(function (r) {
    var t = by[r.th] || (by[r.th] = {th: r.th, high: 0, medium: 0, low: 0, none: 0, all: 0});
    t[r.scored && r.tier ? r.tier : "none"]++;
    t.all++;
  });
  var list = Object.keys(by).map(function (k) { return by[k]; });
  list.sort(function (a, b) {
    return b.high - a.high || b.medium - a.medium || b.all - a.all || collator.compare(a.th, b.th);
  });
  document.querySelector("#therapist-table tbody").innerHTML = list.map(function (t) {
    var mix = ["high", "medium", "low", "none"].map(function (k) {
      return t[k] ? "<span class='m-" + k + "' style='width:" + (t[k] / t.all * 100).toFixed(1) + "%'></span>" : "";
    }).join("");
    return "<tr><th scope='row'><button type='button' data-th='" + esc(t.th) + "'>" +
      esc(t.th || "(no therapist)") + "</button></th><td class='num'>" + t.high + "</td><td class='num'>" +
      t.medium + "</td><td class='num'>" + t.low + "</td><td class='num'>" + t.none +
      "</td><td class='num'>" + t.all + "</td><td><span class='mix' aria-hidden='true'>" + mix + "</span></td></tr>";
  }).join("");
}
therapistView();
document.querySelector("#therapist-table tbody").addEventListener("click", function (e) {
  var b = e.target.closest("button[data-th]");
  if (!b) return;
  var th = b.getAttribute("data-th");
  for (var k = 0; k < fTherapist.options.length; k++) {
    if (k > 0 && fTherapist.options[k].value === th) fTherapist.selectedIndex = k;
  }
  selectTab(tabs[0], true);
  render();
  fTherapist.focus();
});

// ---------------------------------------------------------------- tabs
var tabs = [$("tab-list"), $("tab-therapists")];
function selectTab(tab, noFocus) {
  tabs.forEach(function (t) {
    var on = t === tab;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  });
  if (!noFocus) tab.focus();
}
tabs.forEach(function (t, k) {
  t.addEventListener("click", function () { selectTab(t, true); });
  t.addEventListener("keydown", function (e) {
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault();
      selectTab(tabs[(k + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length]);
    }
  });
});

render();
document.body.setAttribute("data-ready", "1");
})();
"""
