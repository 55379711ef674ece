"""Many requests at once on a pool of two connections: every one is answered."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from patron.api.app import create_app
from patron.api.gate import slots_for
from patron.config import Settings
from patron.db import normalise_url
from tests.api.conftest import World, bearer


def test_a_burst_larger_than_the_pool_is_served_without_errors(
    db_url: str, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        for n in range(5):
            world.customer(session, "own", name=f"客户{n}")
    engine = create_engine(normalise_url(db_url), pool_size=2, max_overflow=0, pool_timeout=5)
    app = create_app(Settings(environment="test", database_url=db_url), engine=engine)
    assert slots_for(engine) == 2
    headers = bearer(world.tokens["agent"])

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            answers = await asyncio.gather(
                *(client.get("/api/v1/customers", headers=headers) for _ in range(60))
            )
        return [answer.status_code for answer in answers]

    try:
        assert asyncio.run(burst()) == [200] * 60
    finally:
        engine.dispose()
