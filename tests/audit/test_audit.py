"""The audit trail against a real PostgreSQL: appends chain, and edits, deletions and cut tails are caught."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from relic_guard.audit import AuditEntry, append, load_or_create_key, verify
from relic_guard.store.schema import migrate

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
KEY = bytes(range(32))


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        migrate(c)
        yield c


def entries(n: int, start: int = 0) -> list[AuditEntry]:
    return [
        AuditEntry(at=T0 + timedelta(seconds=start + i), actor="王建国" if i % 2 else "system",
                   kind="alert.acknowledged" if i % 2 else "alert.opened", subject=f"alert-{start + i}",
                   detail={"site": "城子崖遗址", "zone": "主殿", "n": start + i, "score": 0.1 * i})
        for i in range(n)
    ]


def tamper(conn: psycopg.Connection[Any], sql: str) -> None:
    """What a superuser could do: switch the append-only triggers off and change rows."""
    conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
    conn.execute(sql)
    conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")


def test_appends_chain_and_verify(conn: psycopg.Connection[Any]) -> None:
    assert append(conn, KEY, entries(5)) == [1, 2, 3, 4, 5]
    assert append(conn, KEY, entries(3, start=5)) == [6, 7, 8]
    report = verify(conn, KEY)
    assert report.intact, report.problems
    assert report.checked == 8 and report.head_seq == 8
    assert conn.execute("select detail->>'site' from audit_log where seq = 1").fetchone() == ("城子崖遗址",)


def test_the_table_refuses_updates_deletes_and_truncate(conn: psycopg.Connection[Any]) -> None:
    append(conn, KEY, entries(2))
    for sql in ("update audit_log set actor = 'x'", "delete from audit_log", "truncate audit_log"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute(sql)


def test_an_edited_entry_is_reported(conn: psycopg.Connection[Any]) -> None:
    append(conn, KEY, entries(6))
    tamper(conn, "update audit_log set actor = '李秀兰' where seq = 3")
    report = verify(conn, KEY)
    assert report.problems == ["entry 3 (alert.opened on alert-2) was altered after it was written"]


def test_an_edited_detail_is_reported(conn: psycopg.Connection[Any]) -> None:
    append(conn, KEY, entries(4))
    tamper(conn, "update audit_log set detail_text = replace(detail_text, '主殿', '偏殿') where seq = 2")
    assert verify(conn, KEY).problems == ["entry 2 (alert.acknowledged on alert-1) was altered after it was written"]


def test_a_deleted_entry_is_reported(conn: psycopg.Connection[Any]) -> None:
    append(conn, KEY, entries(6))
    tamper(conn, "delete from audit_log where seq = 4")
    problems = verify(conn, KEY).problems
    assert "entries 4–4 are missing: deleted from the trail" in problems
    assert "entry 5 does not link to the entry before it: the chain was cut here" in problems


def test_entries_cut_from_the_end_are_reported(conn: psycopg.Connection[Any]) -> None:
    append(conn, KEY, entries(6))
    tamper(conn, "delete from audit_log where seq > 4")
    assert verify(conn, KEY).problems == ["entries 5–6 are missing from the end of the trail"]


def test_a_rechained_forgery_without_the_key_is_reported(conn: psycopg.Connection[Any]) -> None:
    append(conn, KEY, entries(3))
    forger_key = b"\x01" * 32
    tamper(conn, "delete from audit_log")
    conn.execute("delete from audit_head")
    append(conn, forger_key, entries(3))
    report = verify(conn, KEY)
    assert len(report.problems) == 3 and all("altered" in p for p in report.problems)


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "audit.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_or_create_key(path) == key


def test_cli_audit_verify_exit_codes(conn: psycopg.Connection[Any], pg_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    key = load_or_create_key(key_file)
    append(conn, key, entries(3))
    env = dict(os.environ, RELIC_GUARD_DATABASE_URL=pg_url, RELIC_GUARD_AUDIT_KEY_FILE=str(key_file))
    env.pop("RELIC_GUARD_CONFIG", None)
    ok = subprocess.run([sys.executable, "-m", "relic_guard.cli", "audit", "verify"], env=env,
                        capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "audit trail intact: 3 entries" in ok.stdout
    tamper(conn, "update audit_log set kind = 'alert.resolved' where seq = 2")
    bad = subprocess.run([sys.executable, "-m", "relic_guard.cli", "audit", "verify"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1
    assert "entry 2 (alert.resolved on alert-1) was altered" in bad.stderr
