"""Splitting a batch in halves keeps every record and every message exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from relic_guard.batch import Batch, quarantined
from sensors.model import Event, RejectReason, Source, StatusChange, Telemetry

T0 = datetime(2026, 11, 27, tzinfo=UTC)


@given(st.integers(0, 30), st.integers(0, 5), st.integers(0, 5), st.integers(0, 5), st.integers(0, 10))
def test_halves_partition_the_records_and_the_message_count(
    n_tel: int, n_ev: int, n_st: int, n_q: int, extra_messages: int
) -> None:
    batch = Batch(
        telemetry=[Telemetry("s", f"d{i}", Source.ENV, T0, {"t": float(i)}) for i in range(n_tel)],
        events=[Event("s", f"e{i}", Source.FIRE, "fault", T0, f"k{i}") for i in range(n_ev)],
        statuses=[StatusChange("s", f"x{i}", Source.ENV, True, T0) for i in range(n_st)],
        quarantine=[quarantined("t", b"x", T0, RejectReason.BAD_JSON, str(i)) for i in range(n_q)],
    )
    batch.messages = batch.rows + extra_messages
    first, second = batch.halves()
    assert first.telemetry + second.telemetry == batch.telemetry
    assert first.events + second.events == batch.events
    assert first.statuses + second.statuses == batch.statuses
    assert first.quarantine + second.quarantine == batch.quarantine
    assert first.messages + second.messages == batch.messages
    if batch.rows > 1:
        assert first.rows < batch.rows and second.rows < batch.rows
