-- What the hazard job (relic_guard/hazards/job.py) has already sent for each hazard's deadline:
-- the `DeadlineState` of relic_guard/hazards/deadlines.py. Kept in the database, not in memory,
-- so a reminder or an escalation goes out once across runs, restarts and daemon instances.
-- A hazard without a row has had nothing sent yet.
CREATE TABLE hazard_deadline_state (
    hazard_id      bigint PRIMARY KEY REFERENCES hazards (id),
    -- the deadline the counts below are for: when the hazard's deadline changes (reopened,
    -- extended), the planner starts a fresh count
    deadline       date,
    reminders_sent integer NOT NULL DEFAULT 0 CHECK (reminders_sent >= 0),
    steps_done     integer NOT NULL DEFAULT 0 CHECK (steps_done >= 0),
    -- the deadline audiences told of the overdue hazard so far (owner, district_bureau, city_bureau)
    escalated_to   jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(escalated_to) = 'array'),
    updated_at     timestamptz NOT NULL
);
