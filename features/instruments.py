"""Instrument scores from item responses: WAI-SR subscales and total, SRS and ORS totals.

Pure: a sessions frame and the instrument definitions in, a new frame out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from configs.config import InstrumentsConfig


def derive_scores(
    sessions: pd.DataFrame, instruments: InstrumentsConfig, *, keep_items: bool = True
) -> pd.DataFrame:
    """Score the alliance and outcome instruments of every session.

    Clinical signal: the working alliance, the strongest process predictor of dropout
    (d = 0.55, Sharf et al. 2010; ``EVIDENCE.md``). The WAI-SR (Hatcher & Gillaspy 2006)
    measures it on three subscales after Bordin: agreement on the **task**s of therapy,
    on its **goal**s, and the emotional **bond**. The Session Rating Scale (SRS v3,
    Duncan et al. 2003) is the brief session-by-session alliance check (total below 36
    flags a concern); the Outcome Rating Scale total tracks distress (low = worse, below
    25 is the adult clinical range). Later feature families read these scores' levels,
    trends and ruptures; this function only puts every site's export on one footing,
    whether it exports items, subscale means or totals.

    Parameters
    ----------
    sessions
        Validated sessions (:func:`pipeline.contract.validation.validate_tables`): ``status``
        plus any of the rating columns ``wai_1..wai_n``, ``wai_bond``, ``wai_goal``,
        ``wai_task``, ``srs_1..srs_n``, ``srs_total``, ``ors_total``. Absent rating
        columns count as unanswered.
    instruments
        Items, subscale key and the minimum number of answered items per subscale.
    keep_items
        False leaves the item columns (``wai_1``, ``srs_1``, ...) out of the result, for
        callers that read only the scores.

    Returns
    -------
    pandas.DataFrame
        A copy of ``sessions`` with float columns:

        - ``wai_bond``, ``wai_goal``, ``wai_task``: the mean of the subscale's answered
          items when at least ``min_items_per_subscale`` were answered (a prorated
          mean), otherwise the exported subscale mean, if any.
        - ``wai_total``: the sum of the three subscale means times their item counts,
          i.e. on the 12-60 scale of the WAI-SR; missing unless all three are known.
        - ``srs_total``: the sum of the SRS items when all were answered, otherwise the
          exported total (the SRS is too short to prorate).
        - ``ors_total``: as exported.

        On rows whose status is not ``attended`` every rating (items included) is NaN:
        nobody rated a session that did not take place.
    """
    # columns are replaced, never written into: the frame's own need not be copied
    out = sessions.copy(deep=False)
    n = len(out)
    wai, srs = instruments.wai, instruments.srs

    # nobody rated a session that did not take place: every rating NaN on those rows
    not_attended = (out["status"] != "attended").to_numpy(dtype=bool)

    def rated(values: np.ndarray) -> np.ndarray:
        values[not_attended] = np.nan  # on the new array only
        return values

    wai_total = np.zeros(n)
    for name in sorted(wai.subscales):
        items = wai.subscales[name]
        block = _block(out, [f"wai_{item}" for item in items])
        answered = np.isfinite(block).sum(axis=1)
        needed = min(wai.min_items_per_subscale, len(items))
        mean = np.nansum(block, axis=1) / np.maximum(answered, 1)
        score = rated(np.where(answered >= needed, mean, _block(out, [f"wai_{name}"])[:, 0]))
        out[f"wai_{name}"] = score
        # subscale mean x its item count: the subscale's sum on the full scale
        wai_total += score * len(items)
    out["wai_total"] = wai_total  # NaN unless all three subscales are known

    srs_items = _block(out, [f"srs_{item}" for item in range(1, srs.n_items + 1)])
    complete = np.isfinite(srs_items).all(axis=1)
    srs_total = np.where(complete, srs_items.sum(axis=1), _block(out, ["srs_total"])[:, 0])
    out["srs_total"] = rated(srs_total)
    out["ors_total"] = rated(_block(out, ["ors_total"])[:, 0])

    item_columns = [c for c in out.columns if c in _item_columns(instruments)]
    if not keep_items:
        return out.drop(columns=item_columns)
    if not_attended.any():
        for column in item_columns:
            values = out[column].to_numpy(dtype=float, na_value=np.nan, copy=True)
            out[column] = rated(values)
    return out


def _block(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The columns as a float matrix; absent columns are all NaN."""
    block = np.full((len(frame), len(columns)), np.nan)
    for position, column in enumerate(columns):
        if column not in frame.columns:
            continue
        values = frame[column]
        if values.dtype != np.float64:  # validated ratings are floats already
            values = pd.to_numeric(values, errors="coerce")
        block[:, position] = values.to_numpy(dtype="float64", na_value=np.nan)
    return block


def _item_columns(instruments: InstrumentsConfig) -> set[str]:
    wai, srs = instruments.wai, instruments.srs
    return {
        *(f"wai_{item}" for item in range(1, wai.n_items + 1)),
        *(f"srs_{item}" for item in range(1, srs.n_items + 1)),
    }
