"""Users in the database, and the login throttle (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from relic_guard.alerting.tokens import Role
from relic_guard.dashboard.users import (
    LoginThrottle,
    Sessions,
    UserError,
    add_user,
    check_password,
    get_user,
    scope_of,
    set_disabled,
    set_password,
)
from relic_guard.registry import Site
from relic_guard.store.schema import migrate

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SITES = {
    "chengziya": Site(id="chengziya", name="城子崖遗址", district="章丘区", level="national", kind="古遗址"),
    "lingyan-si": Site(id="lingyan-si", name="灵岩寺", district="长清区", level="national", kind="古建筑"),
}


def test_throttle_waits_grow_after_the_free_failures_and_success_clears() -> None:
    throttle = LoginThrottle(free_failures=3, base_wait_s=30, max_wait_s=120)
    keys = ["login:ops", "addr:10.0.0.1"]
    for _ in range(3):
        assert throttle.wait_s(keys, T0) == 0
        throttle.failed(keys, T0)
    assert throttle.wait_s(keys, T0) == 30
    assert throttle.wait_s(keys, T0 + timedelta(seconds=31)) == 0
    throttle.failed(keys, T0 + timedelta(seconds=31))
    assert throttle.wait_s(keys, T0 + timedelta(seconds=31)) == 60
    for _ in range(5):
        throttle.failed(keys, T0 + timedelta(seconds=31))
    assert throttle.wait_s(keys, T0 + timedelta(seconds=31)) == 120  # capped
    throttle.succeeded("login:ops")
    assert throttle.wait_s(["login:ops"], T0 + timedelta(seconds=31)) == 0
    assert throttle.wait_s(["addr:10.0.0.1"], T0 + timedelta(seconds=31)) == 120  # the address stays slowed


def test_scope_of_sites_and_districts() -> None:
    assert scope_of((), (), SITES) is None
    assert scope_of(("chengziya",), (), SITES) == frozenset({"chengziya"})
    assert scope_of((), ("长清区",), SITES) == frozenset({"lingyan-si"})


def test_add_user_checks_and_passwords(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        with pytest.raises(UserError, match="needs --site ID or --district NAME"):
            add_user(conn, login="wang", name="王建国", role=Role.CUSTODIAN, password="long enough pass")
        with pytest.raises(UserError, match="too short"):
            add_user(conn, login="wang", name="王建国", role=Role.CUSTODIAN, password="short", sites=("chengziya",))
        add_user(conn, login="wang", name="王建国", role=Role.CUSTODIAN, password="long enough pass",
                 sites=("chengziya",))
        with pytest.raises(UserError, match="exists already"):
            add_user(conn, login="wang", name="王建国", role=Role.OPERATOR, password="long enough pass")
        row = get_user(conn, "wang")
        assert row is not None and row.name == "王建国" and row.role is Role.CUSTODIAN
        assert row.password_hash.startswith("$argon2") and "long enough" not in row.password_hash
        assert check_password(row.password_hash, "long enough pass")
        assert not check_password(row.password_hash, "wrong")

    sessions = Sessions(pg_url, SITES)
    made = sessions.login("wang", "long enough pass", T0)
    assert made is not None
    token, session = made
    assert session.user.sites == frozenset({"chengziya"})
    assert Sessions(pg_url, SITES).get(token, T0) is not None  # another process finds it in the database
    assert sessions.get(token, T0 + timedelta(hours=13)) is None  # expired

    made = sessions.login("wang", "long enough pass", T0)
    assert made is not None
    with psycopg.connect(pg_url, autocommit=True) as conn:
        set_password(conn, "wang", "another long pass")
    assert Sessions(pg_url, SITES).get(made[0], T0) is None  # a password change ends sessions
    assert sessions.login("wang", "long enough pass", T0) is None
    made = sessions.login("wang", "another long pass", T0)
    assert made is not None
    sessions.recheck_s = 0.0  # as if the recheck interval had passed
    with psycopg.connect(pg_url, autocommit=True) as conn:
        set_disabled(conn, "wang")
    assert sessions.get(made[0], T0) is None  # the daemon's own cache lets go too
    assert sessions.login("wang", "another long pass", T0) is None  # disabled
