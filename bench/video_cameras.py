"""Cameras per core: 1280×720 JPEG frames at 2 fps, decode included, against a bare pipeline.

    python bench/video_cameras.py [--cameras 16] [--frames 480] [--rounds 5] [--threads 1]

The frames are the synthetic courtyard of `tests/video/synth.py` (people walking, rain, a
flame), JPEG-encoded at quality 85 like a camera's stills. `--cameras` analyzers are fed in
turn, each its own stream (so caches see many cameras, as a worker would), and every
pipeline is timed in CPU seconds of this process (`time.process_time`: OpenCV's own threads
count too), in interleaved rounds so that a noisy neighbour hurts each pipeline alike; the
best round is kept. Cameras per core = frames per CPU second / 2.

Pipelines, all in this run:
- relic-guard: `cv2.imdecode(…, IMREAD_REDUCED_COLOR_4)` (libjpeg scales while decoding, to
  the 320×180 the analyzer works at) + `Analyzer.feed` (motion in two zones, tamper, smoke
  and flame cues); also with `IMREAD_REDUCED_COLOR_2` and a full decode, to show what the
  decode choice costs;
- bare: `cv2.imdecode(…, IMREAD_COLOR)`, grey, `cv2.resize` to 320×180 (its default
  bilinear: an area resize at 4:1 costs several times more), absdiff with the previous
  frame, threshold, count: the least a motion detector does, with the usual full decode;
- bare, reduced: `IMREAD_REDUCED_GRAYSCALE_4` + the same absdiff: the cheapest decode there is;
- decode alone (`IMREAD_REDUCED_COLOR_4`), so the analyzer's own share can be read off;
- relic-guard again with OpenCV's default thread count, to show the `--threads` choice.

Targets: ≥ 40 cameras per core, and ≥ 0.9× the bare pipeline's cameras per core. Figures are
printed, not asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from cv2.typing import MatLike

# Run as a script, this file's folder is first on sys.path; the synthetic scenes live with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sensors.video import Analyzer, CameraConfig
from tests.video.synth import T0, ZONES, labelled_set

FPS = 2.0
WIDTH, HEIGHT = 1280, 720
ANALYSIS = (320, 180)
TARGET_CAMERAS = 40
TARGET_RATIO = 0.9

Jpeg = npt.NDArray[np.uint8]
Pipeline = Callable[[int, Jpeg, int], object]


def jpeg_frames(count: int) -> list[Jpeg]:
    """`count` JPEG frames, from a few scenarios of the labelled set first, then the others."""
    wanted = ("walk_in_out", "rain_walker", "flame", "smoke_and_visitors")
    scenarios = sorted(
        labelled_set(WIDTH, HEIGHT),
        key=lambda s: (s.name not in wanted, wanted.index(s.name) if s.name in wanted else 0),
    )
    frames: list[Jpeg] = []
    for scenario in scenarios:
        for _, frame in scenario.frames():
            if len(frames) == count:
                return frames
            frames.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])
    return frames


def relic_guard(cameras: int, flag: int) -> Pipeline:
    analyzers = [Analyzer(CameraConfig(zones=ZONES)) for _ in range(cameras)]

    def run(camera: int, jpeg: Jpeg, index: int) -> object:
        return analyzers[camera].feed(decode(jpeg, flag), T0 + timedelta(seconds=index / FPS))

    return run


def bare(cameras: int) -> Pipeline:
    previous: list[MatLike | None] = [None] * cameras

    def run(camera: int, jpeg: Jpeg, index: int) -> object:
        frame = decode(jpeg, cv2.IMREAD_COLOR)
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), ANALYSIS)
        return _absdiff_motion(previous, camera, grey)

    return run


def bare_reduced(cameras: int) -> Pipeline:
    previous: list[MatLike | None] = [None] * cameras

    def run(camera: int, jpeg: Jpeg, index: int) -> object:
        grey = decode(jpeg, cv2.IMREAD_REDUCED_GRAYSCALE_4)
        return _absdiff_motion(previous, camera, grey)

    return run


def decode_only(flag: int) -> Pipeline:
    def run(camera: int, jpeg: Jpeg, index: int) -> object:
        return cv2.imdecode(jpeg, flag)

    return run


def decode(jpeg: Jpeg, flag: int) -> MatLike:
    frame = cv2.imdecode(jpeg, flag)
    if frame is None:
        raise SystemExit("a synthetic frame did not decode")
    return frame


def _absdiff_motion(previous: list[MatLike | None], camera: int, grey: MatLike) -> int:
    last, previous[camera] = previous[camera], grey
    if last is None:
        return 0
    _, moving = cv2.threshold(cv2.absdiff(grey, last), 25, 255, cv2.THRESH_BINARY)
    return cv2.countNonZero(moving)


def cpu_ms_per_frame(run: Pipeline, jpegs: list[Jpeg], cameras: int, start: int) -> float:
    """Feed `len(jpegs)` frames round-robin over the cameras; CPU ms per frame."""
    began = time.process_time()
    for k, jpeg in enumerate(jpegs):
        index = start + k // cameras
        run(k % cameras, jpeg, index)
    return (time.process_time() - began) / len(jpegs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=16, help="analyzers fed in turn")
    parser.add_argument("--frames", type=int, default=480, help="frames per pipeline per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads for the main runs")
    args = parser.parse_args()

    jpegs = jpeg_frames(args.frames)
    sizes = [len(j) for j in jpegs]
    default_threads = cv2.getNumThreads()
    print(
        f"{len(jpegs)} distinct {WIDTH}×{HEIGHT} JPEG frames"
        f" (quality 85, mean {statistics.mean(sizes) / 1024:.0f} KiB), {args.cameras} cameras in turn,"
        f" {FPS:g} fps each; cv2.setNumThreads({args.threads}) unless said"
        f" (OpenCV's default here: {default_threads}); CPU time, best of {args.rounds} interleaved rounds"
    )
    ours_name, bare_name, reduced_name = (
        "relic-guard: reduced-4 decode + analyzer",
        "bare: full decode + grey + resize + absdiff",
        "bare: reduced-grey-4 decode + absdiff",
    )
    pipelines: dict[str, tuple[Pipeline, int]] = {
        ours_name: (relic_guard(args.cameras, cv2.IMREAD_REDUCED_COLOR_4), args.threads),
        "relic-guard: reduced-2 decode + analyzer": (
            relic_guard(args.cameras, cv2.IMREAD_REDUCED_COLOR_2),
            args.threads,
        ),
        "relic-guard: full decode + analyzer": (relic_guard(args.cameras, cv2.IMREAD_COLOR), args.threads),
        f"relic-guard: reduced-4, {default_threads} OpenCV threads": (
            relic_guard(args.cameras, cv2.IMREAD_REDUCED_COLOR_4),
            default_threads,
        ),
        "decode alone: reduced-4 colour": (decode_only(cv2.IMREAD_REDUCED_COLOR_4), args.threads),
        bare_name: (bare(args.cameras), args.threads),
        reduced_name: (bare_reduced(args.cameras), args.threads),
    }
    best = dict.fromkeys(pipelines, float("inf"))
    # A warm-up pass: every analyzer learns its baselines, every code path is loaded.
    for run, threads in pipelines.values():
        cv2.setNumThreads(threads)
        cpu_ms_per_frame(run, jpegs[: 4 * args.cameras], args.cameras, 0)
    for round_ in range(args.rounds):
        for name, (run, threads) in pipelines.items():
            cv2.setNumThreads(threads)
            ms = cpu_ms_per_frame(run, jpegs, args.cameras, 4 + round_ * (len(jpegs) // args.cameras + 1))
            best[name] = min(best[name], ms)

    print(f"{'pipeline':<46} {'ms/frame':>9} {'cameras/core':>13}")
    for name, ms in best.items():
        print(f"{name:<46} {ms:>9.2f} {1000 / ms / FPS:>13.0f}")
    cameras = {name: 1000 / ms / FPS for name, ms in best.items()}
    ours = cameras[ours_name]
    for name in (bare_name, reduced_name):
        print(f"relic-guard (reduced-4) / {name}: {ours / cameras[name]:.2f}×")
    verdict = {True: "met", False: "NOT met"}
    print(f"target ≥ {TARGET_CAMERAS} cameras per core: {verdict[ours >= TARGET_CAMERAS]} ({ours:.0f})")
    for name in (bare_name, reduced_name):
        print(f"target ≥ {TARGET_RATIO}× {name}: {verdict[ours >= TARGET_RATIO * cameras[name]]}")


if __name__ == "__main__":
    main()
