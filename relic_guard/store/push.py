"""Web Push subscriptions in PostgreSQL (sql/005_push_subscriptions.sql).

Plain functions over a synchronous psycopg connection, as `relic_guard.store.alerts`: the
working copy lives in memory (`relic_guard.alerting.channels.StoredPushSubscriptions`), these
read it back at start and write each change through. A subscription is JSON text both ways.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

Conn = psycopg.Connection[Any]

_UPSERT: Final = (
    "INSERT INTO push_subscriptions (id, recipient, subscription, registered_by) VALUES (%s, %s, %s::jsonb, %s) "
    "ON CONFLICT (id) DO UPDATE SET recipient = EXCLUDED.recipient, subscription = EXCLUDED.subscription, "
    "registered_by = EXCLUDED.registered_by, updated_at = now()"
)


def load_all(conn: Conn) -> dict[str, str]:
    """Every stored subscription: id -> its JSON text."""
    rows = conn.execute("SELECT id, subscription::text FROM push_subscriptions ORDER BY id").fetchall()
    return {str(subscription_id): str(text) for subscription_id, text in rows}


def upsert(conn: Conn, subscription_id: str, subscription_json: str, recipient: str, by: str) -> None:
    """Store the subscription under `subscription_id`, replacing one stored before (whose
    `created_at` stays: it tells when the id was first registered)."""
    conn.execute(_UPSERT, (subscription_id, recipient, subscription_json, by))


def delete(conn: Conn, subscription_id: str) -> bool:
    """Forget the subscription; False when none was stored."""
    return conn.execute("DELETE FROM push_subscriptions WHERE id = %s", (subscription_id,)).rowcount > 0
