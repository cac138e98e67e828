"""Registry mirrored into sites/devices, and the read queries on what the writer stored."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import psycopg
import pytest

from relic_guard.registry import Device, Registry, Site
from relic_guard.store.queries import count_rows, readings
from relic_guard.store.registry_sync import sync_registry
from relic_guard.store.writer import write_batch
from sensors.model import Source

from .conftest import T0, make_batch

Conn = psycopg.Connection[Any]


def registry(name: str = "千佛山摩崖造像") -> Registry:
    reg = Registry()
    reg.add_site(Site(id="jn-qfs", name=name, district="历下区", level="省级", kind="石窟寺及石刻",
                      lat=36.64, lon=117.03, custodians=("张三", "李四"),
                      boundary_wkt="POLYGON((117 36, 117.1 36, 117.1 36.1, 117 36))",
                      open_hours=(time(8, 30), time(17, 0))))
    reg.add_site(Site(id="jn-ls", name="灵岩寺", district="长清区", level="全国重点文物保护单位", kind="古建筑",
                      auto_register=True))
    reg.add_device(Device(site="jn-qfs", id="cam-1", source=Source.VIDEO, kind="camera", zone="山门",
                          heartbeat_s=60, external_id="frigate_cam1"))
    reg.add_device(Device(site="jn-ls", id="uav-1", source=Source.DRONE, external_id="1581F5BKD225D00A"))
    return reg


def test_sync_registry_upserts_with_chinese_names(db: Conn) -> None:
    sync_registry(db, registry())
    row = db.execute("SELECT name, district, level, kind, lat, lon, custodians, open_hours, auto_register "
                     "FROM sites WHERE id = 'jn-qfs'").fetchone()
    assert row == ("千佛山摩崖造像", "历下区", "省级", "石窟寺及石刻", 36.64, 117.03, ["张三", "李四"], "08:30-17:00", False)
    assert db.execute("SELECT zone, heartbeat_s, external_id FROM devices WHERE id = 'cam-1'").fetchone() == (
        "山门", 60, "frigate_cam1")
    stamp = db.execute("SELECT updated_at FROM sites WHERE id = 'jn-ls'").fetchone()

    sync_registry(db, registry(name="千佛山"))  # one site renamed, the other unchanged
    assert db.execute("SELECT name FROM sites WHERE id = 'jn-qfs'").fetchone() == ("千佛山",)
    assert db.execute("SELECT updated_at FROM sites WHERE id = 'jn-ls'").fetchone() == stamp
    assert count_rows(db, "sites") == 2 and count_rows(db, "devices") == 2


def test_sync_an_empty_registry(db: Conn) -> None:
    sync_registry(db, Registry())
    assert count_rows(db, "sites") == 0


def test_readings_query_raw_and_bounds(db: Conn) -> None:
    write_batch(db, make_batch(10))
    raw = readings(db, "s1", "d1", "humidity_pct", T0 + timedelta(seconds=2), T0 + timedelta(seconds=5))
    assert [r.ts for r in raw] == [T0 + timedelta(seconds=s) for s in (2, 3, 4)]
    assert readings(db, "s1", "other", "humidity_pct", T0, T0 + timedelta(days=1)) == []
    with pytest.raises(ValueError, match="bucket"):
        readings(db, "s1", "d1", "x", T0, T0, bucket="minute")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="unknown table"):
        count_rows(db, "pg_authid")
