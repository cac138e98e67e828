"""Frigate adapter: frigate/events and frigate/available."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from relic_guard.registry import Registry
from sensors import frigate
from sensors.context import ParseContext
from sensors.model import Event, Rejection, RejectReason, Source, StatusChange
from tests.sensors.support import CTX, RECEIVED, SITE, msg

START = RECEIVED.timestamp() - 5.5  # the object appeared 5.5 s before the message arrived


def tracked(**overrides: Any) -> dict[str, Any]:
    after: dict[str, Any] = {
        "id": "1795744794.5-x1y2z3",
        "camera": "gate_cam",
        "frame_time": START + 5.0,
        "snapshot": {"frame_time": START + 4.0, "box": [415, 489, 528, 700], "area": 12728, "score": 0.77},
        "label": "person",
        "sub_label": None,
        "top_score": 0.958984375,
        "false_positive": False,
        "start_time": START,
        "end_time": None,
        "score": 0.7890625,
        "box": [424, 500, 536, 712],
        "area": 23744,
        "ratio": 2.11,
        "region": [264, 450, 667, 853],
        "stationary": False,
        "motionless_count": 0,
        "position_changes": 2,
        "current_zones": ["north_gate"],
        "entered_zones": ["courtyard", "north_gate"],
        "has_clip": True,
        "has_snapshot": True,
        "attributes": {},
        "current_attributes": [],
    }
    after.update(overrides)
    return after


def frigate_event(kind: str, **overrides: Any) -> str:
    after = tracked(**overrides)
    return json.dumps({"type": kind, "before": {**after, "current_zones": []}, "after": after})


def only_event(payload: str) -> Event:
    records = frigate.parse(msg("frigate/events", payload), CTX)
    assert isinstance(records, list) and len(records) == 1, records
    assert isinstance(records[0], Event)
    return records[0]


def test_new_person_is_an_intrusion() -> None:
    event = only_event(frigate_event("new"))
    assert (event.site, event.device, event.source, event.type, event.zone, event.clear) == (
        SITE,
        "cam-01",
        Source.VIDEO,
        "intrusion",
        "north_gate",
        False,
    )
    assert event.ts == RECEIVED - timedelta(seconds=5.5) and not event.ts_from_receive
    assert event.event_key == "frigate:1795744794.5-x1y2z3:new"
    assert event.attrs == {
        "label": "person",
        "frigate_id": "1795744794.5-x1y2z3",
        "frigate_type": "new",
        "camera": "gate_cam",
        "score": 0.958984375,
        "top_score": 0.958984375,
        "current_zones": ["north_gate"],
        "entered_zones": ["courtyard", "north_gate"],
        "has_snapshot": True,
        "has_clip": True,
        "stationary": False,
    }


def test_update_uses_frame_time_and_is_keyed_by_zones() -> None:
    event = only_event(frigate_event("update"))
    assert event.ts == RECEIVED - timedelta(seconds=0.5)
    assert event.event_key == "frigate:1795744794.5-x1y2z3:update:person:courtyard|north_gate"
    same_zones = only_event(frigate_event("update", score=0.5, top_score=0.97))
    assert same_zones.event_key == event.event_key  # a better snapshot is not a new event
    new_zone = only_event(frigate_event("update", entered_zones=["courtyard", "north_gate", "stele_hall"]))
    assert new_zone.event_key != event.event_key  # entering another zone is


def test_end_clears_and_uses_end_time() -> None:
    event = only_event(frigate_event("end", end_time=START + 5.25, current_zones=[]))
    assert event.clear and event.type == "intrusion"
    assert event.ts == RECEIVED - timedelta(seconds=0.25)
    assert event.zone == "north_gate"  # the last zone entered
    assert event.event_key == "frigate:1795744794.5-x1y2z3:end"


@pytest.mark.parametrize(
    ("label", "event_type"),
    [
        ("person", "intrusion"),
        ("car", "motion"),
        ("dog", "motion"),
        ("bicycle", "motion"),
        ("smoke", "smoke"),
        ("fire", "flame"),
        ("flame", "flame"),
    ],
)
def test_label_mapping(label: str, event_type: str) -> None:
    event = only_event(frigate_event("new", label=label))
    assert event.type == event_type and event.attrs["label"] == label


def test_false_positive_yields_nothing() -> None:
    assert frigate.parse(msg("frigate/events", frigate_event("new", false_positive=True)), CTX) == []


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"current_zones": [], "entered_zones": []}, lambda e: e.zone is None),
        ({"current_zones": None, "entered_zones": None}, lambda e: e.zone is None and e.attrs["entered_zones"] == []),
        ({"top_score": None}, lambda e: e.attrs["score"] == 0.7890625 and "top_score" not in e.attrs),
        ({"top_score": None, "score": None}, lambda e: "score" not in e.attrs),
        ({"sub_label": ["张伟", 0.92]}, lambda e: e.attrs["sub_label"] == "张伟"),
        ({"sub_label": "staff"}, lambda e: e.attrs["sub_label"] == "staff"),
        ({"false_positive": None}, lambda e: e.type == "intrusion"),
        ({"start_time": None, "frame_time": None}, lambda e: e.ts == RECEIVED and e.ts_from_receive),
        ({"start_time": None}, lambda e: e.ts == RECEIVED - timedelta(seconds=0.5)),
        ({"current_zones": ["大殿"]}, lambda e: e.zone == "大殿"),
    ],
)
def test_event_variants(overrides: dict[str, Any], check: Any) -> None:
    assert check(only_event(frigate_event("new", **overrides)))


@pytest.mark.parametrize(
    ("payload", "reason", "detail_part"),
    [
        (frigate_event("new", camera="back_yard"), RejectReason.UNKNOWN_DEVICE, "'back_yard' is not in the registry"),
        (frigate_event("start"), RejectReason.BAD_PAYLOAD, "field `type`: expected new, update or end, got 'start'"),
        (json.dumps({"after": tracked()}), RejectReason.BAD_PAYLOAD, "field `type`"),
        (
            json.dumps({"type": "new", "before": tracked()}),
            RejectReason.BAD_PAYLOAD,
            "field `after`: expected an object",
        ),
        (frigate_event("new", id=None), RejectReason.BAD_PAYLOAD, "field `after.id`"),
        (frigate_event("new", camera=""), RejectReason.BAD_PAYLOAD, "field `after.camera`"),
        (frigate_event("new", label=3), RejectReason.BAD_PAYLOAD, "field `after.label`"),
        (frigate_event("new", false_positive="no"), RejectReason.BAD_PAYLOAD, "field `after.false_positive`"),
        (frigate_event("new", top_score=1.2), RejectReason.BAD_PAYLOAD, "field `after.top_score`: 1.2 is out of range"),
        (frigate_event("new", score="high"), RejectReason.BAD_PAYLOAD, "field `after.score`"),
        (frigate_event("new", current_zones="gate"), RejectReason.BAD_PAYLOAD, "field `after.current_zones`"),
        (frigate_event("new", entered_zones=[1]), RejectReason.BAD_PAYLOAD, "field `after.entered_zones`"),
        (frigate_event("new", start_time="yesterday"), RejectReason.BAD_PAYLOAD, "field `after.start_time`"),
        (frigate_event("new", start_time=START * 1000), RejectReason.TIMESTAMP_OUT_OF_RANGE, "after.start_time"),
        (frigate_event("end", end_time=START + 3600), RejectReason.TIMESTAMP_OUT_OF_RANGE, "after.end_time"),
        (frigate_event("new").replace('"score": 0.7890625', '"score": NaN'), RejectReason.NON_FINITE, "NaN"),
        ("{", RejectReason.BAD_JSON, "not JSON"),
        (b'{"type":"new","after":{"camera":"\xff"}}', RejectReason.BAD_ENCODING, "not UTF-8"),
    ],
)
def test_bad_events(payload: str | bytes, reason: RejectReason, detail_part: str) -> None:
    rejection = frigate.parse(msg("frigate/events", payload), CTX)
    assert isinstance(rejection, Rejection), rejection
    assert rejection.reason is reason, rejection
    assert detail_part in rejection.detail, rejection.detail


@pytest.mark.parametrize(("payload", "online"), [("online", True), ("offline", False), ("Online\n", True)])
def test_available_reports_the_registered_frigate_instance(payload: str, online: bool) -> None:
    assert frigate.parse(msg("frigate/available", payload), CTX) == [
        StatusChange(SITE, "nvr-01", Source.VIDEO, online, RECEIVED, True),
    ]


def test_available_without_a_registered_instance_yields_nothing() -> None:
    ctx = ParseContext(directory=Registry())
    assert frigate.parse(msg("frigate/available", "offline"), ctx) == []


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("frigate/available", "restarting", RejectReason.BAD_PAYLOAD),
        ("frigate/available", "x" * 300_000, RejectReason.OVERSIZED),
        ("frigate/stats", "{}", RejectReason.BAD_TOPIC),
        ("frigate/gate_cam/person", "1", RejectReason.BAD_TOPIC),
        ("frigate/reviews", "{}", RejectReason.BAD_TOPIC),
        ("frigate/events/", "{}", RejectReason.BAD_TOPIC),
    ],
)
def test_bad_frigate_topics_and_payloads(topic: str, payload: str, reason: RejectReason) -> None:
    rejection = frigate.parse(msg(topic, payload), CTX)
    assert isinstance(rejection, Rejection) and rejection.reason is reason, rejection
