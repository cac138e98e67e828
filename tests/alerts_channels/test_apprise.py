"""The apprise channel against a real local HTTP receiver through apprise's own `json://` and
`form://` schemas: what an IM bot or SMS gateway would be handed, byte for byte, no mocks."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import pytest

from alerts.channels.apprise_channel import AppriseChannel, delivery_id_of, format_local_time, render_message
from alerts.channels.base import Delivery
from relic_guard.embedded import free_port
from tests.alerts_channels.harness import TIMEOUT_S, AppriseHarness, apprise_harness
from tests.alerts_channels.receiver import Reply
from tests.alerts_channels.test_channel_contract import BODY

EXPECTED_TITLE = "【紧急·新告警】大成殿 烟感报警（未确认）"
EXPECTED_LINES = [
    "站点：曲阜孔庙（曲阜市）",
    "类别：火警 · 级别：紧急",
    "时间：2026-11-27 10:00:00（北京时间）",
    "设备：fire-panel-01",
    "确认：https://relic.example/ack/xyz",
    "编号：d-1",
]


@pytest.fixture
async def harness() -> AsyncIterator[AppriseHarness]:
    async with apprise_harness() as h:
        yield h


async def test_json_schema_carries_the_chinese_title_and_text_intact(harness: AppriseHarness) -> None:
    result = await harness.channel.deliver(harness.delivery(delivery_id="d-1", event="alert.opened", body=BODY))
    assert result.delivered, result
    assert not result.retryable
    [request] = harness.receiver.requests
    assert request.path == "/im/bot-token-0123456789"  # {secret} substituted from the delivery's secret
    payload = json.loads(request.body)
    assert payload["title"] == EXPECTED_TITLE
    assert payload["message"].split("\n") == EXPECTED_LINES
    assert payload["type"] == "failure"  # critical: red in most IM clients
    assert delivery_id_of(payload["message"]) == "d-1"


async def test_form_schema_too(harness: AppriseHarness) -> None:
    delivery = harness.delivery(
        delivery_id="d-1", event="alert.opened", body=BODY, target=f"form://127.0.0.1:{harness.receiver.port}/sms"
    )
    result = await harness.channel.deliver(delivery)
    assert result.delivered, result
    [request] = harness.receiver.requests
    fields = {key: values[0] for key, values in parse_qs(request.body.decode("utf-8")).items()}
    assert fields["title"] == EXPECTED_TITLE
    assert fields["message"].split("\n") == EXPECTED_LINES


async def test_closing_events_drop_the_acknowledge_link(harness: AppriseHarness) -> None:
    for event, label in (("alert.resolved", "告警已解除"), ("alert.acknowledged", "告警已响应")):
        message = render_message(harness.delivery(delivery_id=f"d-{event}", event=event, body=BODY))
        assert message.title == f"【紧急·{label}】大成殿 烟感报警（未确认）"
        assert "确认：https://" not in message.body
        assert message.body.endswith(f"编号：d-{event}")
    assert (
        render_message(harness.delivery(delivery_id="d-r", event="alert.resolved", body=BODY)).notify_type == "success"
    )
    escalated = render_message(harness.delivery(delivery_id="d-e", event="alert.escalated", body=BODY))
    assert escalated.title.startswith("【紧急·告警升级】")
    assert "确认：https://relic.example/ack/xyz" in escalated.body


def test_times_are_shown_on_the_shanghai_wall_clock() -> None:
    assert format_local_time("2026-11-27T02:00:00.012Z") == "2026-11-27 10:00:00（北京时间）"
    assert format_local_time("2026-12-31T23:30:00-05:00") == "2027-01-01 12:30:00（北京时间）"
    assert format_local_time("yesterday") == "yesterday"
    assert format_local_time("2026-11-27T10:00:00") == "2026-11-27T10:00:00"  # no offset: shown as given
    assert format_local_time(None) == ""


def test_a_sparse_body_still_renders() -> None:
    delivery = Delivery(delivery_id="d-s", event="alert.reminder", recipient="r", target="json://x", body={})
    message = render_message(delivery)
    assert message.title == "【告警提醒（仍未响应）】告警"
    assert message.body == "编号：d-s"
    odd = Delivery(
        delivery_id="d-o",
        event="alert.opened",
        recipient="r",
        target="json://x",
        body={"alert": {"site": "曲阜", "severity": 3}},
    )
    assert render_message(odd).title == "【新告警】告警"


async def test_every_refusal_is_retryable_and_says_what_apprise_logged(harness: AppriseHarness) -> None:
    for code in (503, 410, 401):
        harness.receiver.script(Reply(status=code, body=b"nope"))
        result = await harness.channel.deliver(
            harness.delivery(delivery_id=f"d-{code}", event="alert.opened", body=BODY)
        )
        assert not result.delivered
        assert result.retryable  # apprise does not tell a dead token from a busy gateway
        assert result.status_code is None
        assert str(code) in result.status, result.status
        assert "bot-token" not in result.status


async def test_a_url_apprise_cannot_parse_is_permanent_and_sends_nothing(harness: AppriseHarness) -> None:
    for target in ("nosuchschema://host/path", "json://", "not a url"):
        result = await harness.channel.deliver(
            harness.delivery(delivery_id="d-bad", event="alert.opened", body=BODY, target=target)
        )
        assert not result.delivered
        assert not result.retryable
        assert "bad apprise URL" in result.status
    assert harness.receiver.requests == []


async def test_the_secret_never_shows_in_a_status(harness: AppriseHarness) -> None:
    delivery = harness.delivery(
        delivery_id="d-x", event="alert.opened", body=BODY, target=f"json://127.0.0.1:{free_port()}/im/{{secret}}"
    )
    result = await harness.channel.deliver(delivery)
    assert result.retryable
    assert "bot-token" not in result.status
    assert "bot-token" not in repr(delivery)


async def test_a_stall_is_cut_at_the_timeout(harness: AppriseHarness) -> None:
    harness.stall_next(TIMEOUT_S * 4)
    started = time.monotonic()
    result = await harness.channel.deliver(harness.delivery(delivery_id="d-slow", event="alert.opened", body=BODY))
    assert time.monotonic() - started < TIMEOUT_S * 3
    assert not result.delivered
    assert result.retryable
    assert "timed out" in result.status or "onnection" in result.status, result.status


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        AppriseChannel(timeout_s=0)
