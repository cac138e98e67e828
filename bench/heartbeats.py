"""Offline detection over many devices: cost per heartbeat, cost per tick, delay past timeout.

    python bench/heartbeats.py [--devices 100000] [--per-site 100] [--heartbeat-s 60]
                               [--report-every-s 30] [--seconds 150] [--dead 1000]

A simulated run on the engine's own clock (no sleeping): every device reports every
`report-every-s` seconds (spread evenly), `dead` of them fall silent at t = 10 s, and the
engine ticks once a second. It prints
- µs per heartbeat through `engine.evaluate` (a fire `heartbeat` event: the whole record
  path) and through `devices.seen` alone, against a bare dict update in the same run
  (the ratio is what to compare across machines);
- µs per tick, and the heap entries a tick pops, against a scan of every device's last
  report (what the heap spares);
- how long after its deadline each silent device was declared offline (target ≤ 1 s,
  the tick interval).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from alerts.model import Opened
from alerts.rules import devices, engine
from alerts.rules.common import RuleContext
from relic_guard.registry import Device, Site
from sensors.model import Event, Source

T0 = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--per-site", type=int, default=100)
    parser.add_argument("--heartbeat-s", type=int, default=60)
    parser.add_argument("--report-every-s", type=int, default=30)
    parser.add_argument("--seconds", type=int, default=150)
    parser.add_argument("--dead", type=int, default=1000)
    args = parser.parse_args()

    n = args.devices
    ids = [(f"site{i // args.per_site:05d}", f"dev{i:06d}") for i in range(n)]
    sites = {site: Site(id=site, name=site, district="d", level="l", kind="k") for site, _ in ids}
    registry = {(s, d): Device(site=s, id=d, source=Source.FIRE, heartbeat_s=args.heartbeat_s) for s, d in ids}
    ctx = RuleContext(sites=sites, devices=registry)
    records = [Event(s, d, Source.FIRE, "heartbeat", T0, "k") for s, d in ids]
    # Dead devices: spread over sites (no site goes wholly dark).
    dead = set(range(0, n, max(n // max(args.dead, 1), 1))) if args.dead else set()

    started = time.perf_counter()
    state = engine.rebuild([], T0, ctx)
    seed_s = time.perf_counter() - started

    baseline: dict[tuple[str, str], float] = {}
    slots: list[list[int]] = [list(range(r, n, args.report_every_s)) for r in range(args.report_every_s)]
    evaluate_s = seen_s = dict_s = 0.0
    heartbeats = 0
    tick_times: list[float] = []
    reports: list[int] = []
    declared: dict[tuple[str, str], datetime] = {}
    stopped_at: dict[tuple[str, str], datetime] = {}
    last_report: dict[int, datetime] = {}

    for second in range(args.seconds):
        now = T0 + timedelta(seconds=second)
        batch = [i for i in slots[second % args.report_every_s] if not (i in dead and second >= 10)]
        reports.append(len(batch))
        # Alternate the three measured paths over the same devices, in the same second.
        third = len(batch) // 3
        started = time.perf_counter()
        for i in batch[:third]:
            engine.evaluate(state, records[i], now, ctx)
        evaluate_s += time.perf_counter() - started
        started = time.perf_counter()
        for i in batch[third : 2 * third]:
            site, device = ids[i]
            devices.seen(state.devices, state.book, site, device, now, ctx)
        seen_s += time.perf_counter() - started
        started = time.perf_counter()
        at = now.timestamp()
        for i in batch[2 * third : 3 * third]:
            baseline[ids[i]] = at
        dict_s += time.perf_counter() - started
        for i in batch[2 * third :]:  # the baseline third still reports to the engine, untimed
            site, device = ids[i]
            devices.seen(state.devices, state.book, site, device, now, ctx)
        heartbeats += third
        for i in batch:
            last_report[i] = now

        started = time.perf_counter()
        _, actions = engine.tick(state, now, ctx)
        tick_times.append(time.perf_counter() - started)
        for action in actions:
            if isinstance(action, Opened) and action.alert.key.rule == devices.OFFLINE_RULE:
                declared[(action.alert.key.site, action.alert.key.device)] = now

    for i in dead:
        stopped_at[ids[i]] = last_report.get(i, T0)

    started = time.perf_counter()
    cutoff = T0.timestamp()
    _ = [key for key, seen_at in baseline.items() if seen_at < cutoff]
    scan_s = time.perf_counter() - started

    delays = [
        (declared[key] - stopped_at[key]).total_seconds() - args.heartbeat_s for key in stopped_at if key in declared
    ]
    missed = len(stopped_at) - len(delays)
    false_offline = len(set(declared) - set(stopped_at))
    per = 1e6 / max(heartbeats, 1)
    print(
        f"devices {n:,} in {len(sites):,} sites, heartbeat {args.heartbeat_s} s, report every {args.report_every_s} s"
    )
    print(f"seed (rebuild, watch every device)   {seed_s * 1e3:8.1f} ms")
    print(f"per heartbeat, engine.evaluate       {evaluate_s * per:8.3f} µs")
    print(f"per heartbeat, devices.seen          {seen_s * per:8.3f} µs")
    print(f"per heartbeat, bare dict update      {dict_s * per:8.3f} µs  (baseline)")
    # The devices seeded together at start share their first deadline: that tick re-queues
    # them all once. After it, deadlines are spread by the devices' own reports.
    first_wave = tick_times[args.heartbeat_s]
    steady = sorted(tick_times[args.heartbeat_s + 1 :])
    print(
        f"per tick (1 s), steady               {statistics.median(steady) * 1e6:8.1f} µs p50, "
        f"{steady[int(len(steady) * 0.99) - 1] * 1e6:8.1f} µs p99, {steady[-1] * 1e6:8.1f} µs max"
    )
    print(f"per tick, first deadline after start {first_wave * 1e3:8.1f} ms  (every seeded device re-queued once)")
    steady_reports = sum(reports[args.heartbeat_s + 1 :])
    print(
        f"tick cost per heartbeat, amortized   {sum(steady) / max(steady_reports, 1) * 1e6:8.3f} µs"
        f"  (steady tick time / reports in those seconds; mean tick {statistics.mean(steady) * 1e6:.0f} µs)"
    )
    print(f"scan of every device's last report   {scan_s * 1e6:8.1f} µs  (what a scanning tick would cost)")
    if delays:
        print(
            f"offline delay past timeout           {min(delays):.3f}..{max(delays):.3f} s "
            f"({len(delays)} silent devices, {missed} missed, {false_offline} reporting devices declared offline)"
        )


if __name__ == "__main__":
    main()
