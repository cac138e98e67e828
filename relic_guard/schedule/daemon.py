"""The daemon's schedule: which jobs it runs, built from the configuration.

Jobs run in worker threads (they talk to the database); what they find that people must hear of
goes to the alert service on the event loop, and the job waits for it to be taken, so a job whose
alerts were not raised rolls back and offers them again at its next run.
"""

from __future__ import annotations

import asyncio
import os
import socket

from relic_guard.alerting.service import AlertService
from relic_guard.config import Config
from relic_guard.hazards.alerting import raise_hazard_notice
from relic_guard.hazards.job import JOB_NAME as HAZARD_JOB_NAME
from relic_guard.hazards.job import HazardNotice, make_hazard_job
from relic_guard.patrols.alerting import raise_patrol_alert
from relic_guard.patrols.job import make_patrol_job
from relic_guard.patrols.rounds import PatrolAlert
from relic_guard.patrols.routes_load import load_routes
from relic_guard.registry import Registry
from relic_guard.schedule.runner import Job, Schedule

# How long a job waits for the event loop to take its alerts before giving up (and rolling back).
HAND_OVER_TIMEOUT_S = 30.0
# Reminders and escalations are due at 09:00 China time; a few minutes late is still the morning,
# and new reports become hazards (with an owner told by their deadline) within as long.
HAZARD_JOB_INTERVAL_S = 300.0


def build_schedule(
    config: Config, registry: Registry, service: AlertService, loop: asyncio.AbstractEventLoop, audit_key: bytes
) -> Schedule | None:
    """The schedule, or None without a database: hazard deadlines are always watched, patrol
    rounds when a routes file is set. Raises ConfigError for a routes file that does not load (at
    start, not at the first run)."""
    if config.database.url is None:
        return None
    schedule = Schedule(config.database.url, instance=f"{socket.gethostname()}:{os.getpid()}")

    if config.patrols.routes_file is not None:
        routes = load_routes(config.patrols.routes_file, registry.sites)
        by_id = {route.id: route for route in routes}

        async def raise_all(found: list[PatrolAlert]) -> None:
            for alert in found:
                raise_patrol_alert(service, alert, by_id)

        def on_alerts(found: list[PatrolAlert]) -> None:
            asyncio.run_coroutine_threadsafe(raise_all(found), loop).result(timeout=HAND_OVER_TIMEOUT_S)

        schedule.add(Job(
            "patrol.rounds",
            make_patrol_job(routes, registry.sites, on_alerts, ahead_h=float(config.patrols.plan_ahead_h),
                            grace_s=config.patrols.grace_s),
            every_s=config.patrols.job_interval_s,
        ))

    async def raise_notices(found: list[HazardNotice]) -> None:
        for notice in found:
            raise_hazard_notice(service, notice)

    def on_notices(found: list[HazardNotice]) -> None:
        asyncio.run_coroutine_threadsafe(raise_notices(found), loop).result(timeout=HAND_OVER_TIMEOUT_S)

    hazard_job = make_hazard_job(registry.sites, on_notices, audit_key=audit_key)
    schedule.add(Job(HAZARD_JOB_NAME, hazard_job, every_s=HAZARD_JOB_INTERVAL_S))
    return schedule
