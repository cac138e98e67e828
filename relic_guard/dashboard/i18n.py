"""Words on the pages in Chinese (zh-CN, the default) and English.

Each page module registers its own words once at import (`register`); templates call `t(key)`.
A key missing from a language falls back to Chinese, then to the key itself, so a forgotten
translation shows something readable rather than failing the page. Times are shown in the
site's time zone (Asia/Shanghai for every site today: `alerts.rules.common.SHANGHAI`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from alerts.notification import CATEGORY_LABELS, EVENT_LABELS, SEVERITY_LABELS, STATUS_LABELS
from alerts.rules.common import SHANGHAI

LANGS: Final = ("zh-CN", "en")
DEFAULT_LANG: Final = "zh-CN"

_TEXT: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}


def register(words: Mapping[str, tuple[str, str]]) -> None:
    """Add words: key → (zh-CN, en). A key registered twice must say the same thing."""
    for key, (zh, en) in words.items():
        if _TEXT["zh-CN"].get(key, zh) != zh:
            raise ValueError(f"i18n key {key!r} registered twice with different words")
        _TEXT["zh-CN"][key] = zh
        _TEXT["en"][key] = en


def t(key: str, lang: str = DEFAULT_LANG) -> str:
    return _TEXT.get(lang, {}).get(key) or _TEXT[DEFAULT_LANG].get(key) or key


def pick_lang(cookie: str | None, accept_language: str | None, user_lang: str | None = None) -> str:
    """The page language: the user's choice (cookie), else their account's, else the browser's
    first supported one, else Chinese."""
    for candidate in (cookie, user_lang):
        if candidate in LANGS:
            return candidate
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANG


def local_time(moment: datetime | None, lang: str = DEFAULT_LANG) -> str:
    """`2026-11-27 10:00:05` at the site (Beijing time); empty for None."""
    if moment is None:
        return ""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


register({
    "app.name": ("文物安全监控中心", "Heritage Safety Monitoring Center"),
    "nav.queue": ("告警队列", "Alert queue"),
    "nav.sites": ("文物点", "Sites"),
    "nav.map": ("地图", "Map"),
    "nav.mobile": ("我的文物点", "My sites"),
    "nav.hazards": ("隐患整改", "Hazards"),
    "nav.inspections": ("检查督察", "Inspections"),
    "nav.draws": ("双随机抽查", "Random draws"),
    "nav.reports": ("年度报告", "Annual reports"),
    "nav.logout": ("退出", "Log out"),
    "nav.lang": ("English", "中文"),
    "login.title": ("登录", "Log in"),
    "login.login": ("账号", "Login"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("账号或密码不正确。", "Wrong login or password."),
    "login.throttled": ("尝试次数过多，请 {s} 秒后再试。", "Too many attempts; try again in {s} s."),
    "login.db_down": ("数据库暂时无法访问，暂不能登录；已登录的值班员不受影响。",
                      "The database cannot be reached, so no one can log in right now; "
                      "people already logged in keep working."),
    "error.forbidden": ("无权访问。", "Not allowed."),
    "error.not_found": ("未找到（或不在您负责的文物点）。", "Not found (or not at one of your sites)."),
    "error.csrf": ("页面已过期，请刷新后重试。", "The page has expired; reload it and try again."),
})


# The coded values of alerts, in the words every page uses (Chinese from the channels' own table,
# so a page and a phone notification never disagree).
_SEVERITY_EN: Final = {"critical": "Critical", "major": "Major", "minor": "Minor", "warning": "Warning",
                       "info": "Info"}
_CATEGORY_EN: Final = {"fire": "Fire", "security": "Security", "device": "Device", "environment": "Environment",
                       "video": "Video", "drone": "Drone", "patrol": "Patrol",
                       "hazard": "Hazard", "inspection": "Inspection"}
_STATUS_EN: Final = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved",
                     "false_alarm": "False alarm"}
_EVENT_EN: Final = {"alert.opened": "New alert", "alert.escalated": "Escalated",
                    "alert.reminder": "Reminder (not acknowledged)", "alert.acknowledged": "Acknowledged",
                    "alert.resolved": "Resolved"}

register({f"alert.sev.{key}": (zh, _SEVERITY_EN[key]) for key, zh in SEVERITY_LABELS.items()})
register({f"alert.cat.{key}": (zh, _CATEGORY_EN[key]) for key, zh in CATEGORY_LABELS.items()})
register({f"alert.status.{key}": (zh, _STATUS_EN[key]) for key, zh in STATUS_LABELS.items()})
register({f"alert.event.{key}": (zh, _EVENT_EN[key]) for key, zh in EVENT_LABELS.items()})
