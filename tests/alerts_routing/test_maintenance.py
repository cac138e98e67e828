"""Maintenance windows: repairs suppress non-critical alerts for agencies, drills mark alerts,
critical alerts are never silently hidden, and the window edges are exact."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from alerts.maintenance import TREATMENT, MaintenanceWindow, WindowKind, active_window, apply, in_force
from alerts.model import Audience, Category, Severity

from .support import alert, at

A = Audience
TICK = timedelta(microseconds=1)
START, END = at(3600), at(7200)
FULL = (A.MONITORING_CENTER, A.CUSTODIANS, A.POLICE)


def window(
    kind: WindowKind, site: str = "lingyan-si", start: datetime = START, end: datetime = END
) -> MaintenanceWindow:
    return MaintenanceWindow(site=site, start=start, end=end, kind=kind, reason="修缮", set_by="王建国")


REPAIR, DRILL = window(WindowKind.REPAIR), window(WindowKind.DRILL)


@pytest.mark.parametrize(
    ("case", "windows", "severity", "now", "drill", "audiences", "suppressed"),
    [
        ("no window", [], Severity.MAJOR, START, False, FULL, False),
        ("repair, just before start", [REPAIR], Severity.MAJOR, START - TICK, False, FULL, False),
        ("repair, at start", [REPAIR], Severity.MAJOR, START, False, (A.MONITORING_CENTER,), True),
        ("repair, last instant", [REPAIR], Severity.MAJOR, END - TICK, False, (A.MONITORING_CENTER,), True),
        ("repair, at end (expired)", [REPAIR], Severity.MAJOR, END, False, FULL, False),
        ("repair, long expired", [REPAIR], Severity.MAJOR, END + timedelta(days=30), False, FULL, False),
        ("repair, critical untouched", [REPAIR], Severity.CRITICAL, START, False, FULL, False),
        (
            "drill, critical: delivered to MC as drill",
            [DRILL],
            Severity.CRITICAL,
            START,
            True,
            (A.MONITORING_CENTER,),
            False,
        ),
        ("drill, non-critical: recorded as drill", [DRILL], Severity.MINOR, START, True, (A.MONITORING_CENTER,), True),
        ("drill, at end (expired)", [DRILL], Severity.CRITICAL, END, False, FULL, False),
        ("drill, just before start", [DRILL], Severity.CRITICAL, START - TICK, False, FULL, False),
        (
            "other site's window",
            [window(WindowKind.REPAIR, site="simen-ta")],
            Severity.MAJOR,
            START,
            False,
            FULL,
            False,
        ),
        ("drill wins over repair", [REPAIR, DRILL], Severity.CRITICAL, START, True, (A.MONITORING_CENTER,), False),
    ],
)
def test_apply_table(
    case: str,
    windows: list[MaintenanceWindow],
    severity: Severity,
    now: datetime,
    drill: bool,
    audiences: tuple[Audience, ...],
    suppressed: bool,
) -> None:
    made = alert(Category.SECURITY, severity, audience=FULL)
    out, hidden = apply(made, windows, now)
    assert (out.drill, out.audiences, hidden) == (drill, audiences, suppressed), case
    assert out.id == made.id  # the same alert, recorded, never dropped


def test_a_critical_alert_is_never_suppressed() -> None:
    for (_, critical), treatment in TREATMENT.items():
        if critical:
            assert not treatment.suppressed
    for kind in WindowKind:
        for severity in Severity:
            out, hidden = apply(alert(severity=severity), [window(kind)], START)
            if severity is Severity.CRITICAL:
                assert not hidden and A.MONITORING_CENTER in out.audiences


def test_treatment_table_is_complete() -> None:
    assert set(TREATMENT) == {(kind, critical) for kind in WindowKind for critical in (False, True)}


def test_active_window_and_in_force() -> None:
    late = window(WindowKind.REPAIR, start=at(5000), end=at(9000))
    assert active_window(alert(), [late, REPAIR], at(6000)) is REPAIR  # earliest start
    assert in_force([REPAIR, late], END) == [late]


def test_window_must_end_after_start() -> None:
    with pytest.raises(ValueError, match="end after"):
        window(WindowKind.DRILL, start=END, end=START)
