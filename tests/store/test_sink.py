"""DurableSink against a real PostgreSQL that is stopped and started under it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from relic_guard import metrics
from relic_guard.batch import Batch
from relic_guard.embedded import EmbeddedPostgres, free_port
from relic_guard.errors import StoreError
from relic_guard.spool import Spool, SpoolFull, encode_batch
from relic_guard.store.queries import count_rows
from relic_guard.store.schema import migrate
from relic_guard.store.sink import Durability, DurableSink

from .conftest import make_batch

QUOTA = 64 * 1024 * 1024


def numbered(i: int) -> Batch:
    """Batch i: 5 telemetry messages (10 readings), one event, one quarantine row whose topic carries i."""
    return make_batch(5, start=10 * i, n_events=1, n_quarantine=1, device="d1")


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def gauge(metric: Any, worker: str) -> float:
    for family in metric.collect():
        for s in family.samples:
            if s.labels.get("worker") == worker:
                return float(s.value)
    raise AssertionError("no sample")


def test_outage_spools_then_replays_everything_in_order(
    own_pg: EmbeddedPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="relic_guard")
    with psycopg.connect(own_pg.url, autocommit=True) as conn:
        migrate(conn)
    sink = DurableSink(own_pg.url, Spool(tmp_path / "spool", QUOTA, "w-outage"), connect_timeout_s=2,
                       worker="w-outage", retry_interval_s=0.2)
    sink.start()
    try:
        where = [sink.write(numbered(i)) for i in range(10)]
        assert where == [Durability.DATABASE] * 10
        assert gauge(metrics.DATABASE_UP, "w-outage") == 1

        own_pg.stop()
        where = [sink.write(numbered(i)) for i in range(10, 30)]
        assert where == [Durability.SPOOL] * 20
        assert sink.spooling
        assert gauge(metrics.SPOOL_BATCHES, "w-outage") == 20
        assert gauge(metrics.SPOOL_BYTES, "w-outage") > 0
        assert gauge(metrics.DATABASE_UP, "w-outage") == 0

        own_pg.start()
        # Batches keep coming while the replay runs: they queue behind it, never around it.
        for i in range(30, 40):
            sink.write(numbered(i))
        wait_until(lambda: not sink.spooling)
        where = [sink.write(numbered(i)) for i in range(40, 50)]
        assert where == [Durability.DATABASE] * 10
    finally:
        sink.close()

    assert sink.spool.pending() == 0
    with psycopg.connect(own_pg.url, autocommit=True) as conn:
        assert count_rows(conn, "readings") == 50 * 10
        assert count_rows(conn, "events") == 50
        topics = [r[0] for r in conn.execute("SELECT topic FROM quarantine ORDER BY id").fetchall()]
        # Quarantine ids are handed out at commit order: exactly the write order, each once.
        assert topics == [f"relic/s1/env/bad/telemetry#{10 * i}" for i in range(50)]

    down = [r for r in caplog.records if "database unreachable" in r.getMessage()]
    assert len(down) == 1 and down[0].levelno == logging.WARNING
    assert str(tmp_path / "spool") in down[0].getMessage()
    back = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(back) == 1 and "replayed" in back[0]
    assert int(back[0].split("replayed ")[1].split()[0]) >= 20
    assert gauge(metrics.SPOOL_BATCHES, "w-outage") == 0


def test_spool_left_by_a_previous_run_is_replayed_first(pg_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
    with Spool(tmp_path, QUOTA, "w-prev") as spool:
        for i in range(3):
            spool.append(numbered(i))
    sink = DurableSink(pg_url, Spool(tmp_path, QUOTA, "w-prev"), connect_timeout_s=2, worker="w-prev",
                       retry_interval_s=0.1)
    assert sink.spooling
    # Before the replay thread runs, new batches go behind the old ones.
    assert sink.write(numbered(3)) == Durability.SPOOL
    sink.start()
    wait_until(lambda: not sink.spooling)
    sink.write(numbered(4))
    sink.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        topics = [r[0] for r in conn.execute("SELECT topic FROM quarantine ORDER BY id").fetchall()]
        assert topics == [f"relic/s1/env/bad/telemetry#{10 * i}" for i in range(5)]


def test_a_refused_batch_raises_store_error_and_is_not_spooled(pg_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("ALTER TABLE readings ADD CONSTRAINT plausible CHECK (value < 1000)")
    with DurableSink(pg_url, Spool(tmp_path, QUOTA, "w-bad"), connect_timeout_s=2, worker="w-bad") as sink:
        bad = make_batch(1)
        bad.telemetry[0] = type(bad.telemetry[0])(site="s1", device="d1", source=bad.telemetry[0].source,
                                                  ts=bad.telemetry[0].ts, values={"temperature_c": 5000.0})
        with pytest.raises(StoreError, match="plausible") as refused:
            sink.write(bad)
        assert isinstance(refused.value.__cause__, psycopg.errors.CheckViolation)
        assert sink.spool.pending_batches() == 0
        assert not sink.spooling
        assert sink.write(make_batch(1, start=5)) == Durability.DATABASE


def test_a_refused_record_is_isolated_and_set_aside_while_the_rest_is_written(pg_url: str, tmp_path: Path) -> None:
    from relic_guard.spool import decode_batch

    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("ALTER TABLE readings ADD CONSTRAINT plausible CHECK (value < 1000)")
    with DurableSink(pg_url, Spool(tmp_path, QUOTA, "w-iso"), connect_timeout_s=2, worker="w-iso") as sink:
        batch = make_batch(40, n_events=3, n_quarantine=2)
        good = batch.telemetry[17]
        batch.telemetry[17] = type(good)(site="s1", device="d1", source=good.source, ts=good.ts,
                                         values={"temperature_c": 5000.0, "humidity_pct": 50.0})
        assert sink.write_or_set_aside(batch) == 1
    with psycopg.connect(pg_url) as conn:
        assert count_rows(conn, "readings") == 39 * 2
        assert count_rows(conn, "events") == 3
        assert count_rows(conn, "quarantine") == 2
    rejected = sorted((tmp_path / "rejected").glob("*.seg"))
    assert len(rejected) == 1
    kept = decode_batch(rejected[0].read_bytes()[8:])
    assert [t.values["temperature_c"] for t in kept.telemetry] == [5000.0]
    assert "plausible" in rejected[0].with_suffix(".txt").read_text(encoding="utf-8")


def test_a_spooled_batch_the_database_refuses_is_set_aside(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("ALTER TABLE events ADD CONSTRAINT no_tests CHECK (type <> 'test')")
    with Spool(tmp_path, QUOTA, "w-dl") as spool:
        spool.append(numbered(0))
        poison = numbered(1)
        poison.events[0] = type(poison.events[0])(**{**{f: getattr(poison.events[0], f) for f in (
            "site", "device", "source", "ts", "event_key", "zone", "clear", "attrs", "ts_from_receive")},
            "type": "test"})
        spool.append(poison)
        spool.append(numbered(2))
    with DurableSink(pg_url, Spool(tmp_path, QUOTA, "w-dl"), connect_timeout_s=2, worker="w-dl",
                     retry_interval_s=0.1) as sink:
        wait_until(lambda: not sink.spooling)
    assert any("set aside" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert len(list((tmp_path / "rejected").glob("*.seg"))) == 1
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert count_rows(conn, "quarantine") == 2


def test_full_spool_raises_after_one_error_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    quota = sum(len(encode_batch(numbered(i))) + 8 for i in range(3))
    with DurableSink(nowhere, Spool(tmp_path, quota, "w-full"), connect_timeout_s=1, worker="w-full") as sink:
        assert [sink.write(numbered(i)) for i in range(3)] == [Durability.SPOOL] * 3
        for _ in range(3):
            with pytest.raises(SpoolFull):
                sink.write(numbered(9))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "quota" in errors[0] and "RELIC_GUARD_SPOOL_QUOTA_BYTES" in errors[0]
