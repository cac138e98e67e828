"""Inputs and publication of the 双随机 draw: the pool file in, CSV and an HTML page out.

The input is a TOML file (see `config/inspections.example.toml`):

    [[inspector]]   id, name, unit, districts (optional list; empty: the whole city)
    [[target]]      id, name, district, unit, risk ("high" | "normal"), credit ("good" | "normal" | "blacklisted")
    [[inspected]]   target, on (a TOML date), reinspection (true for a 复查; default false)

`load_draw_input(path)` returns a `DrawInput` or raises one `ConfigError` listing every
problem as `file:line: [[table]] #n key: what is wrong; how to fix it`, like the other loaders.

The CSV is UTF-8 with a BOM (Excel guesses a legacy code page for Chinese without one) and one
row per drawn target; every row repeats the period, seed and fingerprint so a single row cut
from the sheet still says where it came from. `compare_published_csv` is what `draw verify`
uses. The HTML page is self-contained (no scripts, no external files) for posting as it is.
"""

from __future__ import annotations

import csv
import difflib
import html
import io
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from relic_guard.errors import ConfigError
from relic_guard.inspections.draw import (
    ALGORITHM,
    CREDIT_WEIGHTS,
    Credit,
    Draw,
    Inspector,
    PastInspection,
    Risk,
    SkipReason,
    Target,
)
from relic_guard.routing_load import _scan, _syntax_problem, read_config_text

_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "inspector": ("id", "name", "unit", "districts"),
    "target": ("id", "name", "district", "unit", "risk", "credit"),
    "inspected": ("target", "on", "reinspection"),
}

RISK_ZH: Final = {Risk.HIGH: "高风险", Risk.NORMAL: "一般"}
CREDIT_ZH: Final = {Credit.GOOD: "良好", Credit.NORMAL: "一般", Credit.BLACKLISTED: "黑名单"}
SKIP_ZH: Final = {
    SkipReason.YEARLY_LIMIT: "本年度已检查两次（不含复查），不再抽取",
    SkipReason.NO_INSPECTOR: "无足够无利害关系的检查人员",
}
CSV_HEADER: Final = (
    "序号", "期间", "对象编号", "对象名称", "区县", "管理单位", "风险等级", "消防信用", "抽取方式",
    "检查人员编号", "检查人员", "随机种子", "输入指纹",
)  # fmt: skip
_FINGERPRINT_COLUMN: Final = CSV_HEADER.index("输入指纹")
_SEED_COLUMN: Final = CSV_HEADER.index("随机种子")

E = TypeVar("E", Risk, Credit)


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawInput:
    inspectors: tuple[Inspector, ...]
    targets: tuple[Target, ...]
    history: tuple[PastInspection, ...]
    source_file: Path | None = None


class _Problems:
    def __init__(self, path: Path, lines: Mapping[tuple[str | int, ...], int]) -> None:
        self.path = path
        self.lines = lines
        self.found: list[tuple[int, str]] = []

    def add(self, at: tuple[str | int, ...], message: str) -> None:
        line = next((self.lines[at[:n]] for n in range(len(at), 0, -1) if at[:n] in self.lines), 0)
        where = f"{self.path}:{line}" if line else str(self.path)
        label = f"[[{at[0]}]]" if at else "file"
        if len(at) > 1:
            label += f" #{int(at[1]) + 1}"
        if len(at) > 2:
            label += f" {at[2]}"
        self.found.append((line, f"{where}: {label}: {message}"))

    @property
    def items(self) -> list[str]:
        return [text for _, text in sorted(self.found, key=lambda f: f[0])]


def load_draw_input(path: Path) -> DrawInput:
    """Read and check the pool file; raise ConfigError listing every problem found."""
    text = read_config_text(path, "inspection pool")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([_syntax_problem(path, str(error))]) from None
    problems = _Problems(path, _scan(text))
    for name, value in document.items():
        if name not in _KEYS:
            close = difflib.get_close_matches(name, _KEYS, n=1)
            hint = (
                f"did you mean [[{close[0]}]]?" if close else "the file holds [[inspector]], [[target]], [[inspected]]"
            )
            problems.add((name,), f"unknown table; {hint}")
        elif not isinstance(value, list):
            problems.add((name,), f"must be a list of tables; write [[{name}]] (two brackets) above each entry")

    inspectors = [i for i in (_inspector(e, at, problems) for e, at in _entries(document, "inspector", problems)) if i]
    targets = [t for t in (_target(e, at, problems) for e, at in _entries(document, "target", problems)) if t]
    _no_repeats(document, "inspector", problems)
    _no_repeats(document, "target", problems)
    known = {t.id for t in targets}
    history = [h for h in (_inspected(e, at, problems, known) for e, at in _entries(document, "inspected", problems))
               if h]
    if not problems.found and not inspectors:
        problems.add(("inspector",), "no inspectors; add at least one [[inspector]] table")
    if not problems.found and not targets:
        problems.add(("target",), "no targets; add at least one [[target]] table")
    if problems.found:
        raise ConfigError(problems.items)
    return DrawInput(inspectors=tuple(inspectors), targets=tuple(targets), history=tuple(history), source_file=path)


Entry = tuple[dict[str, Any], tuple[str | int, ...]]


def _entries(document: dict[str, Any], name: str, problems: _Problems) -> list[Entry]:
    value = document.get(name, [])
    if not isinstance(value, list):
        return []
    found: list[Entry] = []
    for index, entry in enumerate(value):
        at = (name, index)
        if not isinstance(entry, dict):
            problems.add(at, f"must be a table; write [[{name}]] and key = value lines below it")
            continue
        for key in entry:
            if key not in _KEYS[name]:
                close = difflib.get_close_matches(key, _KEYS[name], n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"the keys are: {', '.join(_KEYS[name])}"
                problems.add((*at, key), f"unknown key '{key}'; {hint}")
        found.append((entry, at))
    return found


def _no_repeats(document: dict[str, Any], name: str, problems: _Problems) -> None:
    first: dict[str, int] = {}
    for index, entry in enumerate(document.get(name, []) if isinstance(document.get(name), list) else []):
        ident = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(ident, str):
            continue
        ident = ident.strip()
        if ident in first:
            problems.add((name, index, "id"), f"'{ident}' is already the id of [[{name}]] #{first[ident] + 1}; "
                                              "give each entry its own id")
        else:
            first[ident] = index


def _string(entry: Mapping[str, Any], key: str, at: tuple[str | int, ...], problems: _Problems) -> str | None:
    value = entry.get(key)
    if value is None:
        problems.add((*at, key), f'is missing; add {key} = "…"')
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add((*at, key), f'must be a non-empty string in double quotes, like {key} = "…"')
        return None
    return value.strip()


def _choice(
    entry: Mapping[str, Any], key: str, kind: type[E], default: E, at: tuple[str | int, ...], problems: _Problems
) -> E | None:
    value = entry.get(key, default.value)
    names = [member.value for member in kind]
    if isinstance(value, str) and value.strip() in names:
        return kind(value.strip())
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    problems.add((*at, key), f"{shown} is not allowed; use one of {', '.join(repr(n) for n in names)}")
    return None


def _inspector(entry: dict[str, Any], at: tuple[str | int, ...], problems: _Problems) -> Inspector | None:
    ident, name, unit = (_string(entry, key, at, problems) for key in ("id", "name", "unit"))
    districts = entry.get("districts", [])
    if isinstance(districts, str):
        problems.add((*at, "districts"), f'must be a list; write districts = ["{districts}"]')
        return None
    if not isinstance(districts, list) or not all(isinstance(d, str) and d.strip() for d in districts):
        problems.add((*at, "districts"), 'must be a list of district names, like districts = ["历下区"]')
        return None
    if ident is None or name is None or unit is None:
        return None
    return Inspector(id=ident, name=name, unit=unit, districts=tuple(dict.fromkeys(d.strip() for d in districts)))


def _target(entry: dict[str, Any], at: tuple[str | int, ...], problems: _Problems) -> Target | None:
    ident, name, district, unit = (_string(entry, key, at, problems) for key in ("id", "name", "district", "unit"))
    risk = _choice(entry, "risk", Risk, Risk.NORMAL, at, problems)
    credit = _choice(entry, "credit", Credit, Credit.NORMAL, at, problems)
    if ident is None or name is None or district is None or unit is None or risk is None or credit is None:
        return None
    return Target(id=ident, name=name, district=district, unit=unit, risk=risk, credit=credit)


def _inspected(
    entry: dict[str, Any], at: tuple[str | int, ...], problems: _Problems, known: set[str]
) -> PastInspection | None:
    target = _string(entry, "target", at, problems)
    if target is not None and target not in known:
        close = difflib.get_close_matches(target, sorted(known), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "name the id of a [[target]]"
        problems.add((*at, "target"), f"'{target}' is not the id of any [[target]]; {hint}")
        target = None
    on = entry.get("on")
    if on is None:
        problems.add((*at, "on"), "is missing; add the date without quotes, like on = 2026-03-15")
        on = None
    elif isinstance(on, datetime) or not isinstance(on, date):
        shown = on.isoformat() if isinstance(on, datetime) else repr(on)
        problems.add((*at, "on"), f"{shown} is not a date; write it without quotes and without a time, like "
                                  "on = 2026-03-15")
        on = None
    reinspection = entry.get("reinspection", False)
    if not isinstance(reinspection, bool):
        problems.add((*at, "reinspection"), "must be true or false (lower case, no quotes)")
        return None
    if target is None or on is None:
        return None
    return PastInspection(target_id=target, on=on, reinspection=reinspection)


# Publication --------------------------------------------------------------------------------


def _team_text(draw_inspectors: Sequence[Inspector]) -> tuple[str, str]:
    ids = "、".join(i.id for i in draw_inspectors)
    names = "、".join(f"{i.name}（{i.unit}）" for i in draw_inspectors)
    return ids, names


def csv_rows(result: Draw) -> list[list[str]]:
    """The header and one row per drawn target, in draw order."""
    rows = [list(CSV_HEADER)]
    for number, assignment in enumerate(result.assignments, start=1):
        target = assignment.target
        ids, names = _team_text(assignment.inspectors)
        rows.append([
            str(number), result.period.label, target.id, target.name, target.district, target.unit,
            RISK_ZH[target.risk], CREDIT_ZH[target.credit], "必查" if assignment.mandatory else "随机抽取",
            ids, names, result.seed, result.fingerprint,
        ])  # fmt: skip
    return rows


def draw_csv(result: Draw) -> str:
    """The CSV text, BOM first, CRLF line ends (what Excel writes and expects)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(csv_rows(result))
    return "\ufeff" + out.getvalue()


def write_text(path: Path, text: str) -> None:
    # newline="" keeps the CSV's CRLF as written.
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def compare_published_csv(result: Draw, published: str) -> list[str]:
    """Differences between a published CSV and the re-run draw; empty when they match."""
    got = list(csv.reader(io.StringIO(published.removeprefix("\ufeff"))))
    got = [row for row in got if any(cell.strip() for cell in row)]
    want = csv_rows(result)
    if got == want:
        return []
    problems: list[str] = []
    fingerprints = {row[_FINGERPRINT_COLUMN] for row in got[1:] if len(row) > _FINGERPRINT_COLUMN}
    if fingerprints and fingerprints != {result.fingerprint}:
        shown = ", ".join(sorted(fingerprints))
        problems.append(f"the inputs differ: the published fingerprint is {shown}, these inputs give "
                        f"{result.fingerprint}")
    seeds = {row[_SEED_COLUMN] for row in got[1:] if len(row) > _SEED_COLUMN}
    if seeds and seeds != {result.seed}:
        problems.append(f"the seeds differ: published {', '.join(sorted(seeds))!r}, given {result.seed!r}")
    if len(got) != len(want):
        problems.append(f"the published CSV has {len(got) - 1} drawn targets, the re-run draw {len(want) - 1}")
    for number, (published_row, expected_row) in enumerate(zip(got, want, strict=False)):
        if published_row != expected_row:
            what = "header" if number == 0 else f"row {number}"
            problems.append(f"{what}: published {','.join(published_row)!r}, re-run {','.join(expected_row)!r}")
    return problems


_STYLE: Final = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;margin:2em auto;max-width:60em;
padding:0 1em;color:#222;line-height:1.6}
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #999;padding:.3em .5em;text-align:left}
th{background:#eee}code{font-family:monospace;word-break:break-all}dt{font-weight:bold}
"""


def draw_html(result: Draw, *, input_name: str = "inspections.toml") -> str:
    """A self-contained page in Chinese for publishing the draw (一公开): what was drawn and
    how anyone can check it. Every value from the input is escaped."""

    def e(text: object) -> str:
        return html.escape(str(text), quote=True)

    period = result.period
    rows = []
    for number, assignment in enumerate(result.assignments, start=1):
        target = assignment.target
        team = "<br>".join(f"{e(i.name)}（{e(i.unit)}）" for i in assignment.inspectors)
        rows.append(
            f"<tr><td>{number}</td><td>{e(target.name)}<br><small>{e(target.id)}</small></td>"
            f"<td>{e(target.district)}</td><td>{e(target.unit)}</td><td>{e(RISK_ZH[target.risk])}</td>"
            f"<td>{e(CREDIT_ZH[target.credit])}</td><td>{'必查' if assignment.mandatory else '随机抽取'}</td>"
            f"<td>{team}</td></tr>"
        )
    skipped = "".join(
        f"<tr><td>{e(s.target.name)}<br><small>{e(s.target.id)}</small></td><td>{e(SKIP_ZH[s.reason])}</td></tr>"
        for s in result.skipped
    )
    notes = []
    if result.over_count:
        notes.append(f"<p>须抽取的高风险单位比计划数多 {result.over_count} 家，已全部列入。</p>")
    if result.short_by:
        notes.append(f"<p>可抽取对象不足，比计划数少 {result.short_by} 家。</p>")
    weights = "，".join(f"{CREDIT_ZH[c]} ×{w:g}" for c, w in CREDIT_WEIGHTS.items())
    command = (
        f"relic-guard draw verify --input {input_name} --period {period.label} --count {result.count} "
        f"--per-target {result.per_target} --seed '{result.seed}' --csv 抽查结果.csv"
    )
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>“双随机、一公开”抽查结果 {e(period.label)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>“双随机、一公开”消防监督抽查结果</h1>
<dl>
<dt>抽查期间</dt><dd>{e(period.label)}（{e(period.start.isoformat())} 至 {e(period.end.isoformat())}）</dd>
<dt>随机种子</dt><dd><code>{e(result.seed)}</code></dd>
<dt>输入指纹（SHA-256）</dt><dd><code>{e(result.fingerprint)}</code></dd>
<dt>计划抽取数</dt><dd>{result.count} 家，每家 {result.per_target} 名检查人员</dd>
</dl>
{"".join(notes)}
<h2>抽取结果</h2>
<table>
<thead><tr><th>序号</th><th>检查对象</th><th>区县</th><th>管理单位</th><th>风险等级</th><th>消防信用</th>
<th>抽取方式</th><th>检查人员</th></tr></thead>
<tbody>
{"".join(rows) or '<tr><td colspan="8">本期无抽取对象</td></tr>'}
</tbody>
</table>
{f'<h2>未纳入抽取的对象</h2><table><thead><tr><th>对象</th><th>原因</th></tr></thead><tbody>{skipped}</tbody></table>'
 if skipped else ""}
<h2>规则</h2>
<ul>
<li>本半年度内尚未检查的高风险单位必须抽取，计入计划数。</li>
<li>一般风险单位本年度已检查两次（不含复查）的，不再抽取。</li>
<li>其余对象按消防信用加权随机抽取：{e(weights)}。</li>
<li>检查人员随机选派，本单位人员不检查本单位，尽量来自不同单位。</li>
</ul>
<h2>如何核验</h2>
<p>抽取完全由随机种子和公开的输入数据决定（算法 <code>{e(ALGORITHM)}</code>），任何人均可重新计算：</p>
<ol>
<li>取得公开的输入文件，计算其规范化内容的 SHA-256，应与上面的输入指纹一致；</li>
<li>将本页结果另存为 CSV（或下载同时公开的 CSV 文件），运行：<br><code>{e(command)}</code></li>
<li>程序输出“一致”即表示结果未被改动。</li>
</ol>
</body>
</html>
"""
