"""Patrol routes (巡查路线), their checkpoints and how often they must be walked.

A route belongs to one site and lists its checkpoints in walking order; each checkpoint
carries the code printed on its QR label or written to its NFC tag, which the custodian's
phone scans on arrival. A route has one or more frequency rules, after the 2019 fire
guidance for relic buildings (防火巡查 daily, every 2 hours while open to the public,
stronger at night):

- `DailyRule`: at least one round per local day, inside a window (08:00–20:00);
- `WhileOpenRule`: while the site is open to the public, one round every `every_min`
  minutes, each round a window of that length (the last one ends at closing time);
- `NightRule`: rounds at given local times with a tolerance either side (22:00±60 min).

Every time of day here is local time at the site (Asia/Shanghai, no DST since 1991).
The records are checked when built (`__post_init__`), so a planner never meets a rule
whose rounds could overlap: the loader reports the same problems with file and line first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import ClassVar, Final, Protocol

MINUTES_PER_DAY: Final = 24 * 60


class RoundKind(StrEnum):
    """Which frequency rule a round comes from; the values are the TOML `kind` words."""

    DAILY = "daily"
    WHILE_OPEN = "every_n_hours_while_open"
    NIGHT = "night"


class PatrolSite(Protocol):
    """What patrol planning needs of a site; the registry's `Site` satisfies it as it is."""

    @property
    def id(self) -> str: ...
    @property
    def custodians(self) -> tuple[str, ...]: ...
    @property
    def open_hours(self) -> tuple[time, time] | None: ...


def minute_of_day(moment: time) -> int:
    """Minutes since local midnight; seconds are dropped (rounds are planned to the minute)."""
    return moment.hour * 60 + moment.minute


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    id: str
    name: str
    # What the phone reads from the QR label or NFC tag at the spot.
    code: str
    lat: float | None = None
    lon: float | None = None
    # A check-in reporting a position farther than this from (lat, lon) does not count: it
    # guards against a photographed QR label scanned from the office. None: no position check.
    radius_m: float | None = None

    def __post_init__(self) -> None:
        if (self.lat is None) != (self.lon is None):
            raise ValueError(f"checkpoint {self.id}: give both lat and lon, or neither")
        if self.radius_m is not None and (self.radius_m <= 0 or self.lat is None):
            raise ValueError(f"checkpoint {self.id}: radius_m needs lat/lon and must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyRule:
    """One round per local day, to be done between `window_start` and `window_end`."""

    kind: ClassVar[RoundKind] = RoundKind.DAILY
    window_start: time
    window_end: time

    def __post_init__(self) -> None:
        if minute_of_day(self.window_end) <= minute_of_day(self.window_start):
            raise ValueError("a daily window must end after it starts, on the same day")


@dataclass(frozen=True, slots=True, kw_only=True)
class WhileOpenRule:
    """While the site is open (its `open_hours`), a round every `every_min` minutes."""

    kind: ClassVar[RoundKind] = RoundKind.WHILE_OPEN
    every_min: int

    def __post_init__(self) -> None:
        if not 0 < self.every_min <= MINUTES_PER_DAY:
            raise ValueError("every_min must be between 1 and 1440")


@dataclass(frozen=True, slots=True, kw_only=True)
class NightRule:
    """Rounds at the local times `at`, each from `tolerance_min` before to `tolerance_min` after.
    A window may cross midnight (00:30±60 min starts at 23:30 the evening before); the round
    belongs to the night of its nominal time."""

    kind: ClassVar[RoundKind] = RoundKind.NIGHT
    at: tuple[time, ...]
    tolerance_min: int

    def __post_init__(self) -> None:
        if not self.at:
            raise ValueError("a night rule needs at least one time")
        if self.tolerance_min <= 0:
            raise ValueError("tolerance_min must be positive")
        if overlapping_night_times(self.at, self.tolerance_min) is not None:
            raise ValueError("night rounds overlap; space the times at least twice the tolerance apart")


FrequencyRule = DailyRule | WhileOpenRule | NightRule


def overlapping_night_times(at: tuple[time, ...], tolerance_min: int) -> tuple[time, time] | None:
    """Two of the times `at` whose windows (±tolerance_min) would overlap, counting around
    midnight, or None. Overlapping windows would let one walk count for two rounds."""
    ordered = sorted(at, key=minute_of_day)
    width = 2 * tolerance_min
    for left, right in zip(ordered, [*ordered[1:], ordered[0]], strict=True):
        gap = (minute_of_day(right) - minute_of_day(left)) % MINUTES_PER_DAY
        if len(ordered) == 1:
            gap = MINUTES_PER_DAY  # the same time on the next night
        if gap < width:
            return (left, right)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    id: str
    site: str
    name: str
    # In walking order, as the phone lists them; evaluation accepts any order (rounds.py).
    checkpoints: tuple[Checkpoint, ...]
    # Named custodians responsible for walking it (专人负责巡查看护).
    custodians: tuple[str, ...]
    frequency: tuple[FrequencyRule, ...]
    # On a large site (大型遗址) a drone flight that saw enough of it (`[drones]
    # patrol_coverage_share`) and ended inside a round's window completes the round.
    drone_counts: bool = False

    def __post_init__(self) -> None:
        if not self.checkpoints:
            raise ValueError(f"route {self.id}: no checkpoints")
        if len({checkpoint.id for checkpoint in self.checkpoints}) != len(self.checkpoints):
            raise ValueError(f"route {self.id}: checkpoint ids repeat")
        if len({checkpoint.code for checkpoint in self.checkpoints}) != len(self.checkpoints):
            raise ValueError(f"route {self.id}: checkpoint codes repeat")
        # One rule per kind: round ids are made of route, kind and start, and two rules of a
        # kind could plan the same round twice (put several night times in one rule instead).
        if len({rule.kind for rule in self.frequency}) != len(self.frequency):
            raise ValueError(f"route {self.id}: two frequency rules of one kind")


@dataclass(frozen=True, slots=True, kw_only=True)
class Round:
    """One instance of walking a route, due inside [window_start, window_end) (aware datetimes,
    in the site's local time). `id` depends only on the route, the kind and the window start,
    so planning the same span twice gives the same rounds."""

    id: str
    route_id: str
    site: str
    kind: RoundKind
    window_start: datetime
    window_end: datetime
