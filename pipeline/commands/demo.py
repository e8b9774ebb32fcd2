"""`dropout-risk demo`: synth → train → score → report on the embedded default store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from configs.config import Config
from configs.errors import InputError
from models.progress import Progress
from pipeline.commands import train
from pipeline.commands.promote import run_promotion
from pipeline.commands.score import ScoreOutcome, run_scoring
from pipeline.commands.train import TrainOutcome, run_training
from pipeline.io.output import write_text
from pipeline.reports.caseload_pages import write_report_dir
from pipeline.reports.progress import stage
from pipeline.reports.risk_page import write_report, write_screenshot
from pipeline.synthetic import write_cohort

# the stages of `run_demo`, in order (training's own among them): each begins with
# `pipeline.reports.progress.stage`
STAGES = (
    "synthesising a cohort",
    *train.STAGES,
    "comparing the new version (challenger) with the champion",
    "scoring the active caseload with the version just trained",
    "writing the metrics, the risk pages and the screenshot",
)


@dataclass(frozen=True)
class DemoResult:
    train: TrainOutcome
    score: ScoreOutcome
    metrics_path: Path
    report_path: Path
    evaluation_path: Path
    # a picture of the page, when Playwright and Chromium are there (`make browser`)
    screenshot_path: Path | None = None
    # the lead's index page; one page per therapist beside it
    pages_path: Path | None = None
    promotion: str = ""


def run_demo(out: Path, config: Config, progress: Progress | None = None) -> DemoResult:
    """Run the whole path a clinic uses on a synthetic cohort, writing into ``out``.

    Train registers a new version (the challenger; the champion too on a new store); it is
    then compared with the champion (``promote``, gated, never forced) and the caseload is
    scored with the version just trained, so the demo always shows the current code's model.

    ``progress`` hears each of ``STAGES`` as it begins (``pipeline.reports.progress.stage``), the
    counted steps of the model fitting and a note of the promotion's outcome.
    """
    out = Path(out)
    stage(progress, f"synthesising {config.synth.n_clients} clients (seed {config.synth.seed})")
    clients, sessions = write_cohort(
        out, config.synth.n_clients, config.synth.seed, config.instruments
    )
    trained = run_training(clients, sessions, config, progress, report_dir=out / "evaluation")
    promotion = None
    stage(progress, STAGES[-3])
    if "champion" in trained.aliases:
        promotion_note = f"{trained.model_version} is the first version: it is the champion"
    else:
        try:
            promotion = run_promotion(clients, sessions, config)
            if promotion.promoted:
                promotion_note = f"{trained.model_version}: every gate passed, now the champion"
            else:
                failed = ", ".join(g.name for g in promotion.gates if not g.passed)
                promotion_note = (
                    f"{trained.model_version}: kept as challenger ({failed} gate failed; "
                    "the champion is unchanged)"
                )
        except InputError as exc:
            promotion_note = f"{trained.model_version}: not compared with the champion ({exc})"
    if progress:
        progress(promotion_note)
    stage(progress, STAGES[-2])
    version = trained.model_version.rsplit(" v", 1)[1]
    # the weekly review: what changed since the week before the export
    latest = pd.read_csv(sessions, usecols=["session_date"])["session_date"].max()
    since = pd.Timestamp(latest) - pd.Timedelta(days=7)
    scored = run_scoring(
        clients,
        sessions,
        out / "risk_list.csv",
        config,
        model_uri=f"models:/{config.tracking.registered_model}/{version}",
        since=f"{since:%Y-%m-%d}",
    )
    metrics = {
        "model_version": trained.model_version,
        # the headline: the held-out clients' past caseloads, scored, against what happened
        "caseload_backtest": None
        if trained.caseload is None
        else trained.caseload[trained.caseload["date"].eq("pooled")].to_dict("records"),
        "selected_candidate": trained.result.selected,
        "calibration": trained.result.calibration,
        "test": trained.result.test_metrics,
        "test_intervals": {k: list(v) for k, v in trained.result.test_intervals.items()},
        "selected_params": trained.result.selected_params,
        "baselines": trained.result.baseline_metrics,
        "temporal": None
        if trained.temporal is None
        else trained.temporal.overall.to_dict("records"),
        "fairness_gaps": trained.assessment.gaps,
        "tracking_uri": trained.tracking_uri,
        "promotion": promotion_note,
        "run_id": trained.run_id,
    }
    stage(progress, STAGES[-1])
    metrics_path = write_text(json.dumps(metrics, indent=2), out / "metrics.json")
    report_path = write_report(scored, out / "risk.html")
    pages_path = write_report_dir(scored, out / "pages")
    screenshot_path = write_screenshot(report_path, out / "risk.png")
    if screenshot_path is None:
        note = "note: no screenshot of the risk page (needs Playwright and chromium: make browser)"
        if progress:
            progress(note)
        else:
            print(note)
    elif progress:
        progress(f"screenshot of the risk page: {screenshot_path}")
    return DemoResult(
        train=trained,
        score=scored,
        metrics_path=metrics_path,
        report_path=report_path,
        evaluation_path=out / "evaluation" / "report.html",
        screenshot_path=screenshot_path,
        promotion=promotion_note,
        pages_path=pages_path,
    )
