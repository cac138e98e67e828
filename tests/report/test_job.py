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
from tests.report.world import AUDIT_KEY, LIXIA, NOW, ROUTE_CUSTODIANS


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


def test_the_past_year_is_made_once_from_its_day_on(empty_db: str, tmp_path: Path) -> None:
    """A store without sites: the schedule's request makes the city summary alone (quick)."""
    job = make_report_job(tmp_path, annual_on="01-02", audit_key=AUDIT_KEY)
    assert run(empty_db, job, world.cst(1, 1, 10, year=2026)) == "scheduled 0, made 0, failed 0"
    assert run(empty_db, job, world.cst(1, 2, 0, 5, year=2026)) == "scheduled 1, made 1, failed 0"
    assert run(empty_db, job, world.cst(3, 1, year=2026)) == "scheduled 0, made 0, failed 0"
    with psycopg.connect(empty_db) as conn:
        made = records.recent(conn)
        assert [(r.year, r.district, r.status, r.origin, r.requested_by) for r in made] == [
            (2025, None, "done", "schedule", "relic-guard")]
        assert made[0].folder == str(tmp_path / "2025")
        assert (tmp_path / "2025" / "2025-全市.pdf").is_file()
        assert {f.name for f in made[0].files} >= {"2025-全市.pdf", "2025-全市.html", "2025-全市.xlsx"}
        entry = conn.execute("SELECT actor, subject, detail FROM audit_log WHERE kind = 'report.made'").fetchone()
    assert entry is not None and entry[0] == "relic-guard" and entry[1] == f"report/{made[0].id}"
    pdf = (tmp_path / "2025" / "2025-全市.pdf").read_bytes()
    assert entry[2]["pdf_sha256"] == {"2025-全市.pdf": hashlib.sha256(pdf).hexdigest()}


def test_requests_are_made_in_order_and_a_failure_stops_nothing(pg_url: str, tmp_path: Path) -> None:
    world.build(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # the January request is there already (made by another daemon): only the people's are made
        assert records.request_scheduled(conn, year=2025, by="relic-guard", now=NOW)
        conn.execute("UPDATE annual_reports SET status = 'done', finished_at = %s", (NOW,))
        gone = records.request(conn, year=2025, district="已撤销区", by="user:sup", now=NOW)
        wanted = records.request(conn, year=2025, district=LIXIA, by="user:sup", now=NOW)
        # asking again while it waits is the same request
        assert records.request(conn, year=2025, district=LIXIA, by="user:other", now=NOW).id == wanted.id
    job = make_report_job(tmp_path, route_custodians=ROUTE_CUSTODIANS, audit_key=AUDIT_KEY)
    assert run(pg_url, job, NOW) == "scheduled 0, made 1, failed 1"
    with psycopg.connect(pg_url) as conn:
        failed = records.get(conn, gone.id)
        done = records.get(conn, wanted.id)
        assert failed is not None and failed.status == "failed" and "已撤销区" in failed.detail
        assert failed.finished_at == NOW and done is not None and done.status == "done"
        found = records.file_of(conn, wanted.id, "2025-历下区-csv/patrols_by_custodian.csv")
        assert found is not None and found[0].district == LIXIA and found[0].content_type.startswith("text/csv")
        assert "王建国" in found[1].decode("utf-8-sig")
        assert records.file_of(conn, wanted.id, "2025-全市.pdf") is None  # one district: no city summary
        assert records.claim(conn) is None
    assert (tmp_path / "2025" / "2025-历下区.pdf").read_bytes()[:5] == b"%PDF-"
