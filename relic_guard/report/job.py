"""The report job for the schedule (`relic_guard.schedule.runner`): last year's reports in January,
and the reports people ask for on the dashboard.

    schedule.add(Job(JOB_NAME, make_report_job(out_dir, annual_on="01-02"), every_s=60))

Each run:
- from `annual_on` (MM-DD, China time) on, asks once for the past year's reports of every
  district and the city (`records.request_scheduled`: one row per year ever, whatever the number
  of runs or daemons), so a January spent with the daemon down still gets its reports at the first
  run after;
- makes every request waiting, oldest first, one transaction each: the request row locked, the
  files written into `out_dir/<year>/` and stored with the row, the row marked done, and an audit
  entry naming each PDF's SHA-256 (what a supervisor signs can be matched to what was made). A
  request that cannot be made is marked failed with the reason and the next one goes on.
Making a report reads only: a run never holds a lock that ingestion or the alert journal waits on
(the daily device rollup it may complete writes rows of its own table).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import psycopg

from relic_guard import audit
from relic_guard.hazards.workdays import local_day
from relic_guard.report import records
from relic_guard.report.make import make_reports
from relic_guard.schedule.runner import JobFunction

log = logging.getLogger(__name__)

JOB_NAME: Final = "reports.annual"
# Who asks for the January reports, in the record and the audit trail.
ACTOR: Final = "relic-guard"

Conn = psycopg.Connection[Any]


def annual_due(today: date, annual_on: str) -> bool:
    """Whether the past year's reports are due on `today` (on or after `annual_on`, MM-DD)."""
    month, day = (int(part) for part in annual_on.strip().split("-"))
    return (today.month, today.day) >= (month, day)


def make_one(conn: Conn, request: records.ReportRecord, *, out_dir: Path, now: datetime,
             route_custodians: Mapping[str, tuple[str, ...]], audit_key: bytes | None) -> int:
    """Make a claimed request, store its files and mark it done (in the caller's transaction);
    the number of files."""
    folder = out_dir / str(request.year)
    files = make_reports(conn, year=request.year, district=request.district, out=folder, now=now,
                         route_custodians=route_custodians)
    records.finish(conn, request.id, files=files, folder=str(folder), now=now)
    if audit_key is not None:
        signed = {f.name: hashlib.sha256(f.data).hexdigest() for f in files if f.name.endswith(".pdf")}
        audit.append(conn, audit_key, [audit.AuditEntry(
            at=now, actor=request.requested_by, kind="report.made", subject=f"report/{request.id}",
            detail={"year": request.year, "district": request.district, "folder": str(folder), "files": len(files),
                    "pdf_sha256": signed})])
    return len(files)


def make_report_job(
    out_dir: Path,
    *,
    annual_on: str = "01-02",
    route_custodians: Mapping[str, tuple[str, ...]] | None = None,
    audit_key: bytes | None = None,
) -> JobFunction:
    """The schedule job. `route_custodians` names each patrol route's custodians (the routes
    file); without it a route counts for its site's custodians."""
    custodians = dict(route_custodians or {})

    def run(conn: Conn, now: datetime) -> str:
        # One transaction per request: a request made stays made when the next one fails.
        conn.autocommit = True
        asked = 0
        today = local_day(now)
        if annual_due(today, annual_on) and records.request_scheduled(
                conn, year=records.scheduled_year(today), by=ACTOR, now=now):
            asked = 1
        made = failed = 0
        while True:
            with conn.transaction():
                request = records.claim(conn)
                if request is None:
                    break
                try:
                    with conn.transaction():  # a savepoint: a failure leaves the claim to be marked
                        count = make_one(conn, request, out_dir=out_dir, now=now, route_custodians=custodians,
                                         audit_key=audit_key)
                except psycopg.OperationalError:
                    raise  # the database went away: the request waits for the next run
                except Exception as exc:  # one report's failure, whatever it is, must not block the others
                    log.warning("annual report %s (%s %s) could not be made: %s", request.id, request.year,
                                request.district or "every district", exc)
                    records.fail(conn, request.id, reason=f"{type(exc).__name__}: {exc}", now=now)
                    failed += 1
                else:
                    log.info("annual report %s made: %d files in %s", request.id, count, out_dir)
                    made += 1
        return f"scheduled {asked}, made {made}, failed {failed}"

    return run
