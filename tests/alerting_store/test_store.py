"""The alert store against a real PostgreSQL: snapshots, timelines, deliveries and the audit trail."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import msgspec
import psycopg
import pytest

from alerts.model import AlertStatus, Category, Evidence
from relic_guard.alerting.records import AlertSnapshot, JournalItem, TimelineEntry
from relic_guard.audit import AuditEntry, verify
from relic_guard.store import alerts as store
from relic_guard.store.schema import migrate

from .support import KEY, SHANGHAI, T0, acknowledged, alert, delivery, entry, resolved

Conn = psycopg.Connection[Any]


@pytest.fixture
def conn(pg_url: str) -> Iterator[Conn]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        migrate(c)
        yield c


def audit_kinds(conn: Conn) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute("SELECT kind, subject FROM audit_log ORDER BY seq").fetchall()]


def test_an_alert_round_trips_exactly(conn: Conn) -> None:
    a = acknowledged(alert(1, opened=T0.astimezone(SHANGHAI)))
    a = msgspec.structs.replace(a, assigned_to="张伟", confirmed=True, count=4,
                                evidence=(*a.evidence, Evidence(kind="photo", url="https://cam.example/门口.jpg")))
    store.write(conn, [AlertSnapshot(a)], KEY)
    got = store.get(conn, a.id)
    assert got == a
    assert got is not None and got.title.startswith("火警（未确认）：城子崖遗址")
    assert got.opened_at.utcoffset() == timedelta(hours=8)
    assert got.audiences == a.audiences and got.evidence == a.evidence
    assert store.load_open(conn) == [a]
    assert store.get(conn, "no-such-alert") is None
    row = conn.execute("SELECT site_id, device_id, rule, status, title, zone, count, acknowledged_by, "
                       "data->'key'->>'site' FROM alerts").fetchone()
    assert row == ("chengziya", "smoke-1", "fire.alarm", "acknowledged", a.title, "主殿", 4, "王建国", "chengziya")


def test_load_open_leaves_closed_alerts_out(conn: Conn) -> None:
    still_open, closed = alert(1), resolved(alert(2))
    store.write(conn, [AlertSnapshot(still_open), AlertSnapshot(closed)], KEY)
    assert store.load_open(conn) == [still_open]
    assert store.get(conn, closed.id) == closed


def test_the_last_snapshot_in_a_batch_wins(conn: Conn) -> None:
    a = alert(1)
    later = msgspec.structs.replace(a, count=2, last_seen_at=a.last_seen_at + timedelta(minutes=1))
    store.write(conn, [AlertSnapshot(a), AlertSnapshot(later), AlertSnapshot(msgspec.structs.replace(later, assigned_to="张伟"))], KEY)
    assert store.get(conn, a.id) == msgspec.structs.replace(later, assigned_to="张伟")


def test_an_older_snapshot_does_not_overwrite_a_newer_one(conn: Conn) -> None:
    a = alert(1)
    newer = msgspec.structs.replace(a, count=3)
    store.write(conn, [AlertSnapshot(newer)], KEY)
    store.write(conn, [AlertSnapshot(a)], KEY)  # count 1 < 3
    assert store.get(conn, a.id) == newer

    closed = resolved(newer)
    store.write(conn, [AlertSnapshot(closed)], KEY)
    store.write(conn, [AlertSnapshot(acknowledged(newer))], KEY)  # acknowledged is behind resolved
    assert store.get(conn, a.id) == closed
    assert store.load_open(conn) == []


def test_a_snapshot_level_with_the_stored_one_replaces_it(conn: Conn) -> None:
    # Same stage and count (an assignment): the later write is the newer state, even if the
    # engine's clock stepped back in between.
    a = alert(1)
    store.write(conn, [AlertSnapshot(a)], KEY)
    assigned = msgspec.structs.replace(a, assigned_to="张伟", last_seen_at=a.last_seen_at - timedelta(seconds=5))
    store.write(conn, [AlertSnapshot(assigned)], KEY)
    assert store.get(conn, a.id) == assigned


def test_timeline_is_in_time_order_then_write_order(conn: Conn) -> None:
    a = alert(1)
    items = [entry(a, "opened", 0), entry(a, "acknowledged", 60, by="王建国"), entry(a, "repeat", 30),
             entry(a, "assigned", 60, to="张伟"), entry(alert(2), "opened", 10)]
    store.write(conn, [AlertSnapshot(a), *items], KEY)
    got = store.timeline(conn, a.id)
    assert [(e.kind, e.at - a.opened_at) for e in got] == [
        ("opened", timedelta(0)), ("repeat", timedelta(seconds=30)), ("acknowledged", timedelta(seconds=60)),
        ("assigned", timedelta(seconds=60))]
    assert got[2].detail == {"by": "王建国"}
    assert got[0].detail == {"site": "chengziya", "zone": "主殿"}
    assert got[0] == items[0]


def test_timeline_detail_is_stored_as_json_values(conn: Conn) -> None:
    a = alert(1)
    e = TimelineEntry(alert_id=a.id, at=T0, kind="severity",
                      detail={"from": a.severity, "when": T0, "devices": ("smoke-1", "smoke-2"), "nested": {"n": 1}})
    store.write(conn, [e], KEY)
    [got] = store.timeline(conn, a.id)
    assert got.detail == {"from": "critical", "when": "2026-11-27T02:00:00Z", "devices": ["smoke-1", "smoke-2"],
                          "nested": {"n": 1}}
    audit_detail = conn.execute("SELECT detail FROM audit_log WHERE kind = 'alert.severity'").fetchone()
    assert audit_detail == (got.detail,)


def test_a_delivery_record_written_twice_is_stored_once(conn: Conn) -> None:
    a = alert(1)
    d = delivery(a)
    store.write(conn, [d], KEY)
    store.write(conn, [d, d], KEY)
    assert store.deliveries_of(conn, a.id) == [d]
    # A fallback attempt under the same id over another channel is a record of its own.
    other = dataclasses.replace(delivery(a, channel="email", fallback=True), delivery_id=d.delivery_id)
    store.write(conn, [other], KEY)
    assert [x.channel for x in store.deliveries_of(conn, a.id)] == ["webhook", "email"]


def test_a_batch_written_again_under_its_id_is_skipped(conn: Conn) -> None:
    a = alert(1)
    batch: list[JournalItem] = [AlertSnapshot(a), entry(a, "opened"), delivery(a)]
    assert store.write(conn, batch, KEY, batch_id="b-1") is True
    assert store.write(conn, batch, KEY, batch_id="b-1") is False
    assert len(store.timeline(conn, a.id)) == 1
    assert [k for k, _ in audit_kinds(conn)] == ["alert.opened", "delivery.delivered"]
    assert store.write(conn, batch, KEY, batch_id="b-2") is True
    assert len(store.timeline(conn, a.id)) == 2


def test_audit_entries_are_derived_in_batch_order_and_the_chain_verifies(conn: Conn) -> None:
    a, b = alert(1), alert(2, site="longshan")
    config = AuditEntry(at=T0, actor="system", kind="config.loaded", subject="/etc/relic-guard/relic-guard.toml",
                        detail={"sites": 2})
    store.write(conn, [config, AlertSnapshot(a), entry(a, "opened"), delivery(a),
                       delivery(a, 1, delivered=False, recipient="police", channel="apprise")], KEY)
    store.write(conn, [AlertSnapshot(acknowledged(a)), TimelineEntry(a.id, T0 + timedelta(minutes=2), "acknowledged",
                                                                     actor="王建国"),
                       AlertSnapshot(b), entry(b, "opened")], KEY)
    assert audit_kinds(conn) == [
        ("config.loaded", "/etc/relic-guard/relic-guard.toml"),
        ("alert.opened", a.id),
        ("delivery.delivered", a.id),
        ("delivery.failed", a.id),
        ("alert.acknowledged", a.id),
        ("alert.opened", b.id),
    ]
    failed = conn.execute("SELECT actor, at, detail FROM audit_log WHERE kind = 'delivery.failed'").fetchone()
    assert failed is not None
    actor, at, detail = failed
    d = delivery(a, 1, delivered=False, recipient="police", channel="apprise")
    assert actor == "relic-guard" and at == d.finished_at
    assert detail == {"recipient": "police", "channel": "apprise", "event": "alert.opened", "target": d.target,
                      "fallback": False, "attempts": 3, "status": "503", "gave_up": "retries exhausted",
                      "delivery_id": d.delivery_id}
    assert conn.execute("SELECT actor FROM audit_log WHERE kind = 'alert.acknowledged'").fetchone() == ("王建国",)
    report = verify(conn, KEY)
    assert report.intact, report.problems
    assert report.checked == 6


def test_nothing_is_committed_when_part_of_a_batch_is_refused(conn: Conn) -> None:
    a = alert(1)
    too_many = dataclasses.replace(delivery(a), attempts=2**40)  # past the integer column
    with pytest.raises(psycopg.errors.NumericValueOutOfRange):
        store.write(conn, [AlertSnapshot(a), entry(a, "opened"), too_many], KEY)
    assert store.get(conn, a.id) is None and store.timeline(conn, a.id) == []
    assert verify(conn, KEY).checked == 0


def test_text_the_database_cannot_hold_is_replaced_not_refused(conn: Conn) -> None:
    a = alert(1, title="火警\x00主殿", note="bad \udc80 byte")
    store.write(conn, [AlertSnapshot(a), entry(a, "opened", note="nul \x00 here")], KEY)
    got = store.get(conn, a.id)
    assert got is not None and got.title == "火警\ufffd主殿" and got.note == "bad ? byte"
    assert store.timeline(conn, a.id)[0].detail == {"note": "nul \ufffd here"}
    assert verify(conn, KEY).intact


def test_list_alerts_filters_and_scope(conn: Conn) -> None:
    fire_a = alert(1, site="chengziya")
    fire_b = resolved(alert(2, site="longshan"))
    intrusion = alert(3, site="chengziya", category=Category.SECURITY)
    offline = acknowledged(alert(4, site="dongping", category=Category.DEVICE))
    store.write(conn, [AlertSnapshot(x) for x in (fire_a, fire_b, intrusion, offline)], KEY)

    def ids(**kw: Any) -> list[str]:
        return [x.id for x in store.list_alerts(conn, **({"limit": 100} | kw))]

    assert ids() == [offline.id, intrusion.id, fire_b.id, fire_a.id]  # newest first
    assert ids(status=["open", "acknowledged"]) == [offline.id, intrusion.id, fire_a.id]
    assert ids(status=[AlertStatus.RESOLVED]) == [fire_b.id]
    assert ids(sites={"chengziya", "longshan"}) == [intrusion.id, fire_b.id, fire_a.id]
    assert ids(sites=set()) == []
    assert ids(sites={"chengziya"}, site="longshan") == []  # a site outside the scope stays hidden
    assert ids(site="chengziya") == [intrusion.id, fire_a.id]
    assert ids(category="fire") == [fire_b.id, fire_a.id]
    assert ids(since=T0 + timedelta(minutes=2)) == [offline.id, intrusion.id, fire_b.id]
    assert ids(limit=2) == [offline.id, intrusion.id]
    assert store.list_alerts(conn, sites=None, status=None, site=None, category=None, since=None,
                             limit=1) == [offline]


def test_undelivered_notifications(conn: Conn) -> None:
    a, b = alert(1), alert(2)
    rescued = delivery(a, recipient="custodian-1", channel="webpush", delivered=False)
    rescue = delivery(a, recipient="custodian-1", channel="sms", fallback=True, seconds=5)
    lost_primary = delivery(a, recipient="police", channel="apprise", delivered=False)
    both_failed = delivery(b, recipient="bureau", channel="email", delivered=False)
    fallback_failed = delivery(b, recipient="bureau", channel="sms", fallback=True, delivered=False, seconds=5)
    sibling_failed = delivery(b, recipient="desk", channel="email", delivered=False)
    sibling_ok = delivery(b, recipient="desk", channel="webhook")
    store.write(conn, [rescued, rescue, lost_primary, both_failed, fallback_failed, sibling_failed, sibling_ok], KEY)
    assert store.undelivered(conn, None, 100) == [fallback_failed, lost_primary]
    assert store.undelivered(conn, fallback_failed.finished_at, 100) == [fallback_failed]
    assert store.undelivered(conn, None, 1) == [fallback_failed]
    assert store.deliveries_of(conn, b.id) == [both_failed, sibling_failed, sibling_ok, fallback_failed]
