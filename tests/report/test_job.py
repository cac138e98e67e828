"""The report job: last year's reports asked for once from `annual_on` on, requests made in order, one
that fails marked failed without stopping the next, files stored for every daemon, and an audit
entry naming what was signed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from relic_guard.report import records
from relic_guard.report.job import annual_due, make_report_job
from relic_guard.store.schema import migrate
from tests.report import world
from tests.report.world import AUDIT_KEY, NOW


@pytest.mark.parametrize(("today", "annual_on", "due"), [
    (date(2026, 1, 1), "01-02", False), (date(2026, 1, 2), "01-02", True), (date(2026, 7, 1), "01-02", True),
    (date(2026, 3, 31), "04-01", False), (date(2026, 12, 31), " 04-01 ", True),
])
def test_when_the_past_year_is_due(today: date, annual_on: str, due: bool) -> None:
    assert annual_due(today, annual_on) is due


@pytest.fixture
def empty_db(pg_url: str) -> Iterator[str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
    yield pg_url


def run(url: str, job: Any, now: Any) -> str:
    # as the schedule's runner calls a job: a fresh connection, committed when the job returns
    with psycopg.connect(url) as conn:
        result = job(conn, now)
    assert isinstance(result, str)
    return result


def test_the_past_year_once_from_its_day_on_and_a_failure_stops_nothing(empty_db: str, tmp_path: Path) -> None:
    """A store without sites: the year's reports are the city summary alone (quick to make)."""
    job = make_report_job(tmp_path, annual_on="01-02", audit_key=AUDIT_KEY)
    assert run(empty_db, job, world.cst(1, 1, 10, year=2026)) == "scheduled 0, made 0, failed 0"
    with psycopg.connect(empty_db, autocommit=True) as conn:
        # asked for before the January run: made first, and its failure does not stop the next
        gone = records.request(conn, year=2025, district="已撤销区", by="user:sup", now=NOW)
        # asking again while it waits is the same request
        assert records.request(conn, year=2025, district="已撤销区", by="user:other", now=NOW).id == gone.id
    assert run(empty_db, job, world.cst(1, 2, 0, 5, year=2026)) == "scheduled 1, made 1, failed 1"
    assert run(empty_db, job, world.cst(3, 1, year=2026)) == "scheduled 0, made 0, failed 0"
    with psycopg.connect(empty_db) as conn:
        assert not records.request_scheduled(conn, year=2025, by="relic-guard", now=NOW)  # once per year, ever
        made = records.recent(conn)
        assert [(r.year, r.district, r.status, r.origin, r.requested_by) for r in made] == [
            (2025, None, "done", "schedule", "relic-guard"), (2025, "已撤销区", "failed", "request", "user:sup")]
        assert "已撤销区" in made[1].detail and made[1].finished_at == world.cst(1, 2, 0, 5, year=2026)
        assert made[0].folder == str(tmp_path / "2025")
        assert {f.name for f in made[0].files} == {
            "2025-全市.pdf", "2025-全市.html", "2025-全市.xlsx", "2025-全市-csv/summary.csv",
            "2025-全市-csv/districts.csv", "2025-全市-csv/cases_by_district.csv"}
        found = records.file_of(conn, made[0].id, "2025-全市-csv/summary.csv")
        assert found is not None and found[0].district == "全市" and found[0].content_type.startswith("text/csv")
        assert found[1].startswith("\ufeff".encode()) and "文物点" in found[1].decode("utf-8-sig")
        assert records.file_of(conn, made[0].id, "2025-历下区.pdf") is None and records.claim(conn) is None
        entry = conn.execute("SELECT actor, subject, detail FROM audit_log WHERE kind = 'report.made'").fetchone()
    assert entry is not None and entry[0] == "relic-guard" and entry[1] == f"report/{made[0].id}"
    pdf = (tmp_path / "2025" / "2025-全市.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and entry[2]["pdf_sha256"] == {"2025-全市.pdf": hashlib.sha256(pdf).hexdigest()}
