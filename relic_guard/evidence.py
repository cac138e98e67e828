"""Evidence snapshots on disk: JPEGs kept content-addressed, for as long as the retention says.

An event's snapshot (a video frame that showed motion, a covered lens, a flame-like region; a drone's
photo of a digging pit) is what a police liaison or a supervisor looks at first, and what the record
keeps after the fact. Each image is stored once, named by the SHA-256 of its bytes:

    <folder>/<first two hex digits>/<sha256>.jpg

so the same frame attached to an event and to its alert costs one file, and a name can be checked
against its content. Writes are atomic (a temporary file, fsync'd, then renamed): a crash leaves
either the whole image or none, never a torn one under a real name.

Retention by age: `sweep(now)` removes images older than `retention_days` (by modification time;
storing an image again refreshes it, so evidence that keeps being cited is kept). The folder is
the only state: several processes may put into it at once.

The SHA-256 of a JPEG is unguessable without the image, so a URL naming it is a capability: it is
handed to the people an alert reaches (who may have no login), and cannot be enumerated.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Final

from relic_guard.errors import RelicGuardError
from sensors.model import MAX_FRAME_BYTES

_SHA: Final = re.compile(r"^[0-9a-f]{64}$")
JPEG_START: Final = b"\xff\xd8"


class EvidenceError(RelicGuardError):
    """An image that cannot be kept as evidence (not a JPEG, too large), or a folder that refuses it."""


@dataclass(frozen=True, slots=True)
class StoredEvidence:
    sha256: str
    path: Path
    size_bytes: int
    # False: the same image was stored already (its age was refreshed).
    new: bool


@dataclass(frozen=True, slots=True)
class SweepResult:
    removed: int
    removed_bytes: int
    kept: int
    kept_bytes: int


class EvidenceStore:
    def __init__(self, folder: Path, *, retention_days: float, max_bytes: int = MAX_FRAME_BYTES) -> None:
        if retention_days <= 0:
            raise EvidenceError(f"evidence retention must be positive, got {retention_days} days")
        self.folder = folder
        self.retention_s = retention_days * 86400.0
        self.max_bytes = max_bytes

    def path_of(self, digest: str) -> Path | None:
        """The file of an image by its SHA-256 (lower-case hex), or None when it is not kept
        (never stored, swept, or not a SHA-256 at all: a name from a URL is never a path)."""
        if not _SHA.match(digest):
            return None
        path = self.folder / digest[:2] / f"{digest}.jpg"
        return path if path.is_file() else None

    def put(self, jpeg: bytes, *, now: datetime) -> StoredEvidence:
        if len(jpeg) > self.max_bytes:
            raise EvidenceError(f"snapshot of {len(jpeg)} bytes is over the {self.max_bytes}-byte limit")
        if not jpeg.startswith(JPEG_START):
            raise EvidenceError("snapshot is not a JPEG (no FF D8 start-of-image marker)")
        digest = sha256(jpeg).hexdigest()
        folder = self.folder / digest[:2]
        path = folder / f"{digest}.jpg"
        stamp = now.timestamp()
        try:
            if path.is_file():
                os.utime(path, (stamp, stamp))
                return StoredEvidence(digest, path, len(jpeg), new=False)
            folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".jpg")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(jpeg)
                    out.flush()
                    os.fsync(out.fileno())
                os.utime(temporary, (stamp, stamp))
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise EvidenceError(f"cannot write evidence into {self.folder}: {exc.strerror or exc}; check the "
                                "folder exists and the daemon's user may write to it ([video] evidence_dir)") from exc
        return StoredEvidence(digest, path, len(jpeg), new=True)

    def sweep(self, now: datetime) -> SweepResult:
        """Remove images older than the retention, and temporary files a crash left behind."""
        cutoff = now.timestamp() - self.retention_s
        removed = removed_bytes = kept = kept_bytes = 0
        if not self.folder.is_dir():
            return SweepResult(0, 0, 0, 0)
        for folder in self.folder.iterdir():
            if not folder.is_dir() or len(folder.name) != 2:
                continue
            for path in folder.iterdir():
                try:
                    info = path.stat()
                except FileNotFoundError:
                    continue  # swept by another process meanwhile
                stale_temporary = path.name.startswith(".incoming-") and info.st_mtime < now.timestamp() - 3600
                if info.st_mtime < cutoff or stale_temporary:
                    path.unlink(missing_ok=True)
                    removed += 1
                    removed_bytes += info.st_size
                else:
                    kept += 1
                    kept_bytes += info.st_size
        return SweepResult(removed, removed_bytes, kept, kept_bytes)
