from __future__ import annotations

from datetime import datetime, time
from typing import Any

import pytest

from alerts.model import AlertStatus, Audience, Category, Classification, Severity
from alerts.rules import engine as eng
from alerts.rules.common import RuleContext
from sensors.model import Event, Source

from .support import DAY, NIGHT, Driver, context, event, kinds, opened, site

POLICE = (Audience.MONITORING_CENTER, Audience.CUSTODIANS, Audience.POLICE)
LOCAL = (Audience.MONITORING_CENTER, Audience.CUSTODIANS)


def sec(type_: str, device: str = "pir-1", **kw: Any) -> Event:
    return event(type_, device, Source.SECURITY, **kw)


# (event, armed, when) -> expected (severity, audiences) or None for no alert
CASES = [
    ("intrusion", False, DAY, None),
    ("intrusion", True, DAY, (Severity.MAJOR, POLICE)),
    ("intrusion", False, NIGHT, (Severity.CRITICAL, POLICE)),
    ("intrusion", True, NIGHT, (Severity.CRITICAL, POLICE)),
    ("door_open", False, DAY, None),
    ("door_open", True, DAY, (Severity.MAJOR, POLICE)),
    ("door_open", False, NIGHT, (Severity.MAJOR, POLICE)),
    ("vibration", False, DAY, None),
    ("vibration", False, NIGHT, (Severity.MAJOR, POLICE)),
    ("panic", False, DAY, (Severity.CRITICAL, POLICE)),
    ("panic", True, NIGHT, (Severity.CRITICAL, POLICE)),
    ("tamper", False, DAY, (Severity.MAJOR, LOCAL)),
    ("tamper", True, DAY, (Severity.MAJOR, POLICE)),
    ("tamper", False, NIGHT, (Severity.MAJOR, POLICE)),
    ("door_close", True, NIGHT, None),
]


@pytest.mark.parametrize(("kind", "armed", "when", "expected"), CASES)
def test_security_table(
    kind: str, armed: bool, when: datetime, expected: tuple[Severity, tuple[Audience, ...]] | None
) -> None:
    drive = Driver(start=when)
    if armed:
        drive.feed(sec("arm", "panel"))
    actions = drive.feed(sec(kind, zone="库房"))
    if expected is None:
        assert actions == []
        return
    (alert,) = opened(actions)
    assert (alert.severity, alert.audiences, alert.category) == (*expected, Category.SECURITY)
    assert alert.key.rule == f"security.{kind}:库房"


def test_site_without_open_hours_is_always_closed() -> None:
    drive = Driver(context([site(open_hours=None)]))
    (alert,) = opened(drive.feed(sec("intrusion")))
    assert alert.severity is Severity.CRITICAL


def test_open_hours_across_midnight_and_in_shanghai_time() -> None:
    ctx: RuleContext = context([site(open_hours=(time(18, 0), time(2, 0)))])
    assert ctx.is_open("chengziya", NIGHT)  # 23:00 local
    assert not ctx.is_open("chengziya", DAY)  # 10:00 local
    assert context().is_open("chengziya", DAY)


def test_zone_arming_and_site_wide_disarm() -> None:
    drive = Driver()
    drive.feed(sec("arm", "panel", zone="库房"))
    assert drive.feed(sec("intrusion", zone="展厅")) == []
    assert opened(drive.feed(sec("intrusion", zone="库房")))
    drive.feed(sec("disarm", "panel"))
    assert drive.feed(sec("door_open", "door-1", zone="库房")) == []


def test_panic_is_latched_device_clear_ignored_only_a_person_closes_it() -> None:
    drive = Driver()
    (alert,) = opened(drive.feed(sec("panic", "btn-1")))
    assert drive.at(10).feed(sec("panic", "btn-1", clear=True)) == []
    assert drive.only_open().condition_cleared_at is None
    _, actions = eng.resolve(drive.engine, alert.id, "李四", drive.now, Classification.OTHER_ACCIDENT, "误触")
    assert kinds(actions) == ["updated", "notify:resolved"]
    assert drive.engine.open_alerts == []


def test_security_alarms_are_held_until_manually_reset() -> None:
    drive = Driver(start=NIGHT)
    drive.feed(sec("door_open", "door-1"))
    assert kinds(drive.at(5).feed(sec("door_close", "door-1"))) == ["cleared"]
    assert drive.only_open().status is AlertStatus.OPEN
    drive.feed(sec("intrusion", "pir-1"))
    drive.at(5).feed(sec("intrusion", "pir-1", clear=True))
    assert {a.status for a in drive.engine.open_alerts} == {AlertStatus.OPEN}
    assert len(drive.engine.open_alerts) == 2


def test_repeat_at_night_raises_severity_of_a_day_alert() -> None:
    drive = Driver()
    drive.feed(sec("arm", "panel"))
    drive.feed(sec("intrusion"))
    drive.now = NIGHT
    actions = drive.feed(sec("intrusion"))
    assert kinds(actions) == ["updated"]
    assert drive.only_open().severity is Severity.CRITICAL
    assert drive.only_open().count == 2
