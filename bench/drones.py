"""The drone core under a fleet's load, and the coverage of one long flight against its budget.

    python bench/drones.py [--drones 500] [--minutes 20] [--coverage-runs 20] [--seed 7]

Part 1, the stream: `drones` aircraft (two per site, sites shaped like the 1 km² 大辛庄 boundary
and spread over a grid around Jinan) report OSD at 0.5 Hz, phases spread over the 2 s period,
for `minutes` of simulated time on a simulated clock (no sleeping). Each flies a lawn-mower
over its site at 80 m after half a minute on its dock; one in ten flies out past the fence
and back, one in ten loses its link for 60 s, and all return home under mode 9 at the end.
Every sample goes through `sample_from_telemetry` (reading the adapter's values dict), then
`FlightTracker.observe`, `GeofenceMonitor.observe` and `SafetyMonitor.observe`; the tracker and
the safety monitor tick once per simulated second. Building the `Telemetry` records is not
timed (the adapter's own cost is in bench/adapters.py; its µs per OSD message is printed here
for scale). Printed: µs per sample for the drone core against the baseline of reading the dict
alone in the same run (compare the ratio across machines, not the µs), the tick cost, and the
CPU the whole fleet needs per second of wall time. The feed path is timed beside it: what a
telemetry worker does per sample (`feed.drone_row`), the pickling both ends of the multiprocessing
queue do for a batch of rows, and the daemon building the sample back (`feed.sample_of`), with the
bytes each sample adds to the queue.

Part 2, coverage: a 30-minute flight at 0.5 Hz (900 fixes) mowing the 1 km² irregular site in
100 m lanes at 80 m with ±1 m GPS jitter, once at a steady height and once with the height
wandering 65–95 m (many footprint runs). `coverage()` is timed `coverage-runs` times each:
median and worst against the 100 ms target. For comparison, the union of one circle per fix
(what the LineString runs replace), timed in the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import pickle
import random
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import shapely

from relic_guard.drones.area import SiteArea
from relic_guard.drones.coverage import CoverageConfig, coverage
from relic_guard.drones.feed import drone_row, sample_of
from relic_guard.drones.flights import Flight, FlightEnded, FlightStarted, FlightTracker, TrackPoint
from relic_guard.drones.geofence import GeofenceEvent, GeofenceMonitor, SiteFence
from relic_guard.drones.osd import sample_from_telemetry
from relic_guard.drones.projection import LocalProjection
from relic_guard.drones.safety import SafetyEvent, SafetyMonitor
from relic_guard.registry import Device, Registry, Site
from sensors import dji
from sensors.context import ParseContext
from sensors.model import Message, Source, Telemetry

T0 = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)
PERIOD_S = 2.0  # 0.5 Hz OSD
SPEED_MPS = 8.0
HEIGHT_M = 80.0
# The 大辛庄 boundary in metres about its centre (1.02 km²).
SHAPE_M = [(-520, -430), (-180, -560), (240, -500), (560, -330), (610, 40), (450, 380), (130, 540),
           (-210, 470), (-470, 300), (-600, -20), (-560, -250)]  # fmt: skip


@dataclass
class Drone:
    key: tuple[str, str]
    plane: LocalProjection
    phase_s: float
    path: list[tuple[float, float]]
    takeoff_s: float
    silent: tuple[float, float] | None  # link loss window (simulated seconds)
    battery_drain_pct_per_s: float


@dataclass
class StreamResult:
    samples: int = 0
    read_s: float = 0.0
    core_s: float = 0.0
    tick_s: float = 0.0
    ticks: int = 0
    simulated_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def site_wkt(plane: LocalProjection) -> str:
    ring = [plane.inverse(x, y) for x, y in [*SHAPE_M, SHAPE_M[0]]]
    return "POLYGON((" + ", ".join(f"{lon:.6f} {lat:.6f}" for lon, lat in ring) + "))"


def survey_path(spacing_m: float, inset_m: float, step_m: float) -> list[tuple[float, float]]:
    """Positions every `step_m` along a boustrophedon over the site shape, each lane cut where
    the boundary grown by `inset_m` ends (as a mission planner lays it out)."""
    outline = shapely.Polygon(SHAPE_M).buffer(inset_m)
    west, _, east, _ = outline.bounds
    waypoints: list[tuple[float, float]] = []
    x = west + spacing_m / 2
    while x < east:
        lane = outline.intersection(shapely.LineString([(x, -5000), (x, 5000)]))
        low, high = lane.bounds[1], lane.bounds[3]
        waypoints += [(x, low), (x, high)] if len(waypoints) % 4 == 0 else [(x, high), (x, low)]
        x += spacing_m
    return resample(waypoints, step_m)


def resample(waypoints: list[tuple[float, float]], step_m: float) -> list[tuple[float, float]]:
    line = shapely.LineString(waypoints)
    count = int(line.length // step_m) + 1
    points = shapely.line_interpolate_point(line, [k * step_m for k in range(count)])
    return [(p.x, p.y) for p in points]


def build_fleet(n: int, seed: int) -> tuple[list[Drone], dict[str, SiteFence]]:
    rnd = random.Random(seed)
    survey = survey_path(160.0, 30.0, SPEED_MPS * PERIOD_S)
    excursion = resample([(0.0, 40.0), (800.0, 40.0), (0.0, 40.0)], SPEED_MPS * PERIOD_S)
    drones: list[Drone] = []
    fences: dict[str, SiteFence] = {}
    for i in range(n):
        site_index = i // 2
        site = f"site-{site_index:04d}"
        lat0 = 36.3 + (site_index // 25) * 0.05
        lon0 = 116.6 + (site_index % 25) * 0.05
        if site not in fences:
            plane = LocalProjection(lat0, lon0)
            area = SiteArea.from_wkt(site, site_wkt(plane), projection=plane)
            fences[site] = SiteFence.build(area)
        plane = fences[site].area.projection
        path = (
            [(0.0, 0.0)] * 15
            + survey
            + (excursion if i % 10 == 3 else [])
            + resample([survey[-1], (0.0, 0.0)], SPEED_MPS * PERIOD_S)
        )
        takeoff_s = rnd.uniform(0, 120)
        silent = (takeoff_s + 300.0, takeoff_s + 360.0) if i % 10 == 7 else None
        drones.append(
            Drone(
                key=(site, f"uav-{i % 2 + 1:02d}"),
                plane=plane,
                phase_s=rnd.uniform(0, PERIOD_S),
                path=path,
                takeoff_s=takeoff_s,
                silent=silent,
                battery_drain_pct_per_s=rnd.uniform(0.03, 0.09),
            )
        )
    return drones, fences


def record_at(drone: Drone, t: float) -> Telemetry | None:
    """The Telemetry the DJI adapter makes of this drone's OSD at simulated second `t`."""
    if drone.silent is not None and drone.silent[0] <= t < drone.silent[1]:
        return None
    k = int((t - drone.takeoff_s) // PERIOD_S)
    on_ground = k < 15 or k >= len(drone.path)
    x, y = drone.path[min(max(k, 0), len(drone.path) - 1)]
    lon, lat = drone.plane.inverse(x, y)
    flying_for = max(0.0, t - drone.takeoff_s - 15 * PERIOD_S)
    if on_ground:
        mode, height, speed = 0.0, 0.0, 0.0
    else:
        mode = 9.0 if k >= len(drone.path) - 40 else 5.0
        height, speed = HEIGHT_M, SPEED_MPS
    values = {
        "lat": lat,
        "lon": lon,
        "alt_m": 52.0 + height,
        "elevation_m": height,
        "heading_deg": 87.6,
        "speed_mps": speed,
        "vertical_speed_mps": 0.0,
        "home_distance_m": math.hypot(x, y),
        "battery_pct": float(max(5, round(98 - drone.battery_drain_pct_per_s * flying_for))),
        "gps_number": 21.0,
        "mode_code": mode,
    }
    tags = {"osd": "aircraft", "mode": dji.MODE_NAMES[int(mode)]}
    return Telemetry(drone.key[0], drone.key[1], Source.DRONE, T0 + timedelta(seconds=t), values, False, tags)


def run_stream(drones: list[Drone], fences: dict[str, SiteFence], minutes: float) -> StreamResult:
    tracker = FlightTracker()
    fence = GeofenceMonitor(fences)
    safety = SafetyMonitor()
    result = StreamResult()
    counts: dict[str, int] = {}
    order = sorted(drones, key=lambda d: d.phase_s)
    end_s = minutes * 60
    steps = int(end_s // PERIOD_S)
    clock = time.process_time  # CPU time: what the fleet costs, whatever else the machine runs
    for step in range(steps):
        base = step * PERIOD_S
        batch: list[tuple[tuple[str, str], Telemetry, datetime]] = []
        for drone in order:
            t = base + drone.phase_s
            record = record_at(drone, t)
            if record is not None:
                batch.append((drone.key, record, record.ts))
        begun = clock()
        samples = [sample_from_telemetry(record) for _, record, _ in batch]
        result.read_s += clock() - begun
        updates: list[object] = []
        begun = clock()
        for (key, _, now), sample in zip(batch, samples, strict=True):
            assert sample is not None
            updates += tracker.observe(key, sample, now)
            in_flight = tracker.in_flight(key)
            updates += fence.observe(key, sample, in_flight=in_flight)
            updates += safety.observe(key, sample, in_flight=in_flight, now=now)
        result.core_s += clock() - begun
        result.samples += len(batch)
        for second in (base + 1.0, base + 2.0):  # the daemon's tick, once a second
            now = T0 + timedelta(seconds=second)
            begun = clock()
            updates += tracker.tick(now)
            updates += safety.tick(now)
            result.tick_s += clock() - begun
            result.ticks += 1
        for update in updates:
            if isinstance(update, FlightStarted):
                name = "takeoff"
            elif isinstance(update, FlightEnded):
                name = "landing"
            elif isinstance(update, GeofenceEvent | SafetyEvent):
                name = update.kind.value + (" (clear)" if update.clear else "")
            else:
                continue
            counts[name] = counts.get(name, 0) + 1
    result.simulated_s = steps * PERIOD_S
    result.counts = counts
    return result


def feed_cost(drones: list[Drone], steps: int = 30) -> tuple[float, float]:
    """(µs per sample, bytes per sample) of the feed path, one 2 s period of the fleet per batch."""
    batches = [
        [record for drone in drones if (record := record_at(drone, 300.0 + step * PERIOD_S + drone.phase_s))]
        for step in range(steps)
    ]
    clock = time.process_time
    begun = clock()
    size = samples = 0
    for records in batches:
        rows = [row for record in records if (row := drone_row(record)) is not None]
        data = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)  # what the queue's feeder thread does
        size += len(data)
        samples += len(rows)
        for row in pickle.loads(data):
            sample_of(row)
    return (clock() - begun) / samples * 1e6, size / samples


def adapter_us(n: int = 20_000) -> float:
    """µs per aircraft OSD message through `sensors.dji.parse`, for scale."""
    registry = Registry()
    registry.add_site(Site(id="jn-dxz", name="大辛庄遗址", district="历城区", level="国保", kind="古遗址"))
    registry.add_device(Device(site="jn-dxz", id="uav-01", source=Source.DRONE, external_id="1581F6Q8D23CT00A"))
    ctx = ParseContext(directory=registry)
    data = {
        "attitude_head": 87.6, "attitude_pitch": -1.2, "attitude_roll": 0.4, "elevation": 80.0, "height": 132.0,
        "home_distance": 532.1, "horizontal_speed": 8.0, "vertical_speed": 0.0, "latitude": 36.6712,
        "longitude": 117.0012, "mode_code": 5, "gear": 1, "firmware_version": "10.01.0612",
        "battery": {"capacity_percent": 76, "remain_flight_time": 1450, "return_home_power": 25},
        "position_state": {"gps_number": 21, "is_fixed": 2, "quality": 5, "rtk_number": 28},
    }  # fmt: skip
    body = {"tid": "t", "bid": "b", "timestamp": int(T0.timestamp() * 1000), "gateway": "8UUXN4P00A06NK", "data": data}
    msg = Message("thing/product/1581F6Q8D23CT00A/osd", json.dumps(body).encode(), T0)
    best = math.inf
    for _ in range(3):
        begun = time.perf_counter()
        for _ in range(n):
            dji.parse(msg, ctx)
        best = min(best, time.perf_counter() - begun)
    return best / n * 1e6


# Coverage ------------------------------------------------------------------------------


def long_flight(area: SiteArea, seed: int, *, wandering: bool) -> Flight:
    """A 30-minute flight at 0.5 Hz (900 fixes) mowing the site in 100 m lanes."""
    rnd = random.Random(seed)
    west, south, east, north = (float(v) for v in area.boundary.bounds)
    lanes = [west + 50 + 100 * i for i in range(math.ceil((east - west) / 100))]
    waypoints: list[tuple[float, float]] = []
    for i, x in enumerate(lanes):
        ends = (south - 20, north + 20) if i % 2 == 0 else (north + 20, south - 20)
        waypoints += [(x, ends[0]), (x, ends[1])]
    line = shapely.LineString(waypoints)
    positions = shapely.line_interpolate_point(line, [line.length * k / 899 for k in range(900)])
    points: list[TrackPoint] = []
    for k, position in enumerate(positions):
        x, y = position.x + rnd.gauss(0, 1.0), position.y + rnd.gauss(0, 1.0)
        lon, lat = area.projection.inverse(x, y)
        height = 80.0 + 15.0 * math.sin(k / 25) if wandering else 80.0 + rnd.gauss(0, 0.3)
        ts = T0 + timedelta(seconds=2 * k)
        points.append(TrackPoint(ts, lon, lat, height, line.length / 1798, 5, -90.0))
    return Flight(
        aircraft=("jn-dxz", "uav-01"),
        started_at=points[0].ts,
        ended_at=points[-1].ts,
        end=None,
        distance_m=line.length,
        max_height_m=95.0,
        battery_start_pct=98.0,
        battery_end_pct=30.0,
        link_losses=0,
        segments=(tuple(points),),
        track=(),
    )


def circles_union_ms(flight: Flight, area: SiteArea, config: CoverageConfig) -> float:
    """The naive way, for comparison: one circle per fix, unioned."""
    plane = area.projection
    per_m = config.camera.half_width_per_m
    begun = time.perf_counter()
    points = [p for segment in flight.segments for p in segment]
    circles = [
        shapely.Point(*plane.forward(p.lon, p.lat)).buffer((p.height_m or 0.0) * per_m, quad_segs=config.quad_segs)
        for p in points
    ]
    seen = shapely.union_all(circles)
    covered = shapely.intersection(area.boundary, seen)
    holes = shapely.difference(area.boundary, seen)
    elapsed = (time.perf_counter() - begun) * 1e3
    assert covered.area + holes.area > 0
    return elapsed


def timed_ms(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each run (on a busy machine the CPU time is the steadier)."""
    wall, cpu = [], []
    for _ in range(runs):
        begun, begun_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - begun) * 1e3)
        cpu.append((time.process_time() - begun_cpu) * 1e3)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drones", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated time of the stream")
    parser.add_argument("--coverage-runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    begun = time.perf_counter()
    drones, fences = build_fleet(args.drones, args.seed)
    setup_s = time.perf_counter() - begun
    gc.collect()
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    result = run_stream(drones, fences, args.minutes)
    wall_s = time.perf_counter() - wall_before
    cpu_s = time.process_time() - cpu_before
    per_osd_us = adapter_us()
    feed_us, feed_bytes = feed_cost(drones)

    n = result.samples
    read_us = result.read_s / n * 1e6
    core_us = result.core_s / n * 1e6
    rate = args.drones / PERIOD_S
    busy_per_s = (result.read_s + result.core_s + result.tick_s) / result.simulated_s
    print(
        f"stream: {args.drones} drones at {1 / PERIOD_S:g} Hz over {len(fences)} sites, "
        f"{result.simulated_s / 60:.0f} simulated min, {n:,} samples ({rate:.0f}/s)"
    )
    print(f"  fences built (SiteArea + buffers)            {setup_s * 1e3:10.0f} ms for {len(fences)} sites")
    print(f"  dji.parse of one OSD message (for scale)     {per_osd_us:10.2f} µs")
    print(f"  baseline: sample_from_telemetry (the dict)   {read_us:10.2f} µs/sample")
    print(f"  feed: worker row, queue pickling, sample     {feed_us:10.2f} µs/sample, {feed_bytes:.0f} bytes/sample")
    print(f"  tracker + geofence + safety                  {core_us:10.2f} µs/sample")
    print(f"    / baseline                                 {core_us / read_us:10.1f} x")
    print(f"  ticks (tracker + safety, 1 Hz)               {result.tick_s / result.ticks * 1e6:10.1f} µs/tick")
    print(
        f"  CPU per second of wall time, whole fleet     {busy_per_s * 1e3:10.2f} ms/s "
        f"({busy_per_s * 100:.2f} % of one core)"
    )
    print(f"  run: {wall_s:.1f} s wall, {cpu_s:.1f} s CPU (incl. building the records), peak RSS {_rss_mb():.0f} MB")
    print("  events: " + ", ".join(f"{name} {count}" for name, count in sorted(result.counts.items())))

    area = next(iter(fences.values())).area
    config = CoverageConfig()
    print(f"\ncoverage: 30-minute flight, 900 fixes at 0.5 Hz, lawn-mower over {area.area_m2 / 1e6:.2f} km²,")
    print(f"  {args.coverage_runs} runs each, median / worst in ms; target 100 ms")
    print(f"  {'':16} {'coverage() wall':>17} {'CPU':>15} {'share':>7} {'one circle per fix, wall':>26}")
    verdicts = []
    for label, wandering in (("steady 80 m", False), ("height 65-95 m", True)):
        flight = long_flight(area, args.seed, wandering=wandering)
        share = coverage(area, [flight], config).share
        wall, cpu = timed_ms(partial(coverage, area, [flight], config), args.coverage_runs)
        circles = [circles_union_ms(flight, area, config) for _ in range(max(3, args.coverage_runs // 4))]
        print(
            f"  {label:16} {statistics.median(wall):8.1f} / {max(wall):6.1f} {statistics.median(cpu):6.1f} / "
            f"{max(cpu):6.1f} {share:7.3f} {statistics.median(circles):15.1f} / {max(circles):6.1f}"
        )
        verdicts.append(max(wall) <= 100.0)
    print("  target <= 100 ms (worst run): " + ("met" if all(verdicts) else "NOT met"))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
