"""Patrol rounds in a real PostgreSQL: planning, evaluation from stored check-ins, alerts once, the job."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from alerts.model import Audience
from relic_guard.batch import Batch
from relic_guard.embedded import EmbeddedPostgres
from relic_guard.patrols import store
from relic_guard.patrols.job import make_patrol_job
from relic_guard.patrols.model import DailyRule, NightRule, RoundKind, Route
from relic_guard.patrols.rounds import PatrolAlert, PatrolAlertKind, RoundStatus
from relic_guard.store.schema import migrate
from relic_guard.store.writer import write_batch
from sensors.model import Event, Source

from .support import SITE, local, route

# 08:00–20:00 each day; final at 20:30 (30 min grace).
DAILY = route(DailyRule(window_start=local(1, 8).time(), window_end=local(1, 20).time()))
SITES = {SITE.id: SITE}
CODES = ("XTS-01", "XTS-02", "XTS-03")
Conn = psycopg.Connection[Any]


@pytest.fixture(scope="module")
def migrated_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """One migrated database for the module (migrating costs half a second); each test empties it."""
    name = f"patrols_{os.getpid()}"
    with psycopg.connect(pg_server.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/{name}"
    with psycopg.connect(url, autocommit=True) as setup:
        migrate(setup)
    yield url
    with psycopg.connect(pg_server.url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(migrated_url: str) -> str:
    with psycopg.connect(migrated_url, autocommit=True) as setup:
        setup.execute("TRUNCATE patrol_rounds, events")
    return migrated_url


@pytest.fixture
def conn(db_url: str) -> Iterator[Conn]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def scan(conn: Conn, code: str, at: datetime, *, route_id: str | None = None) -> None:
    """A check-in stored the way ingest stores a `patrol`/`checkin` message."""
    attrs: dict[str, object] = {"custodian": "赵玉梅", "checkpoint": code}
    if route_id is not None:
        attrs["route"] = route_id
    event = Event(site=SITE.id, device="phone-zym", source=Source.PATROL, type="checkin", ts=at,
                  event_key=f"checkin:{code}:{at.isoformat()}", attrs=attrs, received_at=at)
    write_batch(conn, Batch(events=[event], messages=1))


def rows(conn: Conn) -> list[tuple[object, ...]]:
    return [tuple(row) for row in conn.execute(
        "SELECT id, route_id, site_id, kind, window_start, window_end, status, final, alerted "
        "FROM patrol_rounds ORDER BY id").fetchall()]


def run(conn: Conn, now: datetime) -> list[PatrolAlert]:
    store.plan_ahead(conn, [DAILY], SITES, now)
    return store.take_alerts(conn, store.evaluate_due(conn, [DAILY], now))


def test_plan_ahead_is_idempotent(conn: Conn) -> None:
    now = local(27, 12)
    # [26 Nov 12:00, 28 Nov 12:00): the rounds of 27 and 28 Nov.
    assert store.plan_ahead(conn, [DAILY], SITES, now) == 2
    first = rows(conn)
    assert [row[0] for row in first] == ["xts-fire/daily/20261127T0800", "xts-fire/daily/20261128T0800"]
    assert first[0][6:] == ("pending", False, False)
    assert store.plan_ahead(conn, [DAILY], SITES, now) == 0
    assert rows(conn) == first
    # A later run adds only what is new.
    assert store.plan_ahead(conn, [DAILY], SITES, local(28, 12)) == 1


def test_a_round_with_every_checkpoint_is_complete(conn: Conn) -> None:
    # From 09:00 back a day reaches no earlier round (26 Nov 08:00 is before 26 Nov 09:00).
    store.plan_ahead(conn, [DAILY], SITES, local(27, 9))
    for minute, code in enumerate(CODES):
        scan(conn, code, local(27, 9, minute))
    scan(conn, "XTS-01", local(26, 9))  # the day before: not this round's
    found = store.checkins(conn, SITE.id, local(27, 0), local(28, 0))
    assert [checkin.checkpoint for checkin in found] == list(CODES)
    assert found[0].custodian == "赵玉梅" and found[0].at == local(27, 9)

    # Two done at 09:01: pending, not final.
    partway = store.evaluate_due(conn, [DAILY], local(27, 9, 1))
    assert [(r.status, r.done) for r in partway] == [(RoundStatus.PENDING, ("shanmen", "dadian"))]
    assert store.take_alerts(conn, partway) == []

    done = store.evaluate_due(conn, [DAILY], local(27, 21))
    assert [(r.status, r.missing) for r in done] == [(RoundStatus.COMPLETE, ())]
    assert store.take_alerts(conn, done) == []
    row = conn.execute("SELECT status, done, missing, final, alerted, evaluated_at FROM patrol_rounds "
                       "WHERE window_start = %s", (local(27, 8),)).fetchone()
    assert row is not None
    assert row[:5] == ("complete", ["shanmen", "dadian", "kufang"], [], True, True)
    assert row[5] == local(27, 21)
    # Final: no later run touches it.
    assert store.evaluate_due(conn, [DAILY], local(28, 7)) == []


def test_a_skipped_round_is_missed_and_alerted_once(conn: Conn) -> None:
    assert run(conn, local(27, 9)) == []
    scan(conn, "XTS-01", local(27, 19))
    # In the grace period the unfinished round stays pending: no alert yet.
    assert run(conn, local(27, 20, 10)) == []
    alerts = run(conn, local(27, 20, 31))
    assert [(a.kind, a.round_id, a.escalated, a.missing) for a in alerts] == [
        (PatrolAlertKind.ROUND_PARTIAL, "xts-fire/daily/20261127T0800", False, ("dadian", "kufang"))]
    assert alerts[0].key == "patrol:xts-fire/daily/20261127T0800"
    assert run(conn, local(27, 20, 32)) == []
    # Offering the same results again returns nothing either.
    assert store.take_alerts(conn, [r.as_result() for r in store.rounds_for(conn, [SITE.id], local(27, 0),
                                                                                local(28, 0))]) == []


def test_two_missed_in_a_row_escalate(conn: Conn) -> None:
    first = run(conn, local(27, 21))
    assert [(a.kind, a.escalated, a.audiences) for a in first] == [
        (PatrolAlertKind.ROUND_MISSED, False, (Audience.CUSTODIANS,))]
    second = run(conn, local(28, 21))
    assert [(a.round_id, a.kind, a.escalated, a.audiences) for a in second] == [
        ("xts-fire/daily/20261128T0800", PatrolAlertKind.ROUND_MISSED, True,
         (Audience.CUSTODIANS, Audience.CULTURE_BUREAU))]


def test_a_late_round_alerts_late(conn: Conn) -> None:
    run(conn, local(27, 9))
    for minute, code in enumerate(CODES):
        scan(conn, code, local(27, 20, minute))
    alerts = run(conn, local(27, 21))
    assert [(a.kind, a.late_by_s) for a in alerts] == [(PatrolAlertKind.ROUND_LATE, 120.0)]


def test_catch_up_after_downtime(conn: Conn) -> None:
    # First run ever at 07:00 on 28 Nov: the 27 Nov round (whose window and grace passed while the
    # daemon was down) is created and found missed in the same run, and so is the night round.
    night = route(NightRule(at=(local(1, 22).time(),), tolerance_min=60), route_id="xts-night")
    store.plan_ahead(conn, [DAILY, night], SITES, local(28, 7))
    results = store.evaluate_due(conn, [DAILY, night], local(28, 7))
    assert [(r.round.id, r.status) for r in results] == [
        ("xts-fire/daily/20261127T0800", RoundStatus.MISSED),
        ("xts-night/night/20261127T2100", RoundStatus.MISSED),
    ]
    alerts = store.take_alerts(conn, results)
    assert [(a.round_id, a.escalated) for a in alerts] == [
        ("xts-fire/daily/20261127T0800", False), ("xts-night/night/20261127T2100", False)]
    # Each route's rounds are judged on their own: day two of the daily route escalates.
    alerts = run(conn, local(28, 21))
    assert [(a.round_id, a.escalated) for a in alerts] == [("xts-fire/daily/20261128T0800", True)]


def test_rounds_for_lists_a_day_of_the_sites_asked(conn: Conn) -> None:
    store.plan_ahead(conn, [DAILY], SITES, local(27, 9))
    listed = store.rounds_for(conn, [SITE.id], local(27, 0), local(28, 0))
    assert [(r.id, r.kind, r.status, r.route_name) for r in listed] == [
        ("xts-fire/daily/20261127T0800", RoundKind.DAILY, RoundStatus.PENDING, "防火巡查")]
    assert listed[0].missing == ("shanmen", "dadian", "kufang")
    assert listed[0].checkpoint_names["dadian"] == "大殿"
    assert listed[0].window_start == local(27, 8) and listed[0].window_start.tzinfo is not None
    assert store.rounds_for(conn, ["lingyan-si"], local(27, 0), local(28, 0)) == []
    assert store.rounds_for(conn, [], local(27, 0), local(28, 0)) == []


def test_a_route_taken_out_withdraws_its_rounds_without_alerts(conn: Conn) -> None:
    # 27 Nov 09:00: today's round has begun, tomorrow's is only planned.
    store.plan_ahead(conn, [DAILY], SITES, local(27, 9))
    scan(conn, "XTS-01", local(27, 9))
    store.evaluate_due(conn, [DAILY], local(27, 9, 5))
    # The route is taken out of the routes file (another one stays) at 10:00.
    other = route(DailyRule(window_start=local(1, 8).time(), window_end=local(1, 20).time()), route_id="xts-night")
    store.plan_ahead(conn, [other], SITES, local(27, 10))
    assert store.withdraw_removed(conn, [other], local(27, 10)) == 2
    by_id = {row[0]: row[6:] for row in rows(conn)}
    assert by_id == {
        "xts-fire/daily/20261127T0800": ("withdrawn", True, True),  # begun: kept, final, no alert
        "xts-night/daily/20261127T0800": ("pending", False, False),
        "xts-night/daily/20261128T0800": ("pending", False, False),
    }
    # Nothing is left pending for ever, and no alert comes of it later.
    assert store.take_alerts(conn, store.evaluate_due(conn, [other], local(28, 21)))[0].route_id == "xts-night"
    assert store.withdraw_removed(conn, [other], local(28, 21)) == 0
    assert conn.execute("SELECT status FROM patrol_rounds WHERE route_id = 'xts-fire'").fetchall() == [("withdrawn",)]


def test_the_job_end_to_end(db_url: str) -> None:
    handed: list[list[PatrolAlert]] = []
    job = make_patrol_job([DAILY], SITES, handed.append)

    def run_job(now: datetime) -> str:
        # As the schedule runner does: a fresh connection, committed when the job returns.
        with psycopg.connect(db_url) as job_conn:
            return job(job_conn, now)

    assert run_job(local(27, 9)) == "planned 2, evaluated 1, final 0, alerts 0"
    assert run_job(local(27, 10)) == "planned 0, evaluated 1, final 0, alerts 0"
    assert run_job(local(27, 21)) == "planned 0, evaluated 1, final 1, alerts 1"
    assert run_job(local(27, 21)) == "planned 0, evaluated 0, final 0, alerts 0"
    assert [[a.round_id for a in batch] for batch in handed] == [["xts-fire/daily/20261127T0800"]]


def test_a_failing_hand_over_keeps_the_alert_for_the_next_run(db_url: str) -> None:
    handed: list[list[PatrolAlert]] = []

    def refuse(alerts: list[PatrolAlert]) -> None:
        raise RuntimeError("event loop gone")

    with pytest.raises(RuntimeError), psycopg.connect(db_url) as job_conn:
        make_patrol_job([DAILY], SITES, refuse)(job_conn, local(27, 21))
    with psycopg.connect(db_url) as job_conn:
        summary = make_patrol_job([DAILY], SITES, handed.append)(job_conn, local(27, 21))
    assert summary.endswith("alerts 1")
    assert [a.kind for batch in handed for a in batch] == [PatrolAlertKind.ROUND_MISSED]


# The custodian's page ---------------------------------------------------------------------------


async def test_the_phone_page_lists_todays_rounds_of_the_users_sites(pg_url: str) -> None:
    # Imported here: the dashboard fixtures are heavy and only this test needs them.
    from relic_guard.alerting.tokens import Role, TokenStore
    from relic_guard.dashboard.pages import dashboard_deps
    from relic_guard.dashboard.users import hash_password
    from relic_guard.web import ReadinessProbe, create_app
    from tests.alerting_api.conftest import make_world
    from tests.alerts.support import SITE as PAGE_SITE
    from tests.dashboard.conftest import PASSWORD
    from tests.dashboard.test_mobile import by_id, down, logged_in, with_class

    from .support import CHECKPOINTS, FakeSite

    page_site = FakeSite(id=PAGE_SITE)
    daily = Route(id="czy-day", site=PAGE_SITE, name="城子崖日巡", checkpoints=CHECKPOINTS, custodians=("王建国",),
                  frequency=(DailyRule(window_start=local(1, 8).time(), window_end=local(1, 20).time()),
                             NightRule(at=(local(1, 22).time(),), tolerance_min=60)))
    world = make_world()
    now = world.clock()  # 10:00 on 27 Nov, Beijing time
    with psycopg.connect(pg_url, autocommit=True) as setup:
        migrate(setup)
        setup.execute("INSERT INTO users (login, name, role, sites, password_hash) VALUES (%s, %s, %s, %s, %s)",
                      ("wang", "王建国", Role.CUSTODIAN.value, [PAGE_SITE], hash_password(PASSWORD)))
        store.plan_ahead(setup, [daily], {PAGE_SITE: page_site}, now)
        write_batch(setup, Batch(events=[Event(
            site=PAGE_SITE, device="phone", source=Source.PATROL, type="checkin", ts=local(27, 9),
            event_key="c1", attrs={"custodian": "王建国", "checkpoint": "XTS-01"})], messages=1))
        store.evaluate_due(setup, [daily], now)
    deps = dashboard_deps(world.service, world.registry, pg_url, "http://guard.test")
    app = create_app(ReadinessProbe(database_url=pg_url, broker_connected=lambda: True), service=world.service,
                     tokens=TokenStore(()), database_url=pg_url, registry=world.registry, dashboard=deps)
    async with logged_in(app, "wang") as client:
        page = await client.get("/m")
        assert page.status_code == 200
        rounds = with_class(page.text, "m-round")
        # The 26 Nov night round was planned too (a day back), but is not today's.
        assert [(e.attrs["data-id"], e.attrs["data-status"]) for e in rounds] == [
            ("czy-day/daily/20261127T0800", "pending"), ("czy-day/night/20261127T2100", "upcoming")]
        assert "08:00–20:00" in page.text and "21:00–23:00" in page.text and "城子崖日巡" in page.text
        assert "进行中" in page.text and "未开始" in page.text
        assert "未巡：大殿、库房" in page.text
        assert "暂无巡查任务" not in page.text
        # The database gone: a short note in the section, the rest of the page as before.
        down(deps)
        page = await client.get("/m")
        assert page.status_code == 200
        assert by_id(page.text, "patrol-db-down") is not None and not with_class(page.text, "m-round")
        assert "今日巡查任务无法显示" in page.text
