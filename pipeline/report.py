"""A self-contained HTML page of the risk list (no network, nothing but the list inlined)."""

from __future__ import annotations

import html
from pathlib import Path

from pipeline.output import write_text

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1a1a1a}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ccc;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}
.high{background:#fde2e1}.medium{background:#fff4cc}.low{background:#e6f4ea}
.tier{font-weight:600}
@media print{body{margin:0}}
"""


def render_report(outcome) -> str:
    """The risk list as one HTML document: header counts, then the ranked table."""
    rl = outcome.risk_list
    counts = rl["risk_tier"].value_counts()
    not_scored = rl[~rl["scored"]]["not_scored_reason"].value_counts()
    esc = html.escape
    head = (
        f"<h1>Dropout risk list</h1><p>As of {outcome.as_of:%Y-%m-%d} · model {esc(outcome.model_version)} · "
        f"{len(rl)} active clients · high {counts.get('high', 0)} · medium {counts.get('medium', 0)} · "
        f"low {counts.get('low', 0)} · not scored {len(rl) - int(rl['scored'].sum())}</p>"
    )
    if len(not_scored):
        head += (
            "<ul>"
            + "".join(f"<li>{n} not scored: {esc(str(r))}</li>" for r, n in not_scored.items())
            + "</ul>"
        )
    cols = [
        "rank",
        "client_id",
        "therapist_id",
        "site",
        "risk",
        "risk_tier",
        "reason_1",
        "reason_2",
        "reason_3",
        "sessions_attended",
        "last_attended",
    ]
    rows = []
    for rec in rl[cols].itertuples(index=False):
        d = rec._asdict()
        risk = "" if d["risk"] != d["risk"] else f"{100 * d['risk']:.0f}%"
        cells = [
            str(d["rank"]),
            esc(str(d["client_id"])),
            esc(str(d["therapist_id"])),
            esc(str(d["site"] or "")),
            risk,
            f"<span class='tier'>{esc(d['risk_tier'] or 'not scored')}</span>",
            esc(d["reason_1"]),
            esc(d["reason_2"]),
            esc(d["reason_3"]),
            str(d["sessions_attended"]),
            esc(d["last_attended"]),
        ]
        rows.append(
            f"<tr class='{d['risk_tier']}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    header = "".join(
        f"<th scope='col'>{c}</th>"
        for c in [
            "rank",
            "client",
            "therapist",
            "site",
            "risk",
            "tier",
            "reason 1",
            "reason 2",
            "reason 3",
            "attended",
            "last attended",
        ]
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Dropout risk list</title>"
        f"<style>{_STYLE}</style></head><body>{head}<table><thead><tr>{header}</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>"
    )


def write_report(outcome, path: Path) -> Path:
    """Write the page atomically."""
    return write_text(render_report(outcome), Path(path))
