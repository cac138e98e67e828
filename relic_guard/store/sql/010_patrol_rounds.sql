-- Patrol rounds (巡查任务): one row per round planned from the routes file, kept up to date by
-- the patrol job (relic_guard.patrols.store). The id is the planner's stable round id, so planning
-- a span twice, or after downtime, inserts nothing new for rounds already there.
CREATE TABLE patrol_rounds (
    id           text COLLATE "C" PRIMARY KEY,
    route_id     text COLLATE "C" NOT NULL,
    site_id      text COLLATE "C" NOT NULL,
    kind         text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'complete', 'late', 'partial', 'missed')),
    -- Checkpoint ids in route order.
    done         jsonb NOT NULL DEFAULT '[]',
    missing      jsonb NOT NULL DEFAULT '[]',
    late_by_s    double precision NOT NULL DEFAULT 0,
    evaluated_at timestamptz,
    -- The window and its grace period have passed: the status no longer changes.
    final        boolean NOT NULL DEFAULT false,
    -- The final round has been through `take_alerts`: its alert, if its status calls for one,
    -- was handed to the alert service. Never offered twice.
    alerted      boolean NOT NULL DEFAULT false,
    -- Names as of planning, so the custodian's page can show them without the routes file.
    route_name   text NOT NULL DEFAULT '',
    checkpoint_names jsonb NOT NULL DEFAULT '{}',
    CHECK (window_end > window_start)
);
CREATE INDEX patrol_rounds_site_start_idx ON patrol_rounds (site_id, window_start);
-- The job's work list: the rounds still open to change.
CREATE INDEX patrol_rounds_open_idx ON patrol_rounds (window_start) WHERE NOT final;
-- The previous final round of a route, for "missed twice in a row".
CREATE INDEX patrol_rounds_route_final_idx ON patrol_rounds (route_id, window_start) WHERE final;
