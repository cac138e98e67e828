"""The HTTP API of alerts and sites (CONTRACT §3), and the ack page behind every `ack_url`.

    GET  /api/alerts?status=&site=&category=&since=&limit=     open (memory) + closed (database)
    GET  /api/alerts/{id}                                      the alert, its timeline and deliveries
    POST /api/alerts/{id}/ack | /assign {"to"} | /resolve {"note", "false_alarm", "classification"}
    POST /api/alerts/{id}/note {"note"}                        a remark on the timeline (extension)
    GET  /api/sites · /api/sites/{id} · /api/sites/{id}/readings?device=&metric=&from=&to=&bucket=
    GET  /api/deliveries/undelivered?since=&limit=
    GET  /ack/{token} (a page, never acknowledges) · POST /ack/{token} (acknowledges)
    GET  /api/push/key                                         {"public_key"}: the VAPID applicationServerKey
    POST /api/push/subscriptions {"id", "subscription"} · DELETE /api/push/subscriptions/{id}

Authentication: `Authorization: Bearer <token>` (relic_guard.alerting.tokens); every answer to
a request without a valid token is 401, with a JSON body that says how to authenticate. A caller
sees only the sites of their token: an alert or a site outside that scope is answered 404 exactly
as one that does not exist, so a custodian of one site cannot learn what happens at another.

Where the answers come from: open alerts live in the alert service's memory (the engine is the
truth about what is open), closed alerts, timelines and deliveries in the database. The database
is read per request on a fresh connection (connect timeout 2 s) in a worker thread, so a slow or
absent database never stalls the event loop that evaluates fire alarms; when it cannot be read,
reads of open alerts still answer 200 with `"history": "unavailable: <reason>"`. An alert closed
moments ago whose snapshot the journal has not written yet is, for that moment, in neither place.

Extensions to the contract: `status` takes several values
separated by commas, and `closed` for resolved,false_alarm; `since`/`from`/`to` without an
offset are Beijing time; `resolve` takes a `classification` (required unless `false_alarm`);
alert objects carry `rule`, `devices`, `audiences`, `assigned_to`, `note` and `labels` (the
Chinese words every channel shows); `GET /api/deliveries/undelivered`.

Device state in `GET /api/sites/{id}` is what the engine knows: `online` / `offline` for devices
with a heartbeat or that sent a status, `unknown` for the others; `last_seen` is the last record
from the device, or the daemon's start when it has not reported since (it was given a full
heartbeat period of grace then).

Actors: a token's caller acts as `user:<name>`, a recipient through an ack link as
`recipient:<id>`; both land in the alert's timeline and the audit trail.

Web Push: the mobile page fetches the key, subscribes the phone's browser with it, and posts the
browser's `PushSubscription.toJSON()` under the id the routing file gives the custodian's webpush
channel (`{ kind = "webpush", target = "sub-wangjianguo" }`). Who may register or remove which id:
- the id must be the target of a webpush channel (primary or fallback) of some recipient in the
  routing file, else 404 naming the file: a subscription under any other id would never be used;
- an admin token: any such id (administrators are trusted with the whole configuration);
- a custodian token: only an id used by custodian recipients alone, each named (`name`) as a
  custodian of a site the token covers (sites.csv `custodians`). An id shared with any other
  recipient is refused, so a custodian can never point an agency's or a colleague elsewhere's
  pushes at their own phone. Refused ids are answered 404 in the same words as unknown ones,
  as sites outside a token's scope are;
- other roles: 403 (the monitoring center, agencies and supervisors have no phone to register).
Every registration and removal goes to the audit trail (`push.subscribed` / `push.removed`,
subject the id, detail the recipient and the endpoint's origin; never the keys). While the
database is down a registration is kept in memory and written later, and the answer says so
(`"database": "pending: …"`); see `relic_guard.alerting.channels.StoredPushSubscriptions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec
import psycopg
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from alerts import ack_token
from alerts.errors import IllegalTransition, InvalidResolutionError, UnknownAlertError
from alerts.model import Alert, AlertStatus, Audience, Category, Classification
from alerts.notification import CATEGORY_LABELS, SEVERITY_LABELS, STATUS_LABELS, alert_object, rfc3339, wall_clock_text
from alerts.routing import Recipient
from alerts.rules.common import SHANGHAI
from relic_guard.alerting.channels import ChannelSet, StoredPushSubscriptions, normalize_subscription
from relic_guard.alerting.device_view import DeviceRow, site_devices
from relic_guard.alerting.records import DeliveryRecord, TimelineEntry
from relic_guard.alerting.service import AlertService
from relic_guard.alerting.tokens import Command, Principal, Role, TokenStore
from relic_guard.audit import AuditEntry
from relic_guard.registry import ID_PATTERN, Device
from relic_guard.routing_load import RoutingConfig
from relic_guard.store import alerts as alert_store
from relic_guard.store import queries

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.Connection[Any]

OPEN_STATUSES: Final = frozenset({AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value})
CLOSED_STATUSES: Final = frozenset({AlertStatus.RESOLVED.value, AlertStatus.FALSE_ALARM.value})
MAX_LIMIT: Final = 1000
MAX_TEXT: Final = 2000
# The longest span one readings request may cover: raw rows arrive every few seconds per metric.
MAX_RAW_SPAN: Final = timedelta(days=31)
MAX_HOUR_SPAN: Final = timedelta(days=400)
AUTH_HELP: Final = (
    "send the header 'Authorization: Bearer <token>'; an administrator makes tokens with "
    "`relic-guard token new --name NAME --role ROLE --file PATH` (the file named by [alerts] api_tokens_file)"
)


# Errors -----------------------------------------------------------------------------------


class ApiError(Exception):
    """An answer other than 2xx: `{"error": message, ...extra}`."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None,
                 **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.message, **exc.extra}, status_code=exc.status, headers=exc.headers)


class HistoryUnavailable(Exception):  # noqa: N818 (reads as the condition it reports)
    """The database could not be read; `reason` is one line for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Database reads -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class History:
    """Reads of the database for the API: one connection per call, in a worker thread."""

    url: str | None
    connect_timeout_s: int = 2
    # A read that takes longer is given up (its thread finishes on its own).
    timeout_s: float = 15.0

    async def read(self, work: Callable[[Conn], T]) -> T:
        if self.url is None:
            raise HistoryUnavailable("no database configured")
        url = self.url

        def run() -> T:
            with psycopg.connect(url, connect_timeout=self.connect_timeout_s, autocommit=True) as conn:
                return work(conn)

        try:
            return await asyncio.wait_for(asyncio.to_thread(run), self.timeout_s)
        except TimeoutError:
            raise HistoryUnavailable(f"no answer within {self.timeout_s:g} s") from None
        except psycopg.Error as exc:
            raise HistoryUnavailable(_first_line(exc)) from None
        except (OSError, msgspec.MsgspecError) as exc:
            log.warning("reading alert history failed: %r", exc)
            raise HistoryUnavailable(_first_line(exc)) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# What the routes need -----------------------------------------------------------------------


@dataclass(slots=True)
class ApiContext:
    service: AlertService
    tokens: TokenStore
    history: History
    # The registry's devices (source, kind, zone, heartbeat); the rule context's when not given.
    devices: Mapping[tuple[str, str], Device] = field(default_factory=dict)
    # The daemon's channels: the VAPID key `GET /api/push/key` gives, and the push subscriptions
    # the API registers into. None: the push endpoints answer 503 "Web Push not configured".
    channels: ChannelSet | None = None
    # Browsers' push services are all https. Refusing plain http:// endpoints keeps a token
    # holder from aiming the daemon's pushes at plain-HTTP services inside the network; only a
    # local test push service needs this set.
    allow_http_push_endpoints: bool = False
    # The dashboard's session login: the caller of a request without an Authorization header
    # (None: not logged in). It checks the CSRF header itself on anything but GET.
    session_principal: Callable[[Request], Awaitable[Principal | None]] | None = None
    # The 双随机 draws' pool ([inspections] pool_file) for `POST /api/draws`; None: drawing
    # answers 503 saying what to set.
    draw_pool_file: Path | None = None


# A further `/api` router: made from the context and the caller dependency (`caller_of`).
ApiRouterFactory = Callable[[ApiContext, Any], APIRouter]


def mount(app: FastAPI, ctx: ApiContext, routers: Sequence[ApiRouterFactory] = ()) -> None:
    """Add the `/api` routes (the alerts' and `routers`), the ack page and the JSON error answers."""
    app.add_exception_handler(ApiError, _api_error)
    app.include_router(api_router(ctx))
    caller = caller_of(ctx)
    for make in routers:
        app.include_router(make(ctx, caller))
    app.include_router(ack_router(ctx))


# JSON shapes ------------------------------------------------------------------------------------


def alert_json(ctx: ApiContext, alert: Alert) -> dict[str, object]:
    body = alert_object(alert, ctx.service.sites.get(alert.site), ack_url=None)
    body.update(
        rule=alert.rule,
        devices=list(alert.devices),
        audiences=[item.value for item in alert.audiences],
        assigned_to=alert.assigned_to,
        note=alert.note,
        inhibited_by=alert.inhibited_by,
        condition_cleared_at=_time(alert.condition_cleared_at),
        labels={
            "severity": SEVERITY_LABELS.get(alert.severity.value, alert.severity.value),
            "category": CATEGORY_LABELS.get(alert.category.value, alert.category.value),
            "status": STATUS_LABELS.get(alert.status.value, alert.status.value),
        },
    )
    return body


def _time(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


def timeline_json(entry: TimelineEntry) -> dict[str, object]:
    return {"at": rfc3339(entry.at), "kind": entry.kind, "actor": entry.actor, "detail": dict(entry.detail)}


def delivery_json(record: DeliveryRecord) -> dict[str, object]:
    return {
        "delivery_id": record.delivery_id,
        "alert_id": record.alert_id,
        "event": record.event,
        "recipient": record.recipient,
        "channel": record.channel,
        "target": record.target,
        "fallback": record.fallback,
        "delivered": record.delivered,
        "attempts": record.attempts,
        "status": record.status,
        "gave_up": record.gave_up,
        "started_at": rfc3339(record.started_at),
        "finished_at": rfc3339(record.finished_at),
    }


def _delivery_key(record: DeliveryRecord) -> tuple[str, str, bool]:
    return record.delivery_id, record.channel, record.fallback


# Parameters -------------------------------------------------------------------------------------


def parse_moment(text: str | None, name: str) -> datetime | None:
    """RFC 3339 (an offset or Z); without an offset, Beijing time (what people at the sites type)."""
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ApiError(422, f"{name}: '{text}' is not a time; write RFC 3339, like 2026-11-27T10:00:00+08:00") \
            from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment


def parse_statuses(text: str | None) -> frozenset[str] | None:
    if text is None or not text.strip():
        return None
    wanted: set[str] = set()
    for part in text.split(","):
        word = part.strip().lower()
        if word == "closed":
            wanted |= CLOSED_STATUSES
        elif word in OPEN_STATUSES | CLOSED_STATUSES:
            wanted.add(word)
        elif word:
            choices = ", ".join([*(s.value for s in AlertStatus), "closed"])
            raise ApiError(422, f"status: '{word}' is not a status; give one or more of {choices}, "
                           "separated by commas", choices=choices.split(", "))
    return frozenset(wanted) or None


def parse_category(text: str | None) -> Category | None:
    if text is None or not text.strip():
        return None
    try:
        return Category(text.strip().lower())
    except ValueError:
        choices = [c.value for c in Category]
        raise ApiError(422, f"category: '{text}' is not a category; give one of {', '.join(choices)}",
                       choices=choices) from None


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "the body is not JSON; send a JSON object with Content-Type: application/json") \
            from None
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object, like {\"note\": \"…\"}")
    return body


def text_field(body: Mapping[str, Any], key: str, *, required: bool, limit: int = MAX_TEXT, where: str = "") -> str:
    """A string member of a JSON body, stripped ("" when optional and absent); a 422 saying what is
    wrong otherwise. `where` names the enclosing item in the message (`findings[2].`)."""
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(422, f"{where}{key}: missing; give it as a string")
        return ""
    if not isinstance(value, str):
        raise ApiError(422, f"{where}{key}: must be a string, not {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise ApiError(422, f"{where}{key}: must not be empty")
    if len(value) > limit:
        raise ApiError(422, f"{where}{key}: at most {limit} characters")
    return value


# The API -----------------------------------------------------------------------------------------


def caller_of(ctx: ApiContext) -> Any:
    """The FastAPI dependency that names the caller of an `/api` request: the dashboard session
    when there is no Authorization header, else the bearer token; 401 saying what is wrong.
    Every `/api` router uses it, so scope and role checks mean the same everywhere."""

    async def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
        if (authorization is None or not authorization.strip()) and ctx.session_principal is not None:
            from_session = await ctx.session_principal(request)
            if from_session is not None:
                return from_session
        if authorization is None or not authorization.strip():
            raise ApiError(401, f"authentication required: {AUTH_HELP}",
                           headers={"WWW-Authenticate": 'Bearer realm="relic-guard"'})
        scheme, _, presented = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise ApiError(401, f"the Authorization header is not a bearer token: {AUTH_HELP}",
                           headers={"WWW-Authenticate": 'Bearer realm="relic-guard", error="invalid_request"'})
        found = ctx.tokens.lookup(presented.strip())
        if found is None:
            hint = ("no API tokens are configured on this server: set [alerts] api_tokens_file"
                    if len(ctx.tokens) == 0 else "the token is not known (mistyped, or removed from the tokens file)")
            raise ApiError(401, f"invalid token: {hint}; {AUTH_HELP}",
                           headers={"WWW-Authenticate": 'Bearer realm="relic-guard", error="invalid_token"'})
        return found

    # A default, not an Annotated alias: annotations are strings here (PEP 563), looked up in the
    # module's names, where a local alias is not found.
    return Depends(principal)


def api_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/api")
    service = ctx.service
    history = ctx.history
    caller = caller_of(ctx)

    def not_found(alert_id: str) -> ApiError:
        # The same words whether the alert does not exist or lies outside the caller's sites.
        return ApiError(404, f"no alert '{alert_id}' (or not at a site your token covers)")

    def visible_site(who: Principal, site_id: str) -> None:
        if site_id not in service.sites or not who.can_see(site_id):
            raise ApiError(404, f"no site '{site_id}' (or not one your token covers)")

    # Alerts ------------------------------------------------------------------------------

    @router.get("/alerts")
    async def list_alerts(
        status: str | None = None,
        site: str | None = None,
        category: str | None = None,
        since: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        who: Principal = caller,
    ) -> dict[str, object]:
        statuses = parse_statuses(status)
        kind = parse_category(category)
        start = parse_moment(since, "since")
        if site is not None:
            visible_site(who, site)

        def wanted(alert: Alert) -> bool:
            return (
                who.can_see(alert.site)
                and (site is None or alert.site == site)
                and (kind is None or alert.category is kind)
                and (start is None or alert.opened_at >= start)
                and (statuses is None or alert.status.value in statuses)
            )

        found = [alert for alert in service.open_alerts() if wanted(alert)]
        closed = sorted(CLOSED_STATUSES if statuses is None else statuses & CLOSED_STATUSES)
        note = "ok"
        if closed:
            scope = who.sites

            def read(conn: Conn) -> list[Alert]:
                return alert_store.list_alerts(conn, status=closed, sites=scope, site=site,
                                               category=kind.value if kind else None, since=start, limit=limit)

            try:
                found += [alert for alert in await history.read(read) if wanted(alert)]
            except HistoryUnavailable as exc:
                note = f"unavailable: {exc.reason}"
        else:
            note = "not needed: open alerts are answered from memory"
        found.sort(key=lambda alert: (alert.opened_at, alert.id), reverse=True)
        return {"alerts": [alert_json(ctx, alert) for alert in found[:limit]], "history": note}

    @router.get("/alerts/{alert_id}")
    async def one_alert(alert_id: str, who: Principal = caller) -> dict[str, object]:
        alert = service.get(alert_id)
        if alert is not None and not who.can_see(alert.site):
            alert = None  # answered as an unknown id is, database read included
        if alert is None:
            try:
                alert = await history.read(lambda conn: alert_store.get(conn, alert_id))
            except HistoryUnavailable as exc:
                raise ApiError(503, f"alert '{alert_id}' is not open, and closed alerts cannot be read now: "
                               f"{exc.reason}", history=f"unavailable: {exc.reason}") from None
        if alert is None or not who.can_see(alert.site):
            raise not_found(alert_id)
        note = "ok"
        timeline: list[TimelineEntry] = []
        deliveries: list[DeliveryRecord] = []
        try:
            timeline, deliveries = await history.read(
                lambda conn: (alert_store.timeline(conn, alert_id), alert_store.deliveries_of(conn, alert_id))
            )
        except HistoryUnavailable as exc:
            note = f"unavailable: {exc.reason}"
        stored = {_delivery_key(record) for record in deliveries}
        if service.dispatcher is not None:
            # Failures the journal may not have written yet (or could not: the database is down).
            deliveries += [record for record in service.dispatcher.undelivered
                           if record.alert_id == alert_id and _delivery_key(record) not in stored]
        deliveries.sort(key=lambda record: record.started_at)
        body = alert_json(ctx, alert)
        body.update(timeline=[timeline_json(entry) for entry in timeline],
                    deliveries=[delivery_json(record) for record in deliveries], history=note)
        return body

    async def open_target(who: Principal, alert_id: str, command: Command, verb: str) -> Alert:
        alert = service.get(alert_id)
        if alert is not None and not who.can_see(alert.site):
            alert = None  # answered as an unknown id is, database read included
        if alert is None:
            closed: Alert | None = None
            with contextlib.suppress(HistoryUnavailable):
                closed = await history.read(lambda conn: alert_store.get(conn, alert_id))
            if closed is not None and who.can_see(closed.site) and not closed.status.is_open:
                raise ApiError(409, f"alert '{alert_id}' is closed already ({_closing(closed)}); a closed alert "
                               f"cannot be {verb}", alert=alert_json(ctx, closed))
            raise not_found(alert_id)
        if not who.can_act(command):
            article = "an" if who.role.value[0] in "aeiou" else "a"
            raise ApiError(403, f"{article} {who.role.value} token may not {command} alerts; ask the monitoring center "
                           "or the site's custodian")
        return alert

    def conflict(alert_id: str, exc: Exception, verb: str) -> ApiError:
        current = service.get(alert_id)
        if current is not None and current.status is AlertStatus.ACKNOWLEDGED and verb == "acknowledged":
            return _already_acknowledged(ctx, current)
        return ApiError(409, f"alert '{alert_id}' cannot be {verb}: {exc}")

    def required_text(body: Mapping[str, Any], key: str, limit: int, what: str) -> str:
        text = text_field(body, key, required=True, limit=MAX_TEXT)
        if len(text) > limit:
            raise ApiError(422, f"{key}: at most {limit} characters{what}")
        return text

    def command(alert_id: str, verb: str, call: Callable[[], Alert]) -> dict[str, object]:
        """Run a lifecycle command, its refusals answered as the API's errors."""
        try:
            return alert_json(ctx, call())
        except UnknownAlertError:
            raise not_found(alert_id) from None
        except IllegalTransition as exc:
            raise conflict(alert_id, exc, verb) from None
        except InvalidResolutionError as exc:
            raise ApiError(422, str(exc)) from None

    @router.post("/alerts/{alert_id}/ack")
    async def acknowledge(alert_id: str, who: Principal = caller) -> dict[str, object]:
        alert = await open_target(who, alert_id, "acknowledge", "acknowledged")
        if alert.status is AlertStatus.ACKNOWLEDGED:
            raise _already_acknowledged(ctx, alert)
        return command(alert_id, "acknowledged", lambda: service.acknowledge(alert_id, who.actor))

    @router.post("/alerts/{alert_id}/note")
    async def annotate(alert_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        text = required_text(await json_body(request), "note", 2000, "")
        await open_target(who, alert_id, "assign", "annotated")
        return command(alert_id, "annotated", lambda: service.annotate(alert_id, text, who.actor))

    @router.post("/alerts/{alert_id}/assign")
    async def assign(alert_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        to = required_text(await json_body(request), "to", 128, " (a user name or recipient id)")
        await open_target(who, alert_id, "assign", "assigned")
        return command(alert_id, "assigned", lambda: service.assign(alert_id, to, who.actor))

    @router.post("/alerts/{alert_id}/resolve")
    async def resolve(alert_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        body = await json_body(request)
        classification = _classification(body)
        note = text_field(body, "note", required=False) or None
        await open_target(who, alert_id, "resolve", "resolved")
        return command(alert_id, "resolved",
                       lambda: service.resolve(alert_id, who.actor, classification=classification, note=note))

    # Sites --------------------------------------------------------------------------------

    def device_json(row: DeviceRow) -> dict[str, object]:
        return {
            "id": row.id,
            "source": row.source,
            "kind": row.kind,
            "zone": row.zone,
            "heartbeat_s": row.heartbeat_s,
            "registered": row.registered,
            "state": row.state,
            "last_seen": rfc3339(row.last_seen) if row.last_seen is not None else None,
            "open_alerts": row.open_alerts,
        }

    def site_json(site_id: str) -> dict[str, object]:
        site = service.sites[site_id]
        return {
            "id": site.id,
            "name": site.name,
            "district": site.district,
            "level": site.level,
            "kind": site.kind,
            "lat": site.lat,
            "lon": site.lon,
        }

    @router.get("/sites")
    async def list_sites(who: Principal = caller) -> dict[str, object]:
        open_by_site: dict[str, int] = {}
        for alert in service.open_alerts():
            open_by_site[alert.site] = open_by_site.get(alert.site, 0) + 1
        offline = service.engine.devices.offline
        sites = [
            {**site_json(site_id), "open_alerts": open_by_site.get(site_id, 0),
             "devices_offline": len(offline.get(site_id, ()))}
            for site_id in sorted(service.sites) if who.can_see(site_id)
        ]
        return {"sites": sites}

    @router.get("/sites/{site_id}")
    async def one_site(site_id: str, who: Principal = caller) -> dict[str, object]:
        visible_site(who, site_id)
        site = service.sites[site_id]
        alerts = [alert for alert in service.open_alerts() if alert.site == site_id]
        devices = [device_json(row) for row in site_devices(service, ctx.devices, site_id, alerts)]
        hours = site.open_hours
        body = site_json(site_id)
        body.update(
            custodians=list(site.custodians),
            open_hours=f"{hours[0]:%H:%M}-{hours[1]:%H:%M}" if hours else None,
            boundary_wkt=site.boundary_wkt,
            unreachable=site_id in service.engine.devices.unreachable,
            devices=devices,
            open_alerts=[alert_json(ctx, alert) for alert in
                         sorted(alerts, key=lambda a: (a.opened_at, a.id), reverse=True)],
        )
        return body

    @router.get("/sites/{site_id}/readings")
    async def site_readings(
        site_id: str,
        device: str,
        metric: str,
        frm: Annotated[str | None, Query(alias="from")] = None,
        to: str | None = None,
        bucket: Literal["raw", "hour"] = "raw",
        who: Principal = caller,
    ) -> dict[str, object]:
        visible_site(who, site_id)
        if not ID_PATTERN.fullmatch(device):
            raise ApiError(422, f"device: '{device}' is not a device id (1–64 of A-Z a-z 0-9 _ . -)")
        if not metric or len(metric) > 64 or not all(c.islower() or c.isdigit() or c == "_" for c in metric) \
                or not metric.isascii():
            raise ApiError(422, f"metric: '{metric}' is not a metric name (1–64 of a-z 0-9 _)")
        end = parse_moment(to, "to") or service.clock()
        begin = parse_moment(frm, "from") or end - timedelta(hours=24)
        if begin >= end:
            raise ApiError(422, "from must be before to")
        span = MAX_RAW_SPAN if bucket == "raw" else MAX_HOUR_SPAN
        if end - begin > span:
            raise ApiError(422, f"from..to spans more than {span.days} days; narrow it"
                           + (" or ask for bucket=hour" if bucket == "raw" else ""))

        def read(conn: Conn) -> list[dict[str, object]]:
            if bucket == "hour":
                return [{"ts": rfc3339(row.bucket), "n": row.n, "avg": row.avg, "min": row.min, "max": row.max}
                        for row in queries.readings(conn, site_id, device, metric, begin, end, "hour")]
            return [{"ts": rfc3339(row.ts), "value": row.value, "ts_from_receive": row.ts_from_receive}
                    for row in queries.readings(conn, site_id, device, metric, begin, end, "raw")]

        try:
            points = await history.read(read)
        except HistoryUnavailable as exc:
            raise ApiError(503, f"readings cannot be read now: {exc.reason}",
                           history=f"unavailable: {exc.reason}") from None
        return {"site": site_id, "device": device, "metric": metric, "bucket": bucket,
                "from": rfc3339(begin), "to": rfc3339(end), "points": points}

    # Deliveries ---------------------------------------------------------------------------

    @router.get("/deliveries/undelivered")
    async def undelivered(
        since: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        who: Principal = caller,
    ) -> dict[str, object]:
        start = parse_moment(since, "since")
        memory = list(service.dispatcher.undelivered) if service.dispatcher is not None else []
        memory = [record for record in memory if start is None or record.finished_at >= start]
        known: dict[str, Alert] = {}
        for record in memory:
            alert = service.get(record.alert_id)
            if alert is not None:
                known[record.alert_id] = alert
        note = "ok"
        stored: list[DeliveryRecord] = []

        def read(conn: Conn) -> tuple[list[DeliveryRecord], dict[str, Alert]]:
            # Runs in a worker thread: reads the database only, never the service.
            rows = alert_store.undelivered(conn, start, limit)
            found: dict[str, Alert] = {}
            for alert_id in {record.alert_id for record in [*rows, *memory]} - set(known):
                alert = alert_store.get(conn, alert_id)
                if alert is not None:
                    found[alert_id] = alert
            return rows, found

        try:
            stored, found = await history.read(read)
            for alert_id, alert in found.items():
                known[alert_id] = service.get(alert_id) or alert
        except HistoryUnavailable as exc:
            note = f"unavailable: {exc.reason}"
        merged: dict[tuple[str, str, bool], DeliveryRecord] = {}
        for record in [*stored, *memory]:
            merged.setdefault(_delivery_key(record), record)
        shown: list[dict[str, object]] = []
        for record in sorted(merged.values(), key=lambda r: (r.finished_at, r.delivery_id), reverse=True):
            alert = known.get(record.alert_id)
            # A delivery whose alert cannot be placed at a site is shown only to callers who see every site.
            if (alert is None and who.sites is not None) or (alert is not None and not who.can_see(alert.site)):
                continue
            item = delivery_json(record)
            item.update(site=alert.site if alert else None, title=alert.title if alert else None)
            shown.append(item)
        return {"deliveries": shown[:limit], "history": note}

    # Web Push -----------------------------------------------------------------------------

    def push_channels() -> ChannelSet:
        if ctx.channels is None:
            raise ApiError(503, "Web Push not configured: this server's API was started without its notification "
                           "channels, so phones cannot subscribe here")
        return ctx.channels

    def push_id(text: str) -> str:
        if not ID_PATTERN.fullmatch(text):
            raise ApiError(422, f"id: '{text[:80]}' is not a subscription id; use the webpush target the routing "
                           "file gives (1–64 of A-Z a-z 0-9 _ . -)")
        return text

    def push_recipients(who: Principal, subscription_id: str, verb: str) -> list[Recipient]:
        """The recipients whose webpush channel `subscription_id` is, when `who` may change it."""
        if who.role not in (Role.ADMIN, Role.CUSTODIAN):
            raise ApiError(403, f"{_a(who.role)} token may not {verb} push subscriptions; custodians register "
                           "their own phones on the mobile page, an administrator any phone")
        users = webpush_recipients(service.routing, subscription_id)
        if who.role is Role.CUSTODIAN:
            names = {name for site_id, site in service.sites.items() if who.can_see(site_id)
                     for name in site.custodians}
            if not all(r.audience is Audience.CUSTODIANS and r.name in names for r in users):
                users = []
        if users:
            return users
        where = _routing_file(service.routing)
        if who.role is Role.ADMIN:
            raise ApiError(404, f"no recipient in {where} has a webpush channel with target '{subscription_id}'; "
                           "register under the id the custodian's recipient names there, or add "
                           f'{{ kind = "webpush", target = "{subscription_id}" }} to its channels')
        raise ApiError(404, f"no recipient in {where} has a webpush channel with target '{subscription_id}' "
                       "(or it is not one of a custodian of a site your token covers)")

    @router.get("/push/key")
    async def push_key(who: Principal = caller) -> dict[str, object]:
        return {"public_key": push_channels().vapid_public_key}

    @router.post("/push/subscriptions")
    async def push_subscribe(request: Request, who: Principal = caller) -> dict[str, object]:
        channels = push_channels()
        body = await json_body(request)
        raw_id = text_field(body, "id", required=True)
        subscription_id = push_id(raw_id)
        users = push_recipients(who, subscription_id, "register")
        raw = body.get("subscription")
        if raw is None:
            raise ApiError(422, "subscription: missing; send the browser's PushSubscription.toJSON() "
                           '({"endpoint": …, "keys": {"p256dh": …, "auth": …}})')
        if isinstance(raw, dict):
            text = json.dumps(raw, ensure_ascii=False)
        elif isinstance(raw, str):
            text = raw
        else:
            raise ApiError(422, f"subscription: must be a JSON object, not {type(raw).__name__}; send the browser's "
                           "PushSubscription.toJSON()")
        try:
            stored, origin = normalize_subscription(text)
        except ValueError as exc:
            raise ApiError(422, f"subscription: {exc}; send the browser's PushSubscription.toJSON() as it is "
                           '({"endpoint": …, "keys": {"p256dh": …, "auth": …}})') from None
        if origin.startswith("http://") and not ctx.allow_http_push_endpoints:
            raise ApiError(422, f"subscription: the endpoint {origin} is plain http; browsers' push services are "
                           "https, so this is not a browser's subscription")
        subscriptions = channels.subscriptions
        replaced = subscriptions.get(subscription_id) is not None
        recipient = ",".join(r.id for r in users)
        if isinstance(subscriptions, StoredPushSubscriptions):
            saved = await subscriptions.save(subscription_id, stored, recipient=recipient, by=who.actor)
            database = "ok" if saved else _pending_note(subscriptions)
        else:
            subscriptions.register(subscription_id, stored)
            database = "not configured: kept in memory until the daemon stops"
        service.journal.put(AuditEntry(
            at=service.clock(), actor=who.actor, kind="push.subscribed", subject=subscription_id,
            detail={"recipient": recipient, "endpoint_origin": origin, "replaced": replaced},
        ))
        log.info("push subscription %s registered by %s for %s (%s)", subscription_id, who.actor, recipient, origin)
        return {"id": subscription_id, "recipient": recipient, "endpoint_origin": origin, "replaced": replaced,
                "database": database}

    @router.delete("/push/subscriptions/{subscription_id}")
    async def push_unsubscribe(subscription_id: str, who: Principal = caller) -> dict[str, object]:
        channels = push_channels()
        push_id(subscription_id)
        users = push_recipients(who, subscription_id, "remove")
        subscriptions = channels.subscriptions
        current = subscriptions.get(subscription_id)
        # Before the stored subscriptions are read back, absence here proves nothing: remove anyway.
        unread = isinstance(subscriptions, StoredPushSubscriptions) and not subscriptions.loaded
        if current is None and not unread:
            raise ApiError(404, f"no push subscription is registered for '{subscription_id}'")
        origin: str | None = None
        if current is not None:
            with contextlib.suppress(ValueError):
                _, origin = normalize_subscription(current)
        if isinstance(subscriptions, StoredPushSubscriptions):
            saved = await subscriptions.discard(subscription_id)
            database = "ok" if saved else _pending_note(subscriptions)
        else:
            subscriptions.remove(subscription_id)
            database = "not configured: removed from memory"
        recipient = ",".join(r.id for r in users)
        service.journal.put(AuditEntry(
            at=service.clock(), actor=who.actor, kind="push.removed", subject=subscription_id,
            detail={"recipient": recipient, "endpoint_origin": origin},
        ))
        log.info("push subscription %s removed by %s", subscription_id, who.actor)
        return {"id": subscription_id, "recipient": recipient, "removed": True, "database": database}

    return router


def webpush_recipients(routing: RoutingConfig | None, subscription_id: str) -> list[Recipient]:
    """The routing file's recipients with a webpush channel (primary or fallback) to `subscription_id`."""
    if routing is None:
        return []
    return [
        recipient for recipient in routing.recipients
        if any(c.kind == "webpush" and c.target == subscription_id for c in (*recipient.channels, *recipient.fallback))
    ]


def _routing_file(routing: RoutingConfig | None) -> str:
    if routing is None:
        return "the routing file (none is configured: set [alerts] routing_file)"
    if routing.source_file is None:
        return "the routing configuration"
    return f"the routing file {routing.source_file}"


def _pending_note(subscriptions: StoredPushSubscriptions) -> str:
    reason = subscriptions.last_error or "not written yet"
    return f"pending: {reason}; kept in memory (pushes work now) and written when the database answers"


def _a(role: Role) -> str:
    return f"{'an' if role.value[0] in 'aeiou' else 'a'} {role.value}"


def _classification(body: Mapping[str, Any]) -> Classification | None:
    """None for a false alarm (AlertService.resolve's convention), else the classification."""
    false_alarm = body.get("false_alarm", False)
    if not isinstance(false_alarm, bool):
        raise ApiError(422, "false_alarm: must be true or false")
    raw = body.get("classification")
    choices = [c.value for c in Classification if c is not Classification.FALSE_ALARM]
    if raw is not None and not isinstance(raw, str):
        raise ApiError(422, f"classification: must be a string, one of {', '.join(choices)}", choices=choices)
    if false_alarm:
        if raw not in (None, "", Classification.FALSE_ALARM.value):
            raise ApiError(422, f"false_alarm is true but classification is '{raw}'; leave classification out "
                           "for a false alarm, or set false_alarm to false")
        return None
    if raw is None or not raw.strip():
        raise ApiError(422, "classification: required unless false_alarm is true; give one of "
                       f"{', '.join(choices)} (or \"false_alarm\": true)", choices=choices)
    try:
        found = Classification(raw.strip().lower())
    except ValueError:
        raise ApiError(422, f"classification: '{raw}' is not a classification; give one of {', '.join(choices)} "
                       "(or \"false_alarm\": true)", choices=choices) from None
    return None if found is Classification.FALSE_ALARM else found


def _closing(alert: Alert) -> str:
    status = alert.status.value
    by = f" by {alert.resolved_by}" if alert.resolved_by else ""
    at = f" at {rfc3339(alert.resolved_at)}" if alert.resolved_at else ""
    return f"{status}{by}{at}"


def _already_acknowledged(ctx: ApiContext, alert: Alert) -> ApiError:
    at = rfc3339(alert.acknowledged_at) if alert.acknowledged_at else "an unknown time"
    return ApiError(409, f"already acknowledged by {alert.acknowledged_by} at {at}", alert=alert_json(ctx, alert))


# The ack page ---------------------------------------------------------------------------------

_PAGE_HEADERS: Final = {
    # The token is in the URL: keep it out of caches, referrers and search indexes.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

_STYLE: Final = """
body{margin:0;font-family:-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
background:#f3f4f6;color:#111;font-size:18px;line-height:1.5}
main{max-width:32rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
.card{background:#fff;border-radius:12px;padding:1rem 1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
dl{margin:0}dt{color:#555;font-size:.9rem;margin-top:.6rem}dd{margin:0;font-weight:600;word-break:break-word}
.banner{border-radius:12px;padding:1rem 1.25rem;margin-bottom:1rem;font-weight:600}
.ok{background:#dcfce7;color:#14532d}.warn{background:#fef3c7;color:#78350f}.bad{background:#fee2e2;color:#7f1d1d}
.open{background:#fee2e2;color:#7f1d1d}
button{display:block;width:100%;margin-top:1.25rem;padding:1.1rem;font-size:1.35rem;font-weight:700;color:#fff;
background:#b91c1c;border:0;border-radius:12px;cursor:pointer}
button:active{background:#7f1d1d}
p.small{color:#555;font-size:.9rem}
"""


def _page(status_code: int, heading: str, banner: str, tone: str, alert: Alert | None, ctx: ApiContext,
          *, button: bool = False, extra: Sequence[str] = ()) -> HTMLResponse:
    esc = html.escape
    rows: list[tuple[str, str]] = []
    if alert is not None:
        site = ctx.service.sites.get(alert.site)
        rows = [
            ("告警 / Alert", alert.title),
            ("地点 / Site", f"{site.name}（{site.district}）" if site is not None else alert.site),
            ("时间 / Time", wall_clock_text(rfc3339(alert.opened_at))),
            ("状态 / Status", f"{STATUS_LABELS.get(alert.status.value, alert.status.value)} / {alert.status.value}"),
        ]
    details = "".join(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in rows)
    card = f'<div class="card"><dl>{details}</dl>' if rows else '<div class="card">'
    if button:
        card += '<form method="post"><button type="submit">确认接警 / Acknowledge</button></form>'
    card += "".join(f'<p class="small">{esc(line)}</p>' for line in extra) + "</div>"
    text = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{esc(heading)}</title><style>{_STYLE}</style></head>'
        f'<body><main><h1>{esc(heading)}</h1><div class="banner {esc(tone)}">{esc(banner)}</div>{card}'
        "</main></body></html>"
    )
    return HTMLResponse(text, status_code=status_code, headers=_PAGE_HEADERS)


_CALL_CENTER: Final = "请立即致电监控中心说明情况。/ Please call the monitoring center now."


def _who(ctx: ApiContext, actor: str | None) -> str:
    """A person's name where the routing directory knows the recipient; the actor otherwise."""
    if actor is None:
        return "未知 / unknown"
    kind, _, ident = actor.partition(":")
    routing = ctx.service.routing
    if kind == "recipient" and routing is not None:
        recipient = routing.directory.by_id.get(ident)
        if recipient is not None:
            return recipient.name
    return ident if kind in ("recipient", "user") and ident else actor


def ack_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()
    service = ctx.service

    def claim_or_page(token: str) -> ack_token.AckClaim | HTMLResponse:
        links = service.ack_links
        if links is None:
            return _page(404, "确认链接未启用", "此服务器未启用确认链接 / Ack links are not enabled here.", "bad",
                         None, ctx, extra=[_CALL_CENTER])
        try:
            return ack_token.verify(links.secret, token, service.clock())
        except ack_token.ExpiredAckToken as exc:
            alert = service.get(exc.claim.alert_id)
            expired = wall_clock_text(rfc3339(exc.claim.expires_at))
            return _page(410, "链接已过期 / Link expired",
                         f"此确认链接已于 {expired} 过期，告警没有被确认。/ This link has expired; "
                         "the alert was NOT acknowledged.", "bad", alert, ctx, extra=[_CALL_CENTER])
        except ack_token.InvalidAckToken:
            return _page(403, "链接无效 / Invalid link",
                         "此确认链接无法验证（可能不完整或被修改），告警没有被确认。/ This link is not valid; "
                         "the alert was NOT acknowledged.", "bad", None, ctx,
                         extra=["请从通知中完整复制链接后重试。/ Open the link exactly as it was sent.", _CALL_CENTER])

    async def closed_alert(alert_id: str) -> Alert | None:
        try:
            return await ctx.history.read(lambda conn: alert_store.get(conn, alert_id))
        except HistoryUnavailable:
            return None

    def acknowledged_page(alert: Alert, *, just_now: bool) -> HTMLResponse:
        at = wall_clock_text(rfc3339(alert.acknowledged_at)) if alert.acknowledged_at else ""
        who = _who(ctx, alert.acknowledged_by)
        if just_now:
            return _page(200, "已确认接警 / Acknowledged",
                         f"您已于 {at} 确认接警。/ You acknowledged this alert.", "ok", alert, ctx,
                         extra=["请按应急预案处置，并保持电话畅通。/ Follow the response plan and keep your phone on."])
        return _page(200, "此告警已被确认 / Already acknowledged",
                     f"已由 {who} 于 {at} 确认接警。/ Acknowledged by {who} at {at}.", "ok", alert, ctx)

    def closed_page(alert: Alert | None) -> HTMLResponse:
        if alert is None:
            return _page(200, "告警不在处理中 / Not open",
                         "此告警当前不在待处理状态（可能已解除）。/ This alert is no longer open.", "warn", None, ctx,
                         extra=["如现场仍有险情，" + _CALL_CENTER])
        label = STATUS_LABELS.get(alert.status.value, alert.status.value)
        at = wall_clock_text(rfc3339(alert.resolved_at)) if alert.resolved_at else ""
        return _page(200, f"告警{label} / Closed",
                     f"此告警已于 {at} {label}，无需确认。/ This alert is closed ({alert.status.value}).", "warn",
                     alert, ctx, extra=["如现场仍有险情，" + _CALL_CENTER])

    @router.get("/ack/{token}", response_class=HTMLResponse)
    async def ack_page(token: str) -> HTMLResponse:
        # Never acknowledges: IM apps and mail scanners open links to preview them.
        claim = claim_or_page(token)
        if isinstance(claim, HTMLResponse):
            return claim
        alert = service.get(claim.alert_id)
        if alert is None:
            return closed_page(await closed_alert(claim.alert_id))
        if alert.status is AlertStatus.ACKNOWLEDGED:
            return acknowledged_page(alert, just_now=False)
        return _page(200, "告警 · 请确认接警", "待响应：请确认您已收到并将处置此告警。/ Please acknowledge this alert.",
                     "open", alert, ctx, button=True)

    @router.post("/ack/{token}", response_class=HTMLResponse)
    async def ack_post(token: str) -> HTMLResponse:
        claim = claim_or_page(token)
        if isinstance(claim, HTMLResponse):
            return claim
        alert = service.get(claim.alert_id)
        if alert is None:
            return closed_page(await closed_alert(claim.alert_id))
        if alert.status is AlertStatus.ACKNOWLEDGED:
            return acknowledged_page(alert, just_now=False)
        try:
            done = service.acknowledge(claim.alert_id, f"recipient:{claim.recipient}")
        except UnknownAlertError:
            return closed_page(await closed_alert(claim.alert_id))
        except IllegalTransition:
            current = service.get(claim.alert_id)
            if current is not None and current.status is AlertStatus.ACKNOWLEDGED:
                return acknowledged_page(current, just_now=False)
            return closed_page(current)
        log.info("alert %s acknowledged by recipient %s through an ack link", claim.alert_id, claim.recipient)
        return acknowledged_page(done, just_now=True)

    return router

