"""How long the annual report of one district-year takes, against one COUNT over the same raw readings.

    python bench/report.py [--url postgresql://…] [--readings 50000000] [--sites 40] [--year 2025]

Without --url (or RELIC_GUARD_DATABASE_URL) a private PostgreSQL is started in a temporary folder.
The bench generates a year of one district (历下区, `--sites` sites, each with a fire panel, smoke
detectors, environment sensors, cameras, an intrusion panel and a drone dock) plus a small second
district, and writes it as the daemon would have:
  readings    `--readings` rows by COPY (preformatted text), day by day into daily partitions, every
              telemetry device reporting two metrics at its own phase, with a few silences a year;
  events      status changes around some of the silences, video motion events;
  alerts      with their timelines, deliveries and hash-chained audit entries (the alert store's writer);
  the rest    patrol rounds (COPY), inspections, a 双随机 draw, hazards, drone flights.
Generating is not what is measured (it takes minutes at 50M readings; progress is printed). Then:
  rollup      the daily device rollup of the year (`device_days`): in production the maintenance
              job does this one day at a time, as each day ends;
  COUNT       `SELECT count(*) FROM readings` over the year: the baseline, the least any report
              reading raw readings would pay;
  report      `make_reports` for the district: queries, figures, charts, HTML, PDF, CSV, XLSX,
              twice (the first run pays Python's imports and font loading once per process).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.model import Alert, AlertKey, AlertStatus, Category, Classification, Severity, alert_id
from relic_guard.alerting.records import AlertSnapshot, DeliveryRecord, JournalItem, TimelineEntry
from relic_guard.embedded import EmbeddedPostgres
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME
from relic_guard.registry import Device, Registry, Site
from relic_guard.report.make import make_reports
from relic_guard.report.rollups import roll_days
from relic_guard.store import alerts as alert_store
from relic_guard.store.partitions import partition_name
from relic_guard.store.registry_sync import sync_registry
from relic_guard.store.schema import migrate, store_mode
from sensors.model import Source

DISTRICT = "历下区"
OTHER = "章丘区"
AUDIT_KEY = bytes(range(32))
METRICS = ("temperature_c", "humidity_pct")
NAMES = ("府学文庙", "解放阁", "趵突泉古建筑群", "大明湖历下亭", "千佛山兴国禅寺", "曾堤", "开元寺遗址", "老舍故居",
         "督城隍庙", "山东省图书馆旧址", "济南府城墙遗址", "万竹园", "王府池子", "芙蓉街民居", "舜井", "文庙戏楼")


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    base = Path(tempfile.mkdtemp(prefix="relic-guard-bench-"))
    os.chmod(base, 0o755)
    server = EmbeddedPostgres(base_dir=base)
    server.start()
    try:
        yield server.create_database("bench")
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CHINA_STANDARD_TIME)


def registry(sites: int) -> tuple[Registry, list[tuple[str, str, int]]]:
    """The two districts' registry and the telemetry devices: (site, device, heartbeat_s)."""
    reg = Registry()
    telemetry: list[tuple[str, str, int]] = []
    levels = ("全国重点文物保护单位", "省级文物保护单位", "市县级文物保护单位", "一般不可移动文物")
    kinds = ("古建筑", "古遗址", "近现代重要史迹", "石窟寺及石刻")
    for number in range(sites + 2):
        district = DISTRICT if number < sites else OTHER
        site_id = f"site-{number:03d}"
        reg.add_site(Site(id=site_id, name=f"{NAMES[number % len(NAMES)]}（{number + 1}号）", district=district,
                          level=levels[number % len(levels)], kind=kinds[number % len(kinds)],
                          custodians=(f"保护员{number * 2 + 1}", f"保护员{number * 2 + 2}")))
        devices = [Device(site=site_id, id="fire-panel", source=Source.FIRE, kind="fire_alarm_panel", heartbeat_s=300)]
        devices += [Device(site=site_id, id=f"smoke-{i}", source=Source.FIRE, kind="smoke_detector") for i in range(4)]
        devices += [Device(site=site_id, id=f"env-{i}", source=Source.ENV, kind="temp_humidity", heartbeat_s=1800)
                    for i in range(6)]
        devices += [Device(site=site_id, id=f"cam-{i}", source=Source.VIDEO, kind="ipc") for i in range(2)]
        devices += [Device(site=site_id, id="intrusion", source=Source.SECURITY, kind="intrusion_panel",
                           heartbeat_s=600),
                    Device(site=site_id, id="dock", source=Source.DRONE, kind="dji_dock_2")]
        for device in devices:
            reg.add_device(device)
            if device.heartbeat_s is not None:
                telemetry.append((site_id, device.id, device.heartbeat_s))
    return reg, telemetry


def create_partitions(conn: psycopg.Connection[Any], first: date, last: date) -> None:
    """Daily partitions of readings and events for [first, last] (UTC days), as the maintenance job makes."""
    day = first
    while day <= last:
        for table in ("readings", "events"):
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(partition_name(table, day)), sql.Identifier(table), sql.Literal(start),
                sql.Literal(start + timedelta(days=1))))
        day += timedelta(days=1)


def write_readings(conn: psycopg.Connection[Any], telemetry: list[tuple[str, str, int]], start: datetime,
                   end: datetime, target: int, rng: random.Random) -> tuple[int, list[tuple[str, str, datetime,
                                                                                             datetime]]]:
    """COPY about `target` readings over [start, end); returns the count and the silences made."""
    span_s = int((end - start).total_seconds())
    interval = max(1, int(span_s * len(telemetry) * len(METRICS) / target))
    silences: dict[tuple[str, str], list[tuple[int, int]]] = {}
    listed: list[tuple[str, str, datetime, datetime]] = []
    for site, device, _ in telemetry:
        spans = []
        for _ in range(rng.randrange(0, 4)):
            begin = rng.randrange(0, span_s - 86400)
            length = rng.choice((1800, 7200, 6 * 3600, 30 * 3600))
            spans.append((begin, begin + length))
            listed.append((site, device, start + timedelta(seconds=begin), start + timedelta(seconds=begin + length)))
        silences[(site, device)] = spans
    phases = {(site, device): rng.randrange(interval) for site, device, _ in telemetry}
    written = 0
    day_start = start.astimezone(UTC)  # partitions and the text timestamps below are UTC
    end = end.astimezone(UTC)
    begun = time.perf_counter()
    while day_start < end:
        day_end = min(end, datetime(day_start.year, day_start.month, day_start.day, tzinfo=UTC) + timedelta(days=1))
        lo, hi = int((day_start - start).total_seconds()), int((day_end - start).total_seconds())
        # the slots of the day: from `lo` on, at the device's phase, every `interval` seconds
        base = datetime(day_start.year, day_start.month, day_start.day, tzinfo=UTC)
        prefix = f"{base:%Y-%m-%d} "
        offset = int((base - start).total_seconds())
        chunks: list[str] = []
        # In unique-key order, as the writer sorts its batches: the index fills leaf after leaf.
        for site, device, _ in sorted(telemetry):
            phase = phases[(site, device)]
            first = lo + (phase - lo) % interval
            quiet = silences[(site, device)]
            for metric in METRICS:
                lines = []
                for t in range(first, hi, interval):
                    if quiet and any(a <= t < b for a, b in quiet):
                        continue
                    s = t - offset
                    lines.append(f"{prefix}{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}+00\t{site}\t{device}\t"
                                 f"{metric}\t{20 + t % 97 / 10}\n")
                chunks.append("".join(lines))
                written += len(lines)
        with conn.cursor() as cur, cur.copy("COPY readings (ts, site_id, device_id, metric, value) FROM STDIN") as copy:
            copy.write("".join(chunks).encode())
        day_start = day_end
        if base.day == 1 or day_end >= end:
            rate = written / max(1e-9, time.perf_counter() - begun)
            print(f"  readings: {base:%Y-%m-%d} written, {written:,} rows ({rate:,.0f} rows/s)", flush=True)
    return written, listed


def write_events(conn: psycopg.Connection[Any], silences: list[tuple[str, str, datetime, datetime]],
                 sites: list[str], start: datetime, end: datetime, rng: random.Random) -> int:
    """Status changes at a third of the silences (a device saying it goes offline, then back), and
    video motion events at random."""
    rows: list[tuple[object, ...]] = []
    for site, device, begin, finish in silences[::3]:
        for at, state in ((begin, "offline"), (finish, "online")):
            rows.append((at, site, device, "env", state, f"status:{state}:{int(at.timestamp() * 1000)}"))
    span_s = int((end - start).total_seconds())
    for number in range(len(sites) * 300):
        at = start + timedelta(seconds=rng.randrange(span_s))
        rows.append((at, rng.choice(sites), f"cam-{number % 2}", "video", "motion", f"motion-{number}"))
    with conn.cursor() as cur, cur.copy("COPY events (ts, site_id, device_id, source, type, event_key) FROM STDIN") \
            as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


# A district's year as the field sees it: mostly devices going offline and cameras seeing motion,
# a few dozen critical alarms, a handful of them real cases.
ALERT_KINDS = (  # (category, severity, rule, device, title, share of alerts)
    (Category.FIRE, Severity.CRITICAL, "fire.alarm", "smoke-0", "火警", 0.005),
    (Category.FIRE, Severity.MAJOR, "fire.fault", "fire-panel", "火灾报警控制器故障", 0.12),
    (Category.SECURITY, Severity.CRITICAL, "security.intrusion", "intrusion", "入侵报警", 0.005),
    (Category.SECURITY, Severity.MAJOR, "security.vibration", "intrusion", "振动报警", 0.05),
    (Category.DEVICE, Severity.MAJOR, "device.offline", "env-0", "设备离线", 0.40),
    (Category.VIDEO, Severity.WARNING, "video.motion", "cam-0", "夜间移动侦测", 0.32),
    (Category.ENVIRONMENT, Severity.MINOR, "threshold.humidity", "env-1", "湿度超限", 0.10),
)


def write_alerts(conn: psycopg.Connection[Any], sites: list[str], start: datetime, count: int,
                 rng: random.Random) -> int:
    items: list[JournalItem] = []
    span_s = 360 * 86400
    written = 0
    weights = [kind[-1] for kind in ALERT_KINDS]
    for number in range(count):
        category, severity, rule, device, title, _ = rng.choices(ALERT_KINDS, weights)[0]
        opened = start + timedelta(seconds=rng.randrange(span_s))
        key = AlertKey(site=rng.choice(sites), device=device, rule=f"{rule}.{number}")
        acked = opened + timedelta(seconds=rng.randrange(30, 1800)) if category is not Category.DEVICE else None
        closed = opened + timedelta(seconds=rng.randrange(600, 86400))
        classification = Classification.DEVICE_FAULT if category is Category.DEVICE else rng.choices(
            (Classification.FALSE_ALARM, Classification.DEVICE_FAULT, Classification.FIRE, Classification.THEFT,
             Classification.LOOTING, Classification.OTHER_ACCIDENT), (60, 35, 0.1, 0.1, 0.1, 0.2))[0]
        status = AlertStatus.FALSE_ALARM if classification is Classification.FALSE_ALARM else AlertStatus.RESOLVED
        by = "relic-guard" if category is Category.DEVICE else "user:值班员"
        alert = Alert(id=alert_id(key, opened), key=key, category=category, severity=severity, title=f"{title}",
                      opened_at=opened, last_seen_at=opened, status=status, acknowledged_at=acked,
                      acknowledged_by="user:值班员" if acked else None, resolved_at=closed, resolved_by=by,
                      classification=classification, note="已处置")
        items += [AlertSnapshot(alert), TimelineEntry(alert.id, opened, "opened", detail={"title": title}),
                  DeliveryRecord(delivery_id=f"d{number}", alert_id=alert.id, event="alert.opened",
                                 recipient="center", channel="webhook", target="https://center.example/hook",
                                 fallback=False, delivered=True, attempts=1, status="200", gave_up=None,
                                 started_at=opened, finished_at=opened + timedelta(seconds=1))]
        if acked is not None:
            items.append(TimelineEntry(alert.id, acked, "acknowledged", actor="user:值班员"))
        items.append(TimelineEntry(alert.id, closed, status.value if status is AlertStatus.FALSE_ALARM else "resolved",
                                   actor=by, detail={"classification": classification.value}))
        if len(items) > 2000 or number == count - 1:
            alert_store.write(conn, items, AUDIT_KEY)
            items = []
        written += 1
    return written


def write_rest(conn: psycopg.Connection[Any], reg: Registry, year: int, rng: random.Random) -> str:
    sites = [s for s in reg.sites.values() if s.district == DISTRICT]
    rounds: list[tuple[object, ...]] = []
    statuses = ("complete",) * 85 + ("late",) * 6 + ("partial",) * 3 + ("missed",) * 5 + ("withdrawn",)
    day = date(year, 1, 1)
    while day.year == year:
        for site in sites:
            for route, hours in (("day", (9, 11, 13, 15)), ("night", (22,))):
                for hour in hours:
                    begin = local(day.year, day.month, day.day, hour)
                    rounds.append((f"{site.id}/{route}/{begin:%Y%m%d%H}", f"{site.id}-{route}", site.id, "daily", begin,
                                   begin + timedelta(hours=1), rng.choice(statuses), True, f"{route} 路线"))
        day += timedelta(days=1)
    with conn.cursor() as cur, cur.copy("COPY patrol_rounds (id, route_id, site_id, kind, window_start, window_end, "
                                        "status, final, route_name) FROM STDIN") as copy:
        for row in rounds:
            copy.write_row(row)
    evidence = Jsonb([{"kind": "document", "url": "https://docs.example/report", "note": "整改报告"}])
    hazards = []
    for number in range(len(sites) * 8):
        found = local(year, 1, 1) + timedelta(hours=rng.randrange(360 * 24))
        days = rng.choice((10, 20, 30))
        deadline = (found + timedelta(days=days)).date()
        state = rng.choices(("closed", "open", "rectifying", "cancelled"), (88, 3, 5, 4))[0]
        # most are put right in time, a few days late now and then
        closed = found + timedelta(days=rng.randrange(1, days + 3)) if state in ("closed", "cancelled") else None
        hazards.append((rng.choice(sites).id, rng.choice(("patrol", "inspection", "alert", "report")),
                        f"隐患 {number}", rng.choice(("major", "general", "general", "general")), found, deadline,
                        state, closed, "user:保护员" if closed else None, evidence if state == "closed" else Jsonb([]),
                        found))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO hazards (site_id, source, title, description, severity, owner, found_at, "
                        "deadline, status, closed_at, closed_by, evidence, updated_at) VALUES (%s, %s, %s, '', %s, "
                        "'保护员', %s, %s, %s, %s, %s, %s, %s)", hazards)
        result = {"assignments": [{"target": s.id, "target_name": s.name, "district": DISTRICT,
                                   "mandatory": number < 2, "inspectors": [{"id": "i1", "name": "张三"}]}
                                  for number, s in enumerate(sites[:6])], "skipped": [], "over_count": 0, "short_by": 0}
        draw = cur.execute(
            "INSERT INTO draws (period, period_start, period_end, seed, count, per_target, algorithm, fingerprint, "
            "input, result, drawn_at, drawn_by) VALUES (%s, %s, %s, 'bench', 6, 1, 'relic-guard draw v1', %s, '{}', "
            "%s, %s, 'user:chief') RETURNING id",
            (f"{year}-H1", date(year, 1, 1), date(year, 6, 30), "ab" * 32, Jsonb(result), local(year, 1, 2))).fetchone()
        assert draw is not None
        inspections = [(f"{year}/district_supervision/{DISTRICT}", "district_supervision", None, DISTRICT, None,
                        "done", "good")]
        inspections += [(f"{year}/site_evaluation/{s.id}", "site_evaluation", s.id, s.name, None,
                         *rng.choice((("done", "good"), ("done", "fair"), ("planned", None)))) for s in sites]
        inspections += [(f"draw/{draw[0]}/{s.id}", "fire_random", s.id, s.name, draw[0], "done", "fair")
                        for s in sites[:6]]
        cur.executemany(
            "INSERT INTO inspections (id, kind, year, district, site_id, target_name, draw_id, due_on, status, "
            "done_on, rating, updated_at, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'bench')",
            [(i, kind, year, DISTRICT, site, name, draw_id, date(year, 9, 30), status,
              date(year, 8, 1) if status == "done" else None, rating, local(year, 12, 1))
             for i, kind, site, name, draw_id, status, rating in inspections])
        flights = []
        for _ in range(len(sites) * 12):
            started = local(year, 1, 1) + timedelta(hours=rng.randrange(360 * 24))
            duration = rng.randrange(600, 2400)
            flights.append(("dock", rng.choice(sites).id, started, started + timedelta(seconds=duration), duration,
                            duration * 8.0, 80.0, 35.0, rng.choice(("landed",) * 9 + ("link_timeout",)),
                            rng.random(), rng.random() * 50_000, Jsonb({"type": "MultiLineString", "coordinates": []}),
                            rng.random() < 0.5))
        cur.executemany("INSERT INTO drone_flights (aircraft, site_id, started_at, ended_at, duration_s, distance_m, "
                        "max_height_m, battery_used_pct, end_reason, coverage_share, covered_m2, track_geojson, "
                        "counts_as_patrol) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", flights)
    return (f"{len(rounds):,} patrol rounds, {len(hazards)} hazards, {len(inspections)} inspections, 1 draw, "
            f"{len(flights)} drone flights")


class Steps:
    """The report's progress, timed: (step, seconds since the first call)."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.times: list[tuple[str, float]] = []

    def start(self, total: int) -> None:
        self.began = time.perf_counter()

    def step(self, what: str) -> None:
        self.times.append((what, time.perf_counter() - self.began))


def timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RELIC_GUARD_DATABASE_URL"))
    parser.add_argument("--readings", type=int, default=50_000_000)
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="Keep the report's files in this folder (default: a temporary one)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start, end = local(args.year, 1, 1), local(args.year + 1, 1, 1)
    now = local(args.year + 1, 1, 5, 10)

    with database(args.url) as url, psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        mode = store_mode(conn)
        print(f"PostgreSQL {conn.info.server_version}, {mode} store; generating {args.year} for {DISTRICT} "
              f"({args.sites} sites) and {OTHER} (2 sites), about {args.readings:,} readings", flush=True)
        reg, telemetry = registry(args.sites)
        sync_registry(conn, reg)
        if mode == "native":
            create_partitions(conn, start.astimezone(UTC).date(), (end - timedelta(seconds=1)).astimezone(UTC).date())
        generating = time.perf_counter()
        _, silences = write_readings(conn, telemetry, start, end, args.readings, rng)
        district_sites = [s.id for s in reg.sites.values() if s.district == DISTRICT]
        events = write_events(conn, silences, district_sites, start, end, rng)
        print(f"  events: {events:,} rows", flush=True)
        alerts = write_alerts(conn, district_sites, start, args.alerts, rng)
        print(f"  alerts: {alerts:,} with their timelines, deliveries and audit entries", flush=True)
        print(f"  {write_rest(conn, reg, args.year, rng)}", flush=True)
        conn.execute("VACUUM ANALYZE")
        print(f"generated in {time.perf_counter() - generating:.0f} s (not measured)", flush=True)

        rollup_s, days = timed(lambda: roll_days(conn, start.date(), (end - timedelta(days=1)).date(), now))
        rows = conn.execute("SELECT count(*) FROM device_days").fetchone()
        print(f"rollup: {days} days into {rows[0] if rows else 0:,} device_days rows in {rollup_s:.1f} s "
              f"({rollup_s / days * 1000:.0f} ms a day, done by the maintenance job as each day ends)", flush=True)

        counts = []
        for _ in range(2):
            seconds, found = timed(lambda: conn.execute(
                "SELECT count(*) FROM readings WHERE ts >= %s AND ts < %s", (start, end)).fetchone())
            counts.append(seconds)
        print(f"baseline: SELECT count(*) over the year's raw readings = {found[0]:,} rows: "
              f"{counts[0]:.2f} s, again {counts[1]:.2f} s", flush=True)

        out = args.out or Path(tempfile.mkdtemp(prefix="relic-guard-report-"))
        try:
            runs = []
            for run in range(2):
                steps = Steps()
                seconds, files = timed(lambda steps=steps: make_reports(  # type: ignore[misc]
                    conn, year=args.year, district=DISTRICT, out=out, now=now, progress=steps))
                runs.append(seconds)
                read = next(at for what, at in steps.times if what.endswith("读取与计算"))
                print(f"report run {run + 1}: {seconds:.2f} s for {len(files)} files (queries and figures "
                      f"{read:.2f} s, charts/HTML/PDF/tables {seconds - read:.2f} s)", flush=True)
            pdf = out / f"{args.year}-{DISTRICT}.pdf"
            print(f"report: {min(runs):.2f} s (first run {runs[0]:.2f} s) against COUNT {min(counts):.2f} s: "
                  f"{min(runs) / min(counts):.2f}x the time of one count over the raw readings; "
                  f"PDF {pdf.stat().st_size // 1024} KB", flush=True)
        finally:
            if args.out is None:
                shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
