"""Which MQTT version a broker speaks: MQTT 5 when it accepts it, else 3.1.1.

Asked once at start by the daemon and the simulator, with a throw-away clean session, so that
the real persistent sessions are never created with the wrong protocol.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from relic_guard.config import MqttConfig
from relic_guard.mqtt_url import parse_broker_url

log = logging.getLogger(__name__)


def negotiate_protocol(cfg: MqttConfig, timeout_s: float = 5.0) -> int:
    """MQTT 5 when the broker accepts it, else 3.1.1 (e.g. a broker that speaks only 3.1.1).

    Probes with a throw-away clean session so the real session is never created
    with the wrong protocol."""
    address = parse_broker_url(cfg.url)
    outcome: dict[str, Any] = {}
    done = threading.Event()
    probe = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
    if address.username:
        probe.username_pw_set(address.username, address.password)
    if address.tls:
        probe.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        outcome["reason"] = reason
        done.set()

    def on_disconnect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        outcome.setdefault("reason", reason)
        done.set()

    probe.on_connect = on_connect
    probe.on_disconnect = on_disconnect
    try:
        probe.connect(address.host, address.port, keepalive=10)
    except OSError:
        return mqtt.MQTTv5  # unreachable now: the reconnect loop will retry with MQTT 5
    probe.loop_start()
    done.wait(timeout_s)
    probe.disconnect()
    probe.loop_stop()
    reason = outcome.get("reason")
    if reason is not None and not reason.is_failure:
        return mqtt.MQTTv5
    log.warning("broker %s refused MQTT 5 (%s); falling back to MQTT 3.1.1", address.masked(), reason)
    return mqtt.MQTTv311
