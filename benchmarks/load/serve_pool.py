"""`patron serve`'s app with its requests gated to the connection pool, for a comparison run.

    .venv/bin/python benchmarks/load/serve_pool.py URL PORT POOL

`patron serve` builds its engine with 10 + 20 connections while FastAPI runs synchronous
endpoints and the request session's commit in a pool of 40 threads; under load every
connection can end up held by a finished request waiting for a thread to commit while the
threads wait for a connection (docs/benchmarks.md, "Load test"). This serves the very same
app (`create_app`), migrated first like `patron serve`, on an engine of POOL connections (plus
10 spare) and lets at most POOL requests into it at once (the others wait in the event loop, holding
neither a thread nor a connection), to measure what such a gate changes. Loopback only.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvicorn
from sqlalchemy import create_engine

from patron.api.app import create_app
from patron.config import get_settings
from patron.db import normalise_url
from patron.schema import migrate


class Gate:
    """ASGI middleware: at most `size` HTTP requests inside the app at a time."""

    def __init__(self, app: Any, size: int) -> None:
        self.app = app
        self.slots = asyncio.Semaphore(size)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.slots:
            await self.app(scope, receive, send)


def main() -> None:
    url, port, pool = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    engine = create_engine(normalise_url(url), pool_pre_ping=True, pool_size=pool, max_overflow=10)
    migrate(engine)
    settings = get_settings().model_copy(update={"database_url": url})
    app = create_app(settings, engine=engine)
    uvicorn.run(Gate(app, pool), host="127.0.0.1", port=port, log_level="info", proxy_headers=True)


if __name__ == "__main__":
    main()
