"""A real HTTP receiver for channel tests: `http.server` on a free port in a thread.

It records every request as received (raw body bytes, headers) and answers from a script of
`Reply`s, one per request, then 200 once the script runs out. No mock of httpx anywhere: the
webhook channel talks HTTP/1.1 over a loopback socket to this server exactly as to an agency's.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    drop: bool = False
    """Close the connection without answering (a receiver crashing mid-request)."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    """Header names lowercased; the last value wins (none of ours repeat)."""
    body: bytes
    raw_header_names: tuple[str, ...]
    received_monotonic: float


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 resets concurrent connects


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self._requests: list[Request] = []
        self._stopping = threading.Event()
        self._active = 0
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hooks/relic-guard") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()  # cuts short any scripted delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._lock:
                if self._active == 0:
                    break
            time.sleep(0.01)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5  # an idle keep-alive connection does not hold a thread past the test

            def do_POST(self) -> None:
                with receiver._lock:
                    receiver._active += 1
                try:
                    self._handle()
                finally:
                    with receiver._lock:
                        receiver._active -= 1

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                request = Request(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                    raw_header_names=tuple(self.headers.keys()),
                    received_monotonic=time.monotonic(),
                )
                with receiver._lock:
                    receiver._requests.append(request)
                reply = receiver._next_reply()
                if reply.delay_s:
                    receiver._stopping.wait(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
