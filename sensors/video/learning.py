"""Learning rates from elapsed time, so that a model forgets at the same pace at any frame rate."""

from __future__ import annotations

import math


def learning_rate(dt_s: float, time_constant_s: float) -> float:
    """Weight of the newest sample in an exponential mean with the given time constant."""
    return 1.0 - math.exp(-max(dt_s, 0.0) / time_constant_s)
