"""At most as many requests inside the app as the database pool has connections.

FastAPI runs synchronous endpoints and dependencies on a pool of threads, one step at a time,
and the request's session keeps its connection from the first query to the commit in its last
step. With more requests inside than connections, every connection can end up held by a request
waiting for a thread while every thread waits for a connection: the server stalls and requests
fail after the pool's timeout (docs/benchmarks.md, "Load test"). Requests past the limit wait
here, in the event loop, holding neither a thread nor a connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine

DEFAULT_SLOTS = 10


def slots_for(engine: Engine) -> int:
    """The pool's steady size (its overflow stays spare for background work)."""
    size = getattr(engine.pool, "size", None)
    return max(int(size()), 1) if callable(size) else DEFAULT_SLOTS


class ConnectionGate:
    """ASGI middleware letting at most `slots` HTTP requests into the app at a time."""

    def __init__(self, app: Any, slots: int) -> None:
        self.app = app
        self.size = slots
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(slots)

    def _slots_here(self) -> asyncio.Semaphore:
        # A semaphore belongs to one event loop; a new loop (a restarted server) gets its own.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._slots = loop, asyncio.Semaphore(self.size)
        return self._slots

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self._slots_here():
            await self.app(scope, receive, send)
