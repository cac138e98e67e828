-- Inspections (检查) and 双随机 draws (relic_guard/inspections/). Three kinds of inspection share one
-- table, because they share a life (planned → assigned → done, or cancelled) and the annual report
-- counts them side by side:
--   district_supervision: the city's yearly supervision of a district (每年督察一次);
--   site_evaluation:      the district's yearly inspection and evaluation of each protected site;
--   fire_random:          a 双随机 fire inspection, made by a stored draw (draws below).
-- The id is stable for planned ones (`2026/district_supervision/历下区`, `2026/site_evaluation/S001`),
-- so planning a year twice, or after downtime, inserts nothing new; a draw's inspections are
-- `draw/<draw id>/<target id>`.

-- A stored draw: what was published (seed, period, count, the canonical input and its fingerprint)
-- and what came out, so anyone can re-run it from this row alone. Appended only.
CREATE TABLE draws (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period      text NOT NULL,          -- as given: 2026-12, 2026-Q4, 2026-H2
    period_start date NOT NULL,
    period_end  date NOT NULL,
    seed        text NOT NULL,
    count       integer NOT NULL CHECK (count >= 0),
    per_target  integer NOT NULL CHECK (per_target >= 1),
    algorithm   text NOT NULL,
    fingerprint text COLLATE "C" NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    -- canonical_input(...) of relic_guard/inspections/draw.py: inspectors, targets, history
    input       jsonb NOT NULL,
    -- assignments and skips as published
    result      jsonb NOT NULL,
    drawn_at    timestamptz NOT NULL,
    drawn_by    text NOT NULL,
    CHECK (period_end >= period_start)
);
-- The same published draw stored twice (a retried command) is one draw.
CREATE UNIQUE INDEX draws_published_uq ON draws (period, seed, fingerprint, count, per_target);

-- No foreign key to `sites`: the record outlives a site renamed or removed from sites.csv, and a
-- draw's targets are places (units) that need not be registered sites.
CREATE TABLE inspections (
    id           text COLLATE "C" PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('district_supervision', 'site_evaluation', 'fire_random')),
    year         integer NOT NULL CHECK (year BETWEEN 2000 AND 2200),
    district     text NOT NULL,
    -- the site (site_evaluation) or draw target (fire_random); NULL for a district supervision
    site_id      text COLLATE "C",
    target_name  text NOT NULL DEFAULT '',
    draw_id      bigint REFERENCES draws (id),
    -- a 复查: checks that earlier findings were put right; not counted by the draw's rules
    reinspection boolean NOT NULL DEFAULT false,
    due_on       date NOT NULL,
    status       text NOT NULL DEFAULT 'planned'
                 CHECK (status IN ('planned', 'assigned', 'done', 'cancelled')),
    -- inspectors' ids (logins or draw inspector ids), in team order
    assignees    jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(assignees) = 'array'),
    done_on      date,
    -- the evaluation: 'good' | 'fair' | 'poor' (优/中/差), set when done
    rating       text CHECK (rating IN ('good', 'fair', 'poor')),
    summary      text NOT NULL DEFAULT '',
    -- [{title, description, severity, hazard_id}]: each finding that is a hazard is tracked as one
    findings     jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(findings) = 'array'),
    -- [{photo_sha256 | url, note}]: photos are kept in hazard_photos (007), content-addressed
    attachments  jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(attachments) = 'array'),
    cancel_reason text,
    updated_at   timestamptz NOT NULL,
    updated_by   text NOT NULL,
    CHECK ((kind = 'district_supervision') = (site_id IS NULL)),
    CHECK ((kind = 'fire_random') = (draw_id IS NOT NULL)),
    CHECK ((status = 'done') = (done_on IS NOT NULL)),
    CHECK (status <> 'done' OR rating IS NOT NULL),
    CHECK ((status = 'cancelled') = (cancel_reason IS NOT NULL))
);
CREATE INDEX inspections_year_idx ON inspections (year, kind, district);
-- The overdue scan reads what is not finished by due date.
CREATE INDEX inspections_open_due_idx ON inspections (due_on) WHERE status IN ('planned', 'assigned');
-- A draw's history: routine inspections of a target, by date.
CREATE INDEX inspections_site_done_idx ON inspections (site_id, done_on) WHERE status = 'done';

-- Every move of an inspection, with who made it (全过程记录). Appended only; each entry is also
-- in the audit trail (003).
CREATE TABLE inspection_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inspection_id text COLLATE "C" NOT NULL REFERENCES inspections (id),
    at            timestamptz NOT NULL,
    kind          text NOT NULL,
    actor         text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX inspection_events_inspection_idx ON inspection_events (inspection_id, id);

-- What the inspection job has sent for an overdue inspection, so a reminder goes out once across
-- runs, restarts and instances (as hazard_deadline_state, 011).
CREATE TABLE inspection_overdue_state (
    inspection_id text COLLATE "C" PRIMARY KEY REFERENCES inspections (id),
    due_on        date NOT NULL,
    steps_done    integer NOT NULL DEFAULT 0 CHECK (steps_done >= 0),
    -- set when the inspection was done or cancelled after notices went out, and its overdue
    -- alerts were ended: each is ended once, across runs and instances
    ended_at      timestamptz,
    updated_at    timestamptz NOT NULL
);
