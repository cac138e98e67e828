"""Email channel: the alert as a mail to the recipient's address, over SMTP (CONTRACT §2).

"Other channels carry the same content": each attempt sends one `multipart/mixed` message with
    Subject: [relic-guard] 火警（已确认）：城子崖遗址 主殿 — alert.opened
        (the alert's title, which already names site and place; the site name is added when the
        title lacks it; without a title: category, severity and site, e.g. `火警告警（紧急）：曲阜孔庙`)
    Message-ID: <relic-guard.<delivery id>@<sender's domain>>   (the same on every retry)
    X-Relic-Guard-Event: <event>
    X-Relic-Guard-Delivery: <delivery id>
    Auto-Submitted: auto-generated   (RFC 3834: no vacation auto-replies to the sender)
    Importance: high, X-Priority: 1  (critical and major alerts only)
  1. text/plain; charset=utf-8: the alert for people (site, district, device, time in China
     Standard Time, status, evidence URLs, the ack link);
  2. application/json; charset=utf-8 attachment: exactly the bytes the webhook would POST
     (`webhook.encode_body`: `event`, `sent_at`, then the body), base64 so no relay rewraps them.
Non-ASCII headers are RFC 2047 encoded words; the text is UTF-8 in base64 or quoted-printable,
whichever the `email` package finds shorter. Receivers that dedupe do it by Message-ID or by
X-Relic-Guard-Delivery.

Answers (one SMTP transaction per attempt, on a fresh connection): the server's 250 to DATA is
delivered; a 4xx reply at any stage (greeting, EHLO, AUTH, MAIL, RCPT, DATA), a refused or dropped
connection and a timeout are retryable; a 5xx reply (550 mailbox unavailable, 535 bad credentials,
554 rejected) is permanent, and so is a server that lacks what the configuration requires
(STARTTLS, AUTH, SMTPUTF8), a TLS certificate that does not verify, or an address that is not one:
sending again cannot fix those, so the fallback channel takes over at once.

`timeout_s` bounds the whole attempt, connect to the DATA reply. With `starttls=True` the
connection is upgraded before anything else is said and the mail is never sent in clear text if
the server cannot upgrade; credentials, if any, are sent only after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Final
from urllib.parse import quote

import aiosmtplib

from alerts.channels.base import Delivery, DeliveryResult
from alerts.channels.webhook import (
    CHINA_STANDARD_TIME,
    DELIVERY_HEADER,
    EVENT_HEADER,
    Clock,
    encode_body,
    format_sent_at,
)
from alerts.notification import (
    CATEGORY_LABELS,
    EVENT_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    related_lines,
    wall_clock_text,
)

log = logging.getLogger(__name__)

SUBJECT_PREFIX: Final = "[relic-guard]"
MAX_REASON_CHARS: Final = 200
"""How much of a server's refusal goes into the result's status (operators see it)."""

URGENT_SEVERITIES: Final = frozenset({"critical", "major"})


class _BadAddressError(ValueError):
    pass


def _address(text: str) -> str:
    """The bare address in `text` (`关帝庙值班 <duty@example.cn>` or `duty@example.cn`)."""
    if any(ch in text for ch in "\r\n\0"):
        raise _BadAddressError(f"address {text!r} contains a line break")
    _, addr = parseaddr(text)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in addr):
        raise _BadAddressError(f"not an email address: {text!r}")
    return addr


def message_id(delivery_id: str, domain: str) -> str:
    """`<relic-guard.<id>@<domain>>`, a function of the delivery id only, valid RFC 5322 whatever the id."""
    # quote() leaves only A-Z a-z 0-9 _ . - ~ and %XX; dots go too (no `..` in a dot-atom).
    left = quote(delivery_id, safe="").replace(".", "%2E")
    return f"<relic-guard.{left}@{domain}>"


def _text(value: object) -> str:
    """A body field as one line of text; empty for absent or empty values."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def subject_for(event: str, body: Mapping[str, object]) -> str:
    """`[relic-guard] <title>[：<site>] — <event>`, with fallbacks for a sparse alert."""
    alert = _mapping(body.get("alert"))
    site = _mapping(alert.get("site"))
    site_name = _text(site.get("name")) or _text(site.get("id"))
    title = _text(alert.get("title"))
    if not title:
        category = _text(alert.get("category"))
        severity = _text(alert.get("severity"))
        title = f"{CATEGORY_LABELS.get(category, category)}告警"
        if severity:
            title += f"（{SEVERITY_LABELS.get(severity, severity)}）"
    if site_name and site_name not in title:
        title += f"：{site_name}"
    return f"{SUBJECT_PREFIX} {title} — {event}"


def _cst_time(value: object) -> str:
    """An RFC 3339 time from the body shown in China Standard Time; as given when it is not one."""
    return wall_clock_text(value)


def _labelled(value: object, labels: Mapping[str, str]) -> str:
    text = _text(value)
    label = labels.get(text)
    return f"{label}（{text}）" if label else text


def text_for(event: str, delivery_id: str, sent_at: str, body: Mapping[str, object]) -> str:
    """The plain-text part: what the person receiving it needs to act, in Chinese."""
    alert = _mapping(body.get("alert"))
    site = _mapping(alert.get("site"))
    lines = [f"{EVENT_LABELS.get(event, event)}（{event}）", ""]

    def add(label: str, value: str) -> None:
        if value:
            lines.append(f"{label}：{value}")

    add("告警", _text(alert.get("title")))
    add("类别", _labelled(alert.get("category"), CATEGORY_LABELS))
    add("级别", _labelled(alert.get("severity"), SEVERITY_LABELS))
    add("状态", _labelled(alert.get("status"), STATUS_LABELS))
    add("文物点", _text(site.get("name")) or _text(site.get("id")))
    add("区县", _text(site.get("district")))
    add("保护级别", _text(site.get("level")))
    lat, lon = site.get("lat"), site.get("lon")
    if lat is not None and lon is not None:
        add("坐标", f"{lat}, {lon}")
    add("设备", _text(alert.get("device")))
    add("发生时间", _cst_time(alert.get("opened_at")))
    evidence = alert.get("evidence")
    if isinstance(evidence, list) and evidence:
        lines.append("证据：")
        for item in evidence:
            entry = _mapping(item)
            url = _text(entry.get("url"))
            if url:
                kind = _text(entry.get("kind"))
                lines.append(f"  - {kind}：{url}" if kind else f"  - {url}")
    ack_url = _text(alert.get("ack_url"))
    if ack_url:
        lines += ["", f"确认接警（手机可直接打开）：{ack_url}"]
    related = related_lines(body)
    if related:
        lines += ["", *related]
    lines += [
        "",
        "--",
        f"告警编号：{_text(alert.get('id'))}" if alert.get("id") else "告警编号：（未提供）",
        f"发送时间：{_cst_time(sent_at)}",
        f"投递编号：{delivery_id}",
        "本邮件由 relic-guard 自动发送，请勿直接回复；完整数据见附件 JSON。",
    ]
    return "\n".join(lines) + "\n"


def build_message(delivery: Delivery, *, sender: str, sent_at: datetime) -> EmailMessage:
    """The mail for one attempt. Raises TypeError/ValueError for a body JSON cannot carry and
    `_BadAddressError` for a target that is not an address."""
    recipient = _address(delivery.target)
    domain = _address(sender).rpartition("@")[2]
    stamp = format_sent_at(sent_at)
    raw = encode_body(delivery.event, stamp, delivery.body)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject_for(delivery.event, delivery.body)
    msg["Date"] = format_datetime(sent_at.astimezone(CHINA_STANDARD_TIME))
    msg["Message-ID"] = message_id(delivery.delivery_id, domain)
    msg[EVENT_HEADER] = delivery.event
    msg[DELIVERY_HEADER] = delivery.delivery_id
    msg["Auto-Submitted"] = "auto-generated"
    severity = _text(_mapping(delivery.body.get("alert")).get("severity"))
    if severity in URGENT_SEVERITIES:
        msg["Importance"] = "high"
        msg["X-Priority"] = "1 (Highest)"
    msg.set_content(text_for(delivery.event, delivery.delivery_id, stamp, delivery.body), charset="utf-8")
    msg.add_attachment(
        raw,
        maintype="application",
        subtype="json",
        filename="relic-guard-alert.json",
        params={"charset": "utf-8"},
    )
    return msg


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_REASON_CHARS else flat[: MAX_REASON_CHARS - 1] + "…"


def _reply_result(code: int, message: str, attempt: int, stage: str = "") -> DeliveryResult:
    """A refusal with an SMTP reply code: 4xx retryable, anything else (5xx) permanent."""
    where = f" ({stage})" if stage else ""
    return DeliveryResult(
        delivered=False,
        status=_one_line(f"{code} {message}") + where,
        attempt=attempt,
        retryable=400 <= code < 500,
        status_code=code,
    )


class EmailChannel:
    """Sends each delivery as one mail to `delivery.target` through one SMTP server (the relay).

    One connection per attempt (alerts are rare; a pooled SMTP session would need keep-alive
    NOOPs and reconnect logic for nothing). `tls_context` overrides the default (system CAs,
    hostname checked) for STARTTLS; `local_hostname` is the EHLO name (default: the host's FQDN,
    looked up on each attempt in a thread, so set it where DNS is slow).
    """

    name: Final = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        starttls: bool,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float,
        clock: Clock,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self._envelope_sender = _address(sender)
        self._host = host
        self._port = port
        self._sender = sender
        self._starttls = starttls
        self._username = username
        self._password = password
        self._timeout_s = timeout_s
        self._clock = clock
        self._local_hostname = local_hostname
        self._tls_context = tls_context

    def __repr__(self) -> str:
        auth = f", username={self._username!r}, password=***" if self._username is not None else ""
        return (
            f"EmailChannel({self._host!r}, {self._port}, sender={self._sender!r}, "
            f"starttls={self._starttls}{auth}, timeout_s={self._timeout_s:g})"
        )

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        attempt = delivery.attempt
        try:
            message = build_message(delivery, sender=self._sender, sent_at=self._clock())
        except _BadAddressError as exc:
            return DeliveryResult(delivered=False, status=f"bad address: {exc}", attempt=attempt, retryable=False)
        except (TypeError, ValueError) as exc:
            return DeliveryResult(delivered=False, status=f"body not JSON: {exc}", attempt=attempt, retryable=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._starttls,
            use_tls=False,
            timeout=self._timeout_s,
            local_hostname=self._local_hostname,
            tls_context=self._tls_context,
        )
        try:
            result = await self._transact(client, message, _address(delivery.target), attempt, deadline)
            if client.is_connected and result.status_code is not None:
                # Say goodbye within what is left of the budget; the outcome is settled either way.
                with contextlib.suppress(TimeoutError, aiosmtplib.SMTPException, OSError):
                    async with asyncio.timeout_at(deadline):
                        await client.quit()
            return result
        finally:
            # Not `async with client`: its exit sends QUIT and waits for the answer even after a
            # timeout, so a stalled server would hold the attempt for another `timeout_s`.
            client.close()
            await asyncio.sleep(0)  # the transport closes its socket on the next loop turn: let it

    async def _transact(
        self, client: aiosmtplib.SMTP, message: EmailMessage, recipient: str, attempt: int, deadline: float
    ) -> DeliveryResult:
        """Connect (STARTTLS, AUTH as configured), MAIL, RCPT, DATA; the result, never a server's exception."""
        try:
            async with asyncio.timeout_at(deadline):
                await client.connect()
                _, reply = await client.send_message(message, sender=self._envelope_sender, recipients=[recipient])
        except TimeoutError as exc:  # asyncio.timeout's, and aiosmtplib's SMTPTimeoutError
            detail = f" ({type(exc).__name__})" if isinstance(exc, aiosmtplib.SMTPException) else ""
            return DeliveryResult(
                delivered=False,
                status=f"timed out after {self._timeout_s:g} s{detail}",
                attempt=attempt,
                retryable=True,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusals = exc.recipients or []
            if not refusals:
                return DeliveryResult(delivered=False, status="recipient refused", attempt=attempt, retryable=True)
            first = refusals[0]
            return _reply_result(first.code, first.message, attempt, "RCPT")
        except aiosmtplib.SMTPResponseException as exc:
            return _reply_result(exc.code, exc.message, attempt, _stage(exc))
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected) as exc:
            return DeliveryResult(
                delivered=False, status=_one_line(f"connection error: {exc.message}"), attempt=attempt, retryable=True
            )
        except aiosmtplib.SMTPException as exc:
            # STARTTLS or AUTH required by our configuration but not offered, SMTPUTF8 missing
            # for a non-ASCII address: the configuration or the server must change first.
            return DeliveryResult(
                delivered=False, status=_one_line(f"not supported: {exc.message}"), attempt=attempt, retryable=False
            )
        except ssl.SSLCertVerificationError as exc:
            return DeliveryResult(
                delivered=False,
                status=_one_line(f"TLS certificate not trusted: {exc.verify_message or exc}"),
                attempt=attempt,
                retryable=False,
            )
        except OSError as exc:  # refused, reset, unreachable, TLS handshake cut short
            return DeliveryResult(
                delivered=False, status=_one_line(f"connection error: {exc}"), attempt=attempt, retryable=True
            )
        except ValueError as exc:  # aiosmtplib's "address can't be safely sent"
            return DeliveryResult(
                delivered=False, status=_one_line(f"bad address: {exc}"), attempt=attempt, retryable=False
            )
        return DeliveryResult(
            delivered=True, status=_one_line(f"250 {reply}"), attempt=attempt, retryable=False, status_code=250
        )


def _stage(exc: aiosmtplib.SMTPResponseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return "greeting"
    if isinstance(exc, aiosmtplib.SMTPHeloError):
        return "EHLO"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return "AUTH"
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return "MAIL FROM"
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return "DATA"
    return ""


def parse_json_part(message: EmailMessage) -> Mapping[str, object]:
    """The receiver's side: the JSON body carried by a mail this channel sent."""
    for part in message.walk():
        if part.get_content_type() == "application/json":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                document = json.loads(payload.decode("utf-8"))
                if isinstance(document, dict):
                    return document
    raise ValueError("no application/json part")
