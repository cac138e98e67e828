"""The daemon's schedule: which jobs it runs, built from the configuration.

Jobs run in worker threads (they talk to the database); what they find that people must hear of
goes to the alert service on the event loop, and the job waits for it to be taken, so a job whose
alerts were not raised rolls back and offers them again at its next run.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from relic_guard.alerting.service import AlertService
from relic_guard.config import Config
from relic_guard.hazards.alerting import raise_hazard_notice
from relic_guard.hazards.job import JOB_NAME as HAZARD_JOB_NAME
from relic_guard.hazards.job import HazardNotice, make_hazard_job
from relic_guard.inspections.alerting import hand_to_service
from relic_guard.inspections.annual import policy_of
from relic_guard.inspections.job import JOB_NAME as INSPECTION_JOB_NAME
from relic_guard.inspections.job import make_inspection_job
from relic_guard.patrols.alerting import raise_patrol_alert
from relic_guard.patrols.job import make_patrol_job
from relic_guard.patrols.rounds import PatrolAlert
from relic_guard.patrols.routes_load import load_routes
from relic_guard.registry import Registry
from relic_guard.report.job import JOB_NAME as REPORT_JOB_NAME
from relic_guard.report.job import make_report_job
from relic_guard.schedule.runner import Job, Schedule

# How long a job waits for the event loop to take its alerts before giving up (and rolling back).
HAND_OVER_TIMEOUT_S = 30.0
# Reminders and escalations are due at 09:00 China time; a few minutes late is still the morning,
# and new reports become hazards (with an owner told by their deadline) within as long.
HAZARD_JOB_INTERVAL_S = 300.0

T = TypeVar("T")


def on_loop(loop: asyncio.AbstractEventLoop, handle: Callable[[list[T]], object]) -> Callable[[list[T]], None]:
    """A job's hand-over: `handle` runs on the event loop (where the alert service lives) and the
    job's thread waits for it, so a hand-over that fails or times out rolls the job's run back."""

    async def run(found: list[T]) -> None:
        handle(found)

    def hand_over(found: list[T]) -> None:
        asyncio.run_coroutine_threadsafe(run(found), loop).result(timeout=HAND_OVER_TIMEOUT_S)

    return hand_over


def build_schedule(
    config: Config, registry: Registry, service: AlertService, loop: asyncio.AbstractEventLoop, audit_key: bytes
) -> Schedule | None:
    """The schedule, or None without a database: hazard deadlines and the annual inspection plan
    are always watched, patrol rounds when a routes file is set. Raises ConfigError for a routes
    file that does not load (at start, not at the first run)."""
    if config.database.url is None:
        return None
    schedule = Schedule(config.database.url, instance=f"{socket.gethostname()}:{os.getpid()}")

    # Who walks each route, for the annual report's patrols per custodian.
    route_custodians: dict[str, tuple[str, ...]] = {}
    if config.patrols.routes_file is not None:
        routes = load_routes(config.patrols.routes_file, registry.sites)
        by_id = {route.id: route for route in routes}
        route_custodians.update((route.id, route.custodians) for route in routes)

        def raise_all(found: list[PatrolAlert]) -> None:
            for alert in found:
                raise_patrol_alert(service, alert, by_id)

        schedule.add(Job(
            "patrol.rounds",
            make_patrol_job(routes, registry.sites, on_loop(loop, raise_all),
                            ahead_h=float(config.patrols.plan_ahead_h), grace_s=config.patrols.grace_s),
            every_s=config.patrols.job_interval_s,
        ))

    def raise_notices(found: list[HazardNotice]) -> None:
        for notice in found:
            raise_hazard_notice(service, notice)

    hazard_job = make_hazard_job(registry.sites, on_loop(loop, raise_notices), audit_key=audit_key)
    schedule.add(Job(HAZARD_JOB_NAME, hazard_job, every_s=HAZARD_JOB_INTERVAL_S))

    inspection_job = make_inspection_job(registry.sites, on_loop(loop, partial(hand_to_service, service)),
                                         policy=policy_of(config.inspections), audit_key=audit_key)
    schedule.add(Job(INSPECTION_JOB_NAME, inspection_job, every_s=config.inspections.job_interval_s))

    report_job = make_report_job(config.reports.out_dir, annual_on=config.reports.annual_on,
                                 route_custodians=route_custodians, audit_key=audit_key)
    schedule.add(Job(REPORT_JOB_NAME, report_job, every_s=config.reports.job_interval_s))
    return schedule
