"""Which lane a topic rides: the alarm lane owns exactly what its filters match."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relic_guard.config import MqttConfig
from relic_guard.ingest.lanes import LaneTopics, alarm_filters, telemetry_filters
from sensors.topic import matches

LANES = LaneTopics("relic")


@pytest.mark.parametrize(
    ("topic", "alarm"),
    [
        ("relic/lingyan-si/fire/panel-1/event", True),
        ("relic/lingyan-si/security/panel-1/event", True),
        ("relic/lingyan-si/env/th-1/status", True),
        ("relic/lingyan-si/video/cam-1/status", True),
        ("relic/lingyan-si/fire/panel-1/telemetry", False),
        ("relic/lingyan-si/video/cam-1/event", False),
        ("relic/lingyan-si/drone/m30/event", False),
        ("relic/lingyan-si/env/th-1/telemetry", False),
        ("relic//fire/panel-1/event", False),
        ("relic/lingyan-si/fire/panel-1/event/extra", False),
        ("other/lingyan-si/fire/panel-1/event", False),
        ("sys/product/1581F5FKD23A/status", True),
        ("thing/product/1581F5FKD23A/osd", False),
        ("frigate/available", True),
        ("frigate/events", False),
    ],
)
def test_alarm_topics(topic: str, alarm: bool) -> None:
    assert LANES.is_alarm(topic) is alarm


level = st.sampled_from(["relic", "fire", "security", "env", "event", "status", "telemetry", "a", "", "sys",
                         "product", "frigate", "available", "+x"])


@given(st.lists(level, min_size=1, max_size=6))
def test_is_alarm_agrees_with_the_subscription_filters(levels: list[str]) -> None:
    topic = "/".join(levels)
    expected = any(matches(f, topic) for f in alarm_filters(MqttConfig()))
    assert LANES.is_alarm(topic) is expected


def test_telemetry_filters_are_shared_unless_the_group_is_empty() -> None:
    assert telemetry_filters(MqttConfig())[0] == "$share/relic-guard/relic/#"
    assert telemetry_filters(MqttConfig(shared_group=""))[0] == "relic/#"
    assert telemetry_filters(MqttConfig(shared_subscription=False))[0] == "relic/#"
    assert "frigate/events" not in telemetry_filters(MqttConfig(shared_group="", frigate_enabled=False))


def test_alarm_filters_follow_the_foreign_formats_switches() -> None:
    filters = alarm_filters(MqttConfig(dji_enabled=False, frigate_enabled=False))
    assert all(f.startswith("relic/") for f in filters)
