"""The pages' template environment: Jinja2 templates in ``templates/``, styles and scripts in
``static/``, inlined so that every page stays one self-contained file.

Autoescaping is on for every template, so a value from the data (a client id, a site, a
reason) is always escaped. Escaped values are spelt as `html.escape` spells them
(``&#x27;``, ``&quot;``), as the pages always were, rather than as markupsafe spells them
(``&#39;``, ``&#34;``): the environment's ``finalize`` escapes each value before Jinja's
autoescape sees it, and autoescape leaves the result alone. Markup that a template or a
macro produced, and the page data from `json_for_script`, pass unchanged.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from pipeline.reports.formatters import FILTERS


def _escaped(value: object) -> Markup:
    """Every printed value, escaped as `html.escape` does; markup passes as it is."""
    if hasattr(value, "__html__"):
        return Markup(value)
    return Markup(html.escape(str(value), quote=True))


def json_for_script(data: object) -> Markup:
    """JSON to embed in a ``<script type="application/json">`` element.

    No text can end the element early: ``</`` is written ``<\\/`` and ``<!--`` is
    written ``\\u003c!--``, both of which a JSON parser reads back unchanged. NaN and
    infinity are refused (they are not JSON).
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Markup(text.replace("</", "<\\/").replace("<!--", "\\u003c!--"))


def png_data_uri(data: bytes) -> str:
    """PNG bytes as a ``data:`` URI, so a figure lives inside the page."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def static_text(name: str) -> str:
    """The text of ``static/<name>``, a stylesheet or script of this package."""
    return resources.files("pipeline.reports").joinpath("static", name).read_text("utf-8")


def inline(name: str) -> Markup:
    """``static/<name>`` as it goes into a page's ``<style>`` or ``<script>``, verbatim."""
    return Markup(static_text(name))


ENVIRONMENT = Environment(
    loader=PackageLoader("pipeline.reports", "templates"),
    autoescape=select_autoescape(
        enabled_extensions=("html", "html.j2"), default_for_string=True, default=True
    ),
    finalize=_escaped,
    undefined=StrictUndefined,
)
ENVIRONMENT.filters.update(FILTERS)
ENVIRONMENT.filters["script_json"] = json_for_script
ENVIRONMENT.filters["png_data_uri"] = png_data_uri
ENVIRONMENT.globals["inline"] = inline


def render(template: str, **context: object) -> str:
    """Render ``templates/<template>`` with ``context``; returns the page as text."""
    return ENVIRONMENT.get_template(template).render(**context)
