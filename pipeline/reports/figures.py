"""The evaluation report's figures, drawn with matplotlib and returned as PNG bytes.

Colours follow the Okabe-Ito palette, which stays distinguishable with colour-vision
deficiency, and every line also differs by style and marker, so colour is never the only
cue. Each figure is drawn on its own `matplotlib.figure.Figure`: no pyplot state.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.assessment import CHAMPION, Assessment
from models.curves import FLAG_ALL, FLAG_NONE
from pipeline.reports.formatters import num, pct
from pipeline.reports.vocabulary import FAMILY_ORDER, in_family_order

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
# The importance figure's colours by family. Its order predates the interaction family,
# which takes the first colour after these five, as any family not named here does; naming
# it would recolour outcome, intake and history in every report.
_FIGURE_FAMILY_ORDER = tuple(family for family in FAMILY_ORDER if family != "interaction")
_DPI = 100
# the importance table and figure show this many features
TOP_FEATURES = 20


def _mpl(text: object) -> str:
    """Text safe for matplotlib: no mathtext from '$', no legend-hiding leading '_'."""
    out = str(text).replace("$", r"\$")
    return " " + out if out.startswith("_") else out


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
            auroc = num(overall.loc[model, "auroc"], 2, keep_text=True)
            label = f"{_mpl(model)} (AUROC {auroc})"
            ax.plot(part["fpr"], part["tpr"], markevery=10, markersize=4, label=label, **_style(i))
        at = at_threshold(a.roc, CHAMPION, a.flag_threshold)
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
        ax.axhline(prevalence, label=f"flag all (dropout rate {pct(prevalence)})", **_REFERENCE)
        for i, model in enumerate(a.models):
            part = a.pr[a.pr["model"] == model].dropna(subset=["recall", "precision"])
            part = part.sort_values("threshold", ascending=False)
            auprc = num(overall.loc[model, "auprc"], 2, keep_text=True)
            label = f"{_mpl(model)} (AUPRC {auprc})"
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
            reference = f"overall ({num(overall, 2, keep_text=True)})"
            ax.axvline(overall, label=reference, **_REFERENCE)
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
    return in_family_order(a.shap_importance["family"].astype(str), _FIGURE_FAMILY_ORDER)


def _draw_importance(a: Assessment) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        table = a.shap_importance.head(TOP_FEATURES)
        if table.empty:
            _message(fig, "No feature contributions were supplied.")
            return
        ax = fig.add_subplot()
        families = _families(a)
        pos = np.arange(len(table))[::-1]
        unknown = [f for f in families if f not in _FIGURE_FAMILY_ORDER]
        for family in families:
            mine = (table["family"].astype(str) == family).to_numpy()
            if not mine.any():
                continue
            k = (
                _FIGURE_FAMILY_ORDER.index(family)
                if family in _FIGURE_FAMILY_ORDER
                else len(_FIGURE_FAMILY_ORDER) + unknown.index(family)
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


def at_threshold(curve: pd.DataFrame, model: str, threshold: float) -> pd.Series | None:
    """The curve's point for ``model`` at ``threshold``, or None when the grid lacks it."""
    part = curve[(curve["model"] == model) & np.isclose(curve["threshold"], threshold)]
    return None if part.empty else part.iloc[0]


def render_figures(assessment: Assessment) -> dict[str, bytes]:
    """Every figure of the report as PNG bytes, keyed by file name (see `FIGURES`)."""
    a = assessment
    n_sub = max(len(a.subgroups), 1)
    n_dep = max(len(a.dependence), 1)
    n_top = max(min(len(a.shap_importance), TOP_FEATURES), 1)
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
