"""Stored 双随机 draws (sql/012_inspections.sql `draws`): what was published, re-runnable from the row.

A draw is pure (`relic_guard.inspections.draw`); this module keeps it. One row holds the published
seed, period, count and team size, the canonical input (`canonical_input`: inspectors, targets and
the history of past inspections that the rules used) with its fingerprint, and the result as
published (assignments and skips). Anyone holding the row can re-run `draw(...)` from it and must
get the same fingerprint and the same result: `check` does exactly that and says what differs, and
the publications (`rebuild`, then CSV or HTML) are made only from a draw that checks out.

Invariants:
- storing is one transaction: the row, its audit entry (`draw.stored`, subject `draw:<id>`) and
  the `fire_random` inspections `inspection_store.create_from_draw` makes of the drawn targets;
- the same published draw stored twice (a retried command) is one row (the unique index on
  period, seed, fingerprint, count and team size): the second call writes nothing and returns the
  first id; a stored draw whose result differs from the new one for the same inputs is refused;
- the history used is the database's (done `fire_random` inspections and re-inspections of the
  targets, up to the day of the draw in China) merged with the pool file's `[[inspected]]` rows
  (inspections from before the system); it is part of the canonical input, so the published
  fingerprint covers everything the rules saw. An inspection listed in both counts once.
`conn` is in autocommit mode or idle; inside a caller's transaction the writes commit with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb

from relic_guard import audit
from relic_guard.audit import AuditEntry
from relic_guard.errors import RelicGuardError
from relic_guard.hazards.workdays import local_day
from relic_guard.inspections.draw import (
    ALGORITHM,
    CREDIT_WEIGHTS,
    Credit,
    Draw,
    Inspector,
    PastInspection,
    Period,
    Risk,
    SkipReason,
    Target,
    canonical_input,
    draw,
)
from relic_guard.inspections.draw_io import DrawInput
from relic_guard.store import inspection_store

Conn = psycopg.Connection[Any]

_COLUMNS: Final = ("id, period, period_start, period_end, seed, count, per_target, algorithm, fingerprint, input, "
                   "result, drawn_at, drawn_by")


class DrawRecordError(RelicGuardError):
    """Root of the stored draws' refusals.

        DrawRecordError
         ├── DrawMismatch       re-running the stored input does not give the stored draw
         └── UnreadableDraw     the stored row cannot be re-run (another algorithm or weights)
    """


class DrawMismatch(DrawRecordError):  # noqa: N818 (reads as what was found)
    """`problems` says each difference in one line."""

    def __init__(self, draw_id: int, problems: Sequence[str]) -> None:
        self.draw_id = draw_id
        self.problems = list(problems)
        super().__init__(f"stored draw {draw_id} does not re-run to what was stored: " + "; ".join(self.problems))


class UnreadableDraw(DrawRecordError):  # noqa: N818
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDraw:
    """A `draws` row as stored. `input` is the canonical input, `result` the published outcome
    (`result_json`)."""

    id: int
    period: str
    period_start: date
    period_end: date
    seed: str
    count: int
    per_target: int
    algorithm: str
    fingerprint: str
    input: Mapping[str, Any]
    result: Mapping[str, Any]
    drawn_at: datetime
    drawn_by: str

    @property
    def assignments(self) -> list[Mapping[str, Any]]:
        return list(self.result.get("assignments", []))

    @property
    def skipped(self) -> list[Mapping[str, Any]]:
        return list(self.result.get("skipped", []))


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredOutcome:
    """What `draw_and_store` did: the draw's id, the draw, and whether this call stored it (False:
    the same draw was stored before, nothing new was written)."""

    id: int
    result: Draw
    history: tuple[PastInspection, ...]
    created: bool


# The published result as JSON ---------------------------------------------------------------------


def result_json(result: Draw) -> dict[str, Any]:
    """Assignments in draw order and skips, as the CSV and page publish them (names beside ids so
    the row reads on its own; `check` compares all of it)."""
    return {
        "assignments": [
            {
                "target": a.target.id,
                "target_name": a.target.name,
                "district": a.target.district,
                "mandatory": a.mandatory,
                "inspectors": [{"id": i.id, "name": i.name, "unit": i.unit} for i in a.inspectors],
            }
            for a in result.assignments
        ],
        "skipped": [
            {"target": s.target.id, "target_name": s.target.name, "reason": s.reason.value} for s in result.skipped
        ],
        "over_count": result.over_count,
        "short_by": result.short_by,
    }


# History ---------------------------------------------------------------------------------------


def merge_history(*sources: Iterable[PastInspection]) -> tuple[PastInspection, ...]:
    """One history from several sources, each inspection once (the same target, day and kind in
    the pool file and in the database is the same inspection written down twice), in a stable order."""
    seen = {(h.target_id, h.on, h.reinspection): h for source in sources for h in source}
    return tuple(seen[key] for key in sorted(seen))


def history_before(now: datetime) -> date:
    """The first day not looked at: everything done up to and including the day of the draw in China."""
    return local_day(now) + timedelta(days=1)


def with_database_history(conn: Conn, pool: DrawInput, now: datetime) -> DrawInput:
    """The pool with its history merged with the inspections the database knows of its targets."""
    known = inspection_store.draw_history(conn, [t.id for t in pool.targets], before=history_before(now))
    return DrawInput(inspectors=pool.inspectors, targets=pool.targets, history=merge_history(pool.history, known),
                     source_file=pool.source_file)


# Storing -----------------------------------------------------------------------------------------


def _stored(row: Sequence[Any]) -> StoredDraw:
    return StoredDraw(
        id=int(row[0]), period=row[1], period_start=row[2], period_end=row[3], seed=row[4], count=int(row[5]),
        per_target=int(row[6]), algorithm=row[7], fingerprint=row[8], input=row[9], result=row[10],
        drawn_at=row[11], drawn_by=row[12],
    )


def _audit_entry(draw_id: int, result: Draw, by: str, now: datetime) -> AuditEntry:
    detail: dict[str, object] = {
        "period": result.period.label,
        "period_start": result.period.start.isoformat(),
        "period_end": result.period.end.isoformat(),
        "seed": result.seed,
        "count": result.count,
        "per_target": result.per_target,
        "algorithm": ALGORITHM,
        "fingerprint": result.fingerprint,
        "drawn": [a.target.id for a in result.assignments],
        "mandatory": [a.target.id for a in result.assignments if a.mandatory],
        "skipped": {s.target.id: s.reason.value for s in result.skipped},
    }
    return AuditEntry(at=now, actor=by, kind="draw.stored", subject=f"draw:{draw_id}", detail=detail)


def stored_id(conn: Conn, result: Draw) -> int | None:
    """The id of the stored draw with this period, seed, fingerprint, count and team size, if any."""
    row = conn.execute(
        "SELECT id FROM draws WHERE period = %s AND seed = %s AND fingerprint = %s AND count = %s "
        "AND per_target = %s",
        (result.period.label, result.seed, result.fingerprint, result.count, result.per_target),
    ).fetchone()
    return None if row is None else int(row[0])


def store_draw(conn: Conn, result: Draw, *, pool: DrawInput, by: str, now: datetime, audit_key: bytes | None,
               deferred: list[AuditEntry] | None = None) -> int:
    """Keep `result`, drawn from `pool` (whose history is the one the draw used), and make its
    `fire_random` inspections; returns the draw's id. Period, count and team size come from
    `result`; the period is stored in its short form (`Period.label`: 2026-07, 2026-Q3, 2026-H2)
    so that the same draw asked for as 2026-q3 or 2026-Q3 is one row.

    With `audit_key` the audit entries are appended in the transaction. A caller without the key
    (the HTTP API, whose key stays with the alert journal) passes `deferred` instead: it receives
    the entries (the draw's, then each inspection's) to hand to the journal once committed."""
    period = result.period
    canonical = canonical_input(pool.inspectors, pool.targets, pool.history, period, result.count, result.per_target)
    if hashlib.sha256(canonical).hexdigest() != result.fingerprint:
        raise ValueError("the pool given is not the input the draw was made from (the fingerprints differ)")
    published = result_json(result)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO draws (period, period_start, period_end, seed, count, per_target, algorithm, fingerprint, "
            "input, result, drawn_at, drawn_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (period, seed, fingerprint, count, per_target) DO NOTHING RETURNING id",
            (period.label, period.start, period.end, result.seed, result.count, result.per_target, ALGORITHM,
             result.fingerprint, Jsonb(json.loads(canonical)), Jsonb(published), now, by),
        ).fetchone()
        if row is None:
            existing = conn.execute(
                f"SELECT {_COLUMNS} FROM draws WHERE period = %s AND seed = %s AND fingerprint = %s AND count = %s "
                "AND per_target = %s",
                (period.label, result.seed, result.fingerprint, result.count, result.per_target),
            ).fetchone()
            assert existing is not None  # the unique index that refused the insert holds it
            before = _stored(existing)
            if before.result != published:
                raise DrawMismatch(before.id, ["the same inputs and seed are stored with a different result; "
                                               f"run `relic-guard draw verify --id {before.id}`"])
            return before.id
        draw_id = int(row[0])
        entry = _audit_entry(draw_id, result, by, now)
        if audit_key is not None:
            audit.append(conn, audit_key, [entry])
        made = inspection_store.create_from_draw(conn, draw_id=draw_id, result=result, now=now, by=by,
                                                 audit_key=audit_key)
        if audit_key is None and deferred is not None:
            # The inspections are new with the draw's id, so every event they have is this call's.
            deferred.append(entry)
            deferred.extend(inspection_store.audit_entry_of(event) for inspection_id in made
                            for event in inspection_store.events(conn, inspection_id))
    return draw_id


def draw_and_store(conn: Conn, pool: DrawInput, *, period: Period, count: int, seed: str, per_target: int,
                   by: str, now: datetime, audit_key: bytes | None,
                   deferred: list[AuditEntry] | None = None) -> StoredOutcome:
    """Draw with the database's history merged into the pool's, and store the draw (`store_draw`)."""
    merged = with_database_history(conn, pool, now)
    result = draw(inspectors=merged.inspectors, targets=merged.targets, history=merged.history, period=period,
                  count=count, seed=seed, per_target=per_target)
    before = stored_id(conn, result)
    draw_id = store_draw(conn, result, pool=merged, by=by, now=now, audit_key=audit_key, deferred=deferred)
    return StoredOutcome(id=draw_id, result=result, history=merged.history, created=before is None)


# Reading -----------------------------------------------------------------------------------------


def get_draw(conn: Conn, draw_id: int) -> StoredDraw | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM draws WHERE id = %s", (draw_id,)).fetchone()
    return None if row is None else _stored(row)


def list_draws(conn: Conn, year: int | None = None) -> list[StoredDraw]:
    """The stored draws (of periods starting in `year`; None: all), latest period first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM draws WHERE %(year)s::int IS NULL "
        "OR (period_start >= make_date(%(year)s::int, 1, 1) AND period_start < make_date(%(year)s::int + 1, 1, 1)) "
        "ORDER BY period_start DESC, id DESC",
        {"year": year},
    ).fetchall()
    return [_stored(r) for r in rows]


def inspections_of(conn: Conn, draw_ids: Iterable[int]) -> dict[int, dict[str, tuple[str, str]]]:
    """The inspections the draws made: draw id → target id → (inspection id, status)."""
    ids = sorted(set(draw_ids))
    found: dict[int, dict[str, tuple[str, str]]] = {draw_id: {} for draw_id in ids}
    if not ids:
        return found
    rows = conn.execute(
        "SELECT draw_id, site_id, id, status FROM inspections WHERE kind = 'fire_random' AND draw_id = ANY(%s)",
        (ids,),
    ).fetchall()
    for draw_id, target_id, inspection_id, status in rows:
        found[int(draw_id)][target_id] = (inspection_id, status)
    return found


# Re-running ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Rerun:
    """The draw re-run from a stored row, the pool it was re-run from, and every way it differs
    from what was stored (empty: the row is what was published)."""

    result: Draw
    pool: DrawInput
    problems: tuple[str, ...]


def pool_of(stored: StoredDraw) -> tuple[DrawInput, Period, int, int]:
    """The inputs written in a stored row: pool (with its history), period, count, team size."""
    document = stored.input
    try:
        if document["algorithm"] != ALGORITHM:
            raise UnreadableDraw(f"draw {stored.id} was made with {document['algorithm']!r}; this version runs "
                                 f"{ALGORITHM!r} and cannot re-run it")
        weights = {Credit(key): float(value) for key, value in document["credit_weights"].items()}
        if weights != CREDIT_WEIGHTS:
            raise UnreadableDraw(f"draw {stored.id} was made with the credit weights {document['credit_weights']}; "
                                 "this version uses other weights and cannot re-run it")
        inspectors = tuple(Inspector(id=i["id"], name=i["name"], unit=i["unit"], districts=tuple(i["districts"]))
                           for i in document["inspectors"])
        targets = tuple(Target(id=t["id"], name=t["name"], district=t["district"], unit=t["unit"],
                               risk=Risk(t["risk"]), credit=Credit(t["credit"])) for t in document["targets"])
        history = tuple(PastInspection(target_id=h[0], on=date.fromisoformat(h[1]), reinspection=bool(h[2]))
                        for h in document["history"])
        start, end = (date.fromisoformat(day) for day in document["period"])
        period = Period(start, end)
        count, per_target = int(document["count"]), int(document["per_target"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise UnreadableDraw(f"the stored input of draw {stored.id} is not a draw input ({exc!r})") from None
    return DrawInput(inspectors=inspectors, targets=targets, history=history), period, count, per_target


def _team(assignment: Mapping[str, Any]) -> str:
    return "、".join(str(i.get("id")) for i in assignment.get("inspectors", []))


def _compare(stored: StoredDraw, rerun: Draw, period: Period, count: int, per_target: int) -> list[str]:
    problems: list[str] = []
    if (stored.period_start, stored.period_end) != (period.start, period.end):
        problems.append(f"the row's period {stored.period_start}/{stored.period_end} is not the input's "
                        f"{period.start}/{period.end}")
    if (stored.count, stored.per_target) != (count, per_target):
        problems.append(f"the row says count {stored.count}, {stored.per_target} per target; the input says "
                        f"count {count}, {per_target} per target")
    if rerun.fingerprint != stored.fingerprint:
        problems.append(f"the stored input gives the fingerprint {rerun.fingerprint}, not the published "
                        f"{stored.fingerprint}: the input was changed after the draw")
    want = result_json(rerun)
    if stored.result == want:
        return problems
    got_rows, want_rows = stored.assignments, want["assignments"]
    if len(got_rows) != len(want_rows):
        problems.append(f"{len(got_rows)} targets are stored as drawn, the re-run draws {len(want_rows)}")
    for number, (got, expected) in enumerate(zip(got_rows, want_rows, strict=False), start=1):
        if got == expected:
            continue
        stored_text = f"{got.get('target')} ({_team(got)})"
        rerun_text = f"{expected['target']} ({_team(expected)})"
        if stored_text == rerun_text:
            problems.append(f"drawn #{number} {rerun_text}: the stored names or the mandatory flag differ")
        else:
            problems.append(f"drawn #{number}: stored {stored_text}, re-run {rerun_text}")
    if stored.skipped != want["skipped"]:
        shown = ", ".join(f"{s.get('target')} ({s.get('reason')})" for s in stored.skipped) or "none"
        wanted = ", ".join(f"{s['target']} ({s['reason']})" for s in want["skipped"]) or "none"
        problems.append(f"left out: stored {shown}; re-run {wanted}")
    for key in ("over_count", "short_by"):
        if stored.result.get(key) != want[key]:
            problems.append(f"{key}: stored {stored.result.get(key)}, re-run {want[key]}")
    if not problems:  # equal rows, yet unequal documents: extra keys were written into the result
        problems.append("the stored result holds more than the draw publishes")
    return problems


def check(stored: StoredDraw) -> Rerun:
    """Re-run `draw(...)` from the row alone and compare: the verification anyone can do with the
    published input and seed. Raises UnreadableDraw when the row cannot be re-run at all."""
    pool, period, count, per_target = pool_of(stored)
    try:
        result = draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history, period=period,
                      count=count, seed=stored.seed, per_target=per_target)
    except ValueError as exc:
        raise UnreadableDraw(f"the stored input of draw {stored.id} cannot be drawn from: {exc}") from None
    return Rerun(result=result, pool=pool, problems=tuple(_compare(stored, result, period, count, per_target)))


def rebuild(stored: StoredDraw) -> Draw:
    """The `Draw` of a stored row, re-run and checked; DrawMismatch when it differs from what was stored."""
    rerun = check(stored)
    if rerun.problems:
        raise DrawMismatch(stored.id, rerun.problems)
    return rerun.result


def skip_reason(stored_reason: str) -> SkipReason | None:
    try:
        return SkipReason(stored_reason)
    except ValueError:
        return None


# The input as a pool file -------------------------------------------------------------------------


def _toml_text(text: str) -> str:
    # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def pool_toml(stored: StoredDraw) -> str:
    """The stored input as a pool file (`relic_guard.inspections.draw_io` format), the history
    from the database included as `[[inspected]]` rows: published beside the CSV, it lets anyone
    re-run the draw with `relic-guard draw verify --input` and get the same fingerprint."""
    pool, period, count, per_target = pool_of(stored)
    lines = [
        f"# The input of draw {stored.id}: period {stored.period} ({period.start} – {period.end}), "
        f"count {count}, {per_target} per target.",
        f"# Seed {_toml_text(stored.seed)}; input fingerprint {stored.fingerprint}.",
        "",
    ]
    for inspector in pool.inspectors:
        lines += ["[[inspector]]", f"id = {_toml_text(inspector.id)}", f"name = {_toml_text(inspector.name)}",
                  f"unit = {_toml_text(inspector.unit)}"]
        if inspector.districts:
            lines.append(f"districts = [{', '.join(_toml_text(d) for d in inspector.districts)}]")
        lines.append("")
    for target in pool.targets:
        lines += ["[[target]]", f"id = {_toml_text(target.id)}", f"name = {_toml_text(target.name)}",
                  f"district = {_toml_text(target.district)}", f"unit = {_toml_text(target.unit)}",
                  f'risk = "{target.risk.value}"', f'credit = "{target.credit.value}"', ""]
    for past in pool.history:
        lines += ["[[inspected]]", f"target = {_toml_text(past.target_id)}", f"on = {past.on.isoformat()}"]
        if past.reinspection:
            lines.append("reinspection = true")
        lines.append("")
    return "\n".join(lines)
