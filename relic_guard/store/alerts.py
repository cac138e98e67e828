"""The alert store: alert snapshots, timelines and deliveries in PostgreSQL (sql/004_alerts.sql).

Plain functions over a synchronous psycopg connection; `write` is the only writer (the alert
journal calls it from its thread), the rest are reads for the daemon's restart and the API.

Invariants:
- `write` commits a batch entirely or not at all, together with the audit entries derived
  from it, so the tables and the hash-chained trail never disagree about what happened;
- a batch given an id is written at most once (`alert_journal_batches`): retrying a batch
  whose commit went through but whose answer was lost does not double its history;
- a stored alert is never replaced by an older snapshot of itself (see `_UPSERT_ALERT`);
- `data` decodes back into an `Alert` equal to the one written. Text the database cannot
  hold (NUL, lone surrogates) is the one exception: it is replaced (U+FFFD, '?') on the way
  in, so that one odd string from a device cannot stop the journal;
- timeline and audit `detail` are stored as JSON values: a datetime in a detail comes back
  as its RFC 3339 text, an enum as its value. Both go through the same normalisation, so
  the timeline and the audit trail hold the same detail whichever way the item came.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import msgspec
import psycopg

from alerts.model import Alert
from relic_guard import audit
from relic_guard.alerting.records import SYSTEM_ACTOR, AlertSnapshot, DeliveryRecord, JournalItem, TimelineEntry
from relic_guard.audit import AuditEntry

Conn = psycopg.Connection[Any]

OPEN_STATUSES: Final = ("open", "acknowledged")
# How long a journal batch id is remembered: a batch held on disk longer than this (a daemon
# stopped for weeks with the database down) may be written twice if its first commit's
# answer was lost. Pruned by `write`.
BATCH_MEMORY: Final = "30 days"

_alert_decoder: Final = msgspec.json.Decoder(Alert)
_detail_decoder: Final = msgspec.json.Decoder(dict[str, Any])


# --- text the database can hold ------------------------------------------------------------

def _enc_hook(value: Any) -> Any:
    # Details are Mapping[str, object]: any mapping is a JSON object, sets are arrays, and
    # anything else JSON has no type for is kept as its text (as audit.canonical_detail does).
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)


def _clean(text: str) -> str:
    """`text` storable in a PostgreSQL text column: NUL becomes U+FFFD, lone surrogates '?'."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _clean_opt(text: str | None) -> str | None:
    return None if text is None else _clean(text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_clean(str(k)): _scrub(v) for k, v in value.items()}
    return value


def json_text(value: Any) -> str:
    """`value` as JSON text that jsonb accepts (no \\u0000 escape, valid UTF-8)."""
    try:
        encoded = msgspec.json.encode(value, enc_hook=_enc_hook)
        # The escape may also be an escaped backslash followed by "u0000": then the scrub
        # below changes nothing and only costs a little time.
        if b"\\u0000" not in encoded:
            return encoded.decode("utf-8")
    except UnicodeEncodeError:
        pass
    plain = _scrub(msgspec.to_builtins(value, enc_hook=_enc_hook))
    return msgspec.json.encode(plain).decode("utf-8")


def plain_detail(detail: Mapping[str, object]) -> dict[str, Any]:
    """A detail as the JSON values it is stored as (see the module docstring)."""
    return _detail_decoder.decode(json_text(detail))


# --- writing ---------------------------------------------------------------------------

# The snapshot guard. An alert's progress is (stage, count): the stage (open 0, acknowledged
# 1, resolved or false alarm 2) only moves forward (alerts/lifecycle.py: closed is terminal)
# and `count` only grows (repeats), so a snapshot behind the stored one on that pair is older
# and is skipped. One level with it is taken as the later write and replaces it: the journal
# writes snapshots in the order they were made, and an assignment, new evidence or an
# inhibition changes neither number. Timestamps are deliberately not compared: the engine's
# clock can step back (NTP, times taken from a device), and refusing a newer state would
# leave an alert showing open after it was closed.
_STAGE: Final = "CASE {0}.status WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END"
_ALERT_COLUMNS: Final = (
    "id", "site_id", "device_id", "rule", "category", "severity", "status", "title", "zone", "confirmed", "drill",
    "count", "opened_at", "last_seen_at", "acknowledged_by", "acknowledged_at", "assigned_to", "resolved_by",
    "resolved_at", "classification", "note", "data",
)
_UPSERT_ALERT: Final = (
    f"INSERT INTO alerts ({', '.join(_ALERT_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * (len(_ALERT_COLUMNS) - 1))}, %s::jsonb) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ALERT_COLUMNS[1:])
    + ", written_at = now() "
    f"WHERE ({_STAGE.format('alerts')}, alerts.count) <= ({_STAGE.format('excluded')}, excluded.count)"
)
_INSERT_TIMELINE: Final = (
    "INSERT INTO alert_timeline (alert_id, at, kind, actor, detail) VALUES (%s, %s, %s, %s, %s::jsonb)"
)
_DELIVERY_COLUMNS: Final = (
    "delivery_id", "alert_id", "event", "recipient", "channel", "target", "fallback", "delivered", "attempts",
    "status", "gave_up", "started_at", "finished_at",
)
_INSERT_DELIVERY: Final = (
    f"INSERT INTO deliveries ({', '.join(_DELIVERY_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_DELIVERY_COLUMNS))}) "
    "ON CONFLICT ON CONSTRAINT deliveries_key DO NOTHING"
)


def _alert_row(alert: Alert) -> tuple[Any, ...]:
    return (
        _clean(alert.id), _clean(alert.key.site), _clean(alert.key.device), _clean(alert.key.rule),
        alert.category.value, alert.severity.value, alert.status.value, _clean(alert.title), _clean_opt(alert.zone),
        alert.confirmed, alert.drill, alert.count, alert.opened_at, alert.last_seen_at,
        _clean_opt(alert.acknowledged_by), alert.acknowledged_at, _clean_opt(alert.assigned_to),
        _clean_opt(alert.resolved_by), alert.resolved_at,
        None if alert.classification is None else alert.classification.value, _clean_opt(alert.note),
        json_text(alert),
    )


def _delivery_row(d: DeliveryRecord) -> tuple[Any, ...]:
    return (
        _clean(d.delivery_id), _clean(d.alert_id), _clean(d.event), _clean(d.recipient), _clean(d.channel),
        _clean(d.target), d.fallback, d.delivered, d.attempts, _clean(d.status), _clean_opt(d.gave_up),
        d.started_at, d.finished_at,
    )


def audit_entry_of(item: TimelineEntry | DeliveryRecord) -> AuditEntry:
    """The audit trail's record of a timeline entry or a delivery (before normalisation)."""
    if isinstance(item, TimelineEntry):
        return AuditEntry(at=item.at, actor=item.actor, kind=f"alert.{item.kind}", subject=item.alert_id,
                          detail=item.detail)
    return AuditEntry(
        at=item.finished_at,
        actor=SYSTEM_ACTOR,
        kind="delivery.delivered" if item.delivered else "delivery.failed",
        subject=item.alert_id,
        detail={
            "recipient": item.recipient, "channel": item.channel, "event": item.event, "target": item.target,
            "fallback": item.fallback, "attempts": item.attempts, "status": item.status, "gave_up": item.gave_up,
            "delivery_id": item.delivery_id,
        },
    )


def _storable(entry: AuditEntry) -> AuditEntry:
    return AuditEntry(at=entry.at, actor=_clean(entry.actor), kind=_clean(entry.kind), subject=_clean(entry.subject),
                      detail=plain_detail(entry.detail))


def write(conn: Conn, items: Sequence[JournalItem], audit_key: bytes, *, batch_id: str | None = None) -> bool:
    """Write a batch of journal items in one transaction, in this order: alert snapshots (the
    last one of each alert in the batch, unless the stored one is newer), timeline entries,
    delivery records (a record already stored is skipped), then the audit entries: one per
    timeline entry and delivery record, and each `AuditEntry` item as it is, in batch order.

    With `batch_id`, a batch already written under that id is skipped whole: returns False
    then, True when the batch was written. `conn` must be in autocommit mode or idle (inside
    a caller's transaction this becomes a savepoint and commits with the caller's). psycopg
    errors propagate unchanged: the caller tells a lost connection from a refused batch.
    """
    snapshots: dict[str, Alert] = {}
    timeline_rows: list[tuple[Any, ...]] = []
    delivery_rows: list[tuple[Any, ...]] = []
    entries: list[AuditEntry] = []
    for item in items:
        if isinstance(item, AlertSnapshot):
            # Re-inserting moves the id to the end: alerts are upserted in the order of their
            # last snapshot (the order does not change the outcome, only lock order).
            snapshots.pop(item.alert.id, None)
            snapshots[item.alert.id] = item.alert
        elif isinstance(item, TimelineEntry):
            entry = _storable(audit_entry_of(item))
            timeline_rows.append((_clean(item.alert_id), item.at, _clean(item.kind), entry.actor,
                                  json_text(entry.detail)))
            entries.append(entry)
        elif isinstance(item, DeliveryRecord):
            delivery_rows.append(_delivery_row(item))
            entries.append(_storable(audit_entry_of(item)))
        elif isinstance(item, AuditEntry):
            entries.append(_storable(item))
        else:
            raise TypeError(f"not a journal item: {type(item).__name__}")
    alert_rows = [_alert_row(alert) for alert in snapshots.values()]
    with conn.transaction():
        if batch_id is not None:
            conn.execute(f"DELETE FROM alert_journal_batches WHERE written_at < now() - interval '{BATCH_MEMORY}'")
            fresh = conn.execute(
                "INSERT INTO alert_journal_batches (id) VALUES (%s) ON CONFLICT (id) DO NOTHING RETURNING id",
                (batch_id,),
            ).fetchone()
            if fresh is None:
                return False
        with conn.cursor() as cur:
            if alert_rows:
                cur.executemany(_UPSERT_ALERT, alert_rows)
            if timeline_rows:
                cur.executemany(_INSERT_TIMELINE, timeline_rows)
            if delivery_rows:
                cur.executemany(_INSERT_DELIVERY, delivery_rows)
        audit.append(conn, audit_key, entries)
    return True


# --- reading ---------------------------------------------------------------------------

def _alerts(rows: Sequence[tuple[Any, ...]]) -> list[Alert]:
    return [_alert_decoder.decode(row[0]) for row in rows]


def load_open(conn: Conn) -> list[Alert]:
    """Every open or acknowledged alert, oldest first (what the engine is rebuilt from)."""
    rows = conn.execute(
        "SELECT data::text FROM alerts WHERE status IN ('open', 'acknowledged') ORDER BY opened_at, id"
    ).fetchall()
    return _alerts(rows)


def get(conn: Conn, alert_id: str) -> Alert | None:
    row = conn.execute("SELECT data::text FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    return None if row is None else _alert_decoder.decode(row[0])


def timeline(conn: Conn, alert_id: str) -> list[TimelineEntry]:
    """An alert's history in time order (entries at the same instant in write order)."""
    rows = conn.execute(
        "SELECT alert_id, at, kind, actor, detail::text FROM alert_timeline WHERE alert_id = %s ORDER BY at, id",
        (alert_id,),
    ).fetchall()
    return [TimelineEntry(alert_id=a, at=at, kind=kind, actor=actor, detail=_detail_decoder.decode(detail))
            for a, at, kind, actor, detail in rows]


_SELECT_DELIVERIES: Final = f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM deliveries d"


def _delivery(row: Sequence[Any]) -> DeliveryRecord:
    return DeliveryRecord(**dict(zip(_DELIVERY_COLUMNS, row, strict=True)))


def deliveries_of(conn: Conn, alert_id: str) -> list[DeliveryRecord]:
    """An alert's deliveries in the order they started."""
    rows = conn.execute(f"{_SELECT_DELIVERIES} WHERE alert_id = %s ORDER BY started_at, id", (alert_id,)).fetchall()
    return [_delivery(row) for row in rows]


def list_alerts(
    conn: Conn,
    *,
    status: Sequence[str] | None = None,
    sites: Collection[str] | None = None,
    site: str | None = None,
    category: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Alerts newest first (by opening time). `sites` is the caller's scope: None for every
    site, otherwise only those (an empty scope sees nothing); `site`, `category`, `status`
    and `since` (opened at or after) narrow further."""
    if sites is not None and not sites:
        return []
    where: list[str] = []
    params: list[Any] = []
    if status is not None:
        where.append("status = ANY(%s)")
        params.append(list(status))
    if sites is not None:
        where.append("site_id = ANY(%s)")
        params.append(list(sites))
    if site is not None:
        where.append("site_id = %s")
        params.append(site)
    if category is not None:
        where.append("category = %s")
        params.append(category)
    if since is not None:
        where.append("opened_at >= %s")
        params.append(since)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    params.append(max(0, limit))
    rows = conn.execute(
        f"SELECT data::text FROM alerts {clause}ORDER BY opened_at DESC, id DESC LIMIT %s", params
    ).fetchall()
    return _alerts(rows)


def undelivered(conn: Conn, since: datetime | None = None, limit: int = 100) -> list[DeliveryRecord]:
    """Notifications that reached nobody, newest first (by when they ended); `since` bounds
    their end.

    As `DeliveryRecord` defines it, as far as the rows can tell: a failed delivery counts
    unless another delivery of the same alert's same event to the same recipient, ending no
    earlier than it started, took its place: one that was delivered (a sibling channel, or a
    later retry of a reminder), or for a failed primary delivery, a fallback delivery (then
    the fallback's own outcome is what counts, so one failure is not counted twice). A
    primary failure with no fallback after it is undelivered: none was configured."""
    params: list[Any] = []
    bound = ""
    if since is not None:
        bound = "AND d.finished_at >= %s "
        params.append(since)
    params.append(max(0, limit))
    rows = conn.execute(
        f"{_SELECT_DELIVERIES} WHERE NOT d.delivered {bound}"
        "AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.alert_id = d.alert_id AND o.event = d.event "
        "AND o.recipient = d.recipient AND o.id <> d.id AND o.finished_at >= d.started_at "
        "AND (o.delivered OR (o.fallback AND NOT d.fallback))) "
        "ORDER BY d.finished_at DESC, d.id DESC LIMIT %s",
        params,
    ).fetchall()
    return [_delivery(row) for row in rows]
