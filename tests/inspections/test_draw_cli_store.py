"""`relic-guard draw run --store`, `draw list`, `draw show` and `draw verify --id` against a real
PostgreSQL; the file-based commands keep their own tests (test_draw_io.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from relic_guard import audit
from relic_guard.audit import load_or_create_key
from relic_guard.cli import app
from relic_guard.store import inspection_store
from tests.inspections.test_draw_store import EXAMPLE, SEED

# The database comes from the configuration file alone.
NO_DATABASE_ENV = {"RELIC_GUARD_DATABASE_URL": None, "RELIC_GUARD_CONFIG": None}


def config_file(tmp_path: Path, database_url: str | None, pool_file: Path | None = EXAMPLE) -> Path:
    lines = []
    if database_url is not None:
        lines += ["[database]", f'url = "{database_url}"', ""]
    lines += ["[audit]", f'key_file = "{tmp_path / "audit.key"}"', ""]
    if pool_file is not None:
        lines += ["[inspections]", f'pool_file = "{pool_file}"', ""]
    path = tmp_path / "relic-guard.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def drawn_ids(csv_text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(csv_text.removeprefix("\ufeff"))))
    return [row[2] for row in rows[1:]]


def test_store_list_show_and_verify(tmp_path: Path, pg_url: str) -> None:
    runner = CliRunner(env=NO_DATABASE_ENV)
    cfg = str(config_file(tmp_path, pg_url))
    common = ["--period", "2026-Q3", "--count", "4", "--seed", SEED]
    ran = runner.invoke(app, ["draw", "run", *common, "--store", "--by", "user:督察员", "--config", cfg,
                              "--csv", str(tmp_path / "run.csv")])
    assert ran.exit_code == 0, ran.output
    assert "[必查] SZ-001 西关关帝庙" in ran.output
    assert "history: 6 past inspection(s), 6 from inspections.example.toml, 0 more from the database" in ran.output
    assert "stored as draw 1; 4 fire inspection(s)" in ran.output

    again = runner.invoke(app, ["draw", "run", *common, "--store", "--config", cfg])
    assert again.exit_code == 0, again.output
    assert "already stored as draw 1" in again.output

    with psycopg.connect(pg_url, autocommit=True) as conn:
        fingerprint = conn.execute("SELECT fingerprint FROM draws WHERE id = 1").fetchone()
        assert fingerprint is not None
        trail = audit.verify(conn, load_or_create_key(tmp_path / "audit.key"))
        kinds = [r[0] for r in conn.execute("SELECT kind FROM audit_log ORDER BY seq").fetchall()]
    assert trail.intact and kinds == ["draw.stored"] + ["inspection.drawn"] * 4

    listed = runner.invoke(app, ["draw", "list", "--year", "2026", "--config", cfg])
    assert listed.exit_code == 0, listed.output
    assert f"1  2026-Q3  seed '{SEED}'  fingerprint {fingerprint[0][:12]}  4/4 drawn" in listed.output
    assert "by user:督察员" in listed.output and listed.output.endswith("1 draw(s) in 2026\n")
    assert runner.invoke(app, ["draw", "list", "--year", "2025", "--config", cfg]).output == "0 draw(s) in 2025\n"

    exported = {name: tmp_path / name for name in ("show.csv", "show.html", "draw-1-input.toml")}
    shown = runner.invoke(app, ["draw", "show", "1", "--config", cfg, "--csv", str(exported["show.csv"]),
                                "--html", str(exported["show.html"]), "--pool", str(exported["draw-1-input.toml"])])
    assert shown.exit_code == 0, shown.output
    assert "draw/1/SZ-001 [assigned]" in shown.output and "not drawn: HY-001 商埠会馆旧址" in shown.output
    # The stored draw publishes exactly what the run published.
    assert exported["show.csv"].read_bytes() == (tmp_path / "run.csv").read_bytes()
    assert "--input draw-1-input.toml" in exported["show.html"].read_text("utf-8")

    # Anyone with the published pool file, seed and CSV re-runs it without the database.
    offline = runner.invoke(app, ["draw", "verify", "--input", str(exported["draw-1-input.toml"]), *common,
                                  "--csv", str(exported["show.csv"])])
    assert offline.exit_code == 0 and "matches" in offline.output, offline.output

    by_id = runner.invoke(app, ["draw", "verify", "--id", "1", "--config", cfg, "--csv", str(exported["show.csv"])])
    assert by_id.exit_code == 0, by_id.output
    assert "matches: draw 1 (2026-Q3" in by_id.output and "is its publication" in by_id.output

    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE draws SET result = jsonb_set(result, '{assignments,0,inspectors,0,id}', "
                      "'\"JN-XF-9999\"') WHERE id = 1")
    tampered = runner.invoke(app, ["draw", "verify", "--id", "1", "--config", cfg])
    assert tampered.exit_code == 1, tampered.output
    assert "DOES NOT MATCH: draw 1" in tampered.output and "drawn #1: stored SZ-001 (JN-XF-9999" in tampered.output
    refused = runner.invoke(app, ["draw", "show", "1", "--config", cfg, "--csv", str(tmp_path / "not.csv")])
    assert refused.exit_code == 1 and "nothing was exported" in refused.output
    assert not (tmp_path / "not.csv").exists()

    unknown = runner.invoke(app, ["draw", "show", "99", "--config", cfg])
    assert unknown.exit_code == 2 and "no stored draw has id 99" in unknown.output
    mixed = runner.invoke(app, ["draw", "verify", "--id", "1", "--seed", "x", "--config", cfg])
    assert mixed.exit_code == 2 and "leave out --seed" in mixed.output


def test_a_stored_draw_counts_the_inspections_done_since(tmp_path: Path, pg_url: str) -> None:
    runner = CliRunner(env=NO_DATABASE_ENV)
    # No pool_file in the configuration: --input names it.
    cfg = str(config_file(tmp_path, pg_url, pool_file=None))
    first = runner.invoke(app, ["draw", "run", "--period", "2026-Q3", "--count", "4", "--seed", SEED, "--store",
                                "--input", str(EXAMPLE), "--config", cfg])
    assert first.exit_code == 0, first.output
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        inspection_store.complete(conn, "draw/1/SZ-001", rating="fair", summary="灭火器过期两具，已当场更换", sites={},
                                  by="user:张建华", now=yesterday)
    second = runner.invoke(app, ["draw", "run", "--period", "2026-Q4", "--count", "4", "--seed", "第四季度",
                                 "--store", "--input", str(EXAMPLE), "--config", cfg])
    assert second.exit_code == 0, second.output
    assert "7 past inspection(s), 6 from inspections.example.toml, 1 more from the database" in second.output
    assert "stored as draw 2" in second.output


def test_what_storing_needs(tmp_path: Path) -> None:
    runner = CliRunner(env=NO_DATABASE_ENV)
    common = ["draw", "run", "--period", "2026-Q3", "--count", "4", "--seed", SEED]
    no_input = runner.invoke(app, common)
    assert no_input.exit_code == 2 and "give the pool file with --input" in no_input.output
    no_database = runner.invoke(app, [*common, "--store", "--config", str(config_file(tmp_path, None))])
    assert no_database.exit_code == 2 and "no database configured" in no_database.output
    cfg = str(config_file(tmp_path, "postgresql://relic@127.0.0.1:1/relic", pool_file=None))
    no_pool = runner.invoke(app, [*common, "--store", "--config", cfg])
    assert no_pool.exit_code == 2 and "give --input or set [inspections] pool_file" in no_pool.output
    # Nothing listens on port 1: the database error is one line, exit 2.
    down = runner.invoke(app, [*common, "--store", "--input", str(EXAMPLE), "--config", cfg])
    assert down.exit_code == 2 and "relic-guard: database:" in down.output
    incomplete = runner.invoke(app, ["draw", "verify", "--input", str(EXAMPLE), "--period", "2026-Q3"])
    assert incomplete.exit_code == 2 and "give --count, --seed, --csv (or --id ID" in incomplete.output
