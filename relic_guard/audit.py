"""The audit trail (全过程记录): append-only, hash-chained, keyed.

Every entry is chained to the one before it by an HMAC-SHA256 over the previous entry's hash and
this entry's canonical bytes, keyed with a secret the daemon holds (`[audit] key_file`). So:
- an edited row no longer matches its hash;
- a deleted row leaves a gap in `seq` (assigned here, contiguously, under a lock) and a broken link;
- rows deleted from the end leave `audit_head` pointing past the last row;
- and nobody without the key can rewrite the chain after an edit to hide it.
The table also refuses UPDATE, DELETE and TRUNCATE by trigger; the chain is what catches a
superuser who disables the trigger.

`detail` is stored as the exact canonical JSON text that was hashed (with a jsonb copy for
queries), so verification never depends on how PostgreSQL re-renders JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import psycopg

from relic_guard.errors import RelicGuardError

log = logging.getLogger(__name__)

GENESIS: Final = bytes(32)
# pg_advisory_xact_lock key for appends: "audit" in ASCII.
AUDIT_LOCK_KEY: Final = 0x6175646974


class AuditKeyError(RelicGuardError):
    """The audit key file is unreadable or malformed; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str  # who: a user, a recipient, or "system"
    kind: str  # what: alert.opened, alert.acknowledged, delivery.failed, config.changed, …
    subject: str  # about what: an alert id, a site id, a configuration file
    detail: Mapping[str, object] = field(default_factory=dict)


def canonical_detail(detail: Mapping[str, object]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _canonical(seq: int, at: datetime, actor: str, kind: str, subject: str, detail_text: str) -> bytes:
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    head = json.dumps([seq, stamp, actor, kind, subject], ensure_ascii=False, separators=(",", ":"))
    return (head + "\n" + detail_text).encode("utf-8")


def chain_hash(key: bytes, prev_hash: bytes, seq: int, at: datetime, actor: str, kind: str, subject: str,
               detail_text: str) -> bytes:
    message = prev_hash + _canonical(seq, at, actor, kind, subject, detail_text)
    return hmac.new(key, message, hashlib.sha256).digest()


def load_or_create_key(path: Path) -> bytes:
    """The chain key from `path` (64 hex digits); created with 0600 permissions when missing."""
    if path.exists():
        try:
            text = path.read_text(encoding="ascii").strip()
            key = bytes.fromhex(text)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise AuditKeyError(f"{path}: not a readable audit key ({exc}); restore it from your backup") from exc
        if len(key) < 32:
            raise AuditKeyError(f"{path}: the audit key must be at least 32 bytes (64 hex digits)")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.hex() + "\n")
    log.warning("created the audit trail key %s; back it up: without it the trail cannot be verified", path)
    return key


def append(conn: psycopg.Connection[Any], key: bytes, entries: Sequence[AuditEntry]) -> list[int]:
    """Append entries in one transaction; returns their sequence numbers."""
    if not entries:
        return []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_KEY,))
        head = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
        seq, prev = (int(head[0]), bytes(head[1])) if head else (0, GENESIS)
        rows = []
        for entry in entries:
            seq += 1
            text = canonical_detail(entry.detail)
            digest = chain_hash(key, prev, seq, entry.at, entry.actor, entry.kind, entry.subject, text)
            rows.append((seq, entry.at, entry.actor, entry.kind, entry.subject, text, prev, digest))
            prev = digest
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO audit_log (seq, at, actor, kind, subject, detail_text, detail, prev_hash, hash) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
                [(s, at, actor, kind, subject, text, text, p, h) for s, at, actor, kind, subject, text, p, h in rows],
            )
        conn.execute(
            "INSERT INTO audit_head (one, seq, hash) VALUES (true, %s, %s) "
            "ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (seq, prev),
        )
    return [row[0] for row in rows]


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str = ""

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_rows(key: bytes, rows: Iterable[tuple[int, datetime, str, str, str, str, bytes, bytes]],
                head: tuple[int, bytes] | None) -> VerifyReport:
    """Check a chain (pure): rows in `seq` order as stored, and the recorded head."""
    report = VerifyReport()
    expected_seq, expected_prev = 1, GENESIS
    for seq, at, actor, kind, subject, text, prev, digest in rows:
        report.checked += 1
        if seq != expected_seq:
            report.problems.append(
                f"entries {expected_seq}–{seq - 1} are missing: deleted from the trail"
                if seq > expected_seq else f"entry {seq} is out of order or repeated")
        if bytes(prev) != expected_prev:
            report.problems.append(f"entry {seq} does not link to the entry before it: the chain was cut here")
        recomputed = chain_hash(key, bytes(prev), seq, at, actor, kind, subject, text)
        if not hmac.compare_digest(recomputed, bytes(digest)):
            report.problems.append(f"entry {seq} ({kind} on {subject}) was altered after it was written")
        expected_seq, expected_prev = seq + 1, bytes(digest)
    last_seq = expected_seq - 1
    if head is None:
        if report.checked:
            report.problems.append("the trail has entries but no recorded head: audit_head was deleted")
    else:
        head_seq, head_hash = int(head[0]), bytes(head[1])
        report.head_seq, report.head_hash = head_seq, head_hash.hex()
        if head_seq > last_seq:
            report.problems.append(f"entries {last_seq + 1}–{head_seq} are missing from the end of the trail")
        elif head_seq != last_seq or head_hash != expected_prev:
            report.problems.append("the recorded head does not match the last entry: audit_head was edited")
    return report


def verify(conn: psycopg.Connection[Any], key: bytes) -> VerifyReport:
    """Verify the whole trail in one snapshot (appends may go on meanwhile)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        head = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
        with conn.cursor(name="audit_verify") as cur:
            cur.itersize = 10_000
            cur.execute(
                "SELECT seq, at, actor, kind, subject, detail_text, prev_hash, hash FROM audit_log ORDER BY seq"
            )
            return verify_rows(key, cur, (head[0], head[1]) if head else None)
