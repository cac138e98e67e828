-- Every run of a scheduled job: which daemon ran it, when, and how it ended. With several daemons
-- exactly one runs the schedule (a PostgreSQL advisory lock); this is where that shows.
CREATE TABLE schedule_runs (
    id          bigserial PRIMARY KEY,
    job         text NOT NULL,
    instance    text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    ok          boolean NOT NULL,
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX schedule_runs_job_idx ON schedule_runs (job, started_at);
