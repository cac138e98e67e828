from __future__ import annotations

from alerts.model import (
    AlertKey,
    AlertStatus,
    Audience,
    Category,
    Escalated,
    NotifyEvent,
    Severity,
    Updated,
    UpdateKind,
)
from alerts.rules import engine as eng
from relic_guard.registry import Device
from sensors.model import Source

from .support import SITE, Driver, context, event, kinds, notified, opened

LOCAL = (Audience.MONITORING_CENTER, Audience.CUSTODIANS)
ALL = (Audience.MONITORING_CENTER, Audience.CUSTODIANS, Audience.FIRE_BRIGADE, Audience.POLICE, Audience.CULTURE_BUREAU)
HALL = AlertKey(SITE, "smoke-1", "fire.alarm:主殿")


def test_one_detector_opens_unconfirmed_critical_to_local_people_only() -> None:
    drive = Driver()
    actions = drive.feed(event("fire_alarm", "smoke-1", zone="主殿", component="smoke_detector"))
    assert kinds(actions) == ["opened", "notify:opened"]
    (alert,) = opened(actions)
    assert alert.key == HALL
    assert (alert.category, alert.severity, alert.confirmed) == (Category.FIRE, Severity.CRITICAL, False)
    assert alert.audiences == LOCAL
    assert alert.title == "火警（未确认）：城子崖遗址 主殿"


def test_second_detector_same_zone_within_window_confirms_and_escalates() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"))
    actions = drive.at(119).feed(event("fire_alarm", "smoke-2", zone="主殿"))
    assert kinds(actions) == ["updated", "escalated", "notify:escalated"]
    updated, escalated = actions[0], actions[1]
    assert isinstance(updated, Updated) and UpdateKind.CONFIRMED in updated.what
    assert isinstance(escalated, Escalated)
    assert escalated.added == (Audience.FIRE_BRIGADE, Audience.POLICE, Audience.CULTURE_BUREAU)
    alert = drive.only_open()
    assert alert.confirmed and alert.audiences == ALL and alert.count == 2
    assert alert.devices == ("smoke-2",) and alert.title == "火警（已确认）：城子崖遗址 主殿"


def test_second_detector_after_window_of_a_restored_first_does_not_confirm() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"))
    actions = drive.at(121).feed(event("fire_alarm", "smoke-2", zone="主殿"))
    assert kinds(actions) == ["updated"]
    assert not drive.only_open().confirmed


def test_same_detector_repeating_is_a_repeat_not_a_confirmation() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"))
    actions = drive.at(5).feed(event("fire_alarm", "smoke-1", zone="主殿"))
    assert kinds(actions) == ["updated"]
    alert = drive.only_open()
    assert (alert.count, alert.confirmed, alert.last_seen_at) == (2, False, drive.now)


def test_panel_addresses_count_as_separate_detectors() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "panel", zone="3", address="1-017"))
    drive.at(10).feed(event("fire_alarm", "panel", zone="3", address="1-018"))
    assert drive.only_open().confirmed


def test_detectors_in_other_zones_open_their_own_alerts() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"))
    drive.at(10).feed(event("fire_alarm", "smoke-2", zone="配殿"))
    assert [a.confirmed for a in drive.engine.open_alerts] == [False, False]
    assert len(drive.engine.open_alerts) == 2


def test_zone_comes_from_the_registry_when_the_event_has_none() -> None:
    ctx = context(devices=[Device(site=SITE, id=f"smoke-{i}", source=Source.FIRE, zone="主殿") for i in (1, 2)])
    drive = Driver(ctx)
    drive.feed(event("fire_alarm", "smoke-1"))
    drive.at(30).feed(event("fire_alarm", "smoke-2"))
    assert drive.only_open().confirmed and drive.only_open().zone == "主殿"


def test_manual_call_point_confirms_the_zone() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"))
    actions = drive.at(600).feed(event("manual_alarm", "mcp-1", zone="主殿", component="manual_call_point"))
    assert kinds(actions) == ["updated", "escalated", "notify:escalated"]
    assert drive.only_open().confirmed


def test_manual_call_point_alone_opens_confirmed_to_everyone() -> None:
    drive = Driver()
    actions = drive.feed(event("manual_alarm", "mcp-1", zone="主殿"))
    (alert,) = opened(actions)
    assert alert.confirmed and alert.audiences == ALL and alert.title.startswith("火警（已确认）")


def test_video_smoke_confirms_open_fire_alarm_in_that_zone() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"))
    actions = drive.at(20).feed(event("smoke", "cam-1", Source.VIDEO, zone="主殿", snapshot="http://nvr/1.jpg"))
    assert "escalated" in kinds(actions)
    fire = drive.alert(HALL)
    assert fire.confirmed and fire.devices == ("cam-1",) and fire.evidence[0].url == "http://nvr/1.jpg"
    assert fire.count == 1  # a confirmation from a camera is not a repeat of the detector


def test_video_smoke_in_another_zone_does_not_confirm() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"))
    drive.at(20).feed(event("smoke", "cam-1", Source.VIDEO, zone="山门"))
    assert not drive.alert(HALL).confirmed


def test_video_flame_without_zone_confirms_any_fire_alarm_at_the_site() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"))
    drive.at(20).feed(event("flame", "cam-1", Source.VIDEO))
    assert drive.alert(HALL).confirmed


def test_video_smoke_just_before_a_detector_confirms_it_at_opening() -> None:
    drive = Driver()
    drive.feed(event("smoke", "cam-1", Source.VIDEO, zone="主殿", snapshot="http://nvr/2.jpg"))
    actions = drive.at(30).feed(event("fire_alarm", "smoke-1", zone="主殿"))
    (alert,) = opened(actions)
    assert alert.confirmed and alert.audiences == ALL and alert.devices == ("cam-1",)
    # Too old a signal does not.
    drive2 = Driver()
    drive2.feed(event("smoke", "cam-1", Source.VIDEO, zone="主殿"))
    (alert2,) = opened(drive2.at(300).feed(event("fire_alarm", "smoke-1", zone="主殿")))
    assert not alert2.confirmed


def test_fire_alarm_is_latched_restore_and_reset_only_mark_the_condition() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "panel", zone="3"))
    actions = drive.at(30).feed(event("fire_alarm", "panel", zone="3", clear=True))
    assert kinds(actions) == ["cleared"]
    alert = drive.only_open()
    assert alert.status is AlertStatus.OPEN and alert.condition_cleared_at == drive.now
    assert drive.at(5).feed(event("reset", "panel")) == []  # already marked
    drive.at(5).feed(event("fire_alarm", "panel", zone="3"))
    assert drive.only_open().condition_cleared_at is None  # active again
    assert kinds(drive.at(5).feed(event("reset", "panel"))) == ["cleared"]
    assert drive.only_open().status is AlertStatus.OPEN


def test_a_closed_fire_alert_frees_the_zone_for_a_new_one() -> None:
    drive = Driver()
    first = opened(drive.feed(event("fire_alarm", "smoke-1", zone="主殿")))[0]
    eng.mark_false_alarm(drive.engine, first.id, "值班员", drive.at(60).now)
    second = opened(drive.at(60).feed(event("fire_alarm", "smoke-2", zone="主殿")))[0]
    assert second.id != first.id and not second.confirmed


def test_fault_conditions_open_until_cleared_or_reset_and_resolve_themselves() -> None:
    for kind in ("fault", "shield", "supervisory", "power_fault"):
        drive = Driver()
        (alert,) = opened(drive.feed(event(kind, "panel", component="panel")))
        assert alert.key.rule == f"fire.{kind}" and alert.audiences == LOCAL
        assert kinds(drive.at(5).feed(event(kind, "panel"))) == ["updated"]
        actions = drive.at(60).feed(event(kind, "panel", clear=True))
        assert kinds(actions) == ["cleared", "notify:resolved"]
        assert actions[0].alert.status is AlertStatus.RESOLVED and actions[0].alert.resolved_by == "relic-guard"
        assert drive.engine.open_alerts == []
    drive = Driver()
    drive.feed(event("fault", "panel"), event("power_fault", "panel"), event("fault", "other"))
    drive.at(10).feed(event("reset", "panel"))
    assert [a.key.device for a in drive.engine.open_alerts] == ["other"]


def test_fault_classification() -> None:
    drive = Driver()
    drive.feed(event("fault", "panel"), event("shield", "panel"))
    closed = [a.alert for a in drive.at(1).feed(event("reset", "panel")) if kinds([a]) == ["cleared"]]
    assert {a.key.rule: a.classification for a in closed} == {"fire.fault": "device_fault", "fire.shield": None}


def test_panel_test_is_a_drill_never_reaching_agencies() -> None:
    drive = Driver()
    (drill,) = opened(drive.feed(event("test", "panel")))
    assert drill.drill and drill.severity is Severity.INFO and drill.audiences == (Audience.MONITORING_CENTER,)
    actions = drive.at(10).feed(event("fire_alarm", "panel", zone="3"), event("manual_alarm", "panel", zone="3"))
    assert kinds(actions) == ["updated", "updated"]
    assert drive.only_open().count == 3 and drive.only_open().drill
    assert not any(Audience.FIRE_BRIGADE in a.audiences for a in notified(drive.log))
    assert kinds(drive.at(10).feed(event("test", "panel", clear=True))) == ["cleared", "notify:resolved"]
    # After the test, alarms are real again.
    (real,) = opened(drive.at(10).feed(event("fire_alarm", "panel", zone="3")))
    assert not real.drill and real.severity is Severity.CRITICAL


def test_heartbeat_and_feedback_raise_nothing() -> None:
    drive = Driver()
    assert drive.feed(event("heartbeat", "panel"), event("feedback", "panel")) == []
    assert notified(drive.log, NotifyEvent.OPENED) == []
