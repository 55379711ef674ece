"""Real concurrency for tests: attempts in separate threads, each with its own session and
database connection, either released together by a barrier or made to overlap for certain."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from patron.errors import PatronError

Attempt = Callable[[Session], Any]


def _run(sessions: sessionmaker[Session], attempt: Attempt, before: Callable[[], None]) -> Any:
    with sessions() as session:
        session.connection()  # its own connection, checked out before the start signal
        before()
        try:
            result = attempt(session)
            session.commit()
            return result
        except PatronError as exc:
            session.rollback()
            return exc


def _threads(jobs: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(jobs)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = jobs[index]()
        except BaseException as exc:  # surfaced below, so a crash cannot pass as a refusal
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an attempt never finished"
    if failures:
        raise failures[0]
    return results


def race(sessions: sessionmaker[Session], attempts: list[Attempt]) -> list[Any]:
    """Run the attempts at the same moment (a barrier releases them together); each commits
    on success. The results, or the PatronError each was refused with."""
    barrier = threading.Barrier(len(attempts))

    def job(attempt: Attempt) -> Callable[[], Any]:
        return lambda: _run(sessions, attempt, lambda: barrier.wait(timeout=60))

    return _threads([job(attempt) for attempt in attempts])


def _wait_until_blocked(sessions: sessionmaker[Session]) -> None:
    """Return once another transaction waits on a lock we hold (PostgreSQL), or after a
    moment (SQLite, whose busy wait cannot be observed from outside)."""
    with sessions() as watcher:
        if watcher.get_bind().dialect.name != "postgresql":
            time.sleep(0.5)
            return
        query = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        for _ in range(2000):
            if watcher.execute(query).scalar():
                return
            watcher.rollback()
            time.sleep(0.005)
    raise AssertionError("the second transaction never waited on the first one's lock")


def overlap(sessions: sessionmaker[Session], first: Attempt, second: Attempt) -> list[Any]:
    """`first` does its work and keeps its transaction open until `second` is running and
    waiting on it, then commits: the two certainly overlap."""
    first_done = threading.Event()
    second_started = threading.Event()

    def run_first() -> Any:
        with sessions() as session:
            try:
                result = first(session)
            except PatronError as exc:
                session.rollback()
                first_done.set()
                return exc
            first_done.set()
            second_started.wait(timeout=60)
            _wait_until_blocked(sessions)
            session.commit()
            return result

    def run_second() -> Any:
        def start() -> None:
            first_done.wait(timeout=60)
            second_started.set()

        return _run(sessions, second, start)

    return _threads([run_first, run_second])
