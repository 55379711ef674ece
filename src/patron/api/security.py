"""Sign-in: browser sessions (signed cookies, stored hashed, expiring), CSRF, API tokens,
login rate limiting and lock-out after repeated failures."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from threading import Lock
from typing import Any

from argon2.exceptions import VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.api.access import RESOURCES, Access
from patron.api.errors import TooManyRequests
from patron.audit.service import record
from patron.auth.models import ApiToken, Role, User, UserSession
from patron.auth.service import by_username, hasher, verify_password
from patron.config import Settings
from patron.db import now, unit_of_work
from patron.errors import InvalidInput, Unauthorized

SESSION_COOKIE = "patron_session"
CSRF_COOKIE = "patron_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_LIFETIME = timedelta(hours=12)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
TOKEN_PREFIX = "ptk_"
# A write per request would be wasted: the last use to the minute is plenty.
TOKEN_USE_PRECISION = timedelta(minutes=1)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AccountLocked(TooManyRequests):
    """Too many wrong passwords in a row: the account waits before it accepts another."""

    code = "account_locked"


def digest(secret: str) -> str:
    """The SHA-256 of a random secret: what the database keeps instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _signer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="patron.session")


@dataclass(frozen=True)
class NewSession:
    """A session just started: the cookie value (shown once) and its CSRF token."""

    cookie: str
    csrf_token: str
    expires_at: datetime


def start_session(*, session: Session, user: User, settings: Settings) -> NewSession:
    """Store a new browser session for the user and return its signed cookie value."""
    key = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        key_hash=digest(key),
        csrf_token=secrets.token_urlsafe(32),
        expires_at=now() + SESSION_LIFETIME,
    )
    session.add(row)
    session.flush()
    return NewSession(_signer(settings).dumps(key), row.csrf_token, row.expires_at)


def session_of(
    *, session: Session, cookie: str, settings: Settings
) -> tuple[User, UserSession] | None:
    """The user and session behind a cookie, if it is genuine, unexpired and not signed out."""
    try:
        key = _signer(settings).loads(cookie, max_age=int(SESSION_LIFETIME.total_seconds()))
    except BadSignature:
        return None
    row = session.scalar(
        select(UserSession).where(
            UserSession.key_hash == digest(str(key)),
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now(),
        )
    )
    if row is None:
        return None
    user = session.get(User, row.user_id)
    return (user, row) if user is not None and user.active else None


def csrf_matches(expected: str, submitted: str | None) -> bool:
    """Whether the submitted double-submit token is the session's (in constant time)."""
    return submitted is not None and secrets.compare_digest(expected, submitted)


def parse_scopes(scopes: list[str]) -> frozenset[str]:
    """Validated token scopes: `RESOURCE:read` or `RESOURCE:write`, RESOURCE may be `*`."""
    if not scopes:
        raise InvalidInput("a token needs at least one scope, e.g. 'customers:read'")
    known = ", ".join(sorted(RESOURCES))
    for scope in scopes:
        resource, _, access = scope.partition(":")
        if resource not in RESOURCES | {"*"} or access not in set(Access):
            raise InvalidInput(
                f"'{scope}' is not a scope: write RESOURCE:read or RESOURCE:write, "
                f"RESOURCE one of *, {known}"
            )
    return frozenset(scopes)


def issue_token(
    *, session: Session, user: User, name: str, scopes: frozenset[str], expires_at: datetime | None
) -> tuple[ApiToken, str]:
    """A new API token for the user; the plain token is returned once and stored only hashed."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=digest(plain),
        scopes=" ".join(sorted(scopes)),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, plain


@dataclass(frozen=True)
class LiveToken:
    """A live API token and its active user, as one request needs them."""

    token_id: int
    scopes: frozenset[str]
    last_used_at: datetime | None
    user_id: int
    username: str
    role: Role
    team: str | None


@cache
def token_query() -> Select[*tuple[Any, ...]]:
    # Built once: its construction and cache key cost more than the query's execution.
    return (
        select(
            ApiToken.id, ApiToken.scopes, ApiToken.revoked_at, ApiToken.expires_at,
            ApiToken.last_used_at, User.id, User.username, User.role, User.team, User.active,
        )
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == bindparam("token_hash"))
    )  # fmt: skip


def token_of(*, session: Session, plain: str) -> LiveToken | None:
    """The token behind a bearer token and its user, if both are live (the token neither
    revoked nor expired, the user active).

    Every API request asks (on PostgreSQL through `patron.api.token_reader`, the same
    statement on the event loop), so it is one indexed query for plain columns (one
    statement, built once): no ORM objects, no answer cached, so a revoked token or a
    deactivated user is refused at the next request.
    """
    return live_token(session.execute(token_query(), {"token_hash": digest(plain)}).first())


def live_token(row: Sequence[Any] | None) -> LiveToken | None:
    """The live token of a row of `token_query` (None when there is none or it is not live);
    the role as stored (its name) or as the ORM reads it."""
    if row is None:
        return None
    token_id, scopes, revoked_at, expires_at, last_used_at, user_id = row[:6]
    username, role, team, active = row[6:]
    if revoked_at is not None or not active:
        return None
    if expires_at is not None and expires_at <= now():
        return None
    role = role if isinstance(role, Role) else Role[role]
    return LiveToken(
        token_id, frozenset(scopes.split()), last_used_at, user_id, username, role, team
    )


def token_use_is_stale(last_used_at: datetime | None) -> bool:
    """Whether a token's last use should be written again (it is kept to the minute)."""
    return last_used_at is None or now() - last_used_at > TOKEN_USE_PRECISION


def note_token_use(factory: sessionmaker[Session], token_id: int) -> None:
    """Record that a token was used now, in a transaction of its own.

    Written inside the request's transaction, the row lock would be held until that request
    commits, so every other request with the same token (a selling system's parallel
    batches) would queue behind it; here it is held for one short statement. Called after
    the response (a background task), when the request has given its connection back, so a
    request never needs two connections of a pool its gate is sized to.
    """
    moment = now()
    with unit_of_work(factory) as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .where(
                (ApiToken.last_used_at.is_(None))
                | (ApiToken.last_used_at < moment - TOKEN_USE_PRECISION)
            )
            .values(last_used_at=moment)
        )


@cache
def _dummy_hash() -> str:
    return hasher.hash(secrets.token_hex(16))


def _record_failure(factory: sessionmaker[Session], username: str, user: User | None) -> None:
    # Its own transaction: the refusal that follows rolls the request's transaction back.
    with unit_of_work(factory) as session:
        if user is not None:
            session.execute(
                update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1)
            )
            failures = session.scalar(select(User.failed_logins).where(User.id == user.id)) or 0
            if failures >= MAX_FAILED_LOGINS:
                session.execute(
                    update(User).where(User.id == user.id).values(locked_until=now() + LOCKOUT)
                )
        record(
            session=session,
            action="auth.sign_in_failed",
            entity="user",
            entity_id=user.id if user else None,
            user_id=user.id if user else None,
            username=username,
        )


def authenticate(
    *, session: Session, factory: sessionmaker[Session], username: str, password: str
) -> User:
    """The user if the password is right and the account open; failures are counted and
    audited, and the account locks after MAX_FAILED_LOGINS in a row."""
    user = by_username(session=session, username=username.strip())
    moment = now()
    if user is not None and user.locked_until is not None and user.locked_until > moment:
        _record_failure(factory, username, None)
        wait = int((user.locked_until - moment).total_seconds()) + 1
        raise AccountLocked(
            f"too many failed sign-ins: try again in {wait // 60 + 1} minutes", retry_after=wait
        )
    if user is None:
        # Verify anyway, so an unknown name takes as long as a wrong password.
        with suppress(VerificationError):
            hasher.verify(_dummy_hash(), password)
    if user is None or not user.active or not verify_password(user, password):
        _record_failure(factory, username, user)
        raise Unauthorized("wrong user name or password")
    user.failed_logins = 0
    user.locked_until = None
    record(
        session=session, action="auth.sign_in", entity="user", entity_id=user.id, user_id=user.id
    )
    return user


@dataclass
class LoginLimiter:
    """At most `attempts` sign-in attempts per client address in a sliding `window` (seconds).

    Held in memory per process: enough for one server; the lock-out in the database holds
    across processes."""

    attempts: int = 10
    window: float = 60.0
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: Lock = field(default_factory=Lock)

    def check(self, client: str) -> None:
        """Count one attempt from `client`, refusing it when the window is full."""
        moment = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(client, deque())
            while seen and moment - seen[0] > self.window:
                seen.popleft()
            if len(seen) >= self.attempts:
                wait = int(self.window - (moment - seen[0])) + 1
                raise TooManyRequests(
                    f"too many sign-in attempts from this address: wait {wait} seconds",
                    retry_after=wait,
                )
            seen.append(moment)
