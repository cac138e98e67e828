"""The batch accumulator's flush policy and acknowledgement order, with time passed in."""

from __future__ import annotations

from datetime import UTC, datetime

from relic_guard.ingest.accumulator import BatchAccumulator
from sensors.model import Event, Message, Rejection, RejectReason, Source, Telemetry

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def _msg(i: int) -> Message:
    return Message(f"relic/chengziya/env/th-{i}/telemetry", b"{}", T0)


def _reading(i: int) -> Telemetry:
    return Telemetry("chengziya", f"th-{i}", Source.ENV, T0, {"temperature_c": 20.0 + i})


def test_due_on_size() -> None:
    acc = BatchAccumulator(max_messages=3, max_delay_s=10.0)
    for i in range(2):
        acc.add(_msg(i), [_reading(i)], ack_id=i + 1, now=0.0)
    assert not acc.due(0.0)
    acc.add(_msg(2), [_reading(2)], ack_id=3, now=0.0)
    assert acc.due(0.0)
    assert acc.seconds_until_due(0.0) == 0.0


def test_due_on_age_counted_from_the_first_message() -> None:
    acc = BatchAccumulator(max_messages=1000, max_delay_s=0.1)
    assert acc.seconds_until_due(5.0) is None
    acc.add(_msg(0), [_reading(0)], ack_id=1, now=5.0)
    acc.add(_msg(1), [_reading(1)], ack_id=2, now=5.09)
    assert not acc.due(5.09)
    wait = acc.seconds_until_due(5.05)
    assert wait is not None
    assert abs(wait - 0.05) < 1e-9
    assert acc.due(5.11)


def test_take_keeps_arrival_order_of_acks_including_passed_over_and_rejected() -> None:
    acc = BatchAccumulator(max_messages=100, max_delay_s=1.0)
    acc.add(_msg(0), [_reading(0)], ack_id=7, now=0.0)
    acc.add_passed_over(ack_id=8, now=0.0)
    acc.add(_msg(1), Rejection(RejectReason.BAD_JSON, "not JSON"), ack_id=9, now=0.0)
    event = Event("chengziya", "cam-1", Source.VIDEO, "motion", T0, "k1")
    acc.add(_msg(2), [event], ack_id=0, now=0.0)  # QoS 0: nothing to acknowledge
    pending = acc.take()
    assert pending is not None
    assert pending.ack_ids == [7, 8, 9]
    assert pending.batch.messages == 3
    assert len(pending.batch.telemetry) == 1
    assert len(pending.batch.events) == 1
    assert pending.batch.quarantine[0].reason is RejectReason.BAD_JSON
    assert acc.take() is None
