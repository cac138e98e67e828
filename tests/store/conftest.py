"""Store fixtures: a migrated database on the session's real PostgreSQL, and record factories."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from relic_guard.batch import Batch, quarantined
from relic_guard.store.schema import migrate
from sensors.model import Event, RejectReason, Source, StatusChange, Telemetry

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@pytest.fixture
def db(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to a fresh, migrated database (native mode: no TimescaleDB here)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        yield conn


def telemetry(i: int, *, site: str = "s1", device: str = "d1", base: datetime = T0,
              values: dict[str, float] | None = None) -> Telemetry:
    return Telemetry(site=site, device=device, source=Source.ENV, ts=base + timedelta(seconds=i),
                     values=values if values is not None else {"temperature_c": 20.0 + i, "humidity_pct": 50.0})


def event(i: int, *, site: str = "s1", device: str = "f1", base: datetime = T0, **kw: Any) -> Event:
    fields: dict[str, Any] = {
        "site": site, "device": device, "source": Source.FIRE, "type": "fire_alarm",
        "ts": base + timedelta(seconds=i), "event_key": f"msg-{i}", "zone": "大殿", "clear": False,
        "attrs": {"component": "smoke_detector", "description": "烟感报警", "score": 0.9},
    }
    fields.update(kw)
    return Event(**fields)


def status(i: int, online: bool, *, site: str = "s1", device: str = "d1", base: datetime = T0) -> StatusChange:
    return StatusChange(site=site, device=device, source=Source.ENV, online=online, ts=base + timedelta(seconds=i))


def make_batch(n_telemetry: int = 0, *, start: int = 0, n_events: int = 0, statuses: list[StatusChange] | None = None,
               n_quarantine: int = 0, base: datetime = T0, device: str = "d1") -> Batch:
    batch = Batch(
        telemetry=[telemetry(start + i, base=base, device=device) for i in range(n_telemetry)],
        events=[event(start + i, base=base) for i in range(n_events)],
        statuses=list(statuses or []),
        quarantine=[
            quarantined(f"relic/s1/env/bad/telemetry#{start + i}", b'{"values": NaN}', base + timedelta(seconds=i),
                        RejectReason.BAD_JSON, f"line 1: bad token {start + i}")
            for i in range(n_quarantine)
        ],
    )
    batch.messages = n_telemetry + n_events + len(batch.statuses) + n_quarantine
    return batch
