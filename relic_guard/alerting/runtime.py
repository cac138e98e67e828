"""The alerting part of the daemon, assembled from the configuration: built before the lanes start,
run on the daemon's event loop, stopped after them.

    Alerting.build(config, registry)   load routing, thresholds, keys; make journal, channels, service
    await alerting.start(stop)         journal thread, restore open alerts, tick loop, feed reader
    alerting.consume(record)           the alarm lane's consumer (sync, on the loop)
    alerting.feed_queue                the telemetry workers' queue (multiprocessing, spawn context)
    alerting.drones                    the drone monitor: its samples come with the feed, its tick with
                                       the alert service's, its closed flights go to drone_flights
    await alerting.stop()              drain deliveries, close channels, flush or save the journal

Start-up with the database down: the engine starts empty and takes alarms at once; the open alerts
stored before the restart are read back as soon as the database answers and merged (an alert the
engine opened meanwhile for the same key wins: it is the newer fact).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from alerts.model import Alert
from alerts.rules.common import RuleContext
from relic_guard.alerting import channels as channel_factory
from relic_guard.alerting.dispatch import Dispatcher
from relic_guard.alerting.journal import AlertJournal
from relic_guard.alerting.records import SYSTEM_ACTOR
from relic_guard.alerting.service import AckLinks, AlertService, utc_now
from relic_guard.alerting.thresholds_load import engine_settings, load_thresholds, retry_policy
from relic_guard.alerting.tokens import TokenStore, load_tokens
from relic_guard.audit import AuditEntry, load_or_create_key
from relic_guard.config import Config
from relic_guard.dashboard.app import DashboardDeps
from relic_guard.dashboard.pages import dashboard_deps
from relic_guard.drones.monitor import DroneMonitor, MonitorSettings
from relic_guard.drones.zones_load import load_zones
from relic_guard.registry import Registry
from relic_guard.routing_load import RoutingConfig, check_against_registry, load_routing
from relic_guard.store import alerts as alert_store
from sensors.model import Record

log = logging.getLogger(__name__)


def _fingerprints(paths: Iterable[Path | None]) -> dict[str, str]:
    """sha256 of each configuration file, so the audit trail shows when one changed."""
    found: dict[str, str] = {}
    for path in paths:
        if path is not None and path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@dataclass
class Alerting:
    config: Config
    registry: Registry
    service: AlertService
    journal: AlertJournal
    channels: channel_factory.ChannelSet
    subscriptions: channel_factory.StoredPushSubscriptions
    feed_queue: Any
    threshold_metrics: frozenset[str]
    config_files: dict[str, str]
    tokens: TokenStore | None
    # The audit trail's key (read once; the schedule's jobs write audit entries with it too).
    audit_key: bytes
    dashboard: DashboardDeps
    _tasks: list[asyncio.Task[Any]]
    _feed_thread: threading.Thread | None = None
    _feed_stop: threading.Event | None = None
    # Flights, geofences and safety of the drones (their samples come with the engine feed).
    drones: DroneMonitor | None = None

    @classmethod
    def build(cls, config: Config, registry: Registry) -> Alerting:
        assert config.database.url is not None
        settings = config.alerts
        routing: RoutingConfig | None = None
        if settings.routing_file is not None:
            routing = load_routing(settings.routing_file)
            check_against_registry(routing, registry.sites)
        thresholds = (
            load_thresholds(settings.thresholds_file, registry.sites, registry.devices)
            if settings.thresholds_file is not None
            else ()
        )
        ctx = RuleContext(
            sites=registry.sites,
            devices=registry.devices,
            thresholds=thresholds,
            settings=engine_settings(settings),
        )
        audit_key = load_or_create_key(config.audit.key_file)
        journal = AlertJournal(
            config.database.url, audit_key, config.spool.dir, connect_timeout_s=config.database.connect_timeout_s
        )
        # Phones register their push subscriptions through the API; kept in the database.
        subscriptions = channel_factory.StoredPushSubscriptions(
            config.database.url, connect_timeout_s=config.database.connect_timeout_s
        )
        channels = channel_factory.open_channels(settings, subscriptions=subscriptions)
        dispatcher = Dispatcher(channels, retry_policy(settings), journal, utc_now)
        ack_key = channel_factory.load_or_create_ack_key(settings.ack_key_file)
        ack = AckLinks(settings.public_url, ack_key, float(settings.ack_ttl_s))
        service = AlertService(
            ctx=ctx, sites=registry.sites, routing=routing, journal=journal, dispatcher=dispatcher, ack_links=ack
        )
        drones = DroneMonitor.build(
            service, registry.sites,
            zones=load_zones(config.drones.zones_file, registry.sites, default_margin_m=config.drones.geofence_margin_m)
            if config.drones.zones_file is not None else None,
            settings=MonitorSettings(patrol_coverage_share=config.drones.patrol_coverage_share,
                                     geofence_margin_m=config.drones.geofence_margin_m,
                                     camera_fov_deg=config.drones.camera_fov_deg),
            database_url=config.database.url, spool_dir=config.spool.dir,
            connect_timeout_s=config.database.connect_timeout_s,
        )
        files = [config.source_file, settings.routing_file, settings.thresholds_file, settings.api_tokens_file,
                 config.drones.zones_file]
        files += sorted(config.registry_dir.glob("sites.*")) + sorted(config.registry_dir.glob("devices.*"))
        return cls(
            config=config,
            registry=registry,
            service=service,
            journal=journal,
            channels=channels,
            subscriptions=subscriptions,
            feed_queue=multiprocessing.get_context("spawn").Queue(maxsize=10_000),
            threshold_metrics=frozenset(rule.metric for rule in thresholds),
            config_files=_fingerprints(files),
            tokens=load_tokens(settings.api_tokens_file, registry.sites) if settings.api_tokens_file else None,
            audit_key=audit_key,
            dashboard=dashboard_deps(service, registry, config.database.url, settings.public_url),
            _tasks=[],
            drones=drones,
        )

    # The alarm lane's consumer -------------------------------------------------------------

    def consume(self, record: Record) -> None:
        self.service.on_record(record)

    # Running ----------------------------------------------------------------------------------

    async def start(self, stop: asyncio.Event) -> None:
        """What needs no database: alarms are evaluated and delivered from here on."""
        self.journal.start()
        loop = asyncio.get_running_loop()
        self._feed_stop = threading.Event()
        self._feed_thread = threading.Thread(
            target=self._read_feed, args=(loop, self._feed_stop), name="engine-feed", daemon=True
        )
        self._feed_thread.start()
        self._tasks = [asyncio.create_task(self._tick_loop(stop), name="alert-ticks")]
        if self.drones is not None:
            await self.drones.start()
            self._tasks.append(asyncio.create_task(self.drones.run(stop), name="drone-flights"))

    async def database_ready(self, stop: asyncio.Event) -> None:
        """Once the schema is in place: push subscriptions and the open alerts of before."""
        await self.subscriptions.start()  # one try; it keeps retrying by itself if the database goes
        self._tasks.append(asyncio.create_task(self._restore(stop), name="alert-restore"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.drones is not None:
            await self.drones.close()
        if self._feed_stop is not None:
            self._feed_stop.set()
        assert self.service.dispatcher is not None
        left = await self.service.dispatcher.drain(10.0)
        if left:
            log.error("stopped with %d notification(s) still being delivered; see the journal", left)
        await self.subscriptions.aclose()
        await self.channels.aclose()
        await asyncio.to_thread(self.journal.close, 10.0)
        if self._feed_thread is not None:
            await asyncio.to_thread(self._feed_thread.join, 2.0)
        self.feed_queue.close()
        self.feed_queue.cancel_join_thread()

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        interval_s = self.config.alerts.tick_interval_ms / 1000.0
        while not stop.is_set():
            try:
                self.service.tick()
            except Exception:  # a bug in one rule must not stop heartbeats and escalations
                log.exception("alert tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    def _read_feed(self, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                heard, records, drones = self.feed_queue.get(timeout=0.5)
            except queue.Empty:
                continue
            except (EOFError, OSError, ValueError):
                return  # the queue was closed at shutdown
            try:
                loop.call_soon_threadsafe(self.service.on_feed, heard, records)
                if drones and self.drones is not None:
                    loop.call_soon_threadsafe(self.drones.on_samples, drones)
            except RuntimeError:
                return  # the loop has closed

    async def _restore(self, stop: asyncio.Event) -> None:
        """Read back the open alerts stored before this start (retrying while the database is
        down), then record the configuration this daemon runs with in the audit trail."""
        delay_s = 1.0
        while not stop.is_set():
            try:
                # Snapshots saved at the last stop (database down then) go in before reading back.
                if self.journal.pending:
                    await asyncio.to_thread(self.journal.flush, 30.0)
                stored, previous = await asyncio.to_thread(self._read_state)
                break
            except psycopg.Error as exc:
                log.error("cannot read open alerts yet (%s); new alarms are handled, retrying in %.0f s",
                          str(exc).strip().splitlines()[0] if str(exc).strip() else exc, delay_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay_s)
            delay_s = min(delay_s * 2, 30.0)
        else:
            return
        restored = self.service.restore(_merge(stored, self.service.open_alerts()))
        log.info("alert state restored: %d open alert(s)", restored)
        changed = sorted(name for name, digest in self.config_files.items() if previous.get(name) != digest)
        self.journal.put(AuditEntry(
            at=utc_now(), actor=SYSTEM_ACTOR, kind="config.changed" if changed and previous else "config.loaded",
            subject=str(self.config.source_file or "built-in defaults"),
            detail={"files": self.config_files, "changed": changed},
        ))

    def _read_state(self) -> tuple[list[Alert], dict[str, str]]:
        assert self.config.database.url is not None
        timeout_s = int(self.config.database.connect_timeout_s)
        with psycopg.connect(self.config.database.url, connect_timeout=timeout_s) as conn:
            stored = alert_store.load_open(conn)
            row = conn.execute(
                "SELECT detail FROM audit_log WHERE kind IN ('config.loaded', 'config.changed') "
                "ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        previous = row[0].get("files", {}) if row is not None and isinstance(row[0], dict) else {}
        return stored, {str(k): str(v) for k, v in previous.items()}


def _merge(stored: list[Alert], live: list[Alert]) -> list[Alert]:
    """Stored open alerts plus those opened since the start; a live alert wins its key."""
    by_key = {alert.key: alert for alert in stored}
    by_key.update({alert.key: alert for alert in live})
    return list(by_key.values())
