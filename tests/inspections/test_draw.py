"""The 双随机 draw: rules as tables, then properties over many seeds and random pools."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import Counter
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relic_guard.inspections.draw import (
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

Q3 = Period.parse("2026-Q3")


def insp(ident: str, unit: str, *districts: str) -> Inspector:
    return Inspector(id=ident, name=f"检查员{ident}", unit=unit, districts=districts)


def tgt(ident: str, *, unit: str = "", district: str = "历下区", risk: Risk = Risk.NORMAL,
        credit: Credit = Credit.NORMAL) -> Target:
    return Target(id=ident, name=f"文物点{ident}", district=district, unit=unit or f"管理所{ident}", risk=risk,
                  credit=credit)


POOL = (insp("I1", "消防支队"), insp("I2", "消防支队"), insp("I3", "执法支队"), insp("I4", "文旅局"))


def run(targets: list[Target], history: list[PastInspection] | None = None, *, count: int = 3,
        period: Period = Q3, seed: str = "s", pool: tuple[Inspector, ...] = POOL, per_target: int = 2) -> Draw:
    return draw(inspectors=pool, targets=targets, history=history or [], period=period, count=count, seed=seed,
                per_target=per_target)


def drawn(result: Draw) -> list[str]:
    return [a.target.id for a in result.assignments]


def mandatory(result: Draw) -> list[str]:
    return [a.target.id for a in result.assignments if a.mandatory]


# Periods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2028-2", date(2028, 2, 1), date(2028, 2, 29)),
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-H1", date(2026, 1, 1), date(2026, 6, 30)),
        ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)),
    ],
)
def test_period_parse(text: str, start: date, end: date) -> None:
    period = Period.parse(text)
    assert (period.start, period.end) == (start, end)
    assert Period.parse(period.label) == period


@pytest.mark.parametrize("text", ["2026", "2026-13", "2026-00", "2026-Q5", "2026-H3", "26-12", "2026-12-01"])
def test_period_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"2026-12|month"):
        Period.parse(text)


def test_a_period_cannot_cross_a_half_year() -> None:
    with pytest.raises(ValueError, match="half-year"):
        Period(date(2026, 6, 1), date(2026, 7, 31))
    assert Period(date(2026, 7, 5), date(2026, 7, 20)).label == "2026-07-05/2026-07-20"


# Rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "is_mandatory"),
    [
        ([], True),
        ([PastInspection(target_id="H", on=date(2026, 7, 2))], False),  # done this half
        ([PastInspection(target_id="H", on=date(2026, 6, 30))], True),  # last half does not count
        ([PastInspection(target_id="H", on=date(2026, 8, 1), reinspection=True)], True),  # 复查 does not count
        # High risk has no yearly cap: inspected twice in H1, still due in H2.
        ([PastInspection(target_id="H", on=date(2026, 1, 5)), PastInspection(target_id="H", on=date(2026, 3, 5))],
         True),
    ],
)
def test_high_risk_due_this_half_year_is_mandatory(history: list[PastInspection], is_mandatory: bool) -> None:
    targets = [tgt("H", risk=Risk.HIGH), *(tgt(f"N{i}") for i in range(6))]
    result = run(targets, history, count=1)
    assert ("H" in mandatory(result)) is is_mandatory
    assert len(result.assignments) == 1


def test_mandatory_beyond_count_are_all_drawn_and_reported() -> None:
    targets = [tgt(f"H{i}", risk=Risk.HIGH) for i in range(4)] + [tgt("N1")]
    result = run(targets, count=2)
    assert mandatory(result) == ["H0", "H1", "H2", "H3"]
    assert drawn(result) == ["H0", "H1", "H2", "H3"]
    assert result.over_count == 2
    assert run(targets, count=0).over_count == 4


@pytest.mark.parametrize(
    ("dates_and_reinspection", "credit", "skipped"),
    [
        ([(date(2026, 2, 1), False), (date(2026, 5, 1), False)], Credit.NORMAL, True),
        ([(date(2026, 2, 1), False), (date(2026, 5, 1), False)], Credit.BLACKLISTED, True),
        ([(date(2026, 2, 1), False), (date(2026, 3, 1), True), (date(2026, 4, 1), True)], Credit.NORMAL, False),
        ([(date(2025, 2, 1), False), (date(2025, 12, 31), False)], Credit.NORMAL, False),
        ([(date(2026, 1, 1), False)], Credit.NORMAL, False),
    ],
)
def test_normal_risk_at_most_twice_a_year(
    dates_and_reinspection: list[tuple[date, bool]], credit: Credit, skipped: bool
) -> None:
    history = [PastInspection(target_id="N", on=on, reinspection=re) for on, re in dates_and_reinspection]
    result = run([tgt("N", credit=credit)], history, count=1)
    assert [(s.target.id, s.reason) for s in result.skipped] == ([("N", SkipReason.YEARLY_LIMIT)] if skipped else [])
    assert drawn(result) == ([] if skipped else ["N"])
    assert result.short_by == (1 if skipped else 0)


def test_inspectors_never_inspect_their_own_unit() -> None:
    pool = (insp("A1", "消防支队"), insp("A2", "消防支队"), insp("B1", "执法支队"))
    result = run([tgt("T", unit="执法支队"), tgt("U", unit="消防支队")], pool=pool, count=2)
    by_target = {a.target.id: {i.id for i in a.inspectors} for a in result.assignments}
    assert by_target == {"T": {"A1", "A2"}}
    assert [(s.target.id, s.reason) for s in result.skipped] == [("U", SkipReason.NO_INSPECTOR)]


def test_district_inspectors_stay_in_their_districts() -> None:
    pool = (insp("L", "历下区大队", "历下区"), insp("S", "市中区大队", "市中区"), insp("C", "支队"))
    result = run([tgt("T", district="市中区")], pool=pool, count=1)
    assert {i.id for i in result.assignments[0].inspectors} == {"S", "C"}
    result = run([tgt("T", district="槐荫区")], pool=pool, count=1)
    assert result.skipped[0].reason is SkipReason.NO_INSPECTOR


@pytest.mark.parametrize("seed", [f"unit-{n}" for n in range(40)])
def test_a_team_mixes_units_when_it_can(seed: str) -> None:
    pool = (insp("A1", "消防支队"), insp("A2", "消防支队"), insp("A3", "消防支队"), insp("B1", "执法支队"))
    team = run([tgt("T")], pool=pool, count=1, seed=seed).assignments[0].inspectors
    assert {i.unit for i in team} == {"消防支队", "执法支队"}
    only_one_unit = run([tgt("T")], pool=pool[:3], count=1, seed=seed).assignments[0].inspectors
    assert len({i.id for i in only_one_unit}) == 2


def test_fewer_candidates_than_count() -> None:
    result = run([tgt("A"), tgt("B")], count=5)
    assert sorted(drawn(result)) == ["A", "B"]
    assert result.short_by == 3


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="negative"):
        run([tgt("A")], count=-1)
    with pytest.raises(ValueError, match="at least one"):
        run([tgt("A")], per_target=0)
    with pytest.raises(ValueError, match="target id 'A' appears twice"):
        run([tgt("A"), tgt("A")])
    with pytest.raises(ValueError, match="inspector id 'I1' appears twice"):
        run([tgt("A")], pool=(*POOL, POOL[0]))


def test_fingerprint_is_the_sha256_of_the_canonical_input() -> None:
    targets = [tgt("B", risk=Risk.HIGH), tgt("A", credit=Credit.GOOD)]
    history = [PastInspection(target_id="A", on=date(2026, 1, 3))]
    result = run(targets, history, count=1)
    canonical = canonical_input(reversed(POOL), reversed(targets), history, Q3, 1, 2)
    assert result.fingerprint == hashlib.sha256(canonical).hexdigest()
    assert "文物点A".encode() in canonical  # not \u-escaped: readable by whoever checks it
    assert run(targets, history, count=1, seed="other").fingerprint == result.fingerprint
    assert run(targets, [], count=1).fingerprint != result.fingerprint
    assert run(targets[::-1], history, count=1, pool=POOL[::-1]) == result  # input order does not matter


def test_pinned_result() -> None:
    """The draw of a fixed input and seed, written down: if this changes, published draws can no
    longer be verified (a changed algorithm needs a new ALGORITHM name)."""
    targets = [tgt(f"T{n}", credit=list(Credit)[n % 3]) for n in range(8)] + [tgt("H", risk=Risk.HIGH)]
    result = run(targets, count=3, seed="2026年第三季度 公开抽签")
    assert [(a.target.id, [i.id for i in a.inspectors]) for a in result.assignments] == PINNED


PINNED = [("H", ["I4", "I3"]), ("T2", ["I4", "I2"]), ("T4", ["I3", "I2"])]


def test_the_documented_procedure_reproduces_the_draw() -> None:
    """What a verifier would write from the module docstring alone, without this package."""
    targets = [tgt(f"T{n}", credit=list(Credit)[n % 3]) for n in range(6)]
    seed = "复核 2026-Q3"
    material = "\n".join(["relic-guard draw v1", seed, "2026-07-01/2026-09-30", "I1,I2,I3,I4",
                          ",".join(f"T{n}" for n in range(6))])
    rng = random.Random(int.from_bytes(hashlib.sha256(material.encode()).digest(), "big"))
    weight = {"good": 0.5, "normal": 1.0, "blacklisted": 3.0}
    keys = sorted(((rng.random() ** (1 / weight[t.credit.value]), t.id) for t in targets), key=lambda k: (-k[0], k[1]))
    expected = []
    for _, target_id in keys[:2]:
        order = list(POOL)  # every inspector is eligible: no target belongs to their units
        for i in range(len(order) - 1, 0, -1):
            j = int(rng.random() * (i + 1))
            order[i], order[j] = order[j], order[i]
        first = order[0]
        second = next((i for i in order[1:] if i.unit != first.unit), order[1])
        expected.append((target_id, [first.id, second.id]))
    result = run(targets, count=2, seed=seed)
    assert [(a.target.id, [i.id for i in a.inspectors]) for a in result.assignments] == expected


# Properties ----------------------------------------------------------------------------------

UNITS = ["消防支队", "执法支队", "文旅局", "管理所甲", "管理所乙"]
DISTRICTS = ["历下区", "市中区", "章丘区"]


@st.composite
def pools(draw_: st.DrawFn) -> tuple[list[Inspector], list[Target]]:
    n_inspectors = draw_(st.integers(2, 8))
    inspectors = [
        Inspector(id=f"I{n}", name=f"检查员{n}", unit=draw_(st.sampled_from(UNITS)),
                  districts=tuple(draw_(st.lists(st.sampled_from(DISTRICTS), max_size=2, unique=True))))
        for n in range(n_inspectors)
    ]
    n_targets = draw_(st.integers(0, 12))
    targets = [
        Target(id=f"T{n}", name=f"文物点{n}", district=draw_(st.sampled_from(DISTRICTS)),
               unit=draw_(st.sampled_from(UNITS)), risk=draw_(st.sampled_from(Risk)),
               credit=draw_(st.sampled_from(Credit)))
        for n in range(n_targets)
    ]
    return inspectors, targets


@st.composite
def histories(draw_: st.DrawFn, targets: list[Target]) -> list[PastInspection]:
    if not targets:
        return []
    return draw_(st.lists(st.builds(
        PastInspection,
        target_id=st.sampled_from([t.id for t in targets]),
        on=st.dates(date(2025, 6, 1), date(2026, 6, 30)),
        reinspection=st.booleans(),
    ), max_size=10))


def check_teams(result: Draw, per_target: int) -> None:
    for assignment in result.assignments:
        team = assignment.inspectors
        assert len(team) == per_target
        assert len({i.id for i in team}) == len(team), "an inspector twice on one target"
        for inspector in team:
            assert inspector.unit != assignment.target.unit, "an inspector on their own unit"
            assert not inspector.districts or assignment.target.district in inspector.districts
    ids = [a.target.id for a in result.assignments]
    assert len(ids) == len(set(ids))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), seed=st.text(max_size=12), count=st.integers(0, 6), per_target=st.integers(1, 3),
       month=st.integers(7, 12))
def test_one_draw_obeys_the_rules(data: st.DataObject, seed: str, count: int, per_target: int, month: int) -> None:
    inspectors, targets = data.draw(pools())
    history = data.draw(histories(targets))
    period = Period.parse(f"2026-{month:02d}")
    result = draw(inspectors=inspectors, targets=targets, history=history, period=period, count=count, seed=seed,
                  per_target=per_target)
    check_teams(result, per_target)
    staffable = {t.id for t in targets if sum(
        1 for i in inspectors if i.unit != t.unit and (not i.districts or t.district in i.districts)) >= per_target}
    done_this_half = {h.target_id for h in history if not h.reinspection and h.on >= date(2026, 7, 1)}
    due = {t.id for t in targets if t.risk is Risk.HIGH and t.id not in done_this_half and t.id in staffable}
    assert due <= set(mandatory(result))
    assert len(result.assignments) == max(count, len(due)) - result.short_by
    # Same seed and inputs, in any order: the same draw.
    again = draw(inspectors=inspectors[::-1], targets=targets[::-1], history=history[::-1], period=period,
                 count=count, seed=seed, per_target=per_target)
    assert again == result


@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=st.text(max_size=8), count=st.integers(1, 5))
def test_a_year_of_monthly_draws(data: st.DataObject, seed: str, count: int) -> None:
    """Twelve monthly draws, each adding its inspections to the history: high-risk targets are
    inspected every half-year, normal ones never more than twice a year."""
    inspectors, targets = data.draw(pools())
    history: list[PastInspection] = []
    for month in range(1, 13):
        period = Period.parse(f"2026-{month:02d}")
        result = draw(inspectors=inspectors, targets=targets, history=history, period=period, count=count,
                      seed=f"{seed}/{month}")
        check_teams(result, 2)
        history += [PastInspection(target_id=a.target.id, on=period.start) for a in result.assignments]
        if data.draw(st.booleans()) and result.assignments:  # some re-inspections, which count for nothing
            history.append(PastInspection(target_id=result.assignments[0].target.id, on=period.end,
                                          reinspection=True))
    routine = Counter(h.target_id for h in history if not h.reinspection)
    halves = {(h.target_id, h.on.month <= 6) for h in history if not h.reinspection}
    for target in targets:
        staffable = sum(1 for i in inspectors if i.unit != target.unit
                        and (not i.districts or target.district in i.districts)) >= 2
        if target.risk is Risk.NORMAL:
            assert routine[target.id] <= 2
        elif staffable:
            assert (target.id, True) in halves and (target.id, False) in halves


def test_a_different_seed_usually_gives_a_different_draw() -> None:
    targets = [tgt(f"T{n}") for n in range(10)]
    results = [drawn(run(targets, count=3, seed=f"seed-{n}")) for n in range(60)]
    differing = sum(1 for a, b in itertools.pairwise(results) if a != b)
    assert differing >= 55


def test_credit_weights_shift_the_frequencies() -> None:
    """Over 600 fixed seeds (so it cannot flake), blacklisted targets are drawn most and good
    credit least; bounds are generous against the exact inclusion probabilities."""
    targets = [tgt(f"{credit.value}-{n}", credit=credit) for credit in Credit for n in range(3)]
    times: Counter[Credit] = Counter()
    for n in range(600):
        for assignment in run(targets, count=2, seed=f"weights-{n}").assignments:
            times[assignment.target.credit] += 1
    assert times[Credit.BLACKLISTED] > 1.8 * times[Credit.NORMAL] > 1.8 * 1.3 * times[Credit.GOOD]
    assert CREDIT_WEIGHTS == {Credit.GOOD: 0.5, Credit.NORMAL: 1.0, Credit.BLACKLISTED: 3.0}
