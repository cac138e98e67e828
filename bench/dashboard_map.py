"""The sites map: time to render the SVG for many sites.

    python bench/dashboard_map.py [--sizes 1000,10000,50000] [--repeat 5] [--seed 7]

Synthetic sites around Jinan (lat 36.3–37.0, lon 116.6–117.6), states drawn at random with a
realistic mix (mostly ok, some offline and warnings, a few alarms), names and districts in
Chinese with a few characters that need escaping, 1 in 200 without coordinates. The page is
rendered at 1200×800 px.

Baseline in the same run (compare ratios across machines, not times): a bare f-string join of
the same number of `<circle>` elements from the raw coordinates: the floor of any SVG built as
a string. The target: 10,000 sites well under 1 s (the map page is rendered per request).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

from relic_guard.dashboard.mapview import MapSite, State, render_map

STATE_WEIGHTS: dict[State, float] = {"ok": 0.85, "offline": 0.07, "warning": 0.06, "alarm": 0.02}
DISTRICTS = ("历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区", "济阳区",
             "莱芜区", "钢城区", "平阴县", "商河县")
WIDTH, HEIGHT = 1200, 800


def synthetic_sites(n: int, seed: int) -> list[MapSite]:
    rnd = random.Random(seed)
    states = list(STATE_WEIGHTS)
    weights = list(STATE_WEIGHTS.values())
    sites = []
    for i in range(n):
        placed = i % 200 != 199
        sites.append(MapSite(
            id=f"jn-{i:06d}",
            name=f"文物点{i}号" + (" <旧址> & \"碑\"" if i % 50 == 0 else ""),
            district=rnd.choice(DISTRICTS),
            lat=36.3 + rnd.random() * 0.7 if placed else None,
            lon=116.6 + rnd.random() * 1.0 if placed else None,
            state=rnd.choices(states, weights)[0],
        ))
    return sites


def baseline(sites: Sequence[MapSite]) -> str:
    return "".join(f'<circle cx="{s.lat}" cy="{s.lon}" r="4"/>' for s in sites)


def best_ms(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best and median wall time of `repeat` runs, in ms, with the collector off while timing."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            work()
            times.append((time.perf_counter() - start) * 1000)
        finally:
            gc.enable()
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]

    print(f"render_map at {WIDTH}x{HEIGHT} px, best / median of {args.repeat} runs")
    print(f"{'sites':>7} {'map ms':>9} {'(median)':>9} {'baseline ms':>12} {'ratio':>7} {'µs/site':>8} {'SVG KiB':>8}")
    verdicts = []
    for n in sizes:
        sites = synthetic_sites(n, args.seed)
        svg = render_map(sites, width_px=WIDTH, height_px=HEIGHT, lang="zh-CN")
        map_best, map_median = best_ms(partial(render_map, sites, width_px=WIDTH, height_px=HEIGHT, lang="zh-CN"),
                                       args.repeat)
        base_best, _ = best_ms(partial(baseline, sites), args.repeat)
        print(f"{n:>7} {map_best:>9.1f} {map_median:>9.1f} {base_best:>12.2f} {map_best / base_best:>7.1f} "
              f"{map_best * 1000 / n:>8.2f} {len(svg.encode()) / 1024:>8.0f}")
        if n == 10_000:
            verdicts.append(f"10,000 sites: {map_median:.0f} ms median, target well under 1000 ms: "
                            + ("met" if map_median < 500 else "NOT met"))
    for line in verdicts:
        print(line)


if __name__ == "__main__":
    main()
