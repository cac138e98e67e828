"""The hazard lifecycle: every (status, command) pair, evidence rules, reasons, deadlines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from relic_guard.hazards import model
from relic_guard.hazards.model import (
    DEFAULT_RECTIFY_WORKING_DAYS,
    TRANSITIONS,
    Evidence,
    EvidenceKind,
    Hazard,
    HazardCommand,
    HazardSource,
    HazardStatus,
    IllegalHazardTransition,
    InvalidHazard,
    MissingEvidence,
    Severity,
    Transition,
    deadline_for,
)

NOW = datetime(2024, 10, 9, 2, 0, tzinfo=UTC)  # 10:00 in China, a working Wednesday
PHOTO = Evidence(EvidenceKind.PHOTO, "消防通道已清理，杂物移走", photo_sha256="a" * 64)
DOCUMENT = Evidence(EvidenceKind.DOCUMENT, "电气线路检测报告", url="https://files.example/report-17.pdf")


def hazard(status: HazardStatus = HazardStatus.OPEN, **kw: object) -> Hazard:
    base = Hazard(id=7, site_id="jn-lingyansi", source=HazardSource.PATROL, source_ref="patrol-3",
                  title="东配殿后檐墙裂缝", description="新裂缝约 30 厘米", severity=Severity.MAJOR,
                  owner="user:wang", found_at=datetime(2024, 9, 25, 1, 0, tzinfo=UTC), deadline=date(2024, 10, 14),
                  status=status)
    return replace(base, **kw)  # type: ignore[arg-type]


RUN: dict[HazardCommand, Callable[[Hazard], Transition]] = {
    HazardCommand.PLAN: lambda h: model.plan(h, by="user:wang", now=NOW, plan_text="请古建队加固，十日内完成"),
    HazardCommand.CLOSE: lambda h: model.close(h, by="user:wang", now=NOW, evidence=[PHOTO]),
    HazardCommand.CANCEL: lambda h: model.cancel(h, by="user:li", now=NOW, reason="与 #5 重复"),
    HazardCommand.REOPEN: lambda h: model.reopen(h, by="user:li", now=NOW, reason="复查发现裂缝扩大"),
}

EXPECTED = {
    (HazardStatus.OPEN, HazardCommand.PLAN): HazardStatus.RECTIFYING,
    (HazardStatus.OPEN, HazardCommand.CLOSE): HazardStatus.CLOSED,
    (HazardStatus.OPEN, HazardCommand.CANCEL): HazardStatus.CANCELLED,
    (HazardStatus.OPEN, HazardCommand.REOPEN): None,
    (HazardStatus.RECTIFYING, HazardCommand.PLAN): None,
    (HazardStatus.RECTIFYING, HazardCommand.CLOSE): HazardStatus.CLOSED,
    (HazardStatus.RECTIFYING, HazardCommand.CANCEL): HazardStatus.CANCELLED,
    (HazardStatus.RECTIFYING, HazardCommand.REOPEN): None,
    (HazardStatus.CLOSED, HazardCommand.PLAN): None,
    (HazardStatus.CLOSED, HazardCommand.CLOSE): None,
    (HazardStatus.CLOSED, HazardCommand.CANCEL): None,
    (HazardStatus.CLOSED, HazardCommand.REOPEN): HazardStatus.OPEN,
    (HazardStatus.CANCELLED, HazardCommand.PLAN): None,
    (HazardStatus.CANCELLED, HazardCommand.CLOSE): None,
    (HazardStatus.CANCELLED, HazardCommand.CANCEL): None,
    (HazardStatus.CANCELLED, HazardCommand.REOPEN): None,
}


def test_expected_table_covers_every_pair_and_matches_the_model() -> None:
    assert set(EXPECTED) == {(s, c) for s in HazardStatus for c in HazardCommand}
    assert {k: v for k, v in EXPECTED.items() if v is not None} == TRANSITIONS


@pytest.mark.parametrize(("status", "command"), sorted(EXPECTED))
def test_every_status_and_command(status: HazardStatus, command: HazardCommand) -> None:
    start = hazard(status)
    if status is HazardStatus.CLOSED:
        start = replace(start, closed_at=NOW, closed_by="user:wang", evidence=(PHOTO,))
    expected = EXPECTED[(status, command)]
    if expected is None:
        with pytest.raises(IllegalHazardTransition) as refused:
            RUN[command](start)
        assert refused.value.status is status and refused.value.command is command
        assert f"cannot {command.value} a hazard that is {status.value}" == str(refused.value)
        return
    moved = RUN[command](start)
    assert moved.hazard.status is expected
    assert moved.event.hazard_id == 7 and moved.event.at == NOW
    assert moved.event.kind == f"hazard.{ {'plan': 'planned', 'close': 'closed', 'cancel': 'cancelled', 'reopen': 'reopened'}[command.value]}"
    assert start.status is status  # the input is not changed


def test_closing_without_evidence_says_what_is_missing() -> None:
    for status in (HazardStatus.OPEN, HazardStatus.RECTIFYING):
        with pytest.raises(MissingEvidence, match="without evidence: add at least one photo or document"):
            model.close(hazard(status), by="user:wang", now=NOW, evidence=[])


@pytest.mark.parametrize(("item", "missing"), [
    (Evidence(EvidenceKind.PHOTO, "  ", photo_sha256="b" * 64), "a note saying what the evidence shows"),
    (Evidence(EvidenceKind.PHOTO, "照片"), "exactly one reference"),
    (Evidence(EvidenceKind.DOCUMENT, "报告", url="https://x", photo_sha256="b" * 64), "exactly one reference"),
    (Evidence(EvidenceKind.PHOTO, "照片", photo_sha256="XYZ"), "64 lowercase hex digits"),
    (Evidence(EvidenceKind.DOCUMENT, "报告", url=" "), "a non-empty URL"),
])
def test_incomplete_evidence_is_refused(item: Evidence, missing: str) -> None:
    with pytest.raises(MissingEvidence, match=f"evidence item 2 of hazard 7 needs .*{missing}"):
        model.close(hazard(), by="user:wang", now=NOW, evidence=[DOCUMENT, item])


def test_close_records_who_when_and_the_evidence() -> None:
    moved = model.close(hazard(HazardStatus.RECTIFYING), by="user:wang", now=NOW, evidence=[PHOTO, DOCUMENT])
    assert (moved.hazard.closed_at, moved.hazard.closed_by, moved.hazard.evidence) == (NOW, "user:wang",
                                                                                        (PHOTO, DOCUMENT))
    assert moved.event.detail == {"evidence": [PHOTO.as_json(), DOCUMENT.as_json()]}
    assert Evidence.from_json(PHOTO.as_json()) == PHOTO and Evidence.from_json(DOCUMENT.as_json()) == DOCUMENT


@pytest.mark.parametrize("command", [HazardCommand.CANCEL, HazardCommand.REOPEN, HazardCommand.PLAN])
def test_reasons_and_plans_are_required(command: HazardCommand) -> None:
    with pytest.raises(InvalidHazard, match="required"):
        if command is HazardCommand.CANCEL:
            model.cancel(hazard(), by="user:li", now=NOW, reason=" ")
        elif command is HazardCommand.REOPEN:
            model.reopen(hazard(HazardStatus.CLOSED, closed_at=NOW, closed_by="u", evidence=(PHOTO,)),
                         by="user:li", now=NOW, reason="")
        else:
            model.plan(hazard(), by="user:wang", now=NOW, plan_text="")


def test_reopen_clears_the_close_and_counts_a_new_deadline_from_today() -> None:
    closed = hazard(HazardStatus.CLOSED, plan="加固", closed_at=NOW, closed_by="user:wang", evidence=(PHOTO,))
    moved = model.reopen(closed, by="user:li", now=NOW, reason="复查发现裂缝扩大")
    assert moved.hazard.status is HazardStatus.OPEN
    assert (moved.hazard.closed_at, moved.hazard.closed_by, moved.hazard.evidence, moved.hazard.plan) == (
        None, None, (), None)
    # 10 working days from Wednesday 2024-10-09: 10, 11, 12 (adjusted Saturday), 14…18, 21, 22
    assert moved.hazard.deadline == date(2024, 10, 22)
    assert moved.event.detail == {"reason": "复查发现裂缝扩大", "deadline": "2024-10-22",
                                  "previous_deadline": "2024-10-14"}
    # closing again needs new evidence
    with pytest.raises(MissingEvidence):
        model.close(moved.hazard, by="user:wang", now=NOW, evidence=moved.hazard.evidence)


def test_default_deadlines_by_severity() -> None:
    assert DEFAULT_RECTIFY_WORKING_DAYS == {Severity.MAJOR: 10, Severity.GENERAL: 20}
    assert deadline_for(Severity.MAJOR, date(2024, 9, 25)) == date(2024, 10, 14)
    assert deadline_for(Severity.GENERAL, date(2025, 1, 20)) == date(2025, 2, 21)
    assert deadline_for(Severity.GENERAL, date(2025, 1, 20), {Severity.GENERAL: 1}) == date(2025, 1, 21)
