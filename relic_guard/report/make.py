"""Making the reports: read, compute, lay out, draw, print, write. The one entry point the CLI,
the schedule's job and the dashboard share.

    files = make_reports(conn, year=2026, district=None, out=Path("var/reports"), now=now)

For each district (or the one named): its rows (`queries`), figures (`figures`), document
(`document`), charts, HTML page, PDF and tables, written into `out` as one set:

    2026-历下区.pdf   2026-历下区.html   2026-历下区.xlsx   2026-历下区-csv/<table>.csv

and, when no district is named, the city summary (`2026-全市.*`) after them. Files are written
whole or not at all (a temporary file renamed into place), so a reader never sees half a PDF
and a report made again replaces the old set. `progress` hears of every step, for the CLI's bar.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

import psycopg

from relic_guard.report import queries
from relic_guard.report.document import Document, city_document, district_document
from relic_guard.report.errors import UnknownDistrict
from relic_guard.report.figures import city_report, district_report, period_of
from relic_guard.report.model import CITY, DistrictReport

Conn = psycopg.Connection[Any]

CONTENT_TYPES: Final = {
    ".pdf": "application/pdf",
    ".html": "text/html; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv; charset=utf-8",
}
# Steps per document: charts, page and PDF, tables, files.
STEPS_PER_DOCUMENT: Final = 4
_UNSAFE: Final = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def step(self, what: str) -> None: ...


class _Silent:
    def start(self, total: int) -> None:
        pass

    def step(self, what: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class WrittenFile:
    name: str  # relative to the output folder, `/` separated
    district: str  # CITY for the city summary
    content_type: str
    data: bytes


def file_stem(document: Document) -> str:
    """The document's file stem, safe in any file system (a district name is free text)."""
    return _UNSAFE.sub("_", document.key).strip(". ") or "report"


def render_files(document: Document, progress: Progress | None = None) -> list[WrittenFile]:
    """Every file of one document, in memory."""
    # Imported here: matplotlib, openpyxl and weasyprint cost the daemon's start-up (which imports
    # this module for the schedule's job) more than a second; only making a report needs them.
    from relic_guard.report.charts import render_png
    from relic_guard.report.html import render_html
    from relic_guard.report.pdf import render_pdf
    from relic_guard.report.tables import table_csv, workbook_bytes

    progress = progress or _Silent()
    stem = file_stem(document)
    charts = {chart.key: render_png(chart) for chart in document.charts}
    progress.step(f"{document.district}：图表 {len(charts)} 幅")
    page = render_html(document, charts)
    pdf = render_pdf(page)
    progress.step(f"{document.district}：PDF {len(pdf) // 1024} KB")
    files = [
        WrittenFile(f"{stem}.pdf", document.district, CONTENT_TYPES[".pdf"], pdf),
        WrittenFile(f"{stem}.html", document.district, CONTENT_TYPES[".html"], page.encode("utf-8")),
        WrittenFile(f"{stem}.xlsx", document.district, CONTENT_TYPES[".xlsx"], workbook_bytes(document)),
    ]
    files.extend(WrittenFile(f"{stem}-csv/{table.key}.csv", document.district, CONTENT_TYPES[".csv"],
                             table_csv(table).encode("utf-8")) for table in document.exports)
    progress.step(f"{document.district}：表格 {len(document.exports)} 张")
    return files


def write_files(out: Path, files: Sequence[WrittenFile]) -> list[Path]:
    """Write `files` under `out`, each replaced whole (a temporary file beside it, then a rename)."""
    written = []
    for item in files:
        target = out / item.name
        target.parent.mkdir(parents=True, exist_ok=True)
        # Opened with mode "xb", not mkstemp: the file gets the process's umask (readable by the
        # people the folder is shared with), as any other file the daemon writes.
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with temporary.open("xb") as stream:
                stream.write(item.data)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def make_reports(
    conn: Conn,
    *,
    year: int,
    district: str | None,
    out: Path | None,
    now: datetime,
    route_custodians: Mapping[str, tuple[str, ...]] | None = None,
    progress: Progress | None = None,
) -> list[WrittenFile]:
    """Make the year's reports of `district` (None: every district, then the city summary), write
    them into `out` (None: only return them). Raises UnknownDistrict for a district without sites,
    ValueError for a year that has not begun."""
    progress = progress or _Silent()
    period = period_of(year, now)
    known = queries.districts(conn)
    if district is not None and district not in known:
        raise UnknownDistrict(f"no registered site lies in district {district!r}; the districts are: "
                              f"{'、'.join(known) if known else 'none (the registry has no sites)'}")
    names = [district] if district is not None else known
    documents = len(names) + (1 if district is None else 0)
    progress.start(1 + len(names) + documents * STEPS_PER_DOCUMENT)
    rolled = queries.prepare(conn, period, now)
    progress.step(f"设备日汇总：补算 {rolled} 天")
    files: list[WrittenFile] = []
    reports: list[DistrictReport] = []
    for name in names:
        report = district_report(queries.read_district(conn, name, period, route_custodians=route_custodians))
        reports.append(report)
        progress.step(f"{name}：读取与计算")
        files.extend(_emit(district_document(report), out, progress))
    if district is None:
        files.extend(_emit(city_document(city_report(reports, period)), out, progress))
    return files


def _emit(document: Document, out: Path | None, progress: Progress) -> list[WrittenFile]:
    files = render_files(document, progress)
    if out is not None:
        write_files(out, files)
    progress.step(f"{document.district}：已写入 {len(files)} 个文件" if out is not None
                  else f"{document.district}：{len(files)} 个文件")
    return files


__all__ = ["CITY", "Progress", "WrittenFile", "make_reports", "render_files", "write_files"]
