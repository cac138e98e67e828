"""Frigate snapshots into the evidence store, attached to the alert through a native video event.

Frigate's MQTT event says only that a snapshot exists (`has_snapshot`); the image is served by
Frigate's HTTP API (`{frigate_url}/api/events/{id}/snapshot.jpg`). The daemon's ingest keeps
reading `frigate/events` as before (the adapter in `sensors/frigate.py` makes the event the rules
see). The video process subscribes to `frigate/events` too and, the first time an object is
reported with a snapshot (`new` or `update`), fetches the snapshot, stores it in the evidence
folder and publishes a native video event for the same camera, type and zone carrying `snapshot`:
the rules file it under the same alert key, so the open alert gains the snapshot as evidence.

The native event's `id` is `frigate:<frigate id>:snapshot` (stored once however often it is
sent) and it carries `evidence_for: "frigate:<frigate id>"` and `frigate_id`, so a reader of the
events can tell it adds evidence to Frigate's own event rather than reporting a second object.

Fetches run in one thread from a bounded queue (oldest dropped, counted); a Frigate that does
not answer costs a few retries and a log line, never a frame of analysis.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime
from typing import Final
from urllib.parse import quote

import httpx

from relic_guard import metrics
from relic_guard.evidence import EvidenceError, EvidenceStore
from relic_guard.video.publish import Outbox, OutgoingEvent, rfc3339
from sensors.model import Event

log = logging.getLogger(__name__)

# Frigate ids already fetched, remembered so that an object's many updates cost one fetch.
_REMEMBERED: Final = 4096
_QUEUE: Final = 64
_ATTEMPTS: Final = 3
_TIMEOUT_S: Final = 5.0


def snapshot_url(frigate_url: str, frigate_id: str) -> str:
    return f"{frigate_url.rstrip('/')}/api/events/{quote(frigate_id, safe='')}/snapshot.jpg"


def evidence_message(event: Event, snapshot: str, *, prefix: str) -> OutgoingEvent:
    """The native video event that brings a Frigate snapshot to the alert of `event`."""
    frigate_id = str(event.attrs["frigate_id"])
    body: dict[str, object] = {
        "ts": rfc3339(event.ts),
        "id": f"frigate:{frigate_id}:snapshot",
        "type": event.type,
        "snapshot": snapshot,
        "frigate_id": frigate_id,
        "evidence_for": f"frigate:{frigate_id}",
    }
    if event.zone is not None:
        body["zone"] = event.zone
    for key in ("score", "label"):
        if key in event.attrs:
            body[key] = event.attrs[key]
    return OutgoingEvent(
        topic=f"{prefix}/{event.site}/video/{event.device}/event",
        payload=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        type=event.type,
    )


class FrigateSnapshots:
    def __init__(
        self,
        frigate_url: str,
        evidence: EvidenceStore,
        evidence_base_url: str,
        outbox: Outbox,
        clock: Callable[[], datetime],
        stop: threading.Event,
        *,
        prefix: str,
        retry_pause_s: float = 0.5,
    ) -> None:
        self.frigate_url = frigate_url
        self.evidence = evidence
        self.evidence_base_url = evidence_base_url
        self.outbox = outbox
        self.clock = clock
        self.stop = stop
        self.prefix = prefix
        self.retry_pause_s = retry_pause_s
        self._pending: deque[Event] = deque()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self.fetched = 0
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name="video-frigate", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def offer(self, event: Event) -> None:
        """A Frigate event as the adapter parsed it; fetched if it has a snapshot not fetched yet."""
        if event.attrs.get("has_snapshot") is not True or event.attrs.get("frigate_type") not in ("new", "update"):
            return
        frigate_id = event.attrs.get("frigate_id")
        if not isinstance(frigate_id, str):
            return
        with self._lock:
            if frigate_id in self._seen:
                return
            self._seen[frigate_id] = None
            if len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
            if len(self._pending) >= _QUEUE:
                self._pending.popleft()
                self.dropped += 1
                metrics.VIDEO_EVIDENCE.labels(origin="frigate", outcome="dropped").inc()
            self._pending.append(event)
            self._wake.notify()

    def _run(self) -> None:
        with httpx.Client(timeout=_TIMEOUT_S) as http:
            while not self.stop.is_set():
                with self._lock:
                    if not self._pending:
                        self._wake.wait(0.2)
                    event = self._pending.popleft() if self._pending else None
                if event is not None:
                    self._fetch_and_publish(http, event)

    def _fetch_and_publish(self, http: httpx.Client, event: Event) -> None:
        frigate_id = str(event.attrs["frigate_id"])
        url = snapshot_url(self.frigate_url, frigate_id)
        why = ""
        for attempt in range(_ATTEMPTS):
            if attempt and self.stop.wait(self.retry_pause_s * attempt):
                return
            try:
                response = http.get(url)
            except httpx.HTTPError as error:
                why = f"{type(error).__name__}: {error}"
                continue
            if response.status_code != 200:
                why = f"HTTP {response.status_code}"
                if response.status_code == 404:
                    break  # Frigate kept no snapshot after all (retention, or a deleted event)
                continue
            try:
                stored = self.evidence.put(response.content, now=self.clock())
            except EvidenceError as error:
                why = str(error)
                break
            self.fetched += 1
            metrics.VIDEO_EVIDENCE.labels(origin="frigate", outcome="stored").inc()
            link = f"{self.evidence_base_url}/evidence/{stored.sha256}.jpg"
            self.outbox.put(evidence_message(event, link, prefix=self.prefix))
            return
        metrics.VIDEO_EVIDENCE.labels(origin="frigate", outcome="failed").inc()
        log.warning("Frigate snapshot of event %s (camera %s/%s) not kept: %s (from %s)",
                    frigate_id, event.site, event.device, why, url)
