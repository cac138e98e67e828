from __future__ import annotations

from datetime import timedelta

import pytest

from alerts import lifecycle
from alerts.errors import AlertsError, IllegalTransition, InvalidResolutionError
from alerts.lifecycle import TRANSITIONS, Command
from alerts.model import Alert, AlertKey, AlertStatus, Category, Classification, Severity, alert_id, new_alert

from .support import DAY

KEY = AlertKey("s1", "d1", "fire.alarm")
LATER = DAY + timedelta(minutes=3)

# Every (status, command) pair, and what must follow: a status, or IllegalTransition.
EXPECTED: dict[tuple[AlertStatus, Command], AlertStatus | None] = {
    (AlertStatus.OPEN, Command.ACKNOWLEDGE): AlertStatus.ACKNOWLEDGED,
    (AlertStatus.OPEN, Command.RESOLVE): AlertStatus.RESOLVED,
    (AlertStatus.OPEN, Command.MARK_FALSE_ALARM): AlertStatus.FALSE_ALARM,
    (AlertStatus.ACKNOWLEDGED, Command.ACKNOWLEDGE): None,
    (AlertStatus.ACKNOWLEDGED, Command.RESOLVE): AlertStatus.RESOLVED,
    (AlertStatus.ACKNOWLEDGED, Command.MARK_FALSE_ALARM): AlertStatus.FALSE_ALARM,
    (AlertStatus.RESOLVED, Command.ACKNOWLEDGE): None,
    (AlertStatus.RESOLVED, Command.RESOLVE): None,
    (AlertStatus.RESOLVED, Command.MARK_FALSE_ALARM): None,
    (AlertStatus.FALSE_ALARM, Command.ACKNOWLEDGE): None,
    (AlertStatus.FALSE_ALARM, Command.RESOLVE): None,
    (AlertStatus.FALSE_ALARM, Command.MARK_FALSE_ALARM): None,
}


def test_expected_covers_every_pair() -> None:
    assert set(EXPECTED) == {(s, c) for s in AlertStatus for c in Command}
    assert {pair: to for pair, to in EXPECTED.items() if to is not None} == TRANSITIONS


def _alert(status: AlertStatus) -> Alert:
    alert = new_alert(KEY, category=Category.FIRE, severity=Severity.CRITICAL, title="t", now=DAY)
    import msgspec

    return msgspec.structs.replace(alert, status=status)


def _run(alert: Alert, command: Command) -> Alert:
    if command is Command.ACKNOWLEDGE:
        return lifecycle.acknowledge(alert, "张三", LATER)
    if command is Command.RESOLVE:
        return lifecycle.resolve(alert, "张三", LATER, Classification.FIRE, "扑灭")
    return lifecycle.mark_false_alarm(alert, "张三", LATER, "灰尘")


@pytest.mark.parametrize(("status", "command"), list(EXPECTED))
def test_every_status_and_command(status: AlertStatus, command: Command) -> None:
    before = _alert(status)
    expected = EXPECTED[(status, command)]
    if expected is None:
        with pytest.raises(IllegalTransition) as caught:
            _run(before, command)
        assert isinstance(caught.value, AlertsError)
        assert caught.value.status == status and caught.value.command == command.value
        return
    after = _run(before, command)
    assert after.status is expected
    assert before.status is status  # alerts are immutable
    assert after.id == before.id and after.key == before.key
    if command is Command.ACKNOWLEDGE:
        assert (after.acknowledged_by, after.acknowledged_at) == ("张三", LATER)
        assert after.resolved_at is None
    else:
        assert (after.resolved_by, after.resolved_at) == ("张三", LATER)
        # A direct close is no acknowledgement: time-to-ack counts only real ones.
        assert after.acknowledged_at == before.acknowledged_at
        expected_class = Classification.FIRE if command is Command.RESOLVE else Classification.FALSE_ALARM
        assert after.classification is expected_class
        assert after.note in ("扑灭", "灰尘")


def test_resolve_as_false_alarm_is_refused() -> None:
    with pytest.raises(InvalidResolutionError):
        lifecycle.resolve(_alert(AlertStatus.OPEN), "x", LATER, Classification.FALSE_ALARM)


def test_id_is_deterministic_from_key_and_opening() -> None:
    assert alert_id(KEY, DAY) == alert_id(AlertKey("s1", "d1", "fire.alarm"), DAY)
    assert alert_id(KEY, DAY) != alert_id(KEY, LATER)
    assert alert_id(KEY, DAY) != alert_id(AlertKey("s1", "d2", "fire.alarm"), DAY)
    # The same instant written in another zone is the same id.
    assert alert_id(KEY, DAY) == alert_id(KEY, DAY.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")))


def test_severity_orders_by_urgency() -> None:
    assert Severity.CRITICAL > Severity.MAJOR > Severity.MINOR > Severity.WARNING > Severity.INFO
    assert max(Severity.INFO, Severity.CRITICAL) is Severity.CRITICAL
    assert sorted(Severity) == [Severity.INFO, Severity.WARNING, Severity.MINOR, Severity.MAJOR, Severity.CRITICAL]
    assert Severity.CRITICAL == "critical"  # still the contract's string
