"""What the shared channel contract suite needs from each channel, and the webhook's answer.

A new channel (email against aiosmtpd, apprise against a local endpoint, web push against a
local push service) joins the suite by writing one harness class here and adding it to
`HARNESSES`: it starts a real receiver, builds deliveries addressed to it, and can make that
receiver refuse for good, fail for a while, or stall.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

import http_ece
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from alerts.channels.apprise_channel import AppriseChannel, delivery_id_of, render_message
from alerts.channels.base import Channel, Delivery, DeliveryEvent
from alerts.channels.email import EmailChannel, parse_json_part
from alerts.channels.webhook import WebhookChannel
from alerts.channels.webpush import WebPushChannel, generate_vapid_keys
from relic_guard.embedded import free_port
from tests.alerts_channels.receiver import Receiver, Reply
from tests.alerts_channels.smtp_receiver import SmtpReceiver, SmtpReply

CST = timezone(timedelta(hours=8))
SENT_AT = datetime(2026, 11, 27, 10, 0, 0, 120_000, tzinfo=CST)
# Long enough for 25 concurrent deliveries on a busy 2-core machine running tests in parallel;
# the stalled-receiver test waits this long once per channel.
TIMEOUT_S = 1.5


@dataclass(frozen=True)
class Received:
    """One delivery as the far end saw it, whatever the channel."""

    delivery_id: str
    event: str
    body: Mapping[str, object]


class ChannelHarness(Protocol):
    name: str
    channel: Channel
    # False for a channel whose library reports failure without a cause (apprise): every
    # failure is then retryable, and a permanent refusal ends when the attempts run out.
    knows_permanent_failures: bool

    def delivery(self, *, delivery_id: str, event: DeliveryEvent, body: Mapping[str, object]) -> Delivery: ...

    def unreachable(self, *, delivery_id: str) -> Delivery:
        """A delivery to an address where nothing listens."""
        ...

    def refuse_permanently(self) -> None:
        """The receiver refuses the next attempt in a way retrying cannot fix."""
        ...

    def fail_transiently(self, times: int) -> None:
        """The receiver fails the next `times` attempts in a retryable way, then recovers."""
        ...

    def stall_next(self, seconds: float) -> None:
        """The receiver takes `seconds` (longer than the channel's timeout) to answer the next attempt."""
        ...

    def received(self) -> list[Received]: ...


class FixedClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class _HttpReceiverFaults:
    """Transient failures and stalls, the same for every channel that talks HTTP to the receiver."""

    receiver: Receiver

    def fail_transiently(self, times: int) -> None:
        self.receiver.script(*[Reply(status=503) for _ in range(times)])

    def stall_next(self, seconds: float) -> None:
        self.receiver.script(Reply(delay_s=seconds))


class WebhookHarness(_HttpReceiverFaults):
    name = "webhook"
    knows_permanent_failures = True
    secret = b"whsec-\xe7\x81\xab-0123456789"

    def __init__(self, receiver: Receiver, client: httpx.AsyncClient, clock: FixedClock) -> None:
        self.receiver = receiver
        self.client = client
        self.clock = clock
        self.channel: Channel = WebhookChannel(client, timeout_s=TIMEOUT_S, clock=clock)

    def delivery(
        self,
        *,
        delivery_id: str,
        event: DeliveryEvent,
        body: Mapping[str, object],
        target: str | None = None,
        secret: bytes | None = None,
    ) -> Delivery:
        return Delivery(
            delivery_id=delivery_id,
            event=event,
            recipient="agency:qufu-fire-brigade",
            target=target or self.receiver.url(),
            secret=self.secret if secret is None else secret,
            body=body,
        )

    def unreachable(self, *, delivery_id: str) -> Delivery:
        return self.delivery(
            delivery_id=delivery_id, event="alert.opened", body={}, target=f"http://127.0.0.1:{free_port()}/hook"
        )

    def refuse_permanently(self) -> None:
        self.receiver.script(Reply(status=410, body=b"gone"))

    def received(self) -> list[Received]:
        out = []
        for request in self.receiver.requests:
            body = json.loads(request.body)
            out.append(
                Received(request.headers["x-relic-guard-delivery"], request.headers["x-relic-guard-event"], body)
            )
        return out


@asynccontextmanager
async def webhook_harness() -> AsyncIterator[WebhookHarness]:
    with Receiver() as receiver:
        async with httpx.AsyncClient() as client:
            yield WebhookHarness(receiver, client, FixedClock(SENT_AT))


class EmailHarness:
    """Email through a real aiosmtpd relay. Down/up is the relay stopped and restarted on its port;
    refusals are SMTP replies to DATA, so every attempt that reached the relay is in `received()`."""

    name = "email"
    knows_permanent_failures = True
    sender = "文物安全告警 <alerts@relic-guard.test>"

    def __init__(self, receiver: SmtpReceiver, clock: FixedClock) -> None:
        self.receiver = receiver
        self.clock = clock
        self.channel: Channel = EmailChannel(
            receiver.host,
            receiver.port,
            sender=self.sender,
            starttls=False,
            timeout_s=TIMEOUT_S,
            clock=clock,
            local_hostname="relic-guard.test",
        )

    def delivery(self, *, delivery_id: str, event: DeliveryEvent, body: Mapping[str, object]) -> Delivery:
        return Delivery(
            delivery_id=delivery_id,
            event=event,
            recipient="agency:qufu-fire-brigade",
            target="duty@qufu-fire.relic-guard.test",
            body=body,
        )

    def unreachable(self, *, delivery_id: str) -> Delivery:
        self.receiver.down()  # the relay is the channel's, not the delivery's: take it away
        return self.delivery(delivery_id=delivery_id, event="alert.opened", body={})

    def refuse_permanently(self) -> None:
        self.receiver.script(SmtpReply(550, "5.7.1 message rejected", stage="data"))

    def fail_transiently(self, times: int) -> None:
        self.receiver.script(*[SmtpReply(451, "4.3.0 try again later", stage="data") for _ in range(times)])

    def stall_next(self, seconds: float) -> None:
        self.receiver.script(SmtpReply(250, "OK", stage="data", delay_s=seconds))

    def received(self) -> list[Received]:
        out = []
        for mail in self.receiver.mails:
            message = mail.parsed()
            out.append(
                Received(
                    str(message["X-Relic-Guard-Delivery"]),
                    str(message["X-Relic-Guard-Event"]),
                    parse_json_part(message),
                )
            )
        return out


@asynccontextmanager
async def email_harness() -> AsyncIterator[EmailHarness]:
    with SmtpReceiver() as receiver:
        yield EmailHarness(receiver, FixedClock(SENT_AT))


class PushSubscriber:
    """A browser's side of a push subscription: its P-256 key pair and auth secret (RFC 8291)."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def subscription(self, endpoint: str) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys = {"p256dh": _b64url(point), "auth": _b64url(self.auth)}
        return json.dumps({"endpoint": endpoint, "expirationTime": None, "keys": keys})

    def decrypt(self, body: bytes) -> bytes:
        return bytes(http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class AppriseHarness(_HttpReceiverFaults):
    """Apprise's `json://` schema POSTing to the local receiver (`{"title", "message", …}`).

    apprise cannot tell a permanent refusal from a passing one (every failure is retryable), so
    a permanent refusal is retried until the attempts run out. `received` recognises a message by its
    delivery id line and gives back the delivery's body only if the title and text arrived
    exactly as rendered (Chinese intact); anything else comes back as what arrived, and fails.
    """

    name = "apprise"
    knows_permanent_failures = False
    secret = b"bot-token-0123456789"

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.channel: Channel = AppriseChannel(timeout_s=TIMEOUT_S)
        self.sent: dict[str, Delivery] = {}

    def delivery(
        self, *, delivery_id: str, event: DeliveryEvent, body: Mapping[str, object], target: str | None = None
    ) -> Delivery:
        delivery = Delivery(
            delivery_id=delivery_id,
            event=event,
            recipient="custodian:kong-wei",
            target=target or f"json://127.0.0.1:{self.receiver.port}/im/{{secret}}",
            secret=self.secret,
            body=body,
        )
        self.sent[delivery_id] = delivery
        return delivery

    def unreachable(self, *, delivery_id: str) -> Delivery:
        return self.delivery(
            delivery_id=delivery_id, event="alert.opened", body={}, target=f"json://127.0.0.1:{free_port()}/im"
        )

    def refuse_permanently(self) -> None:
        # Refuse every attempt: apprise cannot tell this refusal from a passing failure.
        self.receiver.script(*[Reply(status=400) for _ in range(16)])

    def received(self) -> list[Received]:
        out = []
        for request in self.receiver.requests:
            payload = json.loads(request.body)
            title, message = payload.get("title", ""), payload.get("message", "")
            delivery_id = delivery_id_of(message) or ""
            sent = self.sent.get(delivery_id)
            rendered = render_message(sent) if sent is not None else None
            if sent is not None and rendered is not None and (rendered.title, rendered.body) == (title, message):
                out.append(Received(delivery_id, sent.event, sent.body))
            else:
                out.append(Received(delivery_id, "?", {"alert": {"title": title, "message": message}}))
        return out


@asynccontextmanager
async def apprise_harness() -> AsyncIterator[AppriseHarness]:
    with Receiver() as receiver:
        yield AppriseHarness(receiver)


class WebPushHarness(_HttpReceiverFaults):
    """The local receiver as the push service; the harness holds the phone's keys and decrypts."""

    name = "webpush"
    knows_permanent_failures = True
    sub = "mailto:ops@relic-guard.example"

    def __init__(self, receiver: Receiver, client: httpx.AsyncClient, clock: FixedClock) -> None:
        self.receiver = receiver
        self.clock = clock
        self.subscriber = PushSubscriber()
        self.vapid_private_pem, self.vapid_public_b64 = generate_vapid_keys()
        self.channel: Channel = WebPushChannel(
            self.vapid_private_pem, self.sub, timeout_s=TIMEOUT_S, client=client, clock=clock
        )

    def delivery(
        self, *, delivery_id: str, event: DeliveryEvent, body: Mapping[str, object], endpoint: str | None = None
    ) -> Delivery:
        return Delivery(
            delivery_id=delivery_id,
            event=event,
            recipient="custodian:kong-wei",
            target=self.subscriber.subscription(endpoint or self.receiver.url("/push/v2/sub-kong-wei-phone")),
            body=body,
        )

    def unreachable(self, *, delivery_id: str) -> Delivery:
        return self.delivery(
            delivery_id=delivery_id, event="alert.opened", body={}, endpoint=f"http://127.0.0.1:{free_port()}/push/x"
        )

    def refuse_permanently(self) -> None:
        self.receiver.script(Reply(status=410, body=b'{"errno": 106, "message": "subscription expired"}'))

    def received(self) -> list[Received]:
        out = []
        for request in self.receiver.requests:
            payload = json.loads(self.subscriber.decrypt(request.body))
            out.append(Received(payload["delivery_id"], payload["event"], {"alert": payload["alert"]}))
        return out


@asynccontextmanager
async def webpush_harness() -> AsyncIterator[WebPushHarness]:
    with Receiver() as receiver:
        async with httpx.AsyncClient() as client:
            yield WebPushHarness(receiver, client, FixedClock(SENT_AT))


HARNESSES: dict[str, Callable[[], AbstractAsyncContextManager[ChannelHarness]]] = {
    "webhook": webhook_harness,
    "email": email_harness,
    "apprise": apprise_harness,
    "webpush": webpush_harness,
}
