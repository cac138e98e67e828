"""`relic-guard inspection plan|list|assign|complete|cancel` through typer's runner, against a real
PostgreSQL and the example registry (8 sites in 4 districts)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner, Result

from relic_guard import audit
from relic_guard.cli import app
from relic_guard.hazards.model import HazardSource, Severity
from relic_guard.inspections.annual import AnnualPolicy
from relic_guard.registry import load_registry
from relic_guard.store import hazard_store, inspection_store

EXAMPLES = Path(__file__).resolve().parents[2] / "config"
EVALUATION = "2026/site_evaluation/lingyan-si"
SUPERVISION = "2026/district_supervision/长清区"
JPEG = b"\xff\xd8\xff\xe0" + "千佛殿".encode() * 16

@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The example registry, an audit key of this test's own."""
    key = tmp_path / "audit.key"
    audit.load_or_create_key(key)
    path = tmp_path / "relic-guard.toml"
    path.write_text(f'registry_dir = "{EXAMPLES}"\n\n[audit]\nkey_file = "{key}"\n', encoding="utf-8")
    return path


def plan_2026(db: psycopg.Connection[Any]) -> None:
    """What `inspection plan --year 2026` writes (tested below), written directly: quicker to set up."""
    sites = load_registry(EXAMPLES).sites.values()
    inspection_store.ensure_year_plan(db, 2026, sites, AnnualPolicy(), now=datetime.now(UTC), by="test",
                                      audit_key=None)


def cli(config: Path, database: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["inspection", *args, "--config", str(config)],
                              env={"RELIC_GUARD_DATABASE_URL": database})


def test_plan_writes_the_year_once(db: psycopg.Connection[Any], database: str, config: Path) -> None:
    first = cli(config, database, "plan", "--year", "2026")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == ("12 new inspection(s) planned for 2026; the plan holds 4 district supervision(s) "
                                    "due 2026-11-30 and 8 site evaluation(s) due 2026-09-30")
    again = cli(config, database, "plan", "--year", "2026")
    assert again.exit_code == 0 and again.stdout.startswith("0 new inspection(s) planned for 2026")
    [planned] = inspection_store.events(db, SUPERVISION)
    assert planned.kind == "inspection.planned" and planned.actor.startswith("cli")
    key = audit.load_or_create_key(config.parent / "audit.key")
    assert audit.verify(db, key).intact


def test_list_shows_a_readable_table_with_chinese_names(db: psycopg.Connection[Any], database: str,
                                                        config: Path) -> None:
    # The command reads the real clock: a year far ahead is not overdue yet, one long past is.
    cli(config, database, "plan", "--year", "2199")
    shown = cli(config, database, "list", "--year", "2199", "--district", "长清区")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["编号", "类型", "区县", "对象", "截止日期", "状态", "检查人员", "评价"]
    assert lines[1].split() == ["2199/district_supervision/长清区", "区县年度督察", "长清区", "长清区", "2199-11-30",
                                "待安排"]
    assert [line.split()[0] for line in lines[2:-1]] == [
        "2199/site_evaluation/lingyan-si", "2199/site_evaluation/qi-changcheng-guangli",
        "2199/site_evaluation/xiaotangshan"]
    assert "孝堂山郭氏墓石祠" in shown.stdout and "齐长城遗址（长清广里段）" in shown.stdout
    # Columns line up on a terminal, where a Chinese character takes two cells.
    starts = {_cell_of(line, "2199-") for line in lines[1:-1]}
    assert len(starts) == 1
    assert lines[-1] == "4 inspection(s) in 2199: 待安排 4"
    none = cli(config, database, "list", "--year", "2199", "--status", "done")
    assert none.stdout.splitlines()[-1] == "0 inspection(s) in 2199"
    cli(config, database, "plan", "--year", "2024")
    past = cli(config, database, "list", "--year", "2024", "--district", "历下区")
    assert "待安排（逾期）" in past.stdout.splitlines()[1]
    assert past.stdout.splitlines()[-1] == "3 inspection(s) in 2024: 待安排 3; 3 overdue"


def _cell_of(line: str, text: str) -> int:
    """The terminal column where `text` starts in `line`."""
    before = line[: line.index(text)]
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in before)


def test_assign_complete_with_findings_and_photos(db: psycopg.Connection[Any], database: str, config: Path,
                                                  tmp_path: Path) -> None:
    cli(config, database, "plan", "--year", "2026")
    assigned = cli(config, database, "assign", EVALUATION, "--to", "zhang.wei, li.na")
    assert assigned.exit_code == 0, assigned.output
    assert assigned.stdout.strip() == f"inspection {EVALUATION} (灵岩寺) assigned to zhang.wei, li.na"
    photo = tmp_path / "千佛殿配电箱.jpg"
    photo.write_bytes(JPEG)
    done = cli(config, database, "complete", EVALUATION, "--rating", "fair", "--summary", "千佛殿消防设施基本完好",
               "--finding", "major:配电箱线路老化:千佛殿东侧配电箱线路绝缘层破损", "--finding", "general:灭火器过期",
               "--photo", str(photo))
    assert done.exit_code == 0, done.output
    hazards = hazard_store.list_open(db, {"lingyan-si"})
    assert [(h.title, h.severity, h.description, h.source, h.source_ref) for h in hazards] == [
        ("配电箱线路老化", Severity.MAJOR, "千佛殿东侧配电箱线路绝缘层破损", HazardSource.INSPECTION, EVALUATION),
        ("灭火器过期", Severity.GENERAL, "", HazardSource.INSPECTION, EVALUATION)]
    assert done.stdout.strip().endswith(
        f"rated 中 (fair); 2 finding(s) tracked as hazard(s) #{hazards[0].id}, #{hazards[1].id}; 1 photo(s)")
    stored = inspection_store.get(db, EVALUATION)
    assert stored is not None and stored.attachments[0].note == "照片 千佛殿配电箱.jpg"
    shown = cli(config, database, "list", "--year", "2026", "--status", "已完成")
    assert shown.stdout.splitlines()[1].split()[-3:] == ["已完成", "zhang.wei、li.na", "中"]
    supervision = cli(config, database, "assign", SUPERVISION, "--to", "city.sup")
    assert supervision.exit_code == 0
    done = cli(config, database, "complete", SUPERVISION, "--rating", "poor", "--summary", "区级检查未覆盖全部文物点",
               "--finding", "xiaotangshan@general:未建立文物安全档案")
    assert done.exit_code == 0, done.output
    assert [h.site_id for h in hazard_store.list_open(db, {"xiaotangshan"})] == ["xiaotangshan"]


@pytest.mark.parametrize(("args", "words"), [
    (["complete", EVALUATION, "--rating", "good", "--summary", "好"], "assign it first"),
    (["complete", EVALUATION, "--rating", "excellent", "--summary", "好"], "good, fair or poor"),
    (["complete", EVALUATION, "--rating", "good", "--summary", "好", "--finding", "裂缝"],
     "'major:title[:description]'"),
    (["complete", EVALUATION, "--rating", "good", "--summary", "好", "--finding", "grave:裂缝"], "major (重大隐患)"),
    (["complete", SUPERVISION, "--rating", "good", "--summary", "好", "--finding", "general:裂缝"], "assign it first"),
    (["cancel", "2026/site_evaluation/nowhere", "--reason", "x"], "`relic-guard inspection list --year YYYY`"),
    (["assign", EVALUATION, "--to", " , "], "at least one person"),
    (["list", "--year", "2026", "--status", "late"], "planned, assigned, done, cancelled"),
    (["complete", EVALUATION, "--rating", "good", "--summary", "好", "--photo", "/nonexistent/p.jpg"], "cannot read"),
])
def test_refusals_say_what_is_wrong_and_exit_2(db: psycopg.Connection[Any], database: str, config: Path,
                                               args: list[str], words: str) -> None:
    plan_2026(db)
    refused = cli(config, database, *args)
    assert refused.exit_code == 2, refused.output
    assert words in refused.stderr
    assert [e.kind for e in inspection_store.events(db, EVALUATION)] == ["inspection.planned"]


def test_a_cancelled_inspection_stays_cancelled(db: psycopg.Connection[Any], database: str, config: Path) -> None:
    plan_2026(db)
    cancelled = cli(config, database, "cancel", EVALUATION, "--reason", "全年闭馆修缮")
    assert cancelled.exit_code == 0 and cancelled.stdout.strip().endswith("cancelled: 全年闭馆修缮")
    again = cli(config, database, "assign", EVALUATION, "--to", "zhang.wei")
    assert again.exit_code == 2 and "cannot be taken up again" in again.stderr


def test_without_the_daemons_audit_key_nothing_is_written(db: psycopg.Connection[Any], database: str,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "no-key.toml"
    path.write_text(f'registry_dir = "{EXAMPLES}"\n\n[audit]\nkey_file = "{tmp_path / "missing.key"}"\n',
                    encoding="utf-8")
    refused = cli(path, database, "plan", "--year", "2026")
    assert refused.exit_code == 2 and "the audit key" in refused.stderr and "start the daemon once" in refused.stderr
    assert not (tmp_path / "missing.key").exists()
    assert inspection_store.list_inspections(db, year=2026) == []
