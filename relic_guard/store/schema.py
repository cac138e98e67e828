"""Schema migrations: ordered SQL files applied once each, recorded in `schema_migrations`.

A migration is `sql/NNN_name.sql` (applied in every mode) or a pair
`sql/NNN_name.native.sql` / `sql/NNN_name.timescale.sql` (the one of the
store's mode). Each runs in its own transaction together with its row in
`schema_migrations`, under `pg_advisory_xact_lock`, so two daemons starting
at once apply each file exactly once (the second waits, then sees it done).

The mode is chosen once, when the time-series tables are created (see the
package docstring): TimescaleDB if the extension exists or can be created,
native partitioning otherwise. Afterwards it is read back from the catalog
(`store_mode`), so a server that gains or loses the extension later does not
switch a database half-way.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import psycopg

from relic_guard.config import StoreConfig
from relic_guard.errors import MigrationError

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
Mode = Literal["native", "timescale"]
MODES: tuple[Mode, ...] = ("native", "timescale")

# pg_advisory_xact_lock key: "relic" in ASCII; only our migrations take it.
MIGRATION_LOCK_KEY = 0x72656C6963
# The migration that creates readings/events; TimescaleDB's setup runs in its transaction.
TIMESERIES_VERSION = 2

_FILE_RE = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+?)(?:\.(?P<mode>native|timescale))?\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    # File name per mode; a mode-independent migration has the same file for both.
    files: dict[Mode, str]

    @property
    def mode_specific(self) -> bool:
        return self.files["native"] != self.files["timescale"]


def load_migrations() -> list[Migration]:
    """The migrations shipped in `relic_guard/store/sql`, in version order (checked for gaps/clashes)."""
    folder = resources.files("relic_guard.store") / "sql"
    by_version: dict[int, dict[str, str]] = {}
    names: dict[int, str] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_RE.match(entry.name)
        if match is None:
            raise MigrationError(f"{entry.name}: migrations are named NNN_name.sql or NNN_name.<mode>.sql")
        version = int(match["version"])
        if names.setdefault(version, match["name"]) != match["name"]:
            raise MigrationError(f"{entry.name}: version {version} is used by two migrations")
        slot = match["mode"] or "*"
        if slot in by_version.setdefault(version, {}):
            raise MigrationError(f"{entry.name}: duplicate migration file")
        by_version[version][slot] = entry.name
    migrations = []
    for version in sorted(by_version):
        slots = by_version[version]
        if "*" in slots and len(slots) > 1:
            raise MigrationError(f"{slots['*']}: has mode variants too; use one or the other")
        if "*" in slots:
            files: dict[Mode, str] = {"native": slots["*"], "timescale": slots["*"]}
        elif set(slots) == {"native", "timescale"}:
            files = {"native": slots["native"], "timescale": slots["timescale"]}
        else:
            raise MigrationError(f"migration {version:03d}: needs both .native.sql and .timescale.sql")
        migrations.append(Migration(version=version, name=names[version], files=files))
    return migrations


def _read(file_name: str) -> str:
    return (resources.files("relic_guard.store") / "sql" / file_name).read_text(encoding="utf-8")


def store_mode(conn: Conn) -> Mode | None:
    """The mode of an already migrated database (None before the time-series tables exist)."""
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = 'readings' AND n.nspname = current_schema()"
    ).fetchone()
    if row is None:
        return None
    return "native" if row[0] == "p" else "timescale"


def _choose_mode(conn: Conn) -> Mode:
    """Pick the mode for a fresh database; called inside the migration transaction."""
    from relic_guard.store.timescale import timescale_available, timescale_installed

    # The Apache-2-only edition counts as absent: it lacks compression, continuous aggregates and policies.
    if not timescale_available(conn):
        return "native"
    if timescale_installed(conn):
        return "timescale"
    try:
        with conn.transaction():  # a savepoint: a failure here must not abort the migration
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        # Installed but unusable (typically: not in shared_preload_libraries).
        log.warning(
            "TimescaleDB is installed but cannot be created (%s); using native PostgreSQL partitioning. "
            "To use TimescaleDB, add it to shared_preload_libraries before the first start.",
            _pg_message(exc),
        )
        return "native"
    return "timescale"


def _pg_message(exc: psycopg.Error) -> str:
    return exc.diag.message_primary or str(exc).strip()


def _describe_failure(file_name: str, text: str, exc: psycopg.Error) -> str:
    where = file_name
    position = exc.diag.statement_position
    if position and position.isdigit():
        where += f" line {text.count(chr(10), 0, int(position) - 1) + 1}"
    message = f"migration {where} failed: {_pg_message(exc)}"
    if exc.diag.message_detail:
        message += f" ({exc.diag.message_detail})"
    return message


def migrate(conn: Conn, cfg: StoreConfig | None = None) -> list[str]:
    """Apply every pending migration; returns the file names applied (empty when up to date).

    `conn` must not be inside a transaction (autocommit, or idle): each migration
    commits on its own. `cfg` is handed to TimescaleDB's setup (retention,
    compression); defaults apply when omitted.
    """
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise MigrationError("migrate() needs a connection that is not inside a transaction")
    cfg = cfg or StoreConfig()
    applied_names: list[str] = []
    migrations = load_migrations()
    known = {m.version for m in migrations}
    for migration in migrations:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            conn.execute(_CREATE_LEDGER)
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
            ).fetchone()
            if done:
                continue
            mode: Mode = "native"
            if migration.mode_specific:
                mode = store_mode(conn) or _choose_mode(conn)
            file_name = migration.files[mode]
            text = _read(file_name)
            try:
                with conn.transaction():
                    conn.execute(text.encode("utf-8"))
                    if mode == "timescale" and migration.version == TIMESERIES_VERSION:
                        _setup_timescale(conn, cfg)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, file_name),
                    )
            except psycopg.Error as exc:
                raise MigrationError(_describe_failure(file_name, text, exc)) from exc
            log.info("applied migration %s", file_name)
            applied_names.append(file_name)
    with conn.transaction():  # not left open on a non-autocommit connection
        newer = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    if newer and isinstance(newer[0], int) and newer[0] > max(known):
        log.warning("database schema is at version %d, newer than this relic-guard knows (%d)",
                    newer[0], max(known))
    return applied_names


def _setup_timescale(conn: Conn, cfg: StoreConfig) -> None:
    from relic_guard.store.timescale import setup_timescale

    setup_timescale(conn, cfg)


def applied_migrations(conn: Conn) -> list[tuple[int, str]]:
    """(version, file name) of every migration recorded in the database, in order."""
    with conn.transaction():
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return []
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    return [(int(str(v)), str(n)) for v, n in rows]
