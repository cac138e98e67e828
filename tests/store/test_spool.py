"""The disk spool: encoding round trip (incl. a property test), torn tails, quota, restarts, replay."""

from __future__ import annotations

import os
import string
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relic_guard.batch import Batch, Quarantined
from relic_guard.errors import SpoolError
from relic_guard.spool import (
    Spool,
    SpoolFull,
    decode_batch,
    encode_batch,
    frame_record,
    scan_records,
    spooled_workers,
)
from sensors.model import Event, RejectReason, Source, StatusChange, Telemetry

from .conftest import make_batch

QUOTA = 10 * 1024 * 1024


def chinese_batch() -> Batch:
    ts = datetime(2026, 11, 27, 2, 3, 4, 567891, tzinfo=UTC)
    return Batch(
        telemetry=[Telemetry(site="jinan-qianfo", device="温湿度-1", source=Source.ENV, ts=ts,
                             values={"temperature_c": 21.5, "door_open": 1.0}, ts_from_receive=True,
                             tags={"mission": "巡查一号"})],
        events=[Event(site="jinan-qianfo", device="fire-3", source=Source.FIRE, type="fire_alarm", ts=ts,
                      event_key="abc", zone="大雄宝殿", clear=True,
                      attrs={"description": "烟感报警", "score": 0.5, "nested": [1, "二", None, {"k": True}]})],
        statuses=[StatusChange(site="s", device="d", source=Source.VIDEO, online=False, ts=ts)],
        quarantine=[Quarantined(topic="relic/济南/env/x/telemetry", payload=b"\x00\xff\xfe\x80",
                                payload_size=4000, received_at=ts, reason=RejectReason.NON_FINITE,
                                detail="值不是有限数")],
        messages=4,
    )


def test_encoding_round_trip_keeps_everything() -> None:
    batch = chinese_batch()
    assert decode_batch(encode_batch(batch)) == batch


def test_a_record_of_another_format_is_refused() -> None:
    import msgspec
    with pytest.raises(SpoolError, match="format 99"):
        decode_batch(msgspec.msgpack.encode((99, 0, [], [], [], [])))
    with pytest.raises(SpoolError):
        decode_batch(b"\x93\x01")


# --- property test of the encoding --------------------------------------------------------

names = st.text(alphabet=string.ascii_letters + string.digits + "_.-", min_size=1, max_size=64)
texts = st.text(max_size=40).filter(lambda s: all(not 0xD800 <= ord(c) <= 0xDFFF for c in s))
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | finite | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
telemetry_st = st.builds(Telemetry, site=names, device=names, source=st.sampled_from(Source), ts=instants,
                         values=st.dictionaries(names, finite, max_size=4), ts_from_receive=st.booleans(),
                         tags=st.dictionaries(names, texts, max_size=2))
event_st = st.builds(Event, site=names, device=names, source=st.sampled_from(Source), type=names, ts=instants,
                     event_key=texts, zone=st.none() | texts, clear=st.booleans(),
                     attrs=st.dictionaries(texts, json_values, max_size=4), ts_from_receive=st.booleans())
status_st = st.builds(StatusChange, site=names, device=names, source=st.sampled_from(Source),
                      online=st.booleans(), ts=instants, ts_from_receive=st.booleans())
quarantine_st = st.builds(Quarantined, topic=texts, payload=st.binary(max_size=64),
                          payload_size=st.integers(0, 2**31 - 1), received_at=instants,
                          reason=st.sampled_from(RejectReason), detail=texts)
batch_st = st.builds(Batch, telemetry=st.lists(telemetry_st, max_size=4), events=st.lists(event_st, max_size=4),
                     statuses=st.lists(status_st, max_size=3), quarantine=st.lists(quarantine_st, max_size=3),
                     messages=st.integers(0, 100000))


@settings(max_examples=150, deadline=None)
@given(batch_st)
def test_encoding_round_trip_property(batch: Batch) -> None:
    assert decode_batch(encode_batch(batch)) == batch


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(batch_st, min_size=1, max_size=5), st.integers(0, 200))
def test_any_torn_tail_leaves_exactly_the_whole_records(tmp_path: Path, batches: list[Batch], cut: int) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example
    with Spool(folder, QUOTA, "w") as spool:
        for b in batches:
            spool.append(b)
    (segment,) = folder.glob("*.seg")
    data = segment.read_bytes()
    cut = min(cut, len(data) - 1)
    segment.write_bytes(data[: len(data) - cut])
    with Spool(folder, QUOTA, "w") as spool:
        replayed: list[Batch] = []
        spool.replay(replayed.append)
    whole = len(scan_records(data[: len(data) - cut])[0])
    assert replayed == batches[:whole]
    assert whole == len(batches) or cut > 0


# --- the spool on disk --------------------------------------------------------------------

def test_append_replay_in_order_and_segments_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, QUOTA, "w0", segment_max_bytes=600)
    batches = [make_batch(3, start=10 * i) for i in range(12)]
    for b in batches:
        spool.append(b)
    assert spool.pending_batches() == 12
    assert len(list(tmp_path.glob("*.seg"))) > 2  # rotation happened
    got: list[Batch] = []
    assert spool.replay(got.append) == 12
    assert got == batches
    assert spool.pending() == 0 and spool.pending_batches() == 0
    assert list(tmp_path.glob("*.seg")) == []
    spool.close()


def test_a_failed_write_stops_replay_and_resumes_at_the_failed_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path, QUOTA, "w0", segment_max_bytes=10**6)
    batches = [make_batch(1, start=i) for i in range(5)]
    for b in batches:
        spool.append(b)
    got: list[Batch] = []

    def flaky(batch: Batch) -> None:
        if len(got) == 2:
            raise ConnectionError("database went away")
        got.append(batch)

    with pytest.raises(ConnectionError):
        spool.replay(flaky)
    assert got == batches[:2]
    assert spool.pending_batches() == 3
    assert len(list(tmp_path.glob("*.seg"))) == 1  # not deleted: not all of it was written
    spool.append(make_batch(1, start=99))          # appends go to a new segment meanwhile
    assert spool.replay(got.append) == 4
    assert got == [*batches, make_batch(1, start=99)]
    spool.close()


def test_spool_survives_a_restart(tmp_path: Path) -> None:
    first = Spool(tmp_path, QUOTA, "w0")
    first.append(make_batch(2, start=0))
    first.append(make_batch(2, start=5))
    first.close()
    second = Spool(tmp_path, QUOTA, "w0")
    assert second.pending_batches() == 2
    second.append(make_batch(2, start=10))
    assert len(list(tmp_path.glob("*.seg"))) == 2  # a reopened spool starts a new segment
    got: list[Batch] = []
    second.replay(got.append)
    assert got == [make_batch(2, start=0), make_batch(2, start=5), make_batch(2, start=10)]
    second.close()


def test_torn_tail_after_a_crash_is_cut_off_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path, QUOTA, "w0")
    spool.append(make_batch(2, start=0))
    spool.append(make_batch(2, start=5))
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    whole = segment.read_bytes()
    # A crash half-way through writing a third record.
    torn = frame_record(encode_batch(make_batch(2, start=9)))[:-7]
    segment.write_bytes(whole + torn)
    reopened = Spool(tmp_path, QUOTA, "w0")
    assert "torn record" in caplog.text
    assert reopened.pending_batches() == 2
    assert reopened.pending() == len(whole)
    got: list[Batch] = []
    reopened.replay(got.append)
    assert got == [make_batch(2, start=0), make_batch(2, start=5)]
    reopened.close()


def test_a_corrupted_record_is_detected_by_its_crc(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path, QUOTA, "w0")
    spool.append(make_batch(2, start=0))
    spool.append(make_batch(2, start=5))
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF
    segment.write_bytes(bytes(data))
    reopened = Spool(tmp_path, QUOTA, "w0")
    assert "CRC mismatch" in caplog.text
    got: list[Batch] = []
    reopened.replay(got.append)
    assert got == [make_batch(2, start=0)]
    reopened.close()


def test_zeroes_after_a_crash_are_not_a_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path, QUOTA, "w0")
    spool.append(make_batch(1))
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    with segment.open("ab") as f:
        f.write(b"\x00" * 64)
    with Spool(tmp_path, QUOTA, "w0") as reopened:
        assert reopened.pending_batches() == 1


def test_quota_refuses_what_does_not_fit_and_nothing_is_written(tmp_path: Path) -> None:
    one = len(encode_batch(make_batch(10))) + 8
    spool = Spool(tmp_path, quota_bytes=3 * one, worker="w0")
    for i in range(3):
        spool.append(make_batch(10, start=100 * i))
    with pytest.raises(SpoolFull) as full:
        spool.append(make_batch(10, start=500))
    assert full.value.quota == 3 * one and full.value.pending == 3 * one
    assert spool.pending_batches() == 3
    spool.replay(lambda b: None)
    spool.append(make_batch(10, start=500))  # room again once replayed
    spool.close()


def test_one_process_per_spool_folder(tmp_path: Path) -> None:
    with Spool(tmp_path, QUOTA, "w0"), pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path, QUOTA, "w0")


def test_dead_letter_keeps_a_refused_batch_outside_the_replay(tmp_path: Path) -> None:
    with Spool(tmp_path, QUOTA, "w0") as spool:
        path = spool.dead_letter(chinese_batch(), "DataError: 不行")
        assert path.parent == tmp_path / "rejected"
        assert "不行" in path.with_suffix(".txt").read_text(encoding="utf-8")
        spans, _, problem = scan_records(path.read_bytes())
        assert problem is None and len(spans) == 1
        assert spool.pending_batches() == 0


def test_spooled_workers_lists_folders_with_segments(tmp_path: Path) -> None:
    for name in ("w0", "w1", "w2"):
        with Spool(tmp_path / name, QUOTA, name) as spool:
            if name != "w1":
                spool.append(make_batch(1))
    assert spooled_workers(tmp_path) == ["w0", "w2"]
    assert spooled_workers(tmp_path / "missing") == []


def test_fsync_happens_before_append_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    with Spool(tmp_path, QUOTA, "w0") as spool:
        spool.append(make_batch(1))
        spool.append(make_batch(1, start=1))
    assert len(synced) == 2


def test_timestamps_keep_microseconds_and_instants() -> None:
    from zoneinfo import ZoneInfo
    ts = datetime(2026, 3, 1, 8, 0, 0, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    batch = Batch(statuses=[StatusChange(site="s", device="d", source=Source.ENV, online=True, ts=ts)])
    back = decode_batch(encode_batch(batch)).statuses[0].ts
    assert back == ts and back.tzinfo == UTC and back - ts == timedelta(0)


def test_text_that_is_not_utf8_is_spooled_as_the_database_would_store_it(tmp_path: Path) -> None:
    batch = make_batch(n_quarantine=1)
    q = batch.quarantine[0]
    batch.quarantine[0] = Quarantined(topic="relic/\udcff/x", payload=q.payload, payload_size=q.payload_size,
                                      received_at=q.received_at, reason=q.reason, detail="bad \ud800 byte")
    with Spool(tmp_path, QUOTA, "w0") as spool:
        spool.append(batch)
        got: list[Batch] = []
        spool.replay(got.append)
    assert (got[0].quarantine[0].topic, got[0].quarantine[0].detail) == ("relic/?/x", "bad ? byte")
