"""Grouping: a site's notifications that arrive within a short wait go out together.

A burst at one site (a door, then vibration, then two cameras, within seconds) should reach
a custodian's phone as one message, not four. `Grouper` holds notifications per site: the
first one starts the site's group and `wait_s` (default 5 s) later `due(now)` hands the
whole group out; the dispatcher then sends one notification per recipient holding the
items routed to that recipient (`per_recipient`).

**Urgent notifications are never held back.** A notification about a CRITICAL alert (a
fire alarm above all, also a panic button) is returned by `add` at once, as a group of its
own, and is not added to the site's pending group; alerts that arrive after it wait and go
out in the next (follow-up) group as usual. Holding a fire alarm for 5 s to save a message
would trade the one thing that matters for comfort. Which notifications count as urgent is
`is_urgent` (a parameter, so the rule is stated in one place and testable).

Invariants:
- No I/O, no clock: `now` comes in. `next_due()` is the earliest time `due` has work, for the
  dispatcher's timer heap.
- Within a group items keep arrival order; a second notification with the same (alert id,
  event) replaces the first in place (the newest snapshot of the alert is sent once).
- Every notification added comes out exactly once, in a group, in `add` or in `due`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import msgspec

from alerts.model import Notify, Severity
from alerts.routing import Recipient

DEFAULT_WAIT_S: Final = 5.0


def critical(notify: Notify) -> bool:
    """The default urgency rule: any CRITICAL alert (fire alarm, panic) skips the wait."""
    return notify.alert.severity is Severity.CRITICAL


class Group(msgspec.Struct, frozen=True, kw_only=True):
    site: str
    items: tuple[Notify, ...]
    started_at: datetime
    # True for an urgent notification sent at once, outside the site's group.
    immediate: bool = False


@dataclass(slots=True)
class _Pending:
    started_at: datetime
    items: dict[tuple[str, str], Notify] = field(default_factory=dict)


class Grouper:
    def __init__(self, wait_s: float = DEFAULT_WAIT_S, is_urgent: Callable[[Notify], bool] = critical) -> None:
        if wait_s < 0:
            raise ValueError("wait_s must not be negative")
        self.wait = timedelta(seconds=wait_s)
        self.is_urgent = is_urgent
        self._pending: dict[str, _Pending] = {}

    def add(self, notify: Notify, now: datetime) -> list[Group]:
        """Hold `notify` for its site's group; an urgent one is returned at once instead."""
        site = notify.alert.site
        if self.is_urgent(notify):
            return [Group(site=site, items=(notify,), started_at=now, immediate=True)]
        pending = self._pending.get(site)
        if pending is None:
            pending = self._pending[site] = _Pending(started_at=now)
        # Assigning to an existing key keeps its place: arrival order of the first sighting.
        pending.items[(notify.alert.id, notify.event.value)] = notify
        return []

    def due(self, now: datetime) -> list[Group]:
        """Groups whose wait is over at `now`, in order of their start (then site)."""
        ready = sorted(
            (pending.started_at, site)
            for site, pending in self._pending.items()
            if pending.started_at + self.wait <= now
        )
        groups: list[Group] = []
        for started_at, site in ready:
            pending = self._pending.pop(site)
            groups.append(Group(site=site, items=tuple(pending.items.values()), started_at=started_at))
        return groups

    def next_due(self) -> datetime | None:
        if not self._pending:
            return None
        return min(pending.started_at for pending in self._pending.values()) + self.wait

    def __len__(self) -> int:
        """Notifications held."""
        return sum(len(pending.items) for pending in self._pending.values())


class RecipientBatch(msgspec.Struct, frozen=True, kw_only=True):
    """What one recipient gets from one group: one notification holding these items."""

    recipient: Recipient
    site: str
    items: tuple[Notify, ...]


def per_recipient(group: Group, recipients_of: Callable[[Notify], Iterable[Recipient]]) -> list[RecipientBatch]:
    """Split a group into one batch per recipient. `recipients_of` gives a notification's
    recipients (`alerts.routing.route` after maintenance windows; an escalation only its new
    audiences). Recipients in order of first appearance; each batch keeps the group's order."""
    batches: dict[str, tuple[Recipient, list[Notify]]] = {}
    for item in group.items:
        for recipient in recipients_of(item):
            entry = batches.setdefault(recipient.id, (recipient, []))
            entry[1].append(item)
    return [
        RecipientBatch(recipient=recipient, site=group.site, items=tuple(items))
        for recipient, items in batches.values()
    ]
