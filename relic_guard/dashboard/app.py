"""The dashboard mounted on the daemon's FastAPI app: login, pages, static files.

    mount_dashboard(app, deps)   login/logout/language, then every page module's router

Pages are rendered on the server (Jinja2, autoescaped); the only scripts are the package's own
static files (`static/`), and the Content-Security-Policy allows nothing else: no CDN, no inline
script, so the center works without internet and an injected site name cannot run code.

Who is who: a session cookie (`Sessions`), looked up per request; a page that needs a user raises
`LoginRequired`, answered by a redirect to /login (or 401 for scripts). Every POST from a page
carries the session's CSRF token (form field `csrf` or header `X-CSRF-Token`). The API accepts the
same session (with the CSRF header on POST), so the pages' buttons call the API's endpoints.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import psycopg
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from relic_guard.alerting.service import AlertService
from relic_guard.alerting.tokens import Principal
from relic_guard.dashboard import i18n
from relic_guard.dashboard.live import LiveFeed
from relic_guard.dashboard.live import router as live_router
from relic_guard.dashboard.users import LoginThrottle, Session, Sessions, WebUser, utc_now
from relic_guard.registry import Registry

COOKIE: Final = "rg_session"
LANG_COOKIE: Final = "rg_lang"
HERE: Final = Path(__file__).parent
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class LoginRequired(Exception):  # noqa: N818 (reads as the situation it names)
    """The request needs a logged-in user; answered with a redirect to the login page."""


class CsrfRejected(Exception):  # noqa: N818
    """A POST without the session's CSRF token."""


@dataclass
class DashboardDeps:
    service: AlertService
    registry: Registry
    sessions: Sessions
    database_url: str
    secure_cookies: bool = False
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Extra page routers (each a function of the deps and the templates), in order.
    pages: list[Callable[[DashboardDeps, Templates], APIRouter]] = field(default_factory=list)
    # The live queue's feed (Server-Sent Events), made by `mount_dashboard`; closed at shutdown.
    live: LiveFeed | None = None


class Templates:
    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["t"] = i18n.t
        self.env.globals["local_time"] = i18n.local_time

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        session: Session | None = getattr(request.state, "session", None)
        user = session.user if session is not None else None
        lang = i18n.pick_lang(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"),
                              user.lang if user is not None else None)
        html = self.env.get_template(name).render(
            request=request, user=user, lang=lang, csrf=session.csrf if session is not None else "",
            path=request.url.path, **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


PAGE_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def lang_of(request: Request) -> str:
    session: Session | None = getattr(request.state, "session", None)
    return i18n.pick_lang(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"),
                          session.user.lang if session is not None else None)


async def session_of(request: Request, sessions: Sessions) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    session = await asyncio.to_thread(sessions.get, token, utc_now())
    if session is not None:
        request.state.session = session
    return session


def make_current_user(sessions: Sessions) -> Callable[[Request], Any]:
    async def current_user(request: Request) -> WebUser:
        session = await session_of(request, sessions)
        if session is None:
            raise LoginRequired()
        return session.user

    return current_user


def check_csrf(request: Request, presented: str | None) -> None:
    session: Session | None = getattr(request.state, "session", None)
    if session is None or not presented or not hmac.compare_digest(session.csrf, presented):
        raise CsrfRejected()


def make_api_principal(sessions: Sessions) -> Callable[[Request], Any]:
    """For the API: the session's caller, with the CSRF header required on anything but GET."""

    async def api_principal(request: Request) -> Principal | None:
        session = await session_of(request, sessions)
        if session is None:
            return None
        if request.method not in ("GET", "HEAD"):
            check_csrf(request, request.headers.get("x-csrf-token"))
        return session.user.principal

    return api_principal


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no host: no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def mount_dashboard(app: FastAPI, deps: DashboardDeps) -> Templates:
    templates = Templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    async def login_required(request: Request, exc: Exception) -> Response:
        wants_html = "text/html" in request.headers.get("accept", "")
        if wants_html and request.method == "GET":
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return JSONResponse({"error": "login required: log in at /login"}, status_code=401)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": i18n.t("error.csrf", lang_of(request))}, status_code=403)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)

    router = APIRouter()

    @router.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
        await session_of(request, deps.sessions)  # a logged-in visitor sees who they are
        return templates.render(request, "login.html", next=_safe_next(next), error=None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(
        request: Request, login: str = Form(""), password: str = Form(""), next: str = Form("/"),
    ) -> Response:
        lang = lang_of(request)
        now = utc_now()
        address = request.client.host if request.client is not None else "?"
        keys = [f"login:{login.strip().lower()}", f"addr:{address}"]
        wait = deps.throttle.wait_s(keys, now)
        if wait > 0:
            return templates.render(request, "login.html", status_code=429, next=_safe_next(next),
                                    error=i18n.t("login.throttled", lang).format(s=int(wait) + 1))
        try:
            made = await asyncio.to_thread(deps.sessions.login, login.strip(), password, now)
        except psycopg.OperationalError:
            return templates.render(request, "login.html", status_code=503, next=_safe_next(next),
                                    error=i18n.t("login.db_down", lang))
        if made is None:
            deps.throttle.failed(keys, now)
            return templates.render(request, "login.html", status_code=401, next=_safe_next(next),
                                    error=i18n.t("login.failed", lang))
        deps.throttle.succeeded(keys[0])
        token, session = made
        target = _safe_next(next)
        if target == "/":
            target = home_of(session.user)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=deps.secure_cookies,
                            max_age=int(deps.sessions.ttl.total_seconds()), path="/")
        return response

    @router.post("/logout")
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        await session_of(request, deps.sessions)
        check_csrf(request, csrf)
        token = request.cookies.get(COOKIE)
        if token:
            await asyncio.to_thread(deps.sessions.logout, token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/lang/{lang}")
    async def switch_lang(request: Request, lang: str, next: str | None = None) -> Response:
        response = RedirectResponse(_safe_next(next), status_code=303)
        if lang in i18n.LANGS:
            response.set_cookie(LANG_COOKIE, lang, samesite="lax", max_age=365 * 86400, path="/")
        return response

    current_user = make_current_user(deps.sessions)

    @router.get("/")
    async def home(request: Request) -> Response:
        user = await current_user(request)
        return RedirectResponse(home_of(user), status_code=303)

    app.include_router(router)
    deps.live = LiveFeed(deps.service)
    app.include_router(live_router(deps.live, make_api_principal(deps.sessions)))
    for page in deps.pages:
        app.include_router(page(deps, templates))
    return templates


def home_of(user: WebUser) -> str:
    """Custodians live on their phones; everyone else on the queue."""
    return "/m" if user.role.value == "custodian" else "/queue"


def visible_sites(user: WebUser, sites: Mapping[str, Any]) -> list[str]:
    return [site_id for site_id in sites if user.can_see(site_id)]
