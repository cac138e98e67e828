"""`relic-guard report` through typer's runner against the generated year in a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
from typer.testing import CliRunner, Result

from relic_guard.cli import app
from tests.report.world import LIXIA


def report(database: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["report", *args], env={"RELIC_GUARD_DATABASE_URL": database,
                                                           "RELIC_GUARD_CONFIG": ""})


def test_one_district_with_its_rollups_rebuilt(year_url: str, tmp_path: Path) -> None:
    out = tmp_path / "报告"
    done = report(year_url, "--year", "2025", "--district", LIXIA, "--out", str(out), "--rebuild-rollups")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == f"27 file(s) written into {out} for 2025-01-01 – 2025-12-31:"
    assert lines[1:] == [f"  {out / '2025-历下区.pdf'}"]
    assert (out / "2025-历下区.pdf").read_bytes()[:5] == b"%PDF-"
    assert len(list((out / "2025-历下区-csv").glob("*.csv"))) == 24
    # the progress went to stderr, step by step, ending with the files written
    assert "历下区：已写入 27 个文件" in done.stderr
    with psycopg.connect(year_url) as conn:
        days = conn.execute("SELECT count(*) FROM device_days_done WHERE day BETWEEN '2025-01-01' AND "
                            "'2025-12-31'").fetchone()
    assert days == (365,)


def test_what_cannot_be_reported_says_why(year_url: str, tmp_path: Path) -> None:
    unknown = report(year_url, "--year", "2025", "--district", "不存在区", "--out", str(tmp_path))
    assert unknown.exit_code == 2 and "no registered site lies in district '不存在区'" in unknown.stderr
    assert "历下区、章丘区" in unknown.stderr and not list(tmp_path.iterdir())
    future = report(year_url, "--year", "2199", "--out", str(tmp_path))
    assert future.exit_code == 2 and "2199 has not begun yet" in future.stderr
    nowhere = CliRunner().invoke(app, ["report", "--year", "2025", "--out", str(tmp_path)],
                                 env={"RELIC_GUARD_DATABASE_URL": "", "RELIC_GUARD_CONFIG": ""})
    assert nowhere.exit_code == 2 and "no database configured" in nowhere.stderr
