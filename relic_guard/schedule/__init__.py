"""Scheduled work (patrol rounds, inspections, hazard deadlines): APScheduler as the clock, the
database as the plan, one daemon at a time (`leader`)."""
