"""The middle of the ingest ceiling pipeline: `mosquitto_sub -v` lines in, COPY text rows out.

    mosquitto_sub -v … | python bench/ceiling_transform.py | psql -c "COPY readings_ceiling … FROM STDIN"

Each input line is `relic/{site}/{source}/{device}/telemetry {json}`; each output row is
`ts<TAB>site_id<TAB>device_id<TAB>metric<TAB>value`, one per value of the message. No
validation beyond what is needed to form a row: this is the fastest honest pipeline from
the broker into PostgreSQL, the yardstick the daemon is measured against. Lines that are
not native telemetry are skipped (and counted on stderr at the end).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

loads: Callable[[bytes], Any]
try:
    from msgspec.json import decode as loads
except ImportError:  # pragma: no cover - msgspec is a dependency, json the fallback
    from json import loads

_FLUSH_ROWS = 8192


def main() -> int:
    write = sys.stdout.buffer.write
    seconds: dict[int, str] = {}
    rows: list[str] = []
    skipped = 0
    for line in sys.stdin.buffer:
        topic, _, payload = line.partition(b" ")
        parts = topic.split(b"/")
        if len(parts) != 5 or parts[4] != b"telemetry":
            skipped += 1
            continue
        try:
            message = loads(payload)
            values = message["values"]
            ts = message.get("ts")
        except Exception:
            skipped += 1
            continue
        if isinstance(ts, int):
            second, millis = divmod(ts, 1000)
            stamp = seconds.get(second)
            if stamp is None:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
                seconds[second] = stamp
            text_ts = f"{stamp}.{millis:03d}+00"
        elif isinstance(ts, str):
            text_ts = ts
        else:
            skipped += 1
            continue
        prefix = f"{text_ts}\t{parts[1].decode()}\t{parts[3].decode()}\t"
        for metric, value in values.items():
            rows.append(f"{prefix}{metric}\t{float(value)!r}\n")
        if len(rows) >= _FLUSH_ROWS:
            write("".join(rows).encode())
            rows.clear()
    if rows:
        write("".join(rows).encode())
    sys.stdout.buffer.flush()
    if skipped:
        print(f"ceiling_transform: skipped {skipped} lines that were not native telemetry", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
