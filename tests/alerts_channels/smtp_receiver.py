"""A real SMTP server for channel tests: aiosmtpd on a free loopback port, in its own thread.

It records every message that reached DATA (raw bytes, envelope) and answers from a script of
`SmtpReply`s: a reply for the `rcpt` stage answers RCPT TO (the mail never arrives), one for the
`data` stage answers after the whole message was received (and recorded, like a server whose
content filter refuses), optionally after a delay. Once the script runs out, 250. `tls_context` makes it
offer (and require) STARTTLS. `down()` and
`up()` stop and restart the server on the same port (a relay being restarted).
No mock of aiosmtplib anywhere: the email channel talks SMTP over a socket to this server.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from relic_guard.embedded import free_port

SERVER_HOSTNAME = "mx.relic-guard.test"


@dataclass(frozen=True)
class SmtpReply:
    code: int = 250
    message: str = "OK"
    stage: Literal["rcpt", "data"] = "data"
    delay_s: float = 0.0

    @property
    def line(self) -> str:
        return f"{self.code} {self.message}"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None
    received_monotonic: float

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


class SmtpReceiver:
    def __init__(
        self, *, credentials: tuple[str, str] | None = None, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self._tls_context = tls_context
        self._lock = threading.Lock()
        self._script: deque[SmtpReply] = deque()
        self._mails: list[ReceivedMail] = []
        self._stopping = threading.Event()
        self._credentials = credentials
        self.port = free_port()
        self.host = "127.0.0.1"
        self._controller: Controller | None = None

    def script(self, *replies: SmtpReply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def mails(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._mails)

    def up(self) -> None:
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {}
        if self._credentials is not None:
            # Loopback only, and the point is to see the channel log in: no TLS needed here.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self._tls_context is not None:
            kwargs.update(tls_context=self._tls_context, require_starttls=True)
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname=SERVER_HOSTNAME,
            ready_timeout=5.0,
            **kwargs,
        )
        controller.start()
        self._stopping.clear()
        self._controller = controller

    def down(self) -> None:
        if self._controller is None:
            return
        self._stopping.set()  # cuts short any scripted delay
        self._controller.stop()
        self._controller = None

    def __enter__(self) -> SmtpReceiver:
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    def _next(self, stage: str) -> SmtpReply | None:
        with self._lock:
            if self._script and self._script[0].stage == stage:
                return self._script.popleft()
            return None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self._credentials is not None:
            user, password = self._credentials
            if auth_data.login.decode() == user and auth_data.password.decode() == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    async def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stopping.is_set():
            await asyncio.sleep(0.02)


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.receiver._next("rcpt")
        if reply is not None:
            await self.receiver._pause(reply.delay_s)
            if reply.code >= 300:
                return reply.line
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8")
        login = session.auth_data if isinstance(session.auth_data, str) else None
        mail = ReceivedMail(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            login=login,
            received_monotonic=time.monotonic(),
        )
        with self.receiver._lock:
            self.receiver._mails.append(mail)
        reply = self.receiver._next("data")
        if reply is None:
            return "250 OK: queued"
        await self.receiver._pause(reply.delay_s)
        return reply.line
