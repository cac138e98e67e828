"""The notification channels the dispatcher sends through, built from `[alerts]`.

    channels = open_channels(config.alerts)
    resolved = channels.resolve(recipient_channel)    # one routing `ChannelTarget`
    if isinstance(resolved, str):                     # why it cannot be used: a permanent failure,
        ...                                           # the recipient's fallback takes over at once
    else:
        Delivery(target=resolved.target, secret=resolved.secret, …) over resolved.channel
    await channels.aclose()

One instance per kind: webhook and web push share one `httpx.AsyncClient` (connection pooling
to the agencies' receivers and the push services), e-mail exists only when `smtp_url` is set
(otherwise every e-mail delivery fails at once with `NO_SMTP_STATUS`), apprise always.

Secrets live outside the routing file (`secret_ref`: `env:VARIABLE` or `file:/path`) and are
resolved at each `prepare`, so a rotated secret is picked up without a restart, and a missing
one fails that delivery alone (permanently: its fallback channel takes over), never the rest of
the dispatch. No message here ever quotes a secret, and `Resolved.target` never holds one: the
apprise URL keeps its `{secret}` (the apprise channel fills it in per attempt and keeps the
filled URL out of its results); only a web push target differs from the routing file's, being
the subscription the id stands for.

Web Push targets are subscription ids (`sub-wangjianguo`) that a custodian's phone registers
through the mobile page (`POST /api/push/subscriptions`); `PushSubscriptions` maps them to the
browser's subscription JSON. A custodian who never allowed notifications has none, and their
fallback (SMS) takes over. The daemon keeps them in `StoredPushSubscriptions`: a dict that
`resolve` reads without I/O, loaded from the database at start and written through on every
change (see that class for what happens while the database is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import httpx
import psycopg

from alerts.channels.base import Channel, Delivery, DeliveryResult
from alerts.routing import ChannelKind, ChannelTarget
from relic_guard.alerting.dispatch import Resolved
from relic_guard.config import AlertsConfig
from relic_guard.config_load import mask_url, parse_smtp_url
from relic_guard.errors import ConfigError, RelicGuardError
from relic_guard.routing_load import ID_PATTERN

if TYPE_CHECKING:
    from alerts.channels.webpush import WebPushChannel

# The channel modules are imported where channels are built: apprise loads every one of its
# plugins on import, a second that `check-config`, which only resolves secrets, should not wait.
# The store is imported where it is used, for the same reason (its package loads the writers).

log = logging.getLogger(__name__)

# alerts.channels.apprise_channel.SECRET_PLACEHOLDER, spelled out for the reason above.
SECRET_PLACEHOLDER: Final = "{secret}"

NO_SMTP_STATUS: Final = "no SMTP server configured ([alerts] smtp_url)"
NO_ROUTING_WARNING: Final = (
    "no [alerts] routing_file: alerts are evaluated, recorded and shown in the API, but NO notification is sent "
    "to anyone; set routing_file to a routing TOML file (see config/routing.toml)"
)
ACK_KEY_BYTES: Final = 32


# Secrets ------------------------------------------------------------------------------------------


class SecretError(RelicGuardError):
    """A `secret_ref` does not give a secret. The message names the reference (never the secret)
    and says how to fix it."""


class SecretNotVisible(SecretError):  # noqa: N818 (reads as the situation it names)
    """The secret may well exist, just not for this process: an environment variable not set here,
    a file this user may not read. `check-config`, often run by another user, warns about these."""


def resolve_secret(ref: str | None, *, env: Mapping[str, str] | None = None) -> bytes:
    """The secret `ref` names: `env:VARIABLE` (its value, as UTF-8) or `file:/path` (the file's
    bytes, less a trailing line break). None gives b"" (a channel that signs nothing).

    Raises SecretNotVisible for an unset variable or an unreadable file, SecretError otherwise.
    """
    if ref is None:
        return b""
    environ = os.environ if env is None else env
    kind, colon, name = ref.partition(":")
    if not colon or kind not in {"env", "file"} or not name:
        # The text is not echoed: a secret pasted in place of its reference must not reach a log.
        raise SecretError(
            "a secret_ref is neither env:VARIABLE nor file:/path; write where the secret is, never the secret itself"
        )
    if kind == "env":
        value = environ.get(name)
        if value is None:
            raise SecretNotVisible(
                f'secret_ref "{ref}": environment variable {name} is not set; set it in the service\'s environment '
                "(e.g. the systemd EnvironmentFile or the container's env)"
            )
        if not value:
            raise SecretError(f'secret_ref "{ref}": environment variable {name} is empty; put the secret in it')
        return value.encode("utf-8")
    path = Path(name).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SecretError(
            f'secret_ref "{ref}": no such file; create it (readable only by the service\'s user) or fix the path'
        ) from None
    except PermissionError:
        raise SecretNotVisible(
            f'secret_ref "{ref}": this user may not read the file; make it readable by the user relic-guard runs as'
        ) from None
    except OSError as error:
        raise SecretError(
            f'secret_ref "{ref}": cannot read the file ({error.strerror}); give the path of a readable file'
        ) from None
    secret = data.rstrip(b"\r\n")
    if not secret:
        raise SecretError(f'secret_ref "{ref}": the file is empty; put the secret in it')
    return secret


# Key files ----------------------------------------------------------------------------------------


def _create_private_file(path: Path, text: str) -> bool:
    """Write `text` to a new file readable only by us; False when another process made it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text)
    return True


def _read_key_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        detail = error.strerror if isinstance(error, OSError) else "not ASCII text"
        raise ConfigError(
            [f"{path}: cannot read the {what} ({detail}); make it readable by the user relic-guard runs as"]
        ) from None


def load_or_create_ack_key(path: Path) -> bytes:
    """The key that signs acknowledge links (64 hex digits in `path`); created, mode 0600, when missing.

    Not `relic_guard.audit.load_or_create_key`: that one's messages speak of the audit trail, and
    losing this key costs far less (only the links already sent stop working).
    """
    if not path.exists():
        key = secrets.token_bytes(ACK_KEY_BYTES)
        if _create_private_file(path, key.hex() + "\n"):
            log.warning("created the acknowledge-link key %s", path)
            return key
    text = _read_key_text(path, "acknowledge-link key").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < ACK_KEY_BYTES:
        raise ConfigError(
            [
                f"{path}: not an acknowledge-link key (expected at least 64 hex digits); delete the file to make a "
                "new one at the next start (links already sent then stop working)"
            ]
        )
    return key


def load_or_create_vapid_key(path: Path) -> str:
    """The server's Web Push private key (PEM) from `path`; a new one is created, mode 0600, when missing."""
    from alerts.channels.webpush import generate_vapid_keys, load_vapid_private_key

    if not path.exists():
        pem, public_key = generate_vapid_keys()
        if _create_private_file(path, pem):
            log.warning(
                "created the Web Push (VAPID) key %s, public key %s; back it up: phones subscribe with it, and "
                "a new key means every custodian must allow notifications again",
                path,
                public_key,
            )
            return pem
    text = _read_key_text(path, "Web Push (VAPID) key")
    try:
        load_vapid_private_key(text)
    except ValueError as error:
        raise ConfigError(
            [
                f"{path}: not a Web Push (VAPID) private key ({error}); restore it from your backup, or delete it "
                "to make a new one at the next start (every phone must then subscribe again)"
            ]
        ) from None
    return text


# Push subscriptions -------------------------------------------------------------------------------


class PushSubscriptions(Protocol):
    """Web Push subscriptions by the id the routing file names (`sub-wangjianguo`)."""

    def register(self, subscription_id: str, subscription_json: str) -> None:
        """Store (or replace) what the phone's browser gave: `PushSubscription.toJSON()` as text.
        Raises ValueError for an id or a subscription that cannot be used."""
        ...

    def get(self, subscription_id: str) -> str | None: ...

    def remove(self, subscription_id: str) -> None:
        """Forget it (the push service said it is gone)."""
        ...


# A browser's PushSubscription.toJSON() is a few hundred bytes; anything far larger is not one.
MAX_SUBSCRIPTION_CHARS: Final = 4096


def check_subscription_id(subscription_id: str) -> None:
    """Raise ValueError unless `subscription_id` can name a subscription (the routing file's id syntax)."""
    if not ID_PATTERN.fullmatch(subscription_id):
        raise ValueError(f"{subscription_id!r} is not a subscription id; use 1–64 of A-Z a-z 0-9 _ . -")


def normalize_subscription(subscription_json: str) -> tuple[str, str]:
    """(the subscription as stored, its endpoint's origin) from what the browser gave; ValueError
    saying what is wrong when it could never be pushed to. Only the endpoint and the two keys are
    kept: the rest (`expirationTime`, anything a page adds) is never used to send."""
    from alerts.channels.webpush import parse_subscription

    if len(subscription_json) > MAX_SUBSCRIPTION_CHARS:
        raise ValueError(f"subscription is longer than {MAX_SUBSCRIPTION_CHARS} characters; send the browser's "
                         "PushSubscription.toJSON() as it is")
    info, origin = parse_subscription(subscription_json)
    return json.dumps(info, ensure_ascii=False, separators=(",", ":")), origin


class MemoryPushSubscriptions:
    """`PushSubscriptions` in a dict: what phones registered since the daemon started."""

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self._by_id: dict[str, str] = {}
        for subscription_id, subscription_json in (initial or {}).items():
            self.register(subscription_id, subscription_json)

    def register(self, subscription_id: str, subscription_json: str) -> None:
        check_subscription_id(subscription_id)
        from alerts.channels.webpush import parse_subscription

        parse_subscription(subscription_json)  # refuse now what could never be pushed to
        self._by_id[subscription_id] = subscription_json

    def get(self, subscription_id: str) -> str | None:
        return self._by_id.get(subscription_id)

    def remove(self, subscription_id: str) -> None:
        self._by_id.pop(subscription_id, None)

    def __len__(self) -> int:
        return len(self._by_id)


@dataclass(frozen=True, slots=True)
class _Upsert:
    subscription_json: str
    recipient: str
    by: str


# A change not yet in the database: the subscription to store, or None to delete it.
_Change = _Upsert | None


class StoredPushSubscriptions:
    """`PushSubscriptions` kept in PostgreSQL (`push_subscriptions`), with a dict as the working copy.

        subscriptions = StoredPushSubscriptions(database_url)
        channels = open_channels(config.alerts, subscriptions=subscriptions)
        await subscriptions.start()          # load what phones registered before this start
        stored = await subscriptions.save(id, subscription_json, recipient=…, by="user:…")
        await subscriptions.aclose()         # last try to write what is still pending

    `get` (what every web push delivery asks) reads the dict only: a delivery never waits on the
    database. `save` / `discard` change the dict at once and then write through.

    While the database is down, registering still works: the subscription is kept in memory
    (pushes to that phone work at once), a warning is logged, and the change is written as soon
    as the database answers (retried in the background, backing off to `retry_max_s`); `save`
    returns False then, so the caller can say so. Refusing the registration instead would leave
    the custodian's phone silent until they thought of trying again, which matters more than
    the risk taken: a registration made while the database is down is lost only if the daemon
    also stops before the database returns (the custodian then gets SMS until they register
    again). Likewise when the database is down at start: the store starts empty, keeps what is
    registered meanwhile, and merges the stored subscriptions in when it can read them (a
    change made meanwhile wins over the stored row for its id).

    Everything here runs on the event loop except the database calls, which run one at a time in
    a worker thread, in the order the changes were made; the last change of an id is what ends
    up stored.
    """

    def __init__(self, database_url: str, *, connect_timeout_s: float = 2.0, retry_max_s: float = 30.0) -> None:
        self._url = database_url
        # libpq takes whole seconds (and treats anything below 2 as 2).
        self._connect_timeout_s = max(2, int(connect_timeout_s))
        self._retry_max_s = retry_max_s
        self._by_id: dict[str, str] = {}
        self._pending: dict[str, _Change] = {}
        self._loaded = False
        self._lock = asyncio.Lock()
        self._retry_task: asyncio.Task[None] | None = None
        self._closed = False
        # Why the database could not be used, while it cannot (None when the last try worked).
        self.last_error: str | None = None

    # What deliveries and the API read --------------------------------------------------------

    def get(self, subscription_id: str) -> str | None:
        return self._by_id.get(subscription_id)

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def loaded(self) -> bool:
        """Whether the subscriptions stored before this start have been read back."""
        return self._loaded

    @property
    def pending(self) -> int:
        """Changes kept in memory that the database does not have yet."""
        return len(self._pending)

    # Changes ----------------------------------------------------------------------------------------

    def register(self, subscription_id: str, subscription_json: str, *, recipient: str = "", by: str = "") -> None:
        """Take the subscription now and write it in the background (`save` waits for the write).
        ValueError for an id or a subscription that cannot be used."""
        self._take(subscription_id, subscription_json, recipient, by)
        self._keep_trying_soon(0.0)

    def remove(self, subscription_id: str) -> None:
        """Forget it now and delete it in the background (`discard` waits for the deletion)."""
        self._drop(subscription_id)
        self._keep_trying_soon(0.0)

    async def save(self, subscription_id: str, subscription_json: str, *, recipient: str, by: str) -> bool:
        """`register`, then write it: True once the database has it, False when it is kept in
        memory for now (see the class docstring). ValueError as `register`."""
        self._take(subscription_id, subscription_json, recipient, by)
        await self.sync()
        return subscription_id not in self._pending

    async def discard(self, subscription_id: str) -> bool:
        """`remove`, then write it: True once the database no longer has it."""
        self._drop(subscription_id)
        await self.sync()
        return subscription_id not in self._pending

    def _take(self, subscription_id: str, subscription_json: str, recipient: str, by: str) -> None:
        check_subscription_id(subscription_id)
        stored, _origin = normalize_subscription(subscription_json)
        self._by_id[subscription_id] = stored
        self._pending[subscription_id] = _Upsert(stored, recipient, by)

    def _drop(self, subscription_id: str) -> None:
        self._by_id.pop(subscription_id, None)
        self._pending[subscription_id] = None

    # The database ---------------------------------------------------------------------------------

    async def start(self) -> bool:
        """Read back the stored subscriptions; when the database cannot be read, keep retrying in
        the background (on this event loop) and return False."""
        return await self.sync()

    async def sync(self) -> bool:
        """Load (once) and write what is pending; True when nothing is left to do. On failure a
        background retry takes over."""
        done = await self._sync()
        if not done:
            self._keep_trying_soon(1.0)
        return done

    async def aclose(self) -> None:
        """Stop retrying, after one last try to write what is pending (logged when it fails:
        those phones must register again after the restart)."""
        self._closed = True
        task, self._retry_task = self._retry_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending and not await self._sync():
            log.error(
                "push subscriptions: %d change(s) could not be written (%s) and are lost at this stop: %s; "
                "those custodians must allow notifications again on the mobile page",
                len(self._pending), self.last_error, ", ".join(sorted(self._pending)),
            )

    async def _sync(self) -> bool:
        async with self._lock:
            try:
                if not self._loaded:
                    rows = await asyncio.to_thread(self._read)
                    self._merge(rows)
                if self._pending:
                    taken = dict(self._pending)
                    await asyncio.to_thread(self._write, taken)
                    for subscription_id, change in taken.items():
                        # A change made while this batch was written stays pending, for the next one.
                        if self._pending.get(subscription_id, _ABSENT) is change:
                            del self._pending[subscription_id]
            except (psycopg.Error, OSError) as error:
                self._went_down(error)
                return False
            if self.last_error is not None:
                self.last_error = None
                log.warning("push subscriptions: the database answers again; %d subscription(s) in use",
                            len(self._by_id))
            return True

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        # A statement stuck behind a lock must not hold every later change back for long.
        return psycopg.connect(self._url, connect_timeout=self._connect_timeout_s,
                               options="-c statement_timeout=10000")

    def _read(self) -> dict[str, str]:
        from relic_guard.store import push as push_store

        with self._connect() as conn:
            return push_store.load_all(conn)

    def _write(self, changes: Mapping[str, _Change]) -> None:
        from relic_guard.store import push as push_store

        with self._connect() as conn, conn.transaction():
            for subscription_id, change in changes.items():
                if change is None:
                    push_store.delete(conn, subscription_id)
                else:
                    push_store.upsert(conn, subscription_id, change.subscription_json, change.recipient, change.by)

    def _merge(self, rows: Mapping[str, str]) -> None:
        found: dict[str, str] = {}
        for subscription_id, text in rows.items():
            try:
                check_subscription_id(subscription_id)
                found[subscription_id], _origin = normalize_subscription(text)
            except ValueError as error:
                # A row written by hand or by another version: that custodian's fallback covers them.
                log.warning("push subscriptions: ignoring the stored row %r: %s", subscription_id[:80], error)
        for subscription_id, change in self._pending.items():
            if change is None:
                found.pop(subscription_id, None)
            else:
                found[subscription_id] = change.subscription_json
        self._by_id = found
        self._loaded = True
        log.info("push subscriptions: %d loaded from the database", len(found))

    def _went_down(self, error: BaseException) -> None:
        text = str(error).strip()
        first = self.last_error is None
        self.last_error = text.splitlines()[0] if text else type(error).__name__
        if first:
            what = "cannot read the stored subscriptions" if not self._loaded else "cannot write to the database"
            log.warning(
                "push subscriptions: %s (%s); registrations are kept in memory and written when the database "
                "answers", what, self.last_error,
            )

    def _keep_trying_soon(self, first_delay_s: float) -> None:
        """Have a background task write what is pending (and load, if not yet), retrying with
        backoff until done. Needs a running event loop; without one the next `sync` does it."""
        if self._closed or (self._retry_task is not None and not self._retry_task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._retry_task = loop.create_task(self._keep_trying(first_delay_s), name="push-subscriptions-sync")

    async def _keep_trying(self, delay_s: float) -> None:
        while True:
            await asyncio.sleep(min(delay_s, self._retry_max_s))
            if await self._sync():
                return
            delay_s = min(max(delay_s * 2, 1.0), self._retry_max_s)


_ABSENT: Final = object()


# The channel set ----------------------------------------------------------------------------------


class _NoSmtpChannel:
    """The e-mail channel when no mail server is configured: every delivery fails, permanently."""

    name: Final = "email"

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        return DeliveryResult(delivered=False, status=NO_SMTP_STATUS, attempt=delivery.attempt, retryable=False)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ChannelSet:
    """One channel per kind, and the step from a routing `ChannelTarget` to a ready delivery."""

    def __init__(
        self,
        *,
        webhook: Channel,
        email: Channel,
        apprise: Channel,
        webpush: WebPushChannel,
        subscriptions: PushSubscriptions,
        client: httpx.AsyncClient,
        owns_client: bool,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._channels: dict[ChannelKind, Channel] = {
            "webhook": webhook,
            "email": email,
            "apprise": apprise,
            "webpush": webpush,
        }
        self._webpush = webpush
        self.subscriptions = subscriptions
        self.email_configured = not isinstance(email, _NoSmtpChannel)
        self._client = client
        self._owns_client = owns_client
        self._env = env

    @property
    def vapid_public_key(self) -> str:
        """The `applicationServerKey` (base64url) the mobile page subscribes with."""
        return self._webpush.public_key

    def channel(self, kind: ChannelKind) -> Channel:
        return self._channels[kind]

    def resolve(self, target: ChannelTarget) -> Resolved | str:
        """The channel, delivery target and secret for `target`; or, as a sentence, why it cannot be
        used now (a permanent failure of that delivery: the recipient's fallback takes over)."""
        channel = self._channels[target.kind]
        if target.kind == "email":
            return Resolved(channel, target.target) if self.email_configured else NO_SMTP_STATUS
        if target.kind == "webpush":
            subscription = self.subscriptions.get(target.target)
            if subscription is None:
                return (
                    f"no push subscription registered for {target.target}; the custodian must open the mobile "
                    "page and allow notifications"
                )
            return Resolved(channel, subscription)
        try:
            secret = resolve_secret(target.secret_ref, env=self._env)
        except SecretError as error:
            return f"secret unavailable: {error}"
        if target.kind == "webhook" and not secret:
            # Signed with an empty key, the alert would be refused by a receiver that checks, and
            # accepted unverified by one that does not: neither is a delivery to count on.
            return f"{mask_url(target.target)}: a webhook needs a signing secret; add secret_ref to the channel"
        if target.kind == "apprise" and SECRET_PLACEHOLDER in target.target and not secret:
            return (
                f"{mask_url(target.target)} needs a secret for {SECRET_PLACEHOLDER} but names none; add secret_ref "
                "to the channel"
            )
        # The apprise URL stays as written, {secret} and all: the channel fills it in per attempt.
        return Resolved(channel, target.target, secret)

    async def aclose(self) -> None:
        await self._webpush.aclose()
        if self._owns_client:
            await self._client.aclose()


def open_channels(
    config: AlertsConfig,
    *,
    client: httpx.AsyncClient | None = None,
    subscriptions: PushSubscriptions | None = None,
    env: Mapping[str, str] | None = None,
) -> ChannelSet:
    """Build every channel from `[alerts]`. `client`: a shared httpx client owned by the caller
    (else one is made here and closed by `aclose`). `env`: where `env:` secrets are looked up
    (default: the process environment, read at each `prepare`).

    Creates the VAPID key file when missing; raises ConfigError for an unusable one.
    """
    from alerts.channels.apprise_channel import AppriseChannel
    from alerts.channels.email import EmailChannel
    from alerts.channels.webhook import WebhookChannel
    from alerts.channels.webpush import WebPushChannel

    timeout_s = config.delivery_timeout_s
    vapid_pem = load_or_create_vapid_key(config.vapid_key_file)
    try:
        server = parse_smtp_url(config.smtp_url) if config.smtp_url else None
    except ValueError as error:
        raise ConfigError([f"[alerts] smtp_url: {error}"]) from None
    email: Channel
    if server is None:
        email = _NoSmtpChannel()
    else:
        email = EmailChannel(
            server.host,
            server.port,
            sender=config.email_from,
            starttls=server.starttls,
            username=server.username,
            password=server.password,
            timeout_s=timeout_s,
            clock=_utc_now,
        )
    own = client is None
    http = client if client is not None else httpx.AsyncClient()
    try:
        webpush = WebPushChannel(vapid_pem, config.vapid_subject, timeout_s, client=http)
    except ValueError as error:
        raise ConfigError([f"{config.vapid_key_file}: {error}"]) from None
    return ChannelSet(
        webhook=WebhookChannel(http, timeout_s=timeout_s),
        email=email,
        apprise=AppriseChannel(timeout_s=timeout_s),
        webpush=webpush,
        subscriptions=subscriptions if subscriptions is not None else MemoryPushSubscriptions(),
        client=http,
        owns_client=own,
        env=env,
    )
