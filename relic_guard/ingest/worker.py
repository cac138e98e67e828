"""A telemetry ingest worker: one process, one MQTT session, one durable sink.

Why not aiomqtt or paho here: on this lane every microsecond per message counts. A plain
aiomqtt `async for` loop receives about 7k QoS 1 msg/s on this hardware and paho's own network
thread about 40k msg/s on a whole core (one receive call per packet, a property object and a
callback chain per message), which leaves nothing for parsing and storing. The worker therefore
reads the socket itself, 256 KiB at a time, through the small MQTT codec in `wire.py` (connect,
subscribe, PUBLISH in, PUBACKs out, ping), parses in that reader thread (pure adapters, no I/O),
and leaves batching, the database and the acknowledgements to one flusher thread. paho is still
what probes the broker's protocol version (`relic_guard/mqtt_probe.py`), and the alarm lane uses aiomqtt.

Invariants:
- a message is acknowledged only after the batch that holds it is durable
  (committed to PostgreSQL, or fsync'd to the spool), and in arrival order;
- the MQTT session is persistent (clean start off, session expiry set), so
  what was not acknowledged when the process dies is redelivered to it later;
- redelivered messages create no duplicate rows (the store's unique keys);
- the reader never blocks on the database: the Receive Maximum bounds
  what can pile up while a commit is slow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
from collections import Counter as TallyCounter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from relic_guard import metrics
from relic_guard.batch import Batch
from relic_guard.config import Config
from relic_guard.drones.feed import DroneRow, drone_row
from relic_guard.errors import SpoolError
from relic_guard.ingest import wire
from relic_guard.ingest.accumulator import BatchAccumulator, PendingBatch
from relic_guard.ingest.lanes import LaneTopics, source_label, telemetry_filters
from relic_guard.ingest.sinks import make_sink
from relic_guard.ingest.wire_client import WireClient
from relic_guard.mqtt_probe import negotiate_protocol
from relic_guard.registry import Registry
from relic_guard.spool import SpoolFull
from relic_guard.store.sink import DurableSink
from sensors.context import ParseContext
from sensors.model import Message, Record, Rejection, Source
from sensors.route import parse_message

log = logging.getLogger(__name__)


class TelemetryWorker:
    """One ingest worker. `run()` blocks until `stop` is set."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        index: int,
        stop: threading.Event,
        *,
        protocol: int | None = None,
        on_ready_change: Callable[[bool], None] | None = None,
        feed: Callable[[EngineFeed], None] | None = None,
        threshold_metrics: frozenset[str] = frozenset(),
    ) -> None:
        self.config = config
        self.index = index
        self.stop = stop
        self.name = f"ingest-{index}"
        self.client_id = f"{config.mqtt.client_id_prefix}-ingest-{index}"
        self.ctx = ParseContext(
            directory=registry,
            retention_s=config.store.retention_days * 86400.0,
            topic_prefix=config.mqtt.topic_prefix,
        )
        self.lanes = LaneTopics(config.mqtt.topic_prefix)
        self.accumulator = BatchAccumulator(
            max_messages=config.ingest.batch_max_messages,
            max_delay_s=config.ingest.batch_max_delay_ms / 1000.0,
        )
        self.batch_full = threading.Event()
        self.protocol = protocol
        self._tally: TallyCounter[str] = TallyCounter()
        self._topics: dict[str, tuple[bool, str]] = {}
        # Told when the worker becomes ready (subscribed) or stops being ready (disconnected).
        self.on_ready_change = on_ready_change
        # The alert engine (in the daemon's process) learns of each batch through this.
        self.feed = feed
        self.threshold_metrics = threshold_metrics

    # Reader thread -------------------------------------------------------------
    def _set_ready(self, ready: bool) -> None:
        metrics.BROKER_UP.labels(lane=self.name).set(1 if ready else 0)
        if self.on_ready_change is not None:
            self.on_ready_change(ready)

    def _topic_facts(self, topic: str) -> tuple[bool, str]:
        """(owned by the alarm lane, source label), worked out once per distinct topic."""
        facts = self._topics.get(topic)
        if facts is None:
            if len(self._topics) > 200_000:
                self._topics.clear()  # a bound against a flood of made-up topics
            facts = self._topics[topic] = (self.lanes.is_alarm(topic), source_label(topic, self.ctx.topic_prefix))
        return facts

    def _on_publish(self, packet: wire.Publish) -> None:
        now = time.monotonic()
        topic = packet.topic
        alarm, label = self._topic_facts(topic)
        if alarm:
            self.accumulator.add_passed_over(packet.packet_id, now)
            return
        message = Message(topic, packet.payload, datetime.now(UTC), packet.user_properties)
        result = parse_message(message, self.ctx)
        waiting = self.accumulator.add(message, result, packet.packet_id, now)
        tally = self._tally
        tally[label] += 1
        if isinstance(result, Rejection):
            tally["!" + result.reason.value] += 1
        if waiting >= self.accumulator.max_messages:
            self.batch_full.set()

    # Flusher (the worker's main thread) ------------------------------------------
    def _make_durable(self, sink: DurableSink, pending: PendingBatch) -> None:
        started = time.perf_counter()
        while True:
            try:
                # A record the database refuses for its content (not an outage) is kept on
                # disk for an operator and acknowledged: it cannot stop the lane.
                sink.write_or_set_aside(pending.batch)
                break
            except SpoolFull:
                # Nothing is acknowledged, so the broker keeps everything: ingestion
                # pauses here until the database returns and the spool drains.
                metrics.SPOOL_FULL.inc()
                if self.stop.wait(1.0):
                    raise
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_MESSAGES.observe(pending.batch.messages)

    def _publish_tally(self) -> None:
        # Swapping the counter is atomic under the GIL; an increment racing the swap lands
        # in one counter or the other, and both are published.
        tally, self._tally = self._tally, TallyCounter()
        for key, n in tally.items():
            if key.startswith("!"):
                metrics.REJECTIONS.labels(reason=key[1:]).inc(n)
            else:
                metrics.MESSAGES.labels(source=key, lane="telemetry").inc(n)

    def flush_loop(self, client: WireClient, sink: DurableSink) -> None:
        while True:
            stopping = self.stop.is_set()
            wait_s = self.accumulator.seconds_until_due(time.monotonic())
            if not stopping and (wait_s is None or wait_s > 0):
                self.batch_full.wait(timeout=wait_s if wait_s is not None else 0.2)
                self.batch_full.clear()
                if not self.accumulator.due(time.monotonic()) and not self.stop.is_set():
                    continue
            pending = self.accumulator.take()
            if pending is not None:
                if not pending.batch.empty:
                    if self.feed is not None:
                        # Before the write: an outage delays history, never what the rules see.
                        self.feed(engine_feed(pending.batch, self.threshold_metrics))
                    self._make_durable(sink, pending)
                client.ack(pending.ack_ids)
                self._publish_tally()
            if stopping:
                return

    def run(self) -> None:
        cfg = self.config
        if self.protocol is None:
            self.protocol = negotiate_protocol(cfg.mqtt)
        sink = make_sink(cfg, self.name)
        sink.start()
        reader_stop = threading.Event()
        client = WireClient(
            cfg.mqtt,
            self.client_id,
            telemetry_filters(cfg.mqtt),
            v5=self.protocol == mqtt.MQTTv5,
            on_publish=self._on_publish,
            stop=reader_stop,
            on_ready_change=self._set_ready,
            name=self.name,
        )
        reader = threading.Thread(target=client.run, name=f"{self.name}-reader", daemon=True)
        reader.start()
        try:
            self.flush_loop(client, sink)
        except SpoolError:
            log.error("%s: stopping with a batch neither stored nor spooled; the broker keeps it", self.name)
        finally:
            # The last PUBACKs left in flush_loop; now leave the broker politely.
            reader_stop.set()
            reader.join(5)
            sink.close()


# (devices heard from, records the rules need, aircraft OSD samples); what a worker tells the
# daemon per batch: the first two go to the alert engine, the samples to the drone monitor.
EngineFeed = tuple[list[tuple[str, str]], list[Record], list[DroneRow]]


def engine_feed(batch: Batch, threshold_metrics: frozenset[str]) -> EngineFeed:
    """What the alert engine needs of a batch: every device heard from (so a device that only
    sends telemetry is not taken for offline), every event (video, drone, patrol: the alarm
    lane has fire and security), and the readings of metrics some threshold rule watches;
    and every aircraft OSD sample, as a compact row, for the drone monitor."""
    heard: set[tuple[str, str]] = set()
    records: list[Record] = []
    drones: list[DroneRow] = []
    for reading in batch.telemetry:
        heard.add((reading.site, reading.device))
        if threshold_metrics and not threshold_metrics.isdisjoint(reading.values):
            records.append(reading)
        if reading.source is Source.DRONE:
            row = drone_row(reading)
            if row is not None:
                drones.append(row)
    for event in batch.events:
        heard.add((event.site, event.device))
        records.append(event)
    for change in batch.statuses:
        records.append(change)
    return list(heard), records, drones


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the daemon dies, even by SIGKILL: an orphaned
    worker would hold the MQTT session that the restarted daemon needs."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        log.debug("prctl(PR_SET_PDEATHSIG) unavailable; relying on the parent watch")


WORKER_NICENESS = 5


def worker_main(
    config: Config,
    registry: Registry,
    index: int,
    stop: Any,
    ready: Any = None,
    feed_queue: Any = None,
    threshold_metrics: frozenset[str] = frozenset(),
) -> None:
    """Entry point of a worker process (spawned by the daemon). `stop` is a multiprocessing
    Event; `ready`, a shared byte array in which this worker keeps its own slot at 1 while
    it is subscribed (the daemon's /readyz reads it); `feed_queue`, a multiprocessing queue
    to the daemon's alert engine (`EngineFeed` per batch)."""
    from relic_guard.logs import setup_logging

    _die_with_parent()
    # When the cores are saturated, the daemon's own process (alarms, the alert engine, deliveries)
    # must get them first: telemetry only waits a little longer in the broker's session.
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    # Ctrl-C in a terminal reaches the whole process group; the daemon decides when workers
    # stop (after their last batch), and a worker killed while waiting on the shared Event
    # would leave the daemon's `stop_event.set()` hanging.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_logging()
    parent = os.getppid()
    stop_flag = threading.Event()
    # systemd and `kill -TERM -<pgid>` signal the whole group: finish the batch, then leave.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stop_flag.set())

    def mark_ready(is_ready: bool) -> None:
        if ready is not None:
            ready[index] = 1 if is_ready else 0

    def watch_parent() -> None:
        while not stop.is_set() and os.getppid() == parent:
            time.sleep(0.2)
        stop_flag.set()

    dropped = 0

    def send_feed(item: EngineFeed) -> None:
        nonlocal dropped
        try:
            feed_queue.put_nowait(item)
        except queue.Full:
            # The daemon's loop is far behind; liveness is refreshed by the next batch.
            dropped += 1
            if dropped == 1 or dropped % 1000 == 0:
                log.error("%s: alert engine feed full, %d batch(es) not shown to the rules", f"ingest-{index}", dropped)

    threading.Thread(target=watch_parent, name="stop-watch", daemon=True).start()
    try:
        TelemetryWorker(
            config, registry, index, stop_flag, on_ready_change=mark_ready,
            feed=send_feed if feed_queue is not None else None, threshold_metrics=threshold_metrics,
        ).run()
    finally:
        mark_ready(False)
