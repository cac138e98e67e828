from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.context import ParseContext
from sensors.model import Rejection, RejectReason
from sensors.timestamps import (
    accept,
    as_utc,
    from_epoch_seconds,
    parse_property_ts,
    parse_ts,
    resolve_ts,
)
from tests.sensors.support import CTX, RECEIVED, RECEIVED_MS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-27T10:00:00+08:00", RECEIVED),
        ("2026-11-27T10:00:00.120+08:00", RECEIVED + timedelta(milliseconds=120)),
        ("2026-11-27T02:00:00Z", RECEIVED),
        ("2026-11-27t02:00:00z", RECEIVED),
        ("2026-11-27 02:00:00Z", RECEIVED),
        ("2026-11-26T21:00:00-05:00", RECEIVED),
        ("2026-11-27T02:00:00.123456789Z", RECEIVED + timedelta(microseconds=123457)),
        ("2026-11-27T07:30:00+05:30", RECEIVED),
        (RECEIVED_MS, RECEIVED),
        (RECEIVED_MS + 999, RECEIVED + timedelta(milliseconds=999)),
        (RECEIVED_MS - 86_400_000, RECEIVED - timedelta(days=1)),
    ],
)
def test_good_timestamps(raw: object, expected: datetime) -> None:
    result = resolve_ts(raw, RECEIVED, CTX)
    assert result == (expected, False)
    assert result[0].tzinfo is UTC


def test_missing_ts_is_the_receive_time_flagged() -> None:
    assert resolve_ts(None, RECEIVED, CTX) == (RECEIVED, True)


def test_receive_time_is_normalised_to_utc() -> None:
    jinan = RECEIVED.astimezone(timezone(timedelta(hours=8)))
    ts, from_receive = resolve_ts(None, jinan, CTX)  # type: ignore[misc]
    assert from_receive and ts == RECEIVED and ts.tzinfo is UTC
    naive = RECEIVED.replace(tzinfo=None)
    assert as_utc(naive) == RECEIVED


@pytest.mark.parametrize(
    ("raw", "reason", "detail_part"),
    [
        ("2026-11-27T10:00:00", RejectReason.BAD_PAYLOAD, "no UTC offset"),
        ("2026-11-27T10:00:00.5", RejectReason.BAD_PAYLOAD, "no UTC offset"),
        ("2026-11-27", RejectReason.BAD_PAYLOAD, "not RFC 3339"),
        ("20261127T020000Z", RejectReason.BAD_PAYLOAD, "not RFC 3339"),
        ("2026-02-30T02:00:00Z", RejectReason.BAD_PAYLOAD, "not RFC 3339"),
        ("2026-11-27T02:00:60Z", RejectReason.BAD_PAYLOAD, "not RFC 3339"),
        ("2026-11-27T02:00:00+24:00", RejectReason.BAD_PAYLOAD, "not RFC 3339"),
        ("yesterday", RejectReason.BAD_PAYLOAD, "not RFC 3339"),
        ("", RejectReason.BAD_PAYLOAD, "not RFC 3339"),
        ("1795744800000", RejectReason.BAD_PAYLOAD, "not RFC 3339"),  # a string, not an integer
        (True, RejectReason.BAD_PAYLOAD, "got boolean"),
        (False, RejectReason.BAD_PAYLOAD, "got boolean"),
        (1795744800.5, RejectReason.BAD_PAYLOAD, "epoch seconds?"),
        (1795744800120.0, RejectReason.BAD_PAYLOAD, "fractional"),
        ([2026, 11, 27], RejectReason.BAD_PAYLOAD, "got array"),
        ({"iso": "2026-11-27T02:00:00Z"}, RejectReason.BAD_PAYLOAD, "got object"),
        (float("nan"), RejectReason.NON_FINITE, "not a finite"),
        # Out of range.
        ("2026-11-27T02:05:01Z", RejectReason.TIMESTAMP_OUT_OF_RANGE, "ahead of the receive time"),
        (RECEIVED_MS + 300_001, RejectReason.TIMESTAMP_OUT_OF_RANGE, "ahead"),
        ("2099-01-01T00:00:00Z", RejectReason.TIMESTAMP_OUT_OF_RANGE, "ahead"),
        ("9999-12-31T23:59:59-01:00", RejectReason.TIMESTAMP_OUT_OF_RANGE, "ahead"),
        ("0001-01-01T00:00:00+01:00", RejectReason.TIMESTAMP_OUT_OF_RANGE, "retention"),
        ("2025-10-22T00:00:00Z", RejectReason.TIMESTAMP_OUT_OF_RANGE, "retention"),
        (0, RejectReason.TIMESTAMP_OUT_OF_RANGE, "retention"),
        (1_795_744_800, RejectReason.TIMESTAMP_OUT_OF_RANGE, "retention"),  # seconds sent as ms
        (-1, RejectReason.TIMESTAMP_OUT_OF_RANGE, "retention"),
        (10**30, RejectReason.TIMESTAMP_OUT_OF_RANGE, "years 1–9999"),
        (-(10**30), RejectReason.TIMESTAMP_OUT_OF_RANGE, "years 1–9999"),
    ],
)
def test_bad_timestamps(raw: object, reason: RejectReason, detail_part: str) -> None:
    result = resolve_ts(raw, RECEIVED, CTX)
    assert isinstance(result, Rejection), result
    assert result.reason is reason
    assert detail_part in result.detail
    assert "`ts`" in result.detail


def test_limits_are_inclusive_and_come_from_the_context() -> None:
    assert resolve_ts(RECEIVED_MS + 300_000, RECEIVED, CTX) == (RECEIVED + timedelta(seconds=300), False)
    oldest = RECEIVED - timedelta(seconds=CTX.retention_s)
    assert resolve_ts(oldest.isoformat(), RECEIVED, CTX) == (oldest, False)
    strict = ParseContext(directory=CTX.directory, max_future_skew_s=1.0, retention_s=60.0)
    assert isinstance(resolve_ts(RECEIVED_MS + 1001, RECEIVED, strict), Rejection)
    assert isinstance(resolve_ts(RECEIVED_MS - 60_001, RECEIVED, strict), Rejection)
    assert resolve_ts(RECEIVED_MS - 60_000, RECEIVED, strict) == (RECEIVED - timedelta(seconds=60), False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1795744800000", RECEIVED),
        (" 1795744800120 ", RECEIVED + timedelta(milliseconds=120)),
        ("2026-11-27T10:00:00+08:00", RECEIVED),
    ],
)
def test_property_timestamps(text: str, expected: datetime) -> None:
    assert accept(parse_property_ts(text), RECEIVED, CTX) == (expected, False)


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-11-27T10:00:00", "1e12", "１７６４２０８８００００"])
def test_bad_property_timestamps(text: str) -> None:
    result = accept(parse_property_ts(text), RECEIVED, CTX)
    assert isinstance(result, Rejection) and result.reason is RejectReason.BAD_PAYLOAD


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (True, RejectReason.BAD_PAYLOAD),
        ("1", RejectReason.BAD_PAYLOAD),
        (float("inf"), RejectReason.NON_FINITE),
        (1e300, RejectReason.TIMESTAMP_OUT_OF_RANGE),
    ],
)
def test_bad_epoch_seconds(raw: object, reason: RejectReason) -> None:
    result = from_epoch_seconds(raw, field="after.start_time")
    assert isinstance(result, Rejection) and result.reason is reason


def test_epoch_seconds() -> None:
    assert from_epoch_seconds(1795744800.25, field="x") == RECEIVED + timedelta(milliseconds=250)
    assert from_epoch_seconds(1795744800, field="x") == RECEIVED


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 11, 27, 2, 4)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_rfc3339_round_trip(moment: datetime, offset_min: int) -> None:
    tz = timezone(timedelta(minutes=offset_min))
    aware = moment.replace(tzinfo=UTC).astimezone(tz)
    assert resolve_ts(aware.isoformat(), RECEIVED, CTX) == (aware.astimezone(UTC), False)
    ms = int((aware - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    ts, from_receive = resolve_ts(ms, RECEIVED, CTX)  # type: ignore[misc]
    assert not from_receive and abs(ts - aware) < timedelta(milliseconds=1)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40), st.lists(st.integers(), max_size=2)
    )
)
def test_parse_ts_never_raises(raw: object) -> None:
    result = parse_ts(raw)
    assert isinstance(result, datetime | Rejection)
    assert isinstance(resolve_ts(raw, RECEIVED, CTX), tuple | Rejection)
