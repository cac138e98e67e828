"""Offline detection over many devices: cost per heartbeat, cost per tick, delay past timeout.

    python bench/heartbeats.py [--devices 100000] [--quick] [--per-site 50] [--heartbeat-s 60]
                               [--report-every-s 30] [--tick-ms 200] [--dead 1000]

The requirement: offline detection over 100k devices within 1 s of the timeout, at O(1)
per heartbeat and with no scan of all devices per tick. For each size (devices / 10,
devices, and devices x 10 unless --quick or it would not fit in memory or in a minute),
one run on a simulated clock (no sleeping):
- the engine is built by `engine.rebuild([], t0, ctx)` over a registry of that size;
- every device sends a `Telemetry` record every `report-every-s` seconds, phases spread
  evenly, through `engine.evaluate` (the whole record path);
- the engine ticks every `tick-ms`;
- group "spread": `dead` devices fall silent at known instants spread over 15 s (whole
  sites of `per-site` devices, each site at one instant, for half of them; single devices
  of other sites for the rest). Their delay = first tick declaring them - deadline, the
  deadline being last report + heartbeat_s;
- group "burst": `dead` more, in the same mix, all last heard at one instant, so that one
  tick declares them all (and their sites unreachable): that tick's wall time. A silent
  device is declared at most one tick interval late on the simulated clock, and the daemon
  learns it when that tick's processing ends, so the worst case is interval + that time.
Baselines in the same run (compare ratios across machines, not times): a bare dict
assignment per heartbeat (the floor of any liveness tracking) and a tick that scans every
device's last report (what a monitor without a deadline index would do).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import itertools
import math
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time

from alerts.model import Opened
from alerts.rules import devices, engine
from alerts.rules.common import RuleContext
from sensors.model import Source, Telemetry

T0 = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)
IDLE_TICKS = 2000  # ticks timed right after start, when nothing is due for a whole period
SILENT_FROM_S, SILENT_OVER_S = 62.0, 15.0  # the spread group falls silent over [62, 77) s
BURST_AT_S = 70.05  # the burst group's last report (off the tick grid)


@dataclass(frozen=True, slots=True)
class SiteFacts:
    id: str
    name: str
    open_hours: tuple[clock_time, clock_time] | None = None


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    zone: str | None
    heartbeat_s: int | None


@dataclass
class Result:
    n: int
    sites: int
    setup_s: float = 0.0
    rebuild_s: float = 0.0
    wall_s: float = 0.0
    heartbeats: int = 0  # reports after the first deadline (the measured window)
    evaluate_s: float = 0.0
    floor_s: float = 0.0
    idle_tick_s: float = 0.0
    first_wave_s: float = 0.0
    steady_ticks: list[float] = field(default_factory=list)  # ticks that declared nothing
    # The same ticks repeated at once: nothing more is due, and the caches are warm again.
    repeat_ticks: list[float] = field(default_factory=list)
    scan_s: float = math.inf
    burst_tick_s: float = 0.0
    burst_declared: int = 0
    detect_tick_max_s: float = 0.0  # slowest tick that declared something
    delays: list[float] = field(default_factory=list)
    missed: int = 0
    false_offline: int = 0
    sites_expected: int = 0
    sites_declared: int = 0

    @property
    def evaluate_us(self) -> float:
        return self.evaluate_s / self.heartbeats * 1e6

    @property
    def floor_us(self) -> float:
        return self.floor_s / self.heartbeats * 1e6

    @property
    def amortized_us(self) -> float:
        return (self.evaluate_s + sum(self.steady_ticks)) / self.heartbeats * 1e6


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _dead_groups(n: int, per_site: int, dead: int) -> tuple[dict[int, float], set[int], set[int], int]:
    """Stop instants of the spread group, the burst group, and the number of whole sites dark."""
    sites = math.ceil(n / per_site)
    whole = max(1, dead // 2 // per_site)  # whole sites per group
    if n < 4 * dead or sites < 4 * whole:
        raise SystemExit(f"{n} devices are too few for two groups of {dead} silent devices")
    step = sites // (2 * whole)
    dark = [k * step for k in range(2 * whole)]
    spread_sites, burst_sites = dark[:whole], dark[whole:]
    dark_set = set(dark)
    singles = [i for i in range(0, n, 7) if i // per_site not in dark_set and i % per_site != 0]
    singles_needed = dead - whole * per_site
    stride = max(1, len(singles) // (2 * singles_needed))
    picked = singles[::stride][: 2 * singles_needed]
    stop: dict[int, float] = {}
    for j, site in enumerate(spread_sites):  # a site's power cut: all its devices at one instant
        for i in range(site * per_site, min(n, (site + 1) * per_site)):
            stop[i] = SILENT_FROM_S + SILENT_OVER_S * j / whole + 0.013
    spread_singles = picked[0::2]
    for j, i in enumerate(spread_singles):
        stop[i] = SILENT_FROM_S + SILENT_OVER_S * j / len(spread_singles) + 0.007
    burst = {i for site in burst_sites for i in range(site * per_site, min(n, (site + 1) * per_site))}
    burst.update(picked[1::2])
    return stop, set(stop), burst, 2 * whole


def run(n: int, args: argparse.Namespace, progress: Callable[[str], None]) -> Result:
    started_wall = time.perf_counter()
    hb, every, per_site = args.heartbeat_s, args.report_every_s, args.per_site
    tick_s = args.tick_ms / 1000
    slots = round(every / tick_s)
    if abs(slots * tick_s - every) > 1e-9:
        raise SystemExit("--report-every-s must be a multiple of --tick-ms")

    progress(f"[{n:,}] building the registry and the engine")
    ids = [(f"s{i // per_site:05d}", f"d{i:07d}") for i in range(n)]
    result = Result(n=n, sites=math.ceil(n / per_site))
    site_facts = {s: SiteFacts(id=s, name=s) for s, _ in ids}
    facts = DeviceFacts(zone=None, heartbeat_s=hb)  # identical facts: one instance serves every device
    ctx = RuleContext(sites=site_facts, devices=dict.fromkeys(ids, facts))
    values = {"temp_c": 18.5, "rh_pct": 55.0}
    records = [Telemetry(s, d, Source.ENV, T0, values) for s, d in ids]
    stop, spread, burst, dark_sites = _dead_groups(n, per_site, args.dead)
    for i in burst:
        stop[i] = BURST_AT_S  # regular reports from here on are dropped; one extra report at BURST_AT_S
    result.sites_expected = dark_sites

    # Phases spread evenly in a shuffled order (a site's devices do not report together),
    # bucketed by the tick interval they fall in, in time order within it. The devices that
    # fall silent are kept apart and slotted in while they still report.
    order = list(range(n))
    random.Random(7).shuffle(order)
    bucket_recs: list[list[Telemetry]] = [[] for _ in range(slots)]
    bucket_phase: list[list[float]] = [[] for _ in range(slots)]
    bucket_silent: list[list[tuple[float, int]]] = [[] for _ in range(slots)]
    for rank, i in enumerate(order):
        phase = rank * every / n
        slot = min(int(phase / tick_s), slots - 1)
        if i in stop:
            bucket_silent[slot].append((phase, i))
        else:
            bucket_recs[slot].append(records[i])
            bucket_phase[slot].append(phase)

    t0 = T0.timestamp()
    begun = time.perf_counter()
    state = engine.rebuild([], T0, ctx)
    result.rebuild_s = time.perf_counter() - begun
    gc.collect()
    result.setup_s = time.perf_counter() - started_wall

    evaluate, tick = engine.evaluate, engine.tick
    idle_now = datetime.fromtimestamp(t0 + 1.0, UTC)
    begun = time.perf_counter()
    for _ in range(IDLE_TICKS):
        tick(state, idle_now, ctx)
    result.idle_tick_s = (time.perf_counter() - begun) / IDLE_TICKS

    end_s = max(SILENT_FROM_S + SILENT_OVER_S, BURST_AT_S) + hb + 1.0
    ticks = round(end_s / tick_s)
    first_wave_m = round(hb / tick_s)
    burst_m = math.ceil((BURST_AT_S + hb) / tick_s - 1e-9)
    scan_at = {round(s / tick_s) for s in (80.0, 100.0, 120.0)}
    last_report: dict[int, float] = {}
    declared: dict[tuple[str, str], float] = {}
    floor: dict[tuple[str, str], float] = {}
    unreachable: set[str] = set()
    for m in range(1, ticks + 1):
        low, high = (m - 1) * tick_s, m * tick_s
        if m % round(20 / tick_s) == 0:
            progress(f"[{n:,}] simulated {high:.0f}/{end_s:.0f} s")
        slot = (m - 1) % slots
        base = ((m - 1) // slots) * every
        recs = bucket_recs[slot]
        ats = [t0 + base + phase for phase in bucket_phase[slot]]
        extra = [(base + phase, i) for phase, i in bucket_silent[slot] if base + phase < stop[i]]
        if low <= BURST_AT_S < high:
            extra += [(BURST_AT_S, i) for i in burst]
        if extra:
            recs = list(recs)
            for t, i in extra:
                last_report[i] = t
                at = bisect.bisect_right(ats, t0 + t)
                ats.insert(at, t0 + t)
                recs.insert(at, records[i])
        nows = [datetime.fromtimestamp(at, UTC) for at in ats]

        begun = time.perf_counter()
        for rec, now in zip(recs, nows, strict=True):
            evaluate(state, rec, now, ctx)
        evaluated = time.perf_counter() - begun
        begun = time.perf_counter()
        for rec, at in zip(recs, ats, strict=True):
            floor[rec.site, rec.device] = at
        floored = time.perf_counter() - begun

        now = datetime.fromtimestamp(t0 + high, UTC)
        begun = time.perf_counter()
        _, actions = tick(state, now, ctx)
        ticked = time.perf_counter() - begun
        begun = time.perf_counter()
        tick(state, now, ctx)
        repeated = time.perf_counter() - begun
        found = 0
        for action in actions:
            if isinstance(action, Opened):
                key = action.alert.key
                if key.rule == devices.OFFLINE_RULE:
                    declared[(key.site, key.device)] = high
                    found += 1
                elif key.rule == devices.UNREACHABLE_RULE:
                    unreachable.add(key.site)
        if m == first_wave_m:
            result.first_wave_s = ticked
        elif m > first_wave_m:
            result.heartbeats += len(recs)
            result.evaluate_s += evaluated
            result.floor_s += floored
            if found:
                result.detect_tick_max_s = max(result.detect_tick_max_s, ticked)
            else:
                result.steady_ticks.append(ticked)
                result.repeat_ticks.append(repeated)
            if m == burst_m:
                result.burst_tick_s, result.burst_declared = ticked, found
        if m in scan_at:  # the naive monitor's tick over the same reports
            cutoff = t0 + high - hb
            begun = time.perf_counter()
            _ = [key for key, seen_at in floor.items() if seen_at <= cutoff]
            result.scan_s = min(result.scan_s, time.perf_counter() - begun)

    silent = {ids[i]: last_report.get(i, 0.0) + hb for i in spread}  # key -> deadline (s since t0)
    result.delays = [declared[key] - deadline for key, deadline in silent.items() if key in declared]
    result.missed = len(spread | burst) - sum(1 for i in spread | burst if ids[i] in declared)
    result.false_offline = len(set(declared) - {ids[i] for i in spread | burst})
    result.sites_declared = len(unreachable)
    result.wall_s = time.perf_counter() - started_wall
    return result


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _available_mb() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return math.inf


def report(results: list[Result], args: argparse.Namespace) -> None:
    tick_ms = args.tick_ms
    steps = [f"{b.n // 1000:,}k/{a.n // 1000:,}k" for a, b in itertools.pairwise(results)]

    def row(label: str, cells: list[str], values: list[float] | None = None) -> None:
        """One figure per size; with `values`, the ratio of each size's figure to the one before."""
        tail = ""
        if values is not None:
            tail = "".join(f"{b / a:>11.2f}x" if a else f"{'-':>12}" for a, b in itertools.pairwise(values))
        print(f"{label:46}" + "".join(f"{c:>14}" for c in cells) + tail)

    def figures(label: str, values: list[float], fmt: str) -> None:
        row(label, [format(v, fmt) for v in values], values)

    print(
        f"offline detection: heartbeat {args.heartbeat_s} s, reports every {args.report_every_s} s, "
        f"tick {tick_ms} ms, {args.per_site} devices/site, Telemetry records"
    )
    print(f"{'devices':46}" + "".join(f"{r.n:>14,}" for r in results) + "".join(f"{s:>12}" for s in steps))
    row("sites", [f"{r.sites:,}" for r in results])
    figures("engine.rebuild over the registry (s)", [r.rebuild_s for r in results], ".2f")
    row("heartbeats measured", [f"{r.heartbeats:,}" for r in results])
    evaluate = [r.evaluate_us for r in results]
    figures("per heartbeat: engine.evaluate (µs)", evaluate, ".3f")
    floors = [r.floor_us for r in results]
    figures("per heartbeat: bare dict assignment (µs)", floors, ".3f")
    figures("  evaluate / dict assignment", [a / b for a, b in zip(evaluate, floors, strict=True)], ".2f")
    figures("per heartbeat incl. its share of ticks (µs)", [r.amortized_us for r in results], ".3f")
    figures("tick, nothing due, right after start (µs)", [r.idle_tick_s * 1e6 for r in results], ".2f")
    figures("tick at the first deadline after start (µs)", [r.first_wave_s * 1e6 for r in results], ".1f")
    figures(
        "steady tick declaring nothing, p50 (µs)", [statistics.median(r.steady_ticks) * 1e6 for r in results], ".1f"
    )
    figures("  p99 (µs)", [_quantile(r.steady_ticks, 0.99) * 1e6 for r in results], ".1f")
    peak = [max(r.steady_ticks) * 1e6 for r in results]
    figures("  max (µs)", peak, ".1f")
    figures("  same tick repeated at once, p50 (µs)", [statistics.median(r.repeat_ticks) * 1e6 for r in results], ".1f")
    scans = [r.scan_s * 1e3 for r in results]
    figures("naive tick: scan all last reports (ms)", scans, ".2f")
    figures("  naive scan / steady tick max", [s / (p / 1e3) for s, p in zip(scans, peak, strict=True)], ".0f")
    row("tick declaring the burst (ms, devices)", [f"{r.burst_tick_s * 1e3:.1f} ({r.burst_declared})" for r in results])
    row("slowest tick declaring anything (ms)", [f"{r.detect_tick_max_s * 1e3:.1f}" for r in results])
    row("spread group: delay past deadline p50 (ms)", [f"{statistics.median(r.delays) * 1e3:.0f}" for r in results])
    row("  p99 / max (ms)", [f"{_quantile(r.delays, 0.99) * 1e3:.0f}/{max(r.delays) * 1e3:.0f}" for r in results])
    worst = [tick_ms + max(r.burst_tick_s, r.detect_tick_max_s) * 1e3 for r in results]
    row("worst delay: interval + slowest tick (ms)", [f"{v:.0f}" for v in worst])
    row("missed / false offline", [f"{r.missed}/{r.false_offline}" for r in results])
    row("sites unreachable: declared / dark", [f"{r.sites_declared}/{r.sites_expected}" for r in results])
    row("wall time of the size, setup (s)", [f"{r.wall_s:.1f}, {r.setup_s:.1f}" for r in results])
    target = 1000.0
    verdict = "met" if all(w <= target for w in worst) and all(r.missed == 0 for r in results) else "MISSED"
    print(f"target delay <= {target:.0f} ms past the timeout: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000, help="the main size; also run /10 and x10")
    parser.add_argument("--quick", action="store_true", help="skip the x10 size")
    parser.add_argument("--per-site", type=int, default=50)
    parser.add_argument("--heartbeat-s", type=int, default=60)
    parser.add_argument("--report-every-s", type=int, default=30)
    parser.add_argument("--tick-ms", type=int, default=200)
    parser.add_argument("--dead", type=int, default=1000, help="devices per silent group")
    args = parser.parse_args()

    def progress(text: str) -> None:
        print(f"  … {text}", file=sys.stderr, flush=True)

    results: list[Result] = []
    rss_before = _rss_mb()
    for n in (args.devices // 10, args.devices):
        results.append(run(n, args, progress))
        gc.collect()
    big = args.devices * 10
    if args.quick:
        progress(f"--quick: {big:,} devices skipped")
    else:
        # The x10 size runs only if the main size, scaled, fits in a minute and in free memory.
        need_s = results[-1].wall_s * 10 * 1.1
        need_mb = (_rss_mb() - rss_before) * 10 * 1.2
        if need_s > 60 or need_mb > _available_mb():
            progress(f"{big:,} devices skipped: about {need_s:.0f} s and {need_mb:.0f} MB expected")
        else:
            results.append(run(big, args, progress))
    report(results, args)


if __name__ == "__main__":
    main()
