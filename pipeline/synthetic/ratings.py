"""Instrument ratings of the simulated sessions: WAI items, SRS items and total, ORS total.

The simulation works on canonical scales: the latent alliance on 1-5 per Bordin subscale
and ORS on 0-40. Here each attended session's latent values become the ratings a client
would give, mapped onto the ranges the configured instruments use (so WAI-S on 1-7, for
example, comes out on 1-7). Which of these ratings a site exports, and which are missing,
is decided when the sessions table is built (:mod:`pipeline.synthetic.export`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline.synthetic.simulate import SUBSCALES

if TYPE_CHECKING:
    from configs.config import InstrumentsConfig

__all__ = ["draw_ratings"]


def _rescale(x: np.ndarray, lo0: float, hi0: float, lo: float, hi: float) -> np.ndarray:
    """Map values simulated on the canonical range [lo0, hi0] onto the configured range."""
    return lo + (x - lo0) * (hi - lo) / (hi0 - lo0)


def draw_ratings(
    latent: np.ndarray,
    ors: np.ndarray,
    style: np.ndarray,
    instruments: InstrumentsConfig,
    rng: np.random.Generator,
) -> dict[str, object]:
    """Item-level ratings from the latent subscales (NaN rows stay NaN).

    Parameters
    ----------
    latent
        ``(r, 3)`` latent bond, goal and task on 1-5, one row per session (NaN when the
        appointment was not attended).
    ors
        Canonical ORS on 0-40 per session (NaN when not attended).
    style
        Each session's client's way of using the SRS line (added to every SRS item).
    instruments
        The configured instruments: WAI item key and the ranges of every rating.
    rng
        The cohort's random generator.

    Returns
    -------
    dict
        ``wai_items`` ``(r, n_items)``, ``srs_items`` ``(r, n_items)``, ``srs_total`` and
        ``ors_total``, all on the configured ranges.
    """
    r = latent.shape[0]
    wai = instruments.wai
    out: dict[str, object] = {}

    # WAI items: each item scatters around its subscale's latent value (1-5 canonical),
    # then is mapped to the configured range and rounded to a whole step.
    item_sub = np.zeros(wai.n_items, dtype=np.int64)
    for s, name in enumerate(SUBSCALES):
        for item in wai.subscales[name]:
            item_sub[item - 1] = s
    item_bias = np.linspace(-0.12, 0.12, wai.n_items)  # items differ a little in difficulty
    raw = latent[:, item_sub] + item_bias[None, :] + rng.normal(0.0, 0.5, (r, wai.n_items))
    items = np.clip(np.rint(_rescale(raw, 1.0, 5.0, wai.min, wai.max)), wai.min, wai.max)
    out["wai_items"] = items

    # SRS: items track relationship~bond, goals~goal, approach~task, overall~all three,
    # near the ceiling (most totals 34-40) and lower when alliance is low or ruptured.
    srs = instruments.srs
    composite = latent.mean(axis=1)
    srs_src = [latent[:, 0], latent[:, 1], latent[:, 2], composite]
    srs_items = np.empty((r, srs.n_items))
    for j in range(srs.n_items):
        src = srs_src[j] if j < len(srs_src) else composite
        val = 9.6 + 1.7 * (src - 4.05) + style + rng.normal(0.0, 0.4, r)
        val = _rescale(np.clip(val, 0.0, 10.0), 0.0, 10.0, srs.item_min, srs.item_max)
        srs_items[:, j] = np.round(val, 1)
    out["srs_items"] = srs_items
    out["srs_total"] = np.round(np.clip(srs_items.sum(axis=1), srs.total_min, srs.total_max), 1)

    ors_cfg = instruments.ors
    out["ors_total"] = np.round(
        np.clip(
            _rescale(ors, 0.0, 40.0, ors_cfg.total_min, ors_cfg.total_max),
            ors_cfg.total_min,
            ors_cfg.total_max,
        ),
        1,
    )
    return out
