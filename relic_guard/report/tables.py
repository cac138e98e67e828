"""Every table of the report as CSV and as one workbook (XLSX, openpyxl).

CSV: UTF-8 with a BOM (Excel guesses a legacy code page for Chinese without one), CRLF line ends,
as the 双随机 publication (`inspections/draw_io.py`) writes them; one file per table, numbers
without thousands separators, rates as `97.3%` (which Excel reads back as a number), durations in
minutes. The workbook holds the same tables, one sheet each, with typed cells: counts as integers,
rates as fractions formatted as percentages, durations as minutes, so they can be recomputed.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from typing import Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from relic_guard.report.document import Cell, Document, Minutes, Pct, Table, cell_text

MAX_SHEET_TITLE: Final = 31
_SHEET_FORBIDDEN: Final = re.compile(r"[\[\]:*?/\\]")
_HEADER_FILL: Final = PatternFill("solid", fgColor="E8EEF5")


def table_csv(table: Table) -> str:
    """The CSV text, BOM first, CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([cell_text(cell, grouped=False) for cell in row])
    return "\ufeff" + out.getvalue()


def _sheet_title(title: str, taken: set[str]) -> str:
    base = _SHEET_FORBIDDEN.sub("_", title).strip("'")[:MAX_SHEET_TITLE] or "表"
    name, number = base, 2
    while name.lower() in taken:
        suffix = f"({number})"
        name = base[: MAX_SHEET_TITLE - len(suffix)] + suffix
        number += 1
    taken.add(name.lower())
    return name


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _value(cell: Cell) -> tuple[object, str | None]:
    """(value, number format) of a cell in a sheet."""
    if isinstance(cell, Pct):
        return cell.value, "0.0%"
    if isinstance(cell, Minutes):
        return (None if cell.seconds is None else round(cell.seconds / 60, 1)), "0.0"
    if isinstance(cell, float):
        return cell, "0.0"
    return cell, None


def workbook_bytes(document: Document) -> bytes:
    """The workbook: a first sheet with the report's facts, then one sheet per exported table."""
    book = Workbook()
    facts = book.active
    assert facts is not None
    facts.title = "说明"
    facts.append([document.title])
    facts["A1"].font = Font(bold=True, size=13)
    for label, value in document.facts:
        facts.append([label, value])
    facts.column_dimensions["A"].width = 14
    facts.column_dimensions["B"].width = 90
    taken = {"说明"}
    for table in document.exports:
        sheet = book.create_sheet(_sheet_title(table.title, taken))
        sheet.append(list(table.columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = _HEADER_FILL
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        widths = [_width(column) for column in table.columns]
        for row in table.rows:
            values = [_value(cell) for cell in row]
            sheet.append([value for value, _ in values])
            for column, (_, number_format) in enumerate(values, start=1):
                if number_format is not None:
                    sheet.cell(row=sheet.max_row, column=column).number_format = number_format
                widths[column - 1] = max(widths[column - 1], _width(cell_text(row[column - 1], grouped=False)))
        for column, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = min(60, width + 2)
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
