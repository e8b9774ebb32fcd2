"""Feature drift: does the scored caseload still look like the caseload the model learnt from?

A model is only as good as the resemblance between the clients it scores and the clients
it was trained on. A new intake form, a site that stops collecting the SRS or a change in
referral routes can move a feature's distribution without anyone noticing, and the
risk list then quietly degrades. Training stores a :func:`fit_profile` of its data and
scoring checks each batch against it with :func:`compare`.

The reference is not the landmark training rows (one row per episode per landmark
appointment, dense early in treatment) but :func:`cross_sections`: the active caseload
as it stood on a few past dates (:func:`reference_dates`), which is what a scored batch
is. Comparing landmarks with a caseload would report drift where there is none.

The profile holds aggregates only: bin edges that are quantiles of bins holding at least
``min_cell`` rows, shares of at least ``min_cell`` rows per named category, missing
shares and the row count. It names no client, therapist or rare category.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from configs.config import FeaturesConfig, InstrumentsConfig
from features.labels import open_on
from features.landmarks import asof_examples, model_inputs
from features.schema import (
    CATEGORICAL_FEATURES,
    FEATURE_FAMILIES,
    MODEL_INPUTS,
    ROW_FEATURES,
    SCALE_LABELS,
)

PROFILE_VERSION = 1
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
BINNING = (
    "numeric bins are right-closed, (edge[i-1], edge[i]]: a value equal to an edge falls in "
    "the bin below it, values at or below the first edge in the first bin and values above "
    "the last edge in the last; shares are of the non-missing rows"
)

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


# --------------------------------------------------------------------------- reference


def reference_dates(
    session_dates: pd.Series, n: int = 6, spacing_days: int = 28
) -> list[pd.Timestamp]:
    """The dates the training caseload is summarised on.

    Parameters
    ----------
    session_dates
        Appointment dates of the training data.
    n
        Number of dates at most.
    spacing_days
        Days between consecutive dates.

    Returns
    -------
    list of pandas.Timestamp
        The latest appointment date and the ``n - 1`` dates before it ``spacing_days``
        apart, oldest first; dates before the earliest appointment are left out. Empty
        when there are no dates.
    """
    if n < 1 or spacing_days < 1:
        raise ValueError(
            f"reference_dates needs n >= 1 and spacing_days >= 1, got n={n}, "
            f"spacing_days={spacing_days}. Fix: set drift.reference_dates and "
            "drift.reference_spacing_days to positive numbers."
        )
    dates = pd.to_datetime(session_dates).dropna()
    if dates.empty:
        return []
    latest, earliest = dates.max(), dates.min()
    steps = (latest - pd.Timedelta(days=spacing_days * k) for k in range(n - 1, -1, -1))
    return [pd.Timestamp(d) for d in steps if d >= earliest]


def cross_sections(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    instruments: InstrumentsConfig,
    features: FeaturesConfig,
    dates: Sequence[pd.Timestamp],
) -> pd.DataFrame:
    """The model-input rows of the caseload as it stood on each date, pooled.

    On date ``d`` a client is active when ``intake_date <= d`` and they were not yet
    discharged (``discharge_date`` blank or after ``d``); their row is built exactly as
    scoring builds it (:func:`features.landmarks.asof_examples`), from the appointments
    on or before ``d`` only. A client appears once per date they were active on, and not
    at all on a date before their first appointment (scoring does not score them either).

    Parameters
    ----------
    clients, sessions
        Validated contract tables (typed dates).
    instruments, features
        Instrument definitions and feature settings, as the model was trained with.
    dates
        The cross-section dates, e.g. from :func:`reference_dates`.

    Returns
    -------
    pandas.DataFrame
        Columns ``MODEL_INPUTS``, one row per active client per date.
    """
    parts = []
    for date in dates:
        d = pd.Timestamp(date)
        on_books = clients[open_on(clients, d)]
        theirs = sessions[sessions["client_id"].isin(on_books["client_id"])]
        parts.append(model_inputs(asof_examples(on_books, theirs, d, instruments, features)))
    if not parts:
        return model_inputs(pd.DataFrame(columns=list(MODEL_INPUTS)))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- profile


def _numeric(values: pd.Series) -> np.ndarray:
    """Floats with every non-finite or unparseable value as NaN (counted as missing)."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(x), x, np.nan)


def _categories(values: pd.Series) -> pd.Series:
    """Category labels as text with missing as NA, whatever the column's dtype."""
    return values.astype("string")


def _bin_counts(x_sorted: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Rows per right-closed bin of sorted values: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    at_or_below = np.searchsorted(x_sorted, np.asarray(edges, dtype=float), side="right")
    return np.diff(np.concatenate([[0], at_or_below, [len(x_sorted)]]))


def _numeric_edges(x_sorted: np.ndarray, bins: int, min_cell: int) -> list[float]:
    """Interior bin edges such that no bin holds between 1 and ``min_cell - 1`` rows.

    Few distinct values (counts, flags) get one bin per value plus an empty bin above
    the largest, so a value above anything seen in training stands out. Otherwise the
    edges are quantiles with ties removed. A bin with too few rows is merged into the bin
    above it (the top bin into the one below) until none is left: every edge kept is
    then the upper edge of a bin of at least ``min_cell`` rows, so a rare value is never
    stored, and the smallest or largest value is an edge only when at least ``min_cell``
    rows share it.
    """
    distinct = np.unique(x_sorted)
    if len(distinct) <= bins:
        edges = [float(v) for v in distinct]
    else:
        n_bins = min(bins, len(x_sorted) // min_cell)
        quantiles = np.quantile(x_sorted, np.arange(1, n_bins) / n_bins)
        edges = [float(v) for v in np.unique(quantiles)]
    while edges:
        counts = _bin_counts(x_sorted, edges)
        small = np.flatnonzero((counts > 0) & (counts < min_cell))
        if not len(small):
            break
        rare = int(small[np.argmin(counts[small])])
        # bin i is (edges[i-1], edges[i]]: dropping edges[i] merges it with the bin above
        del edges[rare if rare < len(edges) else rare - 1]
    if edges and edges[-1] == x_sorted[-1] and np.sum(x_sorted == x_sorted[-1]) < min_cell:
        # the maximum tops a bin of enough rows but is itself held by too few to be stored
        del edges[-1]
    return edges


def _share(count: float, total: float) -> float:
    return round(float(count) / total, 6) if total else 0.0


def _numeric_profile(values: pd.Series, bins: int, min_cell: int) -> dict:
    x = _numeric(values)
    present = np.sort(x[~np.isnan(x)])
    entry: dict = {"kind": "numeric", "missing": _share(len(x) - len(present), len(x))}
    if len(present) < 2 * min_cell:
        return entry  # too few values for any bin of min_cell rows: the missing share only
    edges = _numeric_edges(present, bins, min_cell)
    counts = _bin_counts(present, edges)
    entry["edges"] = edges
    entry["shares"] = [_share(c, len(present)) for c in counts]
    return entry


def _categorical_profile(values: pd.Series, min_cell: int) -> dict:
    labels = _categories(values)
    present = labels.dropna()
    counts = present.value_counts()
    kept = counts[counts >= min_cell].sort_index()
    return {
        "kind": "categorical",
        "missing": _share(len(labels) - len(present), len(labels)),
        "categories": {str(k): _share(v, len(present)) for k, v in kept.items()},
        # categories with fewer than min_cell rows are pooled, never named
        "other": _share(len(present) - kept.sum(), len(present)),
    }


def fit_profile(rows: pd.DataFrame, *, bins: int = 10, min_cell: int = 10) -> dict:
    """Summarise the reference rows' feature distributions for later comparison.

    Parameters
    ----------
    rows
        Model-input rows, e.g. from :func:`cross_sections`. Only the features built from
        a client's own rows (``ROW_FEATURES``) are profiled: never ``therapist_id`` (an
        identifier) nor the learnt history features.
    bins
        Number of quantile bins for a numeric feature (deciles by default).
    min_cell
        Fewest rows behind any stored number: every non-empty bin and every named
        category holds at least this many rows, and a numeric feature with fewer than ``2 * min_cell``
        values keeps only its missing share. With fewer than ``min_cell`` rows in all,
        nothing is profiled.

    Returns
    -------
    dict
        Plain JSON-able data: ``version``, ``n_rows``, ``bins``, ``min_cell``,
        ``binning`` (the bin convention in words) and ``features``, per feature its
        ``kind``, ``missing`` share and either ``edges`` and ``shares`` (numeric; shares
        of the non-missing rows per bin, ``len(edges) + 1`` of them) or ``categories``
        (share per category) and ``other`` (pooled rare categories; categorical).
    """
    if bins < 2 or min_cell < 1:
        raise ValueError(
            f"fit_profile needs bins >= 2 and min_cell >= 1, got bins={bins}, min_cell={min_cell}."
        )
    profile: dict = {
        "version": PROFILE_VERSION,
        "n_rows": int(len(rows)),
        "bins": int(bins),
        "min_cell": int(min_cell),
        "binning": BINNING,
        "features": {},
    }
    if len(rows) < min_cell:
        return profile
    for name in ROW_FEATURES:
        if name not in rows.columns:
            continue
        if name in CATEGORICAL_FEATURES:
            profile["features"][name] = _categorical_profile(rows[name], min_cell)
        else:
            profile["features"][name] = _numeric_profile(rows[name], bins, min_cell)
    return profile


# --------------------------------------------------------------------------- comparison


def _numeric_shares(entry: dict, values: pd.Series) -> tuple[np.ndarray, np.ndarray, float]:
    """Reference and batch shares over the bins and the missing bin; the batch's missing share."""
    edges = np.asarray(entry.get("edges", []), dtype=float)
    shares = np.asarray(entry.get("shares", [1.0]), dtype=float)
    x = _numeric(values)
    missing = np.isnan(x)
    # side="left" puts a value equal to an edge in the bin below it: right-closed, as fitted
    index = np.searchsorted(edges, x[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    expected = _with_missing(shares, entry["missing"])
    return expected, _with_missing_counts(counts, len(x)), _mean(missing)


def _categorical_shares(entry: dict, values: pd.Series) -> tuple[np.ndarray, np.ndarray, float]:
    names = list(entry["categories"])
    shares = np.asarray([*entry["categories"].values(), entry["other"]], dtype=float)
    labels = _categories(values)
    missing = labels.isna().to_numpy()
    # unseen and rare categories both go to "other", the last bin
    index = pd.Index(names).get_indexer(labels[~missing].to_numpy(dtype=object))
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
    from scipy.stats import chi2

    if n_bins < 2 or n_rows <= 0:
        return math.inf
    effective = 1.0 / (1.0 / n_rows + (1.0 / n_reference if n_reference > 0 else 0.0))
    return float(chi2.isf(alpha, n_bins - 1) / effective)


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
        From :func:`fit_profile`.
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
    records = []
    for name in names:
        entry = profiled.get(name)
        record = {
            "feature": name,
            "family": FEATURE_FAMILIES.get(name, ""),
            "psi": math.nan,
            "psi_noise": math.nan,
            "missing_reference": math.nan if entry is None else float(entry["missing"]),
            "missing_now": math.nan,
            "status": "not judged",
        }
        if entry is not None and name in rows.columns:
            shares = _categorical_shares if entry["kind"] == "categorical" else _numeric_shares
            expected, actual, now_missing = shares(entry, rows[name])
            record["missing_now"] = float(now_missing)
            if judged:
                psi = population_stability(expected, actual)
                change = now_missing - record["missing_reference"]
                noise = psi_noise_floor(
                    len(expected), n, int(profile["n_rows"]), significance / max(len(names), 1)
                )
                record["psi"] = psi
                record["psi_noise"] = noise
                record["status"] = _status(psi, noise, change, psi_moved, psi_alarm, missing_alarm)
        records.append(record)
    table = pd.DataFrame.from_records(records, columns=TABLE_COLUMNS)
    table["psi"] = table["psi"].astype(float)
    table["psi_noise"] = table["psi_noise"].astype(float)
    table["missing_reference"] = table["missing_reference"].astype(float)
    table["missing_now"] = table["missing_now"].astype(float)
    severity = table["status"].map({s: i for i, s in enumerate(STATUS_ORDER)})
    table = (
        table.assign(_severity=severity, _order=np.arange(len(table)))
        .sort_values(["_severity", "psi", "_order"], ascending=[True, False, True], kind="stable")
        .drop(columns=["_severity", "_order"])
        .reset_index(drop=True)
    )
    alarm = bool((table["status"] == "alarm").any())
    if not judged:
        note = (
            f"Not judged: the batch has {n} rows and drift is judged from {min_rows} rows "
            "(the PSI of a smaller batch is mostly noise)."
        )
    else:
        n_alarm = int((table["status"] == "alarm").sum())
        n_moved = int((table["status"] == "moved").sum())
        note = (
            f"{n} rows compared with {profile['n_rows']} reference rows: "
            f"{n_alarm} feature{'s' if n_alarm != 1 else ''} in alarm, {n_moved} moved."
        )
    return DriftReport(
        table=table,
        n_rows=n,
        n_reference=int(profile["n_rows"]),
        judged=judged,
        alarm=alarm,
        note=note,
        psi_moved=psi_moved,
        psi_alarm=psi_alarm,
    )
