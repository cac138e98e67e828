"""Video events as the native contract says them (CONTRACT §1, source `video`), and the outbox
that holds them until the broker takes them.

`event_message` is pure: a `VideoEvent` of the analyzer, the camera and the snapshot URL in, the
topic `{prefix}/{site}/video/{camera}/event` and its JSON payload out. The daemon's ingest reads
these like any camera's events, stores them and hands them to the alert rules: there is no second
way into the alert engine.

The payload's `id` is stable, made of what identifies the happening (type, phase, zone, and
`since`, when the condition was first seen or first missed), so a message published twice (a
redelivery after a lost PUBACK, a restart that analysed the same frames again) is one event in
the store.

`Outbox` keeps events while the broker is away: bounded, and when full the **oldest** event is
dropped (and counted): the newest say what the cameras show now.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from relic_guard.video.cameras_load import Camera, ZoneEvent
from sensors.native import MAX_ID_CHARS
from sensors.video import Phase, VideoEvent, VideoEventType

# Evidence is cut from the frame that decided these ends too: what the camera saw when the
# smoke, the flame or the intruder was gone (a person may have left something behind).
SNAPSHOT_AT_END: Final = frozenset({VideoEventType.MOTION, VideoEventType.SMOKE, VideoEventType.FLAME})


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    topic: str
    payload: bytes
    # The contract type, for the metric.
    type: str


def wants_snapshot(event: VideoEvent) -> bool:
    """Whether the frame that decided `event` is kept as evidence: every START cut from a frame,
    and the END of motion, smoke and flame."""
    if event.frame_index is None:
        return False
    return event.phase is Phase.START or event.type in SNAPSHOT_AT_END


def contract_type(event: VideoEvent, camera: Camera) -> str:
    """The contract's word for the event: motion in a zone goes out as the zone says
    (`intrusion` unless the zone is set to record `motion` only)."""
    if event.type is VideoEventType.MOTION and event.zone is not None:
        return camera.zone_events.get(event.zone, ZoneEvent.INTRUSION).value
    return event.type.value


def event_id(type_: str, phase: Phase, since: datetime, zone: str | None) -> str:
    """`vid:<type>:<phase>:<since, epoch ms>[:<zone>]`, unique per camera (the contract's `id` is
    unique per device, and the camera is the device). At most 4 + 12 + 6 + 14 + 65 characters."""
    since_ms = round(since.timestamp() * 1000)
    ident = f"vid:{type_}:{phase.value}:{since_ms}" + (f":{zone}" if zone is not None else "")
    assert len(ident) <= MAX_ID_CHARS, ident  # zone names are at most 64 characters (Zone)
    return ident


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def event_message(
    event: VideoEvent, camera: Camera, *, prefix: str, snapshot: str | None = None
) -> OutgoingEvent:
    type_ = contract_type(event, camera)
    body: dict[str, object] = {
        "ts": rfc3339(event.at),
        "id": event_id(type_, event.phase, event.since, event.zone),
        "type": type_,
        "clear": event.clear,
        "score": min(1.0, max(0.0, event.score)),
        "since": rfc3339(event.since),
    }
    if event.zone is not None:
        body["zone"] = event.zone
    if snapshot is not None:
        body["snapshot"] = snapshot
    if event.candidate:
        body["candidate"] = True
    if type_ == "intrusion":
        # The analyzer reports motion only in a zone armed at that moment (always, or outside
        # opening hours): the camera's own arming, which the rules honour like a security zone's.
        body["armed"] = True
    if type_ != event.type.value:
        body["analytic"] = event.type.value
    if event.detail:
        body["detail"] = dict(event.detail)
    return OutgoingEvent(
        topic=f"{prefix}/{camera.site}/video/{camera.device}/event",
        payload=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        type=type_,
    )


class Outbox:
    """Events waiting to be published; bounded, oldest dropped when full."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("the outbox must hold at least one event")
        self.capacity = capacity
        self._items: deque[OutgoingEvent] = deque()
        self._lock = threading.Lock()
        self._nonempty = threading.Condition(self._lock)
        self.dropped = 0

    def put(self, item: OutgoingEvent) -> OutgoingEvent | None:
        """Add `item`; when full, drop the oldest event and return it."""
        with self._lock:
            dropped = self._items.popleft() if len(self._items) >= self.capacity else None
            if dropped is not None:
                self.dropped += 1
            self._items.append(item)
            self._nonempty.notify()
            return dropped

    def take(self, timeout_s: float) -> OutgoingEvent | None:
        with self._lock:
            if not self._items:
                self._nonempty.wait(timeout_s)
            return self._items.popleft() if self._items else None

    def give_back(self, item: OutgoingEvent) -> None:
        """Put back at the front an event taken but not handed to the broker."""
        with self._lock:
            if len(self._items) >= self.capacity:
                self.dropped += 1
                return
            self._items.appendleft(item)
            self._nonempty.notify()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
