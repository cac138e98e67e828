"""Safety of aircraft in flight: battery against the way home, lost links, returns and forced landings.

`SafetyMonitor.observe(aircraft, sample, in_flight=…, now=…)` and `tick(now)` return
`SafetyEvent`s (the caller passes the tracker's `in_flight`; nothing here reads the clock):

- `LOW_BATTERY`: the battery left is below what the way home needs, namely
  reserve_pct + drain × (home_distance / return speed + height / descent speed), where
  the drain is this flight's own (battery used / time in the air, once `drain_window_s` have
  passed: wind, cold and payload all show in it; `nominal_drain_pct_per_min` before that) and
  the return speed is this flight's mean cruising speed (fixes faster than
  `cruise_min_speed_mps`; `default_return_speed_mps` before there is one). The home distance
  is DJI's `home_distance`, or the distance from the first fix of the flight when the OSD
  lacks it. Raised once; cleared when the battery is `battery_hysteresis_pct` above the need
  again (the aircraft got closer to home), or at landing.
- `LINK_LOST`: no contact for `link_lost_after_s` while in flight (`LinkWatch`, found by
  `tick`), or mode_code 14 "not connected" reported by the dock or remote controller (at once).
  Cleared by the next sample that is not mode 14, in the air or on the ground, also after the
  caller `abandon`ed the flight (the tracker's flight timeout).
- `RETURN_TO_HOME`: the aircraft entered mode_code 9 (auto return). A dock's wayline mission
  ends with a return too, so this is a notice; the battery and link events beside it say
  whether something forced it.
- `FORCED_LANDING`: the aircraft entered mode_code 11 (forced landing) or 12 (landing on three
  propellers): it is coming down where it is, possibly on the site, and someone must go.

Each event carries the last known position (None when no fix came this flight). A sample not
later than the last one judged for the aircraft in flight (an MQTT redelivery) is passed over,
as the tracker does, so a replay cannot raise a return home twice.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from relic_guard.drones.errors import InvalidDroneConfig
from relic_guard.drones.flights import AircraftKey
from relic_guard.drones.osd import MODE_FORCED_LANDING, MODE_NOT_CONNECTED, MODE_RETURN_TO_HOME, OsdSample
from relic_guard.drones.projection import LocalProjection


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyConfig:
    # Battery to be left on landing, on top of what the way home takes.
    reserve_pct: float = 15.0
    battery_hysteresis_pct: float = 3.0
    # Drain assumed until the flight has shown its own (DJI enterprise aircraft: 30–45 min per battery).
    nominal_drain_pct_per_min: float = 3.0
    drain_window_s: float = 120.0
    default_return_speed_mps: float = 10.0
    cruise_min_speed_mps: float = 2.0
    descent_speed_mps: float = 3.0
    # No OSD for this long while in flight: link lost (0.5 Hz OSD: 5 missed samples).
    link_lost_after_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("reserve_pct", "battery_hysteresis_pct", "cruise_min_speed_mps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidDroneConfig(f"safety.{name} = {value!r}: must be zero or more")
        for name in (
            "nominal_drain_pct_per_min",
            "drain_window_s",
            "default_return_speed_mps",
            "descent_speed_mps",
            "link_lost_after_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidDroneConfig(f"safety.{name} = {value!r}: must be positive")


class SafetyKind(StrEnum):
    LOW_BATTERY = "low_battery"
    # The CONTRACT §1 drone event type of the same meaning.
    LINK_LOST = "link_lost"
    RETURN_TO_HOME = "return_to_home"
    FORCED_LANDING = "forced_landing"


@dataclass(frozen=True, slots=True)
class SafetyEvent:
    kind: SafetyKind
    aircraft: AircraftKey
    ts: datetime
    lat: float | None
    lon: float | None
    # The condition has ended (LOW_BATTERY, LINK_LOST).
    clear: bool = False
    # Figures behind the event: battery_pct, needed_pct, home_distance_m, silent_s, mode_code.
    detail: Mapping[str, float] = field(default_factory=dict)


class LinkWatch:
    """Aircraft in flight gone silent: `heard` at every sample, `due(now)` names those silent for
    `timeout_s`, once per silence. The watched aircraft sit in an OrderedDict, least recently
    heard first, so `heard` is O(1) and `due` looks only at the front: O(1 + aircraft declared)."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._last: OrderedDict[AircraftKey, float] = OrderedDict()
        self._lost: set[AircraftKey] = set()

    def heard(self, aircraft: AircraftKey, now: datetime) -> bool:
        """Note contact; True when the aircraft had been declared lost (its link is back)."""
        self._last[aircraft] = now.timestamp()
        self._last.move_to_end(aircraft)
        if aircraft in self._lost:
            self._lost.discard(aircraft)
            return True
        return False

    def lost(self, aircraft: AircraftKey) -> bool:
        """Declare the link lost now (the gateway said so); False when it already was."""
        self._last.pop(aircraft, None)
        if aircraft in self._lost:
            return False
        self._lost.add(aircraft)
        return True

    def forget(self, aircraft: AircraftKey) -> None:
        """Stop watching (the aircraft landed)."""
        self._last.pop(aircraft, None)
        self._lost.discard(aircraft)

    def is_lost(self, aircraft: AircraftKey) -> bool:
        return aircraft in self._lost

    def next_due(self) -> datetime | None:
        """When the next aircraft falls due if nothing is heard from it, or None."""
        for last in self._last.values():
            return datetime.fromtimestamp(last + self.timeout_s, UTC)
        return None

    def due(self, now: datetime) -> list[tuple[AircraftKey, float]]:
        """(aircraft, seconds silent) of the aircraft that have just fallen silent for timeout_s."""
        cutoff = now.timestamp() - self.timeout_s
        found: list[tuple[AircraftKey, float]] = []
        while self._last:
            aircraft, last = next(iter(self._last.items()))
            if last > cutoff:
                break
            del self._last[aircraft]
            self._lost.add(aircraft)
            found.append((aircraft, now.timestamp() - last))
        return found


class _Flight:
    __slots__ = (
        "battery_start",
        "home",
        "last_ts",
        "lat",
        "lon",
        "low_battery",
        "mode_code",
        "since",
        "speed_n",
        "speed_sum",
    )

    def __init__(self, since: datetime) -> None:
        self.since = since
        self.last_ts = since
        self.battery_start: float | None = None
        # A plane centred on the first fix: home, when the OSD gives no home distance.
        self.home: LocalProjection | None = None
        self.lat: float | None = None
        self.lon: float | None = None
        self.mode_code: int | None = None
        self.speed_sum = 0.0
        self.speed_n = 0
        self.low_battery = False


class SafetyMonitor:
    """Safety events of aircraft in flight (see the module docstring)."""

    def __init__(self, config: SafetyConfig | None = None) -> None:
        self.config = config or SafetyConfig()
        self.links = LinkWatch(self.config.link_lost_after_s)
        self._flights: dict[AircraftKey, _Flight] = {}

    def observe(self, aircraft: AircraftKey, sample: OsdSample, *, in_flight: bool, now: datetime) -> list[SafetyEvent]:
        flight = self._flights.get(aircraft)
        events: list[SafetyEvent] = []
        if flight is not None:
            if sample.ts <= flight.last_ts:  # redelivered or overtaken: already judged
                return events
            flight.last_ts = sample.ts
        code = sample.mode_code
        if code == MODE_NOT_CONNECTED:
            if flight is not None and self.links.lost(aircraft):
                events.append(
                    self._event(SafetyKind.LINK_LOST, aircraft, sample.ts, flight, detail={"mode_code": float(code)})
                )
            return events
        if not in_flight:
            if flight is None:
                if self.links.is_lost(aircraft):  # heard again, on the ground, after an abandoned flight
                    self.links.forget(aircraft)
                    events.append(self._event(SafetyKind.LINK_LOST, aircraft, sample.ts, None, clear=True))
                return events
            # Landed (or reappeared on the ground after a lost link): every condition has ended.
            del self._flights[aircraft]
            if self.links.is_lost(aircraft):
                events.append(self._event(SafetyKind.LINK_LOST, aircraft, sample.ts, flight, clear=True))
            self.links.forget(aircraft)
            if flight.low_battery:
                events.append(self._event(SafetyKind.LOW_BATTERY, aircraft, sample.ts, flight, clear=True))
            return events
        if flight is None:
            flight = self._flights[aircraft] = _Flight(sample.ts)
        if self.links.heard(aircraft, now):
            events.append(self._event(SafetyKind.LINK_LOST, aircraft, sample.ts, flight, clear=True))
        if sample.lat is not None and sample.lon is not None:
            flight.lat, flight.lon = sample.lat, sample.lon
            if flight.home is None:
                flight.home = LocalProjection(sample.lat, sample.lon)
        if code is not None and code != flight.mode_code:
            if code == MODE_RETURN_TO_HOME:
                events.append(
                    self._event(SafetyKind.RETURN_TO_HOME, aircraft, sample.ts, flight, detail=_figures(sample))
                )
            elif code in MODE_FORCED_LANDING:
                events.append(
                    self._event(SafetyKind.FORCED_LANDING, aircraft, sample.ts, flight, detail=_figures(sample))
                )
            flight.mode_code = code
        speed = sample.speed_mps
        if speed is not None and speed >= self.config.cruise_min_speed_mps:
            flight.speed_sum += speed
            flight.speed_n += 1
        battery = sample.battery_pct
        if battery is not None:
            if flight.battery_start is None:
                flight.battery_start = battery
            event = self._battery(aircraft, sample, flight, battery)
            if event is not None:
                events.append(event)
        return events

    def tick(self, now: datetime) -> list[SafetyEvent]:
        """LINK_LOST for aircraft in flight silent for link_lost_after_s."""
        events: list[SafetyEvent] = []
        for aircraft, silent_s in self.links.due(now):
            flight = self._flights.get(aircraft)
            events.append(self._event(SafetyKind.LINK_LOST, aircraft, now, flight, detail={"silent_s": silent_s}))
        return events

    def abandon(self, aircraft: AircraftKey) -> None:
        """The tracker gave the aircraft's flight up (no contact for its flight timeout): that
        flight's figures (start, battery drain, home, cruising speed) must not carry into the next
        one, or the way home would be judged by an hour-long "flight". The link stays declared
        lost, so the first sample heard again, in the air or on the ground, clears it."""
        self._flights.pop(aircraft, None)

    def needed_pct(self, aircraft: AircraftKey, sample: OsdSample) -> float | None:
        """Battery the way home takes from `sample` on, reserve included (None: unknown)."""
        flight = self._flights.get(aircraft)
        return None if flight is None else self._needed(sample, flight)

    def _needed(self, sample: OsdSample, flight: _Flight) -> float | None:
        config = self.config
        distance = sample.home_distance_m
        if distance is None:
            if flight.home is None or sample.lat is None or sample.lon is None:
                return None
            distance = math.hypot(*flight.home.forward(sample.lon, sample.lat))
        elapsed = (sample.ts - flight.since).total_seconds()
        drain_per_s = config.nominal_drain_pct_per_min / 60
        if (
            elapsed >= config.drain_window_s
            and flight.battery_start is not None
            and sample.battery_pct is not None
            and flight.battery_start > sample.battery_pct
        ):
            drain_per_s = (flight.battery_start - sample.battery_pct) / elapsed
        speed = flight.speed_sum / flight.speed_n if flight.speed_n else config.default_return_speed_mps
        height = max(0.0, sample.elevation_m or 0.0)
        return config.reserve_pct + drain_per_s * (distance / speed + height / config.descent_speed_mps)

    def _battery(self, aircraft: AircraftKey, sample: OsdSample, flight: _Flight, battery: float) -> SafetyEvent | None:
        needed = self._needed(sample, flight)
        if needed is None:
            return None
        if not flight.low_battery and battery < needed:
            flight.low_battery = True
            clear = False
        elif flight.low_battery and battery >= needed + self.config.battery_hysteresis_pct:
            flight.low_battery = False
            clear = True
        else:
            return None
        detail = {"battery_pct": battery, "needed_pct": round(needed, 1)}
        if sample.home_distance_m is not None:
            detail["home_distance_m"] = sample.home_distance_m
        return self._event(SafetyKind.LOW_BATTERY, aircraft, sample.ts, flight, clear=clear, detail=detail)

    @staticmethod
    def _event(
        kind: SafetyKind,
        aircraft: AircraftKey,
        ts: datetime,
        flight: _Flight | None,
        *,
        clear: bool = False,
        detail: Mapping[str, float] | None = None,
    ) -> SafetyEvent:
        lat = None if flight is None else flight.lat
        lon = None if flight is None else flight.lon
        return SafetyEvent(kind, aircraft, ts, lat, lon, clear, detail or {})


def _figures(sample: OsdSample) -> dict[str, float]:
    figures: dict[str, float] = {}
    if sample.battery_pct is not None:
        figures["battery_pct"] = sample.battery_pct
    if sample.home_distance_m is not None:
        figures["home_distance_m"] = sample.home_distance_m
    return figures
