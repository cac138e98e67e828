"""The live feed served by uvicorn on a free port, in the test's own event loop, over a real AlertService.

httpx's ASGITransport hands a response over only once the app has finished it, so an endless
SSE stream needs a real server; running it in the test's loop keeps the alert service, the
feed and the server on one loop, as in the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Header, HTTPException

from relic_guard.alerting.tokens import Principal, TokenStore
from relic_guard.dashboard.live import LiveFeed, router
from tests.alerting_api.conftest import TOKENS, World, make_world


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signal handlers alone (pytest's are in place)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bearer(tokens: TokenStore) -> Callable[..., Awaitable[Principal]]:
    """The dependency the dashboard's session cookie stands for here: a bearer token."""

    async def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        scheme, _, presented = (authorization or "").partition(" ")
        found = tokens.lookup(presented.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        return found

    return principal


def live_app(feed: LiveFeed) -> FastAPI:
    app = FastAPI()
    app.include_router(router(feed, bearer(TokenStore.of(TOKENS))))
    return app


@dataclass
class Live:
    world: World
    feed: LiveFeed
    url: str


@contextlib.asynccontextmanager
async def serve(world: World, *, app: Callable[[LiveFeed], FastAPI] = live_app,
                **feed_options: Any) -> AsyncIterator[Live]:
    feed = LiveFeed(world.service, **feed_options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app(feed), log_level="warning", lifespan="off", http="h11",
                            timeout_graceful_shutdown=5)
    server = QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield Live(world, feed, f"http://127.0.0.1:{port}")
    finally:
        feed.close()
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
async def live(world: World) -> AsyncIterator[Live]:
    async with serve(world) as running:
        yield running


@dataclass
class SseEvent:
    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    def json(self) -> Any:
        return json.loads("\n".join(self.data))


class SseReader:
    """Blocks of an SSE response, split at blank lines, as a browser's EventSource reads them."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 5.0) -> SseEvent:
        block = SseEvent()
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    return block
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    block.comments.append(value)
                elif name == "id":
                    block.id = value
                elif name == "event":
                    block.event = value
                elif name == "data":
                    block.data.append(value)
                elif name == "retry":
                    block.retry = int(value)
        raise EOFError("the stream ended")

    async def next_event(self, timeout: float = 5.0) -> SseEvent:
        """The next block that is an event (skipping heartbeat comments and the `retry` block)."""
        while True:
            block = await self.next(timeout)
            if block.event is not None:
                return block


@contextlib.asynccontextmanager
async def screen(client: httpx.AsyncClient, token: str, **headers: str) -> AsyncIterator[SseReader]:
    """A connected screen, its snapshot not yet read."""
    async with client.stream("GET", "/events", headers={"Authorization": f"Bearer {token}", **headers}) as response:
        assert response.status_code == 200, response.status_code
        yield SseReader(response)


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
