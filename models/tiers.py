"""Risk tiers: by probability thresholds, or by how many clients each site can call."""

from __future__ import annotations

import numpy as np
import pandas as pd

from configs.config import TiersConfig


def assign_tiers(risk: pd.Series, high: float, medium: float) -> pd.Series:
    """Tiers by probability thresholds; empty where not scored."""
    tier = np.select(
        [risk >= high, risk >= medium, risk.notna()], ["high", "medium", "low"], default=""
    )
    return pd.Series(tier, index=risk.index)


def assign_capacity_tiers(
    risk: pd.Series, site: pd.Series, client_id: pd.Series, high: int, medium: int
) -> pd.Series:
    """Tiers by capacity: the ``high`` highest risks at each site, then the next ``medium``.

    Ties are broken by client id so the tiers do not depend on row order; clients with no
    site form one group; unscored clients get no tier.
    """
    frame = pd.DataFrame(
        {"risk": risk, "site": site.fillna("").astype(str), "client_id": client_id.astype(str)}
    )
    scored = frame[frame["risk"].notna()].sort_values(
        ["site", "risk", "client_id"], ascending=[True, False, True], kind="stable"
    )
    place = scored.groupby("site", sort=False).cumcount()
    tier = pd.Series("", index=frame.index, dtype=object)
    tier.loc[scored.index] = np.where(
        place < high, "high", np.where(place < high + medium, "medium", "low")
    )
    return tier


def tiers_of(risk_list: pd.DataFrame, tiers: TiersConfig) -> pd.Series:
    """The tier of each row of a risk list (``site``, ``client_id`` and the column the rule
    reads, ``tiers.by``: ``risk`` or ``risk_within_horizon``) by ``tiers``."""
    by = getattr(tiers, "by", "risk")
    if tiers.rule == "capacity":
        return assign_capacity_tiers(
            risk_list[by],
            risk_list["site"],
            risk_list["client_id"],
            tiers.high_per_site,
            tiers.medium_per_site,
        )
    return assign_tiers(risk_list[by], tiers.high, tiers.medium)
