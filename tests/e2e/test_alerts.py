"""Alerts end to end: `relic-guard run` against a real Mosquitto and PostgreSQL, notifying real
HTTP receivers (webhooks) and a real SMTP server (aiosmtpd), acknowledged from the ack link and
closed through the HTTP API, with the whole timeline read back and the audit trail verified."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from relic_guard.alerting.tokens import Role, append_token
from relic_guard.embedded import EmbeddedMosquitto, EmbeddedPostgres
from tests.alerts_channels.receiver import Receiver, Reply
from tests.alerts_channels.smtp_receiver import SmtpReceiver
from tests.e2e.harness import Daemon, Publisher, write_registry

HOOK_SECRET = "e2e-hook-secret"
DETECTORS = "chengziya,smoke-2,fire,smoke_detector,主殿,,\n"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hook(url: str) -> str:
    return f'{{ kind = "webhook", target = "{url}", secret_ref = "env:RG_E2E_HOOK_SECRET" }}'


def write_routing(path: Path, *, center: str, center_fallback: str | None, others: Receiver, smtp: bool) -> Path:
    fallback = f"fallback = [{hook(center_fallback)}]\n" if center_fallback else ""
    bureau = '{ kind = "email", target = "wwaq@wwj.example.cn" }' if smtp else hook(others.url("/wwj"))
    path.write_text(f"""\
group_wait_s = 1

[[recipient]]
id = "center"
name = "监控中心值班台"
audience = "monitoring_center"
channels = [{hook(center)}]
{fallback}
[[recipient]]
id = "custodian-wang"
name = "王建国"
audience = "custodians"
channels = [{hook(others.url("/wang"))}]

[[recipient]]
id = "custodian-li"
name = "李秀兰"
audience = "custodians"
channels = [{hook(others.url("/li"))}]

[[recipient]]
id = "zhangwei"
name = "张伟"
audience = "custodians"
channels = [{hook(others.url("/zhang"))}]

[[recipient]]
id = "119"
name = "119指挥中心"
audience = "fire_brigade"
channels = [{hook(others.url("/119"))}]

[[recipient]]
id = "110"
name = "110指挥中心"
audience = "police"
channels = [{hook(others.url("/110"))}]

[[recipient]]
id = "wwj"
name = "文物局安全科"
audience = "culture_bureau"
channels = [{bureau}]

[[recipient]]
id = "zhifa"
name = "综合执法支队"
audience = "law_enforcement"
channels = [{hook(others.url("/zhifa"))}]

[[route]]
name = "everyone"
recipients = ["center", "119", "110", "wwj", "zhifa"]

[[escalation]]
category = "fire"
severity = "critical"
reminder_every_s = 1
max_reminders = 2
""", encoding="utf-8")
    return path


@pytest.fixture
def others() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def fallback() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def alert_daemon(tmp_path: Path, mqtt_url: str, database_url: str, routing: Path, **extra: str) -> Daemon:
    env = {
        "RELIC_GUARD_ALERTS_ROUTING_FILE": str(routing),
        "RG_E2E_HOOK_SECRET": HOOK_SECRET,
        "RELIC_GUARD_ALERTS_DELIVERY_MAX_ATTEMPTS": "3",
        "RELIC_GUARD_ALERTS_DELIVERY_BASE_DELAY_S": "0.05",
        "RELIC_GUARD_ALERTS_DELIVERY_MAX_DELAY_S": "0.2",
        "RELIC_GUARD_ALERTS_DELIVERY_TIMEOUT_S": "2",
        **extra,
    }
    return Daemon(mqtt_url, database_url, write_registry(tmp_path / "registry", DETECTORS), tmp_path / "daemon",
                  workers=1, extra_env=env)


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def bodies(receiver: Receiver, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.requests if r.path == path]


def events(receiver: Receiver, path: str) -> list[str]:
    return [body["event"] for body in bodies(receiver, path)]


def fire(pub: Publisher, device: str, type_: str = "fire_alarm") -> None:
    now_ms = int(time.time() * 1000)
    pub.publish_json(f"relic/chengziya/fire/{device}/event",
                     {"type": type_, "zone": "主殿", "component": "smoke_detector", "ts": now_ms,
                      "id": f"{device}-{type_}-{now_ms}"})


def test_fire_alarm_confirmed_escalated_acknowledged_by_phone_and_resolved(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, pg_url: str, others: Receiver
) -> None:
    with SmtpReceiver() as smtp:
        center = Receiver()
        with center:
            routing = write_routing(tmp_path / "routing.toml", center=center.url("/center"), center_fallback=None,
                                    others=others, smtp=True)
            tokens = tmp_path / "tokens.toml"
            token = append_token(tokens, name="duty.zhang", role=Role.OPERATOR, now=datetime.now(UTC))
            d = alert_daemon(tmp_path, mosquitto.url, pg_url, routing,
                             RELIC_GUARD_ALERTS_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
                             RELIC_GUARD_ALERTS_API_TOKENS_FILE=str(tokens))
            d.extra_env["RELIC_GUARD_ALERTS_PUBLIC_URL"] = d.base_url
            d.start()
            pub = Publisher(mosquitto.port)
            closing: list[httpx.Client] = []
            try:
                fire(pub, "panel-1")
                opened = wait_until(lambda: bodies(center, "/center"), "alert.opened at the monitoring center")[0]
                alert = opened["alert"]
                assert opened["event"] == "alert.opened" and alert["severity"] == "critical"
                assert not alert["confirmed"] and alert["site"]["name"] == "城子崖遗址"
                wait_until(lambda: events(others, "/wang") and events(others, "/li"), "both custodians told")
                assert events(others, "/119") == [] and smtp.mails == []  # unconfirmed: no agency yet

                fire(pub, "smoke-2")  # a second detector in the same zone confirms it
                wait_until(lambda: "alert.escalated" in events(others, "/119"), "the fire brigade called")
                wait_until(lambda: "alert.escalated" in events(others, "/110"), "the police called")
                mail = wait_until(lambda: smtp.mails, "the culture bureau mailed")[0]
                assert mail.rcpt_tos == ("wwaq@wwj.example.cn",)
                wait_until(lambda: "alert.reminder" in events(center, "/center"), "a reminder while unacknowledged")

                # The custodian taps the link on a phone: GET shows the page, POST acknowledges.
                ack_url = next(b["alert"]["ack_url"] for b in bodies(others, "/wang") if b["alert"]["ack_url"])
                page = httpx.get(ack_url, timeout=5)
                assert page.status_code == 200 and "城子崖遗址" in page.text
                assert httpx.post(ack_url, timeout=5).status_code == 200
                wait_until(lambda: "alert.acknowledged" in events(center, "/center"), "acknowledgement sent")
                reminders = events(center, "/center").count("alert.reminder")

                api = httpx.Client(base_url=d.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
                closing.append(api)
                answer = api.post(f"/api/alerts/{alert['id']}/resolve",
                                  json={"classification": "fire", "note": "香炉引燃，已扑灭"})
                assert answer.status_code == 200, answer.text
                wait_until(lambda: "alert.resolved" in events(others, "/119"), "resolution sent to the brigade")

                def full_timeline() -> dict[str, Any] | None:
                    body: dict[str, Any] = api.get(f"/api/alerts/{alert['id']}").json()
                    kinds = [entry["kind"] for entry in body.get("timeline", [])]
                    return body if "resolved" in kinds else None

                detail = wait_until(full_timeline, "the timeline in the database")
                kinds = [entry["kind"] for entry in detail["timeline"]]
                for earlier, later in [("opened", "confirmed"), ("confirmed", "escalated"),
                                       ("escalated", "reminder"), ("reminder", "acknowledged"),
                                       ("acknowledged", "resolved")]:
                    assert kinds.index(earlier) < kinds.index(later), kinds
                actors = {entry["kind"]: entry["actor"] for entry in detail["timeline"]}
                assert actors["acknowledged"] == "recipient:custodian-wang"
                assert actors["resolved"] == "user:duty.zhang"
                assert detail["classification"] == "fire" and detail["status"] == "resolved"
                delivered = {(x["recipient"], x["event"]) for x in detail["deliveries"] if x["delivered"]}
                assert {("center", "alert.opened"), ("119", "alert.escalated"), ("wwj", "alert.escalated"),
                        ("custodian-wang", "alert.opened")} <= delivered
            finally:
                for client in closing:
                    client.close()
                pub.close()
                d.stop()
            # No reminder after the acknowledgement.
            assert events(center, "/center").count("alert.reminder") == reminders
    verify = subprocess.run(
        [sys.executable, "-m", "relic_guard.cli", "audit", "verify"], check=False, env=d.env(), capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_webhook_receiver_down_retries_then_fallback_and_undelivered_is_shown(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, pg_url: str, others: Receiver, fallback: Receiver
) -> None:
    down = f"http://127.0.0.1:{closed_port()}/center"
    routing = write_routing(tmp_path / "routing.toml", center=down, center_fallback=fallback.url("/sms"),
                            others=others, smtp=False)
    tokens = tmp_path / "tokens.toml"
    token = append_token(tokens, name="duty.li", role=Role.OPERATOR, now=datetime.now(UTC))
    d = alert_daemon(tmp_path, mosquitto.url, pg_url, routing, RELIC_GUARD_ALERTS_API_TOKENS_FILE=str(tokens))
    d.start()
    pub = Publisher(mosquitto.port)
    closing: list[httpx.Client] = []
    try:
        fire(pub, "panel-1")
        body = wait_until(lambda: bodies(fallback, "/sms"), "the fallback used")[0]
        alert_id = body["alert"]["id"]
        api = httpx.Client(base_url=d.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        closing.append(api)

        def center_records() -> list[dict[str, Any]] | None:
            found = [x for x in api.get(f"/api/alerts/{alert_id}").json().get("deliveries", [])
                     if x["recipient"] == "center" and x["event"] == "alert.opened"]
            return found if len(found) == 2 else None

        records = sorted(wait_until(center_records, "both delivery records"), key=lambda x: x["fallback"])
        assert [(x["fallback"], x["delivered"], x["attempts"]) for x in records] == [(False, False, 3), (True, True, 1)]

        # Now the fallback is down too: the notification is undelivered, and shown as such.
        fallback.script(*[Reply(status=500)] * 3)
        fire(pub, "smoke-2")  # confirmation: alert.escalated to the agencies, and to the center
        wait_until(lambda: api.get("/api/deliveries/undelivered").json().get("deliveries"), "undelivered listed")
        wait_until(lambda: 'relic_guard_undelivered_total{audience="monitoring_center"}' in d.metrics(),
                   "the undelivered notification counted")
        assert "UNDELIVERED" in d.log()
    finally:
        for client in closing:
            client.close()
        pub.close()
        d.stop()


def test_fire_alarm_is_delivered_while_the_database_is_down_and_recorded_after(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, own_pg: EmbeddedPostgres, others: Receiver
) -> None:
    url = own_pg.create_database("relic")
    center = Receiver()
    with center:
        routing = write_routing(tmp_path / "routing.toml", center=center.url("/center"), center_fallback=None,
                                others=others, smtp=False)
        d = alert_daemon(tmp_path, mosquitto.url, url, routing)
        d.start()
        pub = Publisher(mosquitto.port)
        try:
            own_pg.stop()
            published = time.monotonic()
            fire(pub, "panel-1")
            body = wait_until(lambda: bodies(center, "/center"), "alert.opened with the database down")[0]
            took_s = center.requests[0].received_monotonic - published
            assert took_s < 2.0, f"{took_s:.3f} s from publish to webhook with the database down"
            own_pg.start()

            def stored() -> bool:
                try:
                    with psycopg.connect(url, connect_timeout=2) as conn:
                        row = conn.execute("SELECT status FROM alerts WHERE id = %s", (body["alert"]["id"],)).fetchone()
                        n = conn.execute("SELECT count(*) FROM deliveries WHERE alert_id = %s",
                                         (body["alert"]["id"],)).fetchone()
                        return row is not None and n is not None and n[0] >= 1
                except psycopg.OperationalError:
                    return False

            wait_until(stored, "the alert and its deliveries written once the database is back", timeout_s=60)
        finally:
            pub.close()
            d.stop()
