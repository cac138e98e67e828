"""Readings as chart series: the columns uPlot draws (`static/vendor/uplot`, via `static/charts.js`).

`series_payload(readings, bucket=)` turns what `relic_guard.store.queries.readings` returns into

    {"bucket": "raw" | "hour", "tz": "Asia/Shanghai", "step_s": float | None,
     "series": ["value"] | ["avg", "min", "max"],
     "data": [[x epoch seconds…], [y…], …],          # uPlot's AlignedData
     "bands": [] | [{"series": [3, 2]}]}             # hourly: fill between max (3) and min (2)

Times are instants (epoch seconds); `tz` tells the chart to label its axis in Beijing time, the
time people at the sites and at the center read, whatever the browser's zone. A reading without
an offset is taken as Beijing time, as everywhere else in relic-guard.

Gaps: where more than `MAX_MISSING_BUCKETS` (2) buckets are missing between two consecutive
points (they lie more than 3 buckets apart), a row of nulls is put one bucket after the earlier
point, so the line breaks there instead of drawing a confident straight line across an outage.
A bucket is an hour for hourly rows; raw readings have no fixed period (each device reports at its
own cadence), so their bucket is the median spacing of the series itself. Two missing buckets
or fewer are joined: one late hourly aggregate should not tear the chart.

Non-finite values (NaN or ±inf, which PostgreSQL can store) become nulls: JSON has no NaN and the
browser's parser would reject the whole answer.

`static/charts.js` applies the same rule to the readings API's answer (`points`), and also draws
this payload as it is when a URL serves it (an answer with `data`).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal, TypedDict, overload

from alerts.rules.common import SHANGHAI
from relic_guard.store.queries import Bucket, HourlyReading, RawReading

TZ_NAME: Final = "Asia/Shanghai"
MAX_MISSING_BUCKETS: Final = 2
HOUR_S: Final = 3600.0


class Band(TypedDict):
    series: list[int]


class SeriesPayload(TypedDict):
    bucket: Bucket
    tz: str
    step_s: float | None
    series: list[str]
    data: list[list[float | None]]
    bands: list[Band]


@overload
def series_payload(readings: Sequence[RawReading], *, bucket: Literal["raw"]) -> SeriesPayload: ...
@overload
def series_payload(readings: Sequence[HourlyReading], *, bucket: Literal["hour"]) -> SeriesPayload: ...
def series_payload(readings: Sequence[RawReading] | Sequence[HourlyReading], *, bucket: Bucket) -> SeriesPayload:
    """uPlot's columns for one series, oldest first, with null rows where data is missing."""
    rows: list[tuple[float, list[float | None]]]
    if bucket == "raw":
        rows = []
        for reading in readings:
            if not isinstance(reading, RawReading):
                raise TypeError(f"bucket='raw' needs RawReading rows, not {type(reading).__name__}")
            rows.append((epoch_s(reading.ts), [_finite(reading.value)]))
        names = ["value"]
        bands: list[Band] = []
    elif bucket == "hour":
        rows = []
        for reading in readings:
            if not isinstance(reading, HourlyReading):
                raise TypeError(f"bucket='hour' needs HourlyReading rows, not {type(reading).__name__}")
            rows.append((epoch_s(reading.bucket),
                         [_finite(reading.avg), _finite(reading.min), _finite(reading.max)]))
        names = ["avg", "min", "max"]
        bands = [{"series": [3, 2]}]
    else:
        raise ValueError(f"bucket must be 'raw' or 'hour', not {bucket!r}")

    # The store answers oldest first; sorting again is cheap then, and uPlot draws garbage otherwise.
    rows.sort(key=lambda row: row[0])
    xs = [x for x, _ in rows]
    step = HOUR_S if bucket == "hour" else median_step(xs)
    columns: list[list[float | None]] = [[] for _ in range(1 + len(names))]
    x_col = columns[0]
    y_cols = columns[1:]
    limit = None if step is None else (MAX_MISSING_BUCKETS + 1) * step
    previous: float | None = None
    for x, ys in rows:
        if previous is not None and step is not None and limit is not None and x - previous > limit:
            x_col.append(_tidy(previous + step))
            for col in y_cols:
                col.append(None)
        x_col.append(x)
        for col, y in zip(y_cols, ys, strict=True):
            col.append(y)
        previous = x
    return {"bucket": bucket, "tz": TZ_NAME, "step_s": step, "series": names, "data": columns, "bands": bands}


def epoch_s(moment: datetime) -> float:
    """Seconds since the epoch; a naive time is Beijing time. Whole seconds come out as int (shorter JSON)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return _tidy(moment.timestamp())


def median_step(xs: Sequence[float]) -> float | None:
    """The median of the positive spacings between consecutive times; None under two distinct times."""
    deltas = [b - a for a, b in itertools.pairwise(xs) if b > a]
    return float(statistics.median(deltas)) if deltas else None


def _tidy(t: float) -> float:
    return int(t) if t.is_integer() else round(t, 3)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
