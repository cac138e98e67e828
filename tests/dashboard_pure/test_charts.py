from __future__ import annotations

import json
import math
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.notification import rfc3339
from alerts.rules.common import SHANGHAI
from relic_guard.dashboard.charts import MAX_MISSING_BUCKETS, TZ_NAME, epoch_s, median_step, series_payload
from relic_guard.store.queries import HourlyReading, RawReading

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=SHANGHAI)
T0_S = int(T0.timestamp())
CHARTS_JS = Path(__file__).resolve().parents[2] / "relic_guard" / "dashboard" / "static" / "charts.js"


def raw(*offsets_s: float, value: float = 20.0) -> list[RawReading]:
    return [RawReading(ts=T0 + timedelta(seconds=s), value=value + i, ts_from_receive=False)
            for i, s in enumerate(offsets_s)]


def hourly(*hours: int) -> list[HourlyReading]:
    return [HourlyReading(bucket=T0 + timedelta(hours=h), n=60, avg=50.0 + h, min=40.0 + h, max=60.0 + h) for h in hours]


def test_raw_without_gaps() -> None:
    payload = series_payload(raw(0, 10, 20, 30, 40), bucket="raw")
    assert payload["series"] == ["value"] and payload["bands"] == [] and payload["tz"] == TZ_NAME == "Asia/Shanghai"
    assert payload["step_s"] == 10
    assert payload["data"] == [[T0_S, T0_S + 10, T0_S + 20, T0_S + 30, T0_S + 40], [20.0, 21.0, 22.0, 23.0, 24.0]]


@pytest.mark.parametrize(
    ("offsets", "expected_x", "expected_y"),
    [
        # 30 s after a 10 s cadence: two readings missing, joined.
        ((0, 10, 40, 50), [0, 10, 40, 50], [20.0, 21.0, 22.0, 23.0]),
        # 31 s: more than two missing: a null one step after the last reading before the outage.
        ((0, 10, 41, 51), [0, 10, 20, 41, 51], [20.0, 21.0, None, 22.0, 23.0]),
        # A long outage and a second one.
        ((0, 10, 20, 600, 610, 620, 2000), [0, 10, 20, 30, 600, 610, 620, 630, 2000],
         [20.0, 21.0, 22.0, None, 23.0, 24.0, 25.0, None, 26.0]),
    ],
)
def test_raw_gaps(offsets: tuple[int, ...], expected_x: list[int], expected_y: list[float | None]) -> None:
    payload = series_payload(raw(*offsets), bucket="raw")
    assert payload["data"] == [[T0_S + x for x in expected_x], expected_y]


@pytest.mark.parametrize(
    ("hours", "expected_x_h", "gap_at"),
    [
        ((0, 1, 2, 3), [0, 1, 2, 3], None),
        ((0, 3, 4), [0, 3, 4], None),  # 2 buckets missing (1 h, 2 h): joined
        ((0, 4, 5), [0, 1, 4, 5], 1),  # 3 missing: broken one hour after the last bucket
        ((0,), [0], None),
    ],
)
def test_hourly_bands_and_gaps(hours: tuple[int, ...], expected_x_h: list[int], gap_at: int | None) -> None:
    payload = series_payload(hourly(*hours), bucket="hour")
    assert payload["series"] == ["avg", "min", "max"]
    assert payload["bands"] == [{"series": [3, 2]}]  # uPlot fills between max (column 3) and min (column 2)
    assert payload["step_s"] == 3600
    x, avg, lo, hi = payload["data"]
    assert x == [T0_S + 3600 * h for h in expected_x_h]
    for i, h in enumerate(expected_x_h):
        if h == gap_at:
            assert avg[i] is lo[i] is hi[i] is None
        else:
            assert (avg[i], lo[i], hi[i]) == (50.0 + h, 40.0 + h, 60.0 + h)


def test_gap_rule_constant() -> None:
    assert MAX_MISSING_BUCKETS == 2


def test_times_are_instants_and_naive_means_beijing() -> None:
    assert epoch_s(datetime(2026, 1, 1, 8, 0)) == int(datetime(2026, 1, 1, 0, 0, tzinfo=UTC).timestamp())
    assert epoch_s(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)) == 1767225600
    assert epoch_s(datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)) == 1767225600.25
    assert isinstance(epoch_s(T0), int)  # whole seconds stay short in the JSON


def test_unsorted_input_is_sorted_and_non_finite_values_are_null() -> None:
    rows = raw(20, 0, 10)
    rows.append(RawReading(ts=T0 + timedelta(seconds=30), value=math.nan, ts_from_receive=True))
    rows.append(RawReading(ts=T0 + timedelta(seconds=40), value=math.inf, ts_from_receive=False))
    payload = series_payload(rows, bucket="raw")
    assert payload["data"] == [[T0_S, T0_S + 10, T0_S + 20, T0_S + 30, T0_S + 40], [21.0, 22.0, 20.0, None, None]]
    json.dumps(payload, allow_nan=False)  # valid JSON for the browser


def test_empty_and_single() -> None:
    assert series_payload([], bucket="raw")["data"] == [[], []]
    assert series_payload([], bucket="raw")["step_s"] is None
    assert series_payload([], bucket="hour")["data"] == [[], [], [], []]
    assert series_payload(raw(0), bucket="raw")["data"] == [[T0_S], [20.0]]


def test_median_step() -> None:
    assert median_step([]) is None
    assert median_step([5.0]) is None
    assert median_step([0, 0, 0]) is None
    assert median_step([0, 10, 20, 25, 100]) == 10  # deltas 10, 10, 5, 75
    assert median_step([0, 10, 30]) == 15


def test_wrong_rows_for_the_bucket_are_refused() -> None:
    with pytest.raises(TypeError, match="HourlyReading"):
        series_payload(raw(0), bucket="hour")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="RawReading"):
        series_payload(hourly(0), bucket="raw")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="bucket"):
        series_payload([], bucket="day")  # type: ignore[call-overload]


# charts.js draws the readings API's answer with the same gap rule --------------------------------


def api_answer(bucket: str, rows: list[RawReading] | list[HourlyReading]) -> dict[str, object]:
    """What /api/sites/{id}/readings answers (relic_guard/alerting/api.py, `site_readings`)."""
    points: list[dict[str, object]] = []
    for row in rows:
        if isinstance(row, HourlyReading):
            points.append({"ts": rfc3339(row.bucket), "n": row.n, "avg": row.avg, "min": row.min, "max": row.max})
        else:
            points.append({"ts": rfc3339(row.ts), "value": row.value, "ts_from_receive": row.ts_from_receive})
    return {"site": "s1", "device": "d1", "metric": "temperature_c", "bucket": bucket, "from": "", "to": "",
            "points": points}


NODE_HARNESS = """
const fs = require("fs"), vm = require("vm");
const ctx = {document: {readyState: "loading", documentElement: {lang: "zh-CN"}, addEventListener() {}}};
ctx.window = ctx;
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), ctx);
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map((c) => ctx.relicGuardCharts.fromApi(c).data)));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_charts_js_makes_the_same_columns_as_series_payload() -> None:
    raw_rows = raw(0, 10, 20, 600, 610, 620, 2000.5)
    hourly_rows = hourly(0, 1, 3, 8, 9)
    cases = [api_answer("raw", raw_rows), api_answer("hour", hourly_rows), api_answer("raw", [])]
    done = subprocess.run(["node", "-e", NODE_HARNESS, str(CHARTS_JS)], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=30, check=True)
    from_js = json.loads(done.stdout)
    expected = [series_payload(raw_rows, bucket="raw")["data"], series_payload(hourly_rows, bucket="hour")["data"],
                [[], []]]
    assert from_js == expected
