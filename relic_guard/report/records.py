"""The record of reports made and asked for (`annual_reports`, `annual_report_files`, sql/016).

Plain functions over a synchronous psycopg connection. A request is a row in status `requested`;
the report job claims the oldest with `FOR UPDATE SKIP LOCKED`, makes it, stores its files and
marks it `done` (or `failed`, with the reason) in the same transaction, so a request is made once
even with several daemons, and one that a crash cut short is made at the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import psycopg

from relic_guard.report.make import WrittenFile

Conn = psycopg.Connection[Any]

_COLUMNS: Final = "id, year, district, status, origin, requested_by, requested_at, finished_at, folder, detail"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFileInfo:
    name: str
    district: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRecord:
    id: int
    year: int
    district: str | None  # None: every district and the city summary
    status: str
    origin: str
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    folder: str | None
    detail: str
    files: tuple[ReportFileInfo, ...] = ()


def _record(row: Sequence[Any], files: Sequence[ReportFileInfo] = ()) -> ReportRecord:
    return ReportRecord(id=int(row[0]), year=int(row[1]), district=row[2], status=row[3], origin=row[4],
                        requested_by=row[5], requested_at=row[6], finished_at=row[7], folder=row[8], detail=row[9],
                        files=tuple(files))


def request(conn: Conn, *, year: int, district: str | None, by: str, now: datetime) -> ReportRecord:
    """Ask for a year's reports (one district, or all of them with the city summary). A request
    for the same year and district still waiting is returned instead of a second one."""
    with conn.transaction():
        waiting = conn.execute(
            f"SELECT {_COLUMNS} FROM annual_reports WHERE status = 'requested' AND year = %s "
            "AND district IS NOT DISTINCT FROM %s ORDER BY id LIMIT 1", (year, district),
        ).fetchone()
        if waiting is not None:
            return _record(waiting)
        row = conn.execute(
            "INSERT INTO annual_reports (year, district, origin, requested_by, requested_at) "
            f"VALUES (%s, %s, 'request', %s, %s) RETURNING {_COLUMNS}", (year, district, by, now),
        ).fetchone()
    assert row is not None
    return _record(row)


def request_scheduled(conn: Conn, *, year: int, by: str, now: datetime) -> bool:
    """The schedule's own request for `year` (every district): made once ever; True when made now."""
    row = conn.execute(
        "INSERT INTO annual_reports (year, district, origin, requested_by, requested_at) "
        "VALUES (%s, NULL, 'schedule', %s, %s) ON CONFLICT (year) WHERE origin = 'schedule' DO NOTHING RETURNING id",
        (year, by, now),
    ).fetchone()
    return row is not None


def claim(conn: Conn) -> ReportRecord | None:
    """The oldest request no other transaction holds, locked until the caller's transaction ends."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM annual_reports WHERE status = 'requested' ORDER BY id LIMIT 1 "
        "FOR UPDATE SKIP LOCKED"
    ).fetchone()
    return None if row is None else _record(row)


def finish(conn: Conn, report_id: int, *, files: Sequence[WrittenFile], folder: str, now: datetime) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO annual_report_files (report_id, name, district, content_type, bytes) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(report_id, f.name, f.district, f.content_type, f.data) for f in files],
        )
        cur.execute("UPDATE annual_reports SET status = 'done', finished_at = %s, folder = %s WHERE id = %s",
                    (now, folder, report_id))


def fail(conn: Conn, report_id: int, *, reason: str, now: datetime) -> None:
    conn.execute("UPDATE annual_reports SET status = 'failed', finished_at = %s, detail = %s WHERE id = %s",
                 (now, reason[:2000], report_id))


def recent(conn: Conn, *, limit: int = 50) -> list[ReportRecord]:
    """The latest reports and requests, newest first, with their files' names and sizes."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM annual_reports ORDER BY year DESC, id DESC LIMIT %s",
                        (limit,)).fetchall()
    ids = [int(r[0]) for r in rows]
    files: dict[int, list[ReportFileInfo]] = {i: [] for i in ids}
    if ids:
        for report_id, name, district, content_type, size in conn.execute(
            "SELECT report_id, name, district, content_type, octet_length(bytes) FROM annual_report_files "
            "WHERE report_id = ANY(%s) ORDER BY report_id, district, name", (ids,),
        ).fetchall():
            files[int(report_id)].append(ReportFileInfo(name=name, district=district, content_type=content_type,
                                                        size=int(size)))
    return [_record(r, files[int(r[0])]) for r in rows]


def get(conn: Conn, report_id: int) -> ReportRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM annual_reports WHERE id = %s", (report_id,)).fetchone()
    return None if row is None else _record(row)


def file_of(conn: Conn, report_id: int, name: str) -> tuple[ReportFileInfo, bytes] | None:
    row = conn.execute(
        "SELECT name, district, content_type, bytes FROM annual_report_files WHERE report_id = %s AND name = %s",
        (report_id, name),
    ).fetchone()
    if row is None:
        return None
    data = bytes(row[3])
    return ReportFileInfo(name=row[0], district=row[1], content_type=row[2], size=len(data)), data


def scheduled_year(today: date) -> int:
    """The year the schedule reports on during `today`'s year: the one before."""
    return today.year - 1
