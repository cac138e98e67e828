"""A photo or document cited in a record (a hazard's evidence, an inspection's attachment): a
stored photo by the SHA-256 of its bytes (hazard_photos), or anything elsewhere by URL, always with
a note saying what it shows. The checks and the JSON shape are one, wherever a record cites one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")


def reference_problems(note: str, url: str | None, photo_sha256: str | None, *, note_says: str,
                       max_note_chars: int) -> list[str]:
    """What is missing or wrong, each as what it needs ("a note saying …"); empty when sound."""
    found = []
    if not note.strip():
        found.append(f"a note saying {note_says}")
    elif len(note) > max_note_chars:
        found.append(f"a note of at most {max_note_chars} characters")
    if (url is None) == (photo_sha256 is None):
        found.append("exactly one reference: a URL or the SHA-256 of a stored photo")
    elif photo_sha256 is not None and not SHA256_RE.match(photo_sha256):
        found.append("a photo SHA-256 of 64 lowercase hex digits")
    elif url is not None and not url.strip():
        found.append("a non-empty URL")
    return found


def reference_json(note: str, url: str | None, photo_sha256: str | None) -> dict[str, str]:
    out = {"note": note}
    if url is not None:
        out["url"] = url
    if photo_sha256 is not None:
        out["photo_sha256"] = photo_sha256
    return out


def reference_of(data: Mapping[str, object]) -> tuple[str | None, str | None]:
    """(url, photo_sha256) as stored in a record's JSON."""
    url, sha = data.get("url"), data.get("photo_sha256")
    return (None if url is None else str(url)), (None if sha is None else str(sha))
