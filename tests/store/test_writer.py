"""write_batch against a real PostgreSQL: every record kind, redelivery, in-batch duplicates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from relic_guard import metrics
from relic_guard.batch import Batch, quarantined
from relic_guard.store.queries import count_rows, quarantine_counts, readings
from relic_guard.store.writer import attrs_json, clean_text, hour_runs, status_event_key, write_batch
from sensors.model import RejectReason, Source, StatusChange

from .conftest import T0, event, make_batch, status, telemetry

Conn = psycopg.Connection[Any]


def _sample(name: str, labels: dict[str, str]) -> float:
    for family in (metrics.ROWS_WRITTEN, metrics.DUPLICATES):
        for metric in family.collect():
            for s in metric.samples:
                if s.name == name and s.labels == labels:
                    return s.value
    return 0.0


def test_every_record_kind_is_written_and_read_back(db: Conn) -> None:
    batch = make_batch(3, n_events=2, statuses=[status(0, True)], n_quarantine=1)
    counts = write_batch(db, batch)
    assert (counts.readings, counts.events, counts.device_status, counts.quarantine) == (6, 3, 1, 1)
    assert not counts.redelivered

    raw = readings(db, "s1", "d1", "temperature_c", T0, T0 + timedelta(hours=1))
    assert [(r.ts, r.value, r.ts_from_receive) for r in raw] == [
        (T0 + timedelta(seconds=i), 20.0 + i, False) for i in range(3)]

    rows = db.execute("SELECT ts, site_id, device_id, source, type, zone, clear, event_key, attrs, "
                      "ts_from_receive FROM events ORDER BY ts, type").fetchall()
    assert rows[0] == (T0, "s1", "f1", "fire", "fire_alarm", "大殿", False, "msg-0",
                       {"component": "smoke_detector", "description": "烟感报警", "score": 0.9}, False)
    status_row = next(r for r in rows if r[4] == "online")
    assert status_row[1:8] == ("s1", "d1", "env", "online", None, False,
                               f"status:online:{int(T0.timestamp() * 1000)}")
    assert db.execute("SELECT online, changed_at FROM device_status").fetchall() == [(True, T0)]

    q = db.execute("SELECT topic, reason, detail, payload, payload_size, received_at FROM quarantine").fetchone()
    assert q == ("relic/s1/env/bad/telemetry#0", "bad json", "line 1: bad token 0", b'{"values": NaN}', 15, T0)
    assert quarantine_counts(db) == {"bad json": 1}


def test_the_same_batch_twice_stores_nothing_twice_and_counts_duplicates(db: Conn) -> None:
    batch = make_batch(100, n_events=5, statuses=[status(1, False)], n_quarantine=0)
    before = _sample("relic_guard_duplicates_total", {"table": "readings"})
    write_batch(db, batch)
    again = write_batch(db, batch)
    assert again.redelivered
    assert (again.readings, again.readings_duplicates) == (0, 200)
    assert (again.events, again.events_duplicates) == (0, 6)
    assert again.device_status == 0
    assert count_rows(db, "readings") == 200
    assert count_rows(db, "events") == 6
    assert _sample("relic_guard_duplicates_total", {"table": "readings"}) - before == 200


def test_a_partly_redelivered_batch_stores_only_the_new_rows(db: Conn) -> None:
    write_batch(db, make_batch(50))
    counts = write_batch(db, make_batch(60, start=25))
    assert (counts.readings, counts.readings_duplicates) == (70, 50)
    assert count_rows(db, "readings") == 170


def test_duplicates_inside_one_batch_keep_the_first(db: Conn) -> None:
    first = telemetry(0, values={"temperature_c": 1.0})
    second = telemetry(0, values={"temperature_c": 2.0})
    batch = Batch(telemetry=[first, second, telemetry(1)],
                  events=[event(0), event(0, zone="again")], messages=5)
    counts = write_batch(db, batch)
    assert (counts.readings, counts.readings_duplicates) == (3, 1)
    assert (counts.events, counts.events_duplicates) == (1, 1)
    assert db.execute("SELECT value FROM readings WHERE ts = %s AND metric = 'temperature_c'",
                      (T0,)).fetchall() == [(1.0,)]
    assert db.execute("SELECT zone FROM events").fetchall() == [("大殿",)]


def test_device_status_moves_only_forward(db: Conn) -> None:
    write_batch(db, make_batch(statuses=[status(10, True)]))
    # An older report arriving late is history (an event row), not the current state.
    counts = write_batch(db, make_batch(statuses=[status(5, False)]))
    assert counts.device_status == 0
    assert db.execute("SELECT online, changed_at FROM device_status").fetchall() == [(True, T0 + timedelta(seconds=10))]
    # Several changes of one device in one batch: the latest wins.
    write_batch(db, make_batch(statuses=[status(30, True), status(20, False), status(40, False), status(35, True)]))
    assert db.execute("SELECT online, changed_at FROM device_status").fetchall() == [
        (False, T0 + timedelta(seconds=40))]
    assert count_rows(db, "events") == 6


def test_text_a_device_sent_can_always_be_stored(db: Conn) -> None:
    batch = Batch(
        events=[event(0, zone="z\x00one", event_key="k\x00", attrs={"note": "a\x00b", "n": {"deep": "\ud800x"}})],
        quarantine=[quarantined("relic/\x00/t", b"\x00\xff", T0, RejectReason.BAD_TOPIC, "bad \udcff")],
        messages=2,
    )
    write_batch(db, batch)
    row = db.execute("SELECT zone, event_key, attrs FROM events").fetchone()
    assert row is not None
    zone, key, attrs = row
    assert (zone, key) == ("z\ufffdone", "k\ufffd")
    assert attrs == {"note": "a\ufffdb", "n": {"deep": "?x"}}
    assert db.execute("SELECT topic, payload FROM quarantine").fetchone() == ("relic/\ufffd/t", b"\x00\xff")


def test_late_readings_note_their_hours_for_the_rollup(db: Conn) -> None:
    now = datetime.now(UTC)
    old = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    batch = Batch(telemetry=[telemetry(0, base=old), telemetry(3600, base=old), telemetry(4 * 3600, base=old),
                             telemetry(0, base=now - timedelta(minutes=1))], messages=4)
    write_batch(db, batch)
    assert db.execute("SELECT frm, until FROM rollup_backlog ORDER BY frm").fetchall() == [
        (old, old + timedelta(hours=2)), (old + timedelta(hours=4), old + timedelta(hours=5))]
    write_batch(db, make_batch(3, base=now))
    assert count_rows(db, "rollup_backlog") == 2


def test_an_empty_batch_is_fine(db: Conn) -> None:
    assert write_batch(db, Batch()).readings == 0


def test_write_batch_refuses_a_connection_inside_a_transaction(db: Conn) -> None:
    with db.transaction(), pytest.raises(psycopg.ProgrammingError):
        write_batch(db, make_batch(1))


def test_pure_helpers() -> None:
    assert clean_text("plain") == "plain"
    assert clean_text("文物\x00") == "文物\ufffd"
    assert json.loads(attrs_json({"a": "\x00"})) == {"a": "\ufffd"}
    assert attrs_json({}) == "{}"
    s = StatusChange(site="s", device="d", source=Source.ENV, online=False,
                     ts=datetime(1970, 1, 1, 0, 0, 1, 500, tzinfo=UTC))
    assert status_event_key(s) == "status:offline:1000"
    h = datetime(2026, 1, 1, tzinfo=UTC)
    hours = {h, h + timedelta(hours=1), h + timedelta(hours=3)}
    assert hour_runs(hours) == [(h, h + timedelta(hours=2)), (h + timedelta(hours=3), h + timedelta(hours=4))]
