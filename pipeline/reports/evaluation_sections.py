"""What each section of the evaluation report shows: its tables and numbers, as plain values.

One function per section of `pipeline.reports.evaluation.REPORT_SECTIONS`; each returns a
dict (or None) for the macro of the same name in ``templates/evaluation_sections.html.j2``,
which holds the markup and the sentences around the numbers. Everything here is plain
text; the template escapes it.

The report shows odd values as it always has: a value that is not a number keeps its own
text, and an interval shows even when its estimate is missing (`_num`, `_with_ci`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd

from models.assessment import CHAMPION, Assessment
from models.backtest import TARGET_LABELS
from models.curves import FLAG_ALL, FLAG_NONE
from models.subgroups import POOLED_GROUP
from pipeline.reports.figures import TOP_FEATURES, at_threshold
from pipeline.reports.formatters import num, pct, significant, with_ci
from pipeline.reports.tables import LANDMARK_HEADERS, Table

_num = partial(num, keep_text=True)
_with_ci = partial(with_ci, keep_text=True, interval_if_no_estimate=True)

_DECISION_TABLE_AT = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
_METRIC_LABELS = {
    "auroc": "AUROC (95% CI)",
    "auprc": "AUPRC (95% CI)",
    "brier": "Brier score (95% CI)",
    "log_loss": "log loss",
    "cal_slope": "calibration slope (95% CI)",
    "cal_intercept": "calibration intercept (95% CI)",
}


def overall_table(overall: pd.DataFrame, metrics: Sequence[str], caption: str) -> Table:
    """One row per model: episodes, dropout rate and ``metrics`` (with intervals if any)."""
    headers = ["model", "episodes", "dropout rate", *(_METRIC_LABELS[m] for m in metrics)]
    rows = []
    for row in overall.to_dict("records"):
        cells = [str(row["model"]), f"{int(row['n_episodes'])}", pct(row["prevalence"])]
        cells += [_with_ci(row, m) if f"{m}_ci_low" in row else _num(row[m]) for m in metrics]
        rows.append(cells)
    return Table(caption, headers, rows)


def caseload(frame: pd.DataFrame | None, note: str) -> dict | None:
    """The caseload back-test pooled over its dates and date by date; None when not run."""
    if frame is None or not len(frame):
        return None
    headers = [
        "target", "AUROC (95% CI)", "AUPRC", "Brier", "calibration slope (95% CI)",
        "observed − predicted (95% CI)", "observed rate", "mean risk", "rows", "censored",
    ]  # fmt: skip
    rows = [
        [
            TARGET_LABELS.get(r["target"], r["target"]),
            _with_ci(r, "auroc"),
            _num(r["auprc"]),
            _num(r["brier"]),
            _with_ci(r, "cal_slope"),
            _with_ci(r, "calibration_in_the_large"),
            pct(r["observed_rate"]),
            pct(r["mean_risk"]),
            str(int(r["n_rows"])),
            pct(r["censored_share"]),
        ]
        for _, r in frame[frame["date"].eq("pooled")].iterrows()
    ]
    date_rows = []
    for date, part in frame[~frame["date"].eq("pooled")].groupby("date", sort=True):
        by = part.set_index("target")
        cells = [str(date), str(int(by["n_rows"].iloc[0]))]
        for target in ("risk", "risk_within_horizon"):
            if target in by.index:
                t = by.loc[target]
                cells += [
                    _num(t["auroc"]),
                    _num(t["cal_slope"]),
                    _num(t["calibration_in_the_large"]),
                ]
            else:
                cells += ["–", "–", "–"]
        date_rows.append(cells)
    per_date = Table(
        "Per date (the eventual outcome's per-date figures lean on the pooled censoring "
        "weights: read them for the trend)",
        [
            "as-of date",
            "clients scored",
            "risk AUROC",
            "risk slope",
            "risk obs − pred",
            "horizon AUROC",
            "horizon slope",
            "horizon obs − pred",
        ],
        date_rows,
    )
    return {
        "note": note,
        "pooled": Table("Pooled over the back-test dates", headers, rows),
        "per_date": per_date,
    }


def summary(a: Assessment, context: Mapping[str, str | float]) -> dict:
    """The champion's headline numbers, what flagging at the threshold does, the run's facts."""
    champion = a.overall.set_index("model").loc[CHAMPION].to_dict()
    view = {
        "n_episodes": int(champion["n_episodes"]),
        "n_rows": int(champion["n_examples"]),
        "prevalence": champion["prevalence"],
        "auroc": champion["auroc"],
        "auroc_ci": _with_ci(champion, "auroc"),
        "cal_slope_ci": _with_ci(champion, "cal_slope"),
        "cal_intercept_ci": _with_ci(champion, "cal_intercept"),
        "threshold": a.flag_threshold,
        "flagging": None,
        "net_benefit": None,
        "context": None,
        "notes": list(a.notes),
    }
    roc = at_threshold(a.roc, CHAMPION, a.flag_threshold)
    pr = at_threshold(a.pr, CHAMPION, a.flag_threshold)
    if roc is not None and pr is not None:
        prevalence = float(champion["prevalence"])
        view["flagging"] = {
            "flagged": prevalence * float(roc["tpr"]) + (1 - prevalence) * float(roc["fpr"]),
            "caught": float(roc["tpr"]),
            "precision": float(pr["precision"]),
        }
    nb = a.decision_curve
    at = nb[np.isclose(nb["threshold"], a.flag_threshold)]
    if len(at):
        values = at.set_index("strategy")["net_benefit"]
        view["net_benefit"] = {
            "champion": _num(values[CHAMPION]),
            "flag_all": _num(values[FLAG_ALL]),
            "useful": values[CHAMPION] > max(values[FLAG_ALL], values[FLAG_NONE]),
        }
    if context:
        rows = [[k, significant(v)] for k, v in context.items()]
        view["context"] = Table("About this model and run", ["item", "value"], rows)
    return view


def discrimination(a: Assessment) -> dict:
    """AUROC and AUPRC of every model (the ROC and PR figures follow in the template)."""
    return {
        "table": overall_table(a.overall, ("auroc", "auprc"), "Discrimination on the held-out set"),
        "min_cell": a.min_cell,
    }


def calibration(a: Assessment) -> dict:
    """Calibration slope and intercept, Brier score and log loss of every model."""
    return {
        "table": overall_table(
            a.overall,
            ("cal_slope", "cal_intercept", "brier", "log_loss"),
            "Calibration and overall accuracy (lower Brier score and log loss are better)",
        ),
        "min_cell": a.min_cell,
    }


def decision_curve(a: Assessment) -> dict:
    """Net benefit of each strategy at a few thresholds."""
    curve = a.decision_curve
    strategies = list(dict.fromkeys(curve["strategy"]))
    rows = []
    for t in _DECISION_TABLE_AT:
        at = curve[np.isclose(curve["threshold"], t)].set_index("strategy")["net_benefit"]
        if len(at):
            rows.append([f"{t:.1f}", *(_num(at.get(s, math.nan)) for s in strategies)])
    caption = "Net benefit by threshold (higher is better)"
    return {"table": Table(caption, ["threshold", *strategies], rows)}


def landmarks(a: Assessment) -> dict:
    """The champion at each landmark."""
    rows = [
        [
            str(int(r["landmark"])),
            str(int(r["n_episodes"])),
            pct(r["prevalence"]),
            _with_ci(r, "auroc"),
            _num(r["cal_intercept"]),
            pct(r["mean_risk"]),
        ]
        for r in a.by_landmark.to_dict("records")
    ]
    return {"table": Table("Champion by landmark", LANDMARK_HEADERS, rows)}


def subgroups(a: Assessment) -> dict:
    """The champion in each subgroup, and the largest gaps between groups."""
    rows = [
        [
            str(r["attribute"]),
            str(r["group"]),
            str(int(r["n_episodes"])),
            pct(r["prevalence"]),
            _with_ci(r, "auroc"),
            _num(r["calibration_in_the_large"]),
            pct(r["flag_rate"]),
        ]
        for r in a.subgroups.to_dict("records")
    ]
    headers = [
        "attribute",
        "group",
        "episodes",
        "dropout rate",
        "AUROC (95% CI)",
        "mean risk minus observed",
        f"flag rate (risk ≥ {a.flag_threshold:.2f})",
    ]
    gap_rows = [
        ["AUROC", _num(a.gaps.get("auroc", math.nan))],
        ["calibration-in-the-large", _num(a.gaps.get("calibration_in_the_large", math.nan))],
        ["flag rate", _num(a.gaps.get("flag_rate", math.nan))],
    ]
    gaps = Table(
        "Fairness gaps: the largest difference between two groups of the same attribute",
        ["measure", "largest gap between groups"],
        gap_rows,
    )
    return {
        "table": Table("Champion by subgroup", headers, rows),
        "gaps": gaps,
        "min_group": a.min_group,
        "pooled_group": POOLED_GROUP,
    }


def explanation(a: Assessment) -> dict | None:
    """The top features by mean absolute contribution; None when none were supplied."""
    if a.shap_importance.empty:
        return None
    rows = [
        [str(i + 1), str(r["feature"]), str(r["family"]), _num(r["mean_abs_contribution"])]
        for i, r in enumerate(a.shap_importance.head(TOP_FEATURES).to_dict("records"))
    ]
    table = Table(
        f"Top {len(rows)} features by mean absolute contribution to the log-odds",
        ["rank", "feature", "family", "mean |contribution|"],
        rows,
    )
    return {"table": table, "dependence": bool(a.dependence), "min_cell": a.min_cell}


def baselines(a: Assessment) -> dict | None:
    """The champion against each baseline; None when no baseline was evaluated."""
    if len(a.models) == 1:
        return None
    overall = a.overall.set_index("model")
    champion_auroc = float(overall.loc[CHAMPION, "auroc"])
    nb = a.decision_curve
    at = nb[np.isclose(nb["threshold"], a.flag_threshold)].set_index("strategy")["net_benefit"]
    rows = []
    for model in a.models:
        row = overall.loc[model].to_dict()
        difference = float(row["auroc"]) - champion_auroc
        rows.append(
            [
                model,
                _with_ci(row, "auroc"),
                "–" if model == CHAMPION else f"{difference:+.3f}",
                _with_ci(row, "auprc"),
                _with_ci(row, "brier"),
                _num(at.get(model, math.nan)),
            ]
        )
    headers = [
        "model",
        "AUROC (95% CI)",
        "AUROC minus champion",
        "AUPRC (95% CI)",
        "Brier score (95% CI)",
        f"net benefit at {a.flag_threshold:.2f}",
    ]
    return {
        "table": Table("Champion against baselines on the same held-out episodes", headers, rows)
    }


def temporal(later: Assessment | None, a: Assessment) -> dict | None:
    """Every model on the later period, and the champion's AUROC then and before."""
    if later is None:
        return None
    view = {
        "table": overall_table(
            later.overall,
            ("auroc", "auprc", "brier", "cal_slope", "cal_intercept"),
            "All models on the later (temporal) test period",
        ),
        "change": None,
        "notes": list(later.notes),
    }
    before = float(a.overall.set_index("model").loc[CHAMPION, "auroc"])
    after = float(later.overall.set_index("model").loc[CHAMPION, "auroc"])
    if math.isfinite(before) and math.isfinite(after):
        view["change"] = {"before": _num(before), "after": _num(after), "gain": after - before}
    return view


def methods(a: Assessment, sentences: Sequence[str]) -> list[str]:
    """The run's own sentences on method, then the ones every report states."""
    standard = [
        "Reported following TRIPOD+AI (Collins et al., BMJ 2024;385:e078378).",
        "In the landmark view every closed held-out episode counts once: the prediction "
        "rows of one client carry weights that sum to 1, used in every measure, curve and "
        "count of that view. These evaluation weights depend on how long an episode ran, "
        "so the landmark view describes closed episodes, not a caseload; the caseload "
        "back-test is the headline, and no training example is weighted this way.",
        f"95% intervals are percentile intervals from {a.n_boot} bootstrap resamples of "
        "clients (all rows of a client are resampled together); subgroup and landmark "
        "intervals resample clients within the group.",
        "Calibration is judged by the calibration slope and intercept and a binned "
        "calibration plot with Wilson intervals, not by the Hosmer-Lemeshow test "
        "(Van Calster et al. 2019, BMC Med 17:230).",
        "Clinical usefulness is shown by net benefit against flagging everyone and no one "
        "over thresholds 0.10 to 0.60 (Vickers et al. 2019, Diagn Progn Res 3:18).",
        "Fairness was checked by computing AUROC, calibration-in-the-large and the flag "
        "rate per age band, gender, site and program with fairlearn's MetricFrame "
        "(episode weights as sample weights); the gap is the largest between-group "
        f"difference within any attribute. Groups with fewer than {a.min_group} episodes "
        "are pooled.",
        f"Privacy: every number aggregates at least {a.min_cell} episodes or rows, curves "
        "are evaluated on a fixed grid of thresholds, and no client identifier appears in "
        "this report.",
    ]
    return [*sentences, *standard]
