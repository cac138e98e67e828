"""`relic-guard report` through typer's runner against a real PostgreSQL. The report's content is
tested from the generated year (test_render.py); here the command: its files, its progress, its
refusals. The store has sites of no district, so the run makes the city summary alone (quick)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from relic_guard.cli import app
from relic_guard.store.schema import migrate


@pytest.fixture
def database(pg_url: str) -> Iterator[str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO sites (id, name, district) VALUES ('lingyan-si', '灵岩寺', '长清区')")
    yield pg_url


def report(database: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["report", *args], env={"RELIC_GUARD_DATABASE_URL": database,
                                                           "RELIC_GUARD_CONFIG": ""})


def test_the_year_with_its_rollups_rebuilt(database: str, tmp_path: Path) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE sites SET district = ''")  # no district: the city summary alone
    out = tmp_path / "报告"
    done = report(database, "--year", "2024", "--out", str(out), "--rebuild-rollups")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [f"6 file(s) written into {out} for 2024-01-01 – 2024-12-31:",
                                        f"  {out / '2024-全市.pdf'}"]
    assert (out / "2024-全市.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (out / "2024-全市-csv").iterdir()) == [
        "cases_by_district.csv", "districts.csv", "summary.csv"]
    # the progress went to stderr, step by step, ending with the files written
    assert "设备日汇总（重算）" in done.stderr and "全市：已写入 6 个文件" in done.stderr
    with psycopg.connect(database) as conn:
        days = conn.execute("SELECT count(*) FROM device_days_done WHERE day BETWEEN '2024-01-01' AND "
                            "'2024-12-31'").fetchone()
    assert days == (366,)


def test_what_cannot_be_reported_says_why(database: str, tmp_path: Path) -> None:
    unknown = report(database, "--year", "2025", "--district", "不存在区", "--out", str(tmp_path))
    assert unknown.exit_code == 2 and "no registered site lies in district '不存在区'" in unknown.stderr
    assert "the districts are: 长清区" in unknown.stderr and not list(tmp_path.iterdir())
    future = report(database, "--year", "2199", "--out", str(tmp_path))
    assert future.exit_code == 2 and "2199 has not begun yet" in future.stderr
    nowhere = CliRunner().invoke(app, ["report", "--year", "2025", "--out", str(tmp_path)],
                                 env={"RELIC_GUARD_DATABASE_URL": "", "RELIC_GUARD_CONFIG": ""})
    assert nowhere.exit_code == 2 and "no database configured" in nowhere.stderr
