"""Which pages the dashboard serves: the one list the daemon and the tests build it from."""

from __future__ import annotations

from relic_guard.alerting.service import AlertService
from relic_guard.dashboard.app import DashboardDeps
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
        pages=[],
    )
