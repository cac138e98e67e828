"""The draws page over a real AlertService and a real PostgreSQL, with tests/dashboard's users
(ops of the monitoring center, wang custodian of 城子崖遗址, sup, …) in a fresh database per test,
and the dashboard app and logged-in clients of tests/dashboard_hazards."""

from __future__ import annotations

from tests.dashboard.conftest import password_hash, users_db
from tests.dashboard_hazards.conftest import Center, center, logged_in

__all__ = ["Center", "center", "logged_in", "password_hash", "users_db"]
