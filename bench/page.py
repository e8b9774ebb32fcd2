"""Benchmark: the risk list page with 5,000 clients in headless Chromium.

Builds a synthetic outcome shaped like ``ScoreOutcome`` scored with ``--since`` (risk list
with ``risk_within_horizon`` and the since columns, details with about ten appointments, a
full explanation and a context line per client), renders the page with
``pipeline.reports.risk_page.render_report``, opens it from disk and measures the median wall time
(ms) over repeats of: initial load until the table is ready, sort by risk, sort by the risk
within the horizon, filter by a therapist, search by client id (including the search box's
debounce), open a client's detail and open the What changed view. Each action is timed
from the event to the next rendered frame.

Usage: python bench/page.py [--clients N] [--repeats R] [--keep DIR]
Writes bench/page_results.json and prints a table. Needs Playwright and Debian's chromium
(``make browser``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.reports.risk_page import CHROMIUM_ARGS, find_chromium, write_report  # noqa: E402

STATUSES = np.array(["attended", "no_show", "late_cancel", "cancelled"])
REASONS = [
    "Bond rating fell from {a:.1f} to {b:.1f} between sessions 2 and 3",
    "{k} no-shows in the first {m} appointments",
    "SRS total {s:.0f}, below the cut-off of 36",
    "Goal rating is low at {b:.1f}",
    "{k} late cancellations so far",
    "Therapist's clients drop out more often than average",
    "Referred by the court",
    "Task rating rose from {b:.1f} to {a:.1f}",
]
# the next frame after an action: layout and paint of its result are included
NEXT_FRAME = "new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"


def synthetic_outcome(n_clients: int = 5000, seed: int = 0, n_features: int = 25):
    """An outcome-like object with the fields the page reads, for ``n_clients`` clients."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:05d}" for i in range(n_clients)]
    therapists = [f"T{j:03d}" for j in rng.integers(0, max(1, n_clients // 40), n_clients)]
    sites = rng.choice(["north", "south", "east", "west", "central"], n_clients)
    risk = np.round(rng.beta(2, 6, n_clients), 4)
    scored = rng.random(n_clients) > 0.02
    risk = np.where(scored, risk, np.nan)
    tier = np.where(
        ~scored, "", np.where(risk >= 0.4, "high", np.where(risk >= 0.2, "medium", "low"))
    )
    as_of = pd.Timestamp("2026-03-14")
    details, attended, last = {}, [], []
    for i, cid in enumerate(ids):
        n_app = int(rng.integers(6, 15))
        status = rng.choice(STATUSES, n_app, p=[0.75, 0.12, 0.08, 0.05])
        dates = as_of - pd.to_timedelta(np.arange(n_app)[::-1] * 7, unit="D")
        bond = np.clip(4.2 + np.cumsum(rng.normal(0, 0.3, n_app)), 1, 5)
        srs = np.clip(37 + np.cumsum(rng.normal(0, 1.2, n_app)), 0, 40)
        trajectory, session = [], 0
        for k in range(n_app):
            went = status[k] == "attended"
            session += int(went)
            drop = went and k > 0 and bond[k] < bond[k - 1] - 0.5
            trajectory.append(
                {
                    "date": f"{dates[k]:%Y-%m-%d}",
                    "status": str(status[k]),
                    "session": session if went else None,
                    "wai_bond": round(float(bond[k]), 2) if went else None,
                    "wai_goal": round(float(bond[k] - 0.3), 2) if went else None,
                    "wai_task": round(float(bond[k] + 0.1), 2) if went else None,
                    "srs_total": round(float(srs[k]), 1) if went else None,
                    "ruptures": ["wai_bond"] if drop else [],
                }
            )
        attended.append(session)
        went_dates = [t["date"] for t in trajectory if t["status"] == "attended"]
        last.append(went_dates[-1] if went_dates else "")
        pts = np.sort(rng.normal(0, 3, n_features))[::-1]
        pts = pts[np.argsort(-np.abs(pts), kind="stable")]
        if scored[i]:
            details[cid] = {
                "trajectory": trajectory,
                "explanation": [
                    {
                        "feature": f"feature_{j}",
                        "words": REASONS[j % len(REASONS)].format(a=4.2, b=3.0, k=2, m=4, s=33.0),
                        "points": round(float(p), 1),
                    }
                    for j, p in enumerate(pts)
                ],
                "context": "Context: planned course of 12 sessions; referral source: court",
            }
    reasons = [
        [REASONS[(i + j) % len(REASONS)].format(a=4.2, b=3.0, k=2, m=4, s=33.0) for j in range(3)]
        for i in range(n_clients)
    ]
    risk_list = pd.DataFrame(
        {
            "client_id": ids,
            "therapist_id": therapists,
            "site": sites,
            "risk": risk,
            "risk_tier": tier,
            "reason_1": [r[0] if s else "" for r, s in zip(reasons, scored, strict=True)],
            "reason_2": [r[1] if s else "" for r, s in zip(reasons, scored, strict=True)],
            "reason_3": [r[2] if s else "" for r, s in zip(reasons, scored, strict=True)],
            "sessions_attended": attended,
            "last_attended": last,
            "scored": scored,
            "not_scored_reason": np.where(scored, "", "no appointments before the as-of date"),
            "model_version": "dropout-risk v1",
        }
    )
    # the week's changes: a few clients new, the rest moved a little, some a lot
    risk_list["risk_within_horizon"] = np.round(risk * rng.uniform(0.3, 0.9, n_clients), 4)
    new = rng.random(n_clients) < 0.03
    change = np.round(np.clip(rng.normal(0, 0.06, n_clients), -risk, None), 4)
    then = risk - change
    risk_list["risk_change"] = np.where(new | ~scored, np.nan, change)
    was = np.where(then >= 0.4, "high", np.where(then >= 0.2, "medium", "low"))
    risk_list["tier_since"] = np.where(new | ~scored, "", was)
    risk_list["change_reason"] = np.where(
        new,
        "New to the caseload since 2026-03-07",
        "Bond rating fell from 4.2 to 3.0 since 2026-03-07",
    )
    risk_list = risk_list.sort_values(
        ["scored", "risk", "client_id"], ascending=[False, False, True]
    ).reset_index(drop=True)
    risk_list["rank"] = np.arange(1, n_clients + 1)
    return SimpleNamespace(
        since=as_of - pd.Timedelta(days=7),
        risen_points=0.10,
        horizon_days=60,
        risk_list=risk_list,
        as_of=as_of,
        model_version="dropout-risk v1",
        tier_rule="High: risk of 40% or more; medium: 20% or more (probability thresholds from config)",
        scales={"wai": [1.0, 5.0], "srs": [0.0, 40.0], "srs_cutoff": 36.0},
        details=details,
    )


def _timed(page, script: str) -> float:
    started = time.perf_counter()
    page.evaluate(script)
    return (time.perf_counter() - started) * 1000


def measure(html: Path, repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("chromium is missing: run `make browser` first")
    url = html.resolve().as_uri()
    times: dict[str, list[float]] = {
        k: []
        for k in (
            "load",
            "sort_risk",
            "sort_within_horizon",
            "filter_therapist",
            "search",
            "open_detail",
            "open_what_changed",
        )
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for _ in range(repeats):
            started = time.perf_counter()
            page.goto(url, wait_until="commit")
            page.wait_for_selector("body[data-ready]", timeout=60_000)
            page.evaluate(NEXT_FRAME)
            times["load"].append((time.perf_counter() - started) * 1000)

            times["sort_risk"].append(
                _timed(
                    page,
                    "async () => { document.querySelector(\"th[data-key='risk'] button\").click();"
                    f" await {NEXT_FRAME}; }}",
                )
            )
            times["sort_within_horizon"].append(
                _timed(
                    page,
                    "async () => { document.querySelector(\"th[data-key='soon'] button\").click();"
                    f" await {NEXT_FRAME}; }}",
                )
            )
            times["filter_therapist"].append(
                _timed(
                    page,
                    "async () => { const s = document.getElementById('f-therapist');"
                    " s.selectedIndex = 3; s.dispatchEvent(new Event('change'));"
                    f" await {NEXT_FRAME}; }}",
                )
            )
            page.evaluate(
                "() => { const s = document.getElementById('f-therapist'); s.selectedIndex = 0;"
                " s.dispatchEvent(new Event('change')); }"
            )
            times["search"].append(
                _timed(
                    page,
                    "async () => { const box = document.getElementById('f-search');"
                    " const shown = document.getElementById('shown'); const before = shown.textContent;"
                    " const changed = new Promise(r => new MutationObserver((m, o) => { o.disconnect(); r(); })"
                    ".observe(shown, {childList: true, characterData: true, subtree: true}));"
                    " box.value = 'C0123'; box.dispatchEvent(new Event('input'));"
                    f" await changed; await {NEXT_FRAME}; }}",
                )
            )
            times["open_detail"].append(
                _timed(
                    page,
                    "async () => { const row = document.querySelector('#risk-table tbody tr');"
                    " row.focus(); row.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));"
                    f" await {NEXT_FRAME}; if (!document.getElementById('detail').open) throw new Error('closed'); }}",
                )
            )
            page.keyboard.press("Escape")
            times["open_what_changed"].append(
                _timed(
                    page,
                    "async () => { document.getElementById('tab-changes').click();"
                    f" await {NEXT_FRAME};"
                    " if (document.getElementById('panel-changes').hidden) throw new Error('hidden'); }",
                )
            )
        browser.close()
    return times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="keep the page in this folder")
    args = parser.parse_args(argv)

    outcome = synthetic_outcome(args.clients)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        started = time.perf_counter()
        html = write_report(outcome, folder / "risk.html")
        render_ms = (time.perf_counter() - started) * 1000
        size_mb = html.stat().st_size / 1e6
        times = measure(html, args.repeats)
    medians = {k: round(statistics.median(v), 1) for k, v in times.items()}
    results = {
        "clients": args.clients,
        "repeats": args.repeats,
        "page_mb": round(size_mb, 2),
        "render_report_ms": round(render_ms, 1),
        "median_ms": medians,
        "all_ms": {k: [round(x, 1) for x in v] for k, v in times.items()},
        "search_debounce_ms": 120,
        "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
    }
    print(f"risk page, {args.clients} clients, {size_mb:.1f} MB; median of {args.repeats} (ms)")
    print(f"  {'render_report (Python)':<26}{render_ms:>9.1f}")
    for name, value in medians.items():
        print(f"  {name:<26}{value:>9.1f}")
    out = ROOT / "bench" / "page_results.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
