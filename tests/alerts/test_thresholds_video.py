from __future__ import annotations

from alerts.model import AlertStatus, Audience, Category, Severity
from alerts.rules.thresholds import Op, ThresholdRule
from sensors.model import Source

from .support import NIGHT, Driver, context, event, kinds, opened, reading

HOT = ThresholdRule(name="hot", metric="temperature_c", op=Op.GT, value=60, for_s=30, severity=Severity.MAJOR)


def test_threshold_opens_only_after_lasting_for_s() -> None:
    drive = Driver(context(thresholds=[HOT]))
    assert drive.feed(reading("t1", temperature_c=61)) == []
    assert drive.at(29).feed(reading("t1", temperature_c=65)) == []
    (alert,) = opened(drive.at(1).feed(reading("t1", temperature_c=62)))
    assert alert.key.rule == "threshold.hot" and alert.severity is Severity.MAJOR
    assert (
        alert.category is Category.ENVIRONMENT
        and alert.title == "temperature_c > 60：城子崖遗址 t1（temperature_c=62）"
    )
    assert kinds(drive.at(1).feed(reading("t1", temperature_c=63))) == ["updated"]
    assert drive.only_open().title == alert.title  # repeats do not churn the title
    actions = drive.at(1).feed(reading("t1", temperature_c=20))
    assert kinds(actions) == ["cleared", "notify:resolved"] and actions[0].alert.classification is None


def test_a_dip_restarts_the_clock() -> None:
    drive = Driver(context(thresholds=[HOT]))
    drive.feed(reading("t1", temperature_c=61))
    drive.at(20).feed(reading("t1", temperature_c=59))
    assert drive.at(15).feed(reading("t1", temperature_c=61)) == []
    assert drive.at(15).tick() == []
    assert opened(drive.at(15).tick())


def test_tick_opens_when_readings_stop_while_breaching() -> None:
    drive = Driver(context(thresholds=[HOT]))
    drive.feed(reading("t1", temperature_c=70))
    assert drive.at(29).tick() == []
    (alert,) = opened(drive.at(1).tick())
    assert alert.title == "temperature_c > 60：城子崖遗址 t1"


def test_filters_zero_duration_and_latch() -> None:
    rule = ThresholdRule(
        name="rh",
        metric="humidity_pct",
        op=Op.GE,
        value=90,
        sites=frozenset({"chengziya"}),
        devices=frozenset({"h1"}),
        latch=True,
        audiences=(Audience.CUSTODIANS,),
    )
    drive = Driver(context(thresholds=[rule]))
    assert drive.feed(reading("h2", humidity_pct=99)) == []
    assert drive.feed(reading("h1", site_id="other", humidity_pct=99)) == []
    (alert,) = opened(drive.feed(reading("h1", humidity_pct=90)))
    assert alert.audiences == (Audience.CUSTODIANS,)
    assert kinds(drive.at(1).feed(reading("h1", humidity_pct=50))) == ["cleared"]
    assert drive.only_open().status is AlertStatus.OPEN


# Video and drone --------------------------------------------------------------------------

VIDEO_CASES = [
    # (type, when, expected severity or None, category)
    ("motion", NIGHT, None, None),
    ("intrusion", None, None, None),  # daytime, disarmed: visitors
    ("intrusion", NIGHT, Severity.CRITICAL, Category.VIDEO),
    ("object_removed", None, Severity.MAJOR, Category.VIDEO),
    ("object_removed", NIGHT, Severity.CRITICAL, Category.VIDEO),
    ("tamper", None, Severity.MAJOR, Category.VIDEO),
    ("occlusion", NIGHT, Severity.MAJOR, Category.VIDEO),
    ("occlusion", None, Severity.MINOR, Category.VIDEO),
    ("video_loss", None, Severity.MAJOR, Category.DEVICE),
    ("smoke", None, Severity.MAJOR, Category.FIRE),
    ("flame", None, Severity.CRITICAL, Category.FIRE),
]


def test_video_table() -> None:
    for kind, when, severity, category in VIDEO_CASES:
        drive = Driver(start=when) if when is not None else Driver()
        actions = drive.feed(event(kind, "cam-1", Source.VIDEO, zone="gate", snapshot="http://nvr/s.jpg"))
        if severity is None:
            assert actions == [], kind
            continue
        (alert,) = opened(actions)
        assert (alert.severity, alert.category) == (severity, category), kind
        assert alert.key.rule == f"video.{kind}:gate" and alert.evidence[0].url == "http://nvr/s.jpg"


def test_video_intrusion_during_opening_hours_alerts_when_armed() -> None:
    drive = Driver()
    drive.feed(event("arm", "panel", Source.SECURITY, zone="gate"))
    (alert,) = opened(drive.feed(event("intrusion", "cam-1", Source.VIDEO, zone="gate")))
    assert alert.severity is Severity.MAJOR and Audience.POLICE in alert.audiences


def test_self_restoring_video_conditions_resolve_latched_ones_hold() -> None:
    drive = Driver(start=NIGHT)
    drive.feed(event("video_loss", "cam-1", Source.VIDEO), event("intrusion", "cam-1", Source.VIDEO))
    drive.at(10).feed(
        event("video_loss", "cam-1", Source.VIDEO, clear=True), event("intrusion", "cam-1", Source.VIDEO, clear=True)
    )
    (left,) = drive.engine.open_alerts
    assert left.key.rule == "video.intrusion" and left.condition_cleared_at is not None


def test_drone_excavation_goes_to_police_and_culture_bureau_critical_at_night() -> None:
    for when, severity in ((NIGHT, Severity.CRITICAL), (None, Severity.MAJOR)):
        drive = Driver(start=when) if when else Driver()
        (alert,) = opened(
            drive.feed(event("detection", "m30", Source.DRONE, label="excavation", snapshot="http://x/1"))
        )
        assert alert.severity is severity and alert.category is Category.DRONE
        assert {Audience.POLICE, Audience.CULTURE_BUREAU} <= set(alert.audiences)
    drive = Driver()
    assert drive.feed(event("detection", "m30", Source.DRONE, label="person")) == []
    assert drive.feed(event("detection", "m30", Source.DRONE, label="dog")) == []
    assert opened(Driver(start=NIGHT).feed(event("detection", "m30", Source.DRONE, label="vehicle")))


def test_drone_link_lost_resolves_at_next_word_from_the_drone() -> None:
    drive = Driver()
    (alert,) = opened(drive.feed(event("link_lost", "m30", Source.DRONE)))
    assert alert.category is Category.DEVICE
    assert kinds(drive.at(20).feed(event("landing", "m30", Source.DRONE))) == ["cleared", "notify:resolved"]


def test_drone_smoke_confirms_a_fire_alarm_at_the_site() -> None:
    drive = Driver()
    drive.feed(event("fire_alarm", "smoke-1", zone="主殿"))
    drive.at(30).feed(event("detection", "m30", Source.DRONE, label="smoke"))
    fire = next(a for a in drive.engine.open_alerts if a.key.rule.startswith("fire.alarm"))
    assert fire.confirmed and Audience.FIRE_BRIGADE in fire.audiences


def test_a_candidate_smoke_or_flame_cue_opens_nothing_and_only_confirms_a_detector() -> None:
    for kind in ("smoke", "flame"):
        drive = Driver(start=NIGHT)
        assert drive.feed(event(kind, "cam-1", Source.VIDEO, zone="主殿", score=0.4, candidate=True)) == []
        assert drive.engine.open_alerts == []
        # The detector's alarm that follows is confirmed by the cue seen moments before it.
        drive.at(20).feed(event("fire_alarm", "smoke-1", zone="主殿"))
        (fire,) = drive.engine.open_alerts
        assert fire.key.rule.startswith("fire.alarm") and fire.confirmed, kind
        assert Audience.FIRE_BRIGADE in fire.audiences
    # Without the flag a smoke event is a camera's own verdict and opens its own alert.
    assert opened(Driver().feed(event("smoke", "cam-1", Source.VIDEO, zone="主殿", candidate=False)))


def test_a_drone_detection_says_where_it_was_seen() -> None:
    (alert,) = opened(Driver(start=NIGHT).feed(event("detection", "m30", Source.DRONE, label="excavation",
                                                     lat=36.712346, lon=117.360123, snapshot="http://x/1")))
    assert alert.title.endswith("m30 位置 36.71235,117.36012")
    (plain,) = opened(Driver(start=NIGHT).feed(event("detection", "m30", Source.DRONE, label="excavation")))
    assert plain.title.endswith(" m30")


def test_a_camera_zone_armed_by_its_own_schedule_alerts_during_opening_hours() -> None:
    # Daytime, nothing armed at the panel: a visitor's movement is no alarm...
    assert Driver().feed(event("intrusion", "cam-1", Source.VIDEO, zone="库房")) == []
    # ...but the storeroom camera's zone is armed all day by its own schedule.
    (alert,) = opened(Driver().feed(event("intrusion", "cam-1", Source.VIDEO, zone="库房", armed=True)))
    assert alert.severity is Severity.MAJOR and Audience.POLICE in alert.audiences


def test_a_snapshot_fetched_later_joins_the_open_alert_without_counting_a_repeat() -> None:
    drive = Driver(start=NIGHT)
    (alert,) = opened(drive.feed(event("intrusion", "cam-1", Source.VIDEO, zone="gate")))
    drive.at(5).feed(event("intrusion", "cam-1", Source.VIDEO, zone="gate", clear=True))
    drive.at(8).feed(event("intrusion", "cam-1", Source.VIDEO, zone="gate", snapshot="http://g/e/1.jpg",
                           evidence_for="frigate:1"))
    (held,) = drive.engine.open_alerts
    assert held.id == alert.id and held.count == 1 and held.condition_cleared_at is not None
    assert [e.url for e in held.evidence] == ["http://g/e/1.jpg"]
    # With no alert open it opens nothing.
    assert Driver(start=NIGHT).feed(event("intrusion", "cam-2", Source.VIDEO, snapshot="http://g/e/2.jpg",
                                          evidence_for="frigate:2")) == []
