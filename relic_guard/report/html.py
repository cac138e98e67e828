"""The report as one self-contained HTML page (Jinja2, autoescaped): the PDF is printed from it.

Self-contained: the styles are in the page and the charts are PNG `data:` images, so the file
can be mailed, archived or opened offline as it is, and the dashboard's Content-Security-Policy
(`img-src data:`) serves it unchanged. Print rules (`@page`: A4, page numbers, headings kept with
what follows, table headers repeated) are for weasyprint; a browser prints it the same way.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from jinja2 import Environment, FileSystemLoader, select_autoescape

from relic_guard.report.document import Cell, Chart, Document, Minutes, Pct, Table, cell_text

TEMPLATES: Final = Path(__file__).parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _is_number(cell: Cell) -> bool:
    return isinstance(cell, int | float | Pct | Minutes) and not isinstance(cell, bool)


_env.filters["cell"] = cell_text
_env.tests["number"] = _is_number
_env.tests["table"] = lambda block: isinstance(block, Table)
_env.tests["chart"] = lambda block: isinstance(block, Chart)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(document: Document, charts: Mapping[str, bytes]) -> str:
    """The page; `charts` maps each chart's key to its PNG (`charts.render_png`)."""
    images = {key: data_uri(png) for key, png in charts.items()}
    return _env.get_template("report.html").render(doc=document, images=images)
