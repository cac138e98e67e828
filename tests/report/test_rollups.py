"""The daily device rollup in PostgreSQL, held to the pure rule (`figures.offline_seconds`) on records
spread over several days, and the maintenance step that keeps it up to date."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from relic_guard.config import StoreConfig
from relic_guard.embedded import EmbeddedPostgres
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME
from relic_guard.registry import Device, Registry, Site
from relic_guard.report import rollups
from relic_guard.report.figures import offline_seconds
from relic_guard.store.partitions import maintain
from relic_guard.store.registry_sync import sync_registry
from relic_guard.store.schema import migrate
from sensors.model import Source

FIRST = date(2025, 5, 1)
DAYS = 4
# device → heartbeat_s
DEVICES = {"hb-600": 600, "hb-7200": 7200, "no-hb": None, "quiet": 900}


def day_start(day: date) -> datetime:
    return rollups.day_bounds(day)[0]


@pytest.fixture(scope="module")
def database(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """One migrated database for the module; each test starts from empty time series."""
    name = f"report_rollups_{os.getpid()}"
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        registry = Registry()
        registry.add_site(Site(id="s1", name="灵岩寺", district="长清区", level="", kind=""))
        for device, heartbeat in DEVICES.items():
            registry.add_device(Device(site="s1", id=device, source=Source.FIRE, heartbeat_s=heartbeat))
        sync_registry(conn, registry)
    yield url
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def conn(database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database, autocommit=True) as connection:
        for table in ("readings", "events", "device_days", "device_days_done"):
            connection.execute(f"DELETE FROM {table}")
        yield connection


def generated_records(seed: int) -> dict[str, list[tuple[datetime, bool]]]:
    """Readings at random times, a few `offline` statuses, and silences of hours, over DAYS days;
    `quiet` is heard once on the first day and never again."""
    rng = random.Random(seed)
    start = day_start(FIRST)
    span_s = DAYS * 86400
    found: dict[str, list[tuple[datetime, bool]]] = {}
    for device in ("hb-600", "hb-7200", "no-hb"):
        times = sorted({rng.randrange(3600, span_s) for _ in range(rng.randrange(20, 120))})
        found[device] = [(start + timedelta(seconds=t), rng.random() < 0.08) for t in times]
    found["quiet"] = [(start + timedelta(hours=5), False)]
    return found


def store(conn: psycopg.Connection[Any], records: dict[str, list[tuple[datetime, bool]]]) -> None:
    readings, events = [], []
    for device, items in records.items():
        for number, (at, is_offline) in enumerate(items):
            if is_offline:
                events.append((at, "s1", device, "fire", "offline", f"status:offline:{int(at.timestamp() * 1000)}"))
            elif number % 3 == 0:
                # an event of another kind is a sign of life too
                events.append((at, "s1", device, "fire", "heartbeat", f"hb-{number}"))
            else:
                readings.extend([(at, "s1", device, "supply_v", 24.0), (at, "s1", device, "temp_c", 20.0)])
    with conn.cursor() as cur:
        with cur.copy("COPY readings (ts, site_id, device_id, metric, value) FROM STDIN") as copy:
            for row in readings:
                copy.write_row(row)
        cur.executemany("INSERT INTO events (ts, site_id, device_id, source, type, event_key) "
                        "VALUES (%s, %s, %s, %s, %s, %s)", events)


def stored_days(conn: psycopg.Connection[Any]) -> dict[tuple[str, date], tuple[int, float, float]]:
    rows = conn.execute("SELECT device_id, day, records, offline_s, observed_s FROM device_days").fetchall()
    return {(r[0], r[1]): (int(r[2]), float(r[3]), float(r[4])) for r in rows}


@pytest.mark.parametrize("seed", [1, 2])
def test_the_sql_rollup_counts_what_the_pure_rule_counts(conn: psycopg.Connection[Any], seed: int) -> None:
    records = generated_records(seed)
    store(conn, records)
    now = day_start(FIRST + timedelta(days=DAYS + 1))
    assert rollups.roll_days(conn, FIRST, FIRST + timedelta(days=DAYS - 1), now) == DAYS
    stored = stored_days(conn)
    for device, items in records.items():
        heartbeat = DEVICES[device]
        carry: tuple[datetime, bool] | None = None
        for offset in range(DAYS):
            day = FIRST + timedelta(days=offset)
            start, end = rollups.day_bounds(day)
            todays = [r for r in items if start <= r[0] < end]
            offline, observed = offline_seconds(todays, heartbeat, start, end, carry)
            if carry is None and not todays:
                assert (device, day) not in stored  # not yet heard of: no row
            else:
                count = sum(1 if is_offline or n % 3 == 0 else 2 for n, (at, is_offline) in enumerate(items)
                            if start <= at < end)
                assert stored[(device, day)] == (count, pytest.approx(offline, abs=1e-3),
                                                 pytest.approx(observed, abs=1e-3)), (device, day)
            if todays:
                carry = max(todays, key=lambda r: (r[0], r[1]))
    # the quiet device: heard at 05:00 on the first day, offline from 05:15 for ever after
    assert stored[("quiet", FIRST)][1:] == (pytest.approx(86400 - 5 * 3600 - 900), pytest.approx(19 * 3600))
    assert stored[("quiet", FIRST + timedelta(days=DAYS - 1))][1:] == (86400.0, 86400.0)


def test_a_missing_day_is_rolled_with_every_day_after_it(conn: psycopg.Connection[Any]) -> None:
    store(conn, {"hb-600": [(day_start(FIRST) + timedelta(hours=1), False)]})
    now = day_start(FIRST + timedelta(days=10))
    last = FIRST + timedelta(days=3)
    rollups.roll_days(conn, FIRST, last, now)
    assert rollups.ensure_days(conn, FIRST, last, now) == 0  # nothing missing
    # A day rolled before the record of the first day came (a late arrival) is wrong until rolled again.
    conn.execute("DELETE FROM device_days_done WHERE day = %s", (FIRST + timedelta(days=1),))
    conn.execute("UPDATE device_days SET offline_s = 0 WHERE day > %s", (FIRST,))
    assert rollups.ensure_days(conn, FIRST, last, now) == 3
    assert stored_days(conn)[("hb-600", last)] == (0, 86400.0, 86400.0)
    assert rollups.ensure_days(conn, FIRST, FIRST - timedelta(days=1), now) == 0  # an empty range


def test_the_maintenance_job_rolls_the_finished_days(conn: psycopg.Connection[Any]) -> None:
    store(conn, {"no-hb": [(day_start(FIRST) + timedelta(hours=1), False)]})
    now = datetime.combine(FIRST + timedelta(days=2), datetime.min.time(), CHINA_STANDARD_TIME) + timedelta(hours=3)
    cfg = StoreConfig(retention_days=3)
    report = maintain(conn, cfg, now)
    # the first run starts at the retention window's first whole day and stops at yesterday
    assert report.device_days == 2 and "device days" not in report.skipped
    done = dict(conn.execute("SELECT day, rolled_at FROM device_days_done").fetchall())
    assert sorted(done) == [FIRST, FIRST + timedelta(days=1)]
    # an hour later nothing is due; six hours after its end, yesterday is rolled once more, then settled
    assert rollups.maintain_days(conn, now + timedelta(hours=1), retention_days=3) == 0
    assert rollups.maintain_days(conn, now + timedelta(hours=4), retention_days=3) == 1
    assert rollups.maintain_days(conn, now + timedelta(hours=5), retention_days=3) == 0
    # a new day: only it
    assert rollups.maintain_days(conn, now + timedelta(days=1), retention_days=3) == 1


def test_catching_up_is_bounded_per_run(conn: psycopg.Connection[Any]) -> None:
    now = day_start(FIRST) + timedelta(hours=12)
    assert rollups.maintain_days(conn, now, retention_days=400) == rollups.MAX_DAYS_PER_RUN
    assert rollups.maintain_days(conn, now, retention_days=400) == rollups.MAX_DAYS_PER_RUN
