-- The annual supervision report (relic_guard/report/): a daily rollup of device health, so a
-- district-year is read from a few hundred thousand rows instead of tens of millions of readings,
-- and the record of the reports made (by the January schedule or on request from the dashboard).

-- One row per registered device and China calendar day ([00:00, 24:00) +08:00), from the day the
-- device was first heard of (relic_guard/report/rollups.py fills it; the maintenance job keeps it
-- up to date). A device counts as offline, as the alert engine judges it (alerts/rules/devices.py),
-- from an `offline` status until its next record of any kind, and, when it has a heartbeat,
-- from `heartbeat_s` after a record until the next one. `last_at`/`last_offline` carry the
-- device's last record into the next day, so a silence that spans days is counted on each of them.
CREATE TABLE device_days (
    day          date NOT NULL,
    site_id      text COLLATE "C" NOT NULL,
    device_id    text COLLATE "C" NOT NULL,
    -- readings rows and events (status changes included) stored for the device that day
    records      bigint NOT NULL CHECK (records >= 0),
    -- seconds of the day the device was offline, and seconds since it was first heard of (at most a day)
    offline_s    double precision NOT NULL CHECK (offline_s >= 0),
    observed_s   double precision NOT NULL CHECK (observed_s >= 0 AND observed_s <= 86400),
    last_at      timestamptz NOT NULL,
    last_offline boolean NOT NULL,
    PRIMARY KEY (site_id, device_id, day),
    CHECK (offline_s <= observed_s + 1e-6)
);
CREATE INDEX device_days_day_idx ON device_days (day);

-- The days rolled up, and when: the report rolls what is missing before it reads, and the
-- maintenance job continues from the last day here.
CREATE TABLE device_days_done (
    day        date PRIMARY KEY,
    rolled_at  timestamptz NOT NULL
);

-- Reports made or asked for. A request (from the dashboard, or the schedule's own for last year
-- in January) is made by the report job on the schedule leader, which writes the files into
-- `[reports] out_dir` and keeps a copy here, so every daemon can serve the download.
-- `district` NULL: every district and the city summary.
CREATE TABLE annual_reports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    year          integer NOT NULL CHECK (year BETWEEN 2000 AND 2200),
    district      text,
    status        text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'done', 'failed')),
    -- 'schedule' (the January run) or 'request' (a person asked)
    origin        text NOT NULL CHECK (origin IN ('schedule', 'request')),
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL,
    finished_at   timestamptz,
    -- where the files were written, and what went wrong for a failed one
    folder        text,
    detail        text NOT NULL DEFAULT '',
    CHECK ((status = 'requested') = (finished_at IS NULL))
);
CREATE INDEX annual_reports_year_idx ON annual_reports (year DESC, id DESC);
CREATE INDEX annual_reports_requested_idx ON annual_reports (id) WHERE status = 'requested';
-- The schedule asks once per year, whatever the number of daemons or runs.
CREATE UNIQUE INDEX annual_reports_scheduled_uq ON annual_reports (year) WHERE origin = 'schedule';

CREATE TABLE annual_report_files (
    report_id    bigint NOT NULL REFERENCES annual_reports (id),
    -- the file's name in the folder (a CSV's name includes its subfolder: `2026-历下区-csv/cases.csv`)
    name         text NOT NULL,
    -- the district the file is about ('' for the city summary)
    district     text NOT NULL,
    content_type text NOT NULL,
    bytes        bytea NOT NULL,
    PRIMARY KEY (report_id, name)
);
-- PDF, XLSX and PNG are compressed already; CSV and HTML are small.
ALTER TABLE annual_report_files ALTER COLUMN bytes SET STORAGE EXTERNAL;
