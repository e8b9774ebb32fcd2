"""The evaluation report: PNG figures and one self-contained HTML page (TRIPOD+AI).

Everything shown comes from a `models.assessment.Assessment`, which holds aggregates only,
so the report cannot show a client's row or id. The page needs no network: CSS is inline
and the figures are embedded as data URIs. The figures are drawn in
`pipeline.reports.figures`, each section's tables and numbers come from
`pipeline.reports.evaluation_sections`, and the page is ``templates/evaluation.html.j2``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from models.assessment import Assessment
from pipeline.io.output import atomic_write, write_text
from pipeline.reports import evaluation_sections as sections
from pipeline.reports.figures import FIGURES, render_figures
from pipeline.reports.tables import LANDMARK_HEADERS
from pipeline.reports.templating import render

__all__ = [
    "FIGURES",
    "LANDMARK_HEADERS",
    "REPORT_SECTIONS",
    "render_evaluation_html",
    "render_figures",
    "write_evaluation_report",
]

REPORT_SECTIONS: tuple[str, ...] = (
    "caseload",
    "summary",
    "discrimination",
    "calibration",
    "decision-curve",
    "landmarks",
    "subgroups",
    "explanation",
    "baselines",
    "temporal",
    "methods",
)
_TITLES = {
    "caseload": "The caseload back-test: risks on past caseloads against what happened",
    "summary": "Summary of the landmark view (closed held-out episodes)",
    "discrimination": "Discrimination: does the model rank clients who drop out higher?",
    "calibration": "Calibration: do the risks match what happened?",
    "decision-curve": "Clinical usefulness: decision curve",
    "landmarks": "Performance by landmark (appointments seen so far)",
    "subgroups": "Performance in subgroups and fairness",
    "explanation": "What drives the predictions",
    "baselines": "Comparison with simpler baselines",
    "temporal": "Temporal validation",
    "methods": "Methods",
}
_HOW_TO_READ = {
    "caseload": (
        "The headline: the held-out clients' caseloads rebuilt on past dates from what an "
        "export taken then would have shown, scored as `score` scores a caseload, and "
        "compared with what happened to those clients since. Calibration-in-the-large is "
        "the observed dropout rate minus the mean predicted risk (above 0: risks too low); "
        "a slope below 1 means risks too extreme. Episodes still open at the export are "
        "censored and handled by inverse-probability-of-censoring weights."
    ),
    "summary": (
        "The headline numbers for the selected model on clients it never saw during "
        "training; brackets hold 95% intervals, the range the true value plausibly lies in."
    ),
    "discrimination": (
        "AUROC is the chance that a client who dropped out got a higher risk than one who "
        "stayed (0.5 is a coin toss, 1 is perfect); AUPRC should be compared with the "
        "dropout rate, which is what flagging clients at random would achieve."
    ),
    "calibration": (
        "Points on the diagonal mean that predicted risks match observed dropout rates; a "
        "calibration slope below 1 means risks are too extreme (too high for high-risk and "
        "too low for low-risk clients), and an intercept above 0 means risks are too low on "
        "average (below 0: too high)."
    ),
    "decision-curve": (
        "Net benefit counts dropouts correctly flagged per episode, minus false alarms "
        "weighted by how many false alarms a clinician accepts per dropout caught at that "
        "threshold; the model helps at a threshold where its line is above both flag all "
        "and flag none."
    ),
    "landmarks": (
        "A landmark is the number of appointments seen when the risk was computed; early "
        "landmarks carry less information, so a lower AUROC there is expected, and an "
        "intercept far from 0 means risks at that point are systematically off."
    ),
    "subgroups": (
        "Each group's AUROC with its 95% interval (wide intervals mean few episodes); here "
        "calibration-in-the-large is mean predicted risk minus the observed dropout rate, "
        "so above 0 means the model over-predicts for that group, and the flag rate is the "
        "share of episodes at or above the flag threshold."
    ),
    "explanation": (
        "Mean absolute contribution is how far a feature moves a client's log-odds of "
        "dropout on average, in either direction; the dependence panels show the average "
        "contribution across a feature's values, with a band holding the middle half of "
        "clients."
    ),
    "baselines": (
        "Each baseline uses one simple source of information; the selected model should "
        "beat them clearly, otherwise its extra inputs are not earning their complexity."
    ),
    "temporal": (
        "The same measures on episodes from a later period than the training data: the "
        "better guide to how the model will do on next year's clients."
    ),
    "methods": "How the numbers above were produced, so that they can be checked.",
}


def render_evaluation_html(
    assessment: Assessment,
    figures: Mapping[str, bytes],
    *,
    temporal: Assessment | None = None,
    context: Mapping[str, str | float] | None = None,
    methods: Sequence[str] = (),
    caseload: pd.DataFrame | None = None,
    caseload_note: str = "",
) -> str:
    """The report as one HTML document, figures embedded as data URIs.

    Parameters
    ----------
    assessment
        The held-out assessment of the champion and baselines.
    figures
        PNG bytes by file name, one for each of `FIGURES`.
    temporal
        The assessment on a later period, or None when none was run.
    context
        Facts about the model and run shown in the summary (escaped).
    methods
        Sentences for the methods section (escaped), before the standard ones.
    caseload, caseload_note
        The caseload back-test (``models.backtest.caseload_metrics``) and a sentence on
        its dates; shown first.

    Returns
    -------
    str
        A complete HTML page with one ``<section>`` per `REPORT_SECTIONS` entry, in order.
    """
    a = assessment
    views = {
        "caseload": sections.caseload(caseload, caseload_note),
        "summary": sections.summary(a, context or {}),
        "discrimination": sections.discrimination(a),
        "calibration": sections.calibration(a),
        "decision-curve": sections.decision_curve(a),
        "landmarks": sections.landmarks(a),
        "subgroups": sections.subgroups(a),
        "explanation": sections.explanation(a),
        "baselines": sections.baselines(a),
        "temporal": sections.temporal(temporal, a),
        "methods": sections.methods(a, methods),
    }
    page_sections = [
        {
            "id": sid,
            "title": _TITLES[sid],
            "how_to_read": _HOW_TO_READ[sid],
            "macro": sid.replace("-", "_"),
            "view": views[sid],
        }
        for sid in REPORT_SECTIONS
    ]
    return render("evaluation.html.j2", sections=page_sections, figures=figures)


def write_evaluation_report(
    assessment: Assessment,
    out_dir: Path,
    *,
    temporal: Assessment | None = None,
    context: Mapping[str, str | float] | None = None,
    methods: Sequence[str] = (),
    caseload: pd.DataFrame | None = None,
    caseload_note: str = "",
) -> list[Path]:
    """Write the evaluation figures and the self-contained HTML report.

    Parameters
    ----------
    assessment
        From `models.assessment.assess` on the held-out test set.
    out_dir
        Folder to write into; created if needed. Existing files of the same names are
        replaced atomically.
    temporal
        The assessment on a later period, or None when no temporal validation was run
        (the report then says so and why it may be missing).
    context
        Facts shown in the summary, e.g. model version, selected candidate, calibration
        method, split sizes, dropout rate.
    methods
        Plain sentences for the methods section: how thresholds were chosen, missing
        inputs, recalibration, class-imbalance handling, fairness checks.

    Returns
    -------
    list of Path
        The PNGs of `FIGURES` in order, then ``report.html``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = render_figures(assessment)
    written = [
        atomic_write(out_dir / name, lambda tmp, data=data: tmp.write_bytes(data))
        for name, data in figures.items()
    ]
    page = render_evaluation_html(
        assessment,
        figures,
        temporal=temporal,
        context=context,
        methods=methods,
        caseload=caseload,
        caseload_note=caseload_note,
    )
    written.append(write_text(page, out_dir / "report.html"))
    return written
