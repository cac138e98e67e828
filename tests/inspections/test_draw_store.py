"""Stored draws on a real PostgreSQL: the row, its audit entries and fire inspections, idempotence,
re-running from the row, tampering caught, and the history the database adds to the next draw."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from relic_guard import audit
from relic_guard.audit import AuditEntry
from relic_guard.inspections.draw import (
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
from relic_guard.inspections.draw_io import DrawInput, load_draw_input
from relic_guard.store import draw_store, inspection_store
from relic_guard.store.draw_store import DrawMismatch, StoredDraw, UnreadableDraw
from relic_guard.store.schema import migrate

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "inspections.example.toml"
SEED = "2026年7月1日 公证抽签 0731"
AUDIT_KEY = bytes(range(32))
# 09:00 in Beijing on 20 June 2026: the Q3 draw is made ahead of its period.
DRAWN_AT = datetime(2026, 6, 20, 1, 0, tzinfo=UTC)
BY = "user:督察员"

Conn = psycopg.Connection[Any]


@pytest.fixture
def db(pg_url: str) -> Iterator[Conn]:
    """An autocommit connection to a fresh, migrated database."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        yield conn


def example() -> DrawInput:
    return load_draw_input(EXAMPLE)


def store_example(conn: Conn, *, period: str = "2026-Q3", count: int = 4, seed: str = SEED,
                  now: datetime = DRAWN_AT, audit_key: bytes | None = AUDIT_KEY) -> draw_store.StoredOutcome:
    return draw_store.draw_and_store(conn, example(), period=Period.parse(period), count=count, seed=seed,
                                     per_target=2, by=BY, now=now, audit_key=audit_key)


def audit_kinds(conn: Conn) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute("SELECT kind, subject FROM audit_log ORDER BY seq").fetchall()]


def stored_row(result: Draw, pool: DrawInput, *, draw_id: int = 1) -> StoredDraw:
    """What `store_draw` writes, built without a database (for the pure functions)."""
    period = result.period
    return StoredDraw(
        id=draw_id, period=period.label, period_start=period.start, period_end=period.end, seed=result.seed,
        count=result.count, per_target=result.per_target, algorithm="relic-guard draw v1",
        fingerprint=result.fingerprint,
        input=json.loads(canonical_input(pool.inspectors, pool.targets, pool.history, period, result.count,
                                         result.per_target)),
        result=draw_store.result_json(result), drawn_at=DRAWN_AT, drawn_by=BY,
    )


# Storing ------------------------------------------------------------------------------------------


def test_a_stored_draw_keeps_its_input_result_inspections_and_audit_entries(db: Conn) -> None:
    outcome = store_example(db)
    assert outcome.created
    pool = example()
    expected = draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history,
                    period=Period.parse("2026-Q3"), count=4, seed=SEED)
    # An empty database adds no history: the draw is the file's.
    assert outcome.result == expected and outcome.history == tuple(sorted(pool.history, key=lambda h: (
        h.target_id, h.on, h.reinspection)))

    stored = draw_store.get_draw(db, outcome.id)
    assert stored is not None
    assert (stored.period, stored.period_start, stored.period_end) == ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30))
    assert (stored.seed, stored.count, stored.per_target, stored.fingerprint) == (SEED, 4, 2, expected.fingerprint)
    assert stored.input == json.loads(canonical_input(pool.inspectors, pool.targets, pool.history,
                                                      expected.period, 4, 2))
    assert stored.result == draw_store.result_json(expected)
    assert stored.assignments[0]["target_name"] in {"西关关帝庙", "龙泉寺古建筑群", "明湖书院旧址"}
    assert (stored.drawn_at, stored.drawn_by) == (DRAWN_AT, BY)

    made = draw_store.inspections_of(db, [outcome.id])[outcome.id]
    assert made == {a.target.id: (f"draw/{outcome.id}/{a.target.id}", "assigned") for a in expected.assignments}
    first = inspection_store.get(db, f"draw/{outcome.id}/{expected.assignments[0].target.id}")
    assert first is not None and first.assignees == tuple(i.id for i in expected.assignments[0].inspectors)
    assert first.due_on == date(2026, 9, 30) and first.draw_id == outcome.id

    kinds = audit_kinds(db)
    assert kinds[0] == ("draw.stored", f"draw:{outcome.id}")
    assert sorted(kinds[1:]) == sorted(("inspection.drawn", f"inspection:{made[t][0]}") for t in made)
    entry = db.execute("SELECT detail FROM audit_log WHERE kind = 'draw.stored'").fetchone()
    assert entry is not None
    assert entry[0]["fingerprint"] == expected.fingerprint and entry[0]["seed"] == SEED
    assert entry[0]["drawn"] == [a.target.id for a in expected.assignments]
    assert audit.verify(db, AUDIT_KEY).intact

    # Anyone holding the row re-runs it to the same draw.
    rerun = draw_store.check(stored)
    assert rerun.problems == ()
    assert rerun.result == outcome.result == draw_store.rebuild(stored)


def test_a_retried_draw_is_one_row(db: Conn) -> None:
    first = store_example(db)
    kinds = audit_kinds(db)
    # Asked again (a retried command, the period written another way, a minute later): the same draw.
    again = store_example(db, period="2026-q3", now=DRAWN_AT + timedelta(minutes=1))
    assert (again.id, again.created) == (first.id, False)
    assert audit_kinds(db) == kinds
    assert db.execute("SELECT count(*) FROM draws").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM inspections").fetchone() == (len(first.result.assignments),)
    # Another seed is another draw, with inspections of its own.
    other = store_example(db, seed="另一个种子")
    assert other.id != first.id and other.created
    h1 = store_example(db, period="2027-H1", now=datetime(2026, 12, 20, tzinfo=UTC))
    assert [d.id for d in draw_store.list_draws(db)] == [h1.id, other.id, first.id]
    assert [d.id for d in draw_store.list_draws(db, 2026)] == [other.id, first.id]
    assert [d.id for d in draw_store.list_draws(db, 2027)] == [h1.id]
    assert draw_store.list_draws(db, 2025) == []
    assert draw_store.get_draw(db, 999) is None
    assert draw_store.inspections_of(db, []) == {}

    # The same inputs and seed stored with another result: something rewrote the row; refused.
    db.execute("UPDATE draws SET result = jsonb_set(result, '{short_by}', '7') WHERE id = %s", (first.id,))
    with pytest.raises(DrawMismatch, match="different result"):
        store_example(db)


def test_without_the_key_the_entries_are_handed_back_for_the_journal(db: Conn) -> None:
    deferred: list[AuditEntry] = []
    outcome = draw_store.draw_and_store(db, example(), period=Period.parse("2026-Q3"), count=4, seed=SEED,
                                        per_target=2, by=BY, now=DRAWN_AT, audit_key=None, deferred=deferred)
    assert audit_kinds(db) == []
    assert [(e.kind, e.subject) for e in deferred] == [("draw.stored", f"draw:{outcome.id}")] + [
        ("inspection.drawn", f"inspection:draw/{outcome.id}/{a.target.id}") for a in outcome.result.assignments]
    assert all(e.actor == BY and e.at == DRAWN_AT for e in deferred)

    # A pool other than the one the draw was made from is not stored as its input.
    pool = example()
    result = draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history,
                  period=Period.parse("2026-Q4"), count=4, seed=SEED)
    with pytest.raises(ValueError, match="fingerprints differ"):
        draw_store.store_draw(db, result, pool=replace(pool, history=pool.history[:-1]), by=BY, now=DRAWN_AT,
                              audit_key=AUDIT_KEY)
    assert db.execute("SELECT count(*) FROM draws").fetchone() == (1,)


# Re-running from the row ---------------------------------------------------------------------------


TAMPERING = [
    # Another inspector written into the result after the draw.
    ("UPDATE draws SET result = jsonb_set(result, '{assignments,0,inspectors,0,id}', '\"JN-XF-9999\"')",
     "drawn #1: stored"),
    # A target renamed in the stored input: the input no longer gives the published fingerprint.
    ("UPDATE draws SET input = jsonb_set(input, '{targets,0,name}', '\"改过的名字\"')",
     "the input was changed after the draw"),
    # A past inspection slipped into the input: the rules now leave a target out.
    ("UPDATE draws SET input = jsonb_set(input, '{history}', input->'history' || "
     "'[[\"CQ-001\", \"2026-06-01\", false]]'::jsonb)", "the input was changed after the draw"),
    ("UPDATE draws SET result = jsonb_set(result, '{skipped}', '[]')", "left out: stored none"),
    ("UPDATE draws SET count = 5", "the row says count 5"),
    ("UPDATE draws SET result = jsonb_set(result, '{assignments,0,target_name}', '\"别的庙\"')",
     "the stored names or the mandatory flag differ"),
]


def test_tampering_with_the_row_is_caught(db: Conn) -> None:
    outcome = store_example(db)
    original = db.execute("SELECT input, result, count FROM draws").fetchone()
    assert original is not None
    for tamper, expected in TAMPERING:
        db.execute(tamper)
        stored = draw_store.get_draw(db, outcome.id)
        assert stored is not None
        problems = draw_store.check(stored).problems
        assert any(expected in problem for problem in problems), (tamper, problems)
        with pytest.raises(DrawMismatch) as caught:
            draw_store.rebuild(stored)
        assert caught.value.problems == list(problems)
        db.execute("UPDATE draws SET input = %s, result = %s, count = %s",
                   (Jsonb(original[0]), Jsonb(original[1]), original[2]))
        restored = draw_store.get_draw(db, outcome.id)
        assert restored is not None and draw_store.check(restored).problems == ()

    # A row of another algorithm, or one whose input lost a part, cannot be re-run here at all.
    db.execute("UPDATE draws SET input = jsonb_set(input, '{algorithm}', '\"relic-guard draw v9\"')")
    stored = draw_store.get_draw(db, outcome.id)
    assert stored is not None
    with pytest.raises(UnreadableDraw, match="cannot re-run it"):
        draw_store.check(stored)
    db.execute("UPDATE draws SET input = input - 'targets'")
    stored = draw_store.get_draw(db, outcome.id)
    assert stored is not None
    with pytest.raises(UnreadableDraw):
        draw_store.check(stored)


# History from the database --------------------------------------------------------------------------


TEAM = (Inspector(id="I1", name="张建华", unit="消防救援支队"), Inspector(id="I2", name="陈立新", unit="综合执法支队"))
NORMAL = Target(id="T-N", name="青石巷古民居群", district="历下区", unit="历下区文物保护所")
BOOKED = Target(id="T-B", name="南郊民俗陈列馆", district="市中区", unit="市中区文化馆", credit=Credit.GOOD)
TWICE = Target(id="T-T", name="鹊华书院旧址", district="天桥区", unit="天桥区博物馆")


def beijing(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 8, tzinfo=UTC)


def complete(conn: Conn, inspection_id: str, day: date) -> None:
    inspection_store.complete(conn, inspection_id, rating="good", summary="消防设施完好", sites={},
                              by="user:张建华", now=beijing(day))


def test_twice_a_year_counts_the_inspections_the_database_holds(db: Conn) -> None:
    # The file knows one inspection of T-B from before the system, and T-T's that the system also
    # recorded (the same day: one inspection written down twice).
    pool = DrawInput(inspectors=TEAM, targets=(NORMAL, BOOKED, TWICE), history=(
        PastInspection(target_id="T-B", on=date(2026, 1, 6)),
        PastInspection(target_id="T-T", on=date(2026, 1, 20)),
    ))

    def monthly(period: str, drawn_on: date) -> draw_store.StoredOutcome:
        return draw_store.draw_and_store(db, pool, period=Period.parse(period), count=3, seed=f"{period} 公开抽签",
                                         per_target=2, by=BY, now=beijing(drawn_on), audit_key=AUDIT_KEY)

    january = monthly("2026-01", date(2025, 12, 28))
    assert sorted(a.target.id for a in january.result.assignments) == ["T-B", "T-N", "T-T"]
    complete(db, f"draw/{january.id}/T-N", date(2026, 1, 15))
    complete(db, f"draw/{january.id}/T-T", date(2026, 1, 20))
    complete(db, f"draw/{january.id}/T-B", date(2026, 1, 22))

    february = monthly("2026-02", date(2026, 1, 31))
    # T-B: once in the file and once in the database; T-T: the file's row is the database's.
    assert ("T-B", SkipReason.YEARLY_LIMIT) in [(s.target.id, s.reason) for s in february.result.skipped]
    assert sorted(a.target.id for a in february.result.assignments) == ["T-N", "T-T"]
    complete(db, f"draw/{february.id}/T-N", date(2026, 2, 10))
    # Done after the day of the next draw: not yet history for it.
    complete(db, f"draw/{february.id}/T-T", date(2026, 3, 2))

    march = monthly("2026-03", date(2026, 2, 28))
    skipped = {s.target.id: s.reason for s in march.result.skipped}
    assert skipped == {"T-B": SkipReason.YEARLY_LIMIT, "T-N": SkipReason.YEARLY_LIMIT}
    assert [a.target.id for a in march.result.assignments] == ["T-T"]
    assert march.history == (
        PastInspection(target_id="T-B", on=date(2026, 1, 6)), PastInspection(target_id="T-B", on=date(2026, 1, 22)),
        PastInspection(target_id="T-N", on=date(2026, 1, 15)), PastInspection(target_id="T-N", on=date(2026, 2, 10)),
        PastInspection(target_id="T-T", on=date(2026, 1, 20)),
    )
    # Without the database's history the file alone would have drawn T-N again.
    file_only = draw(inspectors=TEAM, targets=pool.targets, history=pool.history, period=Period.parse("2026-03"),
                     count=3, seed="2026-03 公开抽签")
    assert "T-N" in [a.target.id for a in file_only.assignments]
    # The history used is part of the published input: the stored row re-runs to the same draw.
    stored = draw_store.get_draw(db, march.id)
    assert stored is not None
    assert stored.input["history"] == [[h.target_id, h.on.isoformat(), h.reinspection] for h in march.history]
    assert draw_store.check(stored).problems == ()
    assert march.result.fingerprint != file_only.fingerprint


def test_history_stops_at_the_day_of_the_draw() -> None:
    assert draw_store.history_before(datetime(2026, 2, 28, 15, 59, tzinfo=UTC)) == date(2026, 3, 1)
    # 16:00 UTC is midnight in Beijing: the next day has begun there.
    assert draw_store.history_before(datetime(2026, 2, 28, 16, 0, tzinfo=UTC)) == date(2026, 3, 2)


# Pure parts ----------------------------------------------------------------------------------------


def test_merge_history_table() -> None:
    a = PastInspection(target_id="A", on=date(2026, 3, 1))
    a_re = PastInspection(target_id="A", on=date(2026, 3, 1), reinspection=True)
    b = PastInspection(target_id="B", on=date(2026, 1, 1))
    assert draw_store.merge_history([], []) == ()
    assert draw_store.merge_history([b, a], [a]) == (a, b)
    assert draw_store.merge_history([a], [a_re]) == (a, a_re)
    assert draw_store.merge_history([a_re, a, a]) == (a, a_re)


past = st.builds(PastInspection, target_id=st.sampled_from(["A", "B", "文物点C"]),
                 on=st.dates(date(2025, 1, 1), date(2026, 12, 31)), reinspection=st.booleans())


@settings(max_examples=50)
@given(st.lists(past, max_size=12), st.lists(past, max_size=12))
def test_merge_history_keeps_each_inspection_once(first: list[PastInspection], second: list[PastInspection]) -> None:
    merged = draw_store.merge_history(first, second)
    assert set(merged) == set(first) | set(second)
    assert len(merged) == len(set(merged))
    assert draw_store.merge_history(second, first) == merged == draw_store.merge_history(merged)


text = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() == s and s != "")


@settings(max_examples=40, deadline=None)
@given(names=st.lists(text, min_size=4, max_size=4), seed=st.text(max_size=20), reinspection=st.booleans())
def test_the_pool_file_of_a_stored_draw_reproduces_it(tmp_path_factory: pytest.TempPathFactory, names: list[str],
                                                      seed: str, reinspection: bool) -> None:
    pool = DrawInput(
        inspectors=(Inspector(id="I1", name=names[0], unit=names[1], districts=(names[2],)),
                    Inspector(id="I2", name="王志强", unit="历下区消防救援大队")),
        targets=(Target(id="T-1", name=names[3], district=names[2], unit="文物所", risk=Risk.HIGH),
                 Target(id="T-2", name="莲台寺", district="历下区", unit="文物所", credit=Credit.BLACKLISTED)),
        history=(PastInspection(target_id="T-2", on=date(2026, 3, 1), reinspection=reinspection),),
    )
    result = draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history,
                  period=Period.parse("2026-Q2"), count=1, seed=seed, per_target=1)
    text_out = draw_store.pool_toml(stored_row(result, pool))
    tomllib.loads(text_out)
    path = tmp_path_factory.mktemp("pool") / "draw-1-input.toml"
    path.write_text(text_out, encoding="utf-8")
    again = load_draw_input(path)
    rerun = draw(inspectors=again.inspectors, targets=again.targets, history=again.history,
                 period=result.period, count=1, seed=seed, per_target=1)
    assert rerun == result


def test_result_json_is_what_is_published() -> None:
    pool = example()
    result = draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history,
                  period=Period.parse("2026-Q3"), count=4, seed=SEED)
    published = draw_store.result_json(result)
    assert [a["target"] for a in published["assignments"]] == [a.target.id for a in result.assignments]
    assert published["assignments"][0]["inspectors"][0].keys() == {"id", "name", "unit"}
    assert {s["target"]: s["reason"] for s in published["skipped"]} == {
        s.target.id: s.reason.value for s in result.skipped}
    assert (published["over_count"], published["short_by"]) == (result.over_count, result.short_by)
    # A JSON round trip (what jsonb does) changes nothing.
    assert json.loads(json.dumps(published, ensure_ascii=False)) == published
