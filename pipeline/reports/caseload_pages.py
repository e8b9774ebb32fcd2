"""The caseload as a folder of pages: an index for the lead and one page per therapist.

``score --report-dir DIR`` writes ``DIR/index.html``, the tier counts per therapist and per
site (with ``since``, also how many are new to high and how many have risen), each
therapist linking to their own page, and ``DIR/therapist-<name>.html``, the risk page
(`pipeline.reports.risk_page`) made from that therapist's rows and details alone. The
index names no client, and a therapist's page embeds no other therapist's clients: the
outcome is cut down to the therapist before the page is made, so nothing else can reach
it. Every file is written atomically and is self-contained; the pages link to each other
by relative file names only.

A file name must be safe on any file system and unique for any therapist id: see
`therapist_file_name`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from pipeline.io.output import write_text
from pipeline.reports.risk_page import (
    change_flags,
    changes_view,
    header_view,
    render_report,
)
from pipeline.reports.templating import render
from pipeline.reports.vocabulary import SCORED_TIERS, TIER_ICONS, TIER_LABELS

__all__ = [
    "INDEX_NAME",
    "restrict",
    "therapist_file_name",
    "therapist_ids",
    "write_report_dir",
]

INDEX_NAME = "index.html"
# an id kept as it is in its file name; anything else is spelt safely and hashed
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_STEM_CHARS = 40
_HASH_CHARS = 10
NO_THERAPIST = "(no therapist)"


def _id_text(value: object) -> str:
    """A therapist id as text; a missing one is ``""``."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def therapist_file_name(therapist_id: object, all_ids) -> str:
    """The file name of a therapist's page: safe on any file system, unique among ``all_ids``.

    An id of 1 to 64 letters, digits, ``_`` and ``-`` is kept as it is, unless another id
    in ``all_ids`` differs from it only by case (the pages of "A1" and "a1" would be one
    file on a case-insensitive file system). Any other id, and a blank or missing one,
    becomes a safe stem (accents dropped, other characters a ``-``, at most 40 of them)
    followed by ``~`` and the first 10 hexadecimal digits of the SHA-256 of the id, so two
    ids never share a name; ``~`` never occurs in a kept id.

    Examples
    --------
    >>> therapist_file_name("T01", ["T01", "T02"])
    'therapist-T01.html'
    >>> therapist_file_name("Dr. Smith/../x", [])  # doctest: +ELLIPSIS
    'therapist-Dr-Smith-x~....html'
    """
    text = _id_text(therapist_id)
    others = {_id_text(other) for other in all_ids} - {text}
    if _PLAIN_ID.fullmatch(text) and text.lower() not in {o.lower() for o in others}:
        return f"therapist-{text}.html"
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("-", ascii_text).strip("-")[:_STEM_CHARS].strip("-") or "unnamed"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    return f"therapist-{stem}~{digest}.html"


def therapist_ids(outcome) -> list[str]:
    """The therapists of the risk list, in the order they first appear (by rank)."""
    return list(dict.fromkeys(outcome.risk_list["therapist_id"].map(_id_text)))


def restrict(outcome, therapist_id: str):
    """The outcome cut down to one therapist: their rows, renumbered 1..n, and their details.

    Works on a frozen dataclass (`dataclasses.replace`) and on any object with attributes,
    such as a SimpleNamespace (copied, the original left alone).
    """
    rl = outcome.risk_list
    mine = rl[rl["therapist_id"].map(_id_text) == therapist_id]
    if "rank" in mine:
        mine = mine.sort_values("rank", kind="stable")
    mine = mine.reset_index(drop=True)
    mine["rank"] = range(1, len(mine) + 1)
    clients = set(mine["client_id"].map(_id_text))
    details = getattr(outcome, "details", None) or {}
    kept = {client: detail for client, detail in details.items() if _id_text(client) in clients}
    if dataclasses.is_dataclass(outcome) and not isinstance(outcome, type):
        return dataclasses.replace(outcome, risk_list=mine, details=kept)
    return SimpleNamespace(**{**vars(outcome), "risk_list": mine, "details": kept})


def _counts(rl: pd.DataFrame, flags: pd.DataFrame | None, by: str) -> list[dict]:
    """Tier counts (and, with flags, new to high and risen) per value of ``by``."""
    scored = (
        rl["scored"].astype(str).str.lower().isin(["true", "1"])
        if "scored" in rl
        else rl["risk"].notna()
    )
    tier = rl["risk_tier"].map(_id_text).where(scored, "")
    table = pd.DataFrame({"key": rl[by].map(_id_text) if by in rl else "", "tier": tier})
    for name in SCORED_TIERS:
        table[name] = table["tier"] == name
    table["none"] = ~table["tier"].isin(SCORED_TIERS)
    table["all"] = True
    columns = [*SCORED_TIERS, "none", "all"]
    if flags is not None:
        table["to_high"] = flags["to-high"].to_numpy()
        table["risen"] = flags["risen"].to_numpy()
        columns += ["to_high", "risen"]
    sums = table.groupby("key", sort=False)[columns].sum().astype(int)
    sums = sums.assign(name=sums.index).sort_values(
        ["high", "medium", "all", "name"], ascending=[False, False, False, True], kind="stable"
    )
    return [{"key": key, **{c: int(rec[c]) for c in columns}} for key, rec in sums.iterrows()]


def index_view(outcome, names: dict[str, str]) -> dict:
    """What the index shows: the caseload header, therapists (with their pages) and sites."""
    rl = outcome.risk_list
    flags = change_flags(outcome)
    therapists = _counts(rl, flags, "therapist_id")
    for row in therapists:
        row["label"] = row["key"] or NO_THERAPIST
        row["href"] = names[row["key"]]
    sites = _counts(rl, flags, "site")
    for row in sites:
        row["label"] = row["key"] or "(no site)"
    totals = _counts(rl.assign(all_rows=""), flags, "all_rows")
    return {
        "header": header_view(outcome),
        "changes": changes_view(outcome),
        "therapists": therapists,
        "sites": sites,
        "total": totals[0] if totals else None,
    }


def render_index(outcome, names: dict[str, str]) -> str:
    """The index page as one HTML document; ``names`` maps each therapist id to its file."""
    return render(
        "caseload_index.html.j2",
        view=index_view(outcome, names),
        tier_labels=TIER_LABELS,
        tier_icons=TIER_ICONS,
    )


def write_report_dir(outcome, directory: Path) -> Path:
    """Write the index and one page per therapist into ``directory``; returns the index.

    Pages of therapists no longer in the list, left from an earlier run, are not removed;
    the index links only this run's pages.
    """
    directory = Path(directory)
    ids = therapist_ids(outcome)
    names = {therapist: therapist_file_name(therapist, ids) for therapist in ids}
    for therapist in ids:
        page = render_report(restrict(outcome, therapist), therapist=therapist, back=INDEX_NAME)
        write_text(page, directory / names[therapist])
    return write_text(render_index(outcome, names), directory / INDEX_NAME)
