"""The store: batches of records into PostgreSQL, with TimescaleDB when it is there.

Entry points: `migrate(conn)` at start-up, `maintain(conn, cfg, now)` from the
scheduler, `DurableSink` in the ingest workers (database, else disk spool),
`sync_registry` after loading the sheets, and the read queries in `queries`.

Two modes, chosen once when the time-series tables are created (migration
002) and read back from the catalog afterwards (`store_mode`):

Objects in BOTH modes (same names, same columns):
  schema_migrations(version, name, applied_at)
  sites(id pk, name, district, level, kind, lat, lon, custodians text[], boundary_wkt,
        open_hours text, auto_register, updated_at)
  devices(site_id, id, source, kind, zone, heartbeat_s, external_id, updated_at; pk (site_id, id))
  device_status(site_id, device_id, online, changed_at; pk (site_id, device_id))
  quarantine(id bigserial pk, received_at, topic, reason, detail, payload bytea, payload_size)
      + quarantine_received_at_idx (received_at), quarantine_reason_idx (reason, received_at)
  rollup_backlog(id, frm, until, noted_at): hours of late readings (native mode consumes it)
  readings(ts, site_id, device_id, metric, value, ts_from_receive)
      constraint readings_key UNIQUE (site_id, device_id, metric, ts)
  events(ts, site_id, device_id, source, type, zone, clear, event_key, attrs jsonb,
         received_at default now(), ts_from_receive)
      constraint events_key UNIQUE (site_id, device_id, event_key, ts); index events_site_ts_idx (site_id, ts)
  readings_hourly(bucket, site_id, device_id, metric, n bigint, avg, min, max double precision)
      buckets are UTC hours (date_trunc('hour', ts, 'UTC') = time_bucket('1 hour', ts))

Native mode (no TimescaleDB; sql/002_timeseries.native.sql):
  readings, events: PARTITION BY RANGE (ts); daily partitions readings_pYYYYMMDD /
      events_pYYYYMMDD ([00:00 UTC, next 00:00 UTC)) made by the maintenance job;
      DEFAULT partitions readings_default, events_default.
  readings_hourly: a plain table, UNIQUE (site_id, device_id, metric, bucket) as
      readings_hourly_key, index on bucket; filled by the maintenance job.

TimescaleDB mode (sql/002_timeseries.timescale.sql, then in the SAME transaction
relic_guard.store.timescale.setup_timescale(conn, cfg)):
  readings, events: created here as plain tables with the keys above; setup_timescale
      makes them hypertables on ts (the unique keys include ts, as hypertables require)
      and adds compression and retention.
  readings_hourly: NOT created here; setup_timescale creates it as a continuous
      aggregate with the columns above (time_bucket('1 hour', ts) AS bucket) and its
      refresh policy. It runs inside a transaction, so the view must be created
      WITH NO DATA (Timescale refuses WITH DATA in a transaction block).
"""

from __future__ import annotations

from relic_guard.spool import Spool, SpoolFull
from relic_guard.store.partitions import MaintenanceReport, maintain, plan_partitions
from relic_guard.store.registry_sync import sync_registry
from relic_guard.store.schema import Mode, migrate, store_mode
from relic_guard.store.sink import Durability, DurableSink
from relic_guard.store.writer import WriteCounts, write_batch

__all__ = [
    "Durability",
    "DurableSink",
    "MaintenanceReport",
    "Mode",
    "Spool",
    "SpoolFull",
    "WriteCounts",
    "maintain",
    "migrate",
    "plan_partitions",
    "store_mode",
    "sync_registry",
    "write_batch",
]
