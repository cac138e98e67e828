"""The video process's one MQTT connection: frames (and Frigate events) in, video events out.

- Frames are subscribed at QoS 0 (a late frame is worthless, so none is kept or redelivered),
  one exact topic per configured camera (`{prefix}/{site}/video/{camera}/frame`): the broker
  then sends this process only the frames it analyses, which matters when several video
  processes share the cameras of one broker.
- The session is clean: nothing waits in the broker for a video process that is away; what the
  cameras sent meanwhile is stale by the time it is back.
- Events go out at QoS 1 from the `Outbox`, at most `window` unacknowledged at a time (paho
  loses messages past its 65,535 packet ids, and a broker that is slow to acknowledge should not
  make us hold more). paho keeps the messages it was handed across a reconnect and sends them
  again; the rest wait in the outbox, which is bounded and drops its oldest when full.

paho's network thread calls `on_message`; it must be quick (a frame is queued, not decoded).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from relic_guard import metrics
from relic_guard.config import MqttConfig
from relic_guard.mqtt_url import parse_broker_url
from relic_guard.video.publish import Outbox, OutgoingEvent
from sensors.model import Message

log = logging.getLogger(__name__)

LANE: Final = "video"
# Topics per SUBSCRIBE packet: a few hundred cameras fit a handful of packets.
_SUBSCRIBE_CHUNK: Final = 100


class VideoLink:
    def __init__(
        self,
        cfg: MqttConfig,
        topics: Sequence[tuple[str, int]],
        on_message: Callable[[Message], None],
        outbox: Outbox,
        *,
        window: int = 100,
        protocol: int = mqtt.MQTTv5,
        received_at: Callable[[], Any],
    ) -> None:
        self.cfg = cfg
        self.topics = list(topics)
        self.handle = on_message
        self.outbox = outbox
        self.window = threading.BoundedSemaphore(window)
        self.received_at = received_at
        self.connected = threading.Event()
        # Set once the broker has confirmed every subscription of the current connection.
        self.subscribed = threading.Event()
        self._pending_subacks = 0
        self._v5 = protocol == mqtt.MQTTv5
        # Unique per process: several video processes (one per NVR) may share a broker, and a
        # clean session has nothing to find again under a fixed id.
        client_id = f"{cfg.client_id_prefix}-video-{socket.gethostname()}-{os.getpid()}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)  # type: ignore[arg-type]
        address = parse_broker_url(cfg.url)
        self._address = address
        if address.username:
            self.client.username_pw_set(address.username, address.password)
        if address.tls:
            self.client.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None)
        self.client.max_inflight_messages_set(window)
        self.client.reconnect_delay_set(max(1, round(cfg.reconnect_min_s)), max(1, round(cfg.reconnect_max_s)))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        # mid -> contract type of the events handed to paho and not yet acknowledged
        self._types: dict[int, str] = {}
        self._early: dict[int, ReasonCode] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="video-publish", daemon=True)

    # Lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        metrics.BROKER_UP.labels(lane=LANE).set(0)
        self.client.connect_async(self._address.host, self._address.port, keepalive=self.cfg.keepalive_s,
                                  clean_start=True if self._v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY)
        self.client.loop_start()
        self._sender.start()

    def stop(self, drain_s: float = 3.0) -> None:
        """Hand over what the outbox holds (for up to `drain_s` while connected), then leave."""
        if self.connected.is_set():
            deadline = time.monotonic() + drain_s
            pause = threading.Event()
            while (len(self.outbox) or self._in_flight()) and time.monotonic() < deadline:
                pause.wait(0.02)
        self._stop.set()
        self._sender.join(5)
        self.client.disconnect()
        self.client.loop_stop()
        metrics.BROKER_UP.labels(lane=LANE).set(0)

    def _in_flight(self) -> int:
        with self._lock:
            return len(self._types)

    # paho callbacks (its network thread) ----------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if reason.is_failure:
            log.error("broker %s refused the video connection: %s", self._address.masked(), reason)
            return
        step = _SUBSCRIBE_CHUNK
        chunks = [self.topics[start : start + step] for start in range(0, len(self.topics), step)]
        with self._lock:
            self._pending_subacks = len(chunks)
        if not chunks:
            self.subscribed.set()
        for chunk in chunks:
            client.subscribe(chunk)
        self.connected.set()
        if not chunks:
            metrics.BROKER_UP.labels(lane=LANE).set(1)
        log.info("video connected to %s (%d subscriptions)", self._address.masked(), len(self.topics))

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if self.connected.is_set() and not self._stop.is_set():
            log.warning("video lost the broker (%s); frames wait for the reconnection, events in the outbox", reason)
        self.connected.clear()
        self.subscribed.clear()
        metrics.BROKER_UP.labels(lane=LANE).set(0)

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: object) -> None:
        refused = [code for code in codes if code.is_failure]
        if refused:
            log.error("broker refused %d video subscription(s) (%s); check the broker's ACL for this client",
                      len(refused), refused[0])
        with self._lock:
            self._pending_subacks -= 1
            done = self._pending_subacks <= 0
        if done:
            # Up once the broker confirmed the subscriptions: from then on no frame passes us by.
            self.subscribed.set()
            metrics.BROKER_UP.labels(lane=LANE).set(1)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        properties = getattr(message, "properties", None)
        user = tuple(getattr(properties, "UserProperty", None) or ()) if properties is not None else ()
        try:
            self.handle(Message(message.topic, bytes(message.payload), self.received_at(), user))
        except Exception:  # a fault in handling one message must not stop the network thread
            log.exception("video: message on %s not handled", message.topic)

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        # Called under paho's own lock on its outgoing messages, which `publish` takes too: never
        # wait here for anything a thread holds while it calls `publish`.
        with self._lock:
            type_ = self._types.pop(mid, None)
            if type_ is None:
                # Acknowledged before `_send` noted what it was (paho's thread was quicker).
                self._early[mid] = reason
                return
        self._acknowledged(type_, reason)

    def _acknowledged(self, type_: str, reason: ReasonCode) -> None:
        if reason.is_failure:
            log.error("broker refused a video %s event (%s); check the broker's ACL for this client", type_, reason)
        metrics.VIDEO_EVENTS.labels(type=type_, outcome="refused" if reason.is_failure else "published").inc()
        self.window.release()

    # Sending -------------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self._stop.is_set():
            if not self.connected.wait(0.2):
                continue
            if not self.window.acquire(timeout=0.2):
                continue
            item = self.outbox.take(0.2)
            if item is None:
                self.window.release()
                continue
            # Lost the broker while waiting for the event: it waits in the outbox, not in paho.
            if not self.connected.is_set() or not self._send(item):
                self.window.release()
                self.outbox.give_back(item)
                self._stop.wait(0.2)

    def _send(self, item: OutgoingEvent) -> bool:
        info = self.client.publish(item.topic, item.payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.error("video event to %s not handed to the client: %s", item.topic, mqtt.error_string(info.rc))
            return False
        # Handed over: paho sends it now, or after the reconnection (NO_CONN).
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._types[info.mid] = item.type
        if early is not None:
            self._acknowledged(item.type, early)
        return True
