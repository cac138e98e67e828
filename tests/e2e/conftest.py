"""No daemon outlives its test: one that a failing test left running is killed with its workers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import kill_leftover_daemons


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    yield
    kill_leftover_daemons()
