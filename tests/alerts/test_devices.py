from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.model import SITE_WIDE, AlertKey, AlertStatus, Classification, NotifyEvent, Updated, UpdateKind
from alerts.rules import engine as eng
from relic_guard.registry import Device
from sensors.model import Source

from .support import DAY, SITE, Driver, context, event, kinds, notified, opened, reading, status


def registry(n: int, heartbeat_s: int | None = 60, site_id: str = SITE) -> list[Device]:
    return [Device(site=site_id, id=f"d{i}", source=Source.ENV, heartbeat_s=heartbeat_s) for i in range(n)]


def test_silent_device_goes_offline_at_the_first_tick_after_its_deadline() -> None:
    drive = Driver(context(devices=registry(3)))
    drive.feed(reading("d0", t=1.0), reading("d1", t=1.0), reading("d2", t=1.0))
    assert drive.at(59.9).tick() == []
    drive.feed(reading("d1", t=1.0), reading("d2", t=1.0))
    actions = drive.at(0.1).tick()
    (alert,) = opened(actions)
    assert alert.key == AlertKey(SITE, "d0", "device.offline") and "no traffic" in alert.title
    assert drive.at(30).tick() == []


def test_device_back_online_resolves_its_offline_alert() -> None:
    drive = Driver(context(devices=registry(3)))
    drive.feed(reading("d0", t=1.0), reading("d1", t=1.0), reading("d2", t=1.0))
    drive.at(61).feed(reading("d1", t=1.0), reading("d2", t=1.0))
    drive.tick()
    actions = drive.at(5).feed(event("heartbeat", "d0"))
    assert kinds(actions) == ["cleared", "notify:resolved"]
    assert actions[0].alert.status is AlertStatus.RESOLVED
    assert actions[0].alert.classification is Classification.DEVICE_FAULT
    assert drive.engine.open_alerts == []
    # Watched again: silent for another period, offline again.
    assert opened(drive.at(61).tick())


def test_status_offline_takes_a_device_down_at_once_and_online_brings_it_back() -> None:
    drive = Driver(context(devices=registry(2, heartbeat_s=None)))
    drive.feed(status("d1", True))
    (alert,) = opened(drive.feed(status("d0", False)))
    assert "status offline" in alert.title
    assert drive.feed(status("d0", False)) == []  # retained again: nothing new
    assert kinds(drive.feed(status("d0", True))) == ["cleared", "notify:resolved"]


def test_unknown_device_without_heartbeat_is_not_watched() -> None:
    drive = Driver()
    drive.feed(reading("x"))
    assert drive.at(3600).tick() == []
    assert drive.engine.devices.watches == {}


def test_whole_site_dark_gives_one_site_alert_and_inhibits_device_alerts() -> None:
    drive = Driver(context(devices=registry(4)))
    drive.feed(*(reading(f"d{i}", t=1.0) for i in range(4)))
    drive.at(10).feed(reading("d2", t=1.0), reading("d3", t=1.0))
    first = drive.at(51).tick()  # d0, d1 silent for 61 s
    assert len(notified(first)) == 2
    drive.at(10).feed(reading("d3", t=1.0))
    second = drive.tick()  # d2 goes
    assert len(notified(second)) == 1
    last = drive.at(61).tick()  # d3 goes: the site is dark
    site_alert = drive.alert(AlertKey(SITE, SITE_WIDE, "site.unreachable"))
    assert [a.key for a in notified(last)] == [site_alert.key]  # d3's own alert is not sent
    inhibited = [a.alert.key.device for a in last if isinstance(a, Updated) and UpdateKind.INHIBITED in a.what]
    assert inhibited == ["d0", "d1", "d2"]
    assert {a.inhibited_by for a in drive.engine.open_alerts if a.key.device != SITE_WIDE} == {site_alert.id}
    assert "4 台设备全部离线" in site_alert.title
    # One device comes back: the site alert resolves; the ones still down speak again;
    # d3, never announced, is announced now.
    back = drive.at(5).feed(reading("d0", t=1.0))
    resolved = notified(back, NotifyEvent.RESOLVED)
    assert {a.key.device for a in resolved} == {"d0", SITE_WIDE}
    assert [a.key.device for a in notified(back, NotifyEvent.OPENED)] == ["d3"]
    assert all(a.inhibited_by is None for a in drive.engine.open_alerts)


def test_one_device_site_gets_no_site_alert() -> None:
    drive = Driver(context(devices=registry(1)))
    drive.feed(reading("d0", t=1.0))
    actions = drive.at(61).tick()
    assert [a.key.rule for a in opened(actions)] == ["device.offline"]


def test_rebuild_watches_registered_devices_that_never_report() -> None:
    ctx = context(devices=registry(3))
    engine = eng.rebuild([], DAY, ctx)
    _, actions = eng.tick(engine, DAY + timedelta(seconds=59), ctx)
    assert actions == []
    _, actions = eng.tick(engine, DAY + timedelta(seconds=60), ctx)
    assert {a.key.device for a in opened(actions)} == {"d0", "d1", "d2", SITE_WIDE}


@settings(max_examples=60, deadline=None)
@given(
    heartbeat_s=st.integers(1, 120),
    tick_s=st.floats(0.05, 5.0),
    gaps=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40),
    silence_ticks=st.integers(1, 400),
)
def test_reporting_device_never_offline_and_silent_one_offline_in_time(
    heartbeat_s: int, tick_s: float, gaps: list[float], silence_ticks: int
) -> None:
    """A device reporting more often than its heartbeat is never declared offline; once it
    stops, it is declared offline within [heartbeat_s, heartbeat_s + tick interval]."""
    ctx = context(devices=registry(2, heartbeat_s=heartbeat_s))
    engine = eng.Engine()
    now = DAY
    _, out = eng.evaluate(engine, reading("d1"), now, ctx)  # a companion, so that d0 is one device of two
    next_tick = now
    for gap in gaps:
        # Report at a fraction of the heartbeat; tick on schedule in between.
        report_at = now + timedelta(seconds=gap * heartbeat_s * 0.99)
        while next_tick <= report_at:
            _, out = eng.tick(engine, next_tick, ctx)
            assert not any(a.key.device == "d0" for a in opened(out))
            next_tick += timedelta(seconds=tick_s)
        now = report_at
        _, out = eng.evaluate(engine, reading("d0"), now, ctx)
        eng.evaluate(engine, reading("d1"), now, ctx)
    last_report = now
    declared = None
    for _ in range(int((heartbeat_s + tick_s) / tick_s) + 2 + silence_ticks % 3):
        _, out = eng.tick(engine, next_tick, ctx)
        if any(a.key.device == "d0" for a in opened(out)):
            declared = next_tick
            break
        next_tick += timedelta(seconds=tick_s)
        # d1 keeps talking
        eng.evaluate(engine, reading("d1"), next_tick, ctx)
    assert declared is not None
    delay = (declared - last_report).total_seconds()
    assert heartbeat_s - 1e-6 <= delay <= heartbeat_s + tick_s + 1e-6


def test_a_short_heartbeat_is_not_held_back_by_a_long_one() -> None:
    """Each heartbeat period has its own queue: a device with a 30 s period heard after one
    with 60 s still goes offline at its own deadline."""
    slow = Device(site=SITE, id="slow", source=Source.ENV, heartbeat_s=60)
    fast = Device(site=SITE, id="fast", source=Source.ENV, heartbeat_s=30)
    drive = Driver(context(devices=[slow, fast, *registry(1)]))
    drive.feed(reading("slow"), reading("d0"))
    drive.at(10).feed(reading("fast"))
    assert drive.at(29.9).tick() == []
    assert [a.key.device for a in opened(drive.at(0.1).tick())] == ["fast"]  # t = 40
    drive.at(15).feed(reading("d0"))
    assert [a.key.device for a in opened(drive.at(5).tick())] == ["slow"]  # t = 60


@settings(max_examples=150, deadline=None)
@given(
    periods=st.lists(st.sampled_from([None, 5, 10]), min_size=2, max_size=6),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["report", "report", "down", "up", "tick", "tick"]),
            st.integers(0, 5),
            st.integers(0, 16).map(lambda quarters: quarters / 4),  # exact in binary: no rounding at deadlines
        ),
        max_size=80,
    ),
)
def test_each_tick_declares_exactly_what_a_scan_of_every_device_would(
    periods: list[int | None], steps: list[tuple[str, int, float]]
) -> None:
    """Whatever the mix of heartbeat periods, reports and statuses, a tick declares offline
    exactly the online devices a scan of all of them finds silent past last report + heartbeat."""
    ctx = context(
        devices=[Device(site=SITE, id=f"d{i}", source=Source.ENV, heartbeat_s=p) for i, p in enumerate(periods)]
    )
    engine = eng.rebuild([], DAY, ctx)
    now = DAY
    heartbeat = {f"d{i}": p for i, p in enumerate(periods)}
    last = {device: 0.0 for device, period in heartbeat.items() if period}  # watched from the start
    down: set[str] = set()
    for what, index, gap in steps:
        now += timedelta(seconds=gap)
        t = (now - DAY).total_seconds()
        device = f"d{index % len(periods)}"
        if what == "tick":
            _, actions = eng.tick(engine, now, ctx)
            due = {d for d, seen_at in last.items() if d not in down and seen_at + (heartbeat[d] or 0) <= t}
        elif what == "down":
            _, actions = eng.evaluate(engine, status(device, False), now, ctx)
            due = set() if device in down else {device}
        else:
            record = reading(device) if what == "report" else status(device, True)
            _, actions = eng.evaluate(engine, record, now, ctx)
            due = set()
            if heartbeat[device]:
                last[device] = t
            down.discard(device)
        assert {a.key.device for a in opened(actions) if a.key.rule == "device.offline"} == due
        down |= due
