"""Looking up learnt therapist and site dropout rates: the part of the history encoder
that scoring needs, without scikit-learn.

:class:`features.history.DropoutHistoryEncoder` learns the rates (and is the estimator
training uses); :class:`GroupRates` holds the same rates as plain data, for a model
stored as arrays (:mod:`models.array_model`). Both look a row up with :func:`history_frame`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.schema import FEATURE_NAMES, HISTORY_FEATURES

# output column for each grouping column
HISTORY_COLUMNS: dict[str, str] = {
    "therapist_id": "therapist_dropout_rate",
    "site": "site_dropout_rate",
}


def group_keys(values: pd.Series) -> pd.Series:
    """Group keys as the encoder stores them: stripped text, blank as missing."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def history_frame(
    X: pd.DataFrame, rates: Mapping[str, Mapping[str, float]], prior: float
) -> pd.DataFrame:
    """Each row's learnt rate per grouping column (the prior for a group not stored)."""
    out = pd.DataFrame(index=X.index)
    for column, name in HISTORY_COLUMNS.items():
        few = _few_rates(X[column], rates[column], prior) if column in X else None
        if few is not None:
            out[name] = few
            continue
        keys = group_keys(X[column]) if column in X else pd.Series(pd.NA, index=X.index)
        found = keys.map(rates[column]).astype(float)
        out[name] = found.fillna(prior).to_numpy()
    return out


def _few_rates(values: pd.Series, rates: Mapping[str, float], prior: float):
    """:func:`history_frame`'s lookup for a few ASCII keys in plain Python (a served
    request's one or two rows, where pandas' per-call overhead is most of the time), or
    None for anything else; Python's stripping agrees with pandas' on ASCII text."""
    if len(values) > 64:
        return None
    out = []
    for cell in values.tolist():
        if isinstance(cell, str) and cell.isascii():
            key = cell.strip()
            out.append(float(rates.get(key, prior)) if key else float(prior))
        elif cell is None or cell is pd.NA or (isinstance(cell, float) and cell != cell):
            out.append(float(prior))
        else:
            return None
    return np.array(out, dtype=float)


def with_history(rows: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Every model feature: the row features of ``rows`` with the ``history`` columns.

    ``rows`` holds the model inputs (``features.schema.MODEL_INPUTS``); the therapist id
    they carry is only the key the history was looked up by, so it is dropped.
    """
    drop = [c for c in ("therapist_id", *HISTORY_FEATURES) if c in rows]
    return rows.drop(columns=drop).join(history)[list(FEATURE_NAMES)]


class GroupRates:
    """A fitted encoder's rates as plain data: ``prior_``, ``rates_`` and ``transform``."""

    def __init__(self, prior: float, rates: Mapping[str, Mapping[str, float]]):
        self.prior_ = float(prior)
        self.rates_ = {column: dict(rates[column]) for column in HISTORY_COLUMNS}

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return history_frame(X, self.rates_, self.prior_)
