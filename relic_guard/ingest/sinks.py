"""Durable sinks for the lanes: one spool folder and one database connection per lane.

The spool quota in the configuration is the total for the daemon, shared out
evenly between the telemetry workers and the alarm lane, so the disk never
holds more than `spool.quota_bytes` whatever the worker count.
"""

from __future__ import annotations

import logging
import time

from relic_guard.config import Config
from relic_guard.spool import Spool, spooled_workers
from relic_guard.store.sink import DurableSink

log = logging.getLogger(__name__)

ALARM_LANE = "alarms"


def worker_count(config: Config) -> int:
    import os

    return config.ingest.workers if config.ingest.workers > 0 else max(1, os.cpu_count() or 1)


def lane_names(config: Config) -> list[str]:
    return [f"ingest-{i}" for i in range(worker_count(config))] + [ALARM_LANE]


def make_sink(config: Config, name: str) -> DurableSink:
    assert config.database.url is not None, "the daemon resolves the database URL before building sinks"
    share = config.spool.quota_bytes // len(lane_names(config))
    spool = Spool(config.spool.dir / name, share, name)
    return DurableSink(
        config.database.url,
        spool,
        connect_timeout_s=config.database.connect_timeout_s,
        statement_timeout_s=config.database.statement_timeout_s,
        worker=name,
    )


def replay_orphaned_spools(config: Config, timeout_s: float = 300.0) -> int:
    """Replay the spools of lanes that no longer run (the worker count went down since they
    were written). Returns how many such spools were emptied."""
    active = set(lane_names(config))
    emptied = 0
    for name in spooled_workers(config.spool.dir):
        if name in active:
            continue
        log.warning("replaying the spool of %s, a lane that no longer runs", name)
        sink = make_sink(config, name)
        sink.start()
        try:
            deadline = time.monotonic() + timeout_s
            while sink.spool.pending() > 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            if sink.spool.pending() == 0:
                emptied += 1
            else:
                log.error("the spool of %s is not empty after %.0f s; it will be retried at the next start",
                          name, timeout_s)
        finally:
            sink.close()
    return emptied
