"""How fast write_batch stores telemetry, against a bare COPY of the same rows.

    python bench/store_write.py [--url postgresql://…] [--readings 200000] [--batch-messages 5000]

Without --url (or RELIC_GUARD_DATABASE_URL) a private PostgreSQL is started in a
temporary folder with PostgreSQL's default durability (fsync on). Prints rows/s for:
  write_batch            batches of N messages x 2 metrics into partitioned, uniquely keyed readings
  write_batch redelivery the same batches again (every row a duplicate: the staging path)
  bare COPY              the same rows by binary COPY into an unindexed, unpartitioned table,
                         one transaction per batch (and as text, and with readings' unique key alone)
and the ratio write_batch / bare COPY, plus the COPY encodings tried for the hot loop.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from relic_guard.batch import Batch
from relic_guard.config import StoreConfig
from relic_guard.embedded import EmbeddedPostgres
from relic_guard.store.partitions import maintain
from relic_guard.store.schema import migrate
from relic_guard.store.writer import READING_COLUMNS, READING_TYPES, reading_rows, write_batch
from sensors.model import Source, Telemetry


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    base = Path(tempfile.mkdtemp(prefix="relic-guard-bench-"))
    os.chmod(base, 0o755)
    server = EmbeddedPostgres(base_dir=base)
    server.start()
    try:
        yield server.create_database("bench")
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def make_batches(n_readings: int, batch_messages: int, start: datetime) -> list[Batch]:
    n_messages = n_readings // 2
    devices = [(f"site-{s:03d}", f"env-{d:02d}") for s in range(100) for d in range(20)]
    batches = []
    for b in range(0, n_messages, batch_messages):
        batch = Batch()
        for i in range(b, min(b + batch_messages, n_messages)):
            site, device = devices[i % len(devices)]
            ts = start + timedelta(seconds=10 * (i // len(devices)), microseconds=i % 1000)
            batch.telemetry.append(Telemetry(site=site, device=device, source=Source.ENV, ts=ts,
                                             values={"temperature_c": 15.0 + (i % 97) / 10,
                                                     "humidity_pct": 40.0 + (i % 53) / 3}))
        batch.messages = len(batch.telemetry)
        batches.append(batch)
    return batches


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bare_copy(conn: psycopg.Connection[Any], batches: list[Batch], encode: str, *, keyed: bool = False) -> float:
    conn.execute("DROP TABLE IF EXISTS bare_readings")
    conn.execute('CREATE TABLE bare_readings (ts timestamptz NOT NULL, site_id text COLLATE "C" NOT NULL, '
                 'device_id text COLLATE "C" NOT NULL, metric text COLLATE "C" NOT NULL, '
                 "value double precision NOT NULL, ts_from_receive boolean NOT NULL DEFAULT false)")
    if keyed:  # what the de-duplication key alone costs
        conn.execute("ALTER TABLE bare_readings ADD UNIQUE (site_id, device_id, metric, ts)")
    conn.execute("CHECKPOINT")
    total = 0.0
    for batch in batches:
        started = time.perf_counter()
        rows = reading_rows(batch)
        if keyed:
            rows.sort(key=lambda r: (r[1], r[2], r[3], r[0]))  # as write_batch does
        with conn.transaction(), conn.cursor() as cur:
            if encode == "binary write_row":
                with cur.copy(f"COPY bare_readings ({READING_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(READING_TYPES)
                    for row in rows:
                        copy.write_row(row)
            elif encode == "text write_row":
                with cur.copy(f"COPY bare_readings ({READING_COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:  # preformatted text: one buffer built in Python (names are safe: no tabs/escapes)
                text = "".join(
                    f"{ts.isoformat()}\t{site}\t{device}\t{metric}\t{value!r}\t{'t' if fr else 'f'}\n"
                    for ts, site, device, metric, value, fr in rows
                )
                with cur.copy(f"COPY bare_readings ({READING_COLUMNS}) FROM STDIN") as copy:
                    copy.write(text.encode())
        total += time.perf_counter() - started
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RELIC_GUARD_DATABASE_URL"))
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch-messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="repeat and keep the best of each figure")
    args = parser.parse_args()

    now = datetime.now(UTC)
    with database(args.url) as url, psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        maintain(conn, StoreConfig(), now)
        n = args.readings
        print(f"PostgreSQL {conn.info.server_version}; {n} readings per run in batches of "
              f"{args.batch_messages} messages x 2 metrics; best of {args.rounds}")

        best: dict[str, float] = {}

        def keep(name: str, seconds: float) -> None:
            best[name] = min(best.get(name, float("inf")), seconds)

        for r in range(args.rounds):
            # Fresh timestamps each round, so every round inserts new rows (then redelivers them).
            batches = make_batches(n, args.batch_messages, now - timedelta(hours=1) + timedelta(minutes=r))
            build = timed(lambda b=batches: [reading_rows(x) for x in b])  # type: ignore[misc]
            keep("python rows only", build)
            conn.execute("CHECKPOINT")
            keep("write_batch", timed(lambda b=batches: [write_batch(conn, x) for x in b]))  # type: ignore[misc]
            keep("write_batch redelivery", timed(lambda b=batches: [write_batch(conn, x) for x in b]))  # type: ignore[misc]
            for encode in ("binary write_row", "text write_row", "preformatted text"):
                keep(f"bare COPY ({encode})", bare_copy(conn, batches, encode))
            keep("bare COPY, unique key only", bare_copy(conn, batches, "binary write_row", keyed=True))

        rates = {name: n / seconds for name, seconds in best.items()}
        width = max(map(len, rates))
        for name, rate in rates.items():
            print(f"  {name:<{width}}  {rate:>12,.0f} rows/s  ({best[name]:.3f} s)")
        ratio = rates["write_batch"] / rates["bare COPY (binary write_row)"]
        print(f"write_batch / bare COPY (binary) = {ratio:.2f}")


if __name__ == "__main__":
    main()
