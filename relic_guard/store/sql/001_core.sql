-- Mode-independent objects: the registry mirror, device status, quarantine, rollup backlog.
-- Identifier columns (site, device, metric ids: ASCII by the contract) are COLLATE "C" here and in
-- the time-series tables: byte comparison makes the unique-key index of readings ~1.4x faster to
-- fill than a libc locale (bench/store_write.py), and equal collations keep joins between them legal.

CREATE TABLE sites (
    id            text COLLATE "C" PRIMARY KEY,
    name          text NOT NULL,
    district      text NOT NULL DEFAULT '',
    level         text NOT NULL DEFAULT '',
    kind          text NOT NULL DEFAULT '',
    lat           double precision,
    lon           double precision,
    custodians    text[] NOT NULL DEFAULT '{}',
    boundary_wkt  text,
    open_hours    text,
    auto_register boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    site_id     text COLLATE "C" NOT NULL REFERENCES sites (id) ON UPDATE CASCADE ON DELETE CASCADE,
    id          text COLLATE "C" NOT NULL,
    source      text NOT NULL,
    kind        text NOT NULL DEFAULT '',
    zone        text,
    heartbeat_s integer,
    external_id text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, id)
);
CREATE INDEX devices_external_id_idx ON devices (external_id) WHERE external_id IS NOT NULL;

-- Last known state per device; no foreign key: auto-registered devices are not in `devices`.
CREATE TABLE device_status (
    site_id    text COLLATE "C" NOT NULL,
    device_id  text COLLATE "C" NOT NULL,
    online     boolean NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (site_id, device_id)
);

-- CONTRACT §4: what a device sent that we could not accept, raw bytes kept.
CREATE TABLE quarantine (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    topic        text NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL DEFAULT '',
    payload      bytea NOT NULL,
    payload_size integer NOT NULL
);
CREATE INDEX quarantine_received_at_idx ON quarantine (received_at);
CREATE INDEX quarantine_reason_idx ON quarantine (reason, received_at);

-- Native mode: time ranges of readings that arrived late (spool replay after an outage),
-- older than the window the maintenance job re-aggregates anyway; the job re-aggregates
-- these hours and empties the table. TimescaleDB mode tracks this itself (invalidation log).
CREATE TABLE rollup_backlog (
    id        bigserial PRIMARY KEY,
    frm       timestamptz NOT NULL,
    until     timestamptz NOT NULL,
    noted_at  timestamptz NOT NULL DEFAULT now()
);
