-- Alerts, their timelines and their deliveries, as the alert journal writes them
-- (relic_guard/store/alerts.py). The audit trail (003) holds the same history hash-chained;
-- these tables are what the API and the daemon's restart read.
-- Identifier columns are COLLATE "C" as in 001_core.sql. Enumerated values (status, category,
-- severity, …) carry no CHECK constraint on purpose: a value added in code must never make the
-- journal's writes fail.

-- One row per alert, replaced by its newest snapshot. `data` is the whole alert as msgspec JSON
-- (decoded back into alerts.model.Alert); the other columns copy fields out of it for queries.
CREATE TABLE alerts (
    id              text COLLATE "C" PRIMARY KEY,
    site_id         text COLLATE "C" NOT NULL,
    device_id       text COLLATE "C" NOT NULL,
    rule            text COLLATE "C" NOT NULL,
    category        text NOT NULL,
    severity        text NOT NULL,
    status          text NOT NULL,
    title           text NOT NULL,
    zone            text,
    confirmed       boolean NOT NULL,
    drill           boolean NOT NULL,
    count           integer NOT NULL,
    opened_at       timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    acknowledged_by text,
    acknowledged_at timestamptz,
    assigned_to     text,
    resolved_by     text,
    resolved_at     timestamptz,
    classification  text,
    note            text,
    data            jsonb NOT NULL,
    -- when this row was last replaced (the database's clock, not the engine's)
    written_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_open_idx ON alerts (site_id, opened_at) WHERE status IN ('open', 'acknowledged');
CREATE INDEX alerts_site_opened_idx ON alerts (site_id, opened_at DESC);
CREATE INDEX alerts_opened_idx ON alerts (opened_at DESC);

-- One line of an alert's history. No foreign key to `alerts`: a timeline entry may be
-- written in a batch before its alert's snapshot, and history is never refused.
CREATE TABLE alert_timeline (
    id       bigserial PRIMARY KEY,
    alert_id text COLLATE "C" NOT NULL,
    at       timestamptz NOT NULL,
    kind     text NOT NULL,
    actor    text NOT NULL,
    detail   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_timeline_alert_idx ON alert_timeline (alert_id, at, id);

-- How each notification to one recipient over one channel ended. A delivery id is unique per
-- (recipient, channel, event instance); the key also carries channel and fallback so that a
-- dispatcher reusing one id for the fallback attempt still gets a row for each. A repeated
-- write of the same record (a batch retried after its commit's answer was lost) is absorbed.
CREATE TABLE deliveries (
    id          bigserial PRIMARY KEY,
    delivery_id text COLLATE "C" NOT NULL,
    alert_id    text COLLATE "C" NOT NULL,
    event       text NOT NULL,
    recipient   text COLLATE "C" NOT NULL,
    channel     text COLLATE "C" NOT NULL,
    target      text NOT NULL,
    fallback    boolean NOT NULL,
    delivered   boolean NOT NULL,
    attempts    integer NOT NULL,
    status      text NOT NULL,
    gave_up     text,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    CONSTRAINT deliveries_key UNIQUE (delivery_id, channel, fallback)
);
CREATE INDEX deliveries_alert_idx ON deliveries (alert_id, started_at);
CREATE INDEX deliveries_undelivered_idx ON deliveries (finished_at) WHERE NOT delivered;

-- Batches the alert journal has committed, by the id it gave each: a batch written again
-- (its commit went through but the answer was lost, or it came back from the journal's
-- pending file) is recognised and skipped, so timeline and audit entries are not doubled.
-- Rows older than 30 days are pruned by the journal's writes.
CREATE TABLE alert_journal_batches (
    id         text COLLATE "C" PRIMARY KEY,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_journal_batches_written_idx ON alert_journal_batches (written_at);
