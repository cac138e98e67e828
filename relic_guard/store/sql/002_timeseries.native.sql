-- Native PostgreSQL: readings and events partitioned by day on ts.
-- Daily partitions (readings_pYYYYMMDD, events_pYYYYMMDD) are created by the
-- maintenance job (relic_guard.store.partitions); the DEFAULT partitions catch
-- rows outside every daily partition (late stragglers, or before the first run).

CREATE TABLE readings (
    ts              timestamptz NOT NULL,
    site_id         text COLLATE "C" NOT NULL,
    device_id       text COLLATE "C" NOT NULL,
    metric          text COLLATE "C" NOT NULL,
    value           double precision NOT NULL,
    ts_from_receive boolean NOT NULL DEFAULT false,
    CONSTRAINT readings_key UNIQUE (site_id, device_id, metric, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE readings_default PARTITION OF readings DEFAULT;

CREATE TABLE events (
    ts              timestamptz NOT NULL,
    site_id         text COLLATE "C" NOT NULL,
    device_id       text COLLATE "C" NOT NULL,
    source          text NOT NULL,
    type            text NOT NULL,
    zone            text,
    clear           boolean NOT NULL DEFAULT false,
    event_key       text COLLATE "C" NOT NULL,
    attrs           jsonb NOT NULL DEFAULT '{}',
    received_at     timestamptz NOT NULL DEFAULT now(),
    ts_from_receive boolean NOT NULL DEFAULT false,
    CONSTRAINT events_key UNIQUE (site_id, device_id, event_key, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX events_site_ts_idx ON events (site_id, ts);
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Filled by the maintenance job; in TimescaleDB mode the continuous aggregate of the same name
-- and columns stands here. Unique key column order serves the per-series range queries.
CREATE TABLE readings_hourly (
    bucket    timestamptz NOT NULL,
    site_id   text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    metric    text COLLATE "C" NOT NULL,
    n         bigint NOT NULL,
    avg       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    CONSTRAINT readings_hourly_key UNIQUE (site_id, device_id, metric, bucket)
);
CREATE INDEX readings_hourly_bucket_idx ON readings_hourly (bucket);
