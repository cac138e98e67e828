"""Webhook channel: POST the alert as signed JSON to the recipient's URL (CONTRACT §2).

Each attempt sends
    Content-Type: application/json; charset=utf-8
    X-Relic-Guard-Event: <event>
    X-Relic-Guard-Delivery: <delivery id, the same on every retry: receivers drop duplicates by it>
    X-Relic-Guard-Signature: sha256=<hex HMAC-SHA256(raw body, recipient secret)>
and a body `{"event": …, "sent_at": …, **delivery.body}` encoded once, with `ensure_ascii=False`
(a Chinese site name arrives as readable UTF-8, not `\\u` escapes). The bytes signed are the
bytes sent. `sent_at` comes from the injected clock, in China Standard Time (+08:00) to the
millisecond, like every time the contract shows.

Answers: 2xx delivered; 408, 429, 5xx, connection errors and timeouts retryable (429 and 503
with their Retry-After); redirects and other 4xx permanent (the URL or the secret is wrong,
and sending again cannot fix that; the fallback channel takes over at once). A redirect is not
followed: the signed alert goes to the URL the recipient registered, nowhere else.

`sign` and `verify_signature` are the receiver's side of the signature, for receivers written
in Python and for our tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Final

import httpx

from alerts.channels.base import Delivery, DeliveryResult

log = logging.getLogger(__name__)

CHINA_STANDARD_TIME: Final = timezone(timedelta(hours=8), "CST")
"""Asia/Shanghai: +08:00 all year (no daylight saving since 1991), so no tz database is needed."""

EVENT_HEADER: Final = "X-Relic-Guard-Event"
DELIVERY_HEADER: Final = "X-Relic-Guard-Delivery"
SIGNATURE_HEADER: Final = "X-Relic-Guard-Signature"
CONTENT_TYPE: Final = "application/json; charset=utf-8"
USER_AGENT: Final = "relic-guard-webhook/1"
SIGNATURE_PREFIX: Final = "sha256="
RETRYABLE_4XX: Final = frozenset({408, 425, 429})
MAX_REASON_BYTES: Final = 200
"""How much of a refusal's response body goes into the result's status (operators see it)."""

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def sign(secret: bytes, body: bytes) -> str:
    """The `X-Relic-Guard-Signature` value for `body`: `sha256=` and the lowercase hex HMAC-SHA256."""
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` (the received `X-Relic-Guard-Signature`) signs exactly `body` with `secret`.

    Compare the raw bytes as received, before any JSON parsing: re-serialising changes them.
    """
    if header is None:
        return False
    received = header.strip().encode("ascii", "replace")
    return hmac.compare_digest(sign(secret, body).encode("ascii"), received)


def format_sent_at(moment: datetime) -> str:
    """RFC 3339 in +08:00 to the millisecond: `2026-11-27T10:00:00.120+08:00`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the clock must return timezone-aware datetimes")
    return moment.astimezone(CHINA_STANDARD_TIME).isoformat(timespec="milliseconds")


def encode_body(event: str, sent_at: str, body: Mapping[str, object]) -> bytes:
    """The exact bytes POSTed (and signed): `event`, `sent_at`, then the rest of `body` in its order.

    Raises TypeError or ValueError for a body JSON cannot carry (a datetime, NaN). A lone
    surrogate (text mangled upstream) becomes `?` rather than stopping a fire alarm.
    """
    document: dict[str, object] = {"event": event, "sent_at": sent_at}
    document.update((key, value) for key, value in body.items() if key not in document)
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8", "replace")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait per a Retry-After header (delta-seconds or HTTP-date, RFC 9110 §10.2.3).

    None when absent or unreadable; never negative (a date in the past means "now").
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # `-0000` dates parse naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def classify(status_code: int) -> tuple[bool, bool]:
    """(delivered, retryable) for an HTTP status."""
    if 200 <= status_code < 300:
        return True, False
    if status_code in RETRYABLE_4XX or status_code >= 500:
        return False, True
    return False, False


class WebhookChannel:
    """POSTs each delivery to `delivery.target`; one attempt per `deliver` call.

    `client` is shared (connection pooling across deliveries) and owned by the caller.
    `timeout_s` bounds the whole attempt, connect to last response header, not just each phase.
    """

    name: Final = "webhook"

    def __init__(self, client: httpx.AsyncClient, timeout_s: float, clock: Clock = _utc_now) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self._client = client
        self._timeout_s = timeout_s
        self._clock = clock

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        attempt = delivery.attempt
        try:
            raw = encode_body(delivery.event, format_sent_at(self._clock()), delivery.body)
        except (TypeError, ValueError) as exc:
            return DeliveryResult(delivered=False, status=f"body not JSON: {exc}", attempt=attempt, retryable=False)
        headers = {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": USER_AGENT,
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.delivery_id,
            SIGNATURE_HEADER: sign(delivery.secret, raw),
        }
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._post(delivery, raw, headers)
        except TimeoutError:
            return DeliveryResult(
                delivered=False, status=f"timed out after {self._timeout_s:g} s", attempt=attempt, retryable=True
            )
        except httpx.TimeoutException as exc:
            return DeliveryResult(
                delivered=False,
                status=f"timed out after {self._timeout_s:g} s ({type(exc).__name__})",
                attempt=attempt,
                retryable=True,
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return DeliveryResult(delivered=False, status=f"bad URL: {exc}", attempt=attempt, retryable=False)
        except httpx.TransportError as exc:
            # ConnectError, ReadError, RemoteProtocolError, …: the receiver or the path to it is down.
            detail = str(exc) or type(exc).__name__
            return DeliveryResult(
                delivered=False, status=f"connection error: {detail}", attempt=attempt, retryable=True
            )
        except OSError as exc:
            return DeliveryResult(delivered=False, status=f"connection error: {exc}", attempt=attempt, retryable=True)

    async def _post(self, delivery: Delivery, raw: bytes, headers: dict[str, str]) -> DeliveryResult:
        async with self._client.stream(
            "POST",
            delivery.target,
            content=raw,
            headers=headers,
            timeout=self._timeout_s,
            follow_redirects=False,
        ) as response:
            code = response.status_code
            delivered, retryable = classify(code)
            status = f"{code} {response.reason_phrase}".rstrip()
            if delivered:
                await _drain(response)
            else:
                excerpt = await _excerpt(response)
                if 300 <= code < 400 and "location" in response.headers:
                    status += f" to {response.headers['location']} (not followed)"
                elif excerpt:
                    status += f": {excerpt}"
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock()) if retryable else None
            return DeliveryResult(
                delivered=delivered,
                status=status,
                attempt=delivery.attempt,
                retryable=retryable,
                status_code=code,
                retry_after_s=retry_after,
            )


# An accepted delivery's answer is read up to this much so the connection can serve the next
# one (httpx closes a connection whose response was left unread: a TCP, and over https a TLS,
# handshake per notification); a longer answer is not worth reading, and the connection goes.
MAX_DRAIN_BYTES: Final = 64 * 1024


async def _drain(response: httpx.Response) -> None:
    read = 0
    try:
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read > MAX_DRAIN_BYTES:
                return
    except httpx.HTTPError:
        pass  # delivered is delivered; only the connection's reuse is lost


async def _excerpt(response: httpx.Response) -> str:
    """The start of a refusal's body, one line: receivers often say why (`invalid signature`)."""
    taken = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            taken += chunk
            if len(taken) >= MAX_REASON_BYTES:
                break
    except httpx.HTTPError:
        pass  # the status is what counts; the excerpt is a courtesy
    text = bytes(taken[:MAX_REASON_BYTES]).decode("utf-8", "replace")
    return " ".join(text.split())
