"""Intake attributes known at the start of the episode.

Clinical signal: younger clients drop out more (Swift & Greenberg 2012), stimulant use
carries the highest substance-use dropout (Lappan et al. 2020), and program and
referral route shape engagement. On their own they are weak predictors (Bennemann et al.
2022): they are the baseline the process features must beat.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import CATEGORICAL_FEATURES


def intake_features(clients: pd.DataFrame) -> pd.DataFrame:
    """Intake columns indexed by ``client_id``.

    Categorical text is stripped and lower-cased so ``Outpatient`` and ``outpatient ``
    are one category; blanks stay missing (the model treats missing as its own state).

    Parameters
    ----------
    clients
        Validated clients table.

    Returns
    -------
    pandas.DataFrame
        ``age``, ``planned_sessions`` (float) and the categorical intake columns (object).
    """
    out: dict[str, np.ndarray] = {}
    for col in ("age", "planned_sessions"):
        values = clients[col] if col in clients else pd.Series(float("nan"), index=clients.index)
        if values.dtype != np.float64:
            values = pd.to_numeric(values, errors="coerce")
        out[col] = values.to_numpy(dtype=float, copy=True)
    for col in CATEGORICAL_FEATURES:
        out[col] = _category(clients[col]) if col in clients else np.full(len(clients), np.nan)
    index = pd.Index(clients["client_id"].to_numpy(), name="client_id")
    return pd.DataFrame(out, index=index)


def _category(values: pd.Series) -> np.ndarray:
    """Stripped, lower-cased text as objects, NaN where blank."""
    few = _few_ascii(values)
    if few is not None:
        return few
    text = values.astype("string").str.strip().str.lower()
    return text.mask(text == "").to_numpy(dtype=object, na_value=np.nan)


def _few_ascii(values: pd.Series) -> np.ndarray | None:
    """:func:`_category` of a few ASCII texts in plain Python (where Python's and pandas'
    stripping and lower case agree), or None for anything else."""
    if len(values) > 64:
        return None
    cells = values.tolist()
    out = np.full(len(cells), np.nan, dtype=object)
    for i, cell in enumerate(cells):
        if isinstance(cell, str) and cell.isascii():
            out[i] = cell.strip().lower() or np.nan
        elif not (cell is None or cell is pd.NA or (isinstance(cell, float) and cell != cell)):
            return None
    return out
