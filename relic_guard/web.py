"""HTTP probes and metrics: `/healthz`, `/readyz`, `/metrics` (CONTRACT §3), and, when the
daemon hands over its alert service, the alert API under `/api` and the ack page under `/ack`
(relic_guard.alerting.api); evidence snapshots under `/evidence/<sha256>.jpg`.

`/readyz` answers 200 only while the broker and the database are both reachable,
and says which one is not in its JSON body otherwise, so an orchestrator and a
person reading the response learn the same thing. The probes need no token.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import psycopg
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

if TYPE_CHECKING:
    from pathlib import Path

    from relic_guard.alerting.channels import ChannelSet
    from relic_guard.alerting.service import AlertService
    from relic_guard.alerting.tokens import TokenStore
    from relic_guard.dashboard.app import DashboardDeps
    from relic_guard.evidence import EvidenceStore
    from relic_guard.registry import Registry


EVIDENCE_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    # Named by its content: it never changes, so any copy is good for a year; kept out of shared
    # caches, and no referrer carries the capability URL on to other sites.
    "Cache-Control": "private, max-age=31536000, immutable",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class ReadinessProbe:
    database_url: str | None
    broker_connected: Callable[[], bool]
    # True once every telemetry worker has its subscription confirmed by the broker.
    ingest_ready: Callable[[], bool] = lambda: True
    # Reachability is checked at most this often, so a probe storm cannot load the database.
    cache_s: float = 2.0
    _db_checked_at: float = field(default=0.0)
    _db_ok: bool = field(default=False)
    _db_error: str = field(default="not checked yet")

    async def database_ok(self) -> tuple[bool, str]:
        now = time.monotonic()
        if now - self._db_checked_at < self.cache_s:
            return self._db_ok, self._db_error
        self._db_checked_at = now
        if self.database_url is None:
            self._db_ok, self._db_error = False, "no database configured"
            return self._db_ok, self._db_error
        try:
            conn = await psycopg.AsyncConnection.connect(self.database_url, connect_timeout=2)
            async with conn:
                await conn.execute("select 1")
            self._db_ok, self._db_error = True, ""
        except psycopg.Error as exc:
            self._db_ok, self._db_error = False, str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        return self._db_ok, self._db_error


def metrics_text() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def create_app(
    probe: ReadinessProbe,
    *,
    service: AlertService | None = None,
    tokens: TokenStore | None = None,
    database_url: str | None = None,
    registry: Registry | None = None,
    channels: ChannelSet | None = None,
    dashboard: DashboardDeps | None = None,
    draw_pool_file: Path | None = None,
    evidence: EvidenceStore | None = None,
) -> FastAPI:
    """The probes; with `service`, also the alert API and the ack page. `tokens` None: no
    token is valid (every API call answers 401 saying so). `database_url` None: the probe's.
    `draw_pool_file`: the 双随机 draws' pool ([inspections] pool_file) the API draws from.
    `evidence`: the snapshot folder served under /evidence ([video] evidence_dir)."""
    app = FastAPI(title="relic-guard", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        db_ok, db_error = await probe.database_ok()
        broker_ok = probe.broker_connected()
        ingest_ok = probe.ingest_ready()
        body = {
            "ready": db_ok and broker_ok and ingest_ok,
            "broker": "ok" if broker_ok else "alarm lane not connected",
            "ingest": "ok" if ingest_ok else "telemetry workers not all subscribed yet",
            "database": "ok" if db_ok else f"unreachable: {db_error}",
        }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)

    if evidence is not None:
        store = evidence

        # No login: the SHA-256 in the URL is the capability (alerts carry it to people without an
        # account), and it cannot be guessed or listed. The content never changes under its name.
        @app.get("/evidence/{name}")
        async def evidence_snapshot(name: str) -> Response:
            digest, dot, extension = name.partition(".")
            path = store.path_of(digest) if dot and extension == "jpg" else None
            if path is None:
                return Response("no such snapshot\n", status_code=404, media_type="text/plain",
                                headers={"X-Content-Type-Options": "nosniff"})
            return FileResponse(path, media_type="image/jpeg", headers=EVIDENCE_HEADERS)

    if service is not None:
        from relic_guard.alerting.api import ApiContext, History, mount
        from relic_guard.alerting.tokens import TokenStore
        from relic_guard.api_routers import api_routers

        session_principal = None
        if dashboard is not None:
            from relic_guard.dashboard.app import make_api_principal, mount_dashboard

            mount_dashboard(app, dashboard)
            session_principal = make_api_principal(dashboard.sessions)
        mount(app, ApiContext(
            service=service,
            tokens=tokens if tokens is not None else TokenStore(()),
            history=History(database_url if database_url is not None else probe.database_url),
            devices=registry.devices if registry is not None else {},
            channels=channels,
            session_principal=session_principal,
            draw_pool_file=draw_pool_file,
        ), routers=api_routers())
    return app
