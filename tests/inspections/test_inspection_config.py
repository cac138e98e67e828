"""The `[inspections]` section: loaded from the file and the environment, refused with file:line,
and summarised (its pool file checked) by check-config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from relic_guard.check_config import check_config
from relic_guard.config import InspectionsConfig
from relic_guard.config_load import load_config
from relic_guard.errors import ConfigError
from relic_guard.inspections.annual import AnnualPolicy, InspectionKind, policy_of

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def test_defaults_and_the_example_file() -> None:
    assert load_config(None, {}).inspections == InspectionsConfig()
    example = load_config(EXAMPLES / "relic-guard.toml", {}).inspections
    assert (example.site_evaluation_due, example.district_supervision_due, example.job_interval_s) == (
        "09-30", "11-30", 3600.0)
    assert policy_of(example) == AnnualPolicy()


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "inspections.example.toml", tmp_path / "pool.toml")
    path = tmp_path / "relic-guard.toml"
    path.write_text('[inspections]\npool_file = "pool.toml"\nsite_evaluation_due = "06-30"\n', encoding="utf-8")
    loaded = load_config(path, {"RELIC_GUARD_INSPECTIONS_DISTRICT_SUPERVISION_DUE": "12-15",
                                "RELIC_GUARD_INSPECTIONS_JOB_INTERVAL_S": "600"}).inspections
    assert loaded == InspectionsConfig(pool_file=tmp_path / "pool.toml", site_evaluation_due="06-30",
                                       district_supervision_due="12-15", job_interval_s=600.0)
    assert policy_of(loaded).due_on(InspectionKind.DISTRICT_SUPERVISION, 2027).isoformat() == "2027-12-15"


@pytest.mark.parametrize(("lines", "expected"), [
    ('site_evaluation_due = "02-29"', ':3: [inspections] site_evaluation_due: "02-29" is not a day every year has'),
    ('district_supervision_due = "11/30"', ':3: [inspections] district_supervision_due: "11/30" is not a day'),
    ("job_interval_s = 0", ":3: [inspections] job_interval_s: 0.0 is not a positive duration"),
    ('pool_file = "missing.toml"', ":3: [inspections] pool_file: no such file"),
    ('pool_fle = "x.toml"', ":3: [inspections] pool_fle: unknown key 'pool_fle' in [inspections]; did you mean "
                            "'pool_file'?"),
])
def test_mistakes_are_named_with_file_and_line(tmp_path: Path, lines: str, expected: str) -> None:
    path = tmp_path / "relic-guard.toml"
    path.write_text(f"# 年度检查\n[inspections]\n{lines}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path, {})
    [problem] = refused.value.problems
    assert problem.startswith(f"{path}{expected}"), problem


def test_check_config_summarises_the_section_and_checks_the_pool_file(tmp_path: Path) -> None:
    for name in ("sites.csv", "devices.csv", "inspections.example.toml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    path = tmp_path / "relic-guard.toml"
    path.write_text('registry_dir = "."\n\n[inspections]\npool_file = "inspections.example.toml"\n', encoding="utf-8")
    code, text = check_config(path, {})
    assert code == 0, text
    assert ("  inspections  site evaluations due 09-30, district supervisions due 11-30; draw pool 8 inspectors, "
            "10 targets (inspections.example.toml)") in text.splitlines()
    (tmp_path / "inspections.example.toml").write_text("[[inspector]]\nid = \"A\"\n", encoding="utf-8")
    code, text = check_config(path, {})
    assert code == 2
    *problems, last = text.splitlines()
    # The pool loader's own words; here only that they name the file and line, and what was checked.
    assert problems and all(p.startswith(f"{tmp_path / 'inspections.example.toml'}:1: [[inspector]] #1 ")
                            for p in problems)
    assert last == f"check-config: {len(problems)} problems in the inspection pool file; nothing was changed"
