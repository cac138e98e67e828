"""The alert queue and the alert page: what is burning now, and what was done about it.

    GET  /queue                        the open alerts the user may see, most urgent first
    GET  /alerts/{id}                  one alert: facts, evidence, actions, timeline, deliveries
    POST /alerts/{id}/ack              the actions as plain forms (field `csrf`), each answered
    POST /alerts/{id}/assign   to      with a 303 back to the alert page, or the page again with
    POST /alerts/{id}/note     note    the reason in words (already acknowledged, closed, not
    POST /alerts/{id}/resolve  classification, note, outcome=resolved|false_alarm   allowed)

Both pages are complete without JavaScript (the queue reloads itself every 30 s from a
`<noscript>` refresh); `static/live.js` keeps the queue current over `GET /events` and sounds the
alarm, `static/queue.js` adds keyboard shortcuts and sends the alert page's forms to the API
instead (`/api/alerts/{id}/…`, the same service calls and the same actor).

Who sees what: the queue is for the monitoring center, agencies, supervisors and admins; a
custodian lives on the mobile page (`/m`) and is sent there, but may open the alerts of their own
sites, which the mobile page links to. An alert outside the user's sites is answered 404 in the
same words as an unknown id, after the same database read. Who may act is the API's rule
(`Principal.can_act`): notes need the right to assign, as in the API.

Where an alert comes from: open alerts from the alert service's memory (the engine is the truth
about what is open), closed ones from the database. The journal writes a closed alert some
moments after the close, so the page also remembers the alerts it has seen close (a listener on
the service, the last `RECENT_CLOSED` of them): the page a resolve redirects to must show the
resolved alert, not "not found". The timeline and the deliveries come from the database only;
while it cannot be read the page shows the open (or just closed) alert with a note saying so.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts.errors import IllegalTransition, InvalidResolutionError, UnknownAlertError
from alerts.model import Alert, AlertStatus, Classification, Severity
from alerts.notification import CATEGORY_LABELS, SEVERITY_LABELS, STATUS_LABELS
from relic_guard.alerting.api import History, HistoryUnavailable
from relic_guard.alerting.records import DeliveryRecord, TimelineEntry
from relic_guard.alerting.tokens import Command, Role
from relic_guard.dashboard import i18n
from relic_guard.dashboard.app import DashboardDeps, Templates, check_csrf, home_of, lang_of, make_current_user
from relic_guard.dashboard.people import actor_text
from relic_guard.dashboard.users import WebUser
from relic_guard.store import alerts as alert_store

# How many closed alerts the pages remember until the journal has written them.
RECENT_CLOSED: Final = 500
MAX_NOTE: Final = 2000
MAX_ASSIGNEE: Final = 128
SEVERITIES: Final = tuple(Severity)
# What a resolve may be classified as (a false alarm has its own button).
RESOLVE_CLASSES: Final = tuple(c for c in Classification if c is not Classification.FALSE_ALARM)

i18n.register({
    # The queue
    "queue.title": ("告警队列", "Alert queue"),
    "queue.heading": ("待处理告警", "Open alerts"),
    "queue.total": ("合计", "Total"),
    "queue.empty": ("当前没有待处理的告警。", "No open alerts."),
    "queue.critical_banner": ("有 {n} 条紧急告警尚未响应，请立即处置！",
                              "{n} critical alert(s) not acknowledged: act now!"),
    "queue.col.severity": ("级别", "Severity"),
    "queue.col.category": ("类别", "Category"),
    "queue.col.title": ("告警", "Alert"),
    "queue.col.site": ("文物点", "Site"),
    "queue.col.device": ("设备", "Device"),
    "queue.col.opened": ("发生时间", "Opened"),
    "queue.col.status": ("状态", "Status"),
    "queue.col.count": ("次数", "Count"),
    "queue.col.assigned": ("指派给", "Assigned to"),
    "queue.drill": ("演练", "Drill"),
    "queue.confirmed": ("已确认", "Confirmed"),
    "queue.age.now": ("刚刚", "just now"),
    "queue.age.s": ("{s}秒前", "{s} s ago"),
    "queue.age.m": ("{m}分钟前", "{m} min ago"),
    "queue.age.hm": ("{h}小时{m}分钟前", "{h} h {m} min ago"),
    "queue.age.dh": ("{d}天{h}小时前", "{d} d {h} h ago"),
    "queue.updated": ("更新于 {time}", "Updated {time}"),
    "queue.live": ("实时", "Live"),
    "queue.reconnecting": ("连接中断，正在重连…", "Connection lost, reconnecting…"),
    "queue.alarm_title": ("【紧急告警】", "[CRITICAL]"),
    "queue.sound_on": ("报警声音：开", "Alarm sound: on"),
    "queue.sound_off": ("报警声音：关", "Alarm sound: off"),
    "queue.sound_unlock": ("点击页面任意处以启用报警声音", "Click anywhere on the page to enable the alarm sound"),
    "queue.noscript": ("浏览器脚本未启用：本页每 30 秒自动刷新，没有报警声音。",
                       "Scripts are off: this page reloads every 30 s, without the alarm sound."),
    "queue.shortcuts": ("键盘快捷键", "Keyboard shortcuts"),
    "queue.shortcuts.hint": ("按 ? 查看键盘快捷键", "Press ? for keyboard shortcuts"),
    "queue.shortcuts.move": ("选择下一条 / 上一条", "Select next / previous"),
    "queue.shortcuts.open": ("打开所选告警", "Open the selected alert"),
    "queue.shortcuts.ack": ("确认响应所选告警", "Acknowledge the selected alert"),
    "queue.shortcuts.help": ("显示 / 隐藏本说明", "Show / hide this list"),
    "queue.shortcuts.alert_ack": ("告警页面：确认响应", "Alert page: acknowledge"),
    "queue.ack_done": ("已确认响应：{title}", "Acknowledged: {title}"),
    "queue.ack_failed": ("确认未成功：{error}", "Not acknowledged: {error}"),
    "queue.ack_not_open": ("此告警已响应或已关闭。", "This alert is acknowledged or closed already."),
    # The alert page
    "alert.back": ("返回告警队列", "Back to the queue"),
    "alert.back_mobile": ("返回我的文物点", "Back to my sites"),
    "alert.field.category": ("类别", "Category"),
    "alert.field.site": ("文物点", "Site"),
    "alert.field.zone": ("区域", "Zone"),
    "alert.field.device": ("设备", "Device"),
    "alert.field.devices": ("关联设备", "Other devices"),
    "alert.field.opened": ("发生时间", "Opened"),
    "alert.field.last_seen": ("最近一次", "Last seen"),
    "alert.field.count": ("次数", "Count"),
    "alert.field.confirmed": ("火情确认", "Fire confirmed"),
    "alert.field.acknowledged": ("响应", "Acknowledged"),
    "alert.field.assigned": ("指派给", "Assigned to"),
    "alert.field.resolved": ("关闭", "Closed"),
    "alert.field.classification": ("定性", "Classification"),
    "alert.field.note": ("处置说明", "Note"),
    "alert.field.audiences": ("通知对象", "Notified"),
    "alert.field.cleared": ("条件消失于", "Condition ended"),
    "alert.field.inhibited": ("被全站告警覆盖", "Covered by site-wide alert"),
    "alert.yes": ("是", "yes"),
    "alert.no": ("否", "no"),
    "alert.by_at": ("{who}，{at}", "{who}, {at}"),
    "alert.drill": ("演练：不通知外部单位", "Drill: agencies are not notified"),
    "alert.actions": ("处置", "Actions"),
    "alert.ack": ("确认响应", "Acknowledge"),
    "alert.assign_to": ("指派给（姓名或账号）", "Assign to (name or login)"),
    "alert.assign": ("指派", "Assign"),
    "alert.note": ("备注（已采取的措施、联系了谁）", "Note (what was done, who was called)"),
    "alert.add_note": ("添加备注", "Add note"),
    "alert.resolve_heading": ("解除告警", "Close the alert"),
    "alert.classification": ("定性", "Classification"),
    "alert.choose": ("请选择…", "Choose…"),
    "alert.resolve_note": ("处置说明", "What was found and done"),
    "alert.resolve": ("解除告警", "Resolve"),
    "alert.false_alarm": ("误报", "False alarm"),
    "alert.class.looting": ("盗掘", "Looting"),
    "alert.class.theft": ("盗窃/抢劫", "Theft / robbery"),
    "alert.class.damage": ("损毁", "Damage"),
    "alert.class.fire": ("火灾", "Fire"),
    "alert.class.other_accident": ("其他安全事故", "Other accident"),
    "alert.class.device_fault": ("设备故障", "Device fault"),
    "alert.class.false_alarm": ("误报", "False alarm"),
    "alert.evidence": ("现场证据", "Evidence"),
    "alert.timeline": ("处置记录", "Timeline"),
    "alert.no_timeline": ("暂无记录（刚刚发生的事可能还在写入数据库）。",
                          "Nothing recorded yet (what just happened may still be being written)."),
    "alert.deliveries": ("通知送达", "Notifications"),
    "alert.no_deliveries": ("暂无通知记录。", "No notifications recorded."),
    "alert.col.time": ("时间", "Time"),
    "alert.col.event": ("事件", "Event"),
    "alert.col.recipient": ("接收人", "Recipient"),
    "alert.col.channel": ("渠道", "Channel"),
    "alert.col.result": ("结果", "Result"),
    "alert.col.attempts": ("尝试次数", "Attempts"),
    "alert.col.status": ("回执", "Status"),
    "alert.delivered": ("已送达", "Delivered"),
    "alert.undelivered": ("未送达", "NOT delivered"),
    "alert.fallback": ("备用渠道", "fallback"),
    "alert.history_unavailable": ("数据库暂时无法读取，处置记录和通知记录暂不可见（{reason}）。上方告警状态是实时的。",
                                  "The database cannot be read now, so the timeline and notifications are not shown "
                                  "({reason}). The alert above is current."),
    "alert.closed_unavailable": ("此告警不在处理中，而数据库暂时无法读取，无法显示已关闭的告警（{reason}）。",
                                 "This alert is not open, and closed alerts cannot be read while the database is "
                                 "unavailable ({reason})."),
    "alert.done.ack": ("已确认响应。", "Acknowledged."),
    "alert.done.assign": ("已指派。", "Assigned."),
    "alert.done.note": ("备注已添加。", "Note added."),
    "alert.done.resolve": ("告警已解除。", "The alert is resolved."),
    "alert.done.false_alarm": ("已标记为误报。", "Marked as a false alarm."),
    "alert.error.already_ack": ("此告警已由 {who} 于 {at} 确认响应。", "Acknowledged already by {who} at {at}."),
    "alert.error.closed": ("此告警已关闭，不能再操作。", "This alert is closed; it cannot be changed."),
    "alert.error.not_allowed": ("您的角色不能执行此操作。", "Your role may not do this."),
    "alert.error.need_to": ("请填写指派给谁。", "Say whom to assign it to."),
    "alert.error.need_note": ("请填写备注内容。", "Write the note first."),
    "alert.error.need_class": ("请选择定性（或点击“误报”）。", "Choose a classification (or press “False alarm”)."),
    "alert.error.too_long": ("内容过长：最多 {n} 个字。", "Too long: at most {n} characters."),
    "alert.error.illegal": ("当前状态下不能这样做。", "Not possible in the alert's current state."),
    "alert.error.failed": ("操作未完成：", "Not done: "),
    # Timeline kinds
    "alert.kind.opened": ("告警产生", "Opened"),
    "alert.kind.repeat": ("重复", "Repeated"),
    "alert.kind.confirmed": ("已确认火情", "Fire confirmed"),
    "alert.kind.severity": ("级别提升", "Severity raised"),
    "alert.kind.evidence": ("新增证据", "Evidence added"),
    "alert.kind.escalated": ("已升级", "Escalated"),
    "alert.kind.reminder": ("提醒", "Reminder"),
    "alert.kind.inhibited": ("被全站告警覆盖", "Covered by a site-wide alert"),
    "alert.kind.uninhibited": ("覆盖解除", "No longer covered"),
    "alert.kind.cleared": ("条件消失", "Condition ended"),
    "alert.kind.acknowledged": ("已响应", "Acknowledged"),
    "alert.kind.assigned": ("已指派", "Assigned"),
    "alert.kind.note": ("备注", "Note"),
    "alert.kind.resolved": ("已解除", "Resolved"),
    "alert.kind.false_alarm": ("误报", "False alarm"),
    "alert.kind.suppressed": ("通知暂缓（维护时段）", "Notification held (maintenance window)"),
    "alert.kind.drill": ("演练", "Drill"),
    "alert.kind.repair": ("维修施工", "Repair work"),
    "alert.kind.unrouted": ("无人接收", "No recipient"),
    "alert.detail.count": ("第 {n} 次", "{n} times"),
    "alert.detail.to": ("给 {to}", "to {to}"),
    "alert.detail.until": ("至 {until}", "until {until}"),
    "alert.aud.monitoring_center": ("监控中心", "Monitoring center"),
    "alert.aud.custodians": ("文物保护员", "Custodians"),
    "alert.aud.fire_brigade": ("消防救援", "Fire brigade"),
    "alert.aud.police": ("公安", "Police"),
    "alert.aud.culture_bureau": ("文物局", "Culture bureau"),
    "alert.aud.law_enforcement": ("文化市场综合执法", "Cultural market law enforcement"),
})


# What the templates show -------------------------------------------------------------------------


def urgency(alert: Alert) -> tuple[int, datetime, str]:
    """The queue's order: critical first, then the oldest first (what has waited longest)."""
    return -alert.severity.rank, alert.opened_at, alert.id


def epoch_ms(moment: datetime) -> int:
    # Milliseconds, as live.js writes `data-opened` (Date.parse), so its ordering mixes with ours.
    return int(moment.timestamp() * 1000)


def age_text(seconds: float, lang: str) -> str:
    """`12分钟前` / `3 h 5 min ago`: the coarse age an operator reads at a glance (queue.js does the same)."""
    s = max(0, int(seconds))
    if s < 5:
        return i18n.t("queue.age.now", lang)
    if s < 60:
        return i18n.t("queue.age.s", lang).format(s=s)
    if s < 3600:
        return i18n.t("queue.age.m", lang).format(m=s // 60)
    if s < 86400:
        return i18n.t("queue.age.hm", lang).format(h=s // 3600, m=s % 3600 // 60)
    return i18n.t("queue.age.dh", lang).format(d=s // 86400, h=s % 86400 // 3600)


def age_units(lang: str) -> dict[str, str]:
    """The words queue.js formats ages with, as `data-age-*` attributes."""
    return {f"data-age-{unit}": i18n.t(f"queue.age.{unit}", lang) for unit in ("now", "s", "m", "hm", "dh")}


def row_words(lang: str) -> dict[str, dict[str, str]]:
    """The words of severity, category and status in the page's language, for the scripts that
    redraw rows from the live feed (its alert objects carry Chinese labels only)."""
    return {
        "severity": {key: i18n.t(f"alert.sev.{key}", lang) for key in SEVERITY_LABELS},
        "category": {key: i18n.t(f"alert.cat.{key}", lang) for key in CATEGORY_LABELS},
        "status": {key: i18n.t(f"alert.status.{key}", lang) for key in STATUS_LABELS},
    }


def label(kind: str, value: str | None, lang: str) -> str:
    if value is None:
        return ""
    key = f"{kind}.{value}"
    text = i18n.t(key, lang)
    return value if text == key else text


@dataclass(frozen=True, slots=True)
class QueueRow:
    alert: Alert
    site_name: str
    district: str
    opened_ms: int
    age: str
    flagged: bool  # critical and not yet acknowledged: the row flashes


@dataclass(frozen=True, slots=True)
class TimelineLine:
    at: str
    kind: str
    word: str
    actor: str
    detail: str


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    at: str
    event: str
    recipient: str
    channel: str
    fallback: bool
    delivered: bool
    attempts: int
    status: str


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    kind: str
    url: str
    image: bool


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "、".join(_text(item) for item in value)
    return str(value)


def _moment(text: str, lang: str) -> str:
    """A stored RFC 3339 time as the site's wall clock; other text as it is."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return i18n.local_time(moment, lang) if moment.utcoffset() is not None else text


def timeline_detail(entry: TimelineEntry, lang: str) -> str:
    """The detail of a timeline entry as a short phrase (the raw detail is in the API)."""
    detail: Mapping[str, object] = entry.detail
    kind = entry.kind
    if kind == "opened":
        return _text(detail.get("title"))
    if kind == "repeat":
        return i18n.t("alert.detail.count", lang).format(n=_text(detail.get("count")))
    if kind == "confirmed":
        return _text(detail.get("devices"))
    if kind == "severity":
        return label("alert.sev", _text(detail.get("severity")) or None, lang)
    if kind == "evidence":
        return _text(detail.get("evidence"))
    if kind == "escalated":
        added = detail.get("added")
        items = added if isinstance(added, list) else []
        return "、".join(label("alert.aud", str(item), lang) for item in items)
    if kind == "inhibited":
        return _text(detail.get("by"))
    if kind == "cleared":
        return label("alert.status", _text(detail.get("status")) or None, lang)
    if kind == "assigned":
        return i18n.t("alert.detail.to", lang).format(to=_text(detail.get("to")))
    if kind == "note":
        return _text(detail.get("text"))
    if kind in ("resolved", "false_alarm"):
        words = [label("alert.class", _text(detail.get("classification")) or None, lang), _text(detail.get("note"))]
        return " · ".join(word for word in words if word)
    if kind in ("drill", "repair"):
        until = _moment(_text(detail.get("until")), lang)
        words = [_text(detail.get("reason")), i18n.t("alert.detail.until", lang).format(until=until) if until else ""]
        return " · ".join(word for word in words if word)
    if kind in ("suppressed", "unrouted"):
        return label("alert.event", _text(detail.get("event")) or None, lang)
    return ""


def _delivery_key(record: DeliveryRecord) -> tuple[str, str, bool]:
    return record.delivery_id, record.channel, record.fallback


# The router ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the alert page found: the alert (None: unknown or not the user's), its history, and
    why the history is missing when it is."""

    alert: Alert | None
    timeline: Sequence[TimelineEntry]
    deliveries: Sequence[DeliveryRecord]
    history_error: str | None


def queue_pages(deps: DashboardDeps, templates: Templates) -> APIRouter:
    router = APIRouter()
    service = deps.service
    history = History(deps.database_url)
    current_user = make_current_user(deps.sessions)
    recent: OrderedDict[str, Alert] = OrderedDict()

    def remember_closed(alert: Alert) -> None:
        if alert.status.is_open:
            return
        recent[alert.id] = alert
        recent.move_to_end(alert.id)
        while len(recent) > RECENT_CLOSED:
            recent.popitem(last=False)

    service.listeners.append(remember_closed)

    def who(actor: str | None, lang: str) -> str:
        return actor_text(actor, lang, routing=service.routing, names=deps.sessions.names)

    def recipient_name(recipient_id: str) -> str:
        if service.routing is not None:
            recipient = service.routing.directory.by_id.get(recipient_id)
            if recipient is not None:
                return f"{recipient.name}（{recipient_id}）"
        return recipient_id

    def site_of(alert: Alert) -> tuple[str, str]:
        site = service.sites.get(alert.site)
        return (site.name, site.district) if site is not None else (alert.site, "")

    # The queue ------------------------------------------------------------------------------

    @router.get("/queue", response_class=HTMLResponse)
    async def queue(request: Request) -> Response:
        user = await current_user(request)
        if user.role is Role.CUSTODIAN:
            return RedirectResponse(home_of(user), status_code=303)
        lang = lang_of(request)
        now = service.clock()
        alerts = sorted((alert for alert in service.open_alerts() if user.can_see(alert.site)), key=urgency)
        rows = []
        for alert in alerts:
            name, district = site_of(alert)
            rows.append(QueueRow(
                alert=alert, site_name=name, district=district, opened_ms=epoch_ms(alert.opened_at),
                age=age_text((now - alert.opened_at).total_seconds(), lang),
                flagged=alert.severity is Severity.CRITICAL and alert.status is AlertStatus.OPEN,
            ))
        counts = {severity.value: sum(1 for alert in alerts if alert.severity is severity) for severity in SEVERITIES}
        unacked_critical = sum(1 for row in rows if row.flagged)
        return templates.render(
            request, "queue.html", rows=rows, counts=counts, total=len(rows), severities=[s.value for s in SEVERITIES],
            unacked_critical=unacked_critical, now_ms=epoch_ms(now), updated=i18n.local_time(now, lang)[11:],
            can_ack=user.principal.can_act("acknowledge"), age_units=age_units(lang),
            words=row_words(lang),
        )

    # The alert page -------------------------------------------------------------------------

    async def load(alert_id: str, user: WebUser) -> Loaded:
        alert = service.get(alert_id)
        if alert is not None and not user.can_see(alert.site):
            alert = None  # answered as an unknown id is, database read included

        def read(conn: alert_store.Conn) -> tuple[Alert | None, list[TimelineEntry], list[DeliveryRecord]]:
            stored = alert_store.get(conn, alert_id)
            if stored is None:
                return None, [], []
            return stored, alert_store.timeline(conn, alert_id), alert_store.deliveries_of(conn, alert_id)

        stored: Alert | None = None
        timeline: list[TimelineEntry] = []
        deliveries: list[DeliveryRecord] = []
        error: str | None = None
        try:
            stored, timeline, deliveries = await history.read(read)
        except HistoryUnavailable as exc:
            error = exc.reason
        if alert is None:
            # A close seen here is final; the database may still hold the snapshot before it.
            alert = recent.get(alert_id) or stored
        if alert is None or not user.can_see(alert.site):
            return Loaded(None, [], [], error)
        found = {_delivery_key(record) for record in deliveries}
        if service.dispatcher is not None:
            # Failures the journal may not have written yet (or cannot: the database is down).
            deliveries += [record for record in service.dispatcher.undelivered
                           if record.alert_id == alert_id and _delivery_key(record) not in found]
        deliveries.sort(key=lambda record: record.started_at)
        return Loaded(alert, timeline, deliveries, error)

    async def alert_page(
        request: Request, user: WebUser, alert_id: str, *, status_code: int = 200, error: str | None = None,
        done: str | None = None, draft: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        lang = lang_of(request)
        loaded = await load(alert_id, user)
        alert = loaded.alert
        back = home_of(user)
        if alert is None:
            if loaded.history_error is not None:
                message = i18n.t("alert.closed_unavailable", lang).format(reason=loaded.history_error)
                return templates.render(request, "alert.html", status_code=503, alert=None, error=message, back=back)
            return templates.render(request, "alert.html", status_code=404, alert=None,
                                    error=i18n.t("error.not_found", lang), back=back)
        principal = user.principal
        is_open = alert.status.is_open
        now = service.clock()
        name, district = site_of(alert)
        timeline = [
            TimelineLine(at=i18n.local_time(entry.at, lang), kind=entry.kind,
                         word=label("alert.kind", entry.kind, lang), actor=who(entry.actor, lang),
                         detail=timeline_detail(entry, lang))
            for entry in loaded.timeline
        ]
        deliveries = [
            DeliveryLine(at=i18n.local_time(record.started_at, lang), event=label("alert.event", record.event, lang),
                         recipient=recipient_name(record.recipient), channel=record.channel, fallback=record.fallback,
                         delivered=record.delivered, attempts=record.attempts, status=record.status)
            for record in loaded.deliveries
        ]
        evidence = [EvidenceItem(item.kind, item.url, is_web_url(item.url)) for item in alert.evidence]
        history_note = (i18n.t("alert.history_unavailable", lang).format(reason=loaded.history_error)
                        if loaded.history_error is not None else None)
        return templates.render(
            request, "alert.html", status_code=status_code, alert=alert, back=back,
            alert_path=f"/alerts/{quote(alert.id, safe='')}", site_name=name, district=district,
            opened_ms=epoch_ms(alert.opened_at), now_ms=epoch_ms(now),
            age=age_text((now - alert.opened_at).total_seconds(), lang), age_units=age_units(lang),
            acknowledged_by=who(alert.acknowledged_by, lang), resolved_by=who(alert.resolved_by, lang),
            audiences=[label("alert.aud", item.value, lang) for item in alert.audiences],
            timeline=timeline, deliveries=deliveries, evidence=evidence, history_note=history_note,
            can_ack=is_open and alert.status is AlertStatus.OPEN and principal.can_act("acknowledge"),
            can_assign=is_open and principal.can_act("assign"),
            can_resolve=is_open and principal.can_act("resolve"),
            classes=[c.value for c in RESOLVE_CLASSES], error=error,
            done=i18n.t(f"alert.done.{done}", lang) if done in _DONE else None, draft=draft or {},
        )

    @router.get("/alerts/{alert_id}", response_class=HTMLResponse)
    async def one_alert(request: Request, alert_id: str, done: str | None = None) -> HTMLResponse:
        user = await current_user(request)
        return await alert_page(request, user, alert_id, done=done)

    # Actions as plain forms ---------------------------------------------------------------------

    async def act(
        request: Request, alert_id: str, csrf: str, command: Command, done: str,
        do: Callable[[WebUser], Alert], draft: Mapping[str, str], problem: str | None = None,
        refuse: Callable[[Alert, str], str | None] | None = None,
    ) -> Response:
        """One form action: checks, the service call, then 303 to the alert page (or the page again
        with the reason). `problem` is a message about the form's fields, found before any call;
        `refuse` may turn the open alert down (409) with a message."""
        user = await current_user(request)
        check_csrf(request, csrf)
        lang = lang_of(request)

        async def again(status_code: int, message: str) -> HTMLResponse:
            return await alert_page(request, user, alert_id, status_code=status_code, error=message, draft=draft)

        alert = service.get(alert_id)
        if alert is None or not user.can_see(alert.site):
            # Closed, unknown or not theirs: the page says which (404 for the last two).
            return await again(409, i18n.t("alert.error.closed", lang))
        if not user.principal.can_act(command):
            return await again(403, i18n.t("alert.error.not_allowed", lang))
        refused = refuse(alert, lang) if refuse is not None else None
        if refused is not None:
            return await again(409, refused)
        if problem is not None:
            return await again(422, problem)
        try:
            do(user)
        except UnknownAlertError:
            return await again(409, i18n.t("alert.error.closed", lang))
        except IllegalTransition:
            current = service.get(alert_id)
            if current is None:
                return await again(409, i18n.t("alert.error.closed", lang))
            if current.status is AlertStatus.ACKNOWLEDGED and command == "acknowledge":
                return await again(409, already_acknowledged(current, lang))
            return await again(409, i18n.t("alert.error.illegal", lang))
        except InvalidResolutionError as exc:
            return await again(422, i18n.t("alert.error.failed", lang) + str(exc))
        return RedirectResponse(f"/alerts/{quote(alert_id, safe='')}?done={done}", status_code=303)

    def already_acknowledged(alert: Alert, lang: str) -> str:
        return i18n.t("alert.error.already_ack", lang).format(
            who=who(alert.acknowledged_by, lang), at=i18n.local_time(alert.acknowledged_at, lang))

    def too_long(text: str, limit: int, lang: str) -> str | None:
        return i18n.t("alert.error.too_long", lang).format(n=limit) if len(text) > limit else None

    @router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
    async def ack_form(request: Request, alert_id: str, csrf: str = Form("")) -> Response:
        def refuse(alert: Alert, lang: str) -> str | None:
            # Says by whom, which is what the second person to press the button needs to know.
            return already_acknowledged(alert, lang) if alert.status is AlertStatus.ACKNOWLEDGED else None

        return await act(request, alert_id, csrf, "acknowledge", "ack",
                         lambda user: service.acknowledge(alert_id, user.principal.actor), {}, refuse=refuse)

    @router.post("/alerts/{alert_id}/assign", response_class=HTMLResponse)
    async def assign_form(request: Request, alert_id: str, csrf: str = Form(""), to: str = Form("")) -> Response:
        lang = lang_of(request)
        target = to.strip()
        problem = i18n.t("alert.error.need_to", lang) if not target else too_long(target, MAX_ASSIGNEE, lang)
        return await act(request, alert_id, csrf, "assign", "assign",
                         lambda user: service.assign(alert_id, target, user.principal.actor), {"to": to}, problem)

    @router.post("/alerts/{alert_id}/note", response_class=HTMLResponse)
    async def note_form(request: Request, alert_id: str, csrf: str = Form(""), note: str = Form("")) -> Response:
        lang = lang_of(request)
        text = note.strip()
        problem = i18n.t("alert.error.need_note", lang) if not text else too_long(text, MAX_NOTE, lang)
        # Notes need the right to assign, as in the API: a supervisor or an agency only reads.
        return await act(request, alert_id, csrf, "assign", "note",
                         lambda user: service.annotate(alert_id, text, user.principal.actor), {"note": note}, problem)

    @router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
    async def resolve_form(
        request: Request, alert_id: str, csrf: str = Form(""), classification: str = Form(""),
        note: str = Form(""), outcome: str = Form("resolved"),
    ) -> Response:
        lang = lang_of(request)
        false_alarm = outcome == "false_alarm"
        text = note.strip() or None
        chosen: Classification | None = None
        problem: str | None = None
        if not false_alarm:
            try:
                chosen = Classification(classification.strip())
            except ValueError:
                chosen = None
            if chosen is None or chosen is Classification.FALSE_ALARM:
                problem = i18n.t("alert.error.need_class", lang)
        if problem is None and text is not None:
            problem = too_long(text, MAX_NOTE, lang)
        draft = {"classification": classification, "resolve_note": note}
        return await act(request, alert_id, csrf, "resolve", "false_alarm" if false_alarm else "resolve",
                         lambda user: service.resolve(alert_id, user.principal.actor, classification=chosen, note=text),
                         draft, problem)

    return router


_DONE: Final = frozenset({"ack", "assign", "note", "resolve", "false_alarm"})
