"""The report as a document: sections of paragraphs, tables and charts, from the figures. Pure.

One `Document` serves every format: the HTML page and the PDF show its sections in order, the CSV
files and the workbook hold its tables (`Document.exports`), and the charts are drawn from the same
numbers the tables hold (`charts.py`). So a figure cannot read one way in the PDF and another in
the spreadsheet.

Cells keep their type: counts are ints, rates are `Pct`, durations `Minutes`; each renderer
formats them its way (text with a thousands separator on the page, a number with a percent format
in the workbook). The words are the supervisor's (Chinese): the report is a document of the
Chinese administration, signed at its end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from alerts.notification import EVENT_LABELS
from relic_guard.report import words
from relic_guard.report.figures import CATEGORIES, SEVERITIES
from relic_guard.report.model import (
    CASE_LABELS,
    CITY,
    CaseCategory,
    CityReport,
    DistrictReport,
    Durations,
    FlightSiteLine,
    Incident,
    PatrolLine,
    Period,
    RecordLine,
    Summary,
    UptimeLine,
)


@dataclass(frozen=True, slots=True)
class Pct:
    value: float | None


@dataclass(frozen=True, slots=True)
class Minutes:
    seconds: float | None


Cell = str | int | float | Pct | Minutes | None
Rows = tuple[tuple[Cell, ...], ...]


def cell_text(cell: Cell, *, grouped: bool = True) -> str:
    """A cell as text: on the page with thousands separators (`grouped`), in a CSV without."""
    if cell is None:
        return ""
    if isinstance(cell, Pct):
        return words.percent(cell.value)
    if isinstance(cell, Minutes):
        return words.minutes(cell.seconds)
    if isinstance(cell, bool):
        return "是" if cell else "否"
    if isinstance(cell, int):
        return f"{cell:,}" if grouped else str(cell)
    if isinstance(cell, float):
        return f"{cell:,.1f}" if grouped else f"{cell:.1f}"
    return cell


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    key: str  # the CSV file's stem: ASCII, unique in the document
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""
    shown: bool = True  # printed in the HTML/PDF
    export: bool = True  # written as CSV and as a workbook sheet
    empty: str = "无记录。"
    total_row: bool = False  # the last row is a total


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    key: str
    title: str
    kind: Literal["bar", "stacked", "barh", "line"]
    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[float, ...]], ...]
    unit: str = ""
    percent: bool = False


Block = Table | Chart


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    key: str
    title: str
    paragraphs: tuple[str, ...] = ()
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    key: str  # file stem: `2026-历下区`, `2026-全市`
    title: str
    district: str
    year: int
    facts: tuple[tuple[str, str], ...]  # under the title: 统计期间, 生成时间 …
    sections: tuple[Section, ...]
    signatures: tuple[str, ...] = field(default=("督察人员（签字）", "被督察区县负责人（签字）"))

    @property
    def exports(self) -> tuple[Table, ...]:
        return tuple(b for s in self.sections for b in s.blocks if isinstance(b, Table) and b.export)

    @property
    def charts(self) -> Iterator[Chart]:
        return (b for s in self.sections for b in s.blocks if isinstance(b, Chart))


NUMBERS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四")


def _numbered(sections: Sequence[Section]) -> tuple[Section, ...]:
    return tuple(Section(key=s.key, title=f"{NUMBERS[i]}、{s.title}", paragraphs=s.paragraphs, blocks=s.blocks)
                 for i, s in enumerate(sections))


def _facts(p: Period, district: str) -> tuple[tuple[str, str], ...]:
    span = f"{p.first_day.isoformat()} 至 {p.last_day.isoformat()}（北京时间）"
    if not p.complete:
        span += f"；{p.year} 年尚未结束，统计至报告生成前一日"
    return (
        ("区县", district),
        ("统计期间", span),
        ("报告生成时间", words.when(p.generated_at)),
        ("说明", "告警、隐患和检查的处理状态以报告生成时为准；设备在线率按日汇总计算。"),
    )


# --- a district --------------------------------------------------------------------------------


def district_document(report: DistrictReport) -> Document:
    p = report.period
    sections = [
        _summary_section(report.summary, report.district),
        _sites_section(report),
        _cases_section(report),
        _alerts_section(report),
        _response_section(report),
        _false_alarm_section(report),
        _uptime_section(report),
        _patrol_section(report),
        _inspection_section(report),
        _draw_section(report),
        _hazard_section(report),
        _drone_section(report),
        _incident_section(report.incidents),
    ]
    return Document(
        key=f"{p.year}-{report.district}", title=f"{report.district}{p.year}年度文物安全督察报告",
        district=report.district, year=p.year, facts=_facts(p, report.district), sections=_numbered(sections),
    )


def _summary_rows(s: Summary) -> tuple[tuple[Cell, ...], ...]:
    return (
        ("文物点", s.sites, "处"),
        ("登记设备", s.devices, "台"),
        ("告警", s.alerts, "起（不含演练）"),
        ("其中紧急告警", s.critical_alerts, "起"),
        ("案件与事故", s.cases, "起（按国家文物局统计口径定性）"),
        ("误报率", Pct(s.false_alarm_rate), "设备报警中判定为误报的比例"),
        ("响应时间中位数", Minutes(s.median_ack_s), "分钟（从告警到有人响应）"),
        ("设备在线率", Pct(s.device_online_rate), "按在线时长计"),
        ("巡查完成率", Pct(s.patrol_rate), "完整巡查的轮次 / 应巡轮次"),
        ("检查完成", f"{s.inspections_done} / {s.inspections_planned}", "已完成 / 计划（不含已取消）"),
        ("发现隐患", s.hazards_found, "处"),
        ("隐患按期整改率", Pct(s.hazards_on_time_rate), "按期整改 / 已到期或已整改"),
        ("逾期未整改隐患", s.hazards_open_overdue, "处"),
        ("无人机巡查", s.drone_flights, "架次"),
    )


def _summary_section(s: Summary, district: str) -> Section:
    parts = [f"本期{district}共有文物点 {s.sites} 处，登记监测设备 {s.devices} 台；发生告警 {s.alerts} 起，"
             f"其中紧急告警 {s.critical_alerts} 起，经处置定性为案件或事故的 {s.cases} 起。"]
    if s.cases == 0:
        parts.append("本期未发生经定性的文物案件或安全事故。")
    return Section(key="summary", title="总体情况", paragraphs=tuple(parts), blocks=(
        Table(key="summary", title="主要指标", columns=("指标", "数值", "说明"), rows=_summary_rows(s)),
    ))


def _sites_section(r: DistrictReport) -> Section:
    f = r.sites
    matrix_rows: list[tuple[Cell, ...]] = []
    for level in f.levels:
        counts = [f.count(level, kind) for kind in f.kinds]
        matrix_rows.append((level, *counts, sum(counts)))
    column_totals = [sum(f.count(level, kind) for level in f.levels) for kind in f.kinds]
    matrix_rows.append(("合计", *column_totals, sum(column_totals)))
    lines = tuple((line.site.name, line.site.id, line.site.level, line.site.kind, "、".join(line.site.custodians),
                   line.devices) for line in f.lines)
    return Section(key="sites", title="文物点", blocks=(
        Table(key="sites_by_level_kind", title="文物点按保护级别和类别", columns=("保护级别", *f.kinds, "合计"),
              rows=tuple(matrix_rows), total_row=True),
        Table(key="sites", title="文物点名录", columns=("名称", "编号", "保护级别", "类别", "文物保护员", "设备数"),
              rows=lines),
    ))


def _cases_section(r: DistrictReport) -> Section:
    c = r.cases
    counts = tuple((CASE_LABELS[category], c.by_category[category]) for category in CaseCategory)
    blocks: list[Block] = [
        Table(key="cases_by_category", title="案件与事故分类统计", columns=("类别", "起数"),
              rows=(*counts, ("合计", c.total)), total_row=True),
    ]
    if c.total:
        blocks.append(Chart(key="cases", title="案件与事故分类", kind="bar",
                            labels=tuple(CASE_LABELS[k] for k in CaseCategory),
                            series=(("起数", tuple(float(c.by_category[k]) for k in CaseCategory)),), unit="起"))
    blocks.append(Table(
        key="cases", title="案件与事故明细", columns=("发生时间", "文物点", "类别", "告警", "定性人", "处置说明"),
        rows=tuple((words.when(case.alert.opened_at), case.site_name, CASE_LABELS[case.category], case.alert.title,
                    words.actor(case.alert.resolved_by or ""), case.alert.note or "") for case in c.cases),
        empty="本期无案件或事故。"))
    return Section(key="cases", title="案件与事故", paragraphs=(
        "按国家文物局统计口径，由值班人员在解除告警时定性。行政违法案件不经告警系统处置，不在本表统计之内。",
    ), blocks=tuple(blocks))


def _alerts_section(r: DistrictReport) -> Section:
    a = r.alerts
    by_cat: Rows = tuple((words.category(c), *(a.by_category_severity.get((c, s), 0) for s in SEVERITIES),
                          a.category_total(c)) for c in a.categories)
    totals = tuple(sum(a.by_category_severity.get((c, s), 0) for c in a.categories) for s in SEVERITIES)
    months = r.period.months
    by_month: Rows = tuple((words.MONTHS[m - 1], *(a.by_month_category.get((m, c), 0) for c in a.categories),
                            a.month_total(m)) for m in months)
    month_totals = tuple(sum(a.by_month_category.get((m, c), 0) for m in months) for c in a.categories)
    status_rows = tuple((words.status(s), a.by_status.get(s, 0)) for s in ("open", "acknowledged", "resolved",
                                                                         "false_alarm"))
    blocks: list[Block] = [
        Table(key="alerts_by_category", title="告警按类别和级别",
              columns=("类别", *(words.severity(s) for s in SEVERITIES), "合计"),
              rows=(*by_cat, ("合计", *totals, a.total)), total_row=True),
        Table(key="alerts_by_month", title="告警按月份和类别",
              columns=("月份", *(words.category(c) for c in a.categories), "合计"),
              rows=(*by_month, ("合计", *month_totals, a.total)), total_row=True),
    ]
    if a.total:
        blocks.append(Chart(key="alerts_by_month", title="各月告警（按类别）", kind="stacked",
                            labels=tuple(words.MONTHS[m - 1] for m in months),
                            series=tuple((words.category(c), tuple(float(a.by_month_category.get((m, c), 0))
                                                                   for m in months)) for c in a.categories),
                            unit="起"))
    blocks.append(Table(key="alerts_by_status", title="告警处理状态（报告生成时）", columns=("状态", "起数"),
                        rows=status_rows))
    return Section(key="alerts", title="告警统计", paragraphs=(
        f"本期告警 {a.total} 起（另有演练和测试 {a.drills} 起，不计入各项统计）。",
    ), blocks=tuple(blocks))


def _duration_cells(d: Durations) -> tuple[Cell, ...]:
    return (d.count, Minutes(d.median_s), Minutes(d.p90_s))


def _response_section(r: DistrictReport) -> Section:
    rows = tuple((words.severity(line.severity), *_duration_cells(line.acknowledge), *_duration_cells(line.close))
                 for line in r.response.lines)
    return Section(key="response", title="响应与处置时效", paragraphs=(
        "响应时间自告警产生至首次有人响应；处置时间自告警产生至人员解除。中位数和第90百分位数按线性插值计算"
        "（与 Excel PERCENTILE.INC 一致），单位为分钟。",
        f"报警条件自行消失、由系统自动解除的告警 {r.response.closed_by_engine} 起，不计入处置时间；"
        f"报告生成时仍未解除的告警 {r.response.still_open} 起。",
    ), blocks=(
        Table(key="response_times", title="响应与处置时间（分钟）",
              columns=("级别", "已响应", "响应中位数", "响应P90", "人员解除", "处置中位数", "处置P90"),
              rows=rows, total_row=True),
    ))


def _false_alarm_section(r: DistrictReport) -> Section:
    lines = r.false_alarms
    blocks: list[Block] = [Table(
        key="false_alarms", title="误报率（按设备类型）", columns=("设备类型", "已关闭告警", "误报", "误报率"),
        rows=tuple((words.device_kind(line.device_kind), line.closed, line.false_alarms, Pct(line.rate))
                   for line in lines), total_row=True)]
    kinds = [line for line in lines[:-1] if line.rate is not None]
    if kinds:
        blocks.append(Chart(key="false_alarms", title="各类设备误报率", kind="barh",
                            labels=tuple(words.device_kind(line.device_kind) for line in kinds),
                            series=(("误报率", tuple(line.rate or 0.0 for line in kinds)),), percent=True))
    return Section(key="false_alarms", title="误报情况", paragraphs=(
        "统计设备自身信号引发的告警（火警、安防、视频、无人机、环境），按告警设备的类型分列。",
    ), blocks=tuple(blocks))


def _uptime_cells(line: UptimeLine) -> tuple[Cell, ...]:
    return (round(line.observed_s / 3600, 1), round(line.offline_s / 3600, 1), Pct(line.rate))


def _uptime_section(r: DistrictReport) -> Section:
    u = r.uptime
    blocks: list[Block] = [
        Table(key="device_online_by_kind", title="设备在线率（按设备类型）",
              columns=("设备类型", "设备数", "统计时长（小时）", "离线时长（小时）", "在线率"),
              rows=(*((words.device_kind(line.label), line.devices, *_uptime_cells(line)) for line in u.by_kind),
                    ("合计", u.overall.devices, *_uptime_cells(u.overall))), total_row=True),
        Table(key="device_online_by_site", title="设备在线率（按文物点）",
              columns=("文物点", "设备数", "统计时长（小时）", "离线时长（小时）", "在线率"),
              rows=tuple((line.label, line.devices, *_uptime_cells(line)) for line in u.by_site)),
        Table(key="device_online_by_month", title="设备在线率（按月）",
              columns=("月份", "统计时长（小时）", "离线时长（小时）", "在线率"),
              rows=tuple((line.label, *_uptime_cells(line)) for line in u.by_month)),
    ]
    if any(line.rate is not None for line in u.by_month):
        blocks.append(Chart(key="device_online_by_month", title="各月设备在线率", kind="line",
                            labels=tuple(line.label for line in u.by_month),
                            series=(("在线率", tuple(line.rate if line.rate is not None else float("nan")
                                                    for line in u.by_month)),), percent=True))
    blocks.append(Table(
        key="device_online_lowest", title="在线率最低的设备",
        columns=("文物点", "设备", "类型", "离线时长（小时）", "在线率"),
        rows=tuple((d.site_name, d.device.device_id, words.device_kind(d.device.kind or d.device.source),
                    round(d.offline_s / 3600, 1), Pct(d.rate)) for d in u.lowest),
        empty="本期没有离线记录。"))
    blocks.append(Table(
        key="device_silent", title="本期无任何数据的设备（应定时上报的设备）", columns=("文物点", "设备", "类型"),
        rows=tuple((d.site_name, d.device.device_id, words.device_kind(d.device.kind or d.device.source))
                   for d in u.silent), empty="无。"))
    return Section(key="devices", title="设备在线情况", paragraphs=(
        f"设备上报的 {u.records:,} 条数据和状态记录按日汇总。设备发出离线状态后、或超过心跳周期未上报时计为离线，"
        "再次上报即恢复在线；设备首次上报之前的时间不计入统计时长。",
        f"另有 {u.quiet_without_heartbeat} 台未设心跳周期的设备（如只在报警时上报的火灾探测器）本期没有上报，"
        "不计入在线率。" if u.quiet_without_heartbeat else "",
    ), blocks=tuple(blocks))


def _patrol_cells(line: PatrolLine) -> tuple[Cell, ...]:
    return (line.due, line.on_time, line.late, line.partial, line.missed, line.pending, Pct(line.rate))


def _patrol_section(r: DistrictReport) -> Section:
    p = r.patrols
    blocks: list[Block] = [
        Table(key="patrols_by_site", title="巡查完成情况（按文物点）", columns=("文物点", *words.PATROL_COLUMNS),
              rows=(*((line.label, *_patrol_cells(line)) for line in p.by_site), ("合计", *_patrol_cells(p.total))),
              total_row=True, empty="本期没有计划巡查。"),
        Table(key="patrols_by_custodian", title="巡查完成情况（按文物保护员）",
              columns=("文物保护员", "负责文物点", *words.PATROL_COLUMNS),
              rows=tuple((line.label, "、".join(line.site_names), *_patrol_cells(line)) for line in p.by_custodian),
              empty="本期没有计划巡查。"),
    ]
    if p.by_site:
        blocks.insert(1, Chart(key="patrols_by_site", title="各文物点巡查完成情况", kind="barh",
                               labels=tuple(line.label for line in p.by_site),
                               series=(("完成", tuple(float(line.done) for line in p.by_site)),
                                       ("应巡", tuple(float(line.due) for line in p.by_site))), unit="轮次"))
    return Section(key="patrols", title="巡查", paragraphs=(
        "应巡为巡查窗口在统计期内结束的轮次；路线撤销的轮次既不计应巡也不计完成。一条路线由多名文物保护员负责时，"
        "其轮次计入每一位负责人。",
    ), blocks=tuple(blocks))


def _inspection_section(r: DistrictReport) -> Section:
    f = r.inspections
    rows: Rows = tuple((words.INSPECTION_KINDS.get(line.kind, line.kind), line.planned, line.done, Pct(line.rate),
                        line.overdue, line.open_in_time, line.cancelled,
                        *(line.ratings.get(rating, 0) for rating in ("good", "fair", "poor"))) for line in f.lines)
    items: Rows = tuple((words.INSPECTION_KINDS.get(i.inspection.kind, i.inspection.kind), i.subject,
                         words.day(i.inspection.due_on),
                         words.INSPECTION_STATUSES.get(i.inspection.status, i.inspection.status)
                         + ("（逾期）" if i.overdue else ""),
                         words.day(i.inspection.done_on), words.RATINGS.get(i.inspection.rating or "", ""),
                         i.inspection.findings, "、".join(i.inspection.assignees), i.inspection.id) for i in f.items)
    return Section(key="inspections", title="检查与评估", blocks=(
        Table(key="inspections_by_kind", title="检查完成情况",
              columns=("检查类型", "计划", "已完成", "完成率", "逾期未完成", "未到期", "已取消", "优", "中", "差"),
              rows=rows),
        Table(key="inspections", title="检查明细",
              columns=("类型", "对象", "截止日期", "状态", "完成日期", "评价", "发现问题", "检查人员", "编号"),
              rows=items, empty="本年度没有检查计划。"),
    ))


def _draw_section(r: DistrictReport) -> Section:
    rows: list[tuple[Cell, ...]] = []
    for figures in r.draws:
        d = figures.draw
        for t in figures.targets:
            rows.append((d.period, d.id, d.seed, d.fingerprint[:12], t.target.target_name,
                         "必查" if t.target.mandatory else "随机抽取", "、".join(t.target.inspectors),
                         words.INSPECTION_STATUSES.get(t.inspection_status or "", "未建检查"),
                         words.RATINGS.get(t.rating or "", ""), t.findings))
    drawn = sum(len(f.targets) for f in r.draws)
    done = sum(f.done for f in r.draws)
    return Section(key="draws", title="“双随机”抽查", paragraphs=(
        f"本年度抽取涉及本区县的检查对象 {drawn} 家次，已完成检查 {done} 家次。每次抽取由公开的随机种子和输入数据决定，"
        "可据种子和输入指纹复核。",
    ), blocks=(
        Table(key="draws", title="抽查结果",
              columns=("抽查期间", "抽取编号", "随机种子", "输入指纹", "检查对象", "方式", "检查人员", "检查状态",
                       "评价", "发现问题"),
              rows=tuple(rows), empty="本年度没有涉及本区县的抽查。"),
    ))


def _hazard_section(r: DistrictReport) -> Section:
    h = r.hazards
    rows = tuple((words.HAZARD_SEVERITIES.get(line.label, line.label), line.found, line.closed_on_time,
                  line.closed_late, line.open_overdue, line.open_in_time, line.cancelled, Pct(line.on_time_rate))
                 for line in h.lines)
    blocks: list[Block] = [
        Table(key="hazards", title="隐患整改情况",
              columns=("隐患级别", "发现", "按期整改", "逾期整改", "逾期未改", "整改期内", "已撤销", "按期整改率"),
              rows=rows, total_row=True),
    ]
    if h.total.found:
        lines = h.lines[:-1]
        blocks.append(Chart(key="hazards", title="隐患整改情况", kind="stacked",
                            labels=tuple(words.HAZARD_SEVERITIES.get(line.label, line.label) for line in lines),
                            series=(("按期整改", tuple(float(x.closed_on_time) for x in lines)),
                                    ("逾期整改", tuple(float(x.closed_late) for x in lines)),
                                    ("逾期未改", tuple(float(x.open_overdue) for x in lines)),
                                    ("整改期内", tuple(float(x.open_in_time) for x in lines))), unit="处"))
    blocks.append(Table(key="hazards_by_source", title="隐患来源", columns=("来源", "处"),
                        rows=tuple((words.HAZARD_SOURCES.get(k, k), h.by_source.get(k, 0))
                                   for k in ("patrol", "inspection", "alert", "report"))))
    blocks.append(Table(
        key="hazards_overdue", title="逾期隐患", columns=("文物点", "隐患", "级别", "发现日期", "整改期限", "状态",
                                                        "逾期天数"),
        rows=tuple((i.site_name, i.hazard.title, words.HAZARD_SEVERITIES.get(i.hazard.severity, i.hazard.severity),
                    words.when(i.hazard.found_at)[:10],
                    words.day(i.hazard.deadline), words.HAZARD_STATUSES.get(i.hazard.status, i.hazard.status),
                    i.days_overdue) for i in h.overdue),
        empty="本期没有逾期隐患。"))
    return Section(key="hazards", title="隐患排查整改", paragraphs=(
        f"统计本期发现的隐患；整改期限按工作日计算。此前发现、报告生成时仍未整改的隐患另有 {h.open_before} 处。",
    ), blocks=tuple(blocks))


def _drone_section(r: DistrictReport) -> Section:
    d = r.drones
    if not d.recorded or d.total.flights == 0:
        return Section(key="drones", title="无人机巡查", paragraphs=("本期无飞行记录（no flights recorded）。",))

    def cells(line: FlightSiteLine) -> tuple[Cell, ...]:
        lost = line.end_reasons.get("link_timeout", 0) + line.end_reasons.get("landed_unseen", 0)
        return (line.flights, line.patrol_flights, round(line.hours, 1), round(line.km, 1),
                Pct(line.mean_coverage), Pct(line.best_coverage), round(line.covered_ha, 1), lost)

    months = r.period.months
    return Section(key="drones", title="无人机巡查", paragraphs=(
        "覆盖率为单次飞行相机所见地面占文物点范围的比例；累计覆盖面积为各架次所见面积之和（重复飞过的地面重复计算）。"
        "失联架次为飞行中失去联系、未见正常降落的架次。",
    ), blocks=(
        Table(key="drone_flights", title="无人机飞行与覆盖",
              columns=("文物点", "架次", "计为巡查", "飞行时长（小时）", "航程（公里）", "平均覆盖率", "最高覆盖率",
                       "累计覆盖面积（公顷）", "失联架次"),
              rows=(*((line.site_name, *cells(line)) for line in d.by_site), ("合计", *cells(d.total))),
              total_row=True),
        Chart(key="drone_flights_by_month", title="各月飞行架次", kind="bar",
              labels=tuple(words.MONTHS[m - 1] for m in months),
              series=(("架次", tuple(float(d.by_month.get(m, 0)) for m in months)),), unit="架次"),
    ))


def record_detail(line: RecordLine) -> str:
    """What a record line says, in words (the raw detail stays in the audit trail)."""
    detail: Mapping[str, object] = line.detail

    def text(key: str) -> str:
        value = detail.get(key)
        return "" if value is None else str(value)

    kind = line.kind
    if kind == "opened":
        return text("title")
    if kind == "repeat":
        return f"第 {text('count')} 次"
    if kind == "escalated":
        added = detail.get("added")
        return "通知" + "、".join(words.AUDIENCES.get(str(a), str(a)) for a in (added if isinstance(added, list)
                                                                               else []))
    if kind == "assigned":
        return f"指派给 {text('to')}"
    if kind == "note":
        return text("text")
    if kind == "severity":
        return words.severity(text("severity"))
    if kind in ("resolved", "false_alarm"):
        return " · ".join(w for w in (words.classification(text("classification") or None), text("note")) if w)
    if kind in ("delivery.delivered", "delivery.failed"):
        event = EVENT_LABELS.get(text("event"), text("event"))
        tries = f"，尝试 {text('attempts')} 次" if text("attempts") not in ("", "1") else ""
        fallback = "（备用渠道）" if detail.get("fallback") is True else ""
        return f"{event} → {text('recipient')}（{text('channel')}{fallback}）{tries}"
    if kind in ("drill", "repair"):
        return text("reason")
    return ""


def _incident_title(number: int, incident: Incident) -> str:
    a = incident.alert
    case = f"（{CASE_LABELS[incident.case]}）" if incident.case is not None else ""
    return (f"{number}. 【{words.severity(a.severity)}】{a.title}{case} — {incident.site_name}，"
            f"{words.when(a.opened_at)}")


def _incident_section(incidents: Sequence[Incident]) -> Section:
    blocks: list[Block] = []
    combined: list[tuple[Cell, ...]] = []
    for number, incident in enumerate(incidents, start=1):
        a = incident.alert
        rows = tuple((words.when_s(line.at), words.TIMELINE_KINDS.get(line.kind, line.kind), words.actor(line.actor),
                      record_detail(line), line.audit_seq) for line in incident.lines)
        blocks.append(Table(key=f"incident_{number}", title=_incident_title(number, incident),
                            columns=("时间", "事件", "操作人", "详情", "审计序号"), rows=rows, export=False,
                            empty="数据库中没有这起告警的处置记录。"))
        combined.extend((a.id, incident.site_name, a.title, words.severity(a.severity),
                         words.classification(a.classification), *row) for row in rows)
    blocks.append(Table(key="incidents", title="重大事件处置记录",
                        columns=("告警编号", "文物点", "告警", "级别", "定性", "时间", "事件", "操作人", "详情",
                                 "审计序号"),
                        rows=tuple(combined), shown=False))
    return Section(key="incidents", title="重大事件处置记录", paragraphs=(
        ("紧急告警和经定性的案件、事故逐一列出处置全过程：告警、响应、指派、通知送达和解除，"
         "以审计日志（哈希链）为凭，审计序号可用 relic-guard audit verify 核验。") if incidents
        else "本期没有紧急告警，也没有经定性的案件或事故。",
    ), blocks=tuple(blocks))


# --- the city ------------------------------------------------------------------------------------


def city_document(city: CityReport) -> Document:
    p = city.period
    reports = city.districts
    headline = tuple(
        (r.district, r.summary.sites, r.summary.devices, r.summary.alerts, r.summary.critical_alerts, r.summary.cases,
         Pct(r.summary.false_alarm_rate), Minutes(r.summary.median_ack_s), Pct(r.summary.device_online_rate),
         Pct(r.summary.patrol_rate), f"{r.summary.inspections_done} / {r.summary.inspections_planned}",
         r.summary.hazards_found, Pct(r.summary.hazards_on_time_rate), r.summary.hazards_open_overdue,
         r.summary.drone_flights) for r in reports)
    t = city.total
    total_row = (CITY, t.sites, t.devices, t.alerts, t.critical_alerts, t.cases, Pct(t.false_alarm_rate),
                 Minutes(t.median_ack_s), Pct(t.device_online_rate), Pct(t.patrol_rate),
                 f"{t.inspections_done} / {t.inspections_planned}", t.hazards_found, Pct(t.hazards_on_time_rate),
                 t.hazards_open_overdue, t.drone_flights)
    cases: Rows = tuple((r.district, *(city.cases_by_district[r.district][k] for k in CaseCategory),
                         r.summary.cases) for r in reports)
    case_totals = tuple(sum(city.cases_by_district[r.district][k] for r in reports) for k in CaseCategory)
    names = tuple(r.district for r in reports)
    categories = [c for c in CATEGORIES if any(r.alerts.category_total(c) for r in reports)]
    sections = [
        Section(key="summary", title="全市总体情况", paragraphs=(
            f"全市 {len(reports)} 个区县共有文物点 {t.sites} 处、监测设备 {t.devices} 台；本期告警 {t.alerts} 起，"
            f"案件与事故 {t.cases} 起。各区县的详细情况见各区县报告。",
        ), blocks=(Table(key="summary", title="全市主要指标", columns=("指标", "数值", "说明"),
                         rows=_summary_rows(t), note="响应时间中位数为各区县中位数按响应告警数加权的近似值。"),)),
        Section(key="districts", title="各区县对比", blocks=(
            Table(key="districts", title="各区县主要指标",
                  columns=("区县", "文物点", "设备", "告警", "紧急告警", "案件与事故", "误报率", "响应中位数（分钟）",
                           "设备在线率", "巡查完成率", "检查完成", "发现隐患", "按期整改率", "逾期未改", "无人机架次"),
                  rows=(*headline, total_row), total_row=True),
            *((Chart(key="alerts_by_district", title="各区县告警（按类别）", kind="stacked", labels=names,
                     series=tuple((words.category(c), tuple(float(r.alerts.category_total(c)) for r in reports))
                                  for c in categories), unit="起"),) if names and t.alerts else ()),
            *((Chart(key="rates_by_district", title="各区县设备在线率与巡查完成率", kind="bar", labels=names,
                     series=(("设备在线率", tuple(r.summary.device_online_rate or 0.0 for r in reports)),
                             ("巡查完成率", tuple(r.summary.patrol_rate or 0.0 for r in reports))),
                     percent=True),) if names else ()),
        )),
        Section(key="cases", title="案件与事故", blocks=(
            Table(key="cases_by_district", title="各区县案件与事故",
                  columns=("区县", *(CASE_LABELS[k] for k in CaseCategory), "合计"),
                  rows=(*cases, (CITY, *case_totals, t.cases)), total_row=True),
        )),
    ]
    return Document(key=f"{p.year}-{CITY}", title=f"{p.year}年度文物安全督察全市汇总报告", district=CITY, year=p.year,
                    facts=_facts(p, CITY)[1:], sections=_numbered(sections),
                    signatures=("督察人员（签字）", "审核人（签字）"))
