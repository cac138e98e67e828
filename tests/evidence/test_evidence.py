"""The evidence folder: content-addressed, atomic, swept by age."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relic_guard.evidence import EvidenceError, EvidenceStore

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + "城子崖遗址 南区 摄像机 3".encode() + b"\xff\xd9"


def test_an_image_is_stored_once_under_its_digest(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, retention_days=30)
    first = store.put(JPEG, now=NOW)
    digest = hashlib.sha256(JPEG).hexdigest()
    assert (first.sha256, first.new, first.size_bytes) == (digest, True, len(JPEG))
    assert first.path == tmp_path / digest[:2] / f"{digest}.jpg"
    assert first.path.read_bytes() == JPEG
    again = store.put(JPEG, now=NOW + timedelta(days=1))
    assert (again.sha256, again.new) == (digest, False)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{digest}.jpg"]
    assert store.path_of(digest) == first.path


@pytest.mark.parametrize("name", ["", "../../etc/passwd", "A" * 64, "0" * 63, "0" * 64])
def test_a_name_that_is_not_a_stored_digest_is_no_path(tmp_path: Path, name: str) -> None:
    assert EvidenceStore(tmp_path, retention_days=1).path_of(name) is None


@pytest.mark.parametrize(("data", "says"), [
    (b"GIF89a", "not a JPEG"),
    (b"\xff\xd8" + b"\0" * 100, "over the 64-byte limit"),
])
def test_what_is_not_kept_is_refused_saying_why(tmp_path: Path, data: bytes, says: str) -> None:
    with pytest.raises(EvidenceError, match=says):
        EvidenceStore(tmp_path, retention_days=1, max_bytes=64).put(data, now=NOW)
    assert not any(tmp_path.rglob("*.jpg"))


def test_an_unwritable_folder_says_which_setting_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(EvidenceError, match=r"evidence_dir"):
        EvidenceStore(blocker / "evidence", retention_days=1).put(JPEG, now=NOW)


def test_sweep_removes_what_is_older_than_the_retention_and_a_crash_leftover(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, retention_days=30)
    old = store.put(JPEG, now=NOW - timedelta(days=31))
    cited = store.put(JPEG + b"1", now=NOW - timedelta(days=40))
    store.put(JPEG + b"1", now=NOW - timedelta(days=2))  # cited again lately: kept
    fresh = store.put(JPEG + b"2", now=NOW)
    leftover = tmp_path / old.sha256[:2] / ".incoming-x.jpg"
    leftover.write_bytes(b"\xff\xd8torn")
    stamp = (NOW - timedelta(hours=2)).timestamp()
    os.utime(leftover, (stamp, stamp))
    result = store.sweep(NOW)
    assert (result.removed, result.kept) == (2, 2)
    assert result.removed_bytes == len(JPEG) + len(b"\xff\xd8torn")
    assert store.path_of(old.sha256) is None
    assert store.path_of(cited.sha256) is not None and store.path_of(fresh.sha256) is not None
    assert not leftover.exists()
    assert store.sweep(NOW) == type(result)(0, 0, 2, result.kept_bytes)


def test_an_empty_or_missing_folder_sweeps_to_nothing(tmp_path: Path) -> None:
    assert EvidenceStore(tmp_path / "none", retention_days=1).sweep(NOW).removed == 0
    with pytest.raises(EvidenceError, match="positive"):
        EvidenceStore(tmp_path, retention_days=0)
