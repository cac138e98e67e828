"""The live alert queue's fan-out: per-screen delivery latency with 1, 50 and 200 SSE screens.

    python bench/dashboard_sse.py [--screens 1,50,200] [--rate 20] [--seconds 10] [--clients 2]

Server: a process of its own running uvicorn (h11, as the daemon does) with `GET /events` of a
`LiveFeed` over a real `AlertService` (one site, `--devices` smoke detectors in zones of their
own, no routing: nothing is sent), and a driver that makes `--rate` alert changes per second for
`--seconds`, on the server's event loop as the alarm lane does. Each change is one of a cycle per
detector: a fire alarm opens an alert, an operator acknowledges it, then closes it as a false
alarm; so a screen sees opened, acknowledged, closed, and the open list stays short.

Screens: `--clients` processes (httpx, one connection per screen), every screen an operator who
sees every site, so every screen must receive every change. A screen counts once it has its
snapshot; the changes start when all are connected.

Latency: from just before the driver hands the change to the alert service to the screen having
read the whole frame, both on CLOCK_MONOTONIC, which Linux shares between processes. The server
writes down the instant of each change's SSE id (one id per change, the same on every screen),
so deliveries are matched across processes by id.

Each condition runs in the same server, one after the other; 1 screen is the baseline, and the
ratios are to it. Screens and the server share this machine's CPUs: with few cores the clients'
parsing competes with the server, so the figures are an upper bound on the server's own cost.

"Keeps up": every screen received every change, no screen was resynced (fell `--queue` frames
behind), and p99 below `TARGET_P99_MS`. Exit status 0 when the 50-screen condition (or every
condition of at least 50 screens) keeps up, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import FastAPI, Header, HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.rules.common import EngineSettings, RuleContext
from relic_guard.alerting.service import AlertService
from relic_guard.alerting.tokens import Principal, Role, TokenStore
from relic_guard.dashboard.live import LiveFeed, router
from relic_guard.registry import Device, Site
from sensors.model import Event, Source

TARGET_P99_MS = 1000.0  # the queue screen's promise: a change is on every screen within a second
TOKEN = "bench-token"


# The server process ---------------------------------------------------------------------------


class _Discard:
    def put(self, item: object) -> None:
        pass


def stamped(app: ASGIApp, written: dict[int, list[float]]) -> ASGIApp:
    """`app`, noting when each alert frame was handed to the connection (one chunk per frame):
    the server's share of the latency, apart from the screens' reading."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        async def timed(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body":
                body: bytes = message.get("body", b"")
                if body.startswith(b"id: "):
                    written.setdefault(int(body[4:body.index(b"\n")]), []).append(time.monotonic())

        await app(scope, receive, timed)

    return asgi


def server_main(sock: socket.socket, devices: int, queue_size: int, conn: Connection) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_serve(sock, devices, queue_size, conn))


async def _serve(sock: socket.socket, devices: int, queue_size: int, conn: Connection) -> None:
    site = Site(id="bench", name="压测遗址", district="章丘区", level="national", kind="古遗址")
    detectors = [Device(site="bench", id=f"d{i:03d}", source=Source.FIRE, kind="smoke", zone=f"区{i:03d}")
                 for i in range(devices)]
    ctx = RuleContext(sites={"bench": site}, devices={(d.site, d.id): d for d in detectors},
                      settings=EngineSettings())
    service = AlertService(ctx=ctx, sites={"bench": site}, routing=None, journal=_Discard(), dispatcher=None,
                           ack_links=None)
    feed = LiveFeed(service, queue_size=queue_size)
    tokens = TokenStore.of({TOKEN: Principal("bench", Role.OPERATOR, None)})

    async def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        found = tokens.lookup((authorization or "").removeprefix("Bearer ").strip())
        if found is None:
            raise HTTPException(401, "bearer token required")
        return found

    app = FastAPI()
    app.include_router(router(feed, principal))
    written: dict[int, list[float]] = {}
    config = uvicorn.Config(stamped(app, written), http="h11", lifespan="off", log_level="error", access_log=False,
                            timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    conn.send(("ready",))

    step = 0

    def change() -> None:
        nonlocal step
        slot, phase = divmod(step, 3)
        device = detectors[slot % devices].id
        step += 1
        if phase == 0:
            now = datetime.now(UTC)
            service.on_record(Event("bench", device, Source.FIRE, "fire_alarm", now, f"{device}:{step}"))
            return
        alert = next(a for a in service.open_alerts() if a.device == device)
        if phase == 1:
            service.acknowledge(alert.id, "user:bench")
        else:
            service.resolve(alert.id, "user:bench", classification=None)

    while True:
        command = await asyncio.to_thread(conn.recv)
        if command[0] == "stop":
            break
        if command[0] == "count":
            conn.send(("count", feed.subscriber_count))
            continue
        _, rate, seconds = command
        sent: dict[int, float] = {}
        written.clear()
        loop = asyncio.get_running_loop()
        start = loop.time()
        cpu = time.process_time()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
            before = feed.last_seq
            at = time.monotonic()
            change()
            for seq in range(before + 1, feed.last_seq + 1):
                sent[seq] = at
        elapsed = loop.time() - start
        cpu = time.process_time() - cpu
        resyncs = sum(s.resyncs for s in feed.subscribers)
        await asyncio.sleep(1.0)  # the last frames on their way out
        server_ms = [(at - sent[seq]) * 1000 for seq, ats in written.items() if seq in sent for at in ats]
        conn.send(("done", sent, cpu, elapsed, resyncs, server_ms))
    feed.close()
    server.should_exit = True
    await serving


# The screens ---------------------------------------------------------------------------------------


def client_main(url: str, screens: int, kind: str, conn: Connection) -> None:
    asyncio.run(_screens(url, screens, kind, conn))


class Screen:
    """What one screen received: SSE id → the instant its frame was complete."""

    def __init__(self) -> None:
        self.got: dict[int, float] = {}
        self.snapshot = False
        self.resyncs = 0

    def block(self, lines: list[str]) -> None:
        seq = 0
        event = ""
        for line in lines:
            if line.startswith("id: "):
                seq = int(line[4:])
            elif line.startswith("event: "):
                event = line[7:]
        if event == "alert":
            self.got[seq] = time.monotonic()
        elif event == "snapshot":
            self.snapshot = True
        elif event == "resync":
            self.resyncs += 1


async def _read_httpx(url: str, screen: Screen, client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/events", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        response.raise_for_status()
        lines: list[str] = []
        async for line in response.aiter_lines():
            if line:
                lines.append(line)
            else:
                screen.block(lines)
                lines = []


async def _read_raw(url: str, screen: Screen) -> None:
    """HTTP/1.1 by hand: the server answers in chunked encoding, one chunk per SSE frame. A few
    lines of parsing per frame, so the screens' own cost weighs little next to the server's."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET /events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
            raise RuntimeError(f"unexpected answer: {head[:200]!r}")
        pending = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                return
            pending += (await reader.readexactly(size + 2))[:-2]
            while b"\n\n" in pending:
                frame, pending = pending.split(b"\n\n", 1)
                screen.block(frame.decode().split("\n"))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _screens(url: str, count: int, kind: str, conn: Connection) -> None:
    screens = [Screen() for _ in range(count)]
    limits = httpx.Limits(max_connections=count + 8, max_keepalive_connections=count + 8)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(10.0, read=None)) as client:
        tasks = [asyncio.create_task(_read_raw(url, screen) if kind == "raw" else _read_httpx(url, screen, client))
                 for screen in screens]
        while not all(screen.snapshot for screen in screens):
            failed = next((task for task in tasks if task.done()), None)
            if failed is not None:
                conn.send(("error", repr(failed.exception())))
                return
            await asyncio.sleep(0.01)
        conn.send(("ready",))
        _, expected, wait_s = await asyncio.to_thread(conn.recv)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and not all(expected <= screen.got.keys() for screen in screens):
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    conn.send(("received", [screen.got for screen in screens], [screen.resyncs for screen in screens]))


# Running one condition -------------------------------------------------------------------------------


@dataclass
class Result:
    screens: int
    events: int
    latencies_ms: list[float]
    per_screen_p99_ms: list[float]
    complete_screens: int
    missing: int
    resyncs: int
    server_cpu_s: float
    elapsed_s: float
    # Change → frame handed to the connection by the server, every (screen, change).
    written_ms: list[float]

    def pct(self, q: float) -> float:
        return pct(sorted(self.latencies_ms), q)

    @property
    def keeps_up(self) -> bool:
        return self.missing == 0 and self.resyncs == 0 and self.pct(0.99) <= TARGET_P99_MS


def pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def split(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_condition(ctx: Any, server: Connection, url: str, screens: int, clients: int, rate: float,
                  seconds: float, kind: str) -> Result:
    pipes: list[Connection] = []
    processes = []
    for count in split(screens, clients):
        mine, theirs = ctx.Pipe()
        process = ctx.Process(target=client_main, args=(url, count, kind, theirs), daemon=True)
        process.start()
        pipes.append(mine)
        processes.append(process)
    try:
        for pipe in pipes:
            if not pipe.poll(60):
                raise RuntimeError("screens did not connect within 60 s")
            answer = pipe.recv()
            if answer[0] != "ready":
                raise RuntimeError(f"a screen failed to connect: {answer[1]}")
        server.send(("run", rate, seconds))
        _, sent, cpu_s, elapsed_s, resyncs, server_ms = server.recv()
        expected = set(sent)
        for pipe in pipes:
            pipe.send(("expect", expected, 10.0))
        received: list[dict[int, float]] = []
        resynced = 0
        for pipe in pipes:
            _, got, resyncs_seen = pipe.recv()
            received += got
            resynced += sum(resyncs_seen)
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
    latencies: list[float] = []
    per_screen: list[float] = []
    missing = 0
    complete = 0
    for got in received:
        mine = sorted((got[seq] - sent[seq]) * 1000 for seq in expected if seq in got)
        missing += len(expected - got.keys())
        complete += expected <= got.keys()
        latencies += mine
        if mine:
            per_screen.append(mine[min(len(mine) - 1, int(0.99 * len(mine)))])
    return Result(screens, len(expected), latencies, per_screen, complete, missing, max(resyncs, resynced),
                  cpu_s, elapsed_s, sorted(server_ms))


@contextlib.contextmanager
def server_process(ctx: Any, devices: int, queue_size: int) -> Iterator[tuple[Connection, str]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    mine, theirs = ctx.Pipe()
    process = ctx.Process(target=server_main, args=(sock, devices, queue_size, theirs), daemon=True)
    process.start()
    sock.close()  # the server process has its own copy
    try:
        if not mine.poll(60):
            raise RuntimeError("the server did not start within 60 s")
        mine.recv()
        yield mine, f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(OSError):
            mine.send(("stop",))
        process.join(15)
        if process.is_alive():
            process.kill()
            process.join()


def report(result: Result, baseline: Result | None) -> None:
    p50, p99 = result.pct(0.5), result.pct(0.99)
    print(f"{result.screens:>4} screens: {result.events} changes in {result.elapsed_s:.1f} s → "
          f"{len(result.latencies_ms):,} deliveries; p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
          f"max {max(result.latencies_ms, default=float('nan')):.2f} ms")
    print(f"      of which the server, to handing each frame to its connection: p50 {pct(result.written_ms, 0.5):.2f} "
          f"ms  p99 {pct(result.written_ms, 0.99):.2f} ms ({len(result.written_ms):,} frames)")
    worst = max(result.per_screen_p99_ms, default=float("nan"))
    median = statistics.median(result.per_screen_p99_ms) if result.per_screen_p99_ms else float("nan")
    print(f"      per-screen p99: median {median:.2f} ms, worst {worst:.2f} ms; "
          f"screens with every change {result.complete_screens}/{result.screens}, missing {result.missing}, "
          f"resyncs {result.resyncs}")
    cpu_share = result.server_cpu_s / result.elapsed_s * 100 if result.elapsed_s else float("nan")
    per_delivery = result.server_cpu_s / len(result.latencies_ms) * 1e6 if result.latencies_ms else float("nan")
    print(f"      server process CPU (engine, feed, HTTP) {result.server_cpu_s:.2f} s ({cpu_share:.0f} % of one core), "
          f"{per_delivery:.0f} µs per delivery")
    if baseline is not None and baseline.latencies_ms:
        print(f"      vs 1 screen: p50 ×{p50 / baseline.pct(0.5):.1f}  p99 ×{p99 / baseline.pct(0.99):.1f}  "
              f"server CPU ×{result.server_cpu_s / baseline.server_cpu_s:.1f}")
    print(f"      keeps up (every change on every screen, no resync, p99 ≤ {TARGET_P99_MS:.0f} ms): "
          f"{'yes' if result.keeps_up else 'NO'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--screens", default="1,50,200", help="comma-separated screen counts; 1 is the baseline")
    parser.add_argument("--rate", type=float, default=20.0, help="alert changes per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=max(1, min(4, (os.cpu_count() or 2) - 1)),
                        help="screen processes (screens are split between them)")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--queue", type=int, default=256, help="the feed's per-screen queue (frames)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="raw: a minimal HTTP/1.1 reader (the server's cost shows); httpx: a typical Python "
                        "consumer (its parsing shows too)")
    args = parser.parse_args()
    counts = sorted({int(item) for item in args.screens.split(",") if item.strip()} | {1})

    ctx = multiprocessing.get_context("spawn")
    print(f"SSE fan-out: {args.rate:g} alert changes/s for {args.seconds:g} s; {os.cpu_count()} CPUs, "
          f"screens ({args.client} reader) in up to {args.clients} client processes; Python {sys.version.split()[0]}; "
          f"load average {os.getloadavg()[0]:.1f}")
    results: list[Result] = []
    with server_process(ctx, args.devices, args.queue) as (server, url):
        baseline: Result | None = None
        for screens in counts:
            result = run_condition(ctx, server, url, screens, args.clients if screens > 1 else 1, args.rate,
                                   args.seconds, args.client)
            report(result, baseline if screens > 1 else None)
            if screens == 1:
                baseline = result
            results.append(result)
            # Screens have gone: the server must have dropped every subscription.
            server.send(("count",))
            _, left = server.recv()
            deadline = time.monotonic() + 5
            while left and time.monotonic() < deadline:
                time.sleep(0.1)
                server.send(("count",))
                _, left = server.recv()
            if left:
                print(f"      {left} subscriptions still open after the screens disconnected")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (figures are noisy when it exceeds the CPUs)")
    judged = [r for r in results if r.screens == 50] or [r for r in results if r.screens >= 50]
    return 0 if all(r.keeps_up for r in judged) else 1


if __name__ == "__main__":
    sys.exit(main())
