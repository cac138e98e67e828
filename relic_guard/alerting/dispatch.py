"""Deliveries: one notification to one recipient, over every channel it has, then its fallback.

For each `Notice` (a recipient, an event, the CONTRACT §2 body) the dispatcher starts one task:
1. every primary channel of the recipient is tried at once (`deliver_with_retries`: backoff with
   jitter, the same delivery id on every attempt, so receivers drop duplicates);
2. if none of them delivered, the fallback channels are tried the same way;
3. every channel's outcome becomes a `DeliveryRecord` in the journal (database and audit trail);
   a notice that reached the recipient over no channel at all is *undelivered*: logged at
   ERROR with the recipient and alert, counted in `relic_guard_undelivered_total`, and listed
   by the API, so it is loudly shown and never silently lost.

The dispatcher never waits on the database: the journal takes records without I/O. It never
raises into the caller: a broken channel is a failed delivery (see `deliver_with_retries`).

Resolving a `ChannelTarget` (which channel object, the secret, a push subscription) belongs to
`relic_guard.alerting.channels`; a target that cannot be resolved (an unset secret, a phone that
never registered) is a failed delivery with that reason, and the fallback takes over.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from alerts.channels.base import (
    Channel,
    Delivery,
    DeliveryEvent,
    DeliveryOutcome,
    DeliveryResult,
    RetryPolicy,
    deliver_with_retries,
)
from alerts.routing import ChannelTarget, Recipient
from relic_guard import metrics
from relic_guard.alerting.records import DeliveryRecord, JournalItem

log = logging.getLogger(__name__)

_DELIVERY_NAMESPACE: Final = uuid.UUID("0c9d3c1e-2f6b-4c55-9a51-646973706174")


@dataclass(frozen=True, slots=True)
class Resolved:
    """A channel target made ready to send: the channel, the address, the secret."""

    channel: Channel
    target: str
    secret: bytes = b""


class ChannelResolver(Protocol):
    def resolve(self, target: ChannelTarget) -> Resolved | str:
        """The channel and address for `target`, or why it cannot be used (a sentence)."""
        ...


class JournalPort(Protocol):
    def put(self, item: JournalItem) -> None: ...


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification for one recipient: `body` is CONTRACT §2's object without `sent_at`."""

    alert_id: str
    event: DeliveryEvent
    recipient: Recipient
    body: Mapping[str, object]
    # When the record that caused it was received (monotonic s), for the dispatch latency metric.
    since_monotonic: float | None = None


def delivery_id(notice_key: str, recipient: str, kind: str, index: int, fallback: bool) -> str:
    """Stable per (notification instance, recipient, channel): retries reuse it."""
    name = f"{notice_key}\x1f{recipient}\x1f{kind}\x1f{index}\x1f{int(fallback)}"
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, name))


def stored_target(target: ChannelTarget) -> str:
    """The address as the records keep it: never a secret (apprise's `{secret}` stays unfilled)."""
    return target.target


class Dispatcher:
    def __init__(
        self,
        resolver: ChannelResolver,
        retry: RetryPolicy,
        journal: JournalPort,
        clock: Callable[[], datetime],
    ) -> None:
        self.resolver = resolver
        self.retry = retry
        self.journal = journal
        self.clock = clock
        self._tasks: set[asyncio.Task[bool]] = set()
        # The newest delivery per (recipient, alert): the next one waits for it, so a recipient
        # hears of an alert's changes in the order they happened (acknowledged before resolved),
        # even when the first is still being retried.
        self._latest: dict[tuple[str, str], asyncio.Task[bool]] = {}
        # Undelivered notices since start, newest last (the API shows them with the database's).
        self.undelivered: list[DeliveryRecord] = []

    def send(self, notice: Notice, notice_key: str) -> asyncio.Task[bool]:
        """Start delivering `notice` (returns at once). `notice_key` names the notification
        instance (alert, event, moment) so that its delivery ids are stable."""
        key = (notice.recipient.id, notice.alert_id)
        before = self._latest.get(key)
        task = asyncio.get_running_loop().create_task(
            self._deliver_after(before, notice, notice_key), name=f"deliver-{notice.recipient.id}"
        )
        self._tasks.add(task)
        self._latest[key] = task

        def done(finished: asyncio.Task[bool]) -> None:
            self._tasks.discard(finished)
            if self._latest.get(key) is finished:
                del self._latest[key]

        task.add_done_callback(done)
        return task

    async def _deliver_after(self, before: asyncio.Task[bool] | None, notice: Notice, notice_key: str) -> bool:
        if before is not None:
            # Its outcome is its own business (recorded by it); only its place in line matters here.
            await asyncio.gather(before, return_exceptions=True)
        return await self._deliver(notice, notice_key)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float) -> int:
        """Wait for deliveries in flight (at shutdown); returns how many were still running."""
        if not self._tasks:
            return 0
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        return len(pending)

    async def _deliver(self, notice: Notice, notice_key: str) -> bool:
        recipient = notice.recipient
        failed = await self._over(notice, notice_key, recipient.channels, fallback=False)
        if failed is None:
            self._observe_latency(notice)
            return True
        if recipient.fallback:
            log.warning(
                "%s for alert %s did not reach %s (%s) over its channels; trying its fallback",
                notice.event, notice.alert_id, recipient.name, recipient.id,
            )
            failed = await self._over(notice, notice_key, recipient.fallback, fallback=True)
            if failed is None:
                self._observe_latency(notice)
                return True
        self.undelivered.extend(failed)
        del self.undelivered[:-1000]
        metrics.UNDELIVERED.labels(audience=recipient.audience.value).inc()
        log.error(
            "UNDELIVERED: %s for alert %s reached %s (%s) over no channel%s; see /api/deliveries/undelivered",
            notice.event, notice.alert_id, recipient.name, recipient.id,
            " nor its fallback" if recipient.fallback else " (no fallback configured)",
        )
        return False

    def _observe_latency(self, notice: Notice) -> None:
        if notice.since_monotonic is not None:
            metrics.DISPATCH_SECONDS.labels(event=notice.event).observe(time.monotonic() - notice.since_monotonic)

    async def _over(
        self, notice: Notice, notice_key: str, targets: Sequence[ChannelTarget], *, fallback: bool
    ) -> list[DeliveryRecord] | None:
        """None when some channel delivered; else the failed deliveries' records."""
        records = await asyncio.gather(
            *(self._one(notice, notice_key, target, index, fallback) for index, target in enumerate(targets))
        )
        return None if any(record.delivered for record in records) else list(records)

    async def _one(
        self, notice: Notice, notice_key: str, target: ChannelTarget, index: int, fallback: bool
    ) -> DeliveryRecord:
        started = self.clock()
        ident = delivery_id(notice_key, notice.recipient.id, target.kind, index, fallback)
        resolved = self.resolver.resolve(target)
        if isinstance(resolved, str):
            outcome = DeliveryOutcome(
                delivered=False,
                attempts=[DeliveryResult(delivered=False, status=resolved, attempt=1, retryable=False)],
                gave_up="permanent failure",
            )
        else:
            delivery = Delivery(
                delivery_id=ident,
                event=notice.event,
                recipient=notice.recipient.id,
                target=resolved.target,
                body=notice.body,
                secret=resolved.secret,
            )
            outcome = await deliver_with_retries(resolved.channel, delivery, self.retry)
        record = DeliveryRecord(
            delivery_id=ident,
            alert_id=notice.alert_id,
            event=notice.event,
            recipient=notice.recipient.id,
            channel=target.kind,
            target=stored_target(target),
            fallback=fallback,
            delivered=outcome.delivered,
            attempts=len(outcome.attempts),
            status=outcome.last.status,
            gave_up=outcome.gave_up,
            started_at=started,
            finished_at=self.clock(),
        )
        metrics.DELIVERIES.labels(channel=target.kind, outcome="delivered" if outcome.delivered else "failed").inc()
        if not outcome.delivered:
            log.warning(
                "delivery %s of %s for alert %s to %s over %s failed after %d attempt(s): %s",
                ident, notice.event, notice.alert_id, notice.recipient.id, target.kind,
                len(outcome.attempts), outcome.last.status,
            )
        self.journal.put(record)
        return record
