"""The model card of a registered model version, as markdown and as one self-contained page.

A model card (Mitchell et al. 2019, "Model Cards for Model Reporting", FAT* '19) says what
the model is for and not for, what it was trained on, how the label is defined and how well
it did overall, over time and in subgroups, in the spirit of TRIPOD+AI reporting (Collins
et al., BMJ 2024;385:e078378; EVIDENCE.md). `pipeline.commands.train` builds a `ModelCardFacts` and
logs both files with the registered version.

The card takes aggregates only (counts, rates, an `models.assessment.Assessment`), so it
cannot show a client's id or row. Both formats are rendered from one list of blocks
(`pipeline.reports.card_sections` says what each section holds), so they say the same
thing, and every value is escaped for its format when rendered. The page is
``templates/model_card.html.j2``; its stylesheet (``static/model_card.css``) has the look of
the evaluation report: same fonts, Okabe-Ito blue accents and table style, so the two read
as one product.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline.io.output import write_text
from pipeline.reports import card_sections
from pipeline.reports.card_blocks import Block, md, md_block
from pipeline.reports.card_facts import ModelCardFacts
from pipeline.reports.templating import render

MARKDOWN_NAME = "model_card.md"
HTML_NAME = "model_card.html"

CARD_SECTIONS: tuple[str, ...] = (
    "model-details",
    "intended-use",
    "training-data",
    "label",
    "model",
    "caseload",
    "performance",
    "subgroups",
    "limitations",
    "methods",
)
CARD_SECTION_TITLES: dict[str, str] = {
    "model-details": "Model details",
    "intended-use": "Intended use",
    "training-data": "Training data",
    "label": "Label definition",
    "model": "Model",
    "caseload": "Performance on past caseloads (the headline)",
    "performance": "Landmark view: closed held-out episodes",
    "subgroups": "Subgroups and fairness",
    "limitations": "Limitations and ethical considerations",
    "methods": "Methods",
}


def _render_markdown(title: str, sections: Mapping[str, list[Block]]) -> str:
    parts = ["# " + md(title)]
    for sid in CARD_SECTIONS:
        parts.append("## " + md(CARD_SECTION_TITLES[sid]))
        parts += [md_block(b) for b in sections[sid]]
    return "\n\n".join(parts) + "\n"


def _render_html(title: str, sections: Mapping[str, list[Block]]) -> str:
    page_sections = [
        {"id": sid, "title": CARD_SECTION_TITLES[sid], "blocks": sections[sid]}
        for sid in CARD_SECTIONS
    ]
    return render("model_card.html.j2", title=title, sections=page_sections)


def render_model_card(facts: ModelCardFacts) -> tuple[str, str]:
    """The model card as GitHub-flavoured markdown and as one self-contained HTML page.

    Parameters
    ----------
    facts
        Aggregates about the registered version; see `ModelCardFacts`.

    Returns
    -------
    tuple of str
        ``(markdown, html)``: the same sections (`CARD_SECTIONS`, in order) in both. The
        page has inline CSS only: no script, no external resource. Every value is escaped
        (``html.escape`` on the page, backslash escapes in markdown); missing numbers
        show as "–".

    Raises
    ------
    ValueError
        When the assessment (or the temporal one) has no champion row.
    """
    title = card_sections.title(facts)
    sections = card_sections.sections(facts)
    return _render_markdown(title, sections), _render_html(title, sections)


def write_model_card(facts: ModelCardFacts, directory: Path) -> tuple[Path, Path]:
    """Write ``model_card.md`` and ``model_card.html`` into ``directory``, each atomically.

    Both are rendered before either is written, so a rendering error leaves the folder
    untouched; a reader never sees a half-written file.

    Parameters
    ----------
    facts
        Aggregates about the registered version; see `ModelCardFacts`.
    directory
        Folder to write into; created if needed. Existing cards are replaced.

    Returns
    -------
    tuple of Path
        The markdown path and the HTML path.
    """
    markdown, page = render_model_card(facts)
    directory = Path(directory)
    return (
        write_text(markdown, directory / MARKDOWN_NAME),
        write_text(page, directory / HTML_NAME),
    )
