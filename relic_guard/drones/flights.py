"""Flights from OSD samples: takeoff to landing, per aircraft, with the track flown.

`FlightTracker.observe(aircraft, sample, now)` is fed every OSD sample of every aircraft
(0.5 Hz from a dock); `tick(now)` is called periodically. Both return what happened: a
`FlightStarted` at takeoff, a `FlightEnded` carrying the finished `Flight` (duration, distance,
maximum height above the takeoff point, battery used, the track). Nothing here reads the clock
or does I/O. `aircraft` is the registry's (site, device) pair.

Each aircraft is in one `FlightState`, moved by a transition table (`TRANSITIONS`) over what
was observed (`Seen`):
- a sample's mode_code says GROUND, AIR or NO_LINK (14 "not connected"; see `osd.MODE_PHASES`);
  a sample without a mode_code, or with one DJI added after this table, is judged by height
  above the takeoff point and horizontal speed (`airborne_min_height_m`, `airborne_min_speed_mps`);
- a tick that finds an aircraft in flight without contact (no sample other than NO_LINK) for
  `link_lost_after_s` sees SILENCE, and for `flight_timeout_s` sees TIMEOUT.

    state \\ seen   GROUND              AIR                NO_LINK / SILENCE     TIMEOUT
    grounded       grounded            airborne: takeoff  grounded              grounded
    airborne       grounded: land      airborne: extend   link_lost: lose link  grounded: abandon
    link_lost      grounded: land      airborne: resume   link_lost             grounded: abandon
                   (unseen)

A flight whose link was lost is therefore closed when the aircraft reappears on the ground
(`FlightEnd.LANDED_UNSEEN`) or after `flight_timeout_s` without contact (`LINK_TIMEOUT`); in
both cases its end time is the last contact in the air, the last instant the record can vouch
for. If it reappears in the air the flight goes on in a new track segment.

Tracks: samples with a position become `TrackPoint`s, in segments split wherever the link was
lost or two fixes are more than `gap_split_s` apart, so that nothing later draws (or counts as
seen by the camera) a straight line across a stretch nobody observed. The distance flown does
include the straight line across such a gap: the aircraft flew at least that far. Distances
are measured in a transverse Mercator plane centred on the takeoff point (`projection`), the
same construction as a site's plane. For storage, `Flight.track` holds each segment simplified
(Douglas–Peucker) with `track_tolerance_m`, as [lon, lat, height above takeoff] lists.

Samples are taken in time order per aircraft: one not later than the last taken (an MQTT
redelivery, a message overtaken by a newer one) is passed over, so a replay cannot fold a
flight back on itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, NamedTuple

import numpy as np
import shapely

from relic_guard.drones.errors import InvalidDroneConfig
from relic_guard.drones.osd import ModePhase, OsdSample
from relic_guard.drones.projection import LocalProjection

AircraftKey = tuple[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlightConfig:
    # No contact for this long while in flight: the link is taken as lost (0.5 Hz OSD: 5 missed samples).
    link_lost_after_s: float = 10.0
    # No contact for this long: the flight is closed as it stands. Longer than an aircraft stays up
    # on one battery (a Matrice 350 RTK flies 55 min), so an aircraft that flew its wayline on
    # without link is not cut short.
    flight_timeout_s: float = 3600.0
    # Fixes further apart than this start a new track segment.
    gap_split_s: float = 10.0
    # Without a known mode_code: airborne above this height over the takeoff point, or faster than
    # this horizontally.
    airborne_min_height_m: float = 2.0
    airborne_min_speed_mps: float = 1.0
    # Douglas–Peucker tolerance of the stored track.
    track_tolerance_m: float = 1.0
    # Memory bound per flight in progress: beyond this many points, every other one is dropped
    # (a tethered drone can stay up for hours; 10,000 points are 5.5 h at 0.5 Hz).
    max_track_points: int = 10_000

    def __post_init__(self) -> None:
        for name in ("link_lost_after_s", "flight_timeout_s", "gap_split_s", "track_tolerance_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidDroneConfig(f"flights.{name} = {value!r}: must be a positive number")
        for name in ("airborne_min_height_m", "airborne_min_speed_mps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidDroneConfig(f"flights.{name} = {value!r}: must be zero or more")
        if self.flight_timeout_s <= self.link_lost_after_s:
            raise InvalidDroneConfig("flights.flight_timeout_s must be longer than flights.link_lost_after_s")
        if self.max_track_points < 100:
            raise InvalidDroneConfig(f"flights.max_track_points = {self.max_track_points}: must be at least 100")


class FlightState(StrEnum):
    GROUNDED = "grounded"
    AIRBORNE = "airborne"
    LINK_LOST = "link_lost"


class Seen(StrEnum):
    GROUND = "ground"
    AIR = "air"
    NO_LINK = "no_link"
    SILENCE = "silence"
    TIMEOUT = "timeout"


class Step(StrEnum):
    NONE = "none"
    TAKEOFF = "takeoff"
    EXTEND = "extend"
    LOSE_LINK = "lose_link"
    RESUME = "resume"
    LAND = "land"
    LAND_UNSEEN = "land_unseen"
    ABANDON = "abandon"


_G, _A, _L = FlightState.GROUNDED, FlightState.AIRBORNE, FlightState.LINK_LOST
TRANSITIONS: Final[dict[tuple[FlightState, Seen], tuple[FlightState, Step]]] = {
    (_G, Seen.GROUND): (_G, Step.NONE),
    (_G, Seen.AIR): (_A, Step.TAKEOFF),
    (_G, Seen.NO_LINK): (_G, Step.NONE),
    (_G, Seen.SILENCE): (_G, Step.NONE),
    (_G, Seen.TIMEOUT): (_G, Step.NONE),
    (_A, Seen.GROUND): (_G, Step.LAND),
    (_A, Seen.AIR): (_A, Step.EXTEND),
    (_A, Seen.NO_LINK): (_L, Step.LOSE_LINK),
    (_A, Seen.SILENCE): (_L, Step.LOSE_LINK),
    (_A, Seen.TIMEOUT): (_G, Step.ABANDON),
    (_L, Seen.GROUND): (_G, Step.LAND_UNSEEN),
    (_L, Seen.AIR): (_A, Step.RESUME),
    (_L, Seen.NO_LINK): (_L, Step.NONE),
    (_L, Seen.SILENCE): (_L, Step.NONE),
    (_L, Seen.TIMEOUT): (_G, Step.ABANDON),
}


class FlightEnd(StrEnum):
    LANDED = "landed"
    # The link was lost in the air and the aircraft next reported itself on the ground.
    LANDED_UNSEEN = "landed_unseen"
    # The link was lost and no contact came back within flight_timeout_s.
    LINK_TIMEOUT = "link_timeout"


class TrackPoint(NamedTuple):
    """One fix of a flight (a NamedTuple: hundreds of thousands live at once across a fleet)."""

    ts: datetime
    lon: float
    lat: float
    # Above the takeoff point; None when the OSD gave neither elevation nor a usable height.
    height_m: float | None
    speed_mps: float | None
    mode_code: int | None
    gimbal_pitch_deg: float | None


# [lon, lat, height above takeoff or None]
StoredPoint = tuple[float, float, float | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Flight:
    """One flight, finished (`end` set) or in progress (`end` None: a snapshot)."""

    aircraft: AircraftKey
    started_at: datetime
    # Landing, or the last contact in the air (in progress, or when the landing was not seen).
    ended_at: datetime
    end: FlightEnd | None
    distance_m: float
    max_height_m: float | None
    battery_start_pct: float | None
    battery_end_pct: float | None
    # How often contact was lost in the air.
    link_losses: int
    # The fixes, in segments split at link losses and gaps (what coverage is computed from).
    segments: tuple[tuple[TrackPoint, ...], ...]
    # The same, simplified for storage.
    track: tuple[tuple[StoredPoint, ...], ...]

    @property
    def duration_s(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def battery_used_pct(self) -> float | None:
        if self.battery_start_pct is None or self.battery_end_pct is None:
            return None
        return self.battery_start_pct - self.battery_end_pct


@dataclass(frozen=True, slots=True)
class FlightStarted:
    aircraft: AircraftKey
    at: datetime
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class FlightEnded:
    flight: Flight


FlightUpdate = FlightStarted | FlightEnded


class _FlightInProgress:
    __slots__ = (
        "battery_end",
        "battery_start",
        "distance_m",
        "last_air_ts",
        "last_xy",
        "link_losses",
        "max_height",
        "new_segment",
        "points",
        "projection",
        "segments",
        "started_at",
    )

    def __init__(self, started_at: datetime) -> None:
        self.started_at = started_at
        self.last_air_ts = started_at
        self.projection: LocalProjection | None = None
        self.segments: list[list[TrackPoint]] = []
        self.points = 0
        self.new_segment = True
        self.last_xy: tuple[float, float] | None = None
        self.distance_m = 0.0
        self.max_height: float | None = None
        self.battery_start: float | None = None
        self.battery_end: float | None = None
        self.link_losses = 0


class _Aircraft:
    __slots__ = ("flight", "ground_height_m", "last_contact", "last_ts", "state")

    def __init__(self) -> None:
        self.state = FlightState.GROUNDED
        self.last_ts: datetime | None = None
        # `now` (epoch seconds) of the last sample that was not NO_LINK.
        self.last_contact = -math.inf
        # `height` last reported on the ground: the reference when `elevation` is missing.
        self.ground_height_m: float | None = None
        self.flight: _FlightInProgress | None = None


class FlightTracker:
    """Flights of many aircraft from their OSD samples (see the module docstring)."""

    def __init__(self, config: FlightConfig | None = None) -> None:
        self.config = config or FlightConfig()
        self._aircraft: dict[AircraftKey, _Aircraft] = {}
        self._in_flight: dict[AircraftKey, _Aircraft] = {}

    # Queries -----------------------------------------------------------------------------

    def state(self, aircraft: AircraftKey) -> FlightState:
        entry = self._aircraft.get(aircraft)
        return FlightState.GROUNDED if entry is None else entry.state

    def in_flight(self, aircraft: AircraftKey) -> bool:
        """Airborne, or in a flight whose link is lost (the aircraft is presumed still up)."""
        return aircraft in self._in_flight

    def current(self, aircraft: AircraftKey) -> Flight | None:
        """A snapshot of the flight in progress (for a live map), or None on the ground."""
        entry = self._in_flight.get(aircraft)
        if entry is None or entry.flight is None:
            return None
        return self._record(aircraft, entry.flight, None, entry.flight.last_air_ts)

    def in_flight_count(self) -> int:
        return len(self._in_flight)

    # Input -------------------------------------------------------------------------------

    def observe(self, aircraft: AircraftKey, sample: OsdSample, now: datetime) -> list[FlightUpdate]:
        entry = self._aircraft.get(aircraft)
        if entry is None:
            entry = self._aircraft[aircraft] = _Aircraft()
        if entry.last_ts is not None and sample.ts <= entry.last_ts:
            return []
        entry.last_ts = sample.ts
        seen = self._seen(entry, sample)
        if seen is not Seen.NO_LINK:
            entry.last_contact = now.timestamp()
        if seen is Seen.GROUND and sample.height_m is not None:
            entry.ground_height_m = sample.height_m
        state, step = TRANSITIONS[(entry.state, seen)]
        entry.state = state
        return self._apply(aircraft, entry, step, sample)

    def tick(self, now: datetime) -> list[FlightUpdate]:
        """Silence and timeouts of aircraft in flight; costs O(aircraft in flight)."""
        at = now.timestamp()
        config = self.config
        updates: list[FlightUpdate] = []
        for aircraft, entry in list(self._in_flight.items()):
            silent_s = at - entry.last_contact
            if silent_s >= config.flight_timeout_s:
                seen = Seen.TIMEOUT
            elif silent_s >= config.link_lost_after_s:
                seen = Seen.SILENCE
            else:
                continue
            state, step = TRANSITIONS[(entry.state, seen)]
            entry.state = state
            updates += self._apply(aircraft, entry, step, None)
        return updates

    # Inside ------------------------------------------------------------------------------

    def _seen(self, entry: _Aircraft, sample: OsdSample) -> Seen:
        phase = sample.phase
        if phase is ModePhase.AIR:
            return Seen.AIR
        if phase is ModePhase.GROUND:
            return Seen.GROUND
        if phase is ModePhase.NO_LINK:
            return Seen.NO_LINK
        config = self.config
        height = self._height_above_takeoff(entry, sample)
        if (height is not None and height > config.airborne_min_height_m) or (
            sample.speed_mps is not None and sample.speed_mps > config.airborne_min_speed_mps
        ):
            return Seen.AIR
        if height is None and sample.speed_mps is None:
            # Nothing to judge by: the aircraft is where it was.
            return Seen.GROUND if entry.state is FlightState.GROUNDED else Seen.AIR
        return Seen.GROUND

    @staticmethod
    def _height_above_takeoff(entry: _Aircraft, sample: OsdSample) -> float | None:
        if sample.elevation_m is not None:
            return sample.elevation_m
        if sample.height_m is not None and entry.ground_height_m is not None:
            return sample.height_m - entry.ground_height_m
        return None

    def _apply(
        self, aircraft: AircraftKey, entry: _Aircraft, step: Step, sample: OsdSample | None
    ) -> list[FlightUpdate]:
        if step is Step.NONE:
            return []
        if step is Step.TAKEOFF:
            assert sample is not None
            entry.flight = _FlightInProgress(sample.ts)
            self._in_flight[aircraft] = entry
            self._add(entry, entry.flight, sample)
            return [FlightStarted(aircraft, sample.ts, sample.lat, sample.lon)]
        flight = entry.flight
        if flight is None:  # cannot happen: every in-flight state was entered through TAKEOFF
            return []
        if step is Step.EXTEND or step is Step.RESUME:
            assert sample is not None
            self._add(entry, flight, sample)
            return []
        if step is Step.LOSE_LINK:
            flight.link_losses += 1
            flight.new_segment = True
            return []
        # The flight ends.
        if step is Step.LAND:
            assert sample is not None
            self._add(entry, flight, sample, airborne=False)
            record = self._record(aircraft, flight, FlightEnd.LANDED, sample.ts)
        elif step is Step.LAND_UNSEEN:
            record = self._record(aircraft, flight, FlightEnd.LANDED_UNSEEN, flight.last_air_ts)
        else:
            record = self._record(aircraft, flight, FlightEnd.LINK_TIMEOUT, flight.last_air_ts)
        entry.flight = None
        del self._in_flight[aircraft]
        return [FlightEnded(record)]

    def _add(self, entry: _Aircraft, flight: _FlightInProgress, sample: OsdSample, *, airborne: bool = True) -> None:
        if airborne:
            flight.last_air_ts = sample.ts
        if sample.battery_pct is not None:
            if flight.battery_start is None:
                flight.battery_start = sample.battery_pct
            flight.battery_end = sample.battery_pct
        height = self._height_above_takeoff(entry, sample)
        if height is not None and (flight.max_height is None or height > flight.max_height):
            flight.max_height = height
        lat, lon = sample.lat, sample.lon
        if lat is None or lon is None:
            return
        if flight.projection is None:
            flight.projection = LocalProjection(lat, lon)
        xy = flight.projection.forward(lon, lat)
        if flight.last_xy is not None:
            flight.distance_m += math.hypot(xy[0] - flight.last_xy[0], xy[1] - flight.last_xy[1])
        flight.last_xy = xy
        point = TrackPoint(sample.ts, lon, lat, height, sample.speed_mps, sample.mode_code, sample.gimbal_pitch_deg)
        segments = flight.segments
        if (
            flight.new_segment
            or not segments
            or (sample.ts - segments[-1][-1].ts).total_seconds() > self.config.gap_split_s
        ):
            segments.append([point])
            flight.new_segment = False
        else:
            segments[-1].append(point)
        flight.points += 1
        if flight.points > self.config.max_track_points:
            _thin(flight)

    def _record(
        self, aircraft: AircraftKey, flight: _FlightInProgress, end: FlightEnd | None, ended_at: datetime
    ) -> Flight:
        segments = tuple(tuple(segment) for segment in flight.segments)
        return Flight(
            aircraft=aircraft,
            started_at=flight.started_at,
            ended_at=ended_at,
            end=end,
            distance_m=flight.distance_m,
            max_height_m=flight.max_height,
            battery_start_pct=flight.battery_start,
            battery_end_pct=flight.battery_end,
            link_losses=flight.link_losses,
            segments=segments,
            track=simplify_track(segments, flight.projection, self.config.track_tolerance_m),
        )


def _thin(flight: _FlightInProgress) -> None:
    """Halve the points of a very long flight, keeping each segment's ends."""
    for i, segment in enumerate(flight.segments):
        if len(segment) > 2:
            flight.segments[i] = [*segment[:-1:2], segment[-1]]
    flight.points = sum(len(segment) for segment in flight.segments)


def simplify_track(
    segments: tuple[tuple[TrackPoint, ...], ...], projection: LocalProjection | None, tolerance_m: float
) -> tuple[tuple[StoredPoint, ...], ...]:
    """Each segment as [lon, lat, height] points, Douglas–Peucker simplified in metres (heights
    are kept at the points kept). `projection` is any plane near the track."""
    if projection is None:
        return ()
    stored: list[tuple[StoredPoint, ...]] = []
    for segment in segments:
        if len(segment) < 3:
            stored.append(tuple((p.lon, p.lat, p.height_m) for p in segment))
            continue
        lon = np.fromiter((p.lon for p in segment), dtype=np.float64, count=len(segment))
        lat = np.fromiter((p.lat for p in segment), dtype=np.float64, count=len(segment))
        height = np.fromiter(
            (math.nan if p.height_m is None else p.height_m for p in segment), dtype=np.float64, count=len(segment)
        )
        x, y = projection.forward_xy(lon, lat)
        line = shapely.linestrings(x, y, height)
        kept = shapely.get_coordinates(shapely.simplify(line, tolerance_m), include_z=True)
        out_lon, out_lat = projection.inverse_xy(kept[:, 0], kept[:, 1])
        stored.append(
            tuple(
                (round(float(a), 7), round(float(b), 7), None if math.isnan(h) else round(float(h), 1))
                for a, b, h in zip(out_lon, out_lat, kept[:, 2], strict=True)
            )
        )
    return tuple(stored)
