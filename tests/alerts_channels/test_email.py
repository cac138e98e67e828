"""The email channel against a real SMTP server (aiosmtpd on loopback, `smtp_receiver.py`).

What the shared contract suite checks for every channel is in test_channel_contract.py; here is
what only email has: the MIME message (subject, text, JSON part, headers) parsed back with the
`email` package, SMTP reply codes at each stage, STARTTLS and AUTH.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from alerts.channels.base import Channel, Delivery, DeliveryEvent, RetryPolicy, deliver_with_retries
from alerts.channels.email import EmailChannel, message_id, parse_json_part, subject_for
from alerts.channels.webhook import encode_body, format_sent_at
from relic_guard.embedded import free_port
from tests.alerts_channels.harness import SENT_AT, FixedClock
from tests.alerts_channels.smtp_receiver import SmtpReceiver, SmtpReply

TIMEOUT_S = 2.0
SENDER = "文物安全告警 <alerts@relic-guard.test>"
TARGET = "duty@qufu.relic-guard.test"
POLICY = RetryPolicy(max_attempts=4, base_delay_s=1.0, max_delay_s=8.0)
BODY: dict[str, Any] = {
    "alert": {
        "id": "a-20261127-0001",
        "status": "open",
        "category": "fire",
        "severity": "critical",
        "title": "火警（已确认）：城子崖遗址 主殿",
        "opened_at": "2026-11-27T02:00:00.012+00:00",
        "site": {
            "id": "chengziya",
            "name": "城子崖遗址",
            "district": "章丘区",
            "level": "全国重点文物保护单位",
            "lat": 36.66,
            "lon": 117.02,
        },
        "device": "smoke-07",
        "evidence": [
            {"kind": "snapshot", "url": "https://relic.example/s/1.jpg"},
            {"kind": "clip", "url": "https://relic.example/v/1.mp4"},
        ],
        "ack_url": "https://relic.example/ack/tok-xyz",
    }
}


class SleepRecorder:
    def __init__(self, then: Any = None) -> None:
        self.delays: list[float] = []
        self.then = then

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.then is not None:
            self.then()


@pytest.fixture
def receiver() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as r:
        yield r


def channel_for(receiver: SmtpReceiver, clock: FixedClock | None = None, **kwargs: Any) -> EmailChannel:
    options: dict[str, Any] = {
        "sender": SENDER,
        "starttls": False,
        "timeout_s": TIMEOUT_S,
        "clock": clock or FixedClock(SENT_AT),
        "local_hostname": "relic-guard.test",
    }
    options.update(kwargs)
    return EmailChannel(receiver.host, receiver.port, **options)


def delivery(
    delivery_id: str = "d-1", event: DeliveryEvent = "alert.opened", body: dict[str, Any] | None = None, **kw: Any
) -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        event=event,
        recipient="custodian:chengziya",
        target=kw.pop("target", TARGET),
        body=BODY if body is None else body,
        **kw,
    )


def text_part(message: EmailMessage) -> EmailMessage:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    return part


async def test_is_a_channel(receiver: SmtpReceiver) -> None:
    channel = channel_for(receiver)
    assert isinstance(channel, Channel)
    assert channel.name == "email"


async def test_the_delivered_mail_parses_back_with_chinese_intact(receiver: SmtpReceiver) -> None:
    result = await channel_for(receiver).deliver(delivery("d-42", "alert.opened"))
    assert result.delivered, result
    assert (result.status_code, result.attempt, result.retryable) == (250, 1, False)
    [mail] = receiver.mails
    assert mail.mail_from == "alerts@relic-guard.test"  # the bare address in the envelope
    assert mail.rcpt_tos == (TARGET,)
    # Properly MIME-encoded: 7-bit on the wire (RFC 2047 words, base64/QP), no raw UTF-8 anywhere.
    assert mail.raw.isascii()
    message = mail.parsed()
    assert message["Subject"] == "[relic-guard] 火警（已确认）：城子崖遗址 主殿 — alert.opened"
    assert message["From"].addresses[0] == Address("文物安全告警", "alerts", "relic-guard.test")
    assert message["To"] == TARGET
    assert message["X-Relic-Guard-Event"] == "alert.opened"
    assert message["X-Relic-Guard-Delivery"] == "d-42"
    assert message["Message-ID"] == "<relic-guard.d-42@relic-guard.test>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Importance"] == "high"
    assert message["Date"].datetime == SENT_AT.replace(microsecond=0)  # RFC 5322 dates have whole seconds
    assert message.get_content_type() == "multipart/mixed"

    text = text_part(message)
    assert text.get_content_charset() == "utf-8"
    content = text.get_content()
    for expected in (
        "新告警（alert.opened）",
        "告警：火警（已确认）：城子崖遗址 主殿",
        "级别：紧急（critical）",
        "状态：待响应（open）",
        "文物点：城子崖遗址",
        "区县：章丘区",
        "设备：smoke-07",
        "发生时间：2026-11-27 10:00:00（北京时间）",  # 02:00 UTC shown in Asia/Shanghai
        "  - snapshot：https://relic.example/s/1.jpg",
        "  - clip：https://relic.example/v/1.mp4",
        "https://relic.example/ack/tok-xyz",
        "投递编号：d-42",
    ):
        assert expected in content, (expected, content)

    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/json"
    assert attachment.get_content_charset() == "utf-8"
    raw_json = attachment.get_payload(decode=True)
    # Exactly the webhook's bytes: the same content, whatever the channel.
    assert raw_json == encode_body("alert.opened", format_sent_at(SENT_AT), BODY)
    assert parse_json_part(message) == {"event": "alert.opened", "sent_at": "2026-11-27T10:00:00.120+08:00", **BODY}


async def test_greylisted_451_is_retried_with_the_same_message_id(receiver: SmtpReceiver) -> None:
    clock = FixedClock(SENT_AT)
    receiver.script(SmtpReply(451, "4.7.1 greylisted, try again later", stage="data"))
    sleep = SleepRecorder(then=lambda: setattr(clock, "now", clock.now + timedelta(seconds=3)))
    outcome = await deliver_with_retries(channel_for(receiver, clock), delivery("d-grey"), POLICY, sleep=sleep)
    assert outcome.delivered, outcome
    assert [(r.delivered, r.retryable, r.attempt, r.status_code) for r in outcome.attempts] == [
        (False, True, 1, 451),
        (True, False, 2, 250),
    ]
    assert "greylisted" in outcome.attempts[0].status
    assert len(sleep.delays) == 1
    first, second = (mail.parsed() for mail in receiver.mails)
    assert first["Message-ID"] == second["Message-ID"] == "<relic-guard.d-grey@relic-guard.test>"
    assert first["X-Relic-Guard-Delivery"] == second["X-Relic-Guard-Delivery"] == "d-grey"
    assert first["Date"].datetime < second["Date"].datetime  # each attempt carries its own send time
    assert parse_json_part(second)["sent_at"] == "2026-11-27T10:00:03.120+08:00"


async def test_4xx_at_rcpt_then_250(receiver: SmtpReceiver) -> None:
    receiver.script(SmtpReply(450, "4.2.1 mailbox busy", stage="rcpt"))
    outcome = await deliver_with_retries(channel_for(receiver), delivery("d-busy"), POLICY, sleep=SleepRecorder())
    assert outcome.delivered
    assert [r.status_code for r in outcome.attempts] == [450, 250]
    assert "RCPT" in outcome.attempts[0].status
    assert len(receiver.mails) == 1


async def test_550_mailbox_unavailable_is_permanent_after_one_attempt(receiver: SmtpReceiver) -> None:
    receiver.script(SmtpReply(550, "5.1.1 mailbox unavailable", stage="rcpt"))
    sleep = SleepRecorder()
    outcome = await deliver_with_retries(channel_for(receiver), delivery("d-550"), POLICY, sleep=sleep)
    assert not outcome.delivered
    assert outcome.gave_up == "permanent failure"
    [result] = outcome.attempts
    assert (result.retryable, result.status_code) == (False, 550)
    assert "mailbox unavailable" in result.status
    assert sleep.delays == []
    assert receiver.mails == []


async def test_5xx_after_data_is_permanent(receiver: SmtpReceiver) -> None:
    receiver.script(SmtpReply(554, "5.7.1 message rejected by policy", stage="data"))
    result = await channel_for(receiver).deliver(delivery("d-554"))
    assert (result.delivered, result.retryable, result.status_code) == (False, False, 554)
    assert "DATA" in result.status


async def test_nothing_listening_is_a_retryable_result() -> None:
    channel = EmailChannel(
        "127.0.0.1",
        free_port(),
        sender=SENDER,
        starttls=False,
        timeout_s=TIMEOUT_S,
        clock=FixedClock(SENT_AT),
        local_hostname="relic-guard.test",
    )
    result = await channel.deliver(delivery("d-nowhere"))
    assert not result.delivered
    assert result.retryable
    assert result.status_code is None
    assert "connection error" in result.status


async def test_a_relay_that_comes_back_gets_the_mail(receiver: SmtpReceiver) -> None:
    receiver.down()
    sleep = SleepRecorder(then=receiver.up)
    outcome = await deliver_with_retries(channel_for(receiver), delivery("d-restart"), POLICY, sleep=sleep)
    assert outcome.delivered
    assert [(r.delivered, r.retryable) for r in outcome.attempts] == [(False, True), (True, False)]
    [mail] = receiver.mails
    assert mail.parsed()["X-Relic-Guard-Delivery"] == "d-restart"


async def test_credentials_are_used_and_a_wrong_password_is_permanent() -> None:
    with SmtpReceiver(credentials=("relic", "s3cret-火")) as receiver:
        good = await channel_for(receiver, username="relic", password="s3cret-火").deliver(delivery("d-auth"))
        assert good.delivered, good
        assert [m.login for m in receiver.mails] == ["relic"]
        wrong = channel_for(receiver, username="relic", password="nope")
        bad = await wrong.deliver(delivery("d-auth-bad"))
        assert (bad.delivered, bad.retryable, bad.status_code) == (False, False, 535)
        assert "nope" not in bad.status
        assert "nope" not in repr(wrong)
        assert len(receiver.mails) == 1


async def test_starttls_required_but_not_offered_never_sends_in_clear(receiver: SmtpReceiver) -> None:
    result = await channel_for(receiver, starttls=True).deliver(delivery("d-tls"))
    assert not result.delivered
    assert not result.retryable  # configuration vs server: the fallback channel takes over
    assert "STARTTLS" in result.status
    assert receiver.mails == []


@pytest.mark.parametrize(
    "target", ["not-an-address", "duty@qufu.relic-guard.test\r\nBcc: evil@example.com", "a b@example.com"]
)
async def test_a_bad_address_is_permanent_and_nothing_is_sent(receiver: SmtpReceiver, target: str) -> None:
    result = await channel_for(receiver).deliver(delivery("d-bad", target=target))
    assert (result.delivered, result.retryable) == (False, False)
    assert "bad address" in result.status
    assert receiver.mails == []


async def test_a_body_json_cannot_carry_is_permanent(receiver: SmtpReceiver) -> None:
    result = await channel_for(receiver).deliver(delivery("d-nan", body={"alert": {"x": float("nan")}}))
    assert (result.delivered, result.retryable) == (False, False)
    assert "JSON" in result.status
    assert receiver.mails == []


async def test_a_sparse_alert_still_makes_a_readable_mail(receiver: SmtpReceiver) -> None:
    result = await channel_for(receiver).deliver(delivery("d-sparse", "alert.resolved", body={}))
    assert result.delivered, result
    message = receiver.mails[0].parsed()
    assert message["Subject"] == "[relic-guard] 告警 — alert.resolved"
    assert message["Importance"] is None
    assert "告警已解除" in text_part(message).get_content()
    assert parse_json_part(message) == {"event": "alert.resolved", "sent_at": "2026-11-27T10:00:00.120+08:00"}


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        (BODY["alert"], "[relic-guard] 火警（已确认）：城子崖遗址 主殿 — alert.opened"),
        ({"title": "烟感报警", "site": {"name": "曲阜孔庙"}}, "[relic-guard] 烟感报警：曲阜孔庙 — alert.opened"),
        (
            {"category": "fire", "severity": "critical", "site": {"name": "曲阜孔庙"}},
            "[relic-guard] 火警告警（紧急）：曲阜孔庙 — alert.opened",
        ),
        ({"category": "flood", "site": {"id": "s-9"}}, "[relic-guard] flood告警：s-9 — alert.opened"),
        ({"title": "  多行\n标题  "}, "[relic-guard] 多行 标题 — alert.opened"),
        ("not a mapping", "[relic-guard] 告警 — alert.opened"),
    ],
)
def test_subject_fallbacks(alert: object, expected: str) -> None:
    assert subject_for("alert.opened", {"alert": alert}) == expected


@pytest.mark.parametrize("delivery_id", ["d-1", "a.b..c.", "火警/1 2<3>@x", "%41"])
def test_message_id_is_valid_stable_and_distinct(delivery_id: str) -> None:
    mid = message_id(delivery_id, "relic-guard.test")
    assert mid == message_id(delivery_id, "relic-guard.test")
    assert mid.isascii() and mid.startswith("<relic-guard.") and mid.endswith("@relic-guard.test>")
    left = mid[1:-1].rpartition("@")[0]
    assert ".." not in left and not left.endswith(".")
    assert all(ch.isalnum() or ch in "._-~%" for ch in left)
    others = {message_id(other, "relic-guard.test") for other in ["d-1", "a.b..c.", "火警/1 2<3>@x", "%41"]}
    assert len(others) == 4


def test_constructor_rejects_nonsense() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timeout_s"):
        EmailChannel("h", 25, sender="a@b.c", starttls=False, timeout_s=0, clock=clock)
    with pytest.raises(ValueError, match="go together"):
        EmailChannel("h", 25, sender="a@b.c", starttls=False, username="u", timeout_s=1, clock=clock)
    with pytest.raises(ValueError, match="not an email address"):
        EmailChannel("h", 25, sender="relic-guard", starttls=False, timeout_s=1, clock=clock)


def test_json_part_is_required_on_the_receiving_side() -> None:
    message = EmailMessage()
    message.set_content("hello")
    with pytest.raises(ValueError, match="no application/json part"):
        parse_json_part(message)
    assert json.loads(encode_body("alert.opened", "t", {})) == {"event": "alert.opened", "sent_at": "t"}


async def test_a_stalled_server_times_out_within_the_budget(receiver: SmtpReceiver) -> None:
    receiver.script(SmtpReply(250, "OK", stage="data", delay_s=TIMEOUT_S * 5))
    channel = channel_for(receiver, timeout_s=0.3)
    started = time.monotonic()
    result = await channel.deliver(delivery("d-slow"))
    elapsed = time.monotonic() - started
    assert (result.delivered, result.retryable) == (False, True)
    assert "timed out after 0.3 s" in result.status
    assert elapsed < 0.3 * 1.5, elapsed  # no QUIT waited for after the timeout


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make test certificates: apt-get install openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_receiver(certificate: tuple[Path, Path]) -> Iterator[SmtpReceiver]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(*certificate)
    with SmtpReceiver(credentials=("relic", "pw-火"), tls_context=server_context) as r:
        yield r


async def test_starttls_with_a_trusted_certificate_then_auth(
    tls_receiver: SmtpReceiver, certificate: tuple[Path, Path]
) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    channel = channel_for(tls_receiver, starttls=True, username="relic", password="pw-火", tls_context=trusted)
    result = await channel.deliver(delivery("d-tls-ok"))
    assert result.delivered, result
    [mail] = tls_receiver.mails
    assert mail.login == "relic"
    assert mail.parsed()["X-Relic-Guard-Delivery"] == "d-tls-ok"
    # The TLS close (close_notify both ways) finishes on later loop turns; the channel does not
    # wait for it (the mail is delivered), but this test's loop must not close before it does,
    # or the socket is left for the garbage collector (a ResourceWarning, an error here).
    await asyncio.sleep(0.1)


async def test_an_untrusted_certificate_is_permanent(tls_receiver: SmtpReceiver) -> None:
    channel = channel_for(tls_receiver, starttls=True, username="relic", password="pw-火")  # system CAs only
    result = await channel.deliver(delivery("d-tls-untrusted"))
    assert (result.delivered, result.retryable) == (False, False)
    assert "certificate" in result.status
    assert tls_receiver.mails == []


async def test_a_server_requiring_starttls_refuses_a_plain_sender(tls_receiver: SmtpReceiver) -> None:
    result = await channel_for(tls_receiver).deliver(delivery("d-plain"))
    assert (result.delivered, result.retryable, result.status_code) == (False, False, 530)
    assert tls_receiver.mails == []
