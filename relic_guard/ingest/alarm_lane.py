"""The alarm lane: fire and security events and device statuses, on a connection of their own.

It runs in the daemon's event loop (aiomqtt). Each message is parsed and handed
to the alarm consumers (the alert engine) at once, from memory; only then is it
written, beside the alarm, through a durable sink of its own (database, or the
spool while the database is away); only after that is it acknowledged. So a
dead database delays the record of a fire alarm, never the alarm itself, and
telemetry, which never enters this lane, cannot stand in front of it; nor can the write of the
previous alarm: reading and writing are separate loops (see `_consume`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from relic_guard import metrics
from relic_guard.batch import Batch, quarantined
from relic_guard.config import Config
from relic_guard.ingest.lanes import alarm_filters, source_label
from relic_guard.mqtt_url import parse_broker_url
from relic_guard.registry import Registry
from relic_guard.spool import SpoolFull
from relic_guard.store.sink import DurableSink
from sensors.context import ParseContext
from sensors.model import Event, Message, Record, Rejection, StatusChange
from sensors.route import parse_message

log = logging.getLogger(__name__)

# Called with each accepted record as soon as it is parsed. Must be quick and must not raise
# (a consumer's failure is logged and the record is still stored).
AlarmConsumer = Callable[[Record], None]

# Fire and security event types an operator must see in the log even before #alerts routing.
_LOUD_TYPES = frozenset({"fire_alarm", "manual_alarm", "panic", "intrusion"})


def log_alarm(record: Record) -> None:
    """The consumer every daemon has: alarms are written to the log at WARNING, loudly."""
    if isinstance(record, Event) and record.type in _LOUD_TYPES and not record.clear:
        log.warning(
            "ALARM %s at site %s device %s zone %s (%s)",
            record.type, record.site, record.device, record.zone or "-", record.ts.isoformat(),
        )
    elif isinstance(record, StatusChange) and not record.online:
        log.warning("device %s/%s reported offline", record.site, record.device)


class _Gathered:
    """What the reader has handed to the consumers and the writer has not yet made durable."""

    def __init__(self) -> None:
        self.batch = Batch()
        self.messages: list[aiomqtt.Message] = []
        self.ready = asyncio.Event()

    def take(self) -> tuple[Batch, list[aiomqtt.Message]]:
        batch, messages = self.batch, self.messages
        self.batch, self.messages = Batch(), []
        return batch, messages


class AlarmLane:
    def __init__(
        self,
        config: Config,
        registry: Registry,
        sink: DurableSink,
        consumers: Sequence[AlarmConsumer] = (log_alarm,),
        *,
        protocol: int = mqtt.MQTTv5,
    ) -> None:
        self.config = config
        self.sink = sink
        self.consumers = list(consumers)
        self.protocol = protocol
        self.ctx = ParseContext(
            directory=registry,
            retention_s=config.store.retention_days * 86400.0,
            topic_prefix=config.mqtt.topic_prefix,
        )
        self.connected = False
        self.handled = 0

    def _client(self) -> aiomqtt.Client:
        cfg = self.config.mqtt
        address = parse_broker_url(cfg.url)
        v5 = self.protocol == mqtt.MQTTv5
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = cfg.session_expiry_s
            props.ReceiveMaximum = min(cfg.receive_maximum, 1000)
        client = aiomqtt.Client(
            address.host,
            address.port,
            username=address.username,
            password=address.password,
            identifier=f"{cfg.client_id_prefix}-alarms",
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            clean_session=None if v5 else False,
            clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            keepalive=cfg.keepalive_s,
            properties=props,
            tls_params=aiomqtt.TLSParameters(ca_certs=str(cfg.ca_file) if cfg.ca_file else None)
            if address.tls
            else None,
        )
        # Acknowledge only once the record is durable: aiomqtt has no switch for it, paho does.
        client._client.manual_ack_set(True)
        return client

    def handle(self, msg: Message, batch: Batch) -> None:
        """Parse, tell the consumers, and add to the batch being made durable (pure of I/O)."""
        result = parse_message(msg, self.ctx)
        metrics.MESSAGES.labels(source=source_label(msg.topic, self.ctx.topic_prefix), lane="alarm").inc()
        batch.messages += 1
        if isinstance(result, Rejection):
            metrics.REJECTIONS.labels(reason=result.reason.value).inc()
            batch.quarantine.append(quarantined(msg.topic, msg.payload, msg.received_at, result.reason, result.detail))
            # An alarm panel's message that cannot be read may be a fire nobody would hear of:
            # say so loudly rather than only counting it.
            log.error("UNREADABLE ALARM MESSAGE on %s (%s: %s); quarantined, check the device",
                      msg.topic, result.reason.value, result.detail)
            return
        for record in result:
            for consumer in self.consumers:
                try:
                    consumer(record)
                except Exception:
                    log.exception("alarm consumer %r failed on %s; the record is still stored", consumer, record)
        batch.add_records(result, msg.received_at)
        self.handled += 1

    async def _make_durable(self, batch: Batch) -> None:
        started = time.perf_counter()
        while True:
            try:
                await asyncio.to_thread(self.sink.write_or_set_aside, batch)
                break
            except SpoolFull:
                metrics.SPOOL_FULL.inc()
                await asyncio.sleep(1.0)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def _consume(self, client: aiomqtt.Client) -> None:
        """Two loops: the reader hands every message to the consumers the moment it arrives; the
        writer makes what the reader gathered durable and acknowledges it, in arrival order. So an
        alarm never waits behind the commit of the one before it (a commit can take 100 ms when
        the telemetry lane is writing hard); alarms arriving during a commit ride in the next."""
        gathered = _Gathered()
        reader = asyncio.create_task(self._read(client, gathered), name="alarm-reader")
        writer = asyncio.create_task(self._write(client, gathered), name="alarm-writer")
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise a broker or store error
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)

    async def _read(self, client: aiomqtt.Client, gathered: _Gathered) -> None:
        # aiomqtt's own queue, read directly: its `messages` iterator adds nothing here.
        queue: asyncio.Queue[aiomqtt.Message] = client._queue
        while True:
            m = await queue.get()
            topic = m.topic.value
            props = getattr(m.properties, "UserProperty", None) if m.properties is not None else None
            message = Message(topic, bytes(m.payload) if isinstance(m.payload, bytes | bytearray) else
                              str(m.payload).encode(), datetime.now(UTC), tuple(props) if props else ())
            self.handle(message, gathered.batch)
            gathered.messages.append(m)
            gathered.ready.set()

    async def _write(self, client: aiomqtt.Client, gathered: _Gathered) -> None:
        while True:
            await gathered.ready.wait()
            gathered.ready.clear()
            batch, taken = gathered.take()
            if not taken:
                continue
            await self._make_durable(batch)
            for m in taken:
                if m.qos > 0:
                    client._client.ack(m.mid, m.qos)

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config.mqtt
        backoff = cfg.reconnect_min_s
        while not stop.is_set():
            client = self._client()
            try:
                async with client:
                    self.connected = True
                    metrics.BROKER_UP.labels(lane="alarm").set(1)
                    backoff = cfg.reconnect_min_s
                    for topic_filter in alarm_filters(cfg):
                        await client.subscribe(topic_filter, qos=1)
                    log.info("alarm lane connected to %s", parse_broker_url(cfg.url).masked())
                    consume = asyncio.create_task(self._consume(client))
                    stopping = asyncio.create_task(stop.wait())
                    done, _ = await asyncio.wait({consume, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    for task in (consume, stopping):
                        if task not in done:
                            task.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await task
                    if consume in done:
                        consume.result()  # re-raise a broker error from the consumer
            except aiomqtt.MqttError as exc:
                if not stop.is_set():
                    log.warning("alarm lane lost the broker (%s); retrying in %.1f s", exc, backoff)
            finally:
                self.connected = False
                metrics.BROKER_UP.labels(lane="alarm").set(0)
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, cfg.reconnect_max_s)

