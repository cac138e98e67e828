from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.model import Channel, Rejection, RejectReason, Source
from sensors.topic import NativeTopic, TopicFilterError, matches, parse_native_topic, validate_filter


@pytest.mark.parametrize(
    ("topic", "prefix", "expected"),
    [
        ("relic/jn-dmh/fire/fa-01/event", "relic", NativeTopic("jn-dmh", Source.FIRE, "fa-01", Channel.EVENT)),
        ("relic/a/env/b/telemetry", "relic", NativeTopic("a", Source.ENV, "b", Channel.TELEMETRY)),
        ("relic/S_1.x/video/Cam.01-A/frame", "relic", NativeTopic("S_1.x", Source.VIDEO, "Cam.01-A", Channel.FRAME)),
        ("relic/s/drone/u/status", "relic", NativeTopic("s", Source.DRONE, "u", Channel.STATUS)),
        ("acme/relic/s/patrol/p/event", "acme/relic", NativeTopic("s", Source.PATROL, "p", Channel.EVENT)),
        ("rg/s/security/d/event", "rg", NativeTopic("s", Source.SECURITY, "d", Channel.EVENT)),
        (
            f"relic/{'s' * 64}/env/{'d' * 64}/telemetry",
            "relic",
            NativeTopic("s" * 64, Source.ENV, "d" * 64, Channel.TELEMETRY),
        ),
    ],
)
def test_valid_native_topics(topic: str, prefix: str, expected: NativeTopic) -> None:
    assert parse_native_topic(topic, prefix) == expected
    assert expected.topic(prefix) == topic


@pytest.mark.parametrize(
    ("topic", "detail_part"),
    [
        ("other/s/fire/d/event", "prefix"),
        ("relic", "prefix"),
        ("relicx/s/fire/d/event", "prefix"),
        ("relic/s/fire/d", "levels"),
        ("relic/s/fire/d/event/extra", "levels"),
        ("relic//fire/d/event", "site"),
        ("relic/s/fire//event", "device"),
        (f"relic/{'s' * 65}/fire/d/event", "site"),
        (f"relic/s/fire/{'d' * 65}/event", "device"),
        ("relic/大明湖/fire/d/event", "site"),
        ("relic/s s/fire/d/event", "site"),
        ("relic/s/fire/d+/event", "device"),
        ("relic/s/fire/#/event", "device"),
        ("relic/s/Fire/d/event", "source"),
        ("relic/s/smoke/d/event", "source"),
        ("relic/s/fire/d/Event", "channel"),
        ("relic/s/fire/d/alarm", "channel"),
        ("relic/s/fire/d/frame", "video devices only"),
        ("relic/s/drone/d/frame", "video devices only"),
        ("relic/s/fire/d/event\n", "channel"),
        ("relic/" + "x/" * 5000 + "event", "longer than any valid topic"),
    ],
)
def test_bad_native_topics(topic: str, detail_part: str) -> None:
    result = parse_native_topic(topic, "relic")
    assert isinstance(result, Rejection)
    assert result.reason is RejectReason.BAD_TOPIC
    assert detail_part in result.detail


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("relic/+/fire/+/event", "relic/jn-dmh/fire/fa-01/event", True),
        ("relic/+/fire/+/event", "relic/jn-dmh/fire/fa-01/telemetry", False),
        ("relic/+/fire/+/event", "relic/jn-dmh/security/s/event", False),
        ("relic/#", "relic/jn-dmh/fire/fa-01/event", True),
        ("relic/#", "relic", True),  # '#' includes the parent level
        ("relic/#", "relicx/a", False),
        ("#", "anything/at/all", True),
        ("#", "/", True),
        ("+", "a", True),
        ("+", "a/b", False),
        ("+", "", False),  # an empty topic name is not a topic
        ("+/+", "/finance", True),  # a leading '/' makes an empty first level
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("a/+/c", "a//c", True),  # '+' matches an empty level
        ("a/+", "a", False),
        ("a/b", "a/b", True),
        ("a/b", "a/b/", False),
        ("a/b/", "a/b/", True),
        ("A/b", "a/b", False),  # case-sensitive
        ("#", "$SYS/broker/uptime", False),  # wildcards never match $-topics at the first level
        ("+/broker/uptime", "$SYS/broker/uptime", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
        ("$SYS/+/uptime", "$SYS/broker/uptime", True),
        ("$share/ingest/relic/+/fire/+/event", "relic/s/fire/d/event", True),
        ("$share/ingest/relic/#", "relic/s/env/d/telemetry", True),
        ("$share/g/#", "x", True),
        ("$share/g/a/b", "a/c", False),
        ("thing/product/+/osd", "thing/product/1581F5BKD225D00A/osd", True),
        ("sys/product/+/status", "sys/product/SN/status", True),
        ("frigate/events", "frigate/events", True),
        ("a/b", "a/+", False),  # topic names cannot hold wildcards
        ("a/#", "a/#", False),
        ("a/b", "a/b\x00", False),
    ],
)
def test_matches(topic_filter: str, topic: str, expected: bool) -> None:
    assert matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    "topic_filter",
    ["", "a/#/b", "a#", "#a", "a/b#", "a+/b", "a/+b", "$share/g", "$share//a", "$share/g/", "$share/g+/a", "a\x00"],
)
def test_invalid_filters_raise(topic_filter: str) -> None:
    with pytest.raises(TopicFilterError):
        validate_filter(topic_filter)
    with pytest.raises(ValueError):  # TopicFilterError is a ValueError too
        matches(topic_filter, "a/b")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="abc$", max_size=3), min_size=1, max_size=5))
def test_exact_filter_matches_itself_and_hash_matches_all(levels: list[str]) -> None:
    topic = "/".join(levels)
    if not topic:
        return
    assert matches(topic, topic)
    assert matches("#", topic) is not topic.startswith("$")
    plus = "/".join("+" for _ in levels)
    assert matches(plus, topic) is not topic.startswith("$")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_matches_never_fails_on_valid_filters(topic_filter: str, topic: str) -> None:
    try:
        validate_filter(topic_filter)
    except TopicFilterError:
        return
    assert isinstance(matches(topic_filter, topic), bool)
