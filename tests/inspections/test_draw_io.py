"""The pool file, the published CSV and page, and `relic-guard draw run|verify`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from relic_guard.cli import app
from relic_guard.errors import ConfigError
from relic_guard.inspections.draw import Credit, Inspector, Period, Risk, Target, draw
from relic_guard.inspections.draw_io import (
    compare_published_csv,
    draw_csv,
    draw_html,
    load_draw_input,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "inspections.example.toml"
SEED = "2026年7月1日 公证抽签 0731"

SMALL = """\
[[inspector]]
id = "I1"
name = "张建华"
unit = "济南市消防救援支队"

[[inspector]]
id = "I2"
name = "陈立新"
unit = "文化市场综合执法支队"

[[target]]
id = "T1"
name = "<script>alert(1)</script>古建筑"
district = "历下区"
unit = "历下区文物保护所"
risk = "high"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pool.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_draw_input(path)
    return caught.value.problems


def test_the_example_file_loads() -> None:
    pool = load_draw_input(EXAMPLE)
    assert len(pool.inspectors) == 8 and len(pool.targets) == 10 and len(pool.history) == 6
    assert {t.risk for t in pool.targets} == set(Risk) and {t.credit for t in pool.targets} == set(Credit)
    assert any(h.reinspection for h in pool.history)
    assert next(i for i in pool.inspectors if i.id == "LX-XF-0032").districts == ("历下区",)


@pytest.mark.parametrize(
    ("append", "expected"),
    [
        ('\n[[target]]\nid = "T2"\nname = "x"\ndistrict = "d"\nunit = "u"\nrisk = "hihg"\n',
         ':23: [[target]] #2 risk: "hihg" is not allowed; use one of'),
        ('\n[[target]]\nid = "T2"\nname = "x"\ndistrict = "d"\nunits = "u"\n',
         ":22: [[target]] #2 units: unknown key 'units'; did you mean 'unit'?"),
        ('\n[[target]]\nid = "T2"\nname = "x"\ndistrict = "d"\n', ':18: [[target]] #2 unit: is missing; add unit = "…"'),
        ('\n[[target]]\nid = "T1"\nname = "x"\ndistrict = "d"\nunit = "u"\n',
         ":19: [[target]] #2 id: 'T1' is already the id of [[target]] #1"),
        ('\n[[inspected]]\ntarget = "T9"\non = 2026-01-02\n',
         ":19: [[inspected]] #1 target: 'T9' is not the id of any [[target]]"),
        ('\n[[inspected]]\ntarget = "T1"\non = "2026-01-02"\n',
         ":20: [[inspected]] #1 on: '2026-01-02' is not a date; write it without quotes"),
        ('\n[[inspected]]\ntarget = "T1"\non = 2026-01-02T08:00:00\n', ":20: [[inspected]] #1 on: 2026-01-02T08:00:00 is not a date"),
        ('\n[[inspected]]\ntarget = "T1"\non = 2026-01-02\nreinspection = "yes"\n',
         ":21: [[inspected]] #1 reinspection: must be true or false"),
        ('\n[[inspecter]]\nid = "I3"\n', ":18: [[inspecter]]: unknown table; did you mean [[inspector]]?"),
        ('\n[[inspector]]\nid = "I3"\nname = "王"\nunit = "u"\ndistricts = "历下区"\n',
         ':22: [[inspector]] #3 districts: must be a list; write districts = ["历下区"]'),
        ("\nid = = 3\n", ":18:6: TOML syntax error: Invalid value"),
    ],
)
def test_problems_name_file_line_and_fix(tmp_path: Path, append: str, expected: str) -> None:
    path = write(tmp_path, SMALL + append)
    found = problems_of(path)
    assert any(f"{path}{expected}" in problem for problem in found), found


def test_empty_pool(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path, "")) == [f"{tmp_path / 'pool.toml'}: [[inspector]]: no inspectors; "
                                                "add at least one [[inspector]] table"]
    assert "no such file" in problems_of(tmp_path / "missing.toml")[0]


def test_csv_is_excel_ready_and_round_trips() -> None:
    pool = load_draw_input(EXAMPLE)
    result = draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history,
                  period=Period.parse("2026-Q3"), count=4, seed=SEED)
    text = draw_csv(result)
    assert text.startswith("\ufeff序号,期间,对象编号,对象名称")
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    assert "\r\n" in text and "西关关帝庙" in text and "必查" in text and result.fingerprint in text
    assert len(text.strip().splitlines()) == 1 + len(result.assignments)
    assert compare_published_csv(result, text) == []
    assert compare_published_csv(result, text.removeprefix("\ufeff").replace("\r\n", "\n")) == []
    other = draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history[:-1],
                 period=Period.parse("2026-Q3"), count=4, seed=SEED)
    assert any("inputs differ" in p for p in compare_published_csv(other, text))


def test_html_page_is_escaped_chinese_and_self_contained() -> None:
    result = draw(
        inspectors=[Inspector(id="I1", name="张建华", unit="支队"), Inspector(id="I2", name="李<b>娜", unit="执法")],
        targets=[Target(id="T1", name="<script>alert(1)</script>古建筑", district="历下区", unit="所",
                        risk=Risk.HIGH)],
        history=[], period=Period.parse("2026-H2"), count=1, seed='"><img src=x>',
    )
    page = draw_html(result)
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;古建筑" in page
    assert "<img" not in page and "李&lt;b&gt;娜" in page
    assert result.fingerprint in page and "2026-H2" in page and "如何核验" in page and "必查" in page
    assert "http" not in page.lower() and "<link" not in page


def test_cli_run_then_verify(tmp_path: Path) -> None:
    runner = CliRunner()
    csv_path, html_path = tmp_path / "抽查结果.csv", tmp_path / "抽查结果.html"
    common = ["--input", str(EXAMPLE), "--period", "2026-Q3", "--count", "4", "--seed", SEED]
    ran = runner.invoke(app, ["draw", "run", *common, "--csv", str(csv_path), "--html", str(html_path)])
    assert ran.exit_code == 0, ran.output
    assert "[必查] SZ-001 西关关帝庙" in ran.output and "HY-001 商埠会馆旧址" in ran.output
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf") and "西关关帝庙" in html_path.read_text("utf-8")

    ok = runner.invoke(app, ["draw", "verify", *common, "--csv", str(csv_path)])
    assert ok.exit_code == 0, ok.output
    assert "matches" in ok.output

    wrong_seed = runner.invoke(app, ["draw", "verify", *common[:-1], "another seed", "--csv", str(csv_path)])
    assert wrong_seed.exit_code == 1 and "the seeds differ" in wrong_seed.output

    tampered = tmp_path / "tampered.csv"
    tampered.write_text(csv_path.read_text("utf-8").replace("西关关帝庙", "别的庙"), encoding="utf-8")
    bad = runner.invoke(app, ["draw", "verify", *common, "--csv", str(tampered)])
    assert bad.exit_code == 1 and "DOES NOT MATCH" in bad.output and "row 1" in bad.output


def test_cli_input_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_period = runner.invoke(app, ["draw", "run", "--input", str(EXAMPLE), "--period", "2026-13", "--count", "1",
                                     "--seed", "s"])
    assert bad_period.exit_code == 2 and "--period" in bad_period.output
    path = write(tmp_path, SMALL + '\n[[target]]\nid = "T1"\n')
    bad_file = runner.invoke(app, ["draw", "run", "--input", str(path), "--period", "2026-12", "--count", "1",
                                   "--seed", "s"])
    assert bad_file.exit_code == 2 and f"{path}:19: [[target]] #2 id: 'T1' is already" in bad_file.output
    missing = runner.invoke(app, ["draw", "verify", "--input", str(EXAMPLE), "--period", "2026-12", "--count", "1",
                                  "--seed", "s", "--csv", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
