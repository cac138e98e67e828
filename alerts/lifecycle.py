"""The alert lifecycle as a transition table: open → acknowledged → resolved | false_alarm.

`TRANSITIONS` maps (status, command) to the next status; any pair not in it is an
illegal move and raises `IllegalTransition`. The functions return new alerts and
never read the clock.

Why open → resolved and open → false_alarm are allowed directly:
- self-restoring conditions (a fire panel's fault indication, a device that comes
  back online) close themselves with nobody having acknowledged them, as GB 4717
  panels do for faults (fire alarms, by contrast, latch);
- CONTRACT §3's `POST /api/alerts/{id}/resolve` does not require an acknowledgement
  first, and an operator who sees at once that a camera alarm was a bird closes it
  in one step (PagerDuty allows resolve from triggered as well).
A direct close does not fill `acknowledged_by/at`: time-to-acknowledge figures count
only real acknowledgements; the report uses `resolved_at` for those closed unacknowledged.

Acknowledging twice is illegal here (the second phone to press `ack_url` learns that
someone already owns the alert); the HTTP layer may answer it as a no-op.
Resolved and false_alarm are terminal: a condition that returns opens a new alert.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

import msgspec

from alerts.errors import IllegalTransition, InvalidResolutionError
from alerts.model import Alert, AlertStatus, Classification


class Command(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    MARK_FALSE_ALARM = "mark_false_alarm"


TRANSITIONS: Final[dict[tuple[AlertStatus, Command], AlertStatus]] = {
    (AlertStatus.OPEN, Command.ACKNOWLEDGE): AlertStatus.ACKNOWLEDGED,
    (AlertStatus.OPEN, Command.RESOLVE): AlertStatus.RESOLVED,
    (AlertStatus.OPEN, Command.MARK_FALSE_ALARM): AlertStatus.FALSE_ALARM,
    (AlertStatus.ACKNOWLEDGED, Command.RESOLVE): AlertStatus.RESOLVED,
    (AlertStatus.ACKNOWLEDGED, Command.MARK_FALSE_ALARM): AlertStatus.FALSE_ALARM,
}

SYSTEM_ACTOR: Final = "relic-guard"
"""`resolved_by` of alerts the engine closed itself (a self-restoring condition ended)."""


def next_status(status: AlertStatus, command: Command) -> AlertStatus:
    try:
        return TRANSITIONS[(status, command)]
    except KeyError:
        raise IllegalTransition(status, command.value) from None


def acknowledge(alert: Alert, by: str, now: datetime) -> Alert:
    status = next_status(alert.status, Command.ACKNOWLEDGE)
    return msgspec.structs.replace(alert, status=status, acknowledged_by=by, acknowledged_at=now)


def assign(alert: Alert, to: str, by: str) -> Alert:
    """Hand an open or acknowledged alert to `to`; the status does not change. `by` is checked
    only for being someone (the audit trail records who assigned)."""
    if not alert.status.is_open:
        raise IllegalTransition(alert.status, "assign")
    if not to.strip() or not by.strip():
        raise InvalidResolutionError("assign needs who assigns and to whom")
    return msgspec.structs.replace(alert, assigned_to=to.strip())


def resolve(
    alert: Alert, by: str, now: datetime, classification: Classification | None, note: str | None = None
) -> Alert:
    """Close a real (or self-ended) situation. `classification` is what a supervisor counts;
    None only for the engine's own closes of conditions that were no incident (a threshold
    that recovered). Use `mark_false_alarm` for false alarms."""
    if classification is Classification.FALSE_ALARM:
        raise InvalidResolutionError("a false alarm is closed with mark_false_alarm, not resolve")
    status = next_status(alert.status, Command.RESOLVE)
    return msgspec.structs.replace(
        alert, status=status, resolved_by=by, resolved_at=now, classification=classification, note=note
    )


def mark_false_alarm(alert: Alert, by: str, now: datetime, note: str | None = None) -> Alert:
    status = next_status(alert.status, Command.MARK_FALSE_ALARM)
    return msgspec.structs.replace(
        alert, status=status, resolved_by=by, resolved_at=now, classification=Classification.FALSE_ALARM, note=note
    )
