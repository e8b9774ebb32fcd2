"""What explains the champion on the held-out set: feature importance and dependence bins.

From additive contributions to the log-odds (SHAP values or exact linear terms), one
column per original feature: the mean absolute contribution per feature with its family,
and for chosen features the contribution binned against the feature's value. Every bin
holds at least ``min_cell`` rows and its outer edges are bottom- and top-coded, so no
single client's value or contribution is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

IMPORTANCE_COLUMNS = ["feature", "family", "mean_abs_contribution"]
DEPENDENCE_COLUMNS = [
    "value_low",
    "value_high",
    "value_mid",
    "n",
    "mean_contribution",
    "q25",
    "q75",
]

_MAX_DISTINCT_FOR_VALUE_BINS = 12
_N_DEPENDENCE_BINS = 10


def _default_families() -> dict[str, str]:
    # the schema is the one list of features (features/schema.py); imported late so that
    # a caller passing its own families does not depend on it
    from features.schema import FEATURES

    return {f.name: f.family for f in FEATURES}


def shap_importance(contributions: pd.DataFrame, families: Mapping[str, str]) -> pd.DataFrame:
    """Mean absolute contribution per feature, largest first.

    Parameters
    ----------
    contributions
        One column per feature, one row per explained prediction.
    families
        Feature name to family; unknown features get ``"other"``.

    Returns
    -------
    pandas.DataFrame
        `IMPORTANCE_COLUMNS`, ties in feature-name order; features without a finite mean
        are left out.
    """
    values = contributions.apply(pd.to_numeric, errors="coerce").abs().mean(axis=0)
    frame = pd.DataFrame(
        {
            "feature": [str(c) for c in values.index],
            "family": [families.get(str(c), "other") for c in values.index],
            "mean_abs_contribution": values.to_numpy(dtype=float),
        }
    )
    frame = frame[np.isfinite(frame["mean_abs_contribution"])]
    return frame.sort_values(
        ["mean_abs_contribution", "feature"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def dependence_bins(x: np.ndarray, c: np.ndarray, min_cell: int) -> pd.DataFrame:
    """Binned contribution of one feature against its value.

    Few distinct values get one bin each; otherwise up to 10 quantile bins. The outer
    edges are the ``min_cell``-th smallest and largest values, not the minimum and
    maximum, so that no single client's extreme value is shown.

    Parameters
    ----------
    x, c
        The feature's finite values and contributions, one per row.
    min_cell
        Fewest rows in a shown bin; smaller bins are left out.

    Returns
    -------
    pandas.DataFrame
        `DEPENDENCE_COLUMNS`, one row per bin in value order.
    """
    distinct = np.unique(x)
    if len(distinct) <= _MAX_DISTINCT_FOR_VALUE_BINS:
        bins = np.searchsorted(distinct, x)
        low = high = distinct
    else:
        inner = np.unique(np.quantile(x, np.arange(1, _N_DEPENDENCE_BINS) / _N_DEPENDENCE_BINS))
        bins = np.searchsorted(inner, x, side="right")
        ordered = np.sort(x)
        bottom = ordered[min(min_cell, len(x)) - 1]
        top = ordered[max(len(x) - min_cell, 0)]
        low = np.concatenate([[bottom], inner])
        high = np.concatenate([inner, [top]])
    rows = []
    for b in range(len(low)):
        member = c[bins == b]
        if len(member) < min_cell:
            continue
        q25, q75 = np.quantile(member, [0.25, 0.75])
        rows.append(
            {
                "value_low": float(low[b]),
                "value_high": float(high[b]),
                "value_mid": float((low[b] + high[b]) / 2),
                "n": int(len(member)),
                "mean_contribution": float(member.mean()),
                "q25": float(q25),
                "q75": float(q75),
            }
        )
    return pd.DataFrame(rows, columns=DEPENDENCE_COLUMNS)


def _aligned_values(feature_values: pd.DataFrame, contributions: pd.DataFrame) -> pd.DataFrame:
    """The feature values in the row order of the contributions."""
    if feature_values.index.equals(contributions.index):
        return feature_values
    if feature_values.index.is_unique and contributions.index.isin(feature_values.index).all():
        return feature_values.reindex(contributions.index)
    raise ValueError(
        "feature_values: its rows cannot be matched to the contribution rows. Fix: give "
        "both frames the same index (one row per explained prediction)."
    )


def _dependence(
    contributions: pd.DataFrame,
    feature_values: pd.DataFrame,
    dependence_features: Sequence[str],
    min_cell: int,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Dependence bins of each requested numeric feature, and notes on those skipped."""
    aligned = _aligned_values(feature_values, contributions)
    dependence: dict[str, pd.DataFrame] = {}
    notes = []
    for feature in dependence_features:
        if feature not in contributions.columns or feature not in feature_values.columns:
            continue
        x = pd.to_numeric(aligned[feature], errors="coerce")
        c = pd.to_numeric(contributions[feature], errors="coerce")
        x, c = x.to_numpy(dtype=float), c.to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(c)
        if not ok.any():
            notes.append(f"{feature}: no numeric values, so no dependence plot.")
            continue
        bins = dependence_bins(x[ok], c[ok], min_cell)
        if len(bins):
            dependence[feature] = bins
    return dependence, notes


def explanation(
    contributions: pd.DataFrame | None,
    feature_values: pd.DataFrame | None,
    feature_families: Mapping[str, str] | None,
    dependence_features: Sequence[str],
    min_cell: int,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], list[str]]:
    """Feature importance and dependence bins, as `models.assessment.assess` reports them.

    Parameters
    ----------
    contributions
        Additive contributions to the log-odds, one column per feature; None for none.
    feature_values
        The features' values for the same rows (same index as ``contributions``).
    feature_families
        Feature name to family; by default the families of ``features.schema.FEATURES``.
    dependence_features
        Features to bin against their values; numeric values only, others are skipped.
    min_cell
        Fewest rows behind any reported number.

    Returns
    -------
    importance
        From `shap_importance`; empty (with its columns) without contributions or with
        fewer than ``min_cell`` rows of them.
    dependence
        Feature name to its `dependence_bins`, for the features that have any.
    notes
        Sentences on what was left out and why.

    Raises
    ------
    ValueError
        When the rows of ``feature_values`` cannot be matched to the contribution rows.
    """
    empty = pd.DataFrame(columns=IMPORTANCE_COLUMNS)
    if contributions is None or contributions.shape[1] == 0:
        return empty, {}, []
    if len(contributions) < min_cell:
        return (
            empty,
            {},
            [f"Feature contributions were given for fewer than {min_cell} rows; not shown."],
        )
    families = _default_families() if feature_families is None else dict(feature_families)
    importance = shap_importance(contributions, families)
    if feature_values is None or not dependence_features:
        return importance, {}, []
    dependence, notes = _dependence(contributions, feature_values, dependence_features, min_cell)
    return importance, dependence, notes
