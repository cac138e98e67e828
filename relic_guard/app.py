"""The daemon assembled from configuration and nothing else.

    run_service
     ├── database bootstrap: migrations, registry sync, partitions (retried until the database answers)
     ├── alerting (this event loop): engine, timers, deliveries; journal thread to the database
 ├── alarm lane (this event loop; its own MQTT connection and durable sink), tells alerting first
     ├── N telemetry workers (processes; one shared MQTT 5 subscription) — started once the schema exists;
 │     each batch's devices heard, events and watched readings go to alerting over a queue
     ├── video process (when [video] cameras_file or frigate_url is set): frames in, video events out
     │     over MQTT (read back by the telemetry workers like any camera's), evidence snapshots on disk
     ├── HTTP: probes, API, dashboard, evidence snapshots (uvicorn in this event loop)
 ├── schedule (patrol rounds, hazard deadlines; only while holding the schedule lock), once the schema exists
     └── maintenance (partitions, rollups) every `store.maintenance_interval_s`

The alarm lane starts first and does not wait for the database: fire alarms
flow from the first second, while telemetry waits in the broker's persistent
session until its tables are there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing.context import SpawnProcess
from typing import Any

import psycopg
import uvicorn

from relic_guard.alerting.runtime import Alerting
from relic_guard.config import Config
from relic_guard.errors import ConfigError
from relic_guard.evidence import EvidenceStore
from relic_guard.ingest.alarm_lane import AlarmLane, log_alarm
from relic_guard.ingest.sinks import ALARM_LANE, make_sink, replay_orphaned_spools, worker_count
from relic_guard.ingest.worker import worker_main
from relic_guard.mqtt_probe import negotiate_protocol
from relic_guard.registry import Registry
from relic_guard.schedule.daemon import build_schedule
from relic_guard.store import partitions
from relic_guard.store.registry_sync import sync_registry
from relic_guard.store.schema import migrate
from relic_guard.video.process import VideoProcess, video_wanted
from relic_guard.web import ReadinessProbe, create_app

log = logging.getLogger(__name__)


def bootstrap_database(config: Config, registry: Registry) -> None:
    """Migrations, registry, partitions: everything the ingest lanes need to find in place."""
    assert config.database.url is not None
    with psycopg.connect(config.database.url, connect_timeout=int(config.database.connect_timeout_s)) as conn:
        applied = migrate(conn)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        sync_registry(conn, registry)
        partitions.maintain(conn, config.store, datetime.now(UTC))


class WorkerPool:
    """The telemetry worker processes, restarted with a pause when one dies."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        protocol: int,
        feed_queue: Any = None,
        threshold_metrics: frozenset[str] = frozenset(),
    ) -> None:
        self.config = config
        self.registry = registry
        self.protocol = protocol
        self.feed_queue = feed_queue
        self.threshold_metrics = threshold_metrics
        self.ctx = multiprocessing.get_context("spawn")
        self.stop_event = self.ctx.Event()
        self.processes: dict[int, SpawnProcess] = {}
        self.size = worker_count(config)
        # One byte per worker, 1 while it is subscribed: what /readyz reports for the telemetry lane.
        self.ready = self.ctx.Array("b", self.size, lock=False)

    def _spawn(self, index: int) -> None:
        process = self.ctx.Process(
            target=worker_main,
            args=(self.config, self.registry, index, self.stop_event, self.ready, self.feed_queue,
                  self.threshold_metrics),
            name=f"ingest-{index}",
            daemon=False,
        )
        process.start()
        self.processes[index] = process

    def start(self) -> None:
        for index in range(self.size):
            self._spawn(index)
        log.info("started %d telemetry workers", len(self.processes))

    def all_ready(self) -> bool:
        return len(self.processes) == self.size and all(self.ready[i] == 1 for i in range(self.size))

    def check(self, stopping: bool) -> None:
        for index, process in list(self.processes.items()):
            if not process.is_alive() and not stopping and not self.stop_event.is_set():
                log.error("telemetry worker %d exited (code %s); restarting it", index, process.exitcode)
                self._spawn(index)

    def stop(self, timeout_s: float = 15.0) -> None:
        self.stop_event.set()
        for process in self.processes.values():
            process.join(timeout_s)
            if process.is_alive():
                log.error("worker %s did not stop in %.0f s; terminating it", process.name, timeout_s)
                process.terminate()
                process.join(5)


def _listen_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError([f"http.listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8080"])
    return host.strip("[]"), int(port)


async def run_service(
    config: Config,
    registry: Registry,
    *,
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
) -> None:
    if config.database.url is None:
        raise ConfigError(["[database] url is not set; set RELIC_GUARD_DATABASE_URL or use `relic-guard demo`"])
    host, port = _listen_address(config.http.listen)
    protocol = await asyncio.to_thread(negotiate_protocol, config.mqtt)

    alerting = Alerting.build(config, registry)
    schedule = build_schedule(config, registry, alerting.service, asyncio.get_running_loop(), alerting.audit_key)
    alarm_sink = make_sink(config, ALARM_LANE)
    alarm_sink.start()
    alarm_lane = AlarmLane(config, registry, alarm_sink, protocol=protocol, consumers=(log_alarm, alerting.consume))

    pool = WorkerPool(config, registry, protocol, alerting.feed_queue, alerting.threshold_metrics)
    # Another process: decoding and analysing frames never takes the alarm lane's time.
    video = VideoProcess(config, registry) if video_wanted(config) else None
    probe = ReadinessProbe(config.database.url, lambda: alarm_lane.connected, pool.all_ready)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(probe, service=alerting.service, tokens=alerting.tokens, registry=registry,
                       channels=alerting.channels, dashboard=alerting.dashboard,
                       draw_pool_file=config.inspections.pool_file,
                       evidence=EvidenceStore(config.video.evidence_dir,
                                              retention_days=config.video.evidence_retention_days)),
            host=host, port=port, log_level="warning", lifespan="off",
        )
    )
    await alerting.start(stop)
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(alarm_lane.run(stop), name="alarm-lane"),
        asyncio.create_task(server.serve(), name="http"),
    ]
    try:
        if video is not None:
            video.start()
        await _bootstrap_until_done(config, registry, stop)
        if stop.is_set():
            return
        await alerting.database_ready(stop)
        if schedule is not None:
            await schedule.start()
        pool.start()
        await asyncio.to_thread(replay_orphaned_spools, config)
        if on_ready is not None:
            on_ready()
        last_maintenance = asyncio.get_running_loop().time()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            pool.check(stopping=stop.is_set())
            if video is not None:
                video.check(stopping=stop.is_set())
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            now = asyncio.get_running_loop().time()
            if now - last_maintenance >= config.store.maintenance_interval_s:
                last_maintenance = now
                await asyncio.to_thread(_maintain_quietly, config)
    finally:
        stop.set()
        if schedule is not None:
            await schedule.stop()
        await asyncio.to_thread(pool.stop)
        if video is not None:
            await asyncio.to_thread(video.stop)
        if alerting.dashboard.live is not None:
            alerting.dashboard.live.close()  # open live-queue streams would hold the server's shutdown
        server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await alerting.stop()
        await asyncio.to_thread(alarm_sink.close)
        log.info("relic-guard stopped")


async def _bootstrap_until_done(config: Config, registry: Registry, stop: asyncio.Event) -> None:
    delay_s = 1.0
    while not stop.is_set():
        try:
            await asyncio.to_thread(bootstrap_database, config, registry)
            return
        except psycopg.OperationalError as exc:
            log.error(
                "database unreachable at start (%s); alarms are served, telemetry waits in the broker; "
                "retrying in %.0f s",
                str(exc).strip().splitlines()[0] if str(exc).strip() else exc, delay_s,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay_s)
        delay_s = min(delay_s * 2, 30.0)


def _maintain_quietly(config: Config) -> None:
    assert config.database.url is not None
    try:
        with psycopg.connect(config.database.url, connect_timeout=5) as conn:
            partitions.maintain(conn, config.store, datetime.now(UTC))
    except psycopg.Error as exc:
        log.warning("maintenance skipped: %s", exc)


def with_database(config: Config, url: str) -> Config:
    return replace(config, database=replace(config.database, url=url))
