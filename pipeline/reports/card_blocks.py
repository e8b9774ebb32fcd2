"""The blocks a model card section is made of, and how each is written in Markdown.

A section is a list of blocks holding plain, unescaped text. The Markdown card writes
them here; the HTML card draws them with ``templates/model_card_blocks.html.j2``. Each
escapes the text for its own format, so the two say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pipeline.reports.tables import Table, numeric_columns


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text."""

    text: str
    kind: ClassVar[str] = "paragraph"


@dataclass(frozen=True)
class HowToRead:
    """A paragraph on how to read the section, set apart from the rest."""

    text: str
    kind: ClassVar[str] = "how-to-read"


@dataclass(frozen=True)
class Subheading:
    """A heading inside a section."""

    text: str
    kind: ClassVar[str] = "subheading"


@dataclass(frozen=True)
class Bullets:
    """A bulleted list."""

    items: tuple[str, ...]
    kind: ClassVar[str] = "bullets"


Block = Paragraph | HowToRead | Subheading | Bullets | Table


def table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A card table: cells as text, number columns right-aligned in both formats."""
    cells = tuple(tuple(str(c) for c in row) for row in rows)
    return Table(caption, tuple(headers), cells, numeric_columns(headers, cells))


# CommonMark backslash escapes: no value can open a tag, an entity, a link, code, a cell or
# a heading. Underscores stay: GitHub does not emphasise inside words like wai_bond_last.
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|&#~]")


def md(value: object) -> str:
    """One line of Markdown text showing ``value`` literally."""
    text = " ".join(str(value).split())  # a newline would end a table row
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _md_table(t: Table) -> str:
    lines = [f"**{md(t.caption)}**", ""]
    lines.append("| " + " | ".join(md(h) for h in t.headers) + " |")
    lines.append("|" + "|".join(" ---: " if n else " --- " for n in t.numeric) + "|")
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def md_block(block: Block) -> str:
    """One block in Markdown."""
    if isinstance(block, Paragraph):
        return md(block.text)
    if isinstance(block, HowToRead):
        return "> **How to read:** " + md(block.text)
    if isinstance(block, Subheading):
        return "### " + md(block.text)
    if isinstance(block, Bullets):
        return "\n".join("- " + md(item) for item in block.items)
    return _md_table(block)
