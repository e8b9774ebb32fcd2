"""Feature drift, the training side: what the caseload the model learnt from looked like.

A model is only as good as the resemblance between the clients it scores and the clients
it was trained on. A new intake form, a site that stops collecting the SRS or a change in
referral routes can move a feature's distribution without anyone noticing, and the
risk list then quietly degrades. Training stores a :func:`fit_profile` of its data and
scoring checks each batch against it with :func:`models.drift.compare`.

The reference is not the landmark training rows (one row per episode per landmark
appointment, dense early in treatment) but :func:`cross_sections`: the active caseload
as it stood on a few past dates (:func:`reference_dates`), which is what a scored batch
is. Comparing landmarks with a caseload would report drift where there is none.

The profile holds aggregates only: bin edges that are quantiles of bins holding at least
``min_cell`` rows, shares of at least ``min_cell`` rows per named category, missing
shares and the row count. It names no client, therapist or rare category.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from configs.config import FeaturesConfig, InstrumentsConfig
from features.ids import among
from features.labels import open_on
from features.landmarks import asof_examples, model_inputs
from features.schema import CATEGORICAL_FEATURES, MODEL_INPUTS, ROW_FEATURES

PROFILE_VERSION = 1
BINNING = (
    "numeric bins are right-closed, (edge[i-1], edge[i]]: a value equal to an edge falls in "
    "the bin below it, values at or below the first edge in the first bin and values above "
    "the last edge in the last; shares are of the non-missing rows"
)


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
        theirs = sessions[among(sessions["client_id"], on_books["client_id"])]
        parts.append(model_inputs(asof_examples(on_books, theirs, d, instruments, features)))
    if not parts:
        return model_inputs(pd.DataFrame(columns=list(MODEL_INPUTS)))
    return pd.concat(parts, ignore_index=True)


def numeric_values(values: pd.Series) -> np.ndarray:
    """Floats with every non-finite or unparseable value as NaN (counted as missing).

    Parameters
    ----------
    values
        A feature's column, of any dtype.

    Returns
    -------
    numpy.ndarray
        One float per row; NaN marks a missing value.
    """
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(x), x, np.nan)


def category_labels(values: pd.Series) -> pd.Series:
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
    x = numeric_values(values)
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
    labels = category_labels(values)
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
