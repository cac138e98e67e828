"""The notification body matches CONTRACT §2 and survives JSON with Chinese text intact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from alerts.channels.apprise_channel import render_message
from alerts.channels.base import Delivery
from alerts.channels.email import text_for
from alerts.lifecycle import acknowledge, resolve
from alerts.model import Alert, AlertKey, Category, Classification, Evidence, NotifyEvent, Severity, new_alert
from alerts.notification import alert_object, notification_body, related_lines
from relic_guard.registry import Site

T0 = datetime(2026, 11, 27, 2, 0, 0, 120000, tzinfo=UTC)
SITE = Site(id="chengziya", name="城子崖遗址", district="章丘区", level="全国重点文物保护单位", kind="古遗址",
            lat=36.7981, lon=117.4723)


def fire_alert() -> Alert:
    return new_alert(AlertKey("chengziya", "panel-1", "fire.alarm:主殿"), category=Category.FIRE,
                     severity=Severity.CRITICAL, title="火警（已确认）：城子崖遗址 主殿", now=T0, zone="主殿",
                     evidence=(Evidence("snapshot", "https://nvr.example/snap/1.jpg"),), confirmed=True)


def test_body_has_the_contract_fields() -> None:
    alert = fire_alert()
    body = notification_body(NotifyEvent.OPENED, alert, SITE, ack_url="https://rg.example/ack/t0k")
    assert body["event"] == "alert.opened"
    obj = body["alert"]
    assert isinstance(obj, dict)
    for key in ("id", "status", "category", "severity", "title", "opened_at", "site", "device", "evidence", "ack_url"):
        assert key in obj
    assert obj["status"] == "open" and obj["category"] == "fire" and obj["severity"] == "critical"
    assert obj["opened_at"] == "2026-11-27T10:00:00.120+08:00"
    assert obj["site"] == {"id": "chengziya", "name": "城子崖遗址", "district": "章丘区",
                           "level": "全国重点文物保护单位", "lat": 36.7981, "lon": 117.4723}
    assert obj["evidence"] == [{"kind": "snapshot", "url": "https://nvr.example/snap/1.jpg"}]
    text = json.dumps(body, ensure_ascii=False)
    assert "城子崖遗址" in text and json.loads(text) == body


def test_lifecycle_fields_follow_the_alert() -> None:
    alert = acknowledge(fire_alert(), "王建国", T0 + timedelta(minutes=2))
    obj = alert_object(alert, SITE, ack_url=None)
    assert obj["status"] == "acknowledged" and obj["acknowledged_by"] == "王建国"
    assert obj["acknowledged_at"] == "2026-11-27T10:02:00.120+08:00"
    closed = resolve(alert, "李秀兰", T0 + timedelta(minutes=30), Classification.FIRE, "已扑灭")
    obj = alert_object(closed, SITE, ack_url=None)
    assert obj["status"] == "resolved" and obj["classification"] == "fire" and obj["resolved_by"] == "李秀兰"


def test_unknown_site_still_names_it() -> None:
    obj = alert_object(fire_alert(), None, ack_url=None)
    assert obj["site"] == {"id": "chengziya", "name": "chengziya", "district": None, "level": None,
                           "lat": None, "lon": None}


def grouped_body() -> dict[str, object]:
    door = new_alert(AlertKey("chengziya", "door-1", "security.door_open"), category=Category.SECURITY,
                     severity=Severity.MAJOR, title="门禁开启：城子崖遗址 库房", now=T0)
    body = notification_body(NotifyEvent.OPENED, door, SITE, ack_url="https://relic.example/ack/a")
    vibration = new_alert(AlertKey("chengziya", "vib-1", "security.vibration"), category=Category.SECURITY,
                          severity=Severity.MAJOR, title="震动：城子崖遗址 北墙", now=T0)
    body["related"] = [{"event": "alert.opened",
                        "alert": alert_object(vibration, SITE, ack_url="https://relic.example/ack/b")}]
    return body


def test_related_alerts_are_listed_for_text_channels() -> None:
    assert related_lines(notification_body(NotifyEvent.OPENED, fire_alert(), SITE, ack_url=None)) == []
    assert related_lines(grouped_body()) == [
        "同时另有 1 条告警：",
        "· 【新告警】震动：城子崖遗址 北墙（确认：https://relic.example/ack/b）",
    ]


def test_email_and_im_messages_show_the_related_alerts() -> None:
    delivery = Delivery(delivery_id="d-1", event="alert.opened", recipient="center", target="ops@example.cn",
                        body=grouped_body())
    message = render_message(delivery)
    assert "震动：城子崖遗址 北墙" in message.body and "https://relic.example/ack/b" in message.body
    text = text_for("alert.opened", "d-1", "2026-11-27T10:00:00+08:00", grouped_body())
    assert "同时另有 1 条告警：" in text and "震动：城子崖遗址 北墙" in text
