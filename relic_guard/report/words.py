"""The report's words: the coded values of the store in the Chinese a supervisor reads, and the
formats of numbers, durations and times. The alert words come from the channels' own tables, so a
report and a notification never name one thing two ways."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Final

from alerts.notification import CATEGORY_LABELS, SEVERITY_LABELS, STATUS_LABELS
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME
from relic_guard.inspections.annual import KIND_ZH, RATING_ZH, SEVERITY_ZH, STATUS_ZH
from relic_guard.report.model import CLASSIFICATION_LABELS

NONE: Final = "—"

INSPECTION_KINDS: Final[Mapping[str, str]] = {kind.value: words for kind, words in KIND_ZH.items()}
INSPECTION_STATUSES: Final[Mapping[str, str]] = {status.value: words for status, words in STATUS_ZH.items()}
RATINGS: Final[Mapping[str, str]] = {rating.value: words for rating, words in RATING_ZH.items()}
HAZARD_SEVERITIES: Final[Mapping[str, str]] = {
    **{severity.value: words for severity, words in SEVERITY_ZH.items()},
    "合计": "合计",
}
HAZARD_SOURCES: Final[Mapping[str, str]] = {
    "patrol": "巡查发现", "inspection": "检查发现", "alert": "告警引出", "report": "人员报告",
}
HAZARD_STATUSES: Final[Mapping[str, str]] = {
    "open": "待整改", "rectifying": "整改中", "closed": "已整改", "cancelled": "已撤销",
}
TIMELINE_KINDS: Final[Mapping[str, str]] = {
    "opened": "告警产生", "repeat": "重复报警", "confirmed": "火情确认", "severity": "级别提升",
    "evidence": "新增证据", "escalated": "升级通知", "reminder": "未响应提醒", "inhibited": "被全站告警覆盖",
    "uninhibited": "覆盖解除", "cleared": "报警条件消失", "acknowledged": "已响应", "assigned": "已指派",
    "note": "备注", "resolved": "已解除", "false_alarm": "判定误报", "suppressed": "通知暂缓（维护时段）",
    "drill": "演练", "repair": "维修施工", "unrouted": "无人接收",
    "delivery.delivered": "通知送达", "delivery.failed": "通知未送达",
}
AUDIENCES: Final[Mapping[str, str]] = {
    "monitoring_center": "监控中心", "custodians": "文物保护员", "fire_brigade": "消防救援", "police": "公安",
    "culture_bureau": "文物局", "law_enforcement": "文化市场综合执法",
}
DEVICE_KINDS: Final[Mapping[str, str]] = {
    "fire_alarm_panel": "火灾报警控制器", "smoke_detector": "感烟火灾探测器", "heat_detector": "感温火灾探测器",
    "linear_heat_detector": "线型感温火灾探测器", "aspirating_smoke_detector": "吸气式感烟火灾探测器",
    "flame_detector": "火焰探测器", "manual_call_point": "手动火灾报警按钮", "intrusion_panel": "入侵报警控制器",
    "vibration_sensor": "振动探测器", "ipc": "网络摄像机", "ptz": "云台摄像机", "solar_4g_ipc": "太阳能4G摄像机",
    "temp_humidity": "温湿度传感器", "dji_dock_2": "无人机机场", "dji_matrice_3td": "无人机",
    "custodian_app": "巡查终端", "fire": "消防设备", "security": "安防设备", "video": "视频设备",
    "drone": "无人机", "patrol": "巡查终端", "env": "环境监测设备",
}
MONTHS: Final = tuple(f"{m}月" for m in range(1, 13))
PATROL_COLUMNS: Final = ("应巡", "按时完成", "逾时完成", "部分完成", "未巡查", "未评定", "完成率")


def category(code: str) -> str:
    return CATEGORY_LABELS.get(code, code)


def severity(code: str) -> str:
    return SEVERITY_LABELS.get(code, code) if code else "全部"


def status(code: str) -> str:
    return STATUS_LABELS.get(code, code)


def classification(code: str | None) -> str:
    return CLASSIFICATION_LABELS.get(code, code) if code else ""


def device_kind(code: str) -> str:
    return DEVICE_KINDS.get(code, code)


def percent(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.1f}%"


def minutes(seconds: float | None) -> str:
    return NONE if seconds is None else f"{seconds / 60:.1f}"


def number(value: int) -> str:
    return f"{value:,}"


def when(moment: datetime | None) -> str:
    """`2026-03-02 10:00` in China time (the report's wall clock)."""
    return "" if moment is None else moment.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")


def when_s(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M:%S")


def day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def actor(who: str) -> str:
    if who == "relic-guard":
        return "系统"
    return who.removeprefix("user:").removeprefix("cli:")
