"""Words and symbols the pages share: risk tiers and the order of feature families."""

from __future__ import annotations

# "" is a client without a tier: not scored
TIER_LABELS: dict[str, str] = {"high": "High", "medium": "Medium", "low": "Low", "": "Not scored"}
# a shape beside the word, so the tier never rests on colour alone
TIER_ICONS: dict[str, str] = {"high": "▲", "medium": "◆", "low": "○", "": "–"}
# the tiers a scored client can have, highest first
SCORED_TIERS: tuple[str, ...] = ("high", "medium", "low")


def tier_table() -> dict[str, list]:
    """Each tier's label, icon and sort order (high first), for the page data."""
    order = {tier: len(SCORED_TIERS) - i for i, tier in enumerate(SCORED_TIERS)} | {"": 0}
    return {tier: [TIER_LABELS[tier], TIER_ICONS[tier], order[tier]] for tier in TIER_LABELS}


# Feature families in the order the pages list them; a family not named here follows the
# named ones in alphabetical order.
FAMILY_ORDER: tuple[str, ...] = (
    "attendance",
    "alliance",
    "interaction",
    "outcome",
    "intake",
    "history",
)


def in_family_order(families, order: tuple[str, ...] = FAMILY_ORDER) -> list[str]:
    """``families`` with the known ones first, in ``order``, then the rest alphabetically.

    Examples
    --------
    >>> in_family_order({"history", "zeta", "attendance", "beta"})
    ['attendance', 'history', 'beta', 'zeta']
    """
    present = set(families)
    known = [family for family in order if family in present]
    return known + sorted(present - set(known))
