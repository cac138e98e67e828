"""Accuracy of the video analyzer on the labelled synthetic set: precision and recall per event type.

    python bench/video.py [--width 1280] [--seeds 1] [--decode reduced4,full] [--background both]

Every scenario of `tests/video/synth.py:labelled_set` (people walking into and out of zones,
dusk, switched lights, lightning in rain, the infrared night switch, a covered lens, defocus,
camera bumps, smoke, flame beside a steady lantern, an orange jacket) is rendered at the
given size, JPEG-encoded once (quality 85, as cameras send them) and decoded the way the
caller would: `full` (cv2.IMREAD_COLOR), `reduced2` / `reduced4` (IMREAD_REDUCED_COLOR_2 / _4:
libjpeg scales while decoding), `grey2` (IMREAD_REDUCED_GRAYSCALE_2: no colour, so no flame
cue), or `raw` (the rendered frames, no JPEG). Each (background model, decode) pair runs the
whole set through fresh analyzers.

A detection (a START/END pair) is true when it starts within a label of its type (and zone,
for motion) give or take 2 s; a label is found when a true detection starts within it.
Latency = first true START - label start, which includes each detector's raise time.
Figures are printed, not asserted; `ms/frame` is the analyzer alone (decode excluded), so
the two background models can be compared at equal accuracy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from cv2.typing import MatLike

# Run as a script, this file's folder is first on sys.path; the synthetic set lives with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sensors.video import Analyzer, BackgroundModel, CameraConfig, MotionConfig, VideoEventType
from tests.video.synth import Tally, detections, labelled_set, score

DECODES = {
    "full": cv2.IMREAD_COLOR,
    "reduced2": cv2.IMREAD_REDUCED_COLOR_2,
    "reduced4": cv2.IMREAD_REDUCED_COLOR_4,
    "grey2": cv2.IMREAD_REDUCED_GRAYSCALE_2,
    "raw": None,
}
TYPES = [t for t in VideoEventType if t is not VideoEventType.VIDEO_LOSS]


def _decode(jpeg: npt.NDArray[np.uint8], flag: int) -> MatLike:
    frame = cv2.imdecode(jpeg, flag)
    if frame is None:
        raise SystemExit("a synthetic frame did not decode")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1280, help="rendered frame width (height 9/16 of it)")
    parser.add_argument("--seeds", type=int, default=1, help="renderings of the set with different seeds")
    parser.add_argument("--decode", default="reduced4,full", help=f"comma-separated, of {', '.join(DECODES)}")
    parser.add_argument("--background", default="both", choices=["both", *[m.value for m in BackgroundModel]])
    parser.add_argument("--verbose", action="store_true", help="list every scenario's labels and detections")
    args = parser.parse_args()
    decodes = args.decode.split(",")
    for name in decodes:
        if name not in DECODES:
            parser.error(f"unknown decode {name!r}")
    models = list(BackgroundModel) if args.background == "both" else [BackgroundModel(args.background)]
    width, height = args.width, args.width * 9 // 16
    cv2.setNumThreads(1)

    configs = [(model, decode) for model in models for decode in decodes]
    tallies: dict[tuple[BackgroundModel, str], dict[VideoEventType, Tally]] = {c: {} for c in configs}
    spent_s: dict[tuple[BackgroundModel, str], float] = dict.fromkeys(configs, 0.0)
    frames_fed = 0
    render_start = time.perf_counter()
    for seed in range(args.seeds):
        for scenario in labelled_set(width, height, seed=seed * 1000):
            rendered = list(scenario.frames())
            encoded = [cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1] for _, frame in rendered]
            labels = scenario.labels()
            frames_fed += len(rendered)
            for model, decode in configs:
                flag = DECODES[decode]
                frames = [f for _, f in rendered] if flag is None else [_decode(b, flag) for b in encoded]
                analyzer = Analyzer(CameraConfig(zones=scenario.zones, motion=MotionConfig(background=model)))
                events = []
                start = time.process_time()
                for (at, _), frame in zip(rendered, frames, strict=True):
                    events += analyzer.feed(frame, at)
                spent_s[(model, decode)] += time.process_time() - start
                events += analyzer.close(rendered[-1][0])
                found = detections(events, scenario.start)
                score(labels, found, tallies[(model, decode)])
                if args.verbose:
                    print(f"{scenario.name} [{model.value}, {decode}]")
                    print("   labels:", [(x.type.value, x.zone, x.start_s, x.end_s) for x in labels])
                    print("   found: ", [(x.type.value, x.zone, x.start_s, x.end_s) for x in found])
    print(
        f"{frames_fed} frames of {width}×{height} per configuration, "
        f"{args.seeds} seed(s), set built and run in {time.perf_counter() - render_start:.0f} s"
    )
    for model, decode in configs:
        tally = tallies[(model, decode)]
        per_frame_ms = spent_s[(model, decode)] / frames_fed * 1000
        print(f"\n{model.value}, decode {decode}: analyzer {per_frame_ms:.2f} ms/frame (CPU, one thread)")
        print(f"{'event':<14} {'precision':>9} {'recall':>7} {'detections':>10} {'labels':>7} {'latency s':>10}")
        for kind in TYPES:
            entry = tally.get(kind)
            if entry is None:
                continue
            latency = f"{statistics.median(entry.latencies_s):.1f}" if entry.latencies_s else "-"
            print(
                f"{kind.value:<14} {entry.precision:>9.2f} {entry.recall:>7.2f} "
                f"{entry.detections:>10} {entry.labels:>7} {latency:>10}"
            )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
