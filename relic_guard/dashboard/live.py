"""The live alert queue: every alert change, pushed to the screens that may see it (Server-Sent Events).

    feed = LiveFeed(service)                      # one per daemon, on the daemon's event loop
    app.include_router(router(feed, current_principal))   # GET /events
    feed.close()                                  # at shutdown: ends every stream

What a screen receives on `GET /events` (`text/event-stream`):

    retry: 3000                                   how long the browser waits before reconnecting
    id: 41 / event: snapshot / data: {"alerts": [...]}   the open alerts it may see, most urgent first
    id: 42 / event: alert / data: {...}           one alert changed (opened, repeated, confirmed,
                                                  escalated, acknowledged, assigned, resolved …)
    : ping                                        a comment after `heartbeat_s` without events, so
                                                  proxies and NAT tables keep the connection
    event: resync                                 this screen fell behind: what it had is incomplete;
                                                  a fresh `snapshot` follows at once

Each `alert` data is one line of JSON: the API's alert object (`relic_guard.alerting.api.alert_json`:
the CONTRACT §2 fields plus `labels`, the Chinese words of severity, category and status), so the
page and the API never disagree about an alert. An alert whose status is `resolved` or
`false_alarm` has left the queue.

Ids: one sequence per feed, increasing with every alert change and every snapshot. An alert change
carries the same id on every screen that sees it (a screen of one site sees gaps), which is what
lets a bench match deliveries across screens.

Reconnecting: the browser sends `Last-Event-ID`; it is not used to replay what was missed. Every
connection starts with a snapshot of what is open now, which is all a queue screen shows, so a
screen that was away for a second or a night is equally up to date; keeping a replay log would
only add memory and a second way of being wrong.

Scope: a screen gets the events of the sites its `Principal` can see (`Principal.can_see`), and
nothing at all about other sites, snapshot included.

Backpressure (a stalled screen must cost the fire alarm nothing): each screen has a bounded queue
(`queue_size` frames). Alert changes are put into it without waiting, from the alert service's
listener on the event loop. When a screen's queue is full, its queued frames are dropped and a
single `resync` marker takes their place; further changes are not queued for that screen until it
has taken the marker, at which point it is sent `resync` and a fresh snapshot (taken at that
moment, so nothing between is lost). The event loop never waits for a screen, and a screen never
holds more than `queue_size` frames, however long it stalls; what it costs is one reload of its
list. A screen that stops reading altogether is also limited by the server's socket buffers,
after which its send waits (that screen's task only) until it reads or disconnects.

A screen's subscription ends when its stream ends: the client disconnected (the response task is
cancelled and the stream closed), or `close()`. The feed listens to the alert service only while
at least one screen is connected.

Everything here runs on the event loop of the alert service (its listeners are called there);
nothing is thread-safe.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from alerts.model import Alert
from relic_guard.alerting.api import ApiContext, History, alert_json
from relic_guard.alerting.service import AlertService
from relic_guard.alerting.tokens import Principal, TokenStore

log = logging.getLogger(__name__)

RETRY_MS: Final = 3000
HEARTBEAT_S: Final = 15.0
QUEUE_SIZE: Final = 256
HEADERS: Final = {
    # Never cached, and never held back by a buffering reverse proxy (nginx honours this header).
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
}


class _Signal(enum.Enum):
    RESYNC = "resync"
    CLOSE = "close"


_Item = bytes | _Signal


@dataclass(eq=False, slots=True)
class Subscriber:
    """One connected screen: who is looking, and what waits to be sent to it."""

    principal: Principal
    queue: asyncio.Queue[_Item]
    # A resync marker is queued: changes are skipped until the screen takes it (its snapshot covers them).
    resync_pending: bool = False
    resyncs: int = 0


class LiveFeed:
    """Alert changes fanned out to the connected screens, each within its principal's sites."""

    def __init__(
        self,
        service: AlertService,
        *,
        queue_size: int = QUEUE_SIZE,
        heartbeat_s: float = HEARTBEAT_S,
        retry_ms: int = RETRY_MS,
        to_json: Callable[[Alert], dict[str, object]] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.service = service
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.retry_ms = retry_ms
        if to_json is None:
            # alert_json reads only the service's sites from its context; no tokens, no database.
            ctx = ApiContext(service=service, tokens=TokenStore(()), history=History(None))

            def to_json(alert: Alert) -> dict[str, object]:
                return alert_json(ctx, alert)

        self._to_json = to_json
        self._subscribers: set[Subscriber] = set()
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._closed = False
        self._encoder = msgspec.json.Encoder()

    # State ---------------------------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def subscribers(self) -> Sequence[Subscriber]:
        return tuple(self._subscribers)

    @property
    def listening(self) -> bool:
        """Whether the feed is among the service's listeners (only while a screen is connected)."""
        return self._on_alert in self.service.listeners

    @property
    def last_seq(self) -> int:
        """The id of the latest frame made (alert change or snapshot); 0 before the first."""
        return self._last_seq

    # Subscriptions ------------------------------------------------------------------------------

    def subscribe(self, principal: Principal) -> Subscriber:
        """A new screen; changes are queued for it from now on. `stream()` does this itself."""
        subscriber = Subscriber(principal, asyncio.Queue(self.queue_size))
        if self._closed:
            subscriber.queue.put_nowait(_Signal.CLOSE)
            return subscriber
        self._subscribers.add(subscriber)
        if not self.listening:
            self.service.listeners.append(self._on_alert)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        if not self._subscribers and self.listening:
            self.service.listeners.remove(self._on_alert)

    def close(self) -> None:
        """End every stream (at shutdown: an open SSE response would otherwise hold the server's
        graceful shutdown until its timeout). Browsers reconnect after `retry_ms`."""
        self._closed = True
        for subscriber in tuple(self._subscribers):
            _clear(subscriber.queue)
            subscriber.queue.put_nowait(_Signal.CLOSE)

    # The stream ----------------------------------------------------------------------------------

    async def stream(self, principal: Principal, *, last_event_id: str | None = None) -> AsyncGenerator[bytes, None]:
        """The SSE bytes for one screen, until it disconnects or the feed closes.

        `last_event_id` is accepted and not used: a snapshot replaces any replay (see the module)."""
        del last_event_id
        subscriber = self.subscribe(principal)
        try:
            # Subscribed and snapshot taken with no await between: no change falls in a gap.
            yield f"retry: {self.retry_ms}\n\n".encode() + self._snapshot(principal)
            while True:
                try:
                    async with asyncio.timeout(self.heartbeat_s):
                        item = await subscriber.queue.get()
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if item is _Signal.CLOSE:
                    return
                if item is _Signal.RESYNC:
                    subscriber.resync_pending = False
                    yield b'event: resync\ndata: {"reason":"behind"}\n\n' + self._snapshot(principal)
                    continue
                assert isinstance(item, bytes)
                yield item
        finally:
            self.unsubscribe(subscriber)

    # Inside -----------------------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._last_seq = next(self._seq)
        return self._last_seq

    def _frame(self, seq: int, event: str, data: object) -> bytes:
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, event.encode(), _one_line(self._encoder.encode(data)))

    def _snapshot(self, principal: Principal) -> bytes:
        alerts = [alert for alert in self.service.open_alerts() if principal.can_see(alert.site)]
        # Most urgent first, oldest first within a severity: the order the queue shows.
        alerts.sort(key=lambda alert: (-alert.severity.rank, alert.opened_at, alert.id))
        return self._frame(self._next_seq(), "snapshot", {"alerts": [self._to_json(alert) for alert in alerts]})

    def _on_alert(self, alert: Alert) -> None:
        """The service's listener: one frame, made once, offered to every screen that may see it."""
        if self._closed:
            return  # a queued frame could push out the close marker
        seq = self._next_seq()
        frame: bytes | None = None
        for subscriber in self._subscribers:
            if subscriber.resync_pending or not subscriber.principal.can_see(alert.site):
                continue
            if frame is None:
                frame = self._frame(seq, "alert", self._to_json(alert))
            try:
                subscriber.queue.put_nowait(frame)
            except asyncio.QueueFull:
                _clear(subscriber.queue)
                subscriber.queue.put_nowait(_Signal.RESYNC)
                subscriber.resync_pending = True
                subscriber.resyncs += 1
                log.warning("live screen of %s fell %d events behind: dropped them, it will resync",
                            subscriber.principal.actor, self.queue_size)


# JSON leaves these unescaped; EventSource splits lines on CR and LF only, but readers that split
# as Unicode does (Python's str.splitlines, httpx's aiter_lines) would cut a title in two.
_UNICODE_BREAKS: Final = tuple((char.encode(), f"\\u{ord(char):04x}".encode()) for char in "\x85\u2028\u2029")


def _one_line(data: bytes) -> bytes:
    for raw, escaped in _UNICODE_BREAKS:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


def _clear(queue: asyncio.Queue[_Item]) -> None:
    while True:
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            return


def router(feed: LiveFeed, current_principal: Callable[..., Any]) -> APIRouter:
    """`GET /events` for the principal `current_principal` (a FastAPI dependency) yields. The
    dependency may refuse a request itself (raise); when it yields None the answer is 401."""
    api = APIRouter()
    who = Depends(current_principal)

    @api.get("/events", response_class=StreamingResponse, response_model=None)
    async def events(
        principal: Principal | None = who,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse | JSONResponse:
        if principal is None:
            return JSONResponse({"error": "login required: sign in to the dashboard, then reload the page"},
                                status_code=401, headers={"Cache-Control": "no-store"})
        body = feed.stream(principal, last_event_id=last_event_id)
        # The server cancels a disconnected screen's response task between frames; closing the
        # generator afterwards runs its `finally` (unsubscribe) at once, not when it is collected.
        return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS,
                                 background=BackgroundTask(body.aclose))

    return api
