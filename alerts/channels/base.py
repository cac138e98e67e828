"""The one interface every notification channel implements, and the retry loop around it.

A channel (webhook, email, IM bot, web push) turns one `Delivery` (an alert state change for
one recipient) into one attempt to hand it over, and answers with a `DeliveryResult`. It never
raises for the recipient's faults (refused, down, slow, unreachable): those are results, because
the dispatcher must go on to the next recipient and to the fallback channel. `retryable` says
whether trying the same delivery again can help.

`deliver_with_retries` owns the policy: attempt, classify, wait (exponential backoff with full
jitter, or longer if the receiver asked with Retry-After), try again with the same `delivery_id`
(receivers drop duplicates by it: that is what makes retries idempotent), until delivered, a
permanent failure, or the attempts run out. `sleep` and `rng` are injected so tests never wait.

Invariants:
- `Delivery.delivery_id` is the same on every attempt; only `attempt` changes.
- A delay never exceeds `RetryPolicy.max_delay_s`. A receiver asking (Retry-After) for more than
  that is not retried early against its wish: the loop stops, and the fallback takes over.
- A secret never shows in a repr or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Literal, Protocol, get_args, runtime_checkable

from alerts.errors import AlertsError

log = logging.getLogger(__name__)

DeliveryEvent = Literal[
    "alert.opened",
    "alert.escalated",
    "alert.reminder",
    "alert.acknowledged",
    "alert.resolved",
]
EVENTS: Final[frozenset[str]] = frozenset(get_args(DeliveryEvent))


class InvalidDelivery(AlertsError, ValueError):  # noqa: N818 (reads as the fault it names)
    """A `Delivery` that cannot be sent as built (unknown event, empty id, body contradicting it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One alert state change on its way to one recipient over one channel.

    `body` is the JSON object of CONTRACT §2 (`alert`, …). The channel sets `event` and
    `sent_at` itself (the send time is known only when sending; each attempt carries its own),
    so the body may leave them out; a `body` that carries `event` must agree with `event`.
    `secret` is the recipient's signing secret (webhook HMAC key); channels that sign nothing
    ignore it.
    """

    delivery_id: str
    event: DeliveryEvent
    recipient: str
    target: str
    body: Mapping[str, object]
    secret: bytes = field(default=b"", repr=False)
    attempt: int = 1

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise InvalidDelivery(f"unknown event {self.event!r}; expected one of {sorted(EVENTS)}")
        if not self.delivery_id:
            raise InvalidDelivery("delivery_id must not be empty")
        if not self.target:
            raise InvalidDelivery(f"recipient {self.recipient!r} has no target for delivery {self.delivery_id}")
        if "event" in self.body and self.body["event"] != self.event:
            raise InvalidDelivery(f"body says event {self.body['event']!r} but the delivery is {self.event!r}")
        if self.attempt < 1:
            raise InvalidDelivery(f"attempt counts from 1, got {self.attempt}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    """The outcome of one attempt.

    `status` is for people (operators, the audit trail): `200 OK`, `503 Service Unavailable`,
    `connect error: …`, `timed out after 5.0 s`. `status_code` is the protocol's own code when
    there was an answer (HTTP status, SMTP reply code), else None. `retry_after_s` is the wait
    the receiver asked for, if it asked.
    """

    delivered: bool
    status: str
    attempt: int
    retryable: bool
    status_code: int | None = None
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.delivered and self.retryable:
            raise ValueError("a delivered result is never retryable")


@runtime_checkable
class Channel(Protocol):
    """What every channel module provides. `deliver` makes exactly one attempt and never raises
    for a recipient-side failure (it returns a result); it may raise only for our own bugs."""

    @property
    def name(self) -> str: ...

    async def deliver(self, delivery: Delivery) -> DeliveryResult: ...


class Random(Protocol):
    """The part of `random.Random` the backoff needs."""

    def random(self) -> float: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter").

    The delay after failed attempt n (from 1) is drawn uniformly from [0, cap(n)), where
    cap(n) = min(max_delay_s, base_delay_s * 2**(n-1)); with `jitter=False` it is cap(n) itself.
    Full jitter spreads the retries of many senders hitting one recovering receiver.
    """

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if not 0 <= self.base_delay_s <= self.max_delay_s:
            raise ValueError(
                f"need 0 <= base_delay_s <= max_delay_s, got base_delay_s={self.base_delay_s} "
                f"max_delay_s={self.max_delay_s}"
            )

    def cap_for(self, attempt: int) -> float:
        """The largest delay after failed attempt `attempt` (from 1): non-decreasing, at most max_delay_s."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        # Clamp the exponent: 2.0**1100 overflows a float, and 2**64 × any sane base is past any cap.
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempt - 1, 64))

    def delay_for(self, attempt: int, rng: Random) -> float:
        """The wait after failed attempt `attempt` before the next one."""
        cap = self.cap_for(attempt)
        return rng.random() * cap if self.jitter else cap


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """Every attempt of one delivery, in order; the last one says how it ended."""

    delivered: bool
    attempts: list[DeliveryResult]
    gave_up: str | None = None
    """Why the loop stopped short of delivering: `permanent failure`, `attempts exhausted`,
    `retry-after exceeds max delay`; None when delivered."""

    @property
    def last(self) -> DeliveryResult:
        return self.attempts[-1]


Sleep = Callable[[float], Awaitable[object]]


async def deliver_with_retries(
    channel: Channel,
    delivery: Delivery,
    policy: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    rng: Random | None = None,
) -> DeliveryOutcome:
    """Deliver with retries per `policy`; see the module docstring for the rules.

    A channel that raises (a bug, not a recipient's fault) counts as a permanent failure, logged
    with its traceback: one broken channel must not stop the dispatch of a fire alarm elsewhere.
    Cancellation propagates.
    """
    rand: Random = rng if rng is not None else random.Random()
    attempts: list[DeliveryResult] = []
    for attempt in range(1, policy.max_attempts + 1):
        this = delivery if delivery.attempt == attempt else replace(delivery, attempt=attempt)
        try:
            result = await channel.deliver(this)
        except Exception as exc:
            log.exception("channel %s raised on delivery %s", channel.name, delivery.delivery_id)
            result = DeliveryResult(
                delivered=False, status=f"channel error: {type(exc).__name__}: {exc}", attempt=attempt, retryable=False
            )
        if result.attempt != attempt:
            result = replace(result, attempt=attempt)
        attempts.append(result)
        if result.delivered:
            return DeliveryOutcome(delivered=True, attempts=attempts)
        if not result.retryable:
            return DeliveryOutcome(delivered=False, attempts=attempts, gave_up="permanent failure")
        if attempt == policy.max_attempts:
            break
        delay = policy.delay_for(attempt, rand)
        if result.retry_after_s is not None:
            if result.retry_after_s > policy.max_delay_s:
                return DeliveryOutcome(delivered=False, attempts=attempts, gave_up="retry-after exceeds max delay")
            delay = max(delay, result.retry_after_s)
        await sleep(delay)
    return DeliveryOutcome(delivered=False, attempts=attempts, gave_up="attempts exhausted")
