-- A round of a route taken out of the routes file before the round was over is `withdrawn`: final,
-- never alerted, and counted neither as done nor as due (relic_guard.patrols.store.withdraw_removed).
-- Without it such rounds would stay pending for ever, on the custodian's page and in the counts.
ALTER TABLE patrol_rounds DROP CONSTRAINT patrol_rounds_status_check;
ALTER TABLE patrol_rounds ADD CONSTRAINT patrol_rounds_status_check
    CHECK (status IN ('pending', 'complete', 'late', 'partial', 'missed', 'withdrawn'));
