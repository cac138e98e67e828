-- Tracked hazards (隐患) and their timelines (relic_guard/store/hazard_store.py, lifecycle in
-- relic_guard/hazards/model.py). A hazard is raised from a patrol, an inspection, an alert or a
-- custodian's report (007), and is followed until it is closed with evidence: the city tracks
-- major hazards until closed (督办), and the annual report counts hazards rectified on time.

-- No foreign key to `sites`, as for hazard_reports (007): the record outlives a site renamed or
-- removed from sites.csv.
CREATE TABLE hazards (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     text COLLATE "C" NOT NULL,
    source      text NOT NULL CHECK (source IN ('patrol', 'inspection', 'alert', 'report')),
    -- what raised it in its source: a patrol or inspection id, an alert id, a hazard_reports id
    source_ref  text,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL CHECK (length(description) <= 2000),
    severity    text NOT NULL CHECK (severity IN ('major', 'general')),  -- 重大隐患 / 一般隐患
    owner       text NOT NULL CHECK (length(owner) > 0),
    found_at    timestamptz NOT NULL,
    -- the last day to rectify, in China's calendar (working days from the day found)
    deadline    date NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'rectifying', 'closed', 'cancelled')),
    plan        text,
    -- set when the hazard stops being anyone's job (closed or cancelled), cleared on reopen
    closed_at   timestamptz,
    closed_by   text,
    -- [{kind: photo|document, url | photo_sha256, note}]; a reopened hazard starts empty again
    evidence    jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(evidence) = 'array'),
    updated_at  timestamptz NOT NULL,
    CONSTRAINT hazards_closed_when_finished CHECK ((status IN ('closed', 'cancelled')) = (closed_at IS NOT NULL)),
    -- the rule the lifecycle enforces, kept here too so no other writer can close without proof
    CONSTRAINT hazards_closed_with_evidence CHECK (status <> 'closed' OR jsonb_array_length(evidence) > 0)
);
-- A report becomes at most one hazard: making it twice (two triagers, a double click) finds the first.
CREATE UNIQUE INDEX hazards_from_report_uq ON hazards (source_ref) WHERE source = 'report';
-- The open list and the overdue scan read open hazards by deadline.
CREATE INDEX hazards_open_deadline_idx ON hazards (deadline, id) WHERE status IN ('open', 'rectifying');
CREATE INDEX hazards_site_idx ON hazards (site_id, found_at DESC);

-- Every move of a hazard, with who made it and why (reasons, plans, evidence): the full-process
-- record (全过程记录) the supervisors read. Appended only.
CREATE TABLE hazard_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hazard_id bigint NOT NULL REFERENCES hazards (id),
    at        timestamptz NOT NULL,
    kind      text NOT NULL,
    actor     text NOT NULL,
    detail    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX hazard_events_hazard_idx ON hazard_events (hazard_id, id);
