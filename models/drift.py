"""Feature drift, the scoring side: does a scored batch still look like the training caseload?

`compare` sets a batch of model-input rows against the profile training stored
(:func:`features.drift.fit_profile`, of the caseload as it stood on a few past dates) and
gives each feature the population stability index (PSI) over the profile's bins and a
missing bin, the change in its missing share and a status. The `DriftReport` it returns
feeds the scoring output, the tracking run and the promotion gate, and words each feature's
change for a clinical lead (:meth:`DriftReport.describe`).

Nothing here is fitted: the comparison uses the stored aggregates and the batch only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammainccinv

from features.drift import PROFILE_VERSION, category_labels, numeric_values
from features.schema import FEATURE_FAMILIES, ROW_FEATURES, SCALE_LABELS

# shares are floored at this before the logarithm, so an empty bin gives a large but
# finite PSI term instead of infinity
PSI_EPSILON = 1e-4
STATUS_ORDER = ("alarm", "moved", "ok", "not judged")
TABLE_COLUMNS = [
    "feature",
    "family",
    "psi",
    "psi_noise",
    "missing_reference",
    "missing_now",
    "status",
]
# a change in the missing share this large is worth a clause in the plain-language sentence
MISSING_WORTH_SAYING = 0.05


_SCALE_STATS = {
    "last": "latest rating",
    "change": "change since the first rating",
    "slope": "recent trend",
    "min": "lowest rating so far",
    "ruptures": "number of drops",
    "unrepaired": "unresolved drop",
    "repairs": "number of recovered drops",
}
_LABELS = {
    "appointments": "Appointments so far",
    "attendance_rate": "Attendance rate",
    "no_shows": "No-shows",
    "late_cancels": "Late cancellations",
    "cancellations": "Cancellations with notice",
    "missed_first_appointment": "Missed first appointment",
    "misses_since_last_attended": "Missed appointments since the last attended session",
    "days_since_last_attended": "Days since the last attended session",
    "longest_gap_days": "Longest gap between attended sessions (days)",
    "days_in_treatment": "Days in treatment",
    "plan_progress": "Share of the planned sessions attended",
    "srs_below_cutoff": "SRS total below the cut-off (latest rating)",
    "srs_share_below_cutoff": "Share of SRS ratings below the cut-off",
    "alliance_level": "Alliance level (all scales, 0-1)",
    "low_alliance_x_misses": "Low alliance with missed appointments",
    "ors_last": "ORS total (latest rating)",
    "ors_change": "ORS total (change since the first rating)",
    "ors_clinical": "ORS total in the clinical range (latest rating)",
    "age": "Age",
    "planned_sessions": "Planned sessions",
    "site": "Site",
    "program": "Program",
    "gender": "Gender",
    "primary_concern": "Primary concern",
    "referral_source": "Referral source",
}


def feature_label(name: str) -> str:
    """A feature's name as a clinical lead reads it; the column name when there is none."""
    if name in _LABELS:
        return _LABELS[name]
    for scale, label in SCALE_LABELS.items():
        stat = name.removeprefix(f"{scale}_")
        if stat != name and stat in _SCALE_STATS:
            return f"{label[0].upper()}{label[1:]} ({_SCALE_STATS[stat]})"
    return name


def _numeric_shares(entry: dict, values: pd.Series) -> tuple[np.ndarray, np.ndarray, float]:
    """Reference and batch shares over the bins and the missing bin; the batch's missing share."""
    edges = np.asarray(entry.get("edges", []), dtype=float)
    shares = np.asarray(entry.get("shares", [1.0]), dtype=float)
    x = numeric_values(values)
    missing = np.isnan(x)
    # side="left" puts a value equal to an edge in the bin below it: right-closed, as fitted
    index = np.searchsorted(edges, x[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    expected = _with_missing(shares, entry["missing"])
    return expected, _with_missing_counts(counts, len(x)), _mean(missing)


def _categorical_shares(entry: dict, values: pd.Series) -> tuple[np.ndarray, np.ndarray, float]:
    names = list(entry["categories"])
    shares = np.asarray([*entry["categories"].values(), entry["other"]], dtype=float)
    labels = category_labels(values)
    missing = labels.isna().to_numpy()
    # unseen and rare categories both go to "other", the last bin
    present = labels[~missing].to_numpy(dtype=object)
    codes, uniques = pd.factorize(present)
    if all(type(u) is str for u in uniques):
        # text: each distinct label looked up once (a caseload repeats a few labels)
        index = pd.Index(names).get_indexer(pd.Index(uniques, dtype=object))[codes]
    else:
        index = pd.Index(names).get_indexer(present)
    index = np.where(index < 0, len(names), index)
    counts = np.bincount(index, minlength=len(names) + 1)
    expected = _with_missing(shares, entry["missing"])
    return expected, _with_missing_counts(counts, len(labels)), _mean(missing)


def _mean(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else math.nan


def _with_missing(present_shares: np.ndarray, missing: float) -> np.ndarray:
    """Shares of the non-missing rows → shares of all rows, with the missing bin last."""
    return np.append(present_shares * (1.0 - missing), missing)


def _with_missing_counts(present_counts: np.ndarray, n: int) -> np.ndarray:
    """Batch counts per bin → shares of all rows, with the missing bin last."""
    if not n:
        return np.zeros(len(present_counts) + 1)
    return np.append(present_counts, n - present_counts.sum()) / n


def population_stability(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI: sum over bins of (actual - expected) * ln(actual / expected).

    Both shares are floored at ``PSI_EPSILON`` so an empty bin gives a large finite term.
    """
    e = np.maximum(np.asarray(expected, dtype=float), PSI_EPSILON)
    a = np.maximum(np.asarray(actual, dtype=float), PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_noise_floor(n_bins: int, n_rows: int, n_reference: int, alpha: float) -> float:
    """The PSI that sampling alone exceeds with probability ``alpha`` (no shift at all).

    For small differences PSI is close to Pearson's X^2 divided by the effective sample
    size 1 / (1/n + 1/N), and X^2 follows a chi-square law with (bins - 1) degrees of
    freedom when nothing moved. A feature counts as moved only above this floor too, so a
    small caseload does not raise alarms from noise (100 rows give about 0.1 of PSI per
    feature by chance, and the largest of 50 features far more).
    """
    if n_bins < 2 or n_rows <= 0:
        return math.inf
    effective = 1.0 / (1.0 / n_rows + (1.0 / n_reference if n_reference > 0 else 0.0))
    # the chi-square quantile as scipy.stats.chi2.isf computes it (scipy.stats itself
    # takes over a second to import, most of a small caseload's scoring)
    return float(2.0 * gammainccinv((n_bins - 1) / 2.0, alpha) / effective)


def _status(
    psi: float, noise: float, missing_change: float, psi_moved, psi_alarm, missing_alarm
) -> str:
    if abs(missing_change) >= missing_alarm or psi >= max(psi_alarm, noise):
        return "alarm"
    if psi >= max(psi_moved, noise):
        return "moved"
    return "ok"


def _percent(share: float) -> str:
    if 0 < share < 0.005:
        return "under 1%"
    if 0.995 <= share < 1:
        return "over 99%"
    return f"{share:.0%}"


def _plain(value):
    """NaN → None and numpy scalars → Python ones, for JSON."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# a DataFrame field has no meaningful equality or hash, so neither is generated
@dataclass(frozen=True, eq=False)
class DriftReport:
    """A scored batch compared with the training profile, feature by feature.

    Attributes
    ----------
    table
        One row per feature: ``feature``, ``family``, ``psi``, ``missing_reference``,
        ``missing_now`` and ``status`` (``alarm``, ``moved``, ``ok`` or ``not judged``),
        most severe first, then by PSI, largest first.
    n_rows, n_reference
        Rows in the batch and in the reference the profile was fitted on.
    judged
        False when the batch was too small to judge (every status ``not judged``).
    alarm
        Any feature in alarm.
    note
        One sentence on the comparison as a whole.
    psi_moved, psi_alarm
        The PSI thresholds the statuses were given with.
    """

    table: pd.DataFrame
    n_rows: int
    n_reference: int
    judged: bool
    alarm: bool
    note: str
    # the thresholds the statuses were given with, for the wording of describe()
    psi_moved: float = 0.1
    psi_alarm: float = 0.25

    def moved(self) -> pd.DataFrame:
        """The features in alarm or moved, most severe first."""
        return self.table[self.table["status"].isin(["alarm", "moved"])].reset_index(drop=True)

    def metrics(self, prefix: str = "drift_") -> dict[str, float]:
        """Numbers for the tracking run.

        ``max_psi`` is NaN when nothing was judged; ``features_moved`` counts the
        features moved or in alarm, ``features_alarm`` those in alarm.
        """
        status = self.table["status"]
        judged_psi = self.table.loc[status != "not judged", "psi"].dropna()
        return {
            f"{prefix}rows": float(self.n_rows),
            f"{prefix}reference_rows": float(self.n_reference),
            f"{prefix}judged": float(self.judged),
            f"{prefix}alarm": float(self.alarm),
            f"{prefix}max_psi": float(judged_psi.max()) if len(judged_psi) else math.nan,
            f"{prefix}features_moved": float(status.isin(["alarm", "moved"]).sum()),
            f"{prefix}features_alarm": float((status == "alarm").sum()),
        }

    def to_dict(self) -> dict:
        """Plain JSON-able data (NaN as None)."""
        features = [
            {k: _plain(v) for k, v in record.items()} for record in self.table.to_dict("records")
        ]
        return {
            "n_rows": int(self.n_rows),
            "n_reference": int(self.n_reference),
            "judged": bool(self.judged),
            "alarm": bool(self.alarm),
            "note": self.note,
            "features": features,
        }

    def describe(self, feature_row: Mapping | pd.Series | str) -> str:
        """One plain-language sentence about a feature for a clinical lead.

        Parameters
        ----------
        feature_row
            A row of :attr:`table` (or the feature's name).

        Examples
        --------
        ``"SRS total (latest rating): distribution shifted (PSI 0.31); missing in 45% of
        clients vs 12% in training"``
        """
        if isinstance(feature_row, str):
            found = self.table[self.table["feature"] == feature_row]
            if found.empty:
                raise KeyError(f"{feature_row!r} is not in this drift report")
            feature_row = found.iloc[0]
        row = dict(feature_row)
        # a row of the table indexed by feature carries the name as its label
        name = row.get("feature", getattr(feature_row, "name", None))
        label = feature_label(str(name))
        status = row["status"]
        psi, before, now = row["psi"], row["missing_reference"], row["missing_now"]
        if status == "not judged":
            if before is None or (isinstance(before, float) and math.isnan(before)):
                return f"{label}: not judged (too little training data to summarise it)"
            return f"{label}: not judged (too few clients in this batch)"
        parts = []
        if psi >= self.psi_alarm:
            parts.append(f"distribution shifted (PSI {psi:.2f})")
        elif psi >= self.psi_moved:
            parts.append(f"distribution moved a little (PSI {psi:.2f})")
        if abs(now - before) >= MISSING_WORTH_SAYING:
            parts.append(f"missing in {_percent(now)} of clients vs {_percent(before)} in training")
        if not parts:
            parts.append(f"similar to training (PSI {psi:.2f})")
        return f"{label}: " + "; ".join(parts)


def _feature_record(
    name: str,
    entry: dict | None,
    values: pd.Series | None,
    *,
    judged: bool,
    n_rows: int,
    n_reference: int,
    alpha: float,
    psi_moved: float,
    psi_alarm: float,
    missing_alarm: float,
) -> dict:
    """One row of the report table: a feature's PSI, noise floor, missing shares and status.

    ``entry`` is the feature's profile (None when it was not profiled) and ``values`` its
    batch column (None when the batch lacks it); without both it is ``not judged``.
    """
    record = {
        "feature": name,
        "family": FEATURE_FAMILIES.get(name, ""),
        "psi": math.nan,
        "psi_noise": math.nan,
        "missing_reference": math.nan if entry is None else float(entry["missing"]),
        "missing_now": math.nan,
        "status": "not judged",
    }
    if entry is None or values is None:
        return record
    shares = _categorical_shares if entry["kind"] == "categorical" else _numeric_shares
    expected, actual, now_missing = shares(entry, values)
    record["missing_now"] = float(now_missing)
    if judged:
        psi = population_stability(expected, actual)
        change = now_missing - record["missing_reference"]
        noise = psi_noise_floor(len(expected), n_rows, n_reference, alpha)
        record["psi"] = psi
        record["psi_noise"] = noise
        record["status"] = _status(psi, noise, change, psi_moved, psi_alarm, missing_alarm)
    return record


def _ordered_table(records: list[dict]) -> pd.DataFrame:
    """The report table, most severe status first, then by PSI, largest first."""
    table = pd.DataFrame.from_records(records, columns=TABLE_COLUMNS)
    table["psi"] = table["psi"].astype(float)
    table["psi_noise"] = table["psi_noise"].astype(float)
    table["missing_reference"] = table["missing_reference"].astype(float)
    table["missing_now"] = table["missing_now"].astype(float)
    severity = table["status"].map({s: i for i, s in enumerate(STATUS_ORDER)})
    return (
        table.assign(_severity=severity, _order=np.arange(len(table)))
        .sort_values(["_severity", "psi", "_order"], ascending=[True, False, True], kind="stable")
        .drop(columns=["_severity", "_order"])
        .reset_index(drop=True)
    )


def _note(table: pd.DataFrame, n: int, judged: bool, min_rows: int, n_reference) -> str:
    """The sentence on the comparison as a whole."""
    if not judged:
        return (
            f"Not judged: the batch has {n} rows and drift is judged from {min_rows} rows "
            "(the PSI of a smaller batch is mostly noise)."
        )
    n_alarm = int((table["status"] == "alarm").sum())
    n_moved = int((table["status"] == "moved").sum())
    return (
        f"{n} rows compared with {n_reference} reference rows: "
        f"{n_alarm} feature{'s' if n_alarm != 1 else ''} in alarm, {n_moved} moved."
    )


def compare(
    profile: dict,
    rows: pd.DataFrame,
    *,
    psi_moved: float = 0.1,
    psi_alarm: float = 0.25,
    missing_alarm: float = 0.2,
    min_rows: int = 100,
    significance: float = 0.001,
) -> DriftReport:
    """Compare a batch of model-input rows with the training profile.

    Each profiled feature gets the population stability index (PSI) over its bins and
    the missing bin, and the change in its missing share. The thresholds are the usual
    PSI conventions (below 0.1 stable, 0.1-0.25 moved, 0.25 and above a real shift), not
    tuned to any data.

    Parameters
    ----------
    profile
        From :func:`features.drift.fit_profile`.
    rows
        The batch's model-input rows (e.g. ``model_inputs`` of the scored caseload).
    psi_moved, psi_alarm
        PSI at which a feature counts as moved, and in alarm.
    missing_alarm
        Absolute change in a feature's missing share that raises the alarm by itself.
    min_rows
        Smaller batches are not judged: the PSI of a few dozen rows is mostly noise.
    significance
        Family-wise chance, over all features, that sampling alone puts a feature above
        its noise floor (:func:`psi_noise_floor`); a feature moves only above the floor.

    Returns
    -------
    DriftReport
        Features not in the profile (too few training rows, or not in the batch) are
        ``not judged``. A numeric feature profiled with its missing share only is judged
        on the two bins "recorded" and "missing".

    Raises
    ------
    ValueError
        When the profile's version is not `features.drift.PROFILE_VERSION`.
    """
    if profile.get("version") != PROFILE_VERSION:
        raise ValueError(
            f"drift profile version {profile.get('version')!r} is not supported (expected "
            f"{PROFILE_VERSION}). Fix: retrain the model so it stores a current profile."
        )
    n = int(len(rows))
    judged = n >= min_rows
    profiled = profile["features"]
    names = [f for f in ROW_FEATURES if f in profiled or f in rows.columns]
    records = [
        _feature_record(
            name,
            profiled.get(name),
            rows[name] if name in rows.columns else None,
            judged=judged,
            n_rows=n,
            n_reference=int(profile["n_rows"]),
            alpha=significance / max(len(names), 1),
            psi_moved=psi_moved,
            psi_alarm=psi_alarm,
            missing_alarm=missing_alarm,
        )
        for name in names
    ]
    table = _ordered_table(records)
    return DriftReport(
        table=table,
        n_rows=n,
        n_reference=int(profile["n_rows"]),
        judged=judged,
        alarm=bool((table["status"] == "alarm").any()),
        note=_note(table, n, judged, min_rows, profile["n_rows"]),
        psi_moved=psi_moved,
        psi_alarm=psi_alarm,
    )
