"""`relic-guard plan show|generate` on the example routes (generate against a real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from typer.testing import CliRunner

from relic_guard.cli import app

CONFIG = Path(__file__).resolve().parents[2] / "config" / "relic-guard.toml"


def test_show_lists_a_days_rounds_in_local_time() -> None:
    result = CliRunner().invoke(app, ["plan", "show", "--config", str(CONFIG), "--date", "2026-11-27",
                                      "--site", "lingyan-si"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1].endswith("round(s) on 2026-11-27")
    assert any(line.startswith("08:00–10:00  灵岩寺  灵岩寺防火巡查") for line in lines), result.output
    assert any("(night;" in line for line in lines)
    assert all("孝堂山" not in line for line in lines)


def test_show_refuses_a_bad_date() -> None:
    result = CliRunner().invoke(app, ["plan", "show", "--config", str(CONFIG), "--date", "27/11/2026"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_generate_writes_rounds_once(pg_url: str) -> None:
    env = {"RELIC_GUARD_DATABASE_URL": pg_url}
    runner = CliRunner()
    first = runner.invoke(app, ["plan", "generate", "--config", str(CONFIG), "--hours", "24"], env=env)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["plan", "generate", "--config", str(CONFIG), "--hours", "24"], env=env)
    assert again.output.startswith("0 new round(s)"), again.output
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT count(*) FROM patrol_rounds").fetchone()
    assert row is not None and row[0] > 0 and first.output.startswith(f"{row[0]} new round(s)")
