"""Patrols end to end: `relic-guard run` plans rounds, check-ins published over MQTT complete the
round under way, rounds that passed unwalked (while nobody was running the schedule) are found
missed and alert the custodians and the monitoring center, and repeated misses reach the district's
culture bureau. Real Mosquitto, PostgreSQL and HTTP receivers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from alerts.rules.common import SHANGHAI
from relic_guard.embedded import EmbeddedMosquitto
from tests.alerts_channels.receiver import Receiver
from tests.e2e.harness import Publisher
from tests.e2e.test_alerts import alert_daemon, bodies, wait_until, write_routing


def write_routes(path: Path, now: datetime) -> Path:
    local = now.astimezone(SHANGHAI)
    # Two rounds whose windows ended 4.5 h and 2.5 h ago: two misses in a row.
    earlier = (local - timedelta(hours=5)).strftime("%H:%M")
    passed = (local - timedelta(hours=3)).strftime("%H:%M")
    current = local.strftime("%H:%M")  # its window is open now (±30 min)
    path.write_text(f"""\
[[route]]
id = "czy-night"
site = "chengziya"
name = "城子崖夜间巡查"
custodians = ["王建国"]

  [[route.frequency]]
  kind = "night"
  at = ["{earlier}", "{passed}", "{current}"]
  tolerance_min = 30

  [[route.checkpoint]]
  id = "beimen"
  name = "北门"
  code = "CZY-BEIMEN-01"

  [[route.checkpoint]]
  id = "tanfang"
  name = "探方保护棚"
  code = "CZY-TANFANG-02"
""", encoding="utf-8")
    return path


def current_round(url: str, now: datetime) -> tuple[str, str] | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT id, status FROM patrol_rounds WHERE window_start <= %s AND window_end > %s", (now, now)
        ).fetchone()
    return (row[0], row[1]) if row is not None else None


def test_check_ins_complete_the_round_and_passed_rounds_are_missed_and_escalated(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, pg_url: str
) -> None:
    now = datetime.now(UTC)
    with Receiver() as center, Receiver() as others:
        routing = write_routing(tmp_path / "routing.toml", center=center.url("/center"), center_fallback=None,
                                others=others, smtp=False)
        routes = write_routes(tmp_path / "patrols.toml", now)
        d = alert_daemon(tmp_path, mosquitto.url, pg_url, routing,
                         RELIC_GUARD_PATROLS_ROUTES_FILE=str(routes), RELIC_GUARD_PATROLS_JOB_INTERVAL_S="1",
                         RELIC_GUARD_PATROLS_GRACE_S="0")
        d.start()
        pub = Publisher(mosquitto.port)
        try:
            def patrol_alerts(path: str) -> list[dict[str, Any]]:
                source = center if path == "/center" else others
                return [b for b in bodies(source, path) if b["alert"]["category"] == "patrol"]

            # Two rounds passed unwalked before the schedule first ran: found missed at its first run,
            # told to the monitoring center and the custodian, and (missed twice in a row) the
            # district's culture bureau.
            first = wait_until(lambda: patrol_alerts("/center"), "a missed-round alert at the monitoring center")[0]
            assert first["alert"]["title"].startswith("巡查漏巡：城子崖遗址 城子崖夜间巡查")
            wait_until(lambda: patrol_alerts("/wang"), "the custodian told of the missed round")
            wait_until(lambda: patrol_alerts("/wwj"), "the culture bureau told after repeated misses")

            found = wait_until(lambda: current_round(pg_url, datetime.now(UTC)), "the round under way planned")
            assert found[1] == "pending"
            stamp = int(time.time() * 1000)
            for code in ("CZY-BEIMEN-01", "CZY-TANFANG-02"):
                pub.publish_json("relic/chengziya/patrol/phone-wang/event",
                                 {"type": "checkin", "checkpoint": code, "custodian": "王建国", "ts": stamp,
                                  "id": f"{code}-{stamp}"})
            done = wait_until(lambda: (r := current_round(pg_url, datetime.now(UTC))) and r[1] == "complete" and r,
                              "the round under way completed by the check-ins")
            assert done[0] == found[0]
            with psycopg.connect(pg_url) as conn:
                runs = conn.execute("SELECT count(*), bool_and(ok) FROM schedule_runs WHERE job = 'patrol.rounds'"
                                    ).fetchone()
            assert runs is not None and runs[0] >= 2 and runs[1]
        finally:
            pub.close()
            d.stop()
