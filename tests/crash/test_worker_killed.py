"""`kill -9` the worker while it scores, while it delivers the outbox and while it refreshes
warnings, then restart it: no half-written run, no duplicate action, no lost message or
refresh."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.db import now
from patron.demo.loader import load
from patron.engagement.models import Task
from patron.notify.models import OutboxMessage, OutboxStatus
from patron.notify.outbox import enqueue
from patron.rules.models import ActionTaken, Alert, StateChange, WarningRefresh
from patron.rules.refresh import request_refresh
from tests import builders
from tests.demo.conftest import make_spec
from tests.notify.receivers import Mailbox, smtp_server

LEASE = 5


def _worker(db_url: str, *args: str, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "PATRON_WORKER_LEASE_SECONDS": str(LEASE), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "patron", "--db", db_url, "worker", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL, "the worker ended before it could be killed"


def _counts(engine: Engine) -> dict[str, int]:
    models: dict[str, Any] = {
        "snapshots": ScoreSnapshot,
        "runs": ScoringRun,
        "tasks": Task,
        "alerts": Alert,
        "actions": ActionTaken,
        "state_changes": StateChange,
    }
    with engine.connect() as connection:
        return {
            name: connection.scalar(select(func.count()).select_from(model)) or 0
            for name, model in models.items()
        }


def _writing_snapshots(engine: Engine) -> bool:
    """True while another connection holds the write transaction of a scoring run."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            held = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE c.relname = 'score_snapshots' AND l.mode = 'RowExclusiveLock' "
                    "AND l.pid <> pg_backend_pid()"
                )
            )
        return bool(held)
    probe = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


@pytest.mark.slow
def test_worker_killed_while_scoring_leaves_nothing_half_done(db: Engine, db_url: str) -> None:
    load(db, make_spec(customers=1_500))
    before = _counts(db)
    child = _worker(db_url, "--once", "--now", "--jobs", "scoring")
    deadline, held = time.monotonic() + 600, 0
    # Twice in a row, so a job-lock update (a few milliseconds) is not taken for the run.
    while held < 2 and child.poll() is None and time.monotonic() < deadline:
        held = held + 1 if _writing_snapshots(db) else 0
        time.sleep(0.02)
    _kill(child)

    assert _counts(db) == before, "a killed run must leave no snapshot, run or action behind"

    time.sleep(LEASE + 1)  # the dead worker's lease on the job runs out
    done = _worker(db_url, "--once", "--now", "--jobs", "scoring", "--json")
    out, err = done.communicate(timeout=900)
    assert done.returncode == 0, err
    assert json.loads(out)["jobs"]["scoring"]["status"] == "ok"
    first = _counts(db)
    assert first["runs"] == 1 and first["snapshots"] == 1_500
    assert first["tasks"] > before["tasks"] and first["actions"] > 0

    time.sleep(LEASE + 1)
    again = _worker(db_url, "--once", "--now", "--jobs", "scoring", "--json")
    _, err = again.communicate(timeout=900)
    assert again.returncode == 0, err
    second = _counts(db)
    assert second["runs"] == 2 and second["snapshots"] == 3_000
    assert {k: second[k] for k in ("tasks", "alerts", "actions")} == {
        k: first[k] for k in ("tasks", "alerts", "actions")
    }, "the same day scored again must not act twice"


class SlowMailbox(Mailbox):
    """Accepts each message only after a pause, so a worker can be killed mid-delivery."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(0.2)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.slow
def test_worker_killed_while_delivering_loses_no_message(
    db: Engine, db_url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    total = 30
    with sessions.begin() as session:
        for n in range(total):
            enqueue(
                session=session,
                channel="email",
                recipient=f"customer{n}@example.com",
                subject=f"关怀 {n}",
                body="您好",
                dedupe_key=f"crash-{n}",
            )
    mailbox = SlowMailbox()
    with smtp_server(mailbox) as (_, port):
        env = {
            "PATRON_SMTP_HOST": "127.0.0.1",
            "PATRON_SMTP_PORT": str(port),
            "PATRON_NOTIFY_LEASE_SECONDS": str(LEASE),
            "PATRON_NOTIFY_BATCH_SIZE": "5",
        }
        child = _worker(db_url, "--jobs", "outbox", **env)
        deadline = time.monotonic() + 300
        while len(mailbox.messages) < 8 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        _kill(child)
        delivered_before_kill = len(mailbox.messages)
        assert delivered_before_kill < total, "everything went out before the kill"

        time.sleep(LEASE + 1)  # messages the dead worker had claimed come back after its lease
        restarted = _worker(db_url, "--once", "--now", "--jobs", "outbox", "--json", **env)
        _, err = restarted.communicate(timeout=300)
        assert restarted.returncode == 0, err

    with sessions() as session:
        statuses = Counter(session.scalars(select(OutboxMessage.status)))
    assert statuses == Counter({OutboxStatus.sent: total})
    ids = Counter(message["Message-ID"] for message in mailbox.messages)
    assert len(ids) == total, "every message arrived"
    # At-least-once: only a message in flight at the kill can arrive twice, and it keeps its
    # Message-ID, so the receiving side can tell the copy.
    assert sum(ids.values()) - total <= 1


@pytest.mark.slow
def test_worker_killed_while_refreshing_warnings_loses_none_and_acts_once(
    db: Engine, db_url: str, sessions: sessionmaker[Session]
) -> None:
    total = 200
    with sessions.begin() as session:
        # Each customer's spend_drop warning holds (spent 120 days ago, nothing since) and
        # each has a refresh waiting, as completed follow-ups leave them.
        for n in range(total):
            customer = builders.customer(session, f"客户{n}")
            builders.order(session, customer, "100", now() - timedelta(days=120))
            session.flush()
            request_refresh(session, customer.id)
    child = _worker(db_url, "--jobs", "warnings")
    deadline = time.monotonic() + 300
    while child.poll() is None and time.monotonic() < deadline:
        with db.connect() as connection:
            if (connection.scalar(select(func.count()).select_from(Alert)) or 0) >= 20:
                break
        time.sleep(0.01)
    _kill(child)
    with db.connect() as connection:
        left = connection.scalar(select(func.count()).select_from(WarningRefresh)) or 0
    assert 0 < left < total, "the kill came before or after the refreshes"

    time.sleep(LEASE + 1)  # the refreshes the dead worker had claimed come back after its lease
    restarted = _worker(db_url, "--once", "--now", "--jobs", "warnings", "--json")
    out, err = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, err
    assert json.loads(out)["jobs"]["warnings"]["status"] == "ok"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WarningRefresh)) == 0
        raised = Counter(
            session.scalars(select(Alert.customer_id).where(Alert.rule_id == "spend_drop"))
        )
    assert len(raised) == total and set(raised.values()) == {1}, "each raised once, none lost"
