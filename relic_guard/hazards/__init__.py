"""Hazard (隐患) tracking: the lifecycle (`model`), working-day arithmetic in China's calendar
(`workdays`) and the reminder/escalation planner for rectification deadlines (`deadlines`). All
pure; the PostgreSQL side is `relic_guard.store.hazard_store`."""
