"""The webhook channel against CONTRACT §2, byte for byte, with a real local receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.channels.base import RetryPolicy, deliver_with_retries
from alerts.channels.webhook import (
    WebhookChannel,
    classify,
    encode_body,
    format_sent_at,
    parse_retry_after,
    sign,
    verify_signature,
)
from tests.alerts_channels.harness import SENT_AT, WebhookHarness, webhook_harness
from tests.alerts_channels.receiver import Reply
from tests.alerts_channels.test_channel_contract import BODY, SleepRecorder


@pytest.fixture
async def hook() -> AsyncIterator[WebhookHarness]:
    async with webhook_harness() as h:
        yield h


# --- on the wire --------------------------------------------------------------------------------


async def test_request_matches_the_contract(hook: WebhookHarness) -> None:
    result = await hook.channel.deliver(hook.delivery(delivery_id="d-0001", event="alert.opened", body=BODY))
    assert result.delivered
    assert (result.status, result.status_code, result.attempt) == ("200 OK", 200, 1)
    [request] = hook.receiver.requests
    assert request.method == "POST"
    assert request.path == "/hooks/relic-guard"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["x-relic-guard-event"] == "alert.opened"
    assert request.headers["x-relic-guard-delivery"] == "d-0001"
    # Header names exactly as the contract spells them (receivers in other languages may compare case-sensitively).
    assert {"X-Relic-Guard-Event", "X-Relic-Guard-Delivery", "X-Relic-Guard-Signature"} <= set(request.raw_header_names)
    # The receiver's own computation over the raw bytes it got.
    expected = "sha256=" + hmac.new(hook.secret, request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-relic-guard-signature"] == expected


async def test_body_is_utf8_json_with_event_and_sent_at_first(hook: WebhookHarness) -> None:
    await hook.channel.deliver(hook.delivery(delivery_id="d-2", event="alert.escalated", body=BODY))
    [request] = hook.receiver.requests
    assert "曲阜孔庙".encode() in request.body  # readable, not \\u66f2\\u961c
    assert b"\\u" not in request.body
    document = json.loads(request.body.decode("utf-8"))
    assert list(document) == ["event", "sent_at", "alert"]
    assert document["event"] == "alert.escalated"
    assert document["sent_at"] == "2026-11-27T10:00:00.120+08:00"
    assert document["alert"] == BODY["alert"]


async def test_channel_sets_sent_at_and_event_even_if_the_body_has_them(hook: WebhookHarness) -> None:
    body = {"event": "alert.resolved", "sent_at": "stale", **BODY}
    await hook.channel.deliver(hook.delivery(delivery_id="d-3", event="alert.resolved", body=body))
    document = json.loads(hook.receiver.requests[0].body)
    assert document["sent_at"] == "2026-11-27T10:00:00.120+08:00"
    assert list(document) == ["event", "sent_at", "alert"]


async def test_retries_carry_one_delivery_id_and_their_own_sent_at(hook: WebhookHarness) -> None:
    hook.receiver.script(Reply(status=503), Reply(status=502))
    stamps = iter([SENT_AT, SENT_AT + timedelta(seconds=1), SENT_AT + timedelta(seconds=3)])

    clock_calls: list[datetime] = []

    def clock() -> datetime:
        clock_calls.append(next(stamps, SENT_AT + timedelta(seconds=9)))
        return clock_calls[-1]

    channel = WebhookChannel(hook.client, timeout_s=1.0, clock=clock)
    outcome = await deliver_with_retries(
        channel,
        hook.delivery(delivery_id="d-retry", event="alert.reminder", body=BODY),
        RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0),
        sleep=SleepRecorder(),
    )
    assert outcome.delivered
    requests = hook.receiver.requests
    assert [r.headers["x-relic-guard-delivery"] for r in requests] == ["d-retry"] * 3
    sent = [json.loads(r.body)["sent_at"] for r in requests]
    assert len(set(sent)) == 3
    for r in requests:  # each attempt signs its own bytes
        assert verify_signature(hook.secret, r.body, r.headers["x-relic-guard-signature"])


# --- answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "delivered", "retryable"),
    [
        (200, True, False),
        (201, True, False),
        (202, True, False),
        (204, True, False),
        (301, False, False),
        (307, False, False),
        (400, False, False),
        (401, False, False),
        (403, False, False),
        (404, False, False),
        (410, False, False),
        (413, False, False),
        (422, False, False),
        (408, False, True),
        (429, False, True),
        (500, False, True),
        (502, False, True),
        (503, False, True),
        (504, False, True),
    ],
)
async def test_answers_are_classified(hook: WebhookHarness, status: int, delivered: bool, retryable: bool) -> None:
    hook.receiver.script(Reply(status=status))
    result = await hook.channel.deliver(hook.delivery(delivery_id=f"d-{status}", event="alert.opened", body=BODY))
    assert (result.delivered, result.retryable, result.status_code) == (delivered, retryable, status)
    assert classify(status) == (delivered, retryable)


async def test_refusal_reason_reaches_the_operator(hook: WebhookHarness) -> None:
    hook.receiver.script(Reply(status=401, body=b'{"error":\n "invalid signature"}' + b"x" * 5000))
    result = await hook.channel.deliver(hook.delivery(delivery_id="d-401", event="alert.opened", body=BODY))
    assert result.status.startswith('401 Unauthorized: {"error": "invalid signature"}')
    assert len(result.status) < 300


async def test_redirect_is_not_followed(hook: WebhookHarness) -> None:
    hook.receiver.script(Reply(status=302, headers={"Location": "http://elsewhere.example/hook"}))
    result = await hook.channel.deliver(hook.delivery(delivery_id="d-302", event="alert.opened", body=BODY))
    assert not result.delivered and not result.retryable
    assert "elsewhere.example" in result.status and "not followed" in result.status
    assert len(hook.receiver.requests) == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_honoured(hook: WebhookHarness, status: int) -> None:
    hook.receiver.script(Reply(status=status, headers={"Retry-After": "3"}))
    sleep = SleepRecorder()
    outcome = await deliver_with_retries(
        hook.channel,
        hook.delivery(delivery_id="d-ra", event="alert.opened", body=BODY),
        RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=10.0),
        sleep=sleep,
    )
    assert outcome.delivered
    assert outcome.attempts[0].retry_after_s == 3.0
    assert sleep.delays == [3.0]


async def test_retry_after_http_date_is_honoured(hook: WebhookHarness) -> None:
    # The clock says 02:00:00.120 UTC; the receiver asks to wait until 02:00:05 GMT.
    hook.receiver.script(Reply(status=503, headers={"Retry-After": "Fri, 27 Nov 2026 02:00:05 GMT"}))
    sleep = SleepRecorder()
    outcome = await deliver_with_retries(
        hook.channel,
        hook.delivery(delivery_id="d-rad", event="alert.opened", body=BODY),
        RetryPolicy(max_attempts=2, base_delay_s=0.1, max_delay_s=10.0),
        sleep=sleep,
    )
    assert outcome.delivered
    assert sleep.delays == [pytest.approx(4.88)]


async def test_retry_after_too_long_goes_to_the_fallback(hook: WebhookHarness) -> None:
    hook.receiver.script(Reply(status=429, headers={"Retry-After": "3600"}))
    sleep = SleepRecorder()
    outcome = await deliver_with_retries(
        hook.channel,
        hook.delivery(delivery_id="d-ra-long", event="alert.opened", body=BODY),
        RetryPolicy(max_attempts=5, max_delay_s=30.0),
        sleep=sleep,
    )
    assert outcome.gave_up == "retry-after exceeds max delay"
    assert sleep.delays == []


async def test_dropped_connection_is_retryable(hook: WebhookHarness) -> None:
    hook.receiver.script(Reply(drop=True))
    result = await hook.channel.deliver(hook.delivery(delivery_id="d-drop", event="alert.opened", body=BODY))
    assert not result.delivered and result.retryable
    assert result.status.startswith("connection error")


async def test_unreachable_is_retryable(hook: WebhookHarness) -> None:
    result = await hook.channel.deliver(hook.unreachable(delivery_id="d-x"))
    assert not result.delivered and result.retryable
    assert result.status.startswith("connection error")
    assert result.status_code is None


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/hook", "not a url", "http://"])
async def test_bad_url_is_permanent(hook: WebhookHarness, target: str) -> None:
    result = await hook.channel.deliver(
        hook.delivery(delivery_id="d-url", event="alert.opened", body=BODY, target=target)
    )
    assert not result.delivered and not result.retryable
    assert result.status.startswith("bad URL")


@pytest.mark.parametrize("body", [{"when": datetime(2026, 1, 1, tzinfo=UTC)}, {"score": float("nan")}])
async def test_body_json_cannot_carry_is_permanent_and_nothing_is_sent(
    hook: WebhookHarness, body: dict[str, object]
) -> None:
    result = await hook.channel.deliver(hook.delivery(delivery_id="d-bad", event="alert.opened", body=body))
    assert not result.delivered and not result.retryable
    assert result.status.startswith("body not JSON")
    assert hook.receiver.requests == []


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WebhookChannel(None, timeout_s=0)  # type: ignore[arg-type]


# --- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 27, 2, 0, 0, 120_000, tzinfo=UTC), "2026-11-27T10:00:00.120+08:00"),
        (datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC), "2026-11-27T10:00:00.000+08:00"),
        (datetime(2026, 12, 31, 16, 0, 0, 999_999, tzinfo=UTC), "2027-01-01T00:00:00.999+08:00"),
        (SENT_AT, "2026-11-27T10:00:00.120+08:00"),
    ],
)
def test_format_sent_at(moment: datetime, text: str) -> None:
    assert format_sent_at(moment) == text


def test_format_sent_at_refuses_naive() -> None:
    with pytest.raises(ValueError):
        format_sent_at(datetime(2026, 11, 27, 10))


NOW = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("Fri, 27 Nov 2026 02:01:00 GMT", 60.0),
        ("Fri, 27 Nov 2026 01:00:00 GMT", 0.0),  # already past
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_sign_known_vector() -> None:
    # RFC 4231 test case 2.
    assert (
        sign(b"Jefe", b"what do ya want for nothing?")
        == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=abc", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "sha256=zz"],
)
def test_verify_signature_refuses(header: str | None) -> None:
    assert not verify_signature(b"Jefe", b"what do ya want for nothing?", header)


@given(secret=st.binary(min_size=1), body=st.binary(), flip=st.integers(min_value=0))
def test_signature_round_trip_and_tamper(secret: bytes, body: bytes, flip: int) -> None:
    header = sign(secret, body)
    assert verify_signature(secret, body, header)
    tampered = (
        body + b" "
        if not body
        else body[: flip % len(body)] + bytes([body[flip % len(body)] ^ 1]) + body[flip % len(body) + 1 :]
    )
    assert not verify_signature(secret, tampered, header)


@given(st.text(st.characters(codec="utf-8")), st.text(st.characters(codec="utf-8")))
def test_encode_body_round_trips_any_text(name: str, title: str) -> None:
    raw = encode_body(
        "alert.opened", "2026-11-27T10:00:00.120+08:00", {"alert": {"site": {"name": name}, "title": title}}
    )
    document = json.loads(raw.decode("utf-8"))
    assert document["alert"] == {"site": {"name": name}, "title": title}


def test_encode_body_survives_a_lone_surrogate() -> None:
    raw = encode_body("alert.opened", "t", {"alert": {"title": "孔庙\ud800火警"}})
    assert json.loads(raw.decode("utf-8"))["alert"]["title"] == "孔庙?火警"
