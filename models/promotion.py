"""The promotion gates: may the challenger replace the champion? (pure: figures in, verdicts out)

``pipeline.commands.promote`` measures both registered versions on clients neither was
trained on and passes the figures here. A new gate is a new :class:`Gate` appended in
:func:`decide`, its bound a new field of ``configs.config.PromotionConfig``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from configs.config import PromotionConfig
from models.drift import DriftReport


@dataclass(frozen=True)
class Gate:
    """One promotion gate: the figures of both models, the rule and whether it passed."""

    name: str
    passed: bool
    champion: str
    challenger: str
    rule: str


def _num(value: float, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def decide(
    figures: dict[str, float],
    config: PromotionConfig,
    *,
    has_champion: bool = True,
    drift: DriftReport | None = None,
    drift_champion: DriftReport | None = None,
) -> list[Gate]:
    """The five gates from the measured figures (pure: numbers in, verdicts out).

    ``figures`` holds ``auroc_champion``, ``auroc_challenger``, ``auroc_difference`` with
    ``auroc_difference_ci_low``/``_ci_high``, ``cal_slope_champion``/``_challenger`` and
    ``gap_<measure>_champion``/``_challenger`` for ``auroc`` and ``calibration``. A gate
    whose figures cannot be measured (no champion, no subgroups, too small a caseload)
    passes and says so.
    """
    f = figures
    gates = []
    margin = config.auroc_margin
    if has_champion:
        high = f["auroc_difference_ci_high"]
        passed = not (math.isfinite(high) and high < -margin)
        gates.append(
            Gate(
                "auroc",
                passed,
                _num(f["auroc_champion"]),
                f"{_num(f['auroc_challenger'])} (difference {_num(f['auroc_difference'])}, "
                f"95% CI {_num(f['auroc_difference_ci_low'])} to {_num(high)})",
                "not worse beyond the paired bootstrap interval"
                + (f" minus {margin:g}" if margin else ""),
            )
        )
    else:
        gates.append(
            Gate("auroc", True, "no champion", _num(f["auroc_challenger"]), "nothing to compare")
        )
    low, high = config.calibration_slope
    slope = f["cal_slope_challenger"]
    gates.append(
        Gate(
            "calibration_slope",
            bool(math.isfinite(slope) and low <= slope <= high),
            _num(f.get("cal_slope_champion", math.nan)),
            _num(slope),
            f"challenger within {low:g}–{high:g}",
        )
    )
    citl = f.get("calibration_in_the_large_challenger", math.nan)
    bound = config.calibration_in_the_large
    gates.append(
        Gate(
            "calibration_in_the_large",
            bool(math.isfinite(citl) and abs(citl) <= bound),
            _num(f.get("calibration_in_the_large_champion", math.nan)),
            _num(citl),
            f"observed − predicted within ±{bound:g}",
        )
    )
    tolerance = config.subgroup_gap_tolerance
    worse = []
    shown = {"champion": [], "challenger": []}
    for measure in ("auroc", "calibration"):
        old = f.get(f"gap_{measure}_champion", math.nan)
        new = f.get(f"gap_{measure}_challenger", math.nan)
        shown["champion"].append(f"{measure} {_num(old)}")
        shown["challenger"].append(f"{measure} {_num(new)}")
        if has_champion and math.isfinite(old) and math.isfinite(new) and new > old + tolerance:
            worse.append(measure)
    gates.append(
        Gate(
            "subgroup_gap",
            not worse,
            ", ".join(shown["champion"]) if has_champion else "no champion",
            ", ".join(shown["challenger"]),
            f"largest gaps grow by at most {tolerance:g}",
        )
    )
    gates.append(
        Gate(
            "drift",
            drift is None or not drift.alarm,
            _drift_words(drift_champion),
            _drift_words(drift),
            "no feature-drift alarm against the challenger's training data",
        )
    )
    return gates


def _drift_words(report: DriftReport | None) -> str:
    if report is None:
        return "–"
    if not report.judged:
        return f"not judged ({report.note})"
    moved = report.moved()
    alarms = moved[moved["status"].eq("alarm")]["feature"].tolist()
    top = float(report.table["psi"].max()) if len(report.table) else math.nan
    words = f"max PSI {_num(top, 2)}"
    if alarms:
        words += f"; alarm: {', '.join(alarms[:3])}" + (" …" if len(alarms) > 3 else "")
    return words
