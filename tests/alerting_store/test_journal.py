"""AlertJournal against a real PostgreSQL: order, outages, the pending file, refused items."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest

from relic_guard.alerting import journal as journal_module
from relic_guard.alerting.journal import (
    MALFORMED_FILE,
    PENDING_FILE,
    REJECTED_FILE,
    AlertJournal,
    decode_item,
    encode_item,
)
from relic_guard.alerting.records import AlertSnapshot, JournalItem, TimelineEntry
from relic_guard.audit import AuditEntry, verify
from relic_guard.embedded import EmbeddedPostgres, free_port
from relic_guard.store import alerts as store
from relic_guard.store.schema import migrate

from .support import KEY, SHANGHAI, T0, acknowledged, alert, delivery, entry, wait_until

A = alert(1)


def numbered(i: int) -> TimelineEntry:
    """Timeline entry i of alert A: `detail.n` says where it was put."""
    return TimelineEntry(alert_id=A.id, at=T0 + timedelta(seconds=i), kind="repeat", detail={"n": i})


def written_numbers(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT (detail->>'n')::int FROM alert_timeline ORDER BY id").fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def migrated(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
    return pg_url


@pytest.fixture
def journal(migrated: str, tmp_path: Path) -> Iterator[AlertJournal]:
    j = AlertJournal(migrated, KEY, tmp_path, connect_timeout_s=2, retry_min_s=0.05, retry_max_s=0.2)
    j.start()
    yield j
    j.close(timeout_s=5)


def closed_port_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"


def test_every_item_type_survives_its_line_encoding() -> None:
    items: list[JournalItem] = [
        AlertSnapshot(acknowledged(alert(2, opened=T0.astimezone(SHANGHAI)))),
        entry(A, "opened"),
        delivery(A, delivered=False),
        AuditEntry(at=T0.astimezone(SHANGHAI), actor="system", kind="config.changed", subject="routing.xlsx",
                   detail={"rows": 12, "文件": "值班表"}),
    ]
    for item in items:
        line = encode_item(item)
        assert b"\n" not in line
        back = decode_item(line)
        assert back == item
        assert type(back) is type(item)
    snapshot = decode_item(encode_item(items[0]))
    assert isinstance(snapshot, AlertSnapshot) and snapshot.alert.acknowledged_at is not None
    assert snapshot.alert.acknowledged_at.utcoffset() == timedelta(hours=8)


def test_items_are_written_in_order_with_their_audit_entries(journal: AlertJournal, migrated: str) -> None:
    journal.put(AlertSnapshot(A))
    for i in range(1200):  # more than one batch
        journal.put(numbered(i))
    journal.put(delivery(A))
    assert journal.flush(20)
    assert journal.pending == 0 and journal.database_ok
    assert written_numbers(migrated) == list(range(1200))
    with psycopg.connect(migrated, autocommit=True) as conn:
        assert store.get(conn, A.id) == A
        assert store.deliveries_of(conn, A.id) == [delivery(A)]
        report = verify(conn, KEY)
        assert report.intact and report.checked == 1201


def test_an_outage_holds_items_in_memory_and_writes_them_in_order_when_back(
    own_pg: EmbeddedPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="relic_guard")
    url = own_pg.create_database("relic")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    journal = AlertJournal(url, KEY, tmp_path, connect_timeout_s=2, retry_min_s=0.05, retry_max_s=0.2)
    journal.start()
    try:
        for i in range(10):
            journal.put(numbered(i))
        assert journal.flush(20)

        own_pg.stop()
        started = time.monotonic()
        for i in range(10, 3010):
            journal.put(numbered(i))
        assert time.monotonic() - started < 1.0  # put() never waits for the database
        wait_until(lambda: not journal.database_ok, what="the outage noticed")
        assert journal.pending == 3000
        time.sleep(0.3)  # a few retries (every 0.05-0.2 s) fail meanwhile: still one ERROR line
        assert not journal.flush(0.1)

        own_pg.start()
        for i in range(3010, 3020):
            journal.put(numbered(i))
        assert journal.flush(30)
        assert journal.database_ok and journal.pending == 0
    finally:
        journal.close(timeout_s=5)
    assert written_numbers(url) == list(range(3020))
    with psycopg.connect(url, autocommit=True) as conn:
        assert verify(conn, KEY).intact
    down = [r for r in caplog.records if "alert journal: database" in r.getMessage() and r.levelno == logging.ERROR]
    assert len(down) == 1 and "unreachable" in down[0].getMessage()
    back = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(back) == 1 and back[0].levelno == logging.INFO
    held = int(back[0].getMessage().split("writing the ")[1].split()[0])
    assert 3000 <= held <= 3010
    assert not (tmp_path / PENDING_FILE).exists()


def test_close_with_the_database_down_saves_the_rest_for_the_next_journal(
    migrated: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="relic_guard")
    down = AlertJournal(closed_port_url(), KEY, tmp_path, connect_timeout_s=1, retry_min_s=0.05, retry_max_s=0.1)
    down.start()
    down.put(AlertSnapshot(A))
    for i in range(700):
        down.put(numbered(i))
    wait_until(lambda: not down.database_ok, what="the outage noticed")
    started = time.monotonic()
    down.close(timeout_s=5)
    assert time.monotonic() - started < 3  # one more attempt, not the whole timeout
    with pytest.raises(RuntimeError, match="closed"):
        down.put(numbered(700))

    path = tmp_path / PENDING_FILE
    saved = [r for r in caplog.records if str(path) in r.getMessage() and r.levelno == logging.WARNING]
    assert len(saved) == 1 and "701 items" in saved[0].getMessage()
    lines = path.read_bytes().splitlines()
    # The batch that was being written comes first, under its id, then the rest.
    assert msgspec.json.decode(lines[0])["t"] == "batch"
    assert len(lines) == 702

    up = AlertJournal(migrated, KEY, tmp_path, connect_timeout_s=2, retry_min_s=0.05)
    assert up.pending == 701
    up.put(numbered(700))  # put before start: behind the saved ones
    up.start()
    try:
        assert up.flush(20)
        wait_until(lambda: not path.exists(), what="the pending file removed")
    finally:
        up.close(timeout_s=5)
    assert written_numbers(migrated) == list(range(701))
    with psycopg.connect(migrated, autocommit=True) as conn:
        assert store.get(conn, A.id) == A
        assert verify(conn, KEY).checked == 701
    assert not path.exists()


def test_a_batch_saved_after_it_was_committed_is_not_written_twice(migrated: str, tmp_path: Path) -> None:
    # What a lost commit answer leaves: the batch is in the database and in the pending file.
    with psycopg.connect(migrated, autocommit=True) as conn:
        store.write(conn, [numbered(0), numbered(1)], KEY, batch_id="b-lost")
    (tmp_path / PENDING_FILE).write_bytes(
        b'{"t":"batch","id":"b-lost","size":2}\n' + encode_item(numbered(0)) + b"\n" + encode_item(numbered(1))
        + b"\n" + encode_item(numbered(2)) + b"\n")
    journal = AlertJournal(migrated, KEY, tmp_path, connect_timeout_s=2)
    journal.start()
    try:
        assert journal.flush(20)
    finally:
        journal.close(timeout_s=5)
    assert written_numbers(migrated) == [0, 1, 2]


def test_a_malformed_pending_line_is_logged_and_skipped(
    migrated: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / PENDING_FILE
    path.write_bytes(b"\n".join([
        encode_item(numbered(0)),
        b'{"t":"timeline","item":{"alert_id":"x"',  # cut short
        encode_item(numbered(1)),
        b'{"t":"mystery","item":{}}',
        b"",
        encode_item(numbered(2)),
    ]) + b"\n")
    with caplog.at_level(logging.INFO, logger="relic_guard"):
        journal = AlertJournal(migrated, KEY, tmp_path, connect_timeout_s=2)
    problems = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(problems) == 2
    assert f"{path} line 2 " in problems[0] and f"{path} line 4 " in problems[1]
    assert journal.pending == 3
    journal.start()
    try:
        assert journal.flush(20)
    finally:
        journal.close(timeout_s=5)
    assert written_numbers(migrated) == [0, 1, 2]
    assert not path.exists()
    assert (tmp_path / MALFORMED_FILE).read_bytes() == (
        b'2\t{"t":"timeline","item":{"alert_id":"x"\n4\t{"t":"mystery","item":{}}\n')


def test_an_item_the_database_refuses_is_set_aside_and_the_rest_written(
    journal: AlertJournal, migrated: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="relic_guard")
    bad = dataclasses.replace(delivery(A), attempts=2**40)  # past the integer column
    items: list[JournalItem] = [numbered(0), numbered(1), bad, numbered(2), numbered(3)]
    for item in items:
        journal.put(item)
    assert journal.flush(20)
    assert written_numbers(migrated) == [0, 1, 2, 3]
    rejected = (tmp_path / REJECTED_FILE).read_bytes().splitlines()
    assert len(rejected) == 1
    record: dict[str, Any] = msgspec.json.decode(rejected[0])
    assert "out of range" in record["reason"]
    assert decode_item(msgspec.json.encode(record["line"])) == bad
    assert [r for r in caplog.records if "set aside" in r.getMessage()]
    assert journal.database_ok
    with psycopg.connect(migrated, autocommit=True) as conn:
        assert verify(conn, KEY).intact


def test_an_unmigrated_database_holds_items_until_the_schema_is_there(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="relic_guard")
    journal = AlertJournal(pg_url, KEY, tmp_path, connect_timeout_s=2, retry_min_s=0.05, retry_max_s=0.1)
    journal.start()
    try:
        journal.put(numbered(0))
        wait_until(lambda: any("refusing" in r.getMessage() for r in caplog.records), what="the refusal logged")
        assert journal.pending == 1 and not journal.database_ok
        assert not (tmp_path / REJECTED_FILE).exists()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            migrate(conn)
        assert journal.flush(20)
    finally:
        journal.close(timeout_s=5)
    assert written_numbers(pg_url) == [0]


def test_a_growing_backlog_is_reported_every_so_many_items_and_nothing_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.ERROR, logger="relic_guard")
    monkeypatch.setattr(journal_module, "BACKLOG_ALARM", 100)
    monkeypatch.setattr(journal_module, "BACKLOG_LOG_EVERY", 10)
    journal = AlertJournal(closed_port_url(), KEY, tmp_path, connect_timeout_s=1, retry_min_s=0.02, retry_max_s=0.05)
    journal.start()

    def backlog_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if "items held in memory" in r.getMessage()]

    try:
        for i in range(150):
            journal.put(numbered(i))
        wait_until(lambda: len(backlog_lines()) == 1, what="the first backlog line")
        for i in range(150, 175):
            journal.put(numbered(i))
        wait_until(lambda: len(backlog_lines()) == 2, what="the second backlog line")
        assert journal.pending == 175
    finally:
        journal.close(timeout_s=2)
    assert backlog_lines() == [
        "alert journal: 150 items held in memory while the database is unreachable; nothing is dropped, but memory "
        "keeps growing until it is back",
        "alert journal: 175 items held in memory while the database is unreachable; nothing is dropped, but memory "
        "keeps growing until it is back",
    ]
    assert len((tmp_path / PENDING_FILE).read_bytes().splitlines()) == 176  # batch marker + 175
