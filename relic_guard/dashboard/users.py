"""Dashboard users and sessions: argon2 password hashes, scoped roles, server-side sessions.

A user has a login, a display name, a role (the API tokens' roles: operator, custodian, agency,
supervisor, admin) and a scope of sites and districts (both empty: every site). Custodians and
agency liaisons must have a scope: `add_user` refuses them without one, as the tokens file does.

Sessions: the browser holds a random token (cookie); the database keeps its SHA-256 digest, the
login, the CSRF token and the expiry. `Sessions` keeps the sessions it has seen in memory, so
people already logged in keep working while the database is down (a new login needs it: the
password hash lives there). Logging out, disabling a user or changing a password ends sessions
(the latter two: all of that user's).

`LoginThrottle` is pure (`now` passed in): after `free_failures` failed logins for a login name
or from an address, each further attempt must wait, doubling from `base_wait_s` up to
`max_wait_s`; a success clears the login's count.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from relic_guard.alerting.tokens import SCOPED_ROLES, Principal, Role
from relic_guard.errors import RelicGuardError

LOGIN_PATTERN: Final = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
LANGS: Final = ("zh-CN", "en")
MIN_PASSWORD_CHARS: Final = 10

_hasher = PasswordHasher()
# Verified against when the login does not exist, so a wrong login costs as long as a wrong password.
_DUMMY_HASH: Final = _hasher.hash(secrets.token_urlsafe(16))


class UserError(RelicGuardError):
    """A user cannot be added or changed as asked; the message says why and how to fix it."""


@dataclass(frozen=True, slots=True)
class WebUser:
    login: str
    name: str
    role: Role
    sites: frozenset[str] | None  # None: every site
    lang: str = "zh-CN"

    @property
    def principal(self) -> Principal:
        """The same caller the API knows (scope and permissions in one place)."""
        return Principal(name=self.login, role=self.role, sites=self.sites)

    def can_see(self, site_id: str) -> bool:
        return self.sites is None or site_id in self.sites


def scope_of(
    sites: Collection[str], districts: Collection[str], registry_sites: Mapping[str, Any]
) -> frozenset[str] | None:
    """The site ids a user may see: the listed sites plus every site of the listed districts."""
    if not sites and not districts:
        return None
    wanted = set(districts)
    return frozenset(sites) | frozenset(sid for sid, site in registry_sites.items() if site.district in wanted)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"the password is too short: use at least {MIN_PASSWORD_CHARS} characters "
                        "(a passphrase of several words is easy to type and hard to guess)")
    return _hasher.hash(password)


def check_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash if stored_hash is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# Users in the database -------------------------------------------------------------------------

Conn = psycopg.Connection[Any]


def add_user(conn: Conn, *, login: str, name: str, role: Role, password: str, sites: Sequence[str] = (),
             districts: Sequence[str] = (), lang: str = "zh-CN") -> None:
    problems: list[str] = []
    if not LOGIN_PATTERN.fullmatch(login):
        problems.append(f"login '{login}': use 1–64 of A-Z a-z 0-9 _ . @ - (e.g. zhang.wei)")
    if not name.strip():
        problems.append("name: give the person's name as colleagues know it (e.g. 张伟)")
    if role in SCOPED_ROLES and not sites and not districts:
        problems.append(f"a {role.value} needs --site ID or --district NAME: they must not see every site")
    if lang not in LANGS:
        problems.append(f"lang '{lang}': one of {', '.join(LANGS)}")
    if problems:
        raise UserError("; ".join(problems))
    hashed = hash_password(password)
    with conn.transaction():
        if conn.execute("SELECT 1 FROM users WHERE login = %s", (login,)).fetchone():
            raise UserError(f"a user '{login}' exists already; change it with `relic-guard user passwd {login}`")
        conn.execute(
            "INSERT INTO users (login, name, role, sites, districts, password_hash, lang) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (login, name.strip(), role.value, list(sites), list(districts), hashed, lang),
        )


def set_password(conn: Conn, login: str, password: str) -> None:
    hashed = hash_password(password)
    with conn.transaction():
        found = conn.execute("UPDATE users SET password_hash = %s, updated_at = now() WHERE login = %s",
                             (hashed, login)).rowcount
        if not found:
            raise UserError(f"no user '{login}'; add one with `relic-guard user add`")
        conn.execute("DELETE FROM web_sessions WHERE login = %s", (login,))


def set_disabled(conn: Conn, login: str, disabled: bool = True) -> None:
    with conn.transaction():
        found = conn.execute("UPDATE users SET disabled = %s, updated_at = now() WHERE login = %s",
                             (disabled, login)).rowcount
        if not found:
            raise UserError(f"no user '{login}'")
        if disabled:
            conn.execute("DELETE FROM web_sessions WHERE login = %s", (login,))


@dataclass(frozen=True, slots=True)
class UserRow:
    login: str
    name: str
    role: Role
    sites: tuple[str, ...]
    districts: tuple[str, ...]
    password_hash: str
    disabled: bool
    lang: str


def get_user(conn: Conn, login: str) -> UserRow | None:
    row = conn.execute(
        "SELECT login, name, role, sites, districts, password_hash, disabled, lang FROM users WHERE login = %s",
        (login,),
    ).fetchone()
    if row is None:
        return None
    return UserRow(row[0], row[1], Role(row[2]), tuple(row[3]), tuple(row[4]), row[5], row[6], row[7])


# Sessions --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    user: WebUser
    csrf: str
    expires_at: datetime


@dataclass
class Sessions:
    """Server-side sessions, cached in memory (see the module docstring)."""

    database_url: str
    registry_sites: Mapping[str, Any]
    ttl: timedelta = timedelta(hours=12)
    connect_timeout_s: float = 2.0
    # A cached session is checked against the database again after this long, so that a user
    # disabled (or a password changed) from the command line is logged out within it.
    recheck_s: float = 30.0
    _cache: dict[str, tuple[Session, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def names(self) -> dict[str, str]:
        """login → display name of the users with a session here: the people who act on these
        pages, so their names can stand in the records instead of their logins."""
        return {session.user.login: session.user.name for session, _ in list(self._cache.values())}

    def _connect(self) -> Conn:
        return psycopg.connect(self.database_url, connect_timeout=max(1, int(self.connect_timeout_s)))

    def login(self, login: str, password: str, now: datetime) -> tuple[str, Session] | None:
        """A new session for good credentials of an enabled user, else None. Blocking (argon2 and
        the database): call it in a worker thread."""
        with self._connect() as conn:
            row = get_user(conn, login)
            ok = check_password(row.password_hash if row is not None else None, password)
            if row is None or not ok or row.disabled:
                return None
            user = WebUser(row.login, row.name, row.role, scope_of(row.sites, row.districts, self.registry_sites),
                           row.lang)
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
            session = Session(user=user, csrf=csrf, expires_at=now + self.ttl)
            conn.execute("INSERT INTO web_sessions (digest, login, csrf, expires_at) VALUES (%s, %s, %s, %s)",
                         (digest(token), login, csrf, session.expires_at))
            conn.execute("DELETE FROM web_sessions WHERE expires_at < %s", (now,))
        with self._lock:
            self._cache[digest(token)] = (session, time.monotonic())
        return token, session

    def get(self, token: str, now: datetime) -> Session | None:
        """The live session of a cookie (memory first, then the database). Blocking on a miss."""
        key = digest(token)
        with self._lock:
            cached = self._cache.get(key)
        session = cached[0] if cached is not None else None
        if cached is None or time.monotonic() - cached[1] >= self.recheck_s:
            # While the database is down, the session this process knows stays valid.
            with contextlib.suppress(psycopg.OperationalError):
                session = self._load(key)
            with self._lock:
                if session is None:
                    self._cache.pop(key, None)
                else:
                    self._cache[key] = (session, time.monotonic())
        if session is None:
            return None
        if session.expires_at <= now:
            self.logout(token)
            return None
        return session

    def _load(self, key: str) -> Session | None:
        """The session from the database (None: no such session, or its user is disabled).
        Raises psycopg.OperationalError while the database is down."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT s.csrf, s.expires_at, u.login, u.name, u.role, u.sites, u.districts, u.lang, u.disabled "
                "FROM web_sessions s JOIN users u USING (login) WHERE s.digest = %s", (key,),
            ).fetchone()
        if row is None or row[8]:
            return None
        user = WebUser(row[2], row[3], Role(row[4]), scope_of(row[5], row[6], self.registry_sites), row[7])
        return Session(user=user, csrf=row[0], expires_at=row[1])

    def logout(self, token: str) -> None:
        key = digest(token)
        with self._lock:
            self._cache.pop(key, None)
        try:
            with self._connect() as conn:
                conn.execute("DELETE FROM web_sessions WHERE digest = %s", (key,))
        except psycopg.OperationalError:
            pass  # the row expires on its own; this process has forgotten the session already

    def forget_user(self, login: str) -> None:
        """Drop a user's cached sessions (after disable or a password change elsewhere)."""
        with self._lock:
            for key in [key for key, (session, _) in self._cache.items() if session.user.login == login]:
                del self._cache[key]


# Login throttling ------------------------------------------------------------------------------


@dataclass
class LoginThrottle:
    free_failures: int = 5
    base_wait_s: float = 30.0
    max_wait_s: float = 900.0
    _failures: dict[str, tuple[int, datetime]] = field(default_factory=dict)

    def wait_s(self, keys: Sequence[str], now: datetime) -> float:
        """Seconds before another attempt under any of `keys` is allowed (0: now)."""
        wait = 0.0
        for key in keys:
            count, last = self._failures.get(key, (0, now))
            if count >= self.free_failures:
                lock = min(self.max_wait_s, self.base_wait_s * 2 ** (count - self.free_failures))
                wait = max(wait, (last + timedelta(seconds=lock) - now).total_seconds())
        return max(0.0, wait)

    def failed(self, keys: Sequence[str], now: datetime) -> None:
        for key in keys:
            count, _ = self._failures.get(key, (0, now))
            self._failures[key] = (count + 1, now)
        if len(self._failures) > 100_000:  # a bound against a spray of made-up names
            oldest = sorted(self._failures.items(), key=lambda item: item[1][1])[:50_000]
            for key, _ in oldest:
                del self._failures[key]

    def succeeded(self, login_key: str) -> None:
        self._failures.pop(login_key, None)


def utc_now() -> datetime:
    return datetime.now(UTC)
