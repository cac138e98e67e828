"""Collects parsed messages into a batch and says when the batch is due.

Pure apart from a lock: the MQTT thread adds, the flusher thread takes. `now`
is passed in (monotonic seconds) so the flush policy is table-testable.
The acknowledgement tokens (MQTT packet ids) are kept in arrival order,
because MQTT requires PUBACKs in the order the PUBLISHes arrived.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from relic_guard.batch import Batch, quarantined
from sensors.model import Message, Record, Rejection


@dataclass(slots=True)
class PendingBatch:
    batch: Batch
    # Packet ids to acknowledge once the batch is durable (0 = QoS 0, nothing to ack).
    ack_ids: list[int]
    opened_at: float


@dataclass
class BatchAccumulator:
    max_messages: int
    max_delay_s: float
    _current: PendingBatch | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, msg: Message, result: list[Record] | Rejection, ack_id: int, now: float) -> int:
        """Add one parsed message; returns the number of messages now waiting."""
        with self._lock:
            pending = self._current
            if pending is None:
                pending = self._current = PendingBatch(Batch(), [], now)
            if isinstance(result, Rejection):
                pending.batch.quarantine.append(
                    quarantined(msg.topic, msg.payload, msg.received_at, result.reason, result.detail)
                )
            else:
                pending.batch.add_records(result, msg.received_at)
            pending.batch.messages += 1
            if ack_id:
                pending.ack_ids.append(ack_id)
            return pending.batch.messages

    def add_passed_over(self, ack_id: int, now: float) -> None:
        """A message another lane owns: nothing to store, but its ack keeps its place in the order."""
        with self._lock:
            pending = self._current
            if pending is None:
                pending = self._current = PendingBatch(Batch(), [], now)
            if ack_id:
                pending.ack_ids.append(ack_id)

    def due(self, now: float) -> bool:
        with self._lock:
            pending = self._current
            if pending is None:
                return False
            return pending.batch.messages >= self.max_messages or now - pending.opened_at >= self.max_delay_s

    def seconds_until_due(self, now: float) -> float | None:
        with self._lock:
            pending = self._current
            if pending is None:
                return None
            if pending.batch.messages >= self.max_messages:
                return 0.0
            return max(0.0, pending.opened_at + self.max_delay_s - now)

    def take(self) -> PendingBatch | None:
        with self._lock:
            pending, self._current = self._current, None
            return pending
