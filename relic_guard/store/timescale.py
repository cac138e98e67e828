"""TimescaleDB layout of the store: hypertables, compression, retention, hourly rollup.

The migration code creates `readings` and `events` as plain tables and, when the
`timescaledb` extension is available, calls `setup_timescale()`, which turns them
into hypertables (1-day chunks), enables compression (segmented by site and
device, newest first), schedules compression and retention jobs, and creates
`readings_hourly` as a continuous aggregate refreshed every 30 minutes. Without
the extension the migration builds native partitions and a plain `readings_hourly`
table instead; nothing here is used then.

`setup_timescale()` is idempotent: every step first looks at what is already
there. Policies whose settings differ from the configuration (say
`retention_days` was changed) are replaced; the hypertables, compression
settings and the continuous aggregate are created once and left alone after.
All its statements run in one `conn.transaction()` block: a savepoint when the
caller has a transaction open (nothing is committed then until the caller
commits, and a failure leaves the caller's transaction usable), otherwise a
transaction of its own, committed when it returns. Either way a failure
leaves nothing half done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg import sql

from relic_guard.config import StoreConfig
from relic_guard.errors import MigrationError

EXTENSION: Final = "timescaledb"

# 2.0 brought the job-based policies (add_*_policy) and WITH NO DATA aggregates.
MIN_VERSION: Final = (2, 0)

HYPERTABLES: Final = ("readings", "events")
CHUNK_INTERVAL: Final = "1 day"
COMPRESS_SEGMENTBY: Final = ("site_id", "device_id")
COMPRESS_ORDERBY: Final = "ts DESC"
# COMPRESS_ORDERBY as timescaledb_information.compression_settings shows it:
# (column, ascending, nulls first); DESC implies NULLS FIRST.
_ORDERBY_SETTINGS: Final = (("ts", False, True),)

HOURLY_VIEW: Final = "readings_hourly"
HOURLY_START_OFFSET: Final = "3 days"
HOURLY_END_OFFSET: Final = "1 hour"
HOURLY_SCHEDULE: Final = "30 minutes"


def timescale_available(conn: psycopg.Connection[Any]) -> bool:
    """True if the server has the `timescaledb` extension (installed or installable) in an
    edition that can hold this layout.

    Reads `pg_available_extensions` (the extension's files are on the server) and
    the `timescaledb.license` setting: the Apache-2-only edition ('apache') has no
    compression, continuous aggregates or policies, so it counts as unavailable.
    On a stock PostgreSQL, `CREATE EXTENSION timescaledb` can still fail when
    `timescaledb` is missing from `shared_preload_libraries`.
    """
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = %s),"
        " current_setting('timescaledb.license', true)",
        (EXTENSION,),
    ).fetchone()
    return bool(row and row[0]) and not _apache_only(row[1] if row else None)


def _apache_only(license_setting: object) -> bool:
    return str(license_setting or "").strip().lower() == "apache"


def timescale_installed(conn: psycopg.Connection[Any]) -> bool:
    """True if `CREATE EXTENSION timescaledb` has been run in this database."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = %s)", (EXTENSION,)).fetchone()
    return bool(row and row[0])


def timescale_version(conn: psycopg.Connection[Any]) -> tuple[int, ...] | None:
    """Installed extension version as integers, e.g. (2, 23, 0) for '2.23.0-dev'; None if absent."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = %s", (EXTENSION,)).fetchone()
    if row is None:
        return None
    return _parse_version(str(row[0]))


def setup_timescale(conn: psycopg.Connection[Any], cfg: StoreConfig) -> None:
    """Make `readings` and `events` hypertables with compression and retention, and
    create the `readings_hourly` continuous aggregate with its refresh policy.

    Expects both tables to exist (plain or already hypertables, with or without
    rows) in the connection's search path. Installs the extension if it is
    available but not yet installed. Safe to call any number of times.
    """
    if cfg.retention_days <= 0 or cfg.compress_after_days <= 0:
        raise MigrationError(
            "setup_timescale: store.retention_days and store.compress_after_days must be positive "
            f"(got {cfg.retention_days} and {cfg.compress_after_days})"
        )
    with conn.transaction():
        if not timescale_installed(conn):
            if not timescale_available(conn):
                raise MigrationError("setup_timescale: the timescaledb extension is not available on this server")
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        ts = _Timescale.load(conn)
        for table in HYPERTABLES:
            schema = ts.table_schema(table)
            ts.create_hypertable(schema, table)
            ts.enable_compression(schema, table)
            ts.ensure_policy(
                schema,
                table,
                proc="policy_compression",
                add="add_compression_policy",
                remove="remove_compression_policy",
                key="compress_after",
                days=cfg.compress_after_days,
            )
            ts.ensure_policy(
                schema,
                table,
                proc="policy_retention",
                add="add_retention_policy",
                remove="remove_retention_policy",
                key="drop_after",
                days=cfg.retention_days,
            )
        ts.create_hourly_aggregate(ts.table_schema("readings"))


@dataclass(frozen=True, slots=True)
class _Timescale:
    conn: psycopg.Connection[Any]
    # Schema the extension's functions live in (public, unless installed elsewhere).
    ext_schema: str
    version: tuple[int, ...]
    # create_hypertable(rel, by_range(...)) exists (2.13+); older: create_hypertable(rel, 'ts', ...).
    has_by_range: bool

    @classmethod
    def load(cls, conn: psycopg.Connection[Any]) -> _Timescale:
        row = conn.execute(
            """
            SELECT e.extversion, n.nspname FROM pg_extension e
            JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = %s
            """,
            (EXTENSION,),
        ).fetchone()
        if row is None:
            raise MigrationError("setup_timescale: the timescaledb extension is not installed")
        version = _parse_version(str(row[0]))
        if version[:2] < MIN_VERSION:
            raise MigrationError(
                f"setup_timescale: TimescaleDB {row[0]} is too old; "
                f"{'.'.join(map(str, MIN_VERSION))} or newer is needed"
            )
        license_row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
        if _apache_only(license_row[0] if license_row else None):
            raise MigrationError(
                "setup_timescale: this TimescaleDB runs the Apache-2-only edition "
                "(timescaledb.license = 'apache'), which lacks compression, continuous aggregates "
                "and policies; set timescaledb.license = 'timescale' in postgresql.conf, or use a "
                "server without TimescaleDB (native partitions)"
            )
        by_range = conn.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM pg_depend d
                JOIN pg_extension e ON e.oid = d.refobjid
                JOIN pg_proc p ON p.oid = d.objid
                WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
                  AND e.extname = %s AND p.proname = 'by_range')
            """,
            (EXTENSION,),
        ).fetchone()
        return cls(
            conn=conn,
            ext_schema=str(row[1]),
            version=version,
            has_by_range=bool(by_range and by_range[0]),
        )

    def fn(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.ext_schema), sql.Identifier(name))

    def table_schema(self, table: str) -> str:
        row = self.conn.execute(
            """
            SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass(%s)
            """,
            (table,),
        ).fetchone()
        if row is None:
            raise MigrationError(f"setup_timescale: table {table!r} does not exist; create it first")
        return str(row[0])

    def create_hypertable(self, schema: str, table: str) -> None:
        rel = sql.Literal(f"{_quote(schema)}.{_quote(table)}")
        if self.has_by_range:
            stmt = sql.SQL(
                "SELECT {fn}({rel}::regclass, {by_range}('ts', INTERVAL {chunk}),"
                " if_not_exists => true, migrate_data => true)"
            ).format(
                fn=self.fn("create_hypertable"),
                rel=rel,
                by_range=self.fn("by_range"),
                chunk=sql.Literal(CHUNK_INTERVAL),
            )
        else:
            stmt = sql.SQL(
                "SELECT {fn}({rel}::regclass, 'ts', chunk_time_interval => INTERVAL {chunk},"
                " if_not_exists => true, migrate_data => true)"
            ).format(fn=self.fn("create_hypertable"), rel=rel, chunk=sql.Literal(CHUNK_INTERVAL))
        self.conn.execute(stmt)

    def enable_compression(self, schema: str, table: str) -> None:
        rows = self.conn.execute(
            """
            SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc, orderby_nullsfirst
            FROM timescaledb_information.compression_settings
            WHERE hypertable_schema = %s AND hypertable_name = %s
            """,
            (schema, table),
        ).fetchall()
        segmentby = tuple(str(r[0]) for r in sorted((r for r in rows if r[1] is not None), key=lambda r: r[1]))
        orderby = tuple(
            (str(r[0]), bool(r[3]), bool(r[4]))
            for r in sorted((r for r in rows if r[2] is not None), key=lambda r: r[2])
        )
        if segmentby == COMPRESS_SEGMENTBY and orderby == _ORDERBY_SETTINGS:
            return
        self.conn.execute(
            sql.SQL(
                "ALTER TABLE {rel} SET (timescaledb.compress,"
                " timescaledb.compress_segmentby = {segmentby},"
                " timescaledb.compress_orderby = {orderby})"
            ).format(
                rel=sql.Identifier(schema, table),
                segmentby=sql.Literal(", ".join(COMPRESS_SEGMENTBY)),
                orderby=sql.Literal(COMPRESS_ORDERBY),
            )
        )

    def ensure_policy(
        self,
        schema: str,
        table: str,
        *,
        proc: str,
        add: str,
        remove: str,
        key: str,
        days: int,
    ) -> None:
        """Exactly one job of kind `proc` on the table, with `config->key` = `days` days."""
        row = self.conn.execute(
            """
            SELECT job_id, (config->>%s)::interval = make_interval(days => %s)
            FROM timescaledb_information.jobs
            WHERE proc_name = %s AND hypertable_schema = %s AND hypertable_name = %s
            """,
            (key, days, proc, schema, table),
        ).fetchone()
        if row is not None and row[1]:
            return
        rel = sql.Literal(f"{_quote(schema)}.{_quote(table)}")
        if row is not None:
            self.conn.execute(
                sql.SQL("SELECT {fn}({rel}::regclass, if_exists => true)").format(fn=self.fn(remove), rel=rel)
            )
        self.conn.execute(
            sql.SQL("SELECT {fn}({rel}::regclass, {key} => make_interval(days => {days}))").format(
                fn=self.fn(add), rel=rel, key=sql.Identifier(key), days=sql.Literal(days)
            )
        )

    def create_hourly_aggregate(self, schema: str) -> None:
        cagg = self.conn.execute(
            """
            SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates
                           WHERE view_schema = %s AND view_name = %s)
            """,
            (schema, HOURLY_VIEW),
        ).fetchone()
        if not (cagg and cagg[0]):
            other = self.conn.execute(
                """
                SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND c.relname = %s
                """,
                (schema, HOURLY_VIEW),
            ).fetchone()
            if other is not None:
                raise MigrationError(
                    f"setup_timescale: {schema}.{HOURLY_VIEW} exists but is not a continuous aggregate "
                    f"(pg_class.relkind {other[0]!r}); drop it (it can be rebuilt from readings) and "
                    "run the migration again"
                )
            # materialized_only: read only what the refresh job has materialized, like the
            # plain readings_hourly table of the non-Timescale layout (and the default since 2.13).
            self.conn.execute(
                sql.SQL(
                    """
                    CREATE MATERIALIZED VIEW {view}
                    WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
                    SELECT {time_bucket}(INTERVAL '1 hour', ts) AS bucket,
                           site_id, device_id, metric,
                           count(*) AS n, avg(value) AS avg, min(value) AS min, max(value) AS max
                    FROM {readings}
                    GROUP BY bucket, site_id, device_id, metric
                    WITH NO DATA
                    """
                ).format(
                    view=sql.Identifier(schema, HOURLY_VIEW),
                    time_bucket=self.fn("time_bucket"),
                    readings=sql.Identifier(schema, "readings"),
                )
            )
        self._ensure_refresh_policy(schema)

    def _ensure_refresh_policy(self, schema: str) -> None:
        row = self.conn.execute(
            """
            SELECT job_id,
                   (config->>'start_offset')::interval = %s::interval
                   AND (config->>'end_offset')::interval = %s::interval
                   AND schedule_interval = %s::interval
            FROM timescaledb_information.jobs
            WHERE proc_name = 'policy_refresh_continuous_aggregate'
              AND hypertable_schema = %s AND hypertable_name = %s
            """,
            (HOURLY_START_OFFSET, HOURLY_END_OFFSET, HOURLY_SCHEDULE, schema, HOURLY_VIEW),
        ).fetchone()
        if row is not None and row[1]:
            return
        view = sql.Literal(f"{_quote(schema)}.{_quote(HOURLY_VIEW)}")
        if row is not None:
            self.conn.execute(
                sql.SQL("SELECT {fn}({view}::regclass, if_exists => true)").format(
                    fn=self.fn("remove_continuous_aggregate_policy"), view=view
                )
            )
        self.conn.execute(
            sql.SQL(
                "SELECT {fn}({view}::regclass, start_offset => INTERVAL {start},"
                " end_offset => INTERVAL {end}, schedule_interval => INTERVAL {every})"
            ).format(
                fn=self.fn("add_continuous_aggregate_policy"),
                view=view,
                start=sql.Literal(HOURLY_START_OFFSET),
                end=sql.Literal(HOURLY_END_OFFSET),
                every=sql.Literal(HOURLY_SCHEDULE),
            )
        )


def _parse_version(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("-", 1)[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _quote(ident: str) -> str:
    """Double-quote an identifier for use inside a string literal (regclass text, option lists)."""
    return '"' + ident.replace('"', '""') + '"'


__all__ = [
    "setup_timescale",
    "timescale_available",
    "timescale_installed",
    "timescale_version",
]
