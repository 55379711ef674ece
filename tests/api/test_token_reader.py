"""The token check on the event loop (patron.api.token_reader): the same answers as through
the session, nothing kept between requests, and the session's way when its connection fails."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.api import token_reader
from patron.api.security import LiveToken, digest
from patron.api.token_reader import TokenReader, Unavailable
from patron.auth.models import ApiToken
from tests.api.conftest import World, bearer, make_app

ON_POSTGRESQL = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


@pytest.fixture
def servers(db: Engine) -> Iterator[tuple[TestClient, TestClient]]:
    """Two app instances on one database, as two server processes, both started."""
    with TestClient(make_app(db)) as a, TestClient(make_app(db)) as b:
        yield a, b


def _reader(client: TestClient) -> TokenReader:
    reader: TokenReader = client.app.state.token_reader  # type: ignore[attr-defined]
    return reader


def _me(client: TestClient, token: str) -> int:
    return client.get("/api/v1/auth/me", headers=bearer(token)).status_code


def _reader_connections(db: Engine) -> list[int]:
    url = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'SELECT api_tokens.id%%' AND pid <> pg_backend_pid()"
        ).fetchall()
    return [row[0] for row in rows]


@ON_POSTGRESQL
def test_tokens_are_checked_on_the_readers_connections(
    servers: tuple[TestClient, TestClient], world: World, db: Engine
) -> None:
    _, b = servers
    assert _me(b, world.tokens["agent"]) == 200
    assert _me(b, "ptk_not-a-token") == 401
    assert _reader_connections(db)  # the check ran there, not in the request's session


@ON_POSTGRESQL
def test_a_token_revoked_or_a_user_deactivated_on_one_server_is_refused_by_another_at_once(
    servers: tuple[TestClient, TestClient], world: World, sessions: sessionmaker[Session]
) -> None:
    a, b = servers
    agent, manager, admin = world.tokens["agent"], world.tokens["manager"], world.tokens["admin"]
    assert _me(b, agent) == 200 and _me(b, manager) == 200
    with sessions() as session:
        token_id = session.query(ApiToken.id).filter_by(token_hash=digest(agent)).scalar()
    assert a.delete(f"/api/v1/tokens/{token_id}", headers=bearer(admin)).status_code == 204
    assert _me(b, agent) == 401
    manager_id = world.users["manager"].id
    changed = a.patch(
        f"/api/v1/users/{manager_id}", json={"role": "analyst"}, headers=bearer(admin)
    )
    assert changed.status_code == 200
    assert b.get("/api/v1/auth/me", headers=bearer(manager)).json()["role"] == "analyst"
    changed = a.patch(f"/api/v1/users/{manager_id}", json={"active": False}, headers=bearer(admin))
    assert changed.status_code == 200
    assert _me(b, manager) == 401


@ON_POSTGRESQL
def test_a_failed_connection_leaves_the_check_to_the_session_then_reconnects(
    servers: tuple[TestClient, TestClient], world: World, db: Engine
) -> None:
    _, b = servers
    agent = world.tokens["agent"]
    assert _me(b, agent) == 200
    pids = _reader_connections(db)
    assert pids
    url = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:  # as a database restart would
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert _me(b, agent) == 200  # asked through the session meanwhile
    assert _me(b, agent) == 200
    assert set(_reader_connections(db)) - set(pids)  # a new connection


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_on_sqlite_the_session_checks_tokens(client: TestClient, world: World) -> None:
    assert client.app.state.token_reader is None  # type: ignore[attr-defined]
    assert _me(client, world.tokens["agent"]) == 200


@ON_POSTGRESQL
def test_an_app_not_started_checks_tokens_through_the_session(
    app: object, world: World, db: Engine
) -> None:
    client = TestClient(make_app(db))  # no lifespan: the reader never started
    assert _me(client, world.tokens["agent"]) == 200
    assert not _reader_connections(db)


def _url(db: Engine) -> str:
    return db.url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def _slow(reader: TokenReader, seconds: float) -> Iterator[None]:
    """The reader's checks take `seconds` meanwhile (the same statement behind a sleep)."""
    fast = reader._sql
    reader._sql = fast.replace("WHERE ", f"WHERE (SELECT pg_sleep({seconds})::text) <> 'x' AND ")
    try:
        yield
    finally:
        reader._sql = fast


@ON_POSTGRESQL
def test_checks_cancelled_midway_give_their_connections_back(db: Engine, world: World) -> None:
    async def scenario() -> LiveToken | None:
        reader = TokenReader(_url(db))
        await reader.start()
        try:
            for _ in range(token_reader.CONNECTIONS + 1):  # more than the reader has
                with _slow(reader, 2):
                    check = asyncio.create_task(reader.token(world.tokens["agent"]))
                    await asyncio.sleep(0.3)
                    check.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await check
            async with asyncio.timeout(3):
                return await reader.token(world.tokens["agent"])
        finally:
            await reader.stop()

    found = asyncio.run(scenario())
    assert found is not None and found.username == world.users["agent"].username


@ON_POSTGRESQL
def test_a_reader_stopped_and_started_again_answers(db: Engine, world: World) -> None:
    async def scenario() -> list[LiveToken | None]:
        reader = TokenReader(_url(db))
        answers = []
        for _ in range(3):  # as an app object taken through its lifespan again
            await reader.start()
            async with asyncio.timeout(3):
                checks = [reader.token(world.tokens["agent"]) for _ in range(4)]
                answers += await asyncio.gather(*checks)
            await reader.stop()
        return answers

    answers = asyncio.run(scenario())
    assert len(answers) == 12 and all(answer is not None for answer in answers)


@ON_POSTGRESQL
def test_a_check_that_takes_too_long_is_left_to_the_session(
    db: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(token_reader, "WAIT_SECONDS", 0.5)

    async def scenario() -> LiveToken | None:
        reader = TokenReader(_url(db))
        await reader.start()
        try:
            # Both connections busy with a query that does not answer in time: each check
            # gives up, and a later one waiting for a free connection gives up too.
            with _slow(reader, 3):
                checks = [reader.token(world.tokens["agent"]) for _ in range(3)]
                results = await asyncio.gather(*checks, return_exceptions=True)
            assert all(isinstance(result, token_reader.Unavailable) for result in results)
            return await reader.token(world.tokens["agent"])  # the slots are free again
        finally:
            await reader.stop()

    assert asyncio.run(scenario()) is not None


@ON_POSTGRESQL
def test_a_cancelled_check_gives_its_connection_place_back(world: World, db: Engine) -> None:
    url = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    token = world.tokens["agent"]

    async def scenario() -> None:
        reader = TokenReader(url, size=1)
        await reader.start()
        assert await reader.token(token) is not None
        for steps in range(1, 6):  # cancelled at different points of the check
            check = asyncio.create_task(reader.token(token))
            for _ in range(steps):
                await asyncio.sleep(0)
            check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await check
            found = await asyncio.wait_for(reader.token(token), timeout=5)
            assert found is not None and found.role.value == "agent"
        await reader.stop()

    asyncio.run(scenario())


@ON_POSTGRESQL
def test_another_event_loop_asks_through_the_session(world: World, db: Engine) -> None:
    url = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    reader = TokenReader(url)
    asyncio.run(reader.start())
    with pytest.raises(Unavailable):
        asyncio.run(reader.token(world.tokens["agent"]))
