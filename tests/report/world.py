"""A generated year (2025) with known counts, written into a real PostgreSQL through the store's own
writers where there is one (registry sync, the alert journal's `write`, the audit trail), and by
plain INSERT/COPY for what the daemon's jobs would have written (rounds, inspections, hazards).

Two districts: 历下区 holds everything the report counts; 章丘区 holds one of each kind of record,
so a figure of 历下区 that leaked another district's rows would be off. Every expected figure is
written down next to the data it comes from (the `EXPECTED_*` constants), so the tests compare
against numbers a person can check by hand, not against a second computation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from alerts.model import (
    Alert,
    AlertKey,
    AlertStatus,
    Category,
    Classification,
    Severity,
    alert_id,
)
from relic_guard import audit
from relic_guard.alerting.records import AlertSnapshot, DeliveryRecord, JournalItem, TimelineEntry
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME
from relic_guard.registry import Device, Registry, Site
from relic_guard.store import alerts as alert_store
from relic_guard.store.registry_sync import sync_registry
from relic_guard.store.schema import migrate
from sensors.model import Source

Conn = psycopg.Connection[Any]

YEAR: Final = 2025
NOW: Final = datetime(2026, 1, 5, 10, 0, tzinfo=CHINA_STANDARD_TIME)  # when the report is made
AUDIT_KEY: Final = bytes(range(32))
LIXIA: Final = "历下区"
ZHANGQIU: Final = "章丘区"


def cst(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, year: int = YEAR) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=CHINA_STANDARD_TIME)


SITES: Final = (
    Site(id="fuxue", name="济南府学文庙", district=LIXIA, level="全国重点文物保护单位", kind="古建筑",
         custodians=("王建国", "李秀兰")),
    Site(id="museum", name="历下博物馆", district=LIXIA, level="博物馆", kind="博物馆", custodians=("赵敏",)),
    Site(id="jiefangge", name="解放阁", district=LIXIA, level="省级文物保护单位", kind="近现代重要史迹"),
    Site(id="chengziya", name="城子崖遗址", district=ZHANGQIU, level="全国重点文物保护单位", kind="古遗址",
         custodians=("刘海燕",)),
)
DEVICES: Final = (
    # hourly readings all year but for a 49 h silence: 47 h offline (heartbeat 2 h)
    Device(site="fuxue", id="panel-1", source=Source.FIRE, kind="fire_alarm_panel", heartbeat_s=7200),
    # online all year but for an offline status from 06-01 08:00 to 10:00: 2 h offline
    Device(site="fuxue", id="smoke-1", source=Source.FIRE, kind="smoke_detector"),
    # first heard on 07-01: observed 184 days, never offline
    Device(site="fuxue", id="cam-1", source=Source.VIDEO, kind="ipc"),
    # never heard: one that should report (a heartbeat), one that speaks only when it has something to say
    Device(site="museum", id="env-1", source=Source.ENV, kind="temp_humidity"),
    Device(site="museum", id="door-1", source=Source.SECURITY, kind="intrusion_panel", heartbeat_s=600),
    Device(site="chengziya", id="smoke-9", source=Source.FIRE, kind="smoke_detector", heartbeat_s=600),
)

DAY_S: Final = 86400.0
EXPECTED_OBSERVED_S: Final = (365 + 365 + 184) * DAY_S
EXPECTED_OFFLINE_S: Final = 47 * 3600.0 + 2 * 3600.0
EXPECTED_ONLINE_RATE: Final = 1 - EXPECTED_OFFLINE_S / EXPECTED_OBSERVED_S
# panel-1: 24 a day, less the 48 hourly readings of 03-10 and 03-11 (the silence ends 03-12 00:00)
EXPECTED_PANEL_READINGS: Final = 365 * 24 - 48
# smoke-1: online, offline, online; cam-1: online
EXPECTED_RECORDS: Final = EXPECTED_PANEL_READINGS + 3 + 1


def _registry() -> Registry:
    registry = Registry()
    for site in SITES:
        registry.add_site(site)
    for device in DEVICES:
        registry.add_device(device)
    return registry


# --- alerts ---------------------------------------------------------------------------------


def _alert(site: str, device: str, rule: str, category: Category, severity: Severity, title: str,
           opened_at: datetime, *, ack_after_s: float | None = None, close_after_s: float | None = None,
           closed_by: str = "user:zhang", classification: Classification | None = None,
           drill: bool = False) -> Alert:
    key = AlertKey(site=site, device=device, rule=rule)
    status = AlertStatus.OPEN
    acknowledged_at = None if ack_after_s is None else opened_at + timedelta(seconds=ack_after_s)
    if acknowledged_at is not None:
        status = AlertStatus.ACKNOWLEDGED
    resolved_at = None if close_after_s is None else opened_at + timedelta(seconds=close_after_s)
    if resolved_at is not None:
        status = AlertStatus.FALSE_ALARM if classification is Classification.FALSE_ALARM else AlertStatus.RESOLVED
    return Alert(
        id=alert_id(key, opened_at), key=key, category=category, severity=severity, title=title,
        opened_at=opened_at, last_seen_at=opened_at, status=status,
        acknowledged_by="user:wang" if acknowledged_at else None, acknowledged_at=acknowledged_at,
        resolved_by=closed_by if resolved_at else None, resolved_at=resolved_at, classification=classification,
        drill=drill, note="现场处置完毕" if resolved_at else None,
    )


A1: Final = _alert("fuxue", "smoke-1", "fire.alarm", Category.FIRE, Severity.CRITICAL, "火警：济南府学文庙 大成殿",
                   cst(2, 3, 10), ack_after_s=120, close_after_s=3600, classification=Classification.FIRE)
A2: Final = _alert("museum", "door-1", "security.intrusion", Category.SECURITY, Severity.CRITICAL,
                   "入侵报警：历下博物馆 库房", cst(4, 5, 2), ack_after_s=300, close_after_s=1800, closed_by="user:li",
                   classification=Classification.FALSE_ALARM)
A3: Final = _alert("fuxue", "smoke-1", "fire.fault", Category.FIRE, Severity.MAJOR, "火灾探测器故障", cst(4, 20, 9),
                   ack_after_s=60, close_after_s=600, classification=Classification.DEVICE_FAULT)
A4: Final = _alert("fuxue", "panel-1", "device.offline", Category.DEVICE, Severity.MAJOR, "设备离线：火灾报警控制器",
                   cst(3, 10, 2), close_after_s=169200, closed_by="relic-guard",
                   classification=Classification.DEVICE_FAULT)
A5: Final = _alert("fuxue", "cam-1", "video.motion", Category.VIDEO, Severity.WARNING, "夜间移动侦测", cst(8, 8, 20))
A6: Final = _alert("museum", "door-1", "security.panic", Category.SECURITY, Severity.CRITICAL, "紧急按钮（演练）",
                   cst(9, 9, 9), close_after_s=600, closed_by="user:li", drill=True)
A7: Final = _alert("museum", "door-1", "security.intrusion", Category.SECURITY, Severity.MAJOR,
                   "入侵报警：历下博物馆 展厅", cst(11, 11, 23), ack_after_s=900, close_after_s=7200, closed_by="user:li",
                   classification=Classification.THEFT)
A8: Final = _alert("chengziya", "smoke-9", "fire.alarm", Category.FIRE, Severity.CRITICAL, "火警：城子崖遗址",
                   cst(5, 5, 5), ack_after_s=30, close_after_s=300, classification=Classification.FIRE)
A9: Final = _alert("fuxue", "cam-1", "video.motion", Category.VIDEO, Severity.WARNING, "跨年前的移动侦测",
                   cst(12, 31, 23, 59, year=2024))
ALERTS: Final = (A1, A2, A3, A4, A5, A6, A7, A8, A9)
EXPECTED_ALERTS: Final = 6  # A1–A5, A7 (A6 is a drill; A8 another district; A9 the year before)
EXPECTED_ACK_S: Final = (60.0, 120.0, 300.0, 900.0)
EXPECTED_CLOSE_S: Final = (600.0, 1800.0, 3600.0, 7200.0)  # A4 closed itself: not a response
EXPECTED_INCIDENTS: Final = (A1.id, A2.id, A7.id)  # critical A1, A2; cases A1 (fire), A7 (theft)


def _history(alert: Alert) -> list[JournalItem]:
    """What the alert journal would have written for the alert: snapshots, timeline, a delivery."""
    opened = msgspec.structs.replace(alert, status=AlertStatus.OPEN, acknowledged_at=None, acknowledged_by=None,
                                     resolved_at=None, resolved_by=None, classification=None, note=None)
    items: list[JournalItem] = [
        AlertSnapshot(opened),
        TimelineEntry(alert.id, alert.opened_at, "opened", detail={"title": alert.title}),
        DeliveryRecord(delivery_id=f"d-{alert.id}", alert_id=alert.id, event="alert.opened", recipient="center",
                       channel="webhook", target="https://center.example/hook", fallback=False, delivered=True,
                       attempts=1, status="200", gave_up=None, started_at=alert.opened_at,
                       finished_at=alert.opened_at + timedelta(seconds=1)),
    ]
    if alert.acknowledged_at is not None:
        items.append(TimelineEntry(alert.id, alert.acknowledged_at, "acknowledged", actor="user:wang"))
    if alert.resolved_at is not None and alert.resolved_by is not None:
        kind = "false_alarm" if alert.status is AlertStatus.FALSE_ALARM else "resolved"
        items.append(TimelineEntry(alert.id, alert.resolved_at, kind, actor=alert.resolved_by,
                                   detail={"classification": alert.classification, "note": alert.note}))
    items.append(AlertSnapshot(alert))
    return items


# --- the rest of the year ---------------------------------------------------------------------

ROUTE_CUSTODIANS: Final = {"R1": ("王建国",)}  # R2 falls back to fuxue's custodians, R3 to museum's
# (route, site, status, rounds); every round's window starts in 2025 and has ended
ROUNDS: Final = (
    ("R1", "fuxue", "complete", 10), ("R1", "fuxue", "late", 2), ("R1", "fuxue", "partial", 1),
    ("R1", "fuxue", "missed", 1), ("R1", "fuxue", "withdrawn", 3),
    ("R2", "fuxue", "complete", 4), ("R2", "fuxue", "missed", 1),
    ("R3", "museum", "complete", 5), ("R3", "museum", "pending", 1),
    ("R9", "chengziya", "missed", 7),
)
EXPECTED_PATROL_DUE: Final = 25
EXPECTED_PATROL_DONE: Final = 21


def _rounds(conn: Conn) -> None:
    rows = []
    number = 0
    for route, site, status, count in ROUNDS:
        for _ in range(count):
            number += 1
            start = cst(1, 1, 8) + timedelta(days=number)
            rows.append((f"{route}/{number}", route, site, "daily", start, start + timedelta(hours=2), status,
                         status != "pending", f"路线{route}"))
    # outside the year: a round of 2024 and one whose window ends in 2026
    rows.append(("R1/old", "R1", "fuxue", "daily", cst(12, 30, 8, year=2024), cst(12, 30, 10, year=2024), "missed",
                 True, "路线R1"))
    rows.append(("R1/new", "R1", "fuxue", "daily", cst(12, 31, 23), cst(1, 1, 1, year=2026), "missed", True,
                 "路线R1"))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO patrol_rounds (id, route_id, site_id, kind, window_start, window_end, status, "
                        "final, route_name) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)


def _draw_and_inspections(conn: Conn) -> None:
    result = {"assignments": [
        {"target": "fuxue", "target_name": "济南府学文庙", "district": LIXIA, "mandatory": True,
         "inspectors": [{"id": "i1", "name": "张三", "unit": "市消防"}, {"id": "i2", "name": "李四", "unit": "市文物局"}]},
        {"target": "chengziya", "target_name": "城子崖遗址", "district": ZHANGQIU, "mandatory": False,
         "inspectors": [{"id": "i3", "name": "王五", "unit": "市消防"}]},
    ], "skipped": [], "over_count": 0, "short_by": 0}
    draw = conn.execute(
        "INSERT INTO draws (period, period_start, period_end, seed, count, per_target, algorithm, fingerprint, input, "
        "result, drawn_at, drawn_by) VALUES ('2025-H1', '2025-01-01', '2025-06-30', '种子-2025', 2, 2, "
        "'relic-guard draw v1', %s, '{}', %s, %s, 'user:chief') RETURNING id",
        ("ab" * 32, Jsonb(result), cst(1, 2, 9)),
    ).fetchone()
    assert draw is not None
    rows = [
        ("2025/district_supervision/历下区", "district_supervision", LIXIA, None, LIXIA, None, "2025-11-30", "done",
         "2025-11-20", "good", [{"title": "消防通道堵塞", "severity": "general"}], None),
        ("2025/site_evaluation/fuxue", "site_evaluation", LIXIA, "fuxue", "济南府学文庙", None, "2025-09-30", "done",
         "2025-09-01", "fair", [], None),
        ("2025/site_evaluation/museum", "site_evaluation", LIXIA, "museum", "历下博物馆", None, "2025-09-30",
         "planned", None, None, [], None),
        ("2025/site_evaluation/jiefangge", "site_evaluation", LIXIA, "jiefangge", "解放阁", None, "2025-09-30",
         "cancelled", None, None, [], "修缮闭馆"),
        (f"draw/{draw[0]}/fuxue", "fire_random", LIXIA, "fuxue", "济南府学文庙", draw[0], "2025-06-30", "done",
         "2025-03-03", "poor", [{"title": "灭火器过期", "severity": "general"}, {"title": "电线私拉", "severity": "major"}],
         None),
        ("2025/site_evaluation/chengziya", "site_evaluation", ZHANGQIU, "chengziya", "城子崖遗址", None, "2025-09-30",
         "planned", None, None, [], None),
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO inspections (id, kind, year, district, site_id, target_name, draw_id, due_on, status, "
            "done_on, rating, findings, cancel_reason, summary, updated_at, updated_by) "
            "VALUES (%s, %s, 2025, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '', %s, 'test')",
            [(i, kind, district, site, name, draw_id, due, status, done, rating, Jsonb(findings), reason,
              cst(12, 1)) for i, kind, district, site, name, draw_id, due, status, done, rating, findings, reason
             in rows])


# (site, title, severity, source, found, deadline, status, closed)
HAZARDS: Final = (
    ("fuxue", "大成殿电线老化", "major", "patrol", cst(3, 1, 9), "2025-03-15", "closed", cst(3, 10, 15)),
    ("fuxue", "灭火器过期", "general", "inspection", cst(5, 1, 9), "2025-05-20", "closed", cst(6, 1, 15)),
    ("museum", "库房门锁损坏", "general", "report", cst(10, 1, 9), "2025-10-20", "open", None),
    ("museum", "监控死角", "general", "alert", cst(12, 28, 9), "2026-01-10", "rectifying", None),
    ("jiefangge", "重复上报", "general", "patrol", cst(7, 1, 9), "2025-07-15", "cancelled", cst(7, 2, 9)),
    ("fuxue", "去年的隐患", "general", "patrol", cst(11, 1, 9, year=2024), "2024-11-15", "open", None),
    ("chengziya", "盗洞", "major", "patrol", cst(6, 1, 9), "2025-06-10", "open", None),
)


def _hazards(conn: Conn) -> None:
    evidence = Jsonb([{"kind": "document", "url": "https://docs.example/x", "note": "整改报告"}])
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO hazards (site_id, source, title, description, severity, owner, found_at, deadline, status, "
            "closed_at, closed_by, evidence, updated_at) VALUES (%s, %s, %s, '', %s, '王建国', %s, %s, %s, %s, %s, %s, %s)",
            [(site, source, title, severity, found, deadline, status, closed, "user:wang" if closed else None,
              evidence if status == "closed" else Jsonb([]), found) for site, title, severity, source, found,
             deadline, status, closed in HAZARDS])


def _device_records(conn: Conn) -> None:
    silence = (cst(3, 10), cst(3, 12))
    readings = []
    moment = cst(1, 1)
    while moment < cst(1, 1, year=YEAR + 1):
        if not silence[0] <= moment < silence[1]:
            readings.append((moment, "fuxue", "panel-1", "supply_v", 24.0))
        moment += timedelta(hours=1)
    # another district and another year: must not count
    readings.append((cst(6, 1), "chengziya", "smoke-9", "obscuration_pct", 0.1))
    readings.append((cst(12, 31, 12, year=2024), "fuxue", "panel-1", "supply_v", 24.0))
    with conn.cursor() as cur, cur.copy("COPY readings (ts, site_id, device_id, metric, value) FROM STDIN") as copy:
        for row in readings:
            copy.write_row(row)

    def status(at: datetime, site: str, device: str, source: str, online: bool) -> tuple[object, ...]:
        state = "online" if online else "offline"
        return (at, site, device, source, state, f"status:{state}:{int(at.timestamp() * 1000)}")

    events = [
        status(cst(1, 1), "fuxue", "smoke-1", "fire", True),
        status(cst(6, 1, 8), "fuxue", "smoke-1", "fire", False),
        status(cst(6, 1, 10), "fuxue", "smoke-1", "fire", True),
        status(cst(7, 1), "fuxue", "cam-1", "video", True),
    ]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO events (ts, site_id, device_id, source, type, event_key) "
                        "VALUES (%s, %s, %s, %s, %s, %s)", events)


def build(url: str) -> None:
    """The whole year into the (empty) database at `url`."""
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        sync_registry(conn, _registry())
        for alert in ALERTS:
            alert_store.write(conn, _history(alert), AUDIT_KEY)
        with conn.transaction():
            _device_records(conn)
            _rounds(conn)
            _draw_and_inspections(conn)
            _hazards(conn)
            audit.append(conn, AUDIT_KEY, [audit.AuditEntry(at=cst(12, 31, 12), actor="user:chief", kind="note",
                                                            subject="fuxue", detail={"text": "与事件无关的审计记录"})])


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
