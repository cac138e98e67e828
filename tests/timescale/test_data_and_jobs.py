"""Data through the TimescaleDB layout: the hourly rollup, the read queries, and the
compression, retention and refresh jobs, each run by hand (`CALL run_job(id)`: PGlite
has no background workers)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from relic_guard.config import StoreConfig
from relic_guard.store.timescale import setup_timescale

pytestmark = pytest.mark.timescale

CFG = StoreConfig(retention_days=30, compress_after_days=2)

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
# Whole days back from the current hour at which the test writes data. 3 and 5 days
# old: past compress_after (2 days). 40 and 41: past retention (30 days).
DAYS_BACK = (0, 1, 3, 5, 40, 41)
DEVICES = (("s1", "smoke-1"), ("s1", "temp-1"), ("s2", "temp-1"))
METRICS = ("temperature", "humidity")

INSERT_READING = """
INSERT INTO readings (ts, site_id, device_id, metric, value) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (site_id, device_id, metric, ts) DO NOTHING
"""

INSERT_EVENT = """
INSERT INTO events (ts, site_id, device_id, source, type, zone, clear, event_key, attrs,
                    received_at, ts_from_receive)
VALUES (%s, %s, %s, 'fire', 'smoke', 'nave', false, %s, %s, %s, false)
ON CONFLICT (site_id, device_id, event_key, ts) DO NOTHING
"""

HOURLY_QUERY = """
SELECT bucket, avg, min, max, n FROM readings_hourly
WHERE site_id = %s AND device_id = %s AND metric = %s AND bucket >= %s AND bucket < %s
ORDER BY bucket
"""

RAW_QUERY = """
SELECT ts, value FROM readings
WHERE site_id = %s AND device_id = %s AND metric = %s AND ts >= %s AND ts < %s
ORDER BY ts
"""

# The same rollup as the continuous aggregate, in plain SQL on the raw rows.
PLAIN_HOURLY = """
SELECT date_trunc('hour', ts) AS bucket, site_id, device_id, metric,
       count(*) AS n, avg(value) AS avg, min(value) AS min, max(value) AS max
FROM readings GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""


def _value(ts: datetime, site: str, device: str, metric: str) -> float:
    """Deterministic, varied values (so avg/min/max differ within a bucket)."""
    x = ts.timestamp() / 600 + len(site) * 7 + len(device) * 3 + len(metric)
    return round(20 + 5 * math.sin(x) + (x % 7), 3)


def _reading_rows() -> list[tuple[datetime, str, str, str, float]]:
    """Every 20 minutes for 4 hours on each day of DAYS_BACK, plus a few odd minutes."""
    rows = []
    for days in DAYS_BACK:
        start = NOW - timedelta(days=days, hours=5)
        for minute in [*range(0, 240, 20), 7, 131, 239]:
            ts = start + timedelta(minutes=minute)
            for site, device in DEVICES:
                for metric in METRICS:
                    rows.append((ts, site, device, metric, _value(ts, site, device, metric)))
    return rows


def _event_rows() -> list[tuple[Any, ...]]:
    rows = []
    for days in DAYS_BACK:
        for i in range(5):
            ts = NOW - timedelta(days=days, hours=4, minutes=10 * i)
            rows.append((ts, "s1", "smoke-1", f"smoke:{i}", Jsonb({"obscuration": i}), ts))
    return rows


@pytest.fixture
def loaded(plain_tables: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """Timescale layout set up, then readings and events written with INSERT (as the writer does)."""
    conn = plain_tables
    setup_timescale(conn, CFG)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(INSERT_READING, _reading_rows())
        cur.executemany(INSERT_EVENT, _event_rows())
    return conn


def _job_id(conn: psycopg.Connection[Any], proc: str, table: str) -> int:
    row = conn.execute(
        """
        SELECT job_id FROM timescaledb_information.jobs
        WHERE proc_name = %s AND hypertable_schema = current_schema() AND hypertable_name = %s
        """,
        (proc, table),
    ).fetchone()
    assert row is not None, f"no {proc} job on {table}"
    return int(row[0])


def _run_job(conn: psycopg.Connection[Any], proc: str, table: str) -> None:
    """Run a policy job now, in this session (PGlite has no background workers)."""
    conn.execute("CALL run_job(%s)", (_job_id(conn, proc, table),))


def _chunk_starts(timestamps: list[datetime]) -> list[datetime]:
    """Start of each 1-day chunk these rows fall in (chunks are aligned on UTC midnight; a
    4-hour window of one day spans two chunks when it crosses midnight)."""
    return sorted({ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) for ts in timestamps})


def _table_timestamps(table: str) -> list[datetime]:
    return [row[0] for row in (_reading_rows() if table == "readings" else _event_rows())]


def _chunks(conn: psycopg.Connection[Any], table: str) -> list[tuple[datetime, datetime, bool]]:
    return [
        (start, end, bool(compressed))
        for start, end, compressed in conn.execute(
            """
            SELECT range_start, range_end, is_compressed FROM timescaledb_information.chunks
            WHERE hypertable_schema = current_schema() AND hypertable_name = %s ORDER BY range_start
            """,
            (table,),
        ).fetchall()
    ]


def _all_readings(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT ts, site_id, device_id, metric, value, ts_from_receive FROM readings ORDER BY 1, 2, 3, 4"
    ).fetchall()


def _all_events(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT ts, site_id, device_id, event_key, attrs, received_at FROM events ORDER BY 1, 4"
    ).fetchall()


def _assert_rollups_equal(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:5] == w[:5]  # bucket, site, device, metric, n: exact
        assert g[5] == pytest.approx(w[5], rel=1e-12)  # avg
        assert g[6:] == w[6:]  # min, max: exact


def test_hourly_aggregate_matches_plain_sql(loaded: psycopg.Connection[Any]) -> None:
    conn = loaded
    # WITH NO DATA + materialized_only: nothing to read before a refresh.
    assert conn.execute("SELECT count(*) FROM readings_hourly").fetchone() == (0,)

    conn.execute("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")

    want = conn.execute(PLAIN_HOURLY).fetchall()
    got = conn.execute(
        "SELECT bucket, site_id, device_id, metric, n, avg, min, max FROM readings_hourly ORDER BY 1, 2, 3, 4"
    ).fetchall()
    # 6 days x 4 hours x 3 devices x 2 metrics.
    assert len(want) == len(DAYS_BACK) * 4 * len(DEVICES) * len(METRICS)
    _assert_rollups_equal(got, want)
    assert sum(row[4] for row in got) == len(_reading_rows())

    # The read query of the API, on one device and a window covering two days.
    lo, hi = NOW - timedelta(days=2), NOW
    hourly = conn.execute(HOURLY_QUERY, ("s1", "temp-1", "temperature", lo, hi)).fetchall()
    raw = conn.execute(RAW_QUERY, ("s1", "temp-1", "temperature", lo, hi)).fetchall()
    assert len(raw) == 2 * 15
    assert [ts for ts, _ in raw] == sorted(ts for ts, _ in raw)
    expected: dict[datetime, list[float]] = {}
    for ts, value in raw:
        expected.setdefault(ts.replace(minute=0, second=0, microsecond=0), []).append(value)
    assert [row[0] for row in hourly] == sorted(expected)
    for bucket, avg, lo_v, hi_v, n in hourly:
        values = expected[bucket]
        assert (n, lo_v, hi_v) == (len(values), min(values), max(values))
        assert avg == pytest.approx(sum(values) / len(values), rel=1e-12)


def test_refresh_policy_job_picks_up_new_rows(loaded: psycopg.Connection[Any]) -> None:
    conn = loaded
    conn.execute("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")
    bucket = NOW - timedelta(days=1, hours=5)
    before = conn.execute(HOURLY_QUERY, ("s1", "temp-1", "temperature", bucket, bucket + timedelta(hours=1)))
    (_, _, _, _, n_before) = before.fetchone() or (None, None, None, None, 0)

    # A late reading inside the policy's window (3 days .. 1 hour ago), and one
    # outside it (5 days ago), which the policy must leave alone.
    conn.execute(INSERT_READING, (bucket + timedelta(minutes=59), "s1", "temp-1", "temperature", -40.0))
    old_bucket = NOW - timedelta(days=5, hours=5)
    conn.execute(INSERT_READING, (old_bucket + timedelta(minutes=59), "s1", "temp-1", "temperature", -40.0))
    _run_job(conn, "policy_refresh_continuous_aggregate", "readings_hourly")

    row = conn.execute(HOURLY_QUERY, ("s1", "temp-1", "temperature", bucket, bucket + timedelta(hours=1))).fetchone()
    assert row is not None
    assert row[4] == n_before + 1 and row[1] < row[3] and row[2] == -40.0
    old = conn.execute(
        HOURLY_QUERY, ("s1", "temp-1", "temperature", old_bucket, old_bucket + timedelta(hours=1))
    ).fetchone()
    assert old is not None and old[2] != -40.0  # not refreshed: older than start_offset


def test_compression_job_compresses_old_chunks_and_data_reads_back(loaded: psycopg.Connection[Any]) -> None:
    conn = loaded
    readings_before = _all_readings(conn)
    events_before = _all_events(conn)
    assert all(not compressed for *_, compressed in _chunks(conn, "readings"))

    for table in ("readings", "events"):
        _run_job(conn, "policy_compression", table)

    cutoff = NOW - timedelta(days=CFG.compress_after_days)
    day = timedelta(days=1)
    for table in ("readings", "events"):
        starts = _chunk_starts(_table_timestamps(table))
        chunks = _chunks(conn, table)
        assert [start for start, _, _ in chunks] == starts
        # Compressed exactly when the whole chunk is older than compress_after: the
        # chunks of 3, 5, 40 and 41 days back, not those of today and yesterday.
        assert [compressed for *_, compressed in chunks] == [start + day <= cutoff for start in starts]
        assert 4 <= sum(compressed for *_, compressed in chunks) < len(chunks)
    n_compressed = sum(start + day <= cutoff for start in _chunk_starts(_table_timestamps("readings")))
    stats = conn.execute(
        "SELECT count(*) FILTER (WHERE compression_status = 'Compressed') FROM chunk_compression_stats('readings')"
    ).fetchone()
    assert stats == (n_compressed,)

    # Everything reads back unchanged, through the compressed chunks.
    assert _all_readings(conn) == readings_before
    assert _all_events(conn) == events_before
    lo = NOW - timedelta(days=6)
    raw = conn.execute(RAW_QUERY, ("s2", "temp-1", "humidity", lo, NOW)).fetchall()
    assert len(raw) == 4 * 15  # days 5, 3, 1, 0

    # The writer's idempotent INSERT ... ON CONFLICT DO NOTHING still sees the unique
    # key inside a compressed chunk: a replayed batch adds nothing, a new row goes in.
    ts, site, device, metric, value = _reading_rows()[len(DEVICES) * len(METRICS) * 15 * 3]
    assert ts < cutoff - timedelta(days=1)
    with conn.cursor() as cur:
        cur.execute(INSERT_READING, (ts, site, device, metric, value + 1))
        assert cur.rowcount == 0
        cur.execute(INSERT_READING, (ts + timedelta(seconds=1), site, device, metric, value))
        assert cur.rowcount == 1
        old_event = _event_rows()[5 * 3]  # 5 days back: compressed
        cur.execute(INSERT_EVENT, old_event)
        assert cur.rowcount == 0
        cur.execute(INSERT_EVENT, (old_event[0], "s1", "smoke-1", "smoke:late", *old_event[4:]))
        assert cur.rowcount == 1
    assert len(_all_readings(conn)) == len(readings_before) + 1
    assert len(_all_events(conn)) == len(events_before) + 1


def test_retention_job_drops_old_chunks_and_the_rollup_keeps_them(loaded: psycopg.Connection[Any]) -> None:
    conn = loaded
    conn.execute("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")
    rollup_before = conn.execute("SELECT count(*), sum(n) FROM readings_hourly").fetchone()
    # Compress first, as in production: retention has to drop compressed chunks too.
    for table in ("readings", "events"):
        _run_job(conn, "policy_compression", table)

    for table in ("readings", "events"):
        _run_job(conn, "policy_retention", table)

    cutoff = NOW - timedelta(days=CFG.retention_days)
    for table in ("readings", "events"):
        kept = [start for start in _chunk_starts(_table_timestamps(table)) if start + timedelta(days=1) > cutoff]
        assert [start for start, _, _ in _chunks(conn, table)] == kept
        assert len(kept) < len(_chunk_starts(_table_timestamps(table)))
    assert conn.execute("SELECT min(ts) >= %s FROM readings", (cutoff,)).fetchone() == (True,)
    assert conn.execute("SELECT min(ts) >= %s FROM events", (cutoff,)).fetchone() == (True,)
    assert conn.execute("SELECT count(*) FROM readings").fetchone() == (
        len(_reading_rows()) * (len(DAYS_BACK) - 2) // len(DAYS_BACK),
    )

    # The hourly rollup of the dropped days stays: the refresh policy only looks at the
    # last 3 days, so it never recomputes (and empties) buckets whose raw rows are gone.
    _run_job(conn, "policy_refresh_continuous_aggregate", "readings_hourly")
    assert conn.execute("SELECT count(*), sum(n) FROM readings_hourly").fetchone() == rollup_before
    old = conn.execute(
        HOURLY_QUERY, ("s1", "smoke-1", "humidity", NOW - timedelta(days=42), NOW - timedelta(days=39))
    ).fetchall()
    assert len(old) == 2 * 4
