"""Which pages the dashboard serves: the one list the daemon and the tests build it from."""

from __future__ import annotations

from relic_guard.alerting.service import AlertService
from relic_guard.dashboard.app import DashboardDeps
from relic_guard.dashboard.draws import draws_pages
from relic_guard.dashboard.hazards import hazards_pages
from relic_guard.dashboard.inspections import inspections_pages
from relic_guard.dashboard.mobile import mobile_pages
from relic_guard.dashboard.queue import queue_pages
from relic_guard.dashboard.reports import reports_pages
from relic_guard.dashboard.sites import sites_pages
from relic_guard.dashboard.users import Sessions
from relic_guard.registry import Registry


def dashboard_deps(service: AlertService, registry: Registry, database_url: str, public_url: str) -> DashboardDeps:
    return DashboardDeps(
        service=service,
        registry=registry,
        sessions=Sessions(database_url, registry.sites),
        database_url=database_url,
        # Behind TLS (the public URL says https) the session cookie is never sent in clear.
        secure_cookies=public_url.startswith("https://"),
        pages=[mobile_pages, sites_pages, queue_pages, hazards_pages, draws_pages, inspections_pages, reports_pages],
    )
