"""Maintenance windows: repairs and drills at a site, and what they do to its alerts.

A window covers one site from `start` (inclusive) to `end` (exclusive); outside it, it has
no effect at all, so an expired window cannot hide anything. `apply(alert, windows, now)`
returns the alert as it should be sent and recorded, and whether to *suppress* it, which
means: record it and show it in the monitoring center's live queue, but push no
notification to anyone.

The treatment is a table (`TREATMENT`), by (window kind, alert is critical):

| during   | non-critical alert                        | critical alert                              |
|----------|-------------------------------------------|---------------------------------------------|
| repair   | monitoring center only, suppressed        | unchanged, delivered to everyone            |
| drill    | drill=True, monitoring center, suppressed | drill=True, delivered to the monitoring center |

Why: repair work sets off door, vibration and dust-in-smoke-detector alarms that agencies
must not be paged for, but a real fire during repairs (hot work is a classic cause in
wooden buildings) is a real fire. In a drill the alarms are staged, so agencies are not
called; yet a critical alert is never silently hidden: the monitoring center receives it,
marked as a drill, and can still call 119 itself if it is not staged after all.

When a drill and a repair window overlap, the drill wins (the alarms are declared staged).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

import msgspec

from alerts.model import Alert, Audience, Severity


class WindowKind(StrEnum):
    REPAIR = "repair"  # 施工、维修
    DRILL = "drill"  # 消防演练、应急演练


class MaintenanceWindow(msgspec.Struct, frozen=True, kw_only=True):
    site: str
    start: datetime
    end: datetime
    kind: WindowKind
    reason: str
    set_by: str

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a maintenance window must end after it starts")

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True, slots=True)
class Treatment:
    mark_drill: bool
    monitoring_center_only: bool
    suppressed: bool


UNCHANGED: Final = Treatment(mark_drill=False, monitoring_center_only=False, suppressed=False)

TREATMENT: Final[dict[tuple[WindowKind, bool], Treatment]] = {
    (WindowKind.REPAIR, False): Treatment(mark_drill=False, monitoring_center_only=True, suppressed=True),
    (WindowKind.REPAIR, True): UNCHANGED,
    (WindowKind.DRILL, False): Treatment(mark_drill=True, monitoring_center_only=True, suppressed=True),
    (WindowKind.DRILL, True): Treatment(mark_drill=True, monitoring_center_only=True, suppressed=False),
}

# Which window decides when several are active at once: the lowest number.
_PRECEDENCE: Final = {WindowKind.DRILL: 0, WindowKind.REPAIR: 1}


def active_window(alert: Alert, windows: Iterable[MaintenanceWindow], now: datetime) -> MaintenanceWindow | None:
    """The window that governs `alert` at `now` (drill before repair; then the earliest start)."""
    active = [window for window in windows if window.site == alert.site and window.active(now)]
    if not active:
        return None
    return min(active, key=lambda window: (_PRECEDENCE[window.kind], window.start, window.end))


def apply(alert: Alert, windows: Iterable[MaintenanceWindow], now: datetime) -> tuple[Alert, bool]:
    """The alert as it should go out at `now`, and whether to suppress its notification
    (see the module docstring for the table)."""
    window = active_window(alert, windows, now)
    if window is None:
        return alert, False
    treatment = TREATMENT[(window.kind, alert.severity is Severity.CRITICAL)]
    changes: dict[str, object] = {}
    if treatment.mark_drill and not alert.drill:
        changes["drill"] = True
    if treatment.monitoring_center_only and alert.audiences != (Audience.MONITORING_CENTER,):
        changes["audiences"] = (Audience.MONITORING_CENTER,)
    if changes:
        alert = msgspec.structs.replace(alert, **changes)
    return alert, treatment.suppressed


def in_force(windows: Iterable[MaintenanceWindow], now: datetime) -> list[MaintenanceWindow]:
    """Windows not yet over at `now` (active or future): expired ones can be dropped."""
    return [window for window in windows if window.end > now]
