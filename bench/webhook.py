"""Time one webhook delivery end to end on loopback: encode, sign, POST, answer.

    python bench/webhook.py [--n 2000] [--concurrency 1]

Latency is measured from `deliver()` being called to the receiver having the request
(its arrival stamp), and to `deliver()` returning; p50/p99 in ms. This is the channel's share
of the alarm latency budget (fire alarm published → webhook received, p99 ≤ 50 ms); the receiver is
a plain `http.server` thread, so the numbers are an upper bound on the channel's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from alerts.channels.base import Delivery
from alerts.channels.webhook import WebhookChannel

BODY: dict[str, object] = {
    "alert": {
        "id": "a-20261127-0001",
        "status": "open",
        "category": "fire",
        "severity": "critical",
        "title": "大成殿 烟感报警（未确认）",
        "opened_at": "2026-11-27T10:00:00.012+08:00",
        "site": {"id": "qufu-kongmiao", "name": "曲阜孔庙", "district": "曲阜市", "level": "世界文化遗产"},
        "device": "fire-panel-01",
        "evidence": [],
        "ack_url": "https://relic.example/ack/xyz",
    }
}

arrivals: dict[str, float] = {}


class Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default backlog of 5 resets concurrent connects


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        arrivals[self.headers["X-Relic-Guard-Delivery"]] = time.perf_counter()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(n: int, concurrency: int, url: str) -> None:
    async with httpx.AsyncClient() as client:
        channel = WebhookChannel(client, timeout_s=5.0)
        to_receiver: list[float] = []
        round_trip: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            delivery = Delivery(
                delivery_id=f"d-{i}", event="alert.opened", recipient="bench", target=url, secret=b"s", body=BODY
            )
            async with gate:
                started = time.perf_counter()
                result = await channel.deliver(delivery)
                done = time.perf_counter()
            assert result.delivered, result
            to_receiver.append(arrivals[delivery.delivery_id] - started)
            round_trip.append(done - started)

        for i in range(50):  # warm the pool
            await one(-1 - i)
        to_receiver.clear()
        round_trip.clear()
        wall = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - wall
    print(f"{n} deliveries, concurrency {concurrency}: {n / wall:,.0f}/s")
    print(f"  call → received: p50 {pct(to_receiver, 0.5):.2f} ms  p99 {pct(to_receiver, 0.99):.2f} ms")
    print(f"  call → returned: p50 {pct(round_trip, 0.5):.2f} ms  p99 {pct(round_trip, 0.99):.2f} ms")
    print(f"  mean round trip {statistics.fmean(round_trip) * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        asyncio.run(run(args.n, args.concurrency, f"http://127.0.0.1:{server.server_address[1]}/hook"))
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
