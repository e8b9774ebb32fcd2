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


def horizon_label(days: object) -> str:
    """The heading of the risk within the horizon: "Within 60 days", or "Soon" without one.

    Examples
    --------
    >>> horizon_label(60), horizon_label(1), horizon_label(None)
    ('Within 60 days', 'Within 1 day', 'Soon')
    """
    try:
        n = int(days)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "Soon"
    if n <= 0:
        return "Soon"
    return f"Within {n} day" if n == 1 else f"Within {n} days"


# the groups of the page's "What changed" view, in the order it shows them; `{n}` is the
# rise in points that counts as risen
CHANGE_GROUPS: tuple[str, ...] = ("to-high", "risen", "left-high", "new")
CHANGE_TITLES: dict[str, str] = {
    "to-high": "New to high",
    "risen": "Risen by at least {n} points",
    "left-high": "Left high",
    "new": "New clients",
}
CHANGE_HELP: dict[str, str] = {
    "to-high": "High now and not high then, new clients included.",
    "risen": "Risk now is at least {n} percentage points above the risk then.",
    "left-high": "High then and not high now (lower, or not scored now).",
    "new": "Not in the caseload then, or with no appointment by then.",
}
