"""The drone core at work in the daemon: every aircraft's samples in one place, alerts raised at
once, closed flights stored off the event loop.

    workers ── DroneRow per OSD sample (engine feed) ──▶ on_samples ─┐
    alert service tick (every 200 ms) ──────────────────▶ tick ──────┤   (the daemon's event loop)
                     FlightTracker · GeofenceMonitor · SafetyMonitor ─┤
       raise_condition / end_condition ◀── fence and safety events ┤
                               closed flights ──▶ pending queue ──▶ writer task:
                                   coverage (asyncio.to_thread) ──▶ drone_flights (to_thread, retried)

Per-aircraft state (flight in progress, fence side, battery and link watch) lives in this process
only: the workers send their samples here (`feed.DroneRow`), the alert service ticks the monitor
(`AlertService.monitors`), and everything on the loop is O(1) per sample. Geometry work that
grows with a flight (coverage, GeoJSON) runs in a worker thread when the flight has closed.

Alerts (category drone, to the monitoring center, through `AlertService.raise_condition`, so
routing, escalation, grouping and the records apply as to any alert), one per aircraft and rule
(`CONDITIONS`): leaving the allowed area and entering a no-fly zone (major) resolve when the
aircraft is back on the right side; low battery (minor) and a lost link (minor: the aircraft flies
its mission on) resolve when the condition ends; return to home (info: a dock's wayline ends with
one) resolves at landing; a forced landing (major) is held open for a person, since someone must go
and look. At a flight's end, what it left open is settled by each condition's `at_end`: a fence alert is
resolved when the aircraft came down on the right side and otherwise held for a person, and a lost
link whose flight timed out stays open (the aircraft is missing).

Storage never holds an alert up, and a database outage loses no flight: a closed flight waits in
memory and is retried with a growing pause; at exit what is left (flights in the air included,
closed as `interrupted`) is saved to `<spool>/drone-flights.pending` and written at the next start
(a flight already stored is recognised by its site, aircraft and start, so nothing is doubled). A
row the database refuses for its content is set aside in `<spool>/drone-flights.rejected` rather
than blocking the queue.

A restart loses the flights in the air, as everything in memory: the part flown before the stop is
stored as `interrupted`, and the daemon, hearing the aircraft in the air again, opens a new flight
from that sample with `takeoff_seen = false`. Each part gets its own coverage, so a patrol flight
cut by a restart may fall short of the share that counts as a patrol; alerts open at the stop were
stored by the alert journal and are taken up again like every open alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import psycopg
import shapely

from alerts.model import Alert, AlertKey, Audience, Category, Classification, Severity
from alerts.rules.common import zoned_rule
from relic_guard.alerting.service import AlertService
from relic_guard.drones.area import SiteArea
from relic_guard.drones.coverage import CameraConfig, CoverageConfig, coverage
from relic_guard.drones.errors import DroneError
from relic_guard.drones.feed import DroneRow, sample_of
from relic_guard.drones.flights import (
    AircraftKey,
    Flight,
    FlightEnd,
    FlightEnded,
    FlightStarted,
    FlightState,
    FlightTracker,
    FlightUpdate,
    StoredPoint,
)
from relic_guard.drones.geofence import FenceKind, GeofenceConfig, GeofenceEvent, GeofenceMonitor, SiteFence
from relic_guard.drones.osd import OsdSample
from relic_guard.drones.safety import SafetyEvent, SafetyKind, SafetyMonitor
from relic_guard.drones.zones_load import SiteZones, ZoneSite
from relic_guard.store import flight_store
from relic_guard.store.flight_store import FlightRecord

log = logging.getLogger(__name__)

MONITOR_NAME: Final = "drones"
PENDING_FILE: Final = "drone-flights.pending"
REJECTED_FILE: Final = "drone-flights.rejected"
RETRY_MIN_S: Final = 1.0
RETRY_MAX_S: Final = 60.0
AUDIENCES: Final = (Audience.MONITORING_CENTER,)


class AtEnd(StrEnum):
    """What a flight's end does to an alert it left open."""

    RESOLVE = "resolve"  # the condition cannot outlast the flight
    # Resolved when the aircraft came down on the right side of the fence, else held for a person.
    BY_POSITION = "by_position"
    HOLD = "hold"  # marked ended, open until a person closes it


@dataclass(frozen=True, slots=True)
class Condition:
    rule: str
    label: str
    severity: Severity
    at_end: AtEnd
    # Classification when the condition ends by itself.
    classification: Classification | None = None


CONDITIONS: Final[dict[FenceKind | SafetyKind, Condition]] = {
    FenceKind.OUTSIDE_ALLOWED_AREA: Condition(
        "drone.geofence", "无人机飞出允许区域", Severity.MAJOR, AtEnd.BY_POSITION
    ),
    # Zoned: one alert per zone (`drone.no_fly:<zone name>`).
    FenceKind.INSIDE_NO_FLY_ZONE: Condition("drone.no_fly", "无人机进入禁飞区", Severity.MAJOR, AtEnd.BY_POSITION),
    SafetyKind.FORCED_LANDING: Condition("drone.forced_landing", "无人机迫降", Severity.MAJOR, AtEnd.HOLD),
    SafetyKind.LOW_BATTERY: Condition("drone.low_battery", "无人机电量不足以返航", Severity.MINOR, AtEnd.RESOLVE),
    # The key the drone `link_lost` event rule uses too: one link loss, one alert.
    SafetyKind.LINK_LOST: Condition(
        "drone.link_lost", "无人机链路中断", Severity.MINOR, AtEnd.RESOLVE, Classification.DEVICE_FAULT
    ),
    SafetyKind.RETURN_TO_HOME: Condition("drone.return_to_home", "无人机自动返航", Severity.INFO, AtEnd.RESOLVE),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorSettings:
    patrol_coverage_share: float = 0.8
    geofence_margin_m: float = GeofenceConfig().margin_m
    camera_fov_deg: float = CameraConfig().horizontal_fov_deg

    @property
    def coverage(self) -> CoverageConfig:
        return CoverageConfig(camera=CameraConfig(horizontal_fov_deg=self.camera_fov_deg))


@dataclass(frozen=True, slots=True)
class LiveAircraft:
    """An aircraft in flight as the monitor last heard it."""

    site: str
    device: str
    state: FlightState
    flight_started_at: datetime
    takeoff_seen: bool
    last_heard: datetime
    lat: float | None
    lon: float | None
    # When that position was reported.
    position_at: datetime | None
    # Above the takeoff point (DJI `elevation`).
    height_m: float | None
    battery_pct: float | None
    speed_mps: float | None
    mode_code: int | None
    distance_m: float


@dataclass(slots=True)
class _Pending:
    """A closed flight on its way to the database."""

    flight: Flight | None
    end_reason: str
    takeoff_seen: bool
    record: FlightRecord | None = None


@dataclass(slots=True)
class _Seen:
    last: OsdSample
    position: OsdSample | None
    takeoff_seen: bool = True


# Pure parts ------------------------------------------------------------------------------------


def track_geojson(track: Sequence[Sequence[StoredPoint]]) -> dict[str, Any]:
    """The stored track as a GeoJSON MultiLineString; heights (metres above takeoff) as the third
    coordinate when every point has one. A segment of a single fix is no line and is left out."""
    with_height = all(point[2] is not None for segment in track for point in segment)
    lines = [
        [[lon, lat, height] if with_height else [lon, lat] for lon, lat, height in segment]
        for segment in track
        if len(segment) >= 2
    ]
    return {"type": "MultiLineString", "coordinates": lines}


def flight_record(
    flight: Flight,
    *,
    end_reason: str,
    takeoff_seen: bool,
    area: SiteArea | None,
    settings: MonitorSettings,
) -> FlightRecord:
    """The row of a closed flight: its figures, its track, and (when the site has a boundary) the
    share of the site its camera saw and the ground it did not. Pure; a few ms for a long flight."""
    share: float | None = None
    covered_m2: float | None = None
    uncovered: dict[str, Any] | None = None
    if area is not None:
        seen = coverage(area, [flight], settings.coverage)
        share, covered_m2, uncovered = min(1.0, max(0.0, seen.share)), seen.covered_m2, seen.uncovered
    site, device = flight.aircraft
    return FlightRecord(
        aircraft=device,
        site_id=site,
        started_at=flight.started_at,
        ended_at=flight.ended_at,
        duration_s=max(0.0, flight.duration_s),
        distance_m=round(flight.distance_m, 1),
        max_height_m=None if flight.max_height_m is None else round(flight.max_height_m, 1),
        battery_used_pct=flight.battery_used_pct,
        end_reason=end_reason,
        link_losses=flight.link_losses,
        takeoff_seen=takeoff_seen,
        coverage_share=None if share is None else round(share, 4),
        covered_m2=None if covered_m2 is None else round(covered_m2, 1),
        uncovered_geojson=uncovered,
        track_geojson=track_geojson(flight.track),
        counts_as_patrol=share is not None and share >= settings.patrol_coverage_share,
    )


def site_fences(
    areas: Mapping[str, SiteArea], zones: Mapping[str, SiteZones], settings: MonitorSettings
) -> dict[str, SiteFence]:
    """Each site's fence: its boundary grown by its margin, its extra allowed areas, its no-fly zones.
    A site whose zones cannot be built is left unfenced, with an error in the log (check-config
    refuses such a zones file, so this is a registry changed under a running configuration)."""
    fences: dict[str, SiteFence] = {}
    for site_id, area in areas.items():
        extra = zones.get(site_id)
        margin = settings.geofence_margin_m if extra is None or extra.margin_m is None else extra.margin_m
        try:
            fences[site_id] = SiteFence.build(
                area, GeofenceConfig(margin_m=margin),
                no_fly=extra.no_fly if extra is not None else (),
                extra_allowed_wkt=[item.wkt for item in extra.allowed] if extra is not None else (),
            )
        except DroneError as error:
            log.error("site %s: drone geofence not watched: %s", site_id, error)
    return fences


def site_areas(boundaries: Iterable[tuple[str, str | None]]) -> dict[str, SiteArea]:
    """`SiteArea` of every site with a usable boundary_wkt; the others are logged and left out."""
    areas: dict[str, SiteArea] = {}
    for site_id, wkt in boundaries:
        if wkt is None:
            continue
        try:
            areas[site_id] = SiteArea.from_wkt(site_id, wkt)
        except DroneError as error:
            log.error("site %s: no drone geofence or coverage: %s", site_id, error)
    return areas


# The monitor --------------------------------------------------------------------------------------


FlightWriter = Callable[[FlightRecord], int | None]


class DatabaseFlightWriter:
    """Writes one flight per call on a fresh connection (called in a worker thread)."""

    def __init__(self, url: str, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s

    def __call__(self, record: FlightRecord) -> int | None:
        with psycopg.connect(self.url, connect_timeout=max(1, int(self.connect_timeout_s)), autocommit=True) as conn:
            return flight_store.write(conn, record)


class DroneMonitor:
    """Flights, geofences and safety of every aircraft, on the daemon's loop (module docstring)."""

    def __init__(
        self,
        *,
        service: AlertService,
        areas: Mapping[str, SiteArea],
        zones: Mapping[str, SiteZones] | None = None,
        settings: MonitorSettings | None = None,
        writer: FlightWriter | None = None,
        spool_dir: Path | None = None,
        tracker: FlightTracker | None = None,
        safety: SafetyMonitor | None = None,
    ) -> None:
        self.service = service
        self.settings = settings or MonitorSettings()
        self.areas = dict(areas)
        self.fences = site_fences(self.areas, zones or {}, self.settings)
        self.tracker = tracker or FlightTracker()
        self.geofence = GeofenceMonitor(self.fences)
        self.safety = safety or SafetyMonitor()
        self.writer = writer
        self.spool_dir = spool_dir
        self._seen: dict[AircraftKey, _Seen] = {}
        # Aircraft whose latest sample found them on the ground: their next takeoff is seen.
        self._grounded: set[AircraftKey] = set()
        self._pending: deque[_Pending] = deque()
        self._wake: asyncio.Event | None = None
        self._failing = False
        self.flights_written = 0

    @classmethod
    def build(
        cls,
        service: AlertService,
        sites: Mapping[str, ZoneSite],
        *,
        zones: Mapping[str, SiteZones] | None,
        settings: MonitorSettings,
        database_url: str | None,
        spool_dir: Path | None,
        connect_timeout_s: float = 5.0,
    ) -> DroneMonitor:
        """The monitor for the registry's `sites` (their `boundary_wkt`), registered with `service`
        so that its tick runs with the alert engine's and the API finds it."""
        areas = site_areas((site_id, site.boundary_wkt) for site_id, site in sites.items())
        writer = DatabaseFlightWriter(database_url, connect_timeout_s) if database_url is not None else None
        monitor = cls(service=service, areas=areas, zones=zones, settings=settings, writer=writer, spool_dir=spool_dir)
        service.monitors[MONITOR_NAME] = monitor
        return monitor

    # Input (on the loop) ------------------------------------------------------------------------

    def on_samples(self, rows: Iterable[DroneRow]) -> None:
        """One worker batch's aircraft samples, in the order they were received."""
        now = self.service.clock()
        for row in rows:
            try:
                aircraft, sample = sample_of(row)
                self.observe(aircraft, sample, now)
            except Exception:  # one odd sample (or a bug) must not stop the others of the batch
                log.exception("drone sample of %s/%s not processed", row[0], row[1])

    def observe(self, aircraft: AircraftKey, sample: OsdSample, now: datetime) -> None:
        grounded_before = aircraft in self._grounded
        updates = self.tracker.observe(aircraft, sample, now)
        in_flight = self.tracker.in_flight(aircraft)
        seen = self._seen.get(aircraft)
        if seen is None:
            seen = self._seen[aircraft] = _Seen(sample, None)
        elif sample.ts > seen.last.ts:
            seen.last = sample
        if sample.has_position and (seen.position is None or sample.ts > seen.position.ts):
            seen.position = sample
        if self.tracker.state(aircraft) is FlightState.GROUNDED:
            self._grounded.add(aircraft)
        else:
            self._grounded.discard(aircraft)
        for fence_event in self.geofence.observe(aircraft, sample, in_flight=in_flight):
            self._on_fence(fence_event)
        for safety_event in self.safety.observe(aircraft, sample, in_flight=in_flight, now=now):
            self._on_safety(safety_event)
        self._on_updates(updates, grounded_before)

    def tick(self, now: datetime) -> None:
        """Silence and timeouts: lost links, flights given up (called by the alert service's tick)."""
        for event in self.safety.tick(now):
            self._on_safety(event)
        self._on_updates(self.tracker.tick(now), False)

    # Events → alerts and flights -------------------------------------------------------------------

    def _key(self, aircraft: AircraftKey, rule: str) -> AlertKey:
        return AlertKey(aircraft[0], aircraft[1], rule)

    def _raise(self, condition: Condition, key: AlertKey, where: str, detail: Mapping[str, object]) -> Alert:
        return self.service.raise_condition(
            key, category=Category.DRONE, severity=condition.severity, label=condition.label, where=where,
            audiences=AUDIENCES, detail=detail,
        )

    def _on_fence(self, event: GeofenceEvent) -> None:
        condition = CONDITIONS[event.kind]
        key = self._key(event.aircraft, zoned_rule(condition.rule, event.zone))
        if event.clear:
            self.service.end_condition(key, resolve=True, classification=condition.classification)
            return
        where = event.aircraft[1] if event.zone is None else f"{event.aircraft[1]} {event.zone}"
        self._raise(condition, key, where, {
            "at": event.ts.isoformat(), "lat": event.lat, "lon": event.lon,
            "distance_m": round(event.distance_m, 1), **({"zone": event.zone} if event.zone else {}),
        })

    def _on_safety(self, event: SafetyEvent) -> None:
        condition = CONDITIONS[event.kind]
        key = self._key(event.aircraft, condition.rule)
        if event.clear:
            self.service.end_condition(key, resolve=True, classification=condition.classification)
            return
        detail: dict[str, object] = {"at": event.ts.isoformat(), **dict(event.detail)}
        if event.lat is not None and event.lon is not None:
            detail.update(lat=event.lat, lon=event.lon)
        self._raise(condition, key, event.aircraft[1], detail)

    def _on_updates(self, updates: Sequence[FlightUpdate], grounded_before: bool) -> None:
        for update in updates:
            if isinstance(update, FlightStarted):
                seen = self._seen.get(update.aircraft)
                if seen is not None:
                    seen.takeoff_seen = grounded_before
                if not grounded_before:
                    log.info("drone %s/%s first heard in the air: a flight from %s, takeoff not seen",
                             *update.aircraft, update.at.isoformat())
            elif isinstance(update, FlightEnded):
                self._flight_ended(update.flight)

    def _flight_ended(self, flight: Flight) -> None:
        aircraft = flight.aircraft
        seen = self._seen.get(aircraft)
        takeoff_seen = seen.takeoff_seen if seen is not None else True
        end = flight.end
        if end is FlightEnd.LINK_TIMEOUT:
            # Nothing was heard for the whole flight timeout: the next flight starts afresh, and the
            # lost link stays open until the aircraft is heard again.
            self.safety.abandon(aircraft)
            self._grounded.discard(aircraft)
        self._settle(aircraft, seen.position if seen is not None else None, end)
        self._enqueue(_Pending(flight, end.value if end is not None else "interrupted", takeoff_seen))

    def _settle(self, aircraft: AircraftKey, position: OsdSample | None, end: FlightEnd | None) -> None:
        """What the flight left open, as each condition's `at_end` says (module docstring)."""
        fence = self.fences.get(aircraft[0])
        point = None
        if position is not None and position.lat is not None and position.lon is not None and fence is not None:
            point = fence.area.projection.forward(position.lon, position.lat)
        for kind, condition in CONDITIONS.items():
            if kind is SafetyKind.LINK_LOST and end is FlightEnd.LINK_TIMEOUT:
                continue  # the aircraft is missing: the alert stays as it is
            if kind is FenceKind.INSIDE_NO_FLY_ZONE:
                zones = [(zone.name, zone.polygon) for zone in fence.zones] if fence is not None else []
                for name, polygon in zones:
                    inside = point is None or bool(shapely.contains_xy(polygon, *point))
                    self.service.end_condition(self._key(aircraft, zoned_rule(condition.rule, name)),
                                                 resolve=not inside)
                continue
            resolve = condition.at_end is AtEnd.RESOLVE
            if condition.at_end is AtEnd.BY_POSITION:
                resolve = point is not None and fence is not None and bool(shapely.contains_xy(fence.allowed, *point))
            self.service.end_condition(self._key(aircraft, condition.rule), resolve=resolve,
                                         classification=condition.classification if resolve else None)

    # Reads --------------------------------------------------------------------------------------

    def live(self, sites: Iterable[str] | None = None) -> list[LiveAircraft]:
        """The aircraft in flight now (at `sites`; None: everywhere), by site and device."""
        wanted = None if sites is None else set(sites)
        found: list[LiveAircraft] = []
        for aircraft, seen in self._seen.items():
            if (wanted is not None and aircraft[0] not in wanted) or not self.tracker.in_flight(aircraft):
                continue
            flight = self.tracker.current(aircraft)
            if flight is None:
                continue
            position, last = seen.position, seen.last
            found.append(LiveAircraft(
                site=aircraft[0], device=aircraft[1], state=self.tracker.state(aircraft),
                flight_started_at=flight.started_at, takeoff_seen=seen.takeoff_seen, last_heard=last.ts,
                lat=position.lat if position is not None else None,
                lon=position.lon if position is not None else None,
                position_at=position.ts if position is not None else None,
                height_m=last.elevation_m, battery_pct=last.battery_pct, speed_mps=last.speed_mps,
                mode_code=last.mode_code, distance_m=round(flight.distance_m, 1),
            ))
        found.sort(key=lambda item: (item.site, item.device))
        return found

    @property
    def pending(self) -> int:
        """Closed flights not yet in the database."""
        return len(self._pending)

    # Storing (a task on the loop; the work in threads) -------------------------------------------

    def _enqueue(self, item: _Pending) -> None:
        self._pending.append(item)
        if self._wake is not None:
            self._wake.set()

    def _summarize(self, item: _Pending) -> FlightRecord:
        assert item.flight is not None
        area = self.areas.get(item.flight.aircraft[0])
        try:
            return flight_record(item.flight, end_reason=item.end_reason, takeoff_seen=item.takeoff_seen, area=area,
                                 settings=self.settings)
        except Exception:  # a flight is never lost to a geometry bug: stored without its coverage
            log.exception("coverage of the flight of %s/%s from %s failed; stored without it",
                          *item.flight.aircraft, item.flight.started_at.isoformat())
            return flight_record(item.flight, end_reason=item.end_reason, takeoff_seen=item.takeoff_seen, area=None,
                                 settings=self.settings)

    async def start(self) -> None:
        """Take up the flights saved at the last stop (the writer task writes them)."""
        self._wake = asyncio.Event()
        path = self._spool_path(PENDING_FILE)
        if path is None or not path.exists():
            return
        try:
            saved = flight_store.decode_pending(await asyncio.to_thread(path.read_bytes))
        except (OSError, ValueError) as error:
            log.error("cannot read the drone flights saved at the last stop (%s): %s", path, error)
            return
        for record in saved:
            self._pending.append(_Pending(None, record.end_reason, record.takeoff_seen, record))
        log.info("%d drone flight(s) saved at the last stop are being stored", len(saved))
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Write closed flights until `stop`, retrying while the database is unreachable."""
        if self._wake is None:
            self._wake = asyncio.Event()
        delay_s = RETRY_MIN_S
        while not stop.is_set():
            self._wake.clear()
            stored = await self.drain()
            delay_s = RETRY_MIN_S if stored else min(delay_s * 2, RETRY_MAX_S)
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waits, timeout=None if stored else delay_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waits:
                    waiter.cancel()

    async def drain(self) -> bool:
        """Write what is pending, oldest first; False when the database could not be reached."""
        while self._pending:
            item = self._pending[0]
            if item.record is None:
                item.record = await asyncio.to_thread(self._summarize, item)
                item.flight = None  # the record is all that is kept from here on
            if self.writer is None:
                return False
            try:
                await asyncio.to_thread(self.writer, item.record)
            except psycopg.OperationalError as error:
                if not self._failing:
                    log.error("drone flights cannot be stored yet (%s); %d kept in memory, retrying",
                              _first_line(error), len(self._pending))
                self._failing = True
                return False
            except psycopg.Error as error:
                # Refused for what it holds, not for an outage: kept on disk, not retried for ever.
                log.error("drone flight of %s/%s from %s refused by the database (%s); set aside in %s",
                          item.record.site_id, item.record.aircraft, item.record.started_at.isoformat(),
                          _first_line(error), self._spool_path(REJECTED_FILE))
                await asyncio.to_thread(self._set_aside, item.record)
            else:
                self.flights_written += 1
            if self._failing:
                log.info("drone flights are being stored again")
                self._failing = False
            self._pending.popleft()
        path = self._spool_path(PENDING_FILE)
        if path is not None and path.exists():
            with contextlib.suppress(OSError):
                path.unlink()
        return True

    async def close(self, timeout_s: float = 10.0) -> int:
        """At exit: close the flights in the air as `interrupted`, write what can be written within
        `timeout_s`, save the rest for the next start. Returns how many flights were saved."""
        for aircraft, seen in list(self._seen.items()):
            flight = self.tracker.current(aircraft) if self.tracker.in_flight(aircraft) else None
            if flight is not None:
                self._pending.append(_Pending(flight, "interrupted", seen.takeoff_seen))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), timeout_s)
        if not self._pending:
            return 0
        left = list(self._pending)
        records = await asyncio.to_thread(
            lambda: [item.record if item.record is not None else self._summarize(item) for item in left]
        )
        path = self._spool_path(PENDING_FILE)
        if path is None:
            log.error("%d drone flight(s) could not be stored and there is no spool folder to keep them",
                      len(records))
            return 0
        await asyncio.to_thread(_write_atomically, path, flight_store.encode_pending(records))
        log.warning("%d drone flight(s) not stored yet; saved to %s for the next start", len(records), path)
        return len(records)

    def _spool_path(self, name: str) -> Path | None:
        return None if self.spool_dir is None else self.spool_dir / name

    def _set_aside(self, record: FlightRecord) -> None:
        path = self._spool_path(REJECTED_FILE)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as out:
            out.write(flight_store.encode_pending([record]) + b"\n")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
