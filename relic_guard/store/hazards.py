"""Hazard reports and their photos in PostgreSQL (sql/007_hazard_reports.sql).

Plain functions over a synchronous psycopg connection, as `relic_guard.store.push`. A photo is
checked before it is stored (`sniff_image`): at most `MAX_PHOTO_BYTES`, and JPEG, PNG or WebP by
its first bytes, whatever name or type the browser gave it, so the database never holds (and the
page never serves) a file a browser could take for HTML or script. Photos are keyed by the
SHA-256 of their bytes: uploading the same photo again stores nothing new.

Who may see a photo: someone who may see the site of a report that uses it (`photo_for`); the
same photo may belong to reports at several sites, and any one of them in scope is enough.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg

Conn = psycopg.Connection[Any]

MAX_PHOTO_BYTES: Final = 5 * 1024 * 1024
MAX_DESCRIPTION_CHARS: Final = 2000
CONTENT_TYPES: Final = ("image/jpeg", "image/png", "image/webp")


class PhotoRejected(ValueError):  # noqa: N818 (reads as what happened to the upload)
    """The upload is not a photo this store keeps; `reason` is `too_large`, `empty` or `not_image`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HazardReport:
    id: int
    site_id: str
    reported_by: str
    description: str
    photo_sha256: str | None
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class Photo:
    sha256: str
    content_type: str
    data: bytes


def sniff_image(data: bytes) -> str:
    """The content type of a photo judged by its magic bytes; raises PhotoRejected otherwise."""
    if not data:
        raise PhotoRejected("empty", "the photo is empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRejected("too_large", f"the photo is {len(data)} bytes; at most {MAX_PHOTO_BYTES} are accepted")
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise PhotoRejected("not_image", "the file is not a JPEG, PNG or WebP image")


def photo_of(data: bytes) -> Photo:
    """A checked photo, ready to store (raises PhotoRejected)."""
    return Photo(sha256=hashlib.sha256(data).hexdigest(), content_type=sniff_image(data), data=data)


def add_report(conn: Conn, *, site_id: str, reported_by: str, description: str, photo: Photo | None,
               at: datetime) -> HazardReport:
    """Store a report (and its photo, unless stored already) in one transaction."""
    text = description.strip()
    if not text or len(text) > MAX_DESCRIPTION_CHARS:
        raise ValueError(f"a description needs 1 to {MAX_DESCRIPTION_CHARS} characters")
    with conn.transaction():
        if photo is not None:
            conn.execute(
                "INSERT INTO hazard_photos (sha256, content_type, bytes) VALUES (%s, %s, %s) "
                "ON CONFLICT (sha256) DO NOTHING",
                (photo.sha256, photo.content_type, photo.data),
            )
        row = conn.execute(
            "INSERT INTO hazard_reports (site_id, reported_by, description, photo_sha256, reported_at) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id, reported_at",
            (site_id, reported_by, text, photo.sha256 if photo is not None else None, at),
        ).fetchone()
    assert row is not None
    return HazardReport(id=int(row[0]), site_id=site_id, reported_by=reported_by, description=text,
                        photo_sha256=photo.sha256 if photo is not None else None, reported_at=row[1])


def recent_reports(conn: Conn, *, reported_by: str, sites: Collection[str] | None,
                   limit: int = 10) -> list[HazardReport]:
    """The newest reports of one reporter, at the given sites (None: any site)."""
    rows = conn.execute(
        "SELECT id, site_id, reported_by, description, photo_sha256, reported_at FROM hazard_reports "
        "WHERE reported_by = %s AND (%s::text[] IS NULL OR site_id = ANY(%s::text[])) "
        "ORDER BY reported_at DESC, id DESC LIMIT %s",
        (reported_by, _scope(sites), _scope(sites), limit),
    ).fetchall()
    return [HazardReport(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


def photo_for(conn: Conn, sha256: str, sites: Collection[str] | None) -> Photo | None:
    """The photo, if a report at one of `sites` (None: any site) uses it; None otherwise."""
    row = conn.execute(
        "SELECT p.content_type, p.bytes FROM hazard_photos p WHERE p.sha256 = %s AND EXISTS ("
        "SELECT 1 FROM hazard_reports r WHERE r.photo_sha256 = p.sha256 "
        "AND (%s::text[] IS NULL OR r.site_id = ANY(%s::text[])))",
        (sha256, _scope(sites), _scope(sites)),
    ).fetchone()
    if row is None:
        return None
    return Photo(sha256=sha256, content_type=str(row[0]), data=bytes(row[1]))


def _scope(sites: Collection[str] | None) -> list[str] | None:
    return sorted(sites) if sites is not None else None
