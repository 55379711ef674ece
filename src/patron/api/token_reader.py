"""The API token check on PostgreSQL, on the event loop: no worker thread, no ORM.

Every API request needs its token's user, role, team and scopes. Asked through the request's
session, that is a hand-over to a worker thread and SQLAlchemy's statement machinery around
one indexed query, a large part of a cheap request's CPU. Here each server process asks on a
few connections of its own (autocommit, the statement prepared by the server after its first
uses), awaited on the event loop. Nothing is cached: every request reads the token's row as
it is then, so a revoked token, a deactivated user or a changed role counts from the next
request on, in every process, as before.

The connections open at the app's start-up (its lifespan) and close at its end; without them
(an app not started, SQLite) or when one fails (a database restart), the request asks through
its session on a worker thread as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql

from patron.api.security import LiveToken, digest, live_token, token_query

log = logging.getLogger(__name__)
CONNECTIONS = 2
# Longest a check waits for a free connection, then for its answer, before the request asks
# through its session instead: a lost connection never holds requests up for longer.
WAIT_SECONDS = 5.0
# After a failed connection attempt, requests ask through their sessions this long before
# the reader tries to connect again (no attempt per request while the server refuses).
RETRY_AFTER_SECONDS = 1.0
# A dead connection (a failover, a dropped route) is noticed by the system's keepalives.
CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


class Unavailable(Exception):
    """The reader cannot ask now (not started, or its connection failed)."""


def _sql() -> str:
    # The same statement as the session's `token_of`, in psycopg's placeholders.
    dialect = postgresql.psycopg.dialect(paramstyle="pyformat")  # type: ignore[no-untyped-call]
    compiled = token_query().compile(dialect=dialect)
    return str(compiled)


class TokenReader:
    """Up to `size` autocommit connections of this process's event loop for token checks."""

    def __init__(self, url: str, size: int = CONNECTIONS) -> None:
        self._url = url
        self._size = size
        self._sql = _sql()
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry_at = 0.0  # no connection attempt before this (time.monotonic())

    async def start(self) -> None:
        """Ready for the event loop running now (a connection opens at its first need)."""
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self._size)

    async def stop(self) -> None:
        """Close the idle connections; one in use closes when its check ends."""
        idle, self._idle = self._idle, []
        self._slots, self._loop = None, None
        for connection in idle:
            await connection.close()

    async def token(self, plain: str) -> LiveToken | None:
        """`security.token_of`'s answer for a bearer token: the live token, or None.

        Raises `Unavailable` when this reader cannot ask (not started, asked from another
        event loop than the one it started on, its connection failed or could not be made
        a moment ago, or no answer within `WAIT_SECONDS`): the caller then asks through the
        request's session."""
        slots = self._slots
        if slots is None or asyncio.get_running_loop() is not self._loop:
            raise Unavailable("not started on this event loop")
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                return await self._check(slots, plain)
        except TimeoutError as exc:
            log.warning("token check: no answer in time; asking through the session")
            raise Unavailable("no answer in time") from exc

    async def _check(self, slots: asyncio.Semaphore, plain: str) -> LiveToken | None:
        async with slots:  # released however the check ends, cancelled included
            connection = self._idle.pop() if self._idle else None
            if connection is None and time.monotonic() < self._retry_at:
                raise Unavailable("connecting failed a moment ago")
            try:
                if connection is None:
                    connection = await self._connect()
                cursor = await connection.execute(self._sql, {"token_hash": digest(plain)})
                row = await cursor.fetchone()
            except psycopg.Error as exc:
                log.warning("token check failed (%s); asking through the session", exc)
                if connection is not None:
                    await connection.close()
                raise Unavailable(str(exc)) from exc
            except BaseException:
                # Cancelled (a client gone, a deadline) with the query perhaps under way:
                # the connection is in an unknown state, so it closes (no await left here).
                if connection is not None:
                    connection.pgconn.finish()
                raise
            if slots is self._slots:
                self._idle.append(connection)
            else:  # stopped meanwhile
                await connection.close()
        return live_token(row)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, **CONNECT_OPTIONS
            )
        except psycopg.Error:
            self._retry_at = time.monotonic() + RETRY_AFTER_SECONDS
            raise


def reader_for(engine: Engine) -> TokenReader | None:
    """A token reader on the engine's PostgreSQL database; None for SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return TokenReader(url)
