"""The evaluation report: PNG figures and one self-contained HTML page (TRIPOD+AI).

Everything shown comes from a `models.assessment.Assessment`, which holds aggregates only,
so the report cannot show a client's row or id. The page needs no network: CSS is inline
and the figures are embedded as data URIs. Colours follow the Okabe-Ito palette, which
stays distinguishable with colour-vision deficiency, and every line also differs by style
and marker, so colour is never the only cue.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.assessment import CHAMPION, FLAG_ALL, FLAG_NONE, POOLED_GROUP, Assessment
from models.backtest import TARGET_LABELS
from pipeline.io.output import atomic_write, write_text

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
FIGURES: tuple[str, ...] = (
    "calibration.png",
    "roc.png",
    "pr.png",
    "decision_curve.png",
    "landmarks.png",
    "subgroups.png",
    "shap_importance.png",
    "dependence.png",
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

# Okabe & Ito (2008) colour-blind safe palette
_OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
_LINESTYLES = ("-", "--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_HATCHES = ("", "//", "..", "xx", "\\\\", "--", "++", "oo")
_REFERENCE = {"color": "#555555", "linestyle": (0, (4, 3)), "linewidth": 1.0}
_FAMILY_ORDER = ("attendance", "alliance", "outcome", "intake", "history")
_DPI = 100
_TOP_FEATURES = 20
_DECISION_TABLE_AT = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:70rem;
color:#1a1a1a;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:2px solid #0072B2;padding-bottom:.2rem;
margin-top:2.2rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border-bottom:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.how-to-read{background:#eef5fb;border-left:4px solid #0072B2;padding:.5rem .8rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.85rem;color:#444}
nav ul{columns:2;list-style:none;padding-left:0}
.note{color:#444;font-size:.9rem}
@media print{body{margin:0;max-width:none}nav{display:none}section{break-inside:avoid-page}}
"""


# ------------------------------------------------------------------------------ formatting


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: object, digits: int = 3) -> str:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return "–" if not math.isfinite(x) else f"{x:.{digits}f}"


def _pct(value: float, digits: int = 1) -> str:
    return "–" if not math.isfinite(float(value)) else f"{100 * float(value):.{digits}f}%"


def _with_ci(row: Mapping, metric: str, digits: int = 3) -> str:
    estimate = _num(row.get(metric, math.nan), digits)
    low, high = row.get(f"{metric}_ci_low", math.nan), row.get(f"{metric}_ci_high", math.nan)
    if not (math.isfinite(float(low)) and math.isfinite(float(high))):
        return estimate
    return f"{estimate} ({_num(low, digits)} to {_num(high, digits)})"


def _context_value(value: str | float) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    caption: str,
    numeric: Sequence[bool] | None = None,
) -> str:
    """An HTML table; every cell escaped, the first cell of a row its header, numbers
    (already formatted) right-aligned: by column when ``numeric`` is given, else by cell.

    Shared with the model card (pipeline.reports.model_card).
    """
    head = "".join(f"<th scope='col'>{_esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = _esc(cell)
            if i == 0:
                cells.append(f"<th scope='row'>{text}</th>")
            elif numeric[i] if numeric is not None else _looks_numeric(str(cell)):
                cells.append(f"<td class='num'>{text}</td>")
            else:
                cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table><caption>{_esc(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


_table = html_table


def _looks_numeric(text: str) -> bool:
    head = text.split(" ")[0].rstrip("%")
    try:
        float(head.replace("–", "-"))
    except ValueError:
        return head == "–"
    return True


def _mpl(text: object) -> str:
    """Text safe for matplotlib: no mathtext from '$', no legend-hiding leading '_'."""
    out = str(text).replace("$", r"\$")
    return " " + out if out.startswith("_") else out


# --------------------------------------------------------------------------------- figures


def _style(i: int) -> dict:
    return {
        "color": _OKABE_ITO[i % len(_OKABE_ITO)],
        "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
        "marker": _MARKERS[i % len(_MARKERS)],
    }


def _png(draw: Callable[[Figure], None], size: tuple[float, float]) -> bytes:
    """Draw on a fresh figure and return it as PNG bytes.

    `matplotlib.figure.Figure` needs no backend and is not registered with pyplot, so
    nothing global is touched and nothing stays open.
    """
    fig = Figure(figsize=size, dpi=_DPI, layout="constrained")
    try:
        draw(fig)
        buf = io.BytesIO()
        # no software version in the metadata, so equal figures give equal bytes
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
        return buf.getvalue()
    finally:
        fig.clear()


def _error_bars(estimate, low, high) -> np.ndarray:
    """Error-bar lengths; a missing interval draws none.

    A percentile bootstrap interval need not contain the estimate (small groups), so
    lengths are clipped at 0 rather than passed on negative.
    """
    estimate = np.asarray(estimate, dtype=float)
    bars = np.vstack([estimate - np.asarray(low, float), np.asarray(high, float) - estimate])
    return np.clip(np.where(np.isfinite(bars), bars, 0), 0, None)


def _message(fig: Figure, text: str) -> None:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, _mpl(text), ha="center", va="center", wrap=True, fontsize=12)


def _draw_calibration(a: Assessment) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        curve = a.calibration_curve
        if curve.empty:
            _message(fig, "Too few episodes for a calibration plot.")
            return
        ax = fig.add_subplot()
        top = float(max(curve["mean_predicted"].max(), curve["observed_ci_high"].max(), 0.05))
        top = min(1.0, top * 1.05)
        ax.plot([0, top], [0, top], label="perfect calibration", **_REFERENCE)
        for i, model in enumerate(a.models):
            part = curve[curve["model"] == model]
            if part.empty:
                continue
            yerr = _error_bars(part["observed"], part["observed_ci_low"], part["observed_ci_high"])
            ax.errorbar(
                part["mean_predicted"],
                part["observed"],
                yerr=yerr,
                capsize=3,
                markersize=5,
                label=_mpl(model),
                **_style(i),
            )
        ax.set(
            xlim=(0, top),
            ylim=(0, top),
            xlabel="Predicted risk (mean in bin)",
            ylabel="Observed dropout rate (95% interval)",
            title="Calibration: predicted against observed",
        )
        ax.set_aspect("equal")
        ax.legend(loc="upper left", fontsize=9)

    return draw


def _draw_roc(a: Assessment) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], label="chance", **_REFERENCE)
        overall = a.overall.set_index("model")
        for i, model in enumerate(a.models):
            part = a.roc[a.roc["model"] == model].dropna(subset=["fpr", "tpr"])
            part = part.sort_values("threshold", ascending=False)
            label = f"{_mpl(model)} (AUROC {_num(overall.loc[model, 'auroc'], 2)})"
            ax.plot(part["fpr"], part["tpr"], markevery=10, markersize=4, label=label, **_style(i))
        at = _at_threshold(a.roc, CHAMPION, a.flag_threshold)
        if at is not None:
            ax.plot(
                at["fpr"],
                at["tpr"],
                linestyle="none",
                marker="*",
                markersize=14,
                color="#000000",
                label=f"champion at flag threshold {a.flag_threshold:g}",
            )
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="False positive rate (stayers flagged)",
            ylabel="True positive rate (dropouts flagged)",
            title="ROC curve",
        )
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize=9)

    return draw


def _draw_pr(a: Assessment) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        overall = a.overall.set_index("model")
        prevalence = float(overall["prevalence"].iloc[0])
        ax.axhline(prevalence, label=f"flag all (dropout rate {_pct(prevalence)})", **_REFERENCE)
        for i, model in enumerate(a.models):
            part = a.pr[a.pr["model"] == model].dropna(subset=["recall", "precision"])
            part = part.sort_values("threshold", ascending=False)
            label = f"{_mpl(model)} (AUPRC {_num(overall.loc[model, 'auprc'], 2)})"
            ax.plot(
                part["recall"],
                part["precision"],
                markevery=10,
                markersize=4,
                label=label,
                **_style(i),
            )
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="Recall (share of dropouts flagged)",
            ylabel="Precision (share of flagged who drop out)",
            title="Precision-recall curve",
        )
        ax.legend(loc="upper right", fontsize=9)

    return draw


def _draw_decision_curve(a: Assessment) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        curve = a.decision_curve
        for i, model in enumerate(a.models):
            part = curve[curve["strategy"] == model]
            ax.plot(
                part["threshold"],
                part["net_benefit"],
                markevery=5,
                markersize=4,
                label=_mpl(model),
                **_style(i),
            )
        flag_all = curve[curve["strategy"] == FLAG_ALL]
        ax.plot(
            flag_all["threshold"],
            flag_all["net_benefit"],
            color="#000000",
            linestyle=(0, (1, 2)),
            linewidth=1.8,
            label=FLAG_ALL,
        )
        flag_none = curve[curve["strategy"] == FLAG_NONE]
        ax.plot(
            flag_none["threshold"],
            flag_none["net_benefit"],
            color="#777777",
            linestyle="-",
            linewidth=3,
            alpha=0.6,
            label=FLAG_NONE,
        )
        best = float(curve["net_benefit"].max())
        ax.set(
            xlim=(float(curve["threshold"].min()), float(curve["threshold"].max())),
            ylim=(-0.05, max(best, 0.05) * 1.15),
            xlabel="Risk threshold for flagging",
            ylabel="Net benefit",
            title="Decision curve",
        )
        ax.legend(loc="upper right", fontsize=9)

    return draw


def _draw_landmarks(a: Assessment) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        table = a.by_landmark
        if table.empty:
            _message(fig, "Too few clients at any landmark to show results by landmark.")
            return
        left, right = fig.subplots(1, 2)
        x = table["landmark"].to_numpy()
        auroc = table["auroc"].to_numpy(dtype=float)
        low = table["auroc_ci_low"].to_numpy(dtype=float)
        high = table["auroc_ci_high"].to_numpy(dtype=float)
        yerr = _error_bars(auroc, low, high)
        left.axhline(0.5, label="chance", **_REFERENCE)
        left.errorbar(x, auroc, yerr=yerr, capsize=3, label="champion AUROC (95% CI)", **_style(0))
        left.set(xlabel="Landmark (appointments seen)", ylabel="AUROC", title="Discrimination")
        left.set_ylim(0.4, 1.0)
        left.legend(loc="lower right", fontsize=9)
        right.axhline(0, label="perfect", **_REFERENCE)
        right.plot(
            x,
            table["cal_intercept"],
            label="calibration intercept",
            **{**_style(0), "linestyle": "--", "marker": "s"},
        )
        right.set(
            xlabel="Landmark (appointments seen)",
            ylabel="Intercept (log-odds; > 0: risk too low)",
            title="Calibration-in-the-large",
        )
        right.legend(loc="best", fontsize=9)
        for ax in (left, right):
            ax.set_xticks(x)

    return draw


def _draw_subgroups(a: Assessment) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        table = a.subgroups
        if table.empty:
            _message(fig, "No subgroup attributes were available.")
            return
        attributes = list(dict.fromkeys(table["attribute"]))
        axes = np.atleast_1d(
            fig.subplots(
                len(attributes),
                1,
                gridspec_kw={
                    "height_ratios": [max(2, (table["attribute"] == x).sum()) for x in attributes]
                },
            )
        )
        overall = float(a.overall.set_index("model").loc[CHAMPION, "auroc"])
        for ax, attribute in zip(axes, attributes, strict=True):
            part = table[table["attribute"] == attribute].reset_index(drop=True)
            pos = np.arange(len(part))[::-1]
            auroc = part["auroc"].to_numpy(dtype=float)
            xerr = _error_bars(auroc, part["auroc_ci_low"], part["auroc_ci_high"])
            ax.axvline(overall, label=f"overall ({_num(overall, 2)})", **_REFERENCE)
            ax.errorbar(
                auroc,
                pos,
                xerr=xerr,
                capsize=3,
                label="AUROC (95% CI)",
                **{**_style(0), "linestyle": "none"},
            )
            ax.set_yticks(pos, [_mpl(g) for g in part["group"]])
            ax.set_ylim(-0.6, len(part) - 0.4)
            ax.set_xlim(0.3, 1.0)
            ax.set_title(_mpl(attribute), loc="left", fontsize=10)
        axes[-1].set_xlabel("AUROC")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=2, fontsize=9)

    return draw


def _families(a: Assessment) -> list[str]:
    # known families first in a fixed order, so a family keeps its colour across reports
    present = set(a.shap_importance["family"].astype(str))
    known = [f for f in _FAMILY_ORDER if f in present]
    return known + sorted(present - set(known))


def _draw_importance(a: Assessment) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        table = a.shap_importance.head(_TOP_FEATURES)
        if table.empty:
            _message(fig, "No feature contributions were supplied.")
            return
        ax = fig.add_subplot()
        families = _families(a)
        pos = np.arange(len(table))[::-1]
        unknown = [f for f in families if f not in _FAMILY_ORDER]
        for family in families:
            mine = (table["family"].astype(str) == family).to_numpy()
            if not mine.any():
                continue
            k = (
                _FAMILY_ORDER.index(family)
                if family in _FAMILY_ORDER
                else len(_FAMILY_ORDER) + unknown.index(family)
            )
            ax.barh(
                pos[mine],
                table["mean_abs_contribution"].to_numpy(dtype=float)[mine],
                color=_OKABE_ITO[k % len(_OKABE_ITO)],
                hatch=_HATCHES[k % len(_HATCHES)],
                edgecolor="#333333",
                label=_mpl(family),
            )
        ax.set_yticks(pos, [_mpl(f) for f in table["feature"]])
        ax.set(
            xlabel="Mean |contribution| to log-odds of dropout",
            title=f"Top {len(table)} features",
        )
        ax.legend(title="family", loc="lower right", fontsize=9)

    return draw


def _draw_dependence(a: Assessment) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        if not a.dependence:
            _message(fig, "No dependence data were supplied.")
            return
        names = list(a.dependence)
        ncols = min(3, len(names))
        nrows = math.ceil(len(names) / ncols)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, name in zip(axes, names, strict=False):
            bins = a.dependence[name]
            ax.axhline(0, **_REFERENCE)
            ax.fill_between(
                bins["value_mid"],
                bins["q25"],
                bins["q75"],
                color=_OKABE_ITO[5],
                alpha=0.35,
                hatch="//",
                edgecolor=_OKABE_ITO[0],
                linewidth=0,
                label="middle half (25th-75th percentile)",
            )
            ax.plot(
                bins["value_mid"],
                bins["mean_contribution"],
                markersize=4,
                label="mean contribution",
                **_style(0),
            )
            ax.set_xlabel(_mpl(name))
            ax.set_ylabel("Contribution (log-odds)")
        for ax in axes[len(names) :]:
            ax.axis("off")
        axes[0].legend(loc="best", fontsize=8)

    return draw


def _at_threshold(curve: pd.DataFrame, model: str, threshold: float) -> pd.Series | None:
    part = curve[(curve["model"] == model) & np.isclose(curve["threshold"], threshold)]
    return None if part.empty else part.iloc[0]


# ---------------------------------------------------------------------------------- HTML


def _figure(data: bytes, alt: str, caption: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (
        f"<figure><img src='{uri}' alt='{_esc(alt)}'>"
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _overall_rows(overall: pd.DataFrame, metrics: Sequence[str]) -> list[list[str]]:
    rows = []
    for row in overall.to_dict("records"):
        cells = [str(row["model"]), f"{int(row['n_episodes'])}", _pct(row["prevalence"])]
        cells += [_with_ci(row, m) if f"{m}_ci_low" in row else _num(row[m]) for m in metrics]
        rows.append(cells)
    return rows


_METRIC_LABELS = {
    "auroc": "AUROC (95% CI)",
    "auprc": "AUPRC (95% CI)",
    "brier": "Brier score (95% CI)",
    "log_loss": "log loss",
    "cal_slope": "calibration slope (95% CI)",
    "cal_intercept": "calibration intercept (95% CI)",
}


def _overall_table(overall: pd.DataFrame, metrics: Sequence[str], caption: str) -> str:
    headers = ["model", "episodes", "dropout rate", *(_METRIC_LABELS[m] for m in metrics)]
    return _table(headers, _overall_rows(overall, metrics), caption)


def _caseload(caseload: pd.DataFrame | None, note: str) -> str:
    if caseload is None or not len(caseload):
        return "<p>No caseload back-test was run for this model.</p>"
    headers = [
        "target", "AUROC (95% CI)", "AUPRC", "Brier", "calibration slope (95% CI)",
        "observed − predicted (95% CI)", "observed rate", "mean risk", "rows", "censored",
    ]  # fmt: skip
    rows = []
    pooled_rows = caseload[caseload["date"].eq("pooled")]
    for _, r in pooled_rows.iterrows():
        rows.append(
            [
                TARGET_LABELS.get(r["target"], r["target"]),
                _with_ci(r, "auroc"),
                _num(r["auprc"]),
                _num(r["brier"]),
                _with_ci(r, "cal_slope"),
                _with_ci(r, "calibration_in_the_large"),
                _pct(r["observed_rate"]),
                _pct(r["mean_risk"]),
                str(int(r["n_rows"])),
                _pct(r["censored_share"]),
            ]
        )
    out = f"<p>{_esc(note)}</p>" if note else ""
    out += _table(headers, rows, "Pooled over the back-test dates")
    per_date = caseload[~caseload["date"].eq("pooled")]
    date_rows = []
    for date, part in per_date.groupby("date", sort=True):
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
    out += _table(
        [
            "as-of date",
            "clients scored",
            "risk AUROC",
            "risk slope",
            "risk obs − pred",
            "horizon AUROC",
            "horizon slope",
            "horizon obs − pred",
        ],  # fmt: skip
        date_rows,
        "Per date (the eventual outcome's per-date figures lean on the pooled censoring "
        "weights: read them for the trend)",
    )
    return out


def _summary(a: Assessment, context: Mapping[str, str | float]) -> str:
    champion = a.overall.set_index("model").loc[CHAMPION].to_dict()
    n_rows = int(champion["n_examples"])
    parts = [
        f"<p>Evaluated on {int(champion['n_episodes'])} held-out episodes ({n_rows} "
        f"predictions at different landmarks) with a dropout rate of "
        f"{_pct(champion['prevalence'])}.</p>",
        "<ul>",
        f"<li>Discrimination: AUROC {_esc(_with_ci(champion, 'auroc'))}. In "
        f"{_pct(champion['auroc'], 0)} of pairs of one client who dropped out and one who "
        "stayed, the model gives the higher risk to the client who dropped out.</li>",
        f"<li>Calibration: slope {_esc(_with_ci(champion, 'cal_slope'))} (ideal 1), intercept "
        f"{_esc(_with_ci(champion, 'cal_intercept'))} (ideal 0).</li>",
    ]
    roc = _at_threshold(a.roc, CHAMPION, a.flag_threshold)
    pr = _at_threshold(a.pr, CHAMPION, a.flag_threshold)
    if roc is not None and pr is not None:
        prevalence = float(champion["prevalence"])
        flagged = prevalence * float(roc["tpr"]) + (1 - prevalence) * float(roc["fpr"])
        parts.append(
            f"<li>At the flag threshold {a.flag_threshold:.2f}, the model flags "
            f"{_pct(flagged)} of episodes and catches {_pct(float(roc['tpr']))} of dropouts; "
            f"{_pct(float(pr['precision']))} of flagged episodes end in dropout.</li>"
        )
    nb = a.decision_curve
    at = nb[np.isclose(nb["threshold"], a.flag_threshold)]
    if len(at):
        values = at.set_index("strategy")["net_benefit"]
        useful = values[CHAMPION] > max(values[FLAG_ALL], values[FLAG_NONE])
        parts.append(
            f"<li>Net benefit at the flag threshold: {_num(values[CHAMPION])} against "
            f"{_num(values[FLAG_ALL])} for flagging everyone: the model "
            f"{'adds' if useful else 'does not add'} value over the simple strategies "
            "there.</li>"
        )
    parts.append("</ul>")
    if context:
        rows = [[k, _context_value(v)] for k, v in context.items()]
        parts.append(_table(["item", "value"], rows, "About this model and run"))
    if a.notes:
        parts.append(
            "<ul class='note'>" + "".join(f"<li>{_esc(n)}</li>" for n in a.notes) + "</ul>"
        )
    return "".join(parts)


def _discrimination(a: Assessment, figs: Mapping[str, bytes]) -> str:
    return (
        _overall_table(a.overall, ("auroc", "auprc"), "Discrimination on the held-out set")
        + _figure(
            figs["roc.png"],
            "ROC curves of the champion and baselines with the chance diagonal",
            "ROC curve on a fixed grid of thresholds 0.00 to 1.00; the star marks the flag "
            "threshold.",
        )
        + _figure(
            figs["pr.png"],
            "Precision-recall curves with the dropout rate as the flag-all reference",
            "Precision-recall curve; precision is left out where fewer than "
            f"{a.min_cell} episodes are flagged.",
        )
    )


def _calibration(a: Assessment, figs: Mapping[str, bytes]) -> str:
    return _overall_table(
        a.overall,
        ("cal_slope", "cal_intercept", "brier", "log_loss"),
        "Calibration and overall accuracy (lower Brier score and log loss are better)",
    ) + _figure(
        figs["calibration.png"],
        "Calibration plot: observed dropout rate against mean predicted risk per bin, "
        "with 95% intervals and the diagonal of perfect calibration",
        "Ten bins of equal episode weight per model; bins with fewer than "
        f"{a.min_cell} episodes are merged with a neighbour.",
    )


def _decision(a: Assessment, figs: Mapping[str, bytes]) -> str:
    curve = a.decision_curve
    strategies = list(dict.fromkeys(curve["strategy"]))
    rows = []
    for t in _DECISION_TABLE_AT:
        at = curve[np.isclose(curve["threshold"], t)].set_index("strategy")["net_benefit"]
        if len(at):
            rows.append([f"{t:.1f}", *(_num(at.get(s, math.nan)) for s in strategies)])
    return _table(
        ["threshold", *strategies], rows, "Net benefit by threshold (higher is better)"
    ) + _figure(
        figs["decision_curve.png"],
        "Decision curve: net benefit of the champion, baselines, flag all and flag none "
        "over thresholds 0.10 to 0.60",
        "Net benefit = true positives per episode minus false positives per episode times "
        "t / (1 - t) (Vickers et al. 2019).",
    )


# the by-landmark table's columns, here and in the model card
LANDMARK_HEADERS = (
    "landmark",
    "episodes (weighted)",
    "dropout rate",
    "AUROC (95% CI)",
    "calibration intercept",
    "mean predicted risk",
)


def _landmarks(a: Assessment, figs: Mapping[str, bytes]) -> str:
    rows = [
        [
            str(int(r["landmark"])),
            str(int(r["n_episodes"])),
            _pct(r["prevalence"]),
            _with_ci(r, "auroc"),
            _num(r["cal_intercept"]),
            _pct(r["mean_risk"]),
        ]
        for r in a.by_landmark.to_dict("records")
    ]
    table = _table(
        LANDMARK_HEADERS,
        rows,
        "Champion by landmark",
    )
    return table + _figure(
        figs["landmarks.png"],
        "AUROC with 95% intervals and calibration intercept by landmark",
        "Episodes are weighted so that each client counts once across landmarks.",
    )


def _subgroups(a: Assessment, figs: Mapping[str, bytes]) -> str:
    rows = [
        [
            str(r["attribute"]),
            str(r["group"]),
            str(int(r["n_episodes"])),
            _pct(r["prevalence"]),
            _with_ci(r, "auroc"),
            _num(r["calibration_in_the_large"]),
            _pct(r["flag_rate"]),
        ]
        for r in a.subgroups.to_dict("records")
    ]
    table = _table(
        [
            "attribute",
            "group",
            "episodes",
            "dropout rate",
            "AUROC (95% CI)",
            "mean risk minus observed",
            f"flag rate (risk ≥ {a.flag_threshold:.2f})",
        ],
        rows,
        "Champion by subgroup",
    )
    gap_rows = [
        ["AUROC", _num(a.gaps.get("auroc", math.nan))],
        ["calibration-in-the-large", _num(a.gaps.get("calibration_in_the_large", math.nan))],
        ["flag rate", _num(a.gaps.get("flag_rate", math.nan))],
    ]
    gaps = _table(
        ["measure", "largest gap between groups"],
        gap_rows,
        "Fairness gaps: the largest difference between two groups of the same attribute",
    )
    note = (
        f"<p class='note'>Groups with fewer than {a.min_group} episodes are pooled into "
        f"&ldquo;{_esc(POOLED_GROUP)}&rdquo;; a blank value is shown as &ldquo;not "
        "recorded&rdquo;. A gap can reflect chance when groups are small: read it with the "
        "intervals above.</p>"
    )
    return (
        table
        + gaps
        + note
        + _figure(
            figs["subgroups.png"],
            "AUROC with 95% intervals per group, one panel per attribute, with the overall "
            "AUROC as a reference line",
            "Intervals come from resampling clients within each group.",
        )
    )


def _explanation(a: Assessment, figs: Mapping[str, bytes]) -> str:
    if a.shap_importance.empty:
        return "<p>No feature contributions were supplied for this run.</p>"
    rows = [
        [str(i + 1), str(r["feature"]), str(r["family"]), _num(r["mean_abs_contribution"])]
        for i, r in enumerate(a.shap_importance.head(_TOP_FEATURES).to_dict("records"))
    ]
    out = _table(
        ["rank", "feature", "family", "mean |contribution|"],
        rows,
        f"Top {len(rows)} features by mean absolute contribution to the log-odds",
    )
    out += _figure(
        figs["shap_importance.png"],
        "Bar chart of the top features by mean absolute contribution, coloured and "
        "hatched by feature family",
        "Contributions are on the log-odds scale of the champion model.",
    )
    if a.dependence:
        out += _figure(
            figs["dependence.png"],
            "For each selected feature, mean contribution across binned feature values with "
            "the 25th to 75th percentile band",
            f"Bins hold at least {a.min_cell} rows; the outer bin edges are the "
            f"{a.min_cell}th smallest and largest values.",
        )
    return out


def _baselines(a: Assessment) -> str:
    if len(a.models) == 1:
        return "<p>No baseline models were evaluated in this run.</p>"
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
    return _table(
        [
            "model",
            "AUROC (95% CI)",
            "AUROC minus champion",
            "AUPRC (95% CI)",
            "Brier score (95% CI)",
            f"net benefit at {a.flag_threshold:.2f}",
        ],
        rows,
        "Champion against baselines on the same held-out episodes",
    )


def _temporal(temporal: Assessment | None, a: Assessment) -> str:
    if temporal is None:
        return (
            "<p>No temporal validation was run for this model. It is usually missing "
            "because too few dated episodes fall after the training period to form a later "
            "test set. The results above come from held-out clients of the same period, "
            "which tends to be more optimistic than performance on a later period.</p>"
        )
    out = _overall_table(
        temporal.overall,
        ("auroc", "auprc", "brier", "cal_slope", "cal_intercept"),
        "All models on the later (temporal) test period",
    )
    before = float(a.overall.set_index("model").loc[CHAMPION, "auroc"])
    after = float(temporal.overall.set_index("model").loc[CHAMPION, "auroc"])
    if math.isfinite(before) and math.isfinite(after):
        out += (
            f"<p>Champion AUROC {_num(after)} on the later period against {_num(before)} on "
            f"held-out clients of the training period ({after - before:+.3f}).</p>"
        )
    if temporal.notes:
        out += (
            "<ul class='note'>" + "".join(f"<li>{_esc(n)}</li>" for n in temporal.notes) + "</ul>"
        )
    return out


def _methods(a: Assessment, methods: Sequence[str]) -> str:
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
    items = "".join(f"<li>{_esc(s)}</li>" for s in [*methods, *standard])
    return f"<ul>{items}</ul>"


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
    bodies = {
        "caseload": _caseload(caseload, caseload_note),
        "summary": _summary(a, context or {}),
        "discrimination": _discrimination(a, figures),
        "calibration": _calibration(a, figures),
        "decision-curve": _decision(a, figures),
        "landmarks": _landmarks(a, figures),
        "subgroups": _subgroups(a, figures),
        "explanation": _explanation(a, figures),
        "baselines": _baselines(a),
        "temporal": _temporal(temporal, a),
        "methods": _methods(a, methods),
    }
    nav = "".join(f"<li><a href='#{sid}'>{_esc(_TITLES[sid])}</a></li>" for sid in REPORT_SECTIONS)
    sections = "".join(
        f"<section id='{sid}' aria-labelledby='{sid}-title'>"
        f"<h2 id='{sid}-title'>{_esc(_TITLES[sid])}</h2>"
        f"<p class='how-to-read'>{_esc(_HOW_TO_READ[sid])}</p>{bodies[sid]}</section>"
        for sid in REPORT_SECTIONS
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Dropout-risk model: evaluation report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>Dropout-risk model: evaluation report</h1>"
        f"<nav aria-label='Sections'><ul>{nav}</ul></nav>{sections}</body></html>\n"
    )


def render_figures(assessment: Assessment) -> dict[str, bytes]:
    """Every figure of the report as PNG bytes, keyed by file name (see `FIGURES`)."""
    a = assessment
    n_sub = max(len(a.subgroups), 1)
    n_dep = max(len(a.dependence), 1)
    n_top = max(min(len(a.shap_importance), _TOP_FEATURES), 1)
    specs = {
        "calibration.png": (_draw_calibration(a), (6.5, 6.0)),
        "roc.png": (_draw_roc(a), (6.5, 6.0)),
        "pr.png": (_draw_pr(a), (6.5, 5.0)),
        "decision_curve.png": (_draw_decision_curve(a), (7.5, 5.0)),
        "landmarks.png": (_draw_landmarks(a), (10.0, 4.2)),
        "subgroups.png": (_draw_subgroups(a), (7.0, 1.5 + 0.42 * n_sub + 0.5 * 4)),
        "shap_importance.png": (_draw_importance(a), (8.0, 1.5 + 0.3 * n_top)),
        "dependence.png": (_draw_dependence(a), (11.0, 3.4 * math.ceil(n_dep / 3))),
    }
    return {name: _png(draw, size) for name, (draw, size) in specs.items()}


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
