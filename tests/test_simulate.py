"""The traffic simulator: a deterministic plan that honours its rate and the contract, registry
sheets that match it, and a publisher that loses nothing on the way through a real Mosquitto."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from relic_guard.embedded import EmbeddedMosquitto
from relic_guard.registry import Registry, load_registry
from relic_guard.simulate import (
    DEVICES_PER_SITE,
    JINAN_DISTRICTS,
    METRICS,
    SCENARIOS,
    SimulateError,
    parse_broker_url,
    plan_traffic,
    publish,
    registry_for,
    write_registry,
)
from sensors.context import ParseContext
from sensors.model import Event, Message, Record, Rejection, StatusChange, Telemetry
from sensors.route import parse_message

START_MS = 1_795_744_800_000  # 2026-11-27T10:00:00+08:00


def _plan(
    scenario: str = "steady", *, sites: int = 5, rate: float = 50.0, duration: float | None = 60.0,
    seed: int = 7, prefix: str = "relic",
) -> list[tuple[float, str, bytes]]:
    return list(plan_traffic(sites, rate, duration, seed, scenario, prefix, start_ms=START_MS))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    folder = tmp_path_factory.mktemp("registry")
    write_registry(40, folder)
    return load_registry(folder)


# The plan ------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_plan_is_deterministic_for_a_seed(scenario: str) -> None:
    assert _plan(scenario) == _plan(scenario)
    assert _plan(scenario) != _plan(scenario, seed=8)


def test_start_ms_only_moves_the_timestamps_and_ids() -> None:
    first = plan_traffic(3, 20, 10, 1, "steady", start_ms=START_MS)
    later = plan_traffic(3, 20, 10, 1, "steady", start_ms=START_MS + 3_600_000)
    for (o1, t1, p1), (o2, t2, p2) in zip(first, later, strict=True):
        assert (o1, t1) == (o2, t2)
        if p1.startswith(b"{"):
            a, b = json.loads(p1), json.loads(p2)
            assert b["ts"] - a["ts"] == 3_600_000
            assert a["id"] != b["id"]  # a rerun is not mistaken for a redelivery


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_offsets_never_go_back_and_stay_within_the_duration(scenario: str) -> None:
    offsets = [offset for offset, _, _ in _plan(scenario, duration=45.5)]
    assert offsets == sorted(offsets)
    assert offsets[0] >= 0.0
    assert offsets[-1] < 45.5


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_simulated_second_carries_the_rate(scenario: str) -> None:
    plan = _plan(scenario, sites=20, rate=500.0, duration=30.0)
    per_second = Counter(math.floor(offset) for offset, _, _ in plan)
    assert len(plan) == 500 * 30
    assert sorted(per_second) == list(range(30))
    assert set(per_second.values()) == {500}


def test_a_fractional_rate_is_honoured_over_time() -> None:
    plan = _plan(sites=2, rate=12.5, duration=60.0)
    assert len(plan) == 750
    per_second = Counter(math.floor(offset) for offset, _, _ in plan)
    assert set(per_second.values()) <= {12, 13}


def test_a_start_up_burst_is_paid_back_by_the_following_seconds() -> None:
    # 200 sites announce 1,000 statuses in the first second, at a budget of 100 msg/s.
    plan = _plan(sites=200, rate=100.0, duration=60.0)
    per_second = Counter(math.floor(offset) for offset, _, _ in plan)
    assert per_second[0] >= 200 * DEVICES_PER_SITE
    assert len(plan) == 100 * 60


def test_an_endless_plan_keeps_going() -> None:
    endless = plan_traffic(2, 1000, None, 1, "flood", start_ms=START_MS)
    last = list(islice(endless, 50_000))[-1]
    assert last[0] >= 49.0


def test_one_device_never_repeats_a_millisecond() -> None:
    # 1 site, 3 sensors, 10k msg/s: far more than one reading per millisecond per device.
    last: dict[str, int] = {}
    for _, topic, payload in _plan("flood", sites=1, rate=10_000.0, duration=2.0):
        ts = json.loads(payload)["ts"]
        assert ts > last.get(topic, -1)
        last[topic] = ts


@pytest.mark.parametrize(
    ("sites", "rate", "duration", "scenario"),
    [(0, 10, 10, "steady"), (1, 0, 10, "steady"), (1, 10, 0, "steady"), (1, 10, 10, "earthquake")],
)
def test_nonsense_arguments_are_refused(sites: int, rate: float, duration: float, scenario: str) -> None:
    with pytest.raises(ValueError):
        plan_traffic(sites, rate, duration, 1, scenario, start_ms=START_MS)


# The contract -----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_real_adapter_accepts_every_message(scenario: str, registry: Registry) -> None:
    ctx = ParseContext(directory=registry)
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for offset, topic, payload in _plan(scenario, sites=40, rate=400.0, duration=90.0):
        received = datetime.fromtimestamp(START_MS / 1000 + offset + 0.05, UTC)
        result = parse_message(Message(topic, payload, received), ctx)
        assert not isinstance(result, Rejection), (topic, payload, result)
        assert len(result) == 1
        record = result[0]
        if isinstance(record, Telemetry):
            assert sorted(record.values) == sorted(METRICS)
            assert not record.ts_from_receive
            assert abs(record.ts.timestamp() * 1000 - (START_MS + offset * 1000)) <= 1
        if isinstance(record, Event):
            assert not record.ts_from_receive
        if payload.startswith(b"{"):
            body = json.loads(payload)
            device = (record.site, record.device)
            assert body["id"] not in ids[device], f"id {body['id']} repeated by {device}"
            ids[device].add(body["id"])
            assert len(body["id"]) <= 128


def _records(scenario: str, registry: Registry, *, rate: float, duration: float) -> list[tuple[float, Record]]:
    ctx = ParseContext(directory=registry)
    out: list[tuple[float, Record]] = []
    for offset, topic, payload in _plan(scenario, sites=40, rate=rate, duration=duration):
        received = datetime.fromtimestamp(START_MS / 1000 + offset, UTC)
        result = parse_message(Message(topic, payload, received), ctx)
        assert not isinstance(result, Rejection)
        out.extend((offset, record) for record in result)
    return out


def test_steady_is_mostly_telemetry_with_heartbeats_and_statuses(registry: Registry) -> None:
    records = _records("steady", registry, rate=200.0, duration=120.0)
    kinds = Counter(type(r).__name__ for _, r in records)
    assert kinds["Telemetry"] > 0.9 * len(records)
    online = {(r.site, r.device) for _, r in records if isinstance(r, StatusChange) and r.online}
    assert len(online) == 40 * DEVICES_PER_SITE
    beats = Counter(r.site for _, r in records if isinstance(r, Event) and r.type == "heartbeat")
    assert set(beats) == {f"sim-{i:04d}" for i in range(1, 41)}
    assert set(beats.values()) <= {3, 4}  # every 30 s for 120 s
    assert not [r for _, r in records if isinstance(r, Event) and r.type in ("fire_alarm", "intrusion")]


def test_fire_raises_an_alarm_that_a_second_detector_confirms(registry: Registry) -> None:
    records = _records("fire", registry, rate=200.0, duration=60.0)
    alarms = [(t, r) for t, r in records if isinstance(r, Event) and r.type == "fire_alarm"]
    (t1, first), (t2, second) = alarms[:2]
    assert 2.0 <= t1 <= 10.0
    assert t1 < t2 <= t1 + 15.0
    assert (first.site, first.zone) == (second.site, second.zone)
    assert first.attrs.get("component") != second.attrs.get("component")
    # The env sensors of that site see the smoke.
    smoke = [
        r.values["smoke_obscuration_pct"] for t, r in records
        if isinstance(r, Telemetry) and r.site == first.site and t > t2
    ]
    assert smoke and max(smoke) > 5.0


def test_intrusion_trips_the_security_panel(registry: Registry) -> None:
    records = _records("intrusion", registry, rate=200.0, duration=60.0)
    types = [r.type for _, r in records if isinstance(r, Event) and r.source == "security"]
    assert "intrusion" in types and "vibration" in types


def test_outage_takes_a_device_offline_for_good(registry: Registry) -> None:
    records = _records("outage", registry, rate=200.0, duration=120.0)
    offline = [(t, r) for t, r in records if isinstance(r, StatusChange) and not r.online]
    assert len(offline) == 1
    when, gone = offline[0]
    after = [r for t, r in records if t > when and (r.site, r.device) == (gone.site, gone.device)]
    assert after == []


def test_flood_is_telemetry_only(registry: Registry) -> None:
    records = _records("flood", registry, rate=1000.0, duration=10.0)
    assert {type(r) for _, r in records} == {Telemetry}


def test_the_prefix_is_the_first_topic_level() -> None:
    assert {topic.split("/")[0] for _, topic, _ in _plan(prefix="heritage")} == {"heritage"}


# The registry sheets ------------------------------------------------------------------


def test_registry_sheets_name_exactly_the_simulated_devices(registry: Registry) -> None:
    seen = {tuple(topic.split("/")[1:4:2]) for _, topic, _ in _plan(sites=40, rate=400.0)}
    assert set(registry.devices) == seen
    assert len(registry.sites) == 40
    site = registry.sites["sim-0007"]
    assert site.name == "模拟文物点0007"
    assert site.district in JINAN_DISTRICTS
    assert site.boundary_wkt is not None and site.lat is not None and site.custodians


def test_registry_sheets_have_the_contract_columns() -> None:
    sites_csv, devices_csv = registry_for(2)
    assert sites_csv.splitlines()[0] == (
        "id,name,district,level,kind,lat,lon,custodians,boundary_wkt,open_hours"
    )
    assert devices_csv.splitlines()[0] == "site,id,source,kind,zone,heartbeat_s,external_id"
    assert len(devices_csv.splitlines()) == 1 + 2 * DEVICES_PER_SITE
    # A site's row does not depend on how many sites are simulated.
    assert registry_for(5)[0].splitlines()[1:3] == sites_csv.splitlines()[1:3]


def test_write_registry_writes_both_sheets(tmp_path: Path) -> None:
    sites_path, devices_path = write_registry(3, tmp_path / "reg")
    assert sites_path.read_text(encoding="utf-8") == registry_for(3)[0]
    assert devices_path.read_text(encoding="utf-8") == registry_for(3)[1]


# Broker URLs ----------------------------------------------------------------------------


def test_broker_urls() -> None:
    plain = parse_broker_url("mqtt://127.0.0.1:1884")
    assert (plain.host, plain.port, plain.username, plain.tls) == ("127.0.0.1", 1884, None, False)
    secure = parse_broker_url("mqtts://sim%40site:p%3Ass@broker.example")
    assert (secure.host, secure.port, secure.username, secure.password, secure.tls) == (
        "broker.example", 8883, "sim@site", "p:ss", True,
    )
    assert parse_broker_url("localhost").port == 1883
    with pytest.raises(SimulateError):
        parse_broker_url("http://broker")


# Through a real broker -----------------------------------------------------------------


def _subscriber(port: int, received: list[tuple[str, bytes]], *, clean_start: bool) -> Any:
    """A connected paho MQTT 5 subscriber with a persistent session (a fresh client per
    connection: paho leaks its wake-up socket pair when one client reconnects)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-sim-subscriber", protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, msg: received.append((msg.topic, bytes(msg.payload)))
    client.on_connect = lambda *_args: connected.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=clean_start, properties=props)
    client.loop_start()
    assert connected.wait(10)
    return client


def _stop(client: Any) -> None:
    client.disconnect()
    client.loop_stop()


def test_publish_delivers_every_message_to_a_persistent_session(mosquitto: EmbeddedMosquitto) -> None:
    from paho.mqtt.subscribeoptions import SubscribeOptions

    plan = _plan("fire", sites=60, rate=2000.0, duration=10.0)
    assert len(plan) == 20_000
    received: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    subscriber = _subscriber(mosquitto.port, received, clean_start=True)
    subscriber.on_subscribe = lambda *_args: subscribed.set()
    subscriber.subscribe("relic/#", options=SubscribeOptions(qos=1))
    assert subscribed.wait(10)
    _stop(subscriber)  # the backlog waits in the session

    report = publish(mosquitto.url, plan, rate_msgs_s=0, processes=2, window=1000, progress=False)
    assert (report.sent, report.acked, report.failed) == (20_000, 20_000, 0)
    assert not report.interrupted and report.rate_msgs_s > 0

    subscriber = _subscriber(mosquitto.port, received, clean_start=False)
    deadline = time.monotonic() + 60
    while len(received) < len(plan) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # anything beyond the plan (a duplicate) would show up now
    _stop(subscriber)
    assert len(received) == len(plan)
    assert Counter(received) == Counter((topic, payload) for _, topic, payload in plan)
    # One device's messages arrive in the order they were planned (one publisher per device).
    planned_order = [payload for _, topic, payload in plan if topic.endswith("sim-0001/env/env-1/telemetry")]
    received_order = [p for topic, p in received if topic.endswith("sim-0001/env/env-1/telemetry")]
    assert received_order == planned_order


def test_publish_paces_to_the_rate(mosquitto: EmbeddedMosquitto) -> None:
    plan = _plan("steady", sites=2, rate=400.0, duration=2.0)
    started = time.monotonic()
    report = publish(mosquitto.url, plan, rate_msgs_s=400.0, processes=2, progress=False)
    took = time.monotonic() - started
    assert report.acked == len(plan) == 800
    assert 1.7 <= report.elapsed_s <= 4.0
    assert took >= 1.7


def test_publish_stops_after_max_seconds(mosquitto: EmbeddedMosquitto) -> None:
    endless = plan_traffic(10, 1000.0, None, 1, "steady", start_ms=START_MS)
    started = time.monotonic()
    report = publish(mosquitto.url, endless, rate_msgs_s=1000.0, processes=1, max_seconds=1.5)
    assert time.monotonic() - started < 10
    assert 1000 <= report.sent <= 2200
    assert report.acked == report.sent and not report.interrupted


def test_publish_says_when_the_broker_is_not_there() -> None:
    from relic_guard.embedded import free_port

    with pytest.raises((SimulateError, ConnectionError)):
        publish(f"mqtt://127.0.0.1:{free_port()}", _plan(duration=1.0), rate_msgs_s=0, processes=1)


def test_publish_falls_back_to_mqtt_311_for_a_broker_that_refuses_5() -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from relic_guard.embedded_fallback import AmqttBroker

    broker = AmqttBroker()
    broker.start()
    received: list[bytes] = []
    subscribed = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-311-sub", protocol=mqtt.MQTTv311)
    sub.username_pw_set(broker.username)
    sub.on_message = lambda _c, _u, msg: received.append(msg.payload)
    sub.on_subscribe = lambda *_a: subscribed.set()
    try:
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        sub.subscribe("relic/#", qos=1)
        assert subscribed.wait(5)
        plan = list(islice(plan_traffic(2, 100.0, None, 3, "steady", "relic", start_ms=1_764_208_800_000), 200))
        report = publish(broker.url, plan, rate_msgs_s=0, processes=1, window=100, progress=False)
        assert report.acked == 200
        deadline = time.monotonic() + 10
        while len(received) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(received) == sorted(payload for _, _, payload in plan)
    finally:
        sub.loop_stop()
        sub.disconnect()
        broker.stop()
