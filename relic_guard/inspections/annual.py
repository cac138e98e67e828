"""Annual inspections (年度检查): the yearly plan, the lifecycle of an inspection, overdue notices.

The 2020 No. 24 opinions ask that the city supervise each district once a year (每年督察一次) and
that each district inspect and evaluate the protection of every site in its area once a year, with
a full record of the work (全过程记录). `plan_year` turns the registry into that year's plan: one
`district_supervision` per district that has sites, one `site_evaluation` per site. Ids are stable
(`2026/district_supervision/历下区`, `2026/site_evaluation/lingyan-si`), so planning the same year
again, in another order, after downtime or from another daemon names the same inspections, and
the store inserts only what is missing. The 双随机 fire inspections (`fire_random`, made by a stored
draw) share the lifecycle below and the overdue planning, not the yearly plan.

Lifecycle as a table (`TRANSITIONS`; anything else raises `IllegalInspectionTransition`):

    planned  --assign-->   assigned      (who inspects: one or more people, in team order)
    assigned --assign-->   assigned      (reassigned: people change, the record keeps both)
    assigned --complete--> done          (a rating good|fair|poor and a summary; findings)
    planned  --cancel-->   cancelled     (with a reason: a site closed for restoration all year)
    assigned --cancel-->   cancelled
An inspection nobody was assigned to cannot be completed: the record must say who inspected. Each
finding is a hazard (重大 or 一般隐患) that the store tracks until rectified; a finding of a
district supervision names the site it was found at.

Overdue (`overdue_notice`): an inspection still planned or assigned after its due day is overdue.
At `notify_at` (09:00 China time) of the day after the due day, the assignees and the district's
culture bureau are reminded (step 1); `escalate_after_working_days` working days later the city
bureau is told (step 2), as the city tracks what districts leave undone (督办). The state (the due
day counted for and the steps done) makes it idempotent; missed steps are not replayed as a burst:
one notice carries every audience the missed steps add.

Pure: `now` comes in, nothing reads the clock or the database.

Exceptions:

    RelicGuardError
     └── InspectionError                 every refusal of this module and the inspection store
          ├── IllegalInspectionTransition  (status, command) is not in the table
          ├── InvalidInspection            an argument that cannot be recorded (also a ValueError)
          └── UnknownInspection            no inspection has this id (also a KeyError)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Final, Protocol

from relic_guard.cited import reference_json, reference_of, reference_problems
from relic_guard.config import InspectionsConfig
from relic_guard.errors import RelicGuardError
from relic_guard.hazards.model import Severity
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME, add_working_days, local_day


class InspectionError(RelicGuardError):
    """Root of the refusals of annual inspections and the inspection store."""


class IllegalInspectionTransition(InspectionError):  # noqa: N818 (as IllegalHazardTransition)
    """The lifecycle table has no move for (status, command), e.g. completing a cancelled inspection."""

    def __init__(self, inspection_id: str, status: InspectionStatus, command: InspectionCommand) -> None:
        hint = _HINTS.get((status, command), "")
        super().__init__(f"cannot {command.value} inspection {inspection_id}: it is {status.value}{hint}")
        self.inspection_id = inspection_id
        self.status = status
        self.command = command


class InvalidInspection(InspectionError, ValueError):  # noqa: N818 (reads as what the argument is)
    """An argument that cannot be recorded; the message says what is wrong and how to fix it."""


class UnknownInspection(InspectionError, KeyError):  # noqa: N818
    """No inspection has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InspectionKind(StrEnum):
    DISTRICT_SUPERVISION = "district_supervision"  # 市对区县的年度督察
    SITE_EVALUATION = "site_evaluation"  # 区县对文物点的年度检查评估
    FIRE_RANDOM = "fire_random"  # 双随机消防检查


class InspectionStatus(StrEnum):
    PLANNED = "planned"
    ASSIGNED = "assigned"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """Still to be done: listed as open, reminded and escalated when overdue."""
        return self in (InspectionStatus.PLANNED, InspectionStatus.ASSIGNED)


class InspectionCommand(StrEnum):
    ASSIGN = "assign"
    COMPLETE = "complete"
    CANCEL = "cancel"


class Rating(StrEnum):
    GOOD = "good"  # 优
    FAIR = "fair"  # 中
    POOR = "poor"  # 差


TRANSITIONS: Final[Mapping[tuple[InspectionStatus, InspectionCommand], InspectionStatus]] = {
    (InspectionStatus.PLANNED, InspectionCommand.ASSIGN): InspectionStatus.ASSIGNED,
    (InspectionStatus.ASSIGNED, InspectionCommand.ASSIGN): InspectionStatus.ASSIGNED,
    (InspectionStatus.ASSIGNED, InspectionCommand.COMPLETE): InspectionStatus.DONE,
    (InspectionStatus.PLANNED, InspectionCommand.CANCEL): InspectionStatus.CANCELLED,
    (InspectionStatus.ASSIGNED, InspectionCommand.CANCEL): InspectionStatus.CANCELLED,
}

# What to do instead, for the refusals people run into.
_HINTS: Final[Mapping[tuple[InspectionStatus, InspectionCommand], str]] = {
    (InspectionStatus.PLANNED, InspectionCommand.COMPLETE):
        "; assign it first to the people who inspect (the record names who did the work)",
    (InspectionStatus.DONE, InspectionCommand.COMPLETE): "; it was completed already",
    (InspectionStatus.DONE, InspectionCommand.CANCEL): "; a completed inspection stays on record",
    (InspectionStatus.DONE, InspectionCommand.ASSIGN): "; a completed inspection stays on record",
    (InspectionStatus.CANCELLED, InspectionCommand.COMPLETE):
        "; a cancelled inspection cannot be taken up again",
    (InspectionStatus.CANCELLED, InspectionCommand.ASSIGN):
        "; a cancelled inspection cannot be taken up again",
    (InspectionStatus.CANCELLED, InspectionCommand.CANCEL): "; it was cancelled already",
}

# The words people read (CLI tables, API labels), Chinese as the bureaus write them.
KIND_ZH: Final[Mapping[InspectionKind, str]] = {
    InspectionKind.DISTRICT_SUPERVISION: "区县年度督察",
    InspectionKind.SITE_EVALUATION: "年度检查评估",
    InspectionKind.FIRE_RANDOM: "双随机消防检查",
}
STATUS_ZH: Final[Mapping[InspectionStatus, str]] = {
    InspectionStatus.PLANNED: "待安排",
    InspectionStatus.ASSIGNED: "已安排",
    InspectionStatus.DONE: "已完成",
    InspectionStatus.CANCELLED: "已取消",
}
RATING_ZH: Final[Mapping[Rating, str]] = {Rating.GOOD: "优", Rating.FAIR: "中", Rating.POOR: "差"}
SEVERITY_ZH: Final[Mapping[Severity, str]] = {Severity.MAJOR: "重大隐患", Severity.GENERAL: "一般隐患"}

MAX_TEXT_CHARS: Final = 2000
MAX_TITLE_CHARS: Final = 200  # as a hazard's title (hazards table)
MAX_ASSIGNEES: Final = 20
MAX_ASSIGNEE_CHARS: Final = 64
MAX_ITEMS: Final = 50  # findings, attachments
_MONTH_DAY_RE: Final = re.compile(r"^(\d{2})-(\d{2})$")
# Whitespace, control characters and the comma that separates people on the command line.
_ASSIGNEE_RE: Final = re.compile(r"^[^\s,\x00-\x1f\x7f]+$")


# The plan -------------------------------------------------------------------------------------


class PlanSite(Protocol):
    """What planning needs of a site; the registry's `Site` has it."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def district(self) -> str: ...


def parse_month_day(text: str) -> tuple[int, int]:
    """'09-30' as (9, 30). A day every year has: 02-29 is refused (most years lack it)."""
    match = _MONTH_DAY_RE.match(text.strip())
    if match is None:
        raise InvalidInspection(f"'{text}' is not a month and day; write MM-DD, like 09-30")
    month, day = int(match.group(1)), int(match.group(2))
    try:
        date(2001, month, day)  # not a leap year: a date valid here is valid in every year
    except ValueError:
        raise InvalidInspection(f"'{text}' is not a day every year has; write MM-DD, like 09-30 "
                                "(02-29 exists only in leap years: use 02-28 or 03-01)") from None
    return month, day


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnualPolicy:
    """When the year's inspections are due, and how overdue ones are escalated."""

    # MM-DD in the plan's year by which each site's evaluation is to be done
    site_evaluation_due: str = "09-30"
    # MM-DD by which the city's supervision of each district is to be done (after the districts'
    # own evaluations, which the supervision reviews)
    district_supervision_due: str = "11-30"
    # step 2 (the city bureau) this many working days after step 1 (the day after the due day)
    escalate_after_working_days: int = 5
    # notices go out at this wall-clock time in China: a bureau is not staffed at midnight
    notify_at: time = time(9, 0)

    def __post_init__(self) -> None:
        parse_month_day(self.site_evaluation_due)
        parse_month_day(self.district_supervision_due)
        if self.escalate_after_working_days < 1:
            raise InvalidInspection("escalate_after_working_days must be at least 1")
        if self.notify_at.tzinfo is not None:
            raise InvalidInspection("notify_at is a wall-clock time in China; give it without a time zone")

    def due_on(self, kind: InspectionKind, year: int) -> date:
        if kind is InspectionKind.DISTRICT_SUPERVISION:
            month, day = parse_month_day(self.district_supervision_due)
        elif kind is InspectionKind.SITE_EVALUATION:
            month, day = parse_month_day(self.site_evaluation_due)
        else:
            raise InvalidInspection(f"{kind.value} inspections are due when their draw's period ends, not by policy")
        return date(year, month, day)


DEFAULT_POLICY: Final = AnnualPolicy()


def policy_of(config: InspectionsConfig) -> AnnualPolicy:
    """The policy the `[inspections]` section sets (escalation and notify time keep their defaults)."""
    return AnnualPolicy(site_evaluation_due=config.site_evaluation_due,
                        district_supervision_due=config.district_supervision_due)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedInspection:
    """One inspection of a year's plan. `target_name` is the site's name, or the district's for a
    district supervision (it is what lists and reports show)."""

    id: str
    kind: InspectionKind
    year: int
    district: str
    site_id: str | None
    target_name: str
    due_on: date


def plan_id(year: int, kind: InspectionKind, subject: str) -> str:
    """`2026/site_evaluation/<site id>` or `2026/district_supervision/<district>`."""
    return f"{year}/{kind.value}/{subject}"


def check_year(year: int) -> int:
    if not 2000 <= year <= 2200:
        raise InvalidInspection(f"{year} is not a plan year; give a year between 2000 and 2200, like 2026")
    return year


def plan_year(year: int, sites: Iterable[PlanSite], policy: AnnualPolicy = DEFAULT_POLICY) -> list[PlannedInspection]:
    """The year's plan: district supervisions (by district) first, then site evaluations (by
    district, then site id). The same sites in any order give the same list."""
    check_year(year)
    by_id: dict[str, PlanSite] = {}
    for site in sites:
        if site.id in by_id:
            raise InvalidInspection(f"site id '{site.id}' appears twice; each site is evaluated once a year")
        if not site.district.strip():
            raise InvalidInspection(f"site '{site.id}' has no district; the registry names the district of every site")
        by_id[site.id] = site
    supervision_due = policy.due_on(InspectionKind.DISTRICT_SUPERVISION, year)
    evaluation_due = policy.due_on(InspectionKind.SITE_EVALUATION, year)
    plan = [
        PlannedInspection(id=plan_id(year, InspectionKind.DISTRICT_SUPERVISION, district),
                          kind=InspectionKind.DISTRICT_SUPERVISION, year=year, district=district, site_id=None,
                          target_name=district, due_on=supervision_due)
        for district in sorted({site.district for site in by_id.values()})
    ]
    plan += [
        PlannedInspection(id=plan_id(year, InspectionKind.SITE_EVALUATION, site.id),
                          kind=InspectionKind.SITE_EVALUATION, year=year, district=site.district, site_id=site.id,
                          target_name=site.name, due_on=evaluation_due)
        for site in sorted(by_id.values(), key=lambda s: (s.district, s.id))
    ]
    return plan


# The record ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A problem found: a hazard to track (`severity`), at `site_id`; `hazard_id` once tracked."""

    title: str
    severity: Severity
    description: str = ""
    site_id: str | None = None
    hazard_id: int | None = None

    def as_json(self) -> dict[str, object]:
        return {"title": self.title, "description": self.description, "severity": self.severity.value,
                "site_id": self.site_id, "hazard_id": self.hazard_id}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Finding:
        site, hazard = data.get("site_id"), data.get("hazard_id")
        return cls(title=str(data["title"]), severity=Severity(str(data["severity"])),
                   description=str(data.get("description") or ""), site_id=None if site is None else str(site),
                   hazard_id=None if hazard is None else int(str(hazard)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """A document or photo of the inspection: a stored photo (SHA-256) or a URL, with a note."""

    note: str
    photo_sha256: str | None = None
    url: str | None = None

    def problems(self) -> list[str]:
        return reference_problems(self.note, self.url, self.photo_sha256, note_says="what it shows",
                                  max_note_chars=MAX_TEXT_CHARS)

    def as_json(self) -> dict[str, str]:
        return reference_json(self.note, self.url, self.photo_sha256)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Attachment:
        url, sha = reference_of(data)
        return cls(note=str(data["note"]), url=url, photo_sha256=sha)


@dataclass(frozen=True, slots=True, kw_only=True)
class Inspection:
    id: str
    kind: InspectionKind
    year: int
    district: str
    site_id: str | None
    target_name: str
    due_on: date
    status: InspectionStatus = InspectionStatus.PLANNED
    assignees: tuple[str, ...] = ()
    done_on: date | None = None
    rating: Rating | None = None
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    cancel_reason: str | None = None
    draw_id: int | None = None
    reinspection: bool = False
    updated_at: datetime | None = None
    updated_by: str = ""

    @classmethod
    def planned(cls, plan: PlannedInspection) -> Inspection:
        return cls(id=plan.id, kind=plan.kind, year=plan.year, district=plan.district, site_id=plan.site_id,
                   target_name=plan.target_name, due_on=plan.due_on)

    def overdue_on(self, day: date) -> bool:
        """Still open after its due day."""
        return self.status.is_open and day > self.due_on


@dataclass(frozen=True, slots=True)
class InspectionEvent:
    """One line of an inspection's record (and of the audit trail): `kind` is `inspection.<what>`."""

    inspection_id: str
    at: datetime
    kind: str
    actor: str
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Transition:
    inspection: Inspection
    event: InspectionEvent


def next_status(inspection: Inspection, command: InspectionCommand) -> InspectionStatus:
    try:
        return TRANSITIONS[(inspection.status, command)]
    except KeyError:
        raise IllegalInspectionTransition(inspection.id, inspection.status, command) from None


def _text(value: str | None, what: str, limit: int = MAX_TEXT_CHARS) -> str:
    if value is None or not value.strip():
        raise InvalidInspection(f"{what} is required")
    if len(value.strip()) > limit:
        raise InvalidInspection(f"{what} has at most {limit} characters")
    return value.strip()


def parse_rating(text: str | Rating) -> Rating:
    try:
        return Rating(str(text).strip().lower())
    except ValueError:
        raise InvalidInspection(f"'{text}' is not a rating; give good, fair or poor (优, 中, 差)") from None


def parse_severity(text: str | Severity) -> Severity:
    try:
        return Severity(str(text).strip().lower())
    except ValueError:
        raise InvalidInspection(f"'{text}' is not a finding severity; give major (重大隐患) or general (一般隐患)") \
            from None


def assignees_of(to: Iterable[str]) -> tuple[str, ...]:
    """The people named, stripped, in the order given, each once; refused when none or malformed."""
    people = tuple(dict.fromkeys(person.strip() for person in to if person.strip()))
    if not people:
        raise InvalidInspection("name at least one person who inspects (a login or an inspector id)")
    if len(people) > MAX_ASSIGNEES:
        raise InvalidInspection(f"at most {MAX_ASSIGNEES} people can be assigned to one inspection")
    for person in people:
        if len(person) > MAX_ASSIGNEE_CHARS or not _ASSIGNEE_RE.match(person):
            raise InvalidInspection(f"'{person}' is not a login or inspector id: 1 to {MAX_ASSIGNEE_CHARS} "
                                    "characters without spaces or commas")
    return people


def assign(inspection: Inspection, *, to: Iterable[str], by: str, now: datetime) -> Transition:
    """Who inspects: planned → assigned, or reassigned while assigned."""
    status = next_status(inspection, InspectionCommand.ASSIGN)
    people = assignees_of(to)
    kind = "inspection.reassigned" if inspection.status is InspectionStatus.ASSIGNED else "inspection.assigned"
    detail: dict[str, object] = {"to": list(people)}
    if inspection.assignees:
        detail["previous"] = list(inspection.assignees)
    moved = replace(inspection, status=status, assignees=people, updated_at=now, updated_by=by)
    return Transition(moved, InspectionEvent(inspection.id, now, kind, by, detail))


def _checked_findings(inspection: Inspection, findings: Sequence[Finding]) -> tuple[Finding, ...]:
    if len(findings) > MAX_ITEMS:
        raise InvalidInspection(f"at most {MAX_ITEMS} findings per inspection; group related ones")
    checked: list[Finding] = []
    for number, finding in enumerate(findings, start=1):
        title = _text(finding.title, f"finding {number}: a title", MAX_TITLE_CHARS)
        description = finding.description.strip()
        if len(description) > MAX_TEXT_CHARS:
            raise InvalidInspection(f"finding {number}: a description has at most {MAX_TEXT_CHARS} characters")
        site = finding.site_id.strip() if finding.site_id is not None and finding.site_id.strip() else None
        if inspection.kind is InspectionKind.DISTRICT_SUPERVISION:
            if site is None:
                raise InvalidInspection(
                    f"finding {number} ({title}): a district supervision covers many sites; name the site "
                    f"of {inspection.district} where it was found")
        elif site is not None and site != inspection.site_id:
            raise InvalidInspection(
                f"finding {number} ({title}): inspection {inspection.id} is of site {inspection.site_id}, "
                f"not of '{site}'; record a finding at another site with that site's inspection")
        checked.append(Finding(title=title, severity=parse_severity(finding.severity), description=description,
                               site_id=site if site is not None else inspection.site_id))
    return tuple(checked)


def _checked_attachments(attachments: Sequence[Attachment]) -> tuple[Attachment, ...]:
    if len(attachments) > MAX_ITEMS:
        raise InvalidInspection(f"at most {MAX_ITEMS} attachments per inspection")
    for number, item in enumerate(attachments, start=1):
        missing = item.problems()
        if missing:
            raise InvalidInspection(f"attachment {number} needs " + "; ".join(missing))
    return tuple(replace(item, note=item.note.strip()) for item in attachments)


def complete(inspection: Inspection, *, by: str, now: datetime, rating: Rating | str, summary: str,
             findings: Sequence[Finding] = (), attachments: Sequence[Attachment] = ()) -> Transition:
    """Done, with the evaluation: a rating, a summary, the findings (hazards to track, their ids
    added by `with_hazards` once tracked) and the attachments. The day done is China's day at `now`."""
    status = next_status(inspection, InspectionCommand.COMPLETE)
    chosen = parse_rating(rating)
    text = _text(summary, "a summary of the inspection")
    found = _checked_findings(inspection, findings)
    files = _checked_attachments(attachments)
    done_on = local_day(now)
    moved = replace(inspection, status=status, rating=chosen, summary=text, findings=found, attachments=files,
                    done_on=done_on, updated_at=now, updated_by=by)
    return Transition(moved, InspectionEvent(inspection.id, now, "inspection.completed", by, _completed_detail(moved)))


def _completed_detail(inspection: Inspection) -> dict[str, object]:
    return {"rating": inspection.rating.value if inspection.rating else None, "summary": inspection.summary,
            "done_on": inspection.done_on.isoformat() if inspection.done_on else None,
            "findings": [item.as_json() for item in inspection.findings],
            "attachments": [item.as_json() for item in inspection.attachments]}


def with_hazards(moved: Transition, hazard_ids: Sequence[int]) -> Transition:
    """The completion with each finding's tracked hazard id, in finding order (record and event)."""
    inspection = moved.inspection
    if len(hazard_ids) != len(inspection.findings):
        raise ValueError("one hazard id per finding")
    findings = tuple(replace(item, hazard_id=hazard) for item, hazard in zip(inspection.findings, hazard_ids,
                                                                              strict=True))
    tracked = replace(inspection, findings=findings)
    return Transition(tracked, replace(moved.event, detail=_completed_detail(tracked)))


def cancel(inspection: Inspection, *, by: str, now: datetime, reason: str) -> Transition:
    """Not to be done this year, with the reason (kept on the record)."""
    status = next_status(inspection, InspectionCommand.CANCEL)
    text = _text(reason, "a reason for cancelling")
    moved = replace(inspection, status=status, cancel_reason=text, updated_at=now, updated_by=by)
    return Transition(moved, InspectionEvent(inspection.id, now, "inspection.cancelled", by, {"reason": text}))


# Overdue ------------------------------------------------------------------------------------------


class OverdueAudience(StrEnum):
    ASSIGNEES = "assignees"
    DISTRICT_BUREAU = "district_bureau"  # 区县文物局
    CITY_BUREAU = "city_bureau"  # 市文物局


# Step n brings in these audiences (cumulative: step 2 keeps telling those of step 1).
OVERDUE_STEPS: Final[tuple[tuple[OverdueAudience, ...], ...]] = (
    (OverdueAudience.ASSIGNEES, OverdueAudience.DISTRICT_BUREAU),
    (OverdueAudience.CITY_BUREAU,),
)


@dataclass(frozen=True, slots=True)
class OverdueState:
    """What was sent for one inspection, counted for the due day `due_on`."""

    due_on: date | None = None
    steps_done: int = 0


NOTHING_SENT: Final = OverdueState()


@dataclass(frozen=True, slots=True, kw_only=True)
class OverdueNotice:
    """An overdue inspection people must hear of: `step` reached (1 reminder, 2 escalation),
    `added` the audiences new at this notice, `audiences` everyone so far."""

    inspection_id: str
    kind: InspectionKind
    district: str
    site_id: str | None
    target_name: str
    due_on: date
    assignees: tuple[str, ...]
    step: int
    days_overdue: int
    added: tuple[OverdueAudience, ...]
    audiences: tuple[OverdueAudience, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OverdueEnded:
    """An inspection that was overdue (notices went out) and is now done or cancelled: its
    overdue alerts are over, so nobody keeps being reminded of work already finished."""

    inspection_id: str
    kind: InspectionKind
    district: str
    site_id: str | None
    status: InspectionStatus


def overdue_step_at(due_on: date, step: int, policy: AnnualPolicy = DEFAULT_POLICY) -> datetime:
    """When step 1 or 2 of an inspection due on `due_on` is due (China time)."""
    first = due_on + timedelta(days=1)
    day = first if step == 1 else add_working_days(first, policy.escalate_after_working_days * (step - 1))
    return datetime.combine(day, policy.notify_at, tzinfo=CHINA_STANDARD_TIME)


def _counted(inspection: Inspection, state: OverdueState) -> OverdueState:
    # A different due day (planned anew, a draw re-run) is a fresh count.
    return state if state.due_on == inspection.due_on else OverdueState(due_on=inspection.due_on)


def next_overdue_at(inspection: Inspection, state: OverdueState = NOTHING_SENT,
                    policy: AnnualPolicy = DEFAULT_POLICY) -> datetime | None:
    """When `overdue_notice` next has something to say; None once done, cancelled or fully escalated."""
    if not inspection.status.is_open:
        return None
    state = _counted(inspection, state)
    if state.steps_done >= len(OVERDUE_STEPS):
        return None
    return overdue_step_at(inspection.due_on, state.steps_done + 1, policy)


def overdue_notice(inspection: Inspection, state: OverdueState, now: datetime,
                   policy: AnnualPolicy = DEFAULT_POLICY) -> tuple[OverdueState, OverdueNotice | None]:
    """The notice due at `now` for an inspection (None when nothing is), and the state that
    records it as sent."""
    if not inspection.status.is_open:
        return state, None
    state = _counted(inspection, state)
    steps = state.steps_done
    while steps < len(OVERDUE_STEPS) and overdue_step_at(inspection.due_on, steps + 1, policy) <= now:
        steps += 1
    if steps == state.steps_done:
        return state, None
    told = tuple(a for step in OVERDUE_STEPS[: state.steps_done] for a in step)
    everyone = tuple(dict.fromkeys(a for step in OVERDUE_STEPS[:steps] for a in step))
    notice = OverdueNotice(
        inspection_id=inspection.id, kind=inspection.kind, district=inspection.district,
        site_id=inspection.site_id, target_name=inspection.target_name, due_on=inspection.due_on,
        assignees=inspection.assignees, step=steps, days_overdue=(local_day(now) - inspection.due_on).days,
        added=tuple(a for a in everyone if a not in told), audiences=everyone,
    )
    return replace(state, steps_done=steps), notice
