"""The stored 双随机 draws over HTTP: read by anyone signed in, drawn by supervisors.

    GET  /api/draws?year=          the stored draws, latest period first
    GET  /api/draws/{id}           one draw: inputs, result, its fire inspections, and a re-run check
    GET  /api/draws/{id}.csv       the publication as CSV (UTF-8 with BOM, as `draw run --csv` writes)
    GET  /api/draws/{id}.html      the publication as a self-contained page (一公开)
    GET  /api/draws/{id}.toml      the input as a pool file, history included: re-run it anywhere with
                                   `relic-guard draw verify --input`
    POST /api/draws {"period", "count", "seed", "per_target"}   draw from [inspections] pool_file and
                                   the database's history, store, make the fire inspections
                                   (supervisor or admin; 201, or 200 when the same draw was stored before)

Draws are public by nature (results public, 一公开): every authenticated caller may read every
draw, whatever sites their token covers. The publications are made only from a draw that re-runs
to what was stored (`draw_store.rebuild`); a row that does not is answered 409 saying what differs,
never published. The database is read and written through `ApiContext.history` (a worker thread,
503 with the reason while it is away); the pool file is `ApiContext.draw_pool_file` ([inspections]
pool_file, read at each draw, so an edited pool needs no restart; without one, drawing answers 503
saying what to set). A draw's audit entries (`draw.stored`, then `inspection.drawn` for each
inspection it made) reach the trail through the alert journal once the draw is committed, as the
other API writers' do: the daemon's audit key stays with the journal.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from alerts.notification import rfc3339
from relic_guard.alerting.api import ApiContext, ApiError, Conn, HistoryUnavailable, json_body
from relic_guard.alerting.tokens import Principal, Role
from relic_guard.audit import AuditEntry
from relic_guard.errors import ConfigError
from relic_guard.inspections.draw import DEFAULT_PER_TARGET, Draw, Period
from relic_guard.inspections.draw_io import DrawInput, draw_csv, draw_html, load_draw_input
from relic_guard.store import draw_store
from relic_guard.store.draw_store import DrawMismatch, StoredDraw, UnreadableDraw

DRAWERS: Final = frozenset({Role.SUPERVISOR, Role.ADMIN})
MAX_COUNT: Final = 100_000
MAX_PER_TARGET: Final = 50
MAX_SEED_CHARS: Final = 500
# bigint: a longer number cannot be a draw's id (and would make PostgreSQL refuse the query).
_ID: Final = re.compile(r"[1-9][0-9]{0,17}")
_STYLE: Final = re.compile(r"<style>(.*?)</style>", re.DOTALL)

Inspections = Mapping[str, tuple[str, str]]


def links(draw_id: int) -> dict[str, str]:
    base = f"/api/draws/{draw_id}"
    return {"self": base, "csv": f"{base}.csv", "html": f"{base}.html", "pool": f"{base}.toml"}


def summary_json(stored: StoredDraw) -> dict[str, object]:
    return {
        "id": stored.id,
        "period": stored.period,
        "period_start": stored.period_start.isoformat(),
        "period_end": stored.period_end.isoformat(),
        "seed": stored.seed,
        "count": stored.count,
        "per_target": stored.per_target,
        "fingerprint": stored.fingerprint,
        "drawn": len(stored.assignments),
        "drawn_at": rfc3339(stored.drawn_at),
        "drawn_by": stored.drawn_by,
        "links": links(stored.id),
    }


def draw_json(stored: StoredDraw, inspections: Inspections, problems: list[str] | None) -> dict[str, object]:
    """One draw in full. `problems` None: it could not be re-run at all (another algorithm)."""
    assignments = []
    for assignment in stored.assignments:
        made = inspections.get(str(assignment.get("target")))
        assignments.append({
            **assignment,
            "inspection": None if made is None else {"id": made[0], "status": made[1],
                                                     "page": f"/inspections/{made[0]}"},
        })
    return {
        **summary_json(stored),
        "algorithm": stored.algorithm,
        "assignments": assignments,
        "skipped": stored.skipped,
        "over_count": stored.result.get("over_count", 0),
        "short_by": stored.result.get("short_by", 0),
        "input": stored.input,
        "check": {"rerun": "impossible" if problems is None else "matches" if not problems else "differs",
                  "problems": problems or []},
    }


def publication_csp(page: str) -> str:
    """Nothing but the page's own style block (by its hash): the page has no script, image or link."""
    found = _STYLE.search(page)
    style = "'none'"
    if found is not None:
        digest = base64.b64encode(hashlib.sha256(found.group(1).encode("utf-8")).digest()).decode("ascii")
        style = f"'sha256-{digest}'"
    return f"default-src 'none'; style-src {style}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def _count(body: Mapping[str, Any], key: str, *, default: int | None, low: int, high: int) -> int:
    value = body.get(key, default)
    if value is None:
        raise ApiError(422, f"{key}: missing; give it as a whole number")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, f"{key}: must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise ApiError(422, f"{key}: must be from {low} to {high}")
    return value


def _seed(body: Mapping[str, Any]) -> str:
    value = body.get("seed")
    if value is None:
        raise ApiError(422, "seed: missing; give the published seed as a string (e.g. announced at a public drawing)")
    if not isinstance(value, str):
        raise ApiError(422, f"seed: must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ApiError(422, "seed: must not be empty")
    if len(value) > MAX_SEED_CHARS:
        raise ApiError(422, f"seed: at most {MAX_SEED_CHARS} characters")
    # Kept exactly as given: every character of the seed goes into the draw.
    return value


def _period(body: Mapping[str, Any]) -> Period:
    value = body.get("period")
    if not isinstance(value, str):
        raise ApiError(422, "period: missing or not a string; give a month 2026-12, a quarter 2026-Q4 or a "
                       "half-year 2026-H2")
    try:
        return Period.parse(value)
    except ValueError as exc:
        raise ApiError(422, f"period: {exc}") from None


def make(ctx: ApiContext, caller: Any) -> APIRouter:
    """The draws' router (`relic_guard.api_routers`)."""
    router = APIRouter(prefix="/api")
    history = ctx.history
    service = ctx.service

    def draw_id_of(text: str) -> int:
        if _ID.fullmatch(text) is None:
            raise ApiError(404, f"no draw '{text}'; draw ids are numbers (GET /api/draws lists them)")
        return int(text)

    async def read(draw_id: int) -> tuple[StoredDraw, dict[str, tuple[str, str]]]:
        def work(conn: Conn) -> tuple[StoredDraw | None, dict[str, tuple[str, str]]]:
            return draw_store.get_draw(conn, draw_id), draw_store.inspections_of(conn, [draw_id])[draw_id]

        try:
            stored, inspections = await history.read(work)
        except HistoryUnavailable as exc:
            raise ApiError(503, f"draws cannot be read now: {exc.reason}") from None
        if stored is None:
            raise ApiError(404, f"no draw '{draw_id}' (GET /api/draws lists them)")
        return stored, inspections

    async def published(text: str) -> tuple[StoredDraw, Draw]:
        stored, _ = await read(draw_id_of(text))
        try:
            return stored, await asyncio.to_thread(draw_store.rebuild, stored)
        except DrawMismatch as exc:
            raise ApiError(409, f"draw {stored.id} does not re-run to what was stored, so it is not published",
                           problems=exc.problems) from None
        except UnreadableDraw as exc:
            raise ApiError(409, str(exc)) from None

    @router.get("/draws")
    async def list_draws(year: int | None = None, who: Principal = caller) -> dict[str, object]:
        if year is not None and not 2000 <= year <= 2200:
            raise ApiError(422, "year: give a year like 2026")
        try:
            found = await history.read(lambda conn: draw_store.list_draws(conn, year))
        except HistoryUnavailable as exc:
            raise ApiError(503, f"draws cannot be read now: {exc.reason}") from None
        return {"draws": [summary_json(stored) for stored in found]}

    # The publications before `/draws/{id}`: that path would also take "7.csv".
    @router.get("/draws/{draw_ref}.csv")
    async def draw_as_csv(draw_ref: str, who: Principal = caller) -> Response:
        stored, result = await published(draw_ref)
        return Response(draw_csv(result), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="draw-{stored.id}-{stored.period}.csv"',
        })

    @router.get("/draws/{draw_ref}.html")
    async def draw_as_html(draw_ref: str, who: Principal = caller) -> Response:
        stored, result = await published(draw_ref)
        page = draw_html(result, input_name=f"draw-{stored.id}-input.toml")
        return Response(page, media_type="text/html; charset=utf-8", headers={
            "Content-Security-Policy": publication_csp(page), "X-Content-Type-Options": "nosniff",
        })

    @router.get("/draws/{draw_ref}.toml")
    async def draw_pool(draw_ref: str, who: Principal = caller) -> Response:
        stored, _ = await published(draw_ref)
        return Response(draw_store.pool_toml(stored), media_type="application/toml; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="draw-{stored.id}-input.toml"',
        })

    @router.get("/draws/{draw_ref}")
    async def get_draw(draw_ref: str, who: Principal = caller) -> dict[str, object]:
        stored, inspections = await read(draw_id_of(draw_ref))
        try:
            problems: list[str] | None = list((await asyncio.to_thread(draw_store.check, stored)).problems)
        except UnreadableDraw:
            problems = None
        return draw_json(stored, inspections, problems)

    @router.post("/draws")
    async def make_draw(request: Request, who: Principal = caller) -> JSONResponse:
        if who.role not in DRAWERS:
            raise ApiError(403, f"a {who.role.value} may read draws but not make them; a supervisor or an "
                           "administrator draws")
        body = await json_body(request)
        period = _period(body)
        count = _count(body, "count", default=None, low=0, high=MAX_COUNT)
        per_target = _count(body, "per_target", default=DEFAULT_PER_TARGET, low=1, high=MAX_PER_TARGET)
        seed = _seed(body)
        pool_file = ctx.draw_pool_file
        if pool_file is None:
            raise ApiError(503, "no pool to draw from: set [inspections] pool_file in the configuration "
                           "(see config/inspections.example.toml)")
        pool = await _pool(pool_file)
        now = service.clock()
        deferred: list[AuditEntry] = []

        def work(conn: Conn) -> tuple[draw_store.StoredOutcome, StoredDraw | None, dict[str, tuple[str, str]]]:
            outcome = draw_store.draw_and_store(conn, pool, period=period, count=count, seed=seed,
                                                per_target=per_target, by=who.actor, now=now, audit_key=None,
                                                deferred=deferred)
            return outcome, draw_store.get_draw(conn, outcome.id), draw_store.inspections_of(conn, [outcome.id])[
                outcome.id]

        try:
            outcome, stored, inspections = await history.read(work)
        except HistoryUnavailable as exc:
            raise ApiError(503, f"the draw was not stored: {exc.reason}") from None
        except DrawMismatch as exc:
            raise ApiError(409, str(exc), problems=exc.problems) from None
        # Committed: its audit entries go to the trail through the journal, in order.
        for entry in deferred:
            service.journal.put(entry)
        assert stored is not None  # committed in this very call, or found by it
        body_out = {**draw_json(stored, inspections, []), "created": outcome.created}
        return JSONResponse(body_out, status_code=201 if outcome.created else 200)

    return router


async def _pool(path: Path) -> DrawInput:
    try:
        return await asyncio.to_thread(load_draw_input, path)
    except ConfigError as exc:
        raise ApiError(503, f"the pool file {path} is not valid; fix it and draw again", problems=exc.problems) \
            from None
