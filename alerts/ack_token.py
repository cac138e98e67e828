"""Signed, expiring acknowledgement tokens for the `ack_url` in every notification (CONTRACT §2).

A custodian or an agency's duty officer taps the link on a phone; the token in it says which alert,
for which recipient, until when, and the server checks it without a database row. Pure: no clock
(`now` is passed in), no I/O.

Wire form: `base64url(payload || mac)` without padding, where
`payload = version(1) | len(alert_id) u16 | alert_id UTF-8 | len(recipient) u16 | recipient UTF-8 |
expires_at as epoch microseconds i64` and `mac = HMAC-SHA256(secret, DOMAIN || payload)`.
Length prefixes make the encoding canonical (no two claims share a payload, whatever the ids
contain), and the domain label keeps a MAC made for another purpose with the same key from ever
passing as an ack token.

Invariants:
- Only the exact string `issue` produced verifies: decoding is strict (a base64url string whose
  unused trailing bits differ decodes to the same bytes elsewhere; here it is `malformed`).
- The MAC is checked before the expiry, so a forged token learns nothing but "bad signature".
- A token is valid while `now < expires_at`; at `expires_at` exactly it has expired.
- Key rotation: `verify` takes the secrets newest first; every secret is tried, each with a
  constant-time compare, so which key matched does not show in the timing of a failure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from alerts.errors import AlertsError

VERSION: Final = 1
DOMAIN: Final = b"relic-guard/ack-token/v1\x00"
MAC_BYTES: Final = 32
MAX_ID_BYTES: Final = 1024
"""Longest alert id or recipient id (UTF-8 bytes) a token carries; a URL must stay usable."""

_U16: Final = struct.Struct(">H")
_I64: Final = struct.Struct(">q")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidAckToken(AlertsError):  # noqa: N818 (the name the issue and callers use)
    """An ack token was refused. `reason` is one of `malformed`, `bad signature`, `expired`."""

    reason: str = "invalid"

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"ack token {self.reason}" + (f": {detail}" if detail else ""))
        self.detail = detail


class MalformedAckToken(InvalidAckToken):
    """Not a token `issue` could have produced: bad base64url, wrong length, unknown version."""

    reason = "malformed"


class BadAckSignature(InvalidAckToken):
    """Well formed, but no current secret signed it (edited, forged, or signed with a retired key)."""

    reason = "bad signature"


class ExpiredAckToken(InvalidAckToken):
    """Genuine, but `now` is at or past its expiry. `claim` says what it was for."""

    reason = "expired"

    def __init__(self, claim: AckClaim) -> None:
        self.claim = claim
        super().__init__(f"expired at {claim.expires_at.isoformat()}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AckClaim:
    """What a verified token grants: `recipient` may acknowledge `alert_id` until `expires_at` (UTC)."""

    alert_id: str
    recipient: str
    expires_at: datetime


def issue(secret: bytes, alert_id: str, recipient: str, expires_at: datetime) -> str:
    """The URL-safe token granting `recipient` the acknowledgement of `alert_id` until `expires_at`.

    Raises ValueError for an empty secret, a naive `expires_at`, or an id longer than MAX_ID_BYTES.
    """
    _check_secret(secret)
    payload = _encode(alert_id, recipient, expires_at)
    return _b64encode(payload + _mac(secret, payload))


def verify(secret: bytes | Sequence[bytes], token: str, now: datetime) -> AckClaim:
    """The claim `token` carries, if one of `secret` (newest first) signed it and it is unexpired at `now`.

    Raises MalformedAckToken, BadAckSignature or ExpiredAckToken (all InvalidAckToken);
    ValueError for a naive `now` or no secret (our faults, not the token's).
    """
    secrets = [secret] if isinstance(secret, bytes | bytearray) else list(secret)
    if not secrets:
        raise ValueError("verify needs at least one secret")
    for key in secrets:
        _check_secret(key)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    raw = _b64decode(token)
    if len(raw) <= MAC_BYTES:
        raise MalformedAckToken("too short")
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    # Parse before checking the MAC only to name a truncated or foreign token `malformed`; nothing
    # the payload says is trusted until the MAC matches.
    claim = _decode(payload)
    matched = False
    for key in secrets:
        matched |= hmac.compare_digest(_mac(key, payload), mac)
    if not matched:
        raise BadAckSignature()
    if now >= claim.expires_at:
        raise ExpiredAckToken(claim)
    return claim


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes | bytearray):
        raise TypeError(f"secret must be bytes, not {type(secret).__name__}")
    if not secret:
        raise ValueError("secret must not be empty")


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, DOMAIN + payload, hashlib.sha256).digest()


def _encode(alert_id: str, recipient: str, expires_at: datetime) -> bytes:
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise ValueError("expires_at must be timezone-aware")
    parts = [bytes([VERSION])]
    for name, value in (("alert_id", alert_id), ("recipient", recipient)):
        encoded = value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
        if len(encoded) > MAX_ID_BYTES:
            raise ValueError(f"{name} is {len(encoded)} bytes in UTF-8; at most {MAX_ID_BYTES}")
        parts += [_U16.pack(len(encoded)), encoded]
    parts.append(_I64.pack(_epoch_us(expires_at)))
    return b"".join(parts)


def _decode(payload: bytes) -> AckClaim:
    if payload[0] != VERSION:
        raise MalformedAckToken(f"unknown version {payload[0]}")
    pos = 1
    ids: list[str] = []
    for _ in range(2):
        if pos + _U16.size > len(payload):
            raise MalformedAckToken("truncated")
        (size,) = _U16.unpack_from(payload, pos)
        pos += _U16.size
        if size > MAX_ID_BYTES or pos + size > len(payload):
            raise MalformedAckToken("bad length")
        try:
            ids.append(payload[pos : pos + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise MalformedAckToken("id not UTF-8") from None
        pos += size
    if len(payload) - pos != _I64.size:
        raise MalformedAckToken("bad length")
    (micros,) = _I64.unpack_from(payload, pos)
    try:
        expires_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise MalformedAckToken("expiry out of range") from None
    return AckClaim(alert_id=ids[0], recipient=ids[1], expires_at=expires_at)


def _epoch_us(moment: datetime) -> int:
    # Integer arithmetic on the timedelta: exact to the microsecond (a float timestamp is not).
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(token: str) -> bytes:
    if not isinstance(token, str) or not token.isascii():
        raise MalformedAckToken("not base64url")
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise MalformedAckToken("not base64url") from None
    # Strict: the unused low bits of the last character must be zero, so a token has one spelling.
    if _b64encode(raw) != token:
        raise MalformedAckToken("not canonical base64url")
    return raw
