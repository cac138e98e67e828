"""A batch: the unit that becomes durable at once (one database transaction, or one spool record).

The ingest lanes fill a batch with the records their adapters produced and
the quarantine entries for what they rejected; the store writes it in one
transaction; only then are the MQTT messages behind it acknowledged. So a
batch also remembers how many messages it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from sensors.model import MAX_JSON_BYTES, Event, Frame, Record, RejectReason, StatusChange, Telemetry


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A rejected message as CONTRACT §4 keeps it."""

    topic: str
    # The raw bytes, cut at QUARANTINE_MAX_BYTES; `payload_size` is the original length.
    payload: bytes
    payload_size: int
    received_at: datetime
    reason: RejectReason
    detail: str


# Quarantine keeps raw bytes up to the JSON size limit: enough to see what a device
# sent, without letting a flood of 4 MiB garbage frames fill the disk.
QUARANTINE_MAX_BYTES = MAX_JSON_BYTES


def quarantined(topic: str, payload: bytes, received_at: datetime, reason: RejectReason, detail: str) -> Quarantined:
    return Quarantined(
        topic=topic,
        payload=payload[:QUARANTINE_MAX_BYTES],
        payload_size=len(payload),
        received_at=received_at,
        reason=reason,
        detail=detail,
    )


@dataclass(slots=True)
class Batch:
    telemetry: list[Telemetry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    statuses: list[StatusChange] = field(default_factory=list)
    quarantine: list[Quarantined] = field(default_factory=list)
    # How many MQTT messages this batch accounts for (rows may be more or fewer).
    messages: int = 0

    def add_records(self, records: list[Record], received_at: datetime | None = None) -> None:
        """Add what one message produced; events and status changes are stamped with the
        message's receive time (telemetry is not: no one audits when a reading arrived)."""
        for record in records:
            if isinstance(record, Telemetry):
                self.telemetry.append(record)
            elif isinstance(record, Event | StatusChange):
                stamped = (
                    msgspec.structs.replace(record, received_at=received_at)
                    if received_at is not None and record.received_at is None
                    else record
                )
                if isinstance(stamped, Event):
                    self.events.append(stamped)
                else:
                    self.statuses.append(stamped)
            elif isinstance(record, Frame):
                # Frames feed the video analyzer and are not rows; the message still counts.
                pass

    def __len__(self) -> int:
        return self.messages

    @property
    def rows(self) -> int:
        return len(self.telemetry) + len(self.events) + len(self.statuses) + len(self.quarantine)

    def halves(self) -> tuple[Batch, Batch]:
        """Split the records in two, cutting the sequence telemetry, events, statuses, quarantine
        at its middle (so each half is smaller whenever there are two records or more), to find
        the one record a database refuses without setting the whole batch aside. Message counts
        follow the rows."""
        first, second = Batch(), Batch()
        left = self.rows // 2
        for name in ("telemetry", "events", "statuses", "quarantine"):
            items = getattr(self, name)
            cut = min(left, len(items))
            getattr(first, name).extend(items[:cut])
            getattr(second, name).extend(items[cut:])
            left -= cut
        first.messages = round(self.messages * first.rows / self.rows) if self.rows else 0
        second.messages = self.messages - first.messages
        return first, second

    @property
    def empty(self) -> bool:
        return not (self.telemetry or self.events or self.statuses or self.quarantine)
