-- TimescaleDB: the same readings and events columns and unique keys as the native
-- variant, as plain tables; relic_guard.store.timescale.setup_timescale() (run in the
-- same transaction right after this file) turns them into hypertables and creates
-- the continuous aggregate readings_hourly.

CREATE TABLE readings (
    ts              timestamptz NOT NULL,
    site_id         text COLLATE "C" NOT NULL,
    device_id       text COLLATE "C" NOT NULL,
    metric          text COLLATE "C" NOT NULL,
    value           double precision NOT NULL,
    ts_from_receive boolean NOT NULL DEFAULT false,
    CONSTRAINT readings_key UNIQUE (site_id, device_id, metric, ts)
);

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
);
CREATE INDEX events_site_ts_idx ON events (site_id, ts);
