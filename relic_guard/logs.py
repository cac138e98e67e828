"""Logging for a daemon that people read at 3 a.m.: one line per event, time first, no tracebacks for device faults."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(level: str | None = None) -> None:
    chosen = (level or os.environ.get("RELIC_GUARD_LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(chosen)
    # paho and uvicorn are chatty at INFO; their warnings still show.
    for noisy in ("uvicorn.access", "paho", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
