"""The 双随机 draw: random targets, random inspectors, reproducible by anyone (2020 No. 39, 二(四)).

Pure: everything comes in as arguments and `draw(...)` returns a `Draw`; reading the input
file and publishing the result live in `relic_guard.inspections.draw_io`.

Rules, for one period (a month, a quarter or a half-year; never crossing a half-year):

* A high-risk target with no routine inspection yet in the current half-year (Jan–Jun or
  Jul–Dec) is mandatory: the policy asks for at least one a half-year. Mandatory targets count
  toward `count`; if there are more of them than `count`, all are drawn and `Draw.over_count`
  says by how many.
* A normal-risk target that already had two routine inspections this calendar year is left
  out (the policy's "at most twice a year"); re-inspections (复查), which only check that
  hazards found earlier were put right, count for neither rule.
* The remaining places are filled by weighted random sampling without replacement. Weights
  follow fire-safety credit: blacklisted ×3 (the policy raises their frequency), good ×0.5
  (lowers it), normal ×1.
* Each drawn target gets `per_target` inspectors. An inspector is excluded only by conflict
  (their own unit is the target's unit) or jurisdiction (an inspector with `districts` covers
  only those districts; none listed means the whole city). Beyond that the choice is random,
  with inspectors from different units preferred so one unit never inspects alone. A target
  without enough conflict-free inspectors is left out before the draw, so it cannot use up a
  place that then nobody could fill.

How the randomness is made, so a verifier can repeat it in any language:

1. The PRNG seed is SHA-256 of the UTF-8 text, lines joined by "\\n":
   `relic-guard draw v1`, the published seed, `<period start ISO>/<period end ISO>`, the sorted
   inspector ids joined by ",", the sorted target ids joined by ",". The 32-byte digest read as
   a big-endian integer seeds Python's `random.Random` (MT19937, seeding by integer and
   `random()` have been the same in every CPython 3 release).
2. Only `random()` is used (no `sample`, `choices` or `shuffle`, whose algorithms are library
   details). Target keys first: for each candidate in id order, u = random(), key = u ** (1 / w)
   (Efraimidis–Spirakis); the largest keys are drawn, ties broken by id.
3. Then, for each assignment in order (mandatory targets by id, then drawn targets by falling
   key), the eligible inspectors in id order are shuffled by Fisher–Yates: for i from n-1 down
   to 1, j = floor(random() * (i + 1)), swap i and j. Going down the shuffled list, the first is
   taken, then each next one whose unit is not yet on the team; if units run out, the next in
   the list regardless of unit.

`fingerprint` is SHA-256 of the canonical JSON of every input (see `canonical_input`), so a
verifier can first confirm they hold exactly the published inputs.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

ALGORITHM: Final = "relic-guard draw v1"
DEFAULT_PER_TARGET: Final = 2
# "Others at most twice per calendar year, not counting re-inspections" (2020 No. 39).
MAX_ROUTINE_PER_YEAR: Final = 2


class Risk(StrEnum):
    HIGH = "high"
    NORMAL = "normal"


class Credit(StrEnum):
    GOOD = "good"
    NORMAL = "normal"
    BLACKLISTED = "blacklisted"


# Relative chance of being drawn. Good credit halves it and the blacklist triples it: the
# policy says "lower" and "raise" without numbers, so these are the published local choice.
CREDIT_WEIGHTS: Final[dict[Credit, float]] = {Credit.GOOD: 0.5, Credit.NORMAL: 1.0, Credit.BLACKLISTED: 3.0}


class SkipReason(StrEnum):
    YEARLY_LIMIT = "yearly_limit"
    NO_INSPECTOR = "no_inspector"


@dataclass(frozen=True, slots=True, kw_only=True)
class Inspector:
    id: str
    name: str
    unit: str
    # Districts this inspector is commissioned for; empty: the whole city.
    districts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    id: str
    name: str
    district: str
    unit: str
    risk: Risk = Risk.NORMAL
    credit: Credit = Credit.NORMAL


@dataclass(frozen=True, slots=True, kw_only=True)
class PastInspection:
    target_id: str
    on: date
    reinspection: bool = False


_PERIOD: Final = re.compile(r"(\d{4})-(?:(\d{1,2})|[Qq]([1-4])|[Hh]([12]))")


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date  # inclusive

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")
        if half_year(self.start) != half_year(self.end):
            raise ValueError("a draw period must lie within one half-year (Jan–Jun or Jul–Dec)")

    @classmethod
    def parse(cls, text: str) -> Period:
        """'2026-12' (a month), '2026-Q4' (a quarter) or '2026-H2' (a half-year)."""
        match = _PERIOD.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"'{text}' is not a period; write a month 2026-12, a quarter 2026-Q4 or a half 2026-H2")
        year = int(match.group(1))
        if match.group(2):
            month = int(match.group(2))
            if not 1 <= month <= 12:
                raise ValueError(f"'{text}': there is no month {month}; write 2026-01 … 2026-12")
            first, last = month, month
        elif match.group(3):
            quarter = int(match.group(3))
            first, last = 3 * quarter - 2, 3 * quarter
        else:
            half = int(match.group(4))
            first, last = 6 * half - 5, 6 * half
        return cls(date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1]))

    @property
    def label(self) -> str:
        """The short form `parse` reads: 2026-12, 2026-Q4, 2026-H2, else start/end."""
        year, first, last = self.start.year, self.start.month, self.end.month
        whole = self.start.day == 1 and self.end.day == calendar.monthrange(year, last)[1]
        if whole and first == last:
            return f"{year}-{first:02d}"
        if whole and last - first == 2 and first % 3 == 1:
            return f"{year}-Q{(first + 2) // 3}"
        if whole and last - first == 5 and first % 6 == 1:
            return f"{year}-H{(first + 5) // 6}"
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


def half_year(day: date) -> tuple[date, date]:
    """The calendar half-year holding `day`: (1 Jan, 30 Jun) or (1 Jul, 31 Dec)."""
    if day.month <= 6:
        return date(day.year, 1, 1), date(day.year, 6, 30)
    return date(day.year, 7, 1), date(day.year, 12, 31)


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    target: Target
    inspectors: tuple[Inspector, ...]
    mandatory: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    target: Target
    reason: SkipReason


@dataclass(frozen=True, slots=True, kw_only=True)
class Draw:
    seed: str
    period: Period
    count: int
    per_target: int
    fingerprint: str
    assignments: tuple[Assignment, ...]
    skipped: tuple[Skip, ...]
    # Mandatory targets beyond `count` (all were drawn anyway).
    over_count: int = 0
    # Places of `count` left empty because fewer targets could be drawn.
    short_by: int = 0


def canonical_input(
    inspectors: Iterable[Inspector],
    targets: Iterable[Target],
    history: Iterable[PastInspection],
    period: Period,
    count: int,
    per_target: int,
) -> bytes:
    """Every input in one canonical form: compact JSON, keys sorted, lists sorted, UTF-8 (not
    escaped). Its SHA-256 is the published fingerprint. The seed is not part of it."""
    document = {
        "algorithm": ALGORITHM,
        "period": [period.start.isoformat(), period.end.isoformat()],
        "count": count,
        "per_target": per_target,
        "credit_weights": {credit.value: weight for credit, weight in CREDIT_WEIGHTS.items()},
        "inspectors": [
            {"id": i.id, "name": i.name, "unit": i.unit, "districts": sorted(i.districts)}
            for i in sorted(inspectors, key=lambda i: i.id)
        ],
        "targets": [
            {"id": t.id, "name": t.name, "district": t.district, "unit": t.unit, "risk": t.risk.value,
             "credit": t.credit.value}
            for t in sorted(targets, key=lambda t: t.id)
        ],
        "history": sorted(
            ([h.target_id, h.on.isoformat(), h.reinspection] for h in history), key=lambda h: (h[0], h[1], h[2])
        ),
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def prng_seed(seed: str, period: Period, inspectors: Iterable[Inspector], targets: Iterable[Target]) -> int:
    """The integer given to `random.Random` (step 1 of the module docstring)."""
    material = "\n".join(
        (
            ALGORITHM,
            seed,
            f"{period.start.isoformat()}/{period.end.isoformat()}",
            ",".join(sorted(i.id for i in inspectors)),
            ",".join(sorted(t.id for t in targets)),
        )
    )
    return int.from_bytes(hashlib.sha256(material.encode("utf-8")).digest(), "big")


def draw(
    *,
    inspectors: Sequence[Inspector],
    targets: Sequence[Target],
    history: Sequence[PastInspection],
    period: Period,
    count: int,
    seed: str,
    per_target: int = DEFAULT_PER_TARGET,
) -> Draw:
    """Draw `count` targets for `period` and `per_target` inspectors for each (rules above)."""
    if count < 0:
        raise ValueError("the number of targets to draw cannot be negative")
    if per_target < 1:
        raise ValueError("each target needs at least one inspector")
    _unique((i.id for i in inspectors), "inspector")
    _unique((t.id for t in targets), "target")

    by_id = sorted(targets, key=lambda t: t.id)
    pool = sorted(inspectors, key=lambda i: i.id)
    half_start, half_end = half_year(period.start)
    year = period.start.year
    routine = [h for h in history if not h.reinspection]
    inspected_this_half = {h.target_id for h in routine if half_start <= h.on <= half_end}
    this_year: dict[str, int] = {}
    for h in routine:
        if h.on.year == year:
            this_year[h.target_id] = this_year.get(h.target_id, 0) + 1

    skipped: list[Skip] = []
    mandatory: list[tuple[Target, list[Inspector]]] = []
    candidates: list[tuple[Target, list[Inspector]]] = []
    for target in by_id:
        eligible = [i for i in pool if _may_inspect(i, target)]
        if len(eligible) < per_target:
            skipped.append(Skip(target=target, reason=SkipReason.NO_INSPECTOR))
        elif target.risk is Risk.HIGH and target.id not in inspected_this_half:
            mandatory.append((target, eligible))
        elif target.risk is Risk.NORMAL and this_year.get(target.id, 0) >= MAX_ROUTINE_PER_YEAR:
            skipped.append(Skip(target=target, reason=SkipReason.YEARLY_LIMIT))
        else:
            candidates.append((target, eligible))

    rng = random.Random(prng_seed(seed, period, inspectors, targets))
    places = max(0, count - len(mandatory))
    keyed = [(rng.random() ** (1.0 / CREDIT_WEIGHTS[target.credit]), target.id, target, eligible)
             for target, eligible in candidates]
    keyed.sort(key=lambda k: (-k[0], k[1]))
    chosen = [(target, eligible) for _, _, target, eligible in keyed[:places]]

    assignments = [
        Assignment(target=target, inspectors=_team(rng, eligible, per_target), mandatory=True)
        for target, eligible in mandatory
    ]
    assignments += [
        Assignment(target=target, inspectors=_team(rng, eligible, per_target), mandatory=False)
        for target, eligible in chosen
    ]
    return Draw(
        seed=seed,
        period=period,
        count=count,
        per_target=per_target,
        fingerprint=hashlib.sha256(
            canonical_input(inspectors, targets, history, period, count, per_target)
        ).hexdigest(),
        assignments=tuple(assignments),
        skipped=tuple(skipped),
        over_count=max(0, len(mandatory) - count),
        short_by=max(0, count - len(assignments)),
    )


def _unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what} id '{item}' appears twice")
        seen.add(item)


def _may_inspect(inspector: Inspector, target: Target) -> bool:
    if inspector.unit == target.unit:
        return False
    return not inspector.districts or target.district in inspector.districts


def _team(rng: random.Random, eligible: list[Inspector], size: int) -> tuple[Inspector, ...]:
    order = list(eligible)
    for i in range(len(order) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        order[i], order[j] = order[j], order[i]
    team: list[Inspector] = []
    units: set[str] = set()
    for inspector in order:
        if len(team) == size:
            break
        if inspector.unit not in units:
            team.append(inspector)
            units.add(inspector.unit)
    for inspector in order:
        if len(team) == size:
            break
        if inspector not in team:
            team.append(inspector)
    return tuple(team)
