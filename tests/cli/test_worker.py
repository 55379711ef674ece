"""`patron worker`: one pass with --once, the loop stopping cleanly, and two real worker
processes delivering the same outbox at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import unit_of_work
from patron.notify.models import OutboxMessage, OutboxStatus
from patron.notify.outbox import enqueue
from patron.worker.models import JobLock
from tests import builders
from tests.notify.receivers import http_receiver

SECRET = "cli-worker-secret"


def _env() -> dict[str, str]:
    return os.environ | {"PATRON_WEBHOOK_SECRET": SECRET, "PATRON_WORKER_POLL_SECONDS": "0.2"}


def _command(db_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "patron", "--db", db_url, "worker", *args]


def _once(db_url: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        _command(db_url, "--once", "--json", *args), capture_output=True, text=True,
        env=_env(), check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _enqueue(sessions: sessionmaker[Session], channel: str, recipient: str, *keys: str) -> None:
    with unit_of_work(sessions) as session:
        for key in keys:
            enqueue(
                session=session, channel=channel, recipient=recipient, subject=key, body=key,
                dedupe_key=key,
            )  # fmt: skip


def test_once_runs_the_chosen_jobs_and_records_them(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as session:
        user = builders.user(session)
    _enqueue(sessions, "in_app", str(user.id), "hello")
    result = _once(db_url, "--now", "--jobs", "outbox,points_expiry")
    assert set(result["jobs"]) == {"outbox", "points_expiry"}
    assert result["jobs"]["outbox"]["sent"] == 1
    assert result["jobs"]["points_expiry"]["status"] == "ok"
    with sessions() as session:
        lock = session.scalars(select(JobLock).where(JobLock.name == "points_expiry")).one()
    assert (lock.runs, lock.last_status, lock.lease_until) == (1, "ok", None)
    # Not forced and not due again yet: the daily job stays put.
    assert set(_once(db_url, "--jobs", "points_expiry")["jobs"]) == set()


def test_unknown_jobs_and_now_without_once_are_refused(db_url: str) -> None:
    for args in (["--once", "--jobs", "nightly"], ["--now"]):
        done = subprocess.run(
            _command(db_url, *args), capture_output=True, text=True, env=_env(), check=False
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1


def test_two_worker_processes_deliver_each_message_once(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    with http_receiver() as receiver:
        _enqueue(sessions, "webhook", receiver.url, *(f"m{n}" for n in range(30)))
        workers = [
            subprocess.Popen(
                _command(db_url, "--once", "--json", "--jobs", "outbox"),
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    sent = sum(json.loads(out)["jobs"]["outbox"]["sent"] for out, _ in outputs)
    delivered = Counter(r.headers["X-Patron-Delivery"] for r in receiver.requests)
    assert sent == 30 and delivered == Counter({f"m{n}": 1 for n in range(30)})


def test_the_loop_delivers_then_stops_cleanly_on_sigterm(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as session:
        user = builders.user(session)
    worker = subprocess.Popen(
        _command(db_url, "--jobs", "outbox"), env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _enqueue(sessions, "in_app", str(user.id), "while-running")
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and status != OutboxStatus.sent:
            time.sleep(0.2)
            with sessions() as session:
                status = session.scalar(select(OutboxMessage.status))
        assert status == OutboxStatus.sent
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "worker stopped" in out
