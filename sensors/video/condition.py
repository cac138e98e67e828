"""One camera condition over time: raised once after it has held, cleared once after it has gone.

A transition table on (stage, seen in this frame), then two timed promotions:

    stage      seen      not seen
    IDLE       RISING    IDLE
    RISING     RISING    IDLE          RISING held `raise_after_s` → ACTIVE, emits START
    ACTIVE     ACTIVE    FALLING
    FALLING    ACTIVE    FALLING       FALLING held `clear_after_s` → IDLE, emits END

So a condition must be seen in every frame for the raise time (a passer-by in front of the
lens is not a covered lens), and a blip inside an active condition does not end it. The
detectors add the other half of the hysteresis: a stricter threshold to raise than to clear.
A frame the detector cannot judge (held) is simply not stepped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Final

from sensors.video.model import Phase, VideoEvent, VideoEventType


class Stage(Enum):
    IDLE = "idle"
    RISING = "rising"
    ACTIVE = "active"
    FALLING = "falling"


_NEXT: Final[dict[tuple[Stage, bool], Stage]] = {
    (Stage.IDLE, True): Stage.RISING,
    (Stage.IDLE, False): Stage.IDLE,
    (Stage.RISING, True): Stage.RISING,
    (Stage.RISING, False): Stage.IDLE,
    (Stage.ACTIVE, True): Stage.ACTIVE,
    (Stage.ACTIVE, False): Stage.FALLING,
    (Stage.FALLING, True): Stage.ACTIVE,
    (Stage.FALLING, False): Stage.FALLING,
}


@dataclass(slots=True)
class Condition:
    type: VideoEventType
    raise_after_s: float
    clear_after_s: float
    zone: str | None = None
    # Located conditions (smoke, flame) take the zone they are seen in, fixed at START.
    located: bool = False
    candidate: bool = False
    stage: Stage = Stage.IDLE
    # When the current RISING or FALLING stage began (START's and END's `since`).
    mark: datetime | None = None
    peak_score: float = 0.0
    last_detail: Mapping[str, float] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.stage is Stage.ACTIVE or self.stage is Stage.FALLING

    def step(
        self,
        seen: bool,
        at: datetime,
        frame_index: int,
        *,
        score: float = 1.0,
        detail: Mapping[str, float] | None = None,
        zone: str | None = None,
    ) -> VideoEvent | None:
        """Advance by one judged frame; the START or END it causes, if any."""
        stage = _NEXT[(self.stage, seen)]
        if stage is not self.stage:
            if stage is Stage.RISING or stage is Stage.FALLING:
                self.mark = at
            self.stage = stage
        if seen:
            self.last_detail = detail or {}
            if self.active:
                self.peak_score = max(self.peak_score, score)
        if self.stage is Stage.RISING and self._held(at, self.raise_after_s):
            self.stage = Stage.ACTIVE
            self.peak_score = score
            if self.located:
                self.zone = zone
            return self._event(Phase.START, at, frame_index, score)
        if self.stage is Stage.FALLING and self._held(at, self.clear_after_s):
            return self.end(at, frame_index)
        return None

    def end(self, at: datetime, frame_index: int | None) -> VideoEvent | None:
        """Stop now (disarmed, camera reset, analyzer closed): END if it was active."""
        was_active = self.active
        since = self.mark if self.stage is Stage.FALLING and self.mark is not None else at
        self.stage, self.mark = Stage.IDLE, None
        if not was_active:
            return None
        return VideoEvent(
            type=self.type,
            phase=Phase.END,
            at=at,
            frame_index=frame_index,
            since=since,
            zone=self.zone,
            score=round(self.peak_score, 3),
            candidate=self.candidate,
            detail=self.last_detail,
        )

    def _held(self, at: datetime, needed_s: float) -> bool:
        return self.mark is not None and (at - self.mark).total_seconds() >= needed_s

    def _event(self, phase: Phase, at: datetime, frame_index: int, score: float) -> VideoEvent:
        return VideoEvent(
            type=self.type,
            phase=phase,
            at=at,
            frame_index=frame_index,
            since=self.mark if self.mark is not None else at,
            zone=self.zone,
            score=round(score, 3),
            candidate=self.candidate,
            detail=self.last_detail,
        )
