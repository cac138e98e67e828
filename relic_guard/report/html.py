"""The report as one self-contained HTML page (Jinja2, autoescaped): the PDF is printed from it.

Self-contained: the styles are in the page and the charts are PNG `data:` images, so the file
can be mailed, archived or opened offline as it is, and the dashboard's Content-Security-Policy
(`img-src data:`) serves it unchanged. Print rules (`@page`: A4, page numbers, headings kept with
what follows, table headers repeated) are for weasyprint; a browser prints it the same way.
"""

from __future__ import annotations

import base64
import unicodedata
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


# Columns are never narrower or wider than this many display cells (a Chinese character is two).
MIN_CELLS: Final = 4
MAX_CELLS: Final = 36


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def column_widths(table: Table) -> tuple[float, ...]:
    """Each column's share of the table's width (percent), from the longest text it holds.

    The tables are laid out with these fixed widths (`table-layout: fixed`): weasyprint then need
    not measure every cell's smallest and largest width, which was a fifth of a long report's time."""
    cells = [max(MIN_CELLS, min(MAX_CELLS, _cells(column))) for column in table.columns]
    for row in table.rows:
        for index, cell in enumerate(row):
            cells[index] = max(cells[index], min(MAX_CELLS, _cells(cell_text(cell))))
    total = sum(cells)
    return tuple(round(100.0 * c / total, 2) for c in cells)


def render_html(document: Document, charts: Mapping[str, bytes]) -> str:
    """The page; `charts` maps each chart's key to its PNG (`charts.render_png`)."""
    images = {key: data_uri(png) for key, png in charts.items()}
    widths = {table.key: column_widths(table) for section in document.sections for table in section.blocks
              if isinstance(table, Table) and table.shown and table.rows}
    return _env.get_template("report.html").render(doc=document, images=images, widths=widths)
