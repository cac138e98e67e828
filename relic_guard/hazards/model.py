"""Hazards (隐患) and their lifecycle as a transition table: open → rectifying → closed.

A hazard is found on a patrol, an inspection, from an alert, or reported from a custodian's phone
(`HazardSource`). It has a severity (重大隐患 major, 一般隐患 general), an owner who must rectify it
(整改), and a deadline in working days (`deadline_for`). The 2020 No. 24 opinions ask that major
hazards be tracked until closed (督办), so a hazard is closed only with evidence that it was dealt
with, and a closed one can be reopened when a re-inspection finds it again.

`TRANSITIONS` maps (status, command) to the next status; any pair not in it raises
`IllegalHazardTransition`. The command functions (`plan`, `close`, `cancel`, `reopen`) never read
the clock: they return a `Transition`, the new hazard and the timeline event that records the move.

Why these moves:
- open → closed directly: a blocked fire lane is cleared the same afternoon, with no plan to file;
- open/rectifying → cancelled, with a reason: a duplicate of another hazard, or not a hazard at
  all (the crack was there in the 1990s survey). Cancelling needs no evidence, only the reason;
- closed → open (reopen), with a reason: the rectification did not hold. The old evidence is kept
  in the `closed` event of the timeline but removed from the hazard, so closing again needs new
  evidence, and the deadline is counted again from the day it was reopened;
- cancelled is terminal: a cancelled hazard that turns out to be real is raised anew.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from relic_guard.cited import reference_json, reference_of, reference_problems
from relic_guard.errors import RelicGuardError
from relic_guard.hazards.workdays import add_working_days, local_day


class HazardError(RelicGuardError):
    """Root of the hazard tracker's refusals."""


class IllegalHazardTransition(HazardError):  # noqa: N818 (as alerts.errors.IllegalTransition)
    """The lifecycle table has no move for (status, command), e.g. closing a cancelled hazard."""

    def __init__(self, status: HazardStatus, command: HazardCommand) -> None:
        super().__init__(f"cannot {command.value} a hazard that is {status.value}")
        self.status = status
        self.command = command


class MissingEvidence(HazardError, ValueError):  # noqa: N818 (reads as what the close lacks)
    """A close without evidence (or with an incomplete item); the message says what is missing."""


class InvalidHazard(HazardError, ValueError):  # noqa: N818
    """A hazard or command argument that cannot be recorded (an empty reason, title or owner)."""


class UnknownHazard(HazardError, KeyError):  # noqa: N818
    """No hazard (or no hazard report) has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class HazardStatus(StrEnum):
    OPEN = "open"
    RECTIFYING = "rectifying"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """Still someone's job: reminded, escalated, listed as open."""
        return self in (HazardStatus.OPEN, HazardStatus.RECTIFYING)


class HazardCommand(StrEnum):
    PLAN = "plan"
    CLOSE = "close"
    CANCEL = "cancel"
    REOPEN = "reopen"


class HazardSource(StrEnum):
    PATROL = "patrol"
    INSPECTION = "inspection"
    ALERT = "alert"
    REPORT = "report"


class Severity(StrEnum):
    MAJOR = "major"  # 重大隐患
    GENERAL = "general"  # 一般隐患


class EvidenceKind(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"


TRANSITIONS: Final[dict[tuple[HazardStatus, HazardCommand], HazardStatus]] = {
    (HazardStatus.OPEN, HazardCommand.PLAN): HazardStatus.RECTIFYING,
    (HazardStatus.OPEN, HazardCommand.CLOSE): HazardStatus.CLOSED,
    (HazardStatus.OPEN, HazardCommand.CANCEL): HazardStatus.CANCELLED,
    (HazardStatus.RECTIFYING, HazardCommand.CLOSE): HazardStatus.CLOSED,
    (HazardStatus.RECTIFYING, HazardCommand.CANCEL): HazardStatus.CANCELLED,
    (HazardStatus.CLOSED, HazardCommand.REOPEN): HazardStatus.OPEN,
}

# Default rectification periods in working days from the day found (or reopened). They are
# defaults, not policy text: a district may set its own in configuration later, and
# `deadline_for` takes the table as an argument for that reason.
DEFAULT_RECTIFY_WORKING_DAYS: Final[Mapping[Severity, int]] = {
    Severity.MAJOR: 10,
    Severity.GENERAL: 20,
}

MAX_NOTE_CHARS: Final = 2000


@dataclass(frozen=True, slots=True)
class Evidence:
    """One proof of rectification: a photo (by the SHA-256 of a stored photo) or a document or
    photo elsewhere (by URL), always with a note saying what it shows."""

    kind: EvidenceKind
    note: str
    url: str | None = None
    photo_sha256: str | None = None

    def problems(self) -> list[str]:
        return reference_problems(self.note, self.url, self.photo_sha256, note_says="what the evidence shows",
                                  max_note_chars=MAX_NOTE_CHARS)

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, **reference_json(self.note, self.url, self.photo_sha256)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Evidence:
        url, sha = reference_of(data)
        return cls(kind=EvidenceKind(str(data["kind"])), note=str(data["note"]), url=url, photo_sha256=sha)


@dataclass(frozen=True, slots=True)
class Hazard:
    id: int
    site_id: str
    source: HazardSource
    source_ref: str | None
    title: str
    description: str
    severity: Severity
    owner: str
    found_at: datetime
    deadline: date
    status: HazardStatus = HazardStatus.OPEN
    plan: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class HazardEvent:
    """One line of a hazard's timeline (and of the audit trail): `kind` is `hazard.<what>`."""

    hazard_id: int
    at: datetime
    kind: str
    actor: str
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Transition:
    hazard: Hazard
    event: HazardEvent


def deadline_for(severity: Severity, found_on: date,
                 periods: Mapping[Severity, int] = DEFAULT_RECTIFY_WORKING_DAYS) -> date:
    """The last day to rectify: `periods[severity]` working days after the day found."""
    return add_working_days(found_on, periods[severity])


def next_status(status: HazardStatus, command: HazardCommand) -> HazardStatus:
    try:
        return TRANSITIONS[(status, command)]
    except KeyError:
        raise IllegalHazardTransition(status, command) from None


def _required(text: str | None, what: str) -> str:
    if text is None or not text.strip():
        raise InvalidHazard(f"{what} is required")
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidHazard(f"{what} has at most {MAX_NOTE_CHARS} characters")
    return text.strip()


def plan(hazard: Hazard, *, by: str, now: datetime, plan_text: str) -> Transition:
    """The owner has a rectification plan (整改方案): open → rectifying."""
    status = next_status(hazard.status, HazardCommand.PLAN)
    text = _required(plan_text, "a rectification plan")
    return Transition(replace(hazard, status=status, plan=text),
                      HazardEvent(hazard.id, now, "hazard.planned", by, {"plan": text}))


def close(hazard: Hazard, *, by: str, now: datetime, evidence: Iterable[Evidence]) -> Transition:
    """Rectified: closed with at least one complete evidence item (photo or document, and a note)."""
    status = next_status(hazard.status, HazardCommand.CLOSE)
    items = tuple(evidence)
    if not items:
        raise MissingEvidence(
            f"hazard {hazard.id} cannot be closed without evidence: add at least one photo or document "
            "reference with a note saying what it shows"
        )
    for number, item in enumerate(items, start=1):
        missing = item.problems()
        if missing:
            raise MissingEvidence(f"evidence item {number} of hazard {hazard.id} needs " + "; ".join(missing))
    closed = replace(hazard, status=status, closed_at=now, closed_by=by, evidence=items)
    return Transition(closed, HazardEvent(hazard.id, now, "hazard.closed", by,
                                          {"evidence": [item.as_json() for item in items]}))


def cancel(hazard: Hazard, *, by: str, now: datetime, reason: str) -> Transition:
    """Not a hazard, or a duplicate: cancelled with the reason."""
    status = next_status(hazard.status, HazardCommand.CANCEL)
    text = _required(reason, "a reason for cancelling")
    return Transition(replace(hazard, status=status, closed_at=now, closed_by=by),
                      HazardEvent(hazard.id, now, "hazard.cancelled", by, {"reason": text}))


def reopen(hazard: Hazard, *, by: str, now: datetime, reason: str,
           periods: Mapping[Severity, int] = DEFAULT_RECTIFY_WORKING_DAYS) -> Transition:
    """A re-inspection found it again: closed → open, with a new deadline from today."""
    status = next_status(hazard.status, HazardCommand.REOPEN)
    text = _required(reason, "a reason for reopening")
    deadline = deadline_for(hazard.severity, local_day(now), periods)
    reopened = replace(hazard, status=status, plan=None, closed_at=None, closed_by=None, evidence=(),
                       deadline=deadline)
    return Transition(reopened, HazardEvent(hazard.id, now, "hazard.reopened", by,
                                            {"reason": text, "deadline": deadline.isoformat(),
                                             "previous_deadline": hazard.deadline.isoformat()}))
