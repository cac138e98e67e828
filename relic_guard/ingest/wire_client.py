"""The telemetry workers' MQTT connection: a socket, the `wire` codec, and a reconnect loop.

One thread runs `run()`: it connects (persistent session, QoS 1), subscribes, reads whole
socket buffers (256 KiB at a time) and hands each PUBLISH to `on_publish`, pings when idle,
and reconnects with a capped backoff when the broker goes away. Any other thread may call
`ack()` with packet ids in arrival order: they leave in one `sendall`.

What happens to acknowledgements across a reconnect: ids of messages received on the old
connection may be acknowledged on the new one; the broker resends unacknowledged messages
with their old ids, so such an ack is for the same message, and a copy already queued for
the batch again is absorbed by the store's unique keys.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence

from relic_guard.config import MqttConfig
from relic_guard.errors import RelicGuardError
from relic_guard.ingest import wire
from relic_guard.mqtt_url import parse_broker_url

log = logging.getLogger(__name__)

_RECV_BYTES = 256 * 1024
_HANDSHAKE_TIMEOUT_S = 10.0


class BrokerRefusedError(RelicGuardError):
    """The broker answered CONNECT or SUBSCRIBE with a refusal; the message says which code."""


class WireClient:
    def __init__(
        self,
        cfg: MqttConfig,
        client_id: str,
        filters: Sequence[str],
        *,
        v5: bool,
        on_publish: Callable[[wire.Publish], None],
        stop: threading.Event,
        on_ready_change: Callable[[bool], None] | None = None,
        name: str = "mqtt",
    ) -> None:
        self.cfg = cfg
        self.address = parse_broker_url(cfg.url)
        self.client_id = client_id
        self.filters = tuple(filters)
        self.v5 = v5
        self.on_publish = on_publish
        self.on_ready_change = on_ready_change
        self.stop = stop
        self.name = name
        self._sock: socket.socket | None = None
        # One lock for reading and writing the socket: an SSL connection must not be read and
        # written by two threads at once. The reader holds it only while data is waiting
        # (select says so), so an acknowledgement waits at most for one buffer's read.
        self._io_lock = threading.Lock()
        self._last_send = 0.0
        self.ready = False
        self.connects = 0

    # Sending ---------------------------------------------------------------------------------
    def _send(self, data: bytes) -> bool:
        with self._io_lock:
            sock = self._sock
            if sock is None:
                return False
            try:
                sock.sendall(data)
            except OSError as exc:
                log.warning("%s: send failed (%s); the connection will be re-made", self.name, exc)
                self._shutdown(sock)
                return False
            self._last_send = time.monotonic()
            return True

    def ack(self, packet_ids: list[int]) -> bool:
        """Acknowledge QoS 1 messages, in the order given. False when not connected (the broker
        then redelivers them, and the store drops the copies)."""
        if not packet_ids:
            return True
        return self._send(wire.encode_pubacks(packet_ids))

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    # Connection ------------------------------------------------------------------------------
    def _open_socket(self) -> socket.socket:
        sock = socket.create_connection((self.address.host, self.address.port), timeout=_HANDSHAKE_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        if self.address.tls:
            context = ssl.create_default_context(cafile=str(self.cfg.ca_file) if self.cfg.ca_file else None)
            sock = context.wrap_socket(sock, server_hostname=self.address.host)
        return sock

    def _handshake(self, sock: socket.socket, decoder: wire.PacketDecoder) -> list[wire.Packet]:
        """CONNECT and CONNACK; returns packets that arrived right behind the CONNACK."""
        sock.sendall(
            wire.encode_connect(
                self.client_id,
                v5=self.v5,
                keepalive_s=self.cfg.keepalive_s,
                clean_start=False,
                session_expiry_s=self.cfg.session_expiry_s,
                receive_maximum=self.cfg.receive_maximum,
                username=self.address.username,
                password=self.address.password,
            )
        )
        deadline = time.monotonic() + _HANDSHAKE_TIMEOUT_S
        while time.monotonic() < deadline:
            data = sock.recv(_RECV_BYTES)
            if not data:
                raise ConnectionError("the broker closed the connection during CONNECT")
            packets = decoder.feed(data)
            if packets:
                first = packets[0]
                if not isinstance(first, wire.ConnAck):
                    raise wire.ProtocolError(f"expected CONNACK, got {type(first).__name__}")
                if not first.accepted:
                    raise BrokerRefusedError(f"the broker refused CONNECT (reason code 0x{first.reason_code:02x})")
                log.info("%s: connected (session %s)", self.name, "resumed" if first.session_present else "new")
                return packets[1:]
        raise TimeoutError("no CONNACK within 10 s")

    def _set_ready(self, ready: bool) -> None:
        if ready != self.ready:
            self.ready = ready
            if self.on_ready_change is not None:
                self.on_ready_change(ready)

    def _handle(self, packets: list[wire.Packet]) -> bool:
        """Dispatch packets; False when the broker asked us to leave."""
        on_publish = self.on_publish
        for packet in packets:
            if isinstance(packet, wire.Publish):
                on_publish(packet)
            elif isinstance(packet, wire.SubAck):
                if not packet.accepted:
                    codes = ", ".join(f"0x{c:02x}" for c in packet.reason_codes)
                    log.error("%s: the broker refused the subscription (%s); check its ACL for this client",
                              self.name, codes)
                    continue
                # Ready only now: the broker queues for this session from the SUBACK on.
                self._set_ready(True)
            elif isinstance(packet, wire.Disconnect):
                log.warning("%s: the broker disconnected us (reason code 0x%02x)", self.name, packet.reason_code)
                return False
        return True

    def _session(self) -> None:
        """One connection, from CONNECT until it ends."""
        decoder = wire.PacketDecoder(v5=self.v5)
        sock = self._open_socket()
        try:
            early = self._handshake(sock, decoder)
            sock.settimeout(_HANDSHAKE_TIMEOUT_S)  # a guard: reads happen only when select says so
            with self._io_lock:
                self._sock = sock
            self.connects += 1
            self._send(wire.encode_subscribe(1, list(self.filters), v5=self.v5))
            if not self._handle(early):
                return
            keepalive = float(self.cfg.keepalive_s)
            last_received = time.monotonic()
            tls = isinstance(sock, ssl.SSLSocket)
            while not self.stop.is_set():
                data: bytes | None = None
                waiting = tls and sock.pending() > 0  # type: ignore[attr-defined]
                if not waiting:
                    readable, _, _ = select.select([sock], [], [], 1.0)
                    waiting = bool(readable)
                if waiting:
                    with self._io_lock:
                        data = sock.recv(_RECV_BYTES)
                now = time.monotonic()
                if data is not None:
                    if not data:
                        raise ConnectionError("the broker closed the connection")
                    last_received = now
                    if not self._handle(decoder.feed(data)):
                        return
                if keepalive and now - self._last_send >= keepalive / 2:
                    self._send(wire.PINGREQ_BYTES)
                if keepalive and now - last_received > keepalive * 1.5:
                    raise TimeoutError(f"nothing from the broker for {keepalive * 1.5:.0f} s")
            self._send(wire.encode_disconnect(v5=self.v5))
        finally:
            with self._io_lock:
                self._sock = None
            self._set_ready(False)
            with contextlib.suppress(OSError):
                sock.close()

    def run(self) -> None:
        backoff = self.cfg.reconnect_min_s
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self._session()
            except (OSError, wire.ProtocolError, BrokerRefusedError) as exc:
                if self.stop.is_set():
                    break
                log.warning("%s: connection to %s lost (%s); reconnecting in %.1f s",
                            self.name, self.address.masked(), exc, backoff)
            if self.stop.is_set():
                break
            if time.monotonic() - started > 30:
                backoff = self.cfg.reconnect_min_s  # it was a good connection; start the backoff over
            self.stop.wait(backoff)
            backoff = min(backoff * 2, self.cfg.reconnect_max_s)
