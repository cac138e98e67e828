from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.errors import IllegalTransition, UnknownAlertError
from alerts.model import Action, AlertStatus, Classification, Cleared, Opened, Updated
from alerts.rules import engine as eng
from alerts.rules.thresholds import Op, ThresholdRule
from relic_guard.registry import Device
from sensors.model import Source, StatusChange, Telemetry

from .support import DAY, SITE, Driver, context, event, kinds, opened, reading, status


def test_acknowledge_then_resolve_through_the_engine_frees_the_key() -> None:
    drive = Driver()
    (alert,) = opened(drive.feed(event("fire_alarm", "smoke-1", zone="主殿")))
    _, actions = eng.acknowledge(drive.engine, alert.id, "值班员王", drive.at(30).now)
    assert kinds(actions) == ["updated", "notify:acknowledged"]
    assert drive.only_open().status is AlertStatus.ACKNOWLEDGED
    # A repeat keeps the acknowledgement.
    drive.at(5).feed(event("fire_alarm", "smoke-1", zone="主殿"))
    assert drive.only_open().acknowledged_by == "值班员王" and drive.only_open().count == 2
    with pytest.raises(IllegalTransition):
        eng.acknowledge(drive.engine, alert.id, "someone else", drive.now)
    _, actions = eng.resolve(
        drive.engine, alert.id, "值班员王", drive.at(60).now, Classification.FIRE, "初起火灾已扑灭"
    )
    assert kinds(actions) == ["updated", "notify:resolved"]
    assert drive.engine.open_alerts == [] and drive.engine.book.by_id == {}
    with pytest.raises(UnknownAlertError):
        eng.resolve(drive.engine, alert.id, "x", drive.now, Classification.FIRE)


def test_rebuild_restores_open_alerts_and_what_they_imply() -> None:
    ctx = context(devices=[Device(site=SITE, id=f"d{i}", source=Source.ENV, heartbeat_s=60) for i in range(2)])
    drive = Driver(ctx)
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"), event("test", "panel"), status("d0", False))
    drive.feed(event("arm", "alarm", Source.SECURITY))
    saved = drive.engine.open_alerts
    later = drive.at(10).now
    engine = eng.rebuild(saved, later, ctx, armed={(SITE, None): True})
    assert engine.open_alerts == saved
    assert {a.id for a in saved} == set(engine.book.by_id)
    # The fire incident is known: a manual call point in the zone confirms the same alert.
    _, actions = eng.evaluate(engine, event("manual_alarm", "mcp", zone="主殿"), later, ctx)
    assert not opened(actions) and any(isinstance(a, Updated) for a in actions)
    # The panel is still in test: its alarms are drills.
    _, actions = eng.evaluate(engine, event("fire_alarm", "panel", zone="3"), later, ctx)
    assert kinds(actions) == ["updated"]
    # d0 is offline: traffic resolves its alert.
    _, actions = eng.evaluate(engine, reading("d0", t=1.0), later, ctx)
    assert any(isinstance(a, Cleared) for a in actions)
    # Armed state restored: a daytime intrusion alarms.
    _, actions = eng.evaluate(engine, event("intrusion", "pir", Source.SECURITY), later, ctx)
    assert opened(actions)


def test_rebuild_gives_the_same_ids() -> None:
    first, second = Driver(), Driver()
    a = opened(first.feed(event("fire_alarm", "smoke-1", zone="主殿")))[0]
    b = opened(second.feed(event("fire_alarm", "smoke-1", zone="主殿")))[0]
    assert a.id == b.id


# Any sequence of records and commands: never two open alerts for one key, and the book's
# indexes agree with each other and with the actions emitted.

DEVICES = ["d0", "d1", "d2"]
FIRE_TYPES = [
    "fire_alarm",
    "manual_alarm",
    "fault",
    "shield",
    "supervisory",
    "power_fault",
    "reset",
    "test",
    "heartbeat",
]
SEC_TYPES = ["intrusion", "door_open", "door_close", "vibration", "panic", "tamper", "arm", "disarm"]
VIDEO_TYPES = ["intrusion", "smoke", "flame", "tamper", "occlusion", "video_loss", "motion", "object_removed"]

records = st.one_of(
    st.builds(
        lambda t, d, z, c: event(t, d, Source.FIRE, zone=z, clear=c),
        st.sampled_from(FIRE_TYPES),
        st.sampled_from(DEVICES),
        st.sampled_from([None, "z1", "z2"]),
        st.booleans(),
    ),
    st.builds(
        lambda t, d, z, c: event(t, d, Source.SECURITY, zone=z, clear=c),
        st.sampled_from(SEC_TYPES),
        st.sampled_from(DEVICES),
        st.sampled_from([None, "z1"]),
        st.booleans(),
    ),
    st.builds(
        lambda t, d, z, c: event(t, d, Source.VIDEO, zone=z, clear=c),
        st.sampled_from(VIDEO_TYPES),
        st.sampled_from(DEVICES),
        st.sampled_from([None, "z1"]),
        st.booleans(),
    ),
    st.builds(
        lambda lab, d: event("detection", d, Source.DRONE, label=lab),
        st.sampled_from(["excavation", "person", "smoke"]),
        st.sampled_from(DEVICES),
    ),
    st.builds(lambda d: event("link_lost", d, Source.DRONE), st.sampled_from(DEVICES)),
    st.builds(lambda d, on: StatusChange(SITE, d, Source.ENV, on, DAY), st.sampled_from(DEVICES), st.booleans()),
    st.builds(
        lambda d, v: Telemetry(SITE, d, Source.ENV, DAY, {"temperature_c": v}),
        st.sampled_from(DEVICES),
        st.sampled_from([20.0, 70.0]),
    ),
)
steps = st.lists(
    st.tuples(st.floats(0, 200), st.one_of(records, st.sampled_from(["tick", "ack", "resolve", "false"]))),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps=steps, pick=st.randoms(use_true_random=False))
def test_never_two_open_alerts_for_one_key(steps: list[tuple[float, object]], pick: object) -> None:
    ctx = context(
        devices=[Device(site=SITE, id=d, source=Source.ENV, heartbeat_s=60) for d in DEVICES],
        thresholds=[ThresholdRule(name="hot", metric="temperature_c", op=Op.GT, value=60, for_s=30)],
    )
    engine = eng.Engine()
    now = DAY
    open_ids: dict[str, object] = {}  # alert id -> key, as the actions tell it
    for gap, step in steps:
        now += timedelta(seconds=gap)
        actions: list[Action] = []
        if step == "tick":
            _, actions = eng.tick(engine, now, ctx)
        elif isinstance(step, str):
            alerts = engine.open_alerts
            if not alerts:
                continue
            target = alerts[pick.randrange(len(alerts))]  # type: ignore[attr-defined]
            try:
                if step == "ack":
                    _, actions = eng.acknowledge(engine, target.id, "op", now)
                elif step == "resolve":
                    _, actions = eng.resolve(engine, target.id, "op", now, Classification.OTHER_ACCIDENT)
                else:
                    _, actions = eng.mark_false_alarm(engine, target.id, "op", now)
            except IllegalTransition:
                assert step == "ack" and target.status is AlertStatus.ACKNOWLEDGED
        else:
            _, actions = eng.evaluate(engine, step, now, ctx)  # type: ignore[arg-type]
        for action in actions:
            alert = action.alert
            if isinstance(action, Opened):
                assert alert.key not in open_ids.values(), f"second open alert for {alert.key}"
                open_ids[alert.id] = alert.key
            elif not alert.status.is_open:
                open_ids.pop(alert.id, None)
            else:
                assert open_ids.get(alert.id) == alert.key
        book = engine.book
        assert all(key == alert.key and alert.status.is_open for key, alert in book.open.items())
        assert {alert.id: key for key, alert in book.open.items()} == book.by_id
        assert book.by_id == open_ids
