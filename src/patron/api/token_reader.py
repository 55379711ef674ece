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
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql

from patron.api.security import LiveToken, digest, live_token, token_query

log = logging.getLogger(__name__)
CONNECTIONS = 2


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
        self._opened = 0
        self._freed: asyncio.Condition | None = None

    async def start(self) -> None:
        """Ready for the event loop running now (a connection opens at its first need)."""
        self._freed = asyncio.Condition()

    async def stop(self) -> None:
        """Close the idle connections; those in use close when given back."""
        idle, self._idle = self._idle, []
        self._freed = None
        for connection in idle:
            await connection.close()

    async def token(self, plain: str) -> LiveToken | None:
        """`security.token_of`'s answer for a bearer token: the live token, or None.

        Raises `Unavailable` when this reader cannot ask (not started, or its connection
        failed): the caller then asks through the request's session."""
        freed = self._freed
        if freed is None:
            raise Unavailable("not started")
        try:
            connection = await self._take(freed)
        except psycopg.Error as exc:
            log.warning("token check: cannot connect (%s); asking through the session", exc)
            raise Unavailable(str(exc)) from exc
        try:
            cursor = await connection.execute(self._sql, {"token_hash": digest(plain)})
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            log.warning("token check failed (%s); asking through the session", exc)
            await self._discard(connection, freed)
            raise Unavailable(str(exc)) from exc
        await self._give(connection, freed)
        return live_token(row)

    async def _take(self, freed: asyncio.Condition) -> psycopg.AsyncConnection[Any]:
        async with freed:
            while not self._idle and self._opened >= self._size:
                await freed.wait()
            if self._idle:
                return self._idle.pop()
            self._opened += 1
        try:
            return await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        except BaseException:
            async with freed:
                self._opened -= 1
                freed.notify()
            raise

    async def _give(
        self, connection: psycopg.AsyncConnection[Any], freed: asyncio.Condition
    ) -> None:
        if freed is not self._freed:  # stopped meanwhile
            await connection.close()
            return
        async with freed:
            self._idle.append(connection)
            freed.notify()

    async def _discard(
        self, connection: psycopg.AsyncConnection[Any], freed: asyncio.Condition
    ) -> None:
        await connection.close()
        async with freed:
            self._opened -= 1
            freed.notify()


def reader_for(engine: Engine) -> TokenReader | None:
    """A token reader on the engine's PostgreSQL database; None for SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return TokenReader(url)
