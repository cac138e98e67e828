"""What the video analyzer emits: `VideoEvent`, one edge of a camera condition.

Every condition (motion in a zone, a covered lens, defocus, a moved camera, smoke or
flame cues, video loss) is reported twice: a `START` when it has held long enough, and
an `END` when it has been gone long enough. Between the two the condition is active and
nothing more is said, so a covered lens raises once and clears once however many frames
it lasts. For one (type, zone) the phases strictly alternate, beginning with `START`.

`type` uses the contract's words (CONTRACT §1, video events): `scene_change` is the
camera moved; `score` is the contract's 0–1 confidence. Smoke and flame from pixels alone
are weak evidence, so they come as `candidate` events with a capped score: signals that
may back a fire detector's alarm, not alarms of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class VideoEventType(StrEnum):
    MOTION = "motion"
    OCCLUSION = "occlusion"
    DEFOCUS = "defocus"
    SCENE_CHANGE = "scene_change"
    SMOKE = "smoke"
    FLAME = "flame"
    VIDEO_LOSS = "video_loss"


class Phase(StrEnum):
    START = "start"
    END = "end"


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoEvent:
    type: VideoEventType
    phase: Phase
    # The time of the frame that decided it (for video loss: the `now` it was judged at).
    at: datetime
    # Index (0-based, per analyzer) of the frame that decided it: the frame the caller holds
    # when `feed` returns, so an evidence snapshot can be cut from it. None for video loss and
    # for what `close()` or `accept_view()` ended.
    frame_index: int | None
    # START: when the condition was first seen (it then had to hold for the raise time).
    # END: when it was first missed (it then had to stay away for the clear time), or `at`
    # when it was ended by force (zone disarmed, analyzer closed). Video loss: the time of the
    # last frame before the silence.
    since: datetime
    # The zone the condition is in, when it has one (motion always; smoke, flame by position).
    zone: str | None = None
    # 0–1. START: the confidence when raised; END: the highest reached while active.
    score: float = 1.0
    # True for smoke and flame cues: to corroborate fire alarms, not to open alarms alone.
    candidate: bool = False
    # The measurements behind the decision (shares, ratios, pixels), for the record.
    detail: Mapping[str, float] = field(default_factory=dict)

    @property
    def clear(self) -> bool:
        """True on END: the contract's `clear` (the condition has ended)."""
        return self.phase is Phase.END
