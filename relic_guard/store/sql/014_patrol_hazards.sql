-- Hazards a custodian reports during a patrol arrive as `patrol`/`hazard` events (CONTRACT §1)
-- and become tracked hazards (source 'patrol', source_ref 'event:<site>/<device>/<event key>') by the
-- hazard job (relic_guard/hazards/job.py). A redelivered or replayed event is one hazard:
CREATE UNIQUE INDEX hazards_from_patrol_event_uq ON hazards (source_ref)
    WHERE source = 'patrol' AND source_ref LIKE 'event:%';
-- The job's scan of recent patrol hazard events, without reading every video and alarm event.
CREATE INDEX events_patrol_hazard_idx ON events (ts) WHERE source = 'patrol' AND type = 'hazard';
