"""Which `/api` routers the daemon serves beyond the alerts' own: the one list the daemon and the
tests build the HTTP API from (as `relic_guard.dashboard.pages` lists the pages).

Each entry is an `ApiRouterFactory` of `relic_guard.alerting.api`: it gets the API context and
the caller dependency, so every router checks tokens, sessions and scope the same way."""

from __future__ import annotations

from relic_guard.alerting.api import ApiRouterFactory


def api_routers() -> list[ApiRouterFactory]:
    # Imported here: the routers pull in their stores, which `relic-guard --help` need not load.
    from relic_guard.drones import api as drones_api
    from relic_guard.hazards import api as hazards_api
    from relic_guard.inspections import api as inspections_api
    from relic_guard.inspections import draw_api

    return [hazards_api.make, draw_api.make, inspections_api.make, drones_api.make]
