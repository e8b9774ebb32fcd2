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
    out = pd.DataFrame(index=pd.Index(clients["client_id"].to_numpy(), name="client_id"))
    for col in ("age", "planned_sessions"):
        values = clients[col] if col in clients else pd.Series(float("nan"), index=clients.index)
        out[col] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    for col in CATEGORICAL_FEATURES:
        if col in clients:
            text = clients[col].astype("string").str.strip().str.lower()
            text = text.mask(text == "")
            out[col] = text.to_numpy(dtype=object, na_value=np.nan)
        else:
            out[col] = np.nan
    return out
