"""The drone monitor over a real AlertService, fed DJI OSD messages through the real adapter.

The site is 大辛庄遗址 (`jn-dxz`, about 1 km², tests/drones/support.py) with its aircraft
`uav-01` (DJI serial 1581F6Q8D23CT00A). Samples are written as DJI Cloud API OSD messages with
DJI's documented field names (`dji_osd`), parsed by `sensors.dji`, turned into the rows a worker
sends (`feed.drone_row`) and given to the monitor; the alert service's clock follows the samples
and the service ticks every 2 s of it, as the daemon's tick loop would (no sleeping).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from alerts.model import Alert, AlertKey
from alerts.rules.common import EngineSettings, RuleContext
from relic_guard.alerting.records import AlertSnapshot, JournalItem
from relic_guard.alerting.service import AlertService
from relic_guard.drones.feed import DroneRow, drone_row
from relic_guard.drones.monitor import MONITOR_NAME, DroneMonitor, FlightWriter, MonitorSettings, site_areas
from relic_guard.drones.osd import OsdSample
from relic_guard.drones.projection import LocalProjection
from relic_guard.drones.zones_load import SiteZones
from relic_guard.registry import Registry
from sensors import dji
from sensors.model import Message, Telemetry
from tests.drones.support import AIRCRAFT_SN, CTX, DXZ, T0, dji_osd, registry

PLANE = LocalProjection(36.67, 117.0)
UAV = (DXZ, "uav-01")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ListJournal:
    items: list[JournalItem] = field(default_factory=list)

    def put(self, item: JournalItem) -> None:
        self.items.append(item)


def row_of(sample: OsdSample, received_at: datetime | None = None) -> DroneRow:
    """The row a worker sends for `sample`, written as DJI OSD and parsed by the real adapter."""
    records = dji.parse(Message(f"thing/product/{AIRCRAFT_SN}/osd", dji_osd(sample), received_at or sample.ts), CTX)
    assert isinstance(records, list) and len(records) == 1, records
    record = records[0]
    assert isinstance(record, Telemetry)
    row = drone_row(record)
    assert row is not None
    return row


@dataclass
class World:
    service: AlertService
    monitor: DroneMonitor
    clock: Clock
    journal: ListJournal
    registry: Registry

    def fly(self, samples: Iterable[OsdSample], *, tick_s: float = 2.0) -> None:
        """Each sample at its own time, the service ticking every `tick_s` in between."""
        for sample in samples:
            self.until(sample.ts, tick_s=tick_s)
            self.monitor.on_samples([row_of(sample)])

    def until(self, moment: datetime, *, tick_s: float = 2.0) -> None:
        while self.clock.now + timedelta(seconds=tick_s) <= moment:
            self.clock.now += timedelta(seconds=tick_s)
            self.service.tick()
        self.clock.now = max(self.clock.now, moment)

    def alert(self, rule: str, device: str = "uav-01") -> Alert | None:
        """The open alert under the rule, else the last one the journal recorded for it."""
        key = AlertKey(DXZ, device, rule)
        current = self.service.engine.book.open.get(key)
        if current is not None:
            return current
        snapshots = [item.alert for item in self.journal.items
                     if isinstance(item, AlertSnapshot) and item.alert.key == key]
        return snapshots[-1] if snapshots else None


def make_world(
    *,
    zones: dict[str, SiteZones] | None = None,
    settings: MonitorSettings | None = None,
    writer: FlightWriter | None = None,
    spool_dir: Path | None = None,
    now: datetime = T0,
) -> World:
    reg = registry()
    clock = Clock(now)
    journal = ListJournal()
    ctx = RuleContext(sites=reg.sites, devices=reg.devices, thresholds=(), settings=EngineSettings())
    service = AlertService(ctx=ctx, sites=reg.sites, routing=None, journal=journal, dispatcher=None, ack_links=None,
                           clock=clock)
    areas = site_areas((site_id, site.boundary_wkt) for site_id, site in reg.sites.items())
    monitor = DroneMonitor(service=service, areas=areas, zones=zones, settings=settings, writer=writer,
                           spool_dir=spool_dir)
    service.monitors[MONITOR_NAME] = monitor
    return World(service=service, monitor=monitor, clock=clock, journal=journal, registry=reg)
