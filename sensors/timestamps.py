"""Device timestamps: RFC 3339 with an offset, or integer epoch milliseconds (CONTRACT §1).

Every timestamp that leaves here is timezone-aware UTC. A naive timestamp
("2026-11-27T10:00:00") is refused: a site in Jinan and a server in UTC would read
it eight hours apart, and an alarm's time is evidence. JSON `true`/`false` are not
integers here (Python's bool is an int; the contract's is not), and a float is not
epoch milliseconds (a device sending 1.7e9 seconds-as-float is told so).

RFC 3339 parsing is msgspec's (C, strict: no leap second `:60`, no date-only,
no ISO 8601 basic format; it also accepts `+0800` without the colon and any
number of fraction digits, rounded to microseconds).

Range (CONTRACT §1, §4): more than `ctx.max_future_skew_s` ahead of the receive
time, or older than `ctx.retention_s`, is `TIMESTAMP_OUT_OF_RANGE`. The receive
time stands for "now": adapters never read the clock.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec

from sensors.context import ParseContext
from sensors.model import Rejection, RejectReason
from sensors.payload import json_type, shorten

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch milliseconds of 0001-01-01 and 9999-12-31T23:59:59.999 (datetime's range).
_MIN_MS: Final = -62_135_596_800_000
_MAX_MS: Final = 253_402_300_799_999
_EXPECTED: Final = "expected an RFC 3339 string with a UTC offset or integer epoch milliseconds"

Stamp = tuple[datetime, bool]
"""(timestamp in UTC, ts_from_receive)."""


def as_utc(moment: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken to be UTC already (the edge's clock)."""
    tz = moment.tzinfo
    if tz is UTC:
        return moment
    if tz is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_ts(raw: object, *, field: str = "ts") -> datetime | Rejection:
    """A JSON `ts` value as an aware datetime (any offset), without the range check."""
    if isinstance(raw, str):
        return parse_rfc3339(raw, field=field)
    if isinstance(raw, bool):
        return Rejection(RejectReason.BAD_PAYLOAD, f"field `{field}`: {_EXPECTED}, got boolean")
    if isinstance(raw, int):
        return from_epoch_ms(raw, field=field)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return Rejection(RejectReason.NON_FINITE, f"field `{field}`: {raw!r} is not a finite number")
        hint = " (epoch seconds? send milliseconds as an integer)" if 1e8 < abs(raw) < 1e11 else ""
        return Rejection(
            RejectReason.BAD_PAYLOAD, f"field `{field}`: {_EXPECTED}, got a fractional number{hint}"
        )
    return Rejection(RejectReason.BAD_PAYLOAD, f"field `{field}`: {_EXPECTED}, got {json_type(raw)}")


def parse_rfc3339(text: str, *, field: str = "ts") -> datetime | Rejection:
    try:
        moment = msgspec.convert(text, datetime)
    except msgspec.ValidationError:
        return Rejection(
            RejectReason.BAD_PAYLOAD, f"field `{field}`: {shorten(text)} is not RFC 3339; {_EXPECTED}"
        )
    if moment.tzinfo is None:
        return naive(text, field=field)
    return moment


def naive(text: object, *, field: str = "ts") -> Rejection:
    return Rejection(
        RejectReason.BAD_PAYLOAD,
        f"field `{field}`: {shorten(text)} has no UTC offset; "
        "add 'Z' or '+08:00' (naive times are ambiguous)",
    )


def from_epoch_ms(ms: int, *, field: str = "ts") -> datetime | Rejection:
    if not _MIN_MS <= ms <= _MAX_MS:
        return Rejection(
            RejectReason.TIMESTAMP_OUT_OF_RANGE,
            f"field `{field}`: {shorten(ms)} ms is outside the years 1–9999",
        )
    return EPOCH + timedelta(milliseconds=ms)


def from_epoch_seconds(seconds: object, *, field: str) -> datetime | Rejection:
    """Epoch seconds as a JSON number (Frigate's `start_time`, `end_time`, `frame_time`)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return Rejection(
            RejectReason.BAD_PAYLOAD, f"field `{field}`: expected epoch seconds, got {json_type(seconds)}"
        )
    if isinstance(seconds, float) and not math.isfinite(seconds):
        return Rejection(RejectReason.NON_FINITE, f"field `{field}`: {seconds!r} is not a finite number")
    if not _MIN_MS / 1000 <= seconds <= _MAX_MS / 1000:
        return Rejection(
            RejectReason.TIMESTAMP_OUT_OF_RANGE,
            f"field `{field}`: {shorten(seconds)} s is outside the years 1–9999",
        )
    return EPOCH + timedelta(seconds=seconds)


def parse_property_ts(text: str, *, field: str = "user property ts") -> datetime | Rejection:
    """An MQTT 5 user property value (always a string): RFC 3339 or decimal epoch milliseconds."""
    stripped = text.strip()
    body = stripped[1:] if stripped.startswith("-") else stripped
    if body.isascii() and body.isdigit() and len(body) <= 16:
        return from_epoch_ms(int(stripped), field=field)
    return parse_rfc3339(stripped, field=field)


def check_range(
    moment: datetime, received_at: datetime, ctx: ParseContext, *, field: str = "ts"
) -> Rejection | None:
    """None when `moment` is acceptable; both datetimes must be aware."""
    # Subtraction of aware datetimes never overflows; converting year 9999-12-31-01:00 to UTC would.
    ahead_s = (moment - received_at).total_seconds()
    if ahead_s > ctx.max_future_skew_s:
        return Rejection(
            RejectReason.TIMESTAMP_OUT_OF_RANGE,
            f"field `{field}`: {_iso(moment)} is {ahead_s:.0f} s ahead of the receive time "
            f"(limit {ctx.max_future_skew_s:.0f} s)",
        )
    if -ahead_s > ctx.retention_s:
        return Rejection(
            RejectReason.TIMESTAMP_OUT_OF_RANGE,
            f"field `{field}`: {_iso(moment)} is {-ahead_s / 86400:.1f} days old, "
            f"before the retention window of {ctx.retention_s / 86400:.0f} days",
        )
    return None


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def accept(
    moment: datetime | Rejection, received_at: datetime, ctx: ParseContext, *, field: str = "ts"
) -> Stamp | Rejection:
    """Range-check a parsed timestamp and normalise it to UTC (`received_at` must be UTC).

    On the telemetry hot path: one conversion, one subtraction, two comparisons."""
    if isinstance(moment, Rejection):
        return moment
    try:
        utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00: past year 9999 in UTC
        return check_range(moment, received_at, ctx, field=field) or Rejection(
            RejectReason.TIMESTAMP_OUT_OF_RANGE, f"field `{field}`: {_iso(moment)} is outside the years 1–9999"
        )
    ahead_s = (utc - received_at).total_seconds()
    if ahead_s > ctx.max_future_skew_s or -ahead_s > ctx.retention_s:
        fault = check_range(moment, received_at, ctx, field=field)
        if fault is not None:
            return fault
    return (utc, False)


def resolve_ts(
    raw: object, received_at: datetime, ctx: ParseContext, *, field: str = "ts"
) -> Stamp | Rejection:
    """The record time for a JSON `ts` value: parsed and range-checked, or the receive
    time (flagged) when the device gave none (`null` counts as none)."""
    received = as_utc(received_at)
    if raw is None:
        return (received, True)
    return accept(parse_ts(raw, field=field), received, ctx, field=field)
