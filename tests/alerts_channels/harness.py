"""What the shared channel contract suite needs from each channel, and the webhook's answer.

A new channel (email against aiosmtpd, apprise against a local endpoint, web push against a
local push service) joins the suite by writing one harness class here and adding it to
`HARNESSES`: it starts a real receiver, builds deliveries addressed to it, and can make that
receiver refuse for good, fail for a while, or stall.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

import httpx

from alerts.channels.base import Channel, Delivery, DeliveryEvent
from alerts.channels.webhook import WebhookChannel
from relic_guard.embedded import free_port
from tests.alerts_channels.receiver import Receiver, Reply

CST = timezone(timedelta(hours=8))
SENT_AT = datetime(2026, 11, 27, 10, 0, 0, 120_000, tzinfo=CST)
TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Received:
    """One delivery as the far end saw it, whatever the channel."""

    delivery_id: str
    event: str
    body: Mapping[str, object]


class ChannelHarness(Protocol):
    name: str
    channel: Channel

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


class WebhookHarness:
    name = "webhook"
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

    def fail_transiently(self, times: int) -> None:
        self.receiver.script(*[Reply(status=503) for _ in range(times)])

    def stall_next(self, seconds: float) -> None:
        self.receiver.script(Reply(delay_s=seconds))

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


HARNESSES: dict[str, Callable[[], AbstractAsyncContextManager[ChannelHarness]]] = {
    "webhook": webhook_harness,
}
