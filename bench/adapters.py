"""Time the adapters on one core: µs per message, against a bare `json.loads` in the same run.

    python bench/adapters.py [--n 200000]

The ratio (adapter / json.loads) is what to compare across machines; the absolute
µs depend on the CPU. The telemetry line is the hot path the ingest budget is set by
(~30k msgs/s per core means at most ~33 µs per message for everything).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from relic_guard.registry import Device, Registry, Site
from sensors.context import ParseContext
from sensors.model import Message, Source
from sensors.route import parse_message

RECEIVED = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)
TELEMETRY = (
    b'{"ts":"2026-11-27T10:00:00.120+08:00","values":{"temperature_c":21.5,'
    b'"smoke_obscuration_pct":0.4,"humidity_pct":55,"door_closed":true}}'
)
DRONE = (
    b'{"ts":1795744800120,"lat":36.6612,"lon":117.0201,"alt_m":120.5,"battery_pct":76,'
    b'"heading_deg":90.0,"speed_mps":8.2,"mode":"wayline","mission":"m-20261127-01"}'
)
EVENT = (
    b'{"ts":"2026-11-27T10:00:00+08:00","type":"fire_alarm","zone":"\xe5\xa4\xa7\xe6\xae\xbf",'
    b'"component":"smoke_detector","description":"\xe4\xb8\x9c\xe9\x85\x8d\xe6\xae\xbf\xe7\x83\x9f\xe6\x84\x9f",'
    b'"id":"evt-000123"}'
)


def _context() -> ParseContext:
    registry = Registry()
    registry.add_site(Site(id="jn-dmh", name="大明湖古建筑群", district="历下区", level="省级", kind="古建筑"))
    for device, source in (("env-01", Source.ENV), ("uav-01", Source.DRONE), ("fa-01", Source.FIRE)):
        registry.add_device(Device(site="jn-dmh", id=device, source=source))
    return ParseContext(directory=registry)


def _time(fn: Callable[[], object], n: int) -> float:
    """Best of three runs, µs per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="messages per timing run")
    n = parser.parse_args().n
    ctx = _context()
    cases = [
        ("telemetry (hot path)", "relic/jn-dmh/env/env-01/telemetry", TELEMETRY),
        ("drone telemetry", "relic/jn-dmh/drone/uav-01/telemetry", DRONE),
        ("fire event", "relic/jn-dmh/fire/fa-01/event", EVENT),
    ]
    print(f"{'message':<22} {'adapter µs':>11} {'json.loads µs':>14} {'ratio':>7} {'msgs/s':>10}")
    for name, topic, payload in cases:
        msg = Message(topic, payload, RECEIVED)
        result = parse_message(msg, ctx)
        assert isinstance(result, list), result
        adapter_us = _time(lambda msg=msg: parse_message(msg, ctx), n)  # type: ignore[misc]
        baseline_us = _time(lambda payload=payload: json.loads(payload), n)  # type: ignore[misc]
        print(
            f"{name:<22} {adapter_us:>11.2f} {baseline_us:>14.2f} {adapter_us / baseline_us:>7.2f}"
            f" {1e6 / adapter_us:>10,.0f}"
        )


if __name__ == "__main__":
    main()
