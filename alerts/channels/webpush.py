"""Web Push channel: the alert on a custodian's phone, through the browser's push service.

`delivery.target` is the subscription as the browser's `PushSubscription.toJSON()` gives it:
`{"endpoint": "https://…", "keys": {"p256dh": "<b64url>", "auth": "<b64url>"}}` (the dispatcher
looks it up from the id the routing file names). Each attempt:

1. builds the payload (`build_payload`): compact UTF-8 JSON
   `{"event", "delivery_id", "sent_at", "alert": {…}}` with the CONTRACT §2 alert object. Push
   services take at most 4096 bytes of *encrypted* body (RFC 8030 §7.2, RFC 8291 §4), which
   leaves `MAX_PAYLOAD_BYTES` of JSON. A larger alert is trimmed until it fits: first the
   evidence list (from the end; `evidence_omitted` counts what was cut), then every alert field
   but id, status, category, severity, title, site name and ack_url, then the title itself.
   The phone's service worker shows title, severity, site and the acknowledge link; anything
   cut is one tap away behind ack_url.
2. encrypts it for the subscription's keys (RFC 8291, `aes128gcm`, pywebpush),
3. signs a VAPID JWT (RFC 8292, ES256: `aud` = the endpoint's origin, `exp` = now + 12 h,
   `sub` = the operator contact) and POSTs with `Authorization: vapid t=<jwt>,k=<public key>`,
   `TTL` (how long the push service keeps it for an offline phone) and `Urgency: high` for
   critical alerts (`normal` otherwise; a phone in power saving wakes for `high`).

Answers: 2xx (201 Created, 202 Accepted) delivered; 404 and 410 permanent, the subscription is
gone (unsubscribed, expired, app uninstalled): the status says "subscription gone" and
`is_subscription_gone(result)` tells the caller to delete it; 408, 425, 429 and 5xx, connection
errors and timeouts retryable (with Retry-After); other 4xx (400 malformed, 401/403 VAPID
rejected, 413 too large) and redirects permanent. A target that is not a usable subscription
is permanent too.

`generate_vapid_keys()` makes the server's key pair once, at setup: the private PEM goes to the
secret store, the public key (base64url) into the mobile page as `applicationServerKey`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final, cast
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid, VapidException
from pywebpush import WebPusher, WebPushException

from alerts.channels.base import Delivery, DeliveryResult
from alerts.channels.webhook import classify, format_sent_at, parse_retry_after

log = logging.getLogger(__name__)

MAX_ENCRYPTED_BYTES: Final = 4096
AES128GCM_OVERHEAD: Final = 86 + 16 + 1
"""Header (16 salt + 4 record size + 1 key-id length + 65 sender key), the GCM tag, the padding
delimiter: RFC 8188 §2 with the RFC 8291 key id."""
MAX_PAYLOAD_BYTES: Final = MAX_ENCRYPTED_BYTES - AES128GCM_OVERHEAD
"""The most JSON one push may carry: 3993 bytes."""

GONE_STATUSES: Final = frozenset({404, 410})
VAPID_LIFETIME: Final = timedelta(hours=12)
"""RFC 8292 §2: at most 24 h; 12 h leaves room for a phone (and a push service) with a fast clock."""
DEFAULT_TTL_S: Final = 6 * 3600
"""How long the push service keeps a message for a phone that is off or offline. An alert
older than this is stale on a lock screen; the phone catches up through the web page."""
CONTENT_ENCODING: Final = "aes128gcm"
USER_AGENT: Final = "relic-guard-webpush/1"
ESSENTIAL_ALERT_KEYS: Final = ("id", "status", "category", "severity", "title", "site", "ack_url")

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_vapid_keys() -> tuple[str, str]:
    """A new VAPID key pair: (private key as PKCS#8 PEM, public key as base64url uncompressed point).

    The public key is what the browser's `pushManager.subscribe({applicationServerKey})` takes.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return pem, public_key_b64url(key)


def public_key_b64url(key: ec.EllipticCurvePrivateKey) -> str:
    return _b64url(
        key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def load_vapid_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM (PKCS#8 or SEC1), or base64/base64url of the raw 32-byte
    scalar or of DER (what `vapid --gen` and web-push libraries print). Raises ValueError."""
    stripped = text.strip()
    key: object
    if stripped.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(stripped.encode("ascii"), password=None)
    else:
        compact = "".join(stripped.split()).replace("+", "-").replace("/", "_").rstrip("=")
        try:
            raw = _b64url_decode(compact)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"VAPID private key is neither PEM nor base64: {exc}") from None
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("a VAPID key must be an EC key on P-256 (prime256v1)")
    return key


def is_subscription_gone(result: DeliveryResult) -> bool:
    """Whether the push service said the subscription no longer exists: drop it, don't retry it."""
    return not result.delivered and result.status_code in GONE_STATUSES


def _fits(document: Mapping[str, object], limit: int) -> bytes | None:
    raw = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8", "replace")
    return raw if len(raw) <= limit else None


def build_payload(delivery: Delivery, sent_at: str, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The JSON pushed for `delivery`, at most `limit` bytes (see the module docstring).

    Raises ValueError when even the essentials (title cut to its first characters, site name,
    ack_url, ids) do not fit, and TypeError/ValueError for a body JSON cannot carry.
    """
    raw_alert = delivery.body.get("alert")
    alert: dict[str, object] = dict(raw_alert) if isinstance(raw_alert, Mapping) else {}
    document: dict[str, object] = {
        "event": delivery.event,
        "delivery_id": delivery.delivery_id,
        "sent_at": sent_at,
        "alert": alert,
    }
    raw = _fits(document, limit)
    if raw is not None:
        return raw

    # 1. Evidence, from the end: a snapshot link is nice on a lock screen, not essential.
    evidence = alert.get("evidence")
    if isinstance(evidence, list) and evidence:
        kept = list(evidence)
        while kept:
            kept.pop()
            alert["evidence"] = kept
            alert["evidence_omitted"] = len(evidence) - len(kept)
            raw = _fits(document, limit)
            if raw is not None:
                return raw

    # 2. Only what the notification shows.
    site = alert.get("site")
    slim: dict[str, object] = {key: copy.copy(alert[key]) for key in ESSENTIAL_ALERT_KEYS if key in alert}
    if isinstance(site, Mapping):
        slim["site"] = {key: site[key] for key in ("id", "name") if key in site}
    slim["trimmed"] = True
    document["alert"] = slim
    raw = _fits(document, limit)
    if raw is not None:
        return raw

    # 3. The title, by characters (never mid-UTF-8), keeping at least a few.
    title = slim.get("title")
    if isinstance(title, str):
        low, high = 0, len(title)
        best: bytes | None = None
        while low <= high:  # the longest prefix that fits
            middle = (low + high) // 2
            slim["title"] = title[:middle] + "…"
            candidate = _fits(document, limit)
            if candidate is not None:
                best, low = candidate, middle + 1
            else:
                high = middle - 1
        if best is not None:
            return best
    raise ValueError(f"push payload exceeds {limit} bytes even trimmed to the essentials")


def parse_subscription(target: str) -> tuple[dict[str, object], str]:
    """(subscription info, endpoint origin) from the JSON target; ValueError if unusable."""
    try:
        info = json.loads(target)
    except json.JSONDecodeError as exc:
        raise ValueError(f"subscription is not JSON: {exc.msg}") from None
    if not isinstance(info, dict):
        raise ValueError("subscription must be a JSON object")
    endpoint = info.get("endpoint")
    keys = info.get("keys")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError("subscription has no endpoint")
    parts = urlsplit(endpoint)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError("subscription endpoint is not an http(s) URL")
    if not isinstance(keys, dict) or not all(isinstance(keys.get(k), str) and keys[k] for k in ("p256dh", "auth")):
        raise ValueError("subscription lacks keys.p256dh and keys.auth")
    origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}, origin


async def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    """The start of a refusal's body, one line (push services often say why: `VapidPkHashMismatch`)."""
    taken = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            taken += chunk
            if len(taken) >= limit:
                break
    except httpx.HTTPError:
        pass
    return " ".join(bytes(taken[:limit]).decode("utf-8", "replace").split())


class WebPushChannel:
    """Pushes each delivery to `delivery.target` (a subscription); one attempt per `deliver` call.

    `vapid_private_key_pem_or_b64`: see `load_vapid_private_key`. `vapid_claims_sub`: the
    operator contact push services use when something goes wrong (`mailto:ops@…` or `https://…`).
    `client`: a shared `httpx.AsyncClient` owned by the caller; without one the channel makes its
    own, closed by `aclose()`.
    """

    name: Final = "webpush"

    def __init__(
        self,
        vapid_private_key_pem_or_b64: str,
        vapid_claims_sub: str,
        timeout_s: float,
        *,
        client: httpx.AsyncClient | None = None,
        ttl_s: int = DEFAULT_TTL_S,
        clock: Clock = _utc_now,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if ttl_s < 0:
            raise ValueError(f"ttl_s must not be negative, got {ttl_s}")
        key = load_vapid_private_key(vapid_private_key_pem_or_b64)
        self._vapid = Vapid(private_key=key)
        self._sub = vapid_claims_sub
        self.public_key = public_key_b64url(key)
        """The `applicationServerKey` the browser subscribes with (base64url)."""
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._clock = clock
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        try:  # fail at start-up, not at the first fire alarm
            self._vapid_header("https://push.example", clock())
        except VapidException as exc:
            raise ValueError(f"bad VAPID claims: {exc} (sub must be mailto:… or https://…)") from None

    def __repr__(self) -> str:
        return f"WebPushChannel(public_key={self.public_key!r}, sub={self._sub!r})"

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    def _vapid_header(self, audience: str, now: datetime) -> str:
        claims = {"sub": self._sub, "aud": audience, "exp": int((now + VAPID_LIFETIME).timestamp())}
        return str(self._vapid.sign(claims)["Authorization"])

    def _prepare(self, delivery: Delivery, now: datetime) -> tuple[str, bytes, dict[str, str]]:
        """(endpoint, encrypted body, headers); ValueError for what no retry can fix."""
        subscription, origin = parse_subscription(delivery.target)
        payload = build_payload(delivery, format_sent_at(now))
        try:
            encrypted = WebPusher(subscription).encode(payload, CONTENT_ENCODING)["body"]
        except (WebPushException, ValueError, binascii.Error) as exc:
            raise ValueError(f"cannot encrypt for this subscription: {exc}") from None
        try:
            authorization = self._vapid_header(origin, now)
        except VapidException as exc:
            raise ValueError(f"cannot sign VAPID for {origin}: {exc}") from None
        raw_alert = delivery.body.get("alert")
        severity = raw_alert.get("severity") if isinstance(raw_alert, Mapping) else None
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Encoding": CONTENT_ENCODING,
            "TTL": str(self._ttl_s),
            "Urgency": "high" if severity == "critical" else "normal",
            "Authorization": authorization,
            "User-Agent": USER_AGENT,
        }
        return str(subscription["endpoint"]), cast(bytes, encrypted), headers

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        attempt = delivery.attempt
        try:
            endpoint, body, headers = self._prepare(delivery, self._clock())
        except (TypeError, ValueError) as exc:
            return DeliveryResult(delivered=False, status=f"not sent: {exc}", attempt=attempt, retryable=False)
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._post(endpoint, body, headers, attempt)
        except TimeoutError:
            return DeliveryResult(
                delivered=False, status=f"timed out after {self._timeout_s:g} s", attempt=attempt, retryable=True
            )
        except httpx.TimeoutException as exc:
            status = f"timed out after {self._timeout_s:g} s ({type(exc).__name__})"
            return DeliveryResult(delivered=False, status=status, attempt=attempt, retryable=True)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return DeliveryResult(delivered=False, status=f"bad endpoint: {exc}", attempt=attempt, retryable=False)
        except (httpx.TransportError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            return DeliveryResult(
                delivered=False, status=f"connection error: {detail}", attempt=attempt, retryable=True
            )

    async def _post(self, endpoint: str, body: bytes, headers: dict[str, str], attempt: int) -> DeliveryResult:
        async with self._client.stream(
            "POST", endpoint, content=body, headers=headers, timeout=self._timeout_s, follow_redirects=False
        ) as response:
            code = response.status_code
            delivered, retryable = classify(code)
            status = f"{code} {response.reason_phrase}".rstrip()
            if code in GONE_STATUSES:
                status += ": subscription gone (unsubscribed or expired); drop it"
            elif not delivered:
                excerpt = await _excerpt(response)
                if excerpt:
                    status += f": {excerpt}"
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock()) if retryable else None
            return DeliveryResult(
                delivered=delivered,
                status=status,
                attempt=attempt,
                retryable=retryable,
                status_code=code,
                retry_after_s=retry_after,
            )
