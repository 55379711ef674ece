"""The worker loop and its job locks on SQLite and PostgreSQL: one runner per job at a time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.models import ScoringRun
from patron.db import now, unit_of_work
from patron.worker import locks
from patron.worker.jobs import JOBS, Job, JobRun, call_with
from patron.worker.models import JobLock
from patron.worker.runner import Worker
from patron.worker.schedule import DailyAt, Every, Timing, WorkerSettings
from tests import builders

MORNING = datetime(2024, 5, 1, 2, 0)


@dataclass
class Probe:
    """A job that counts its runs and how many of them ever overlapped."""

    pause: float = 0.0
    runs: int = 0
    active: int = 0
    most_at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, engine: Engine, moment: datetime) -> JobRun:
        with self.lock:
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
        time.sleep(self.pause)  # widens the window in which a second runner could slip in
        with self.lock:
            self.active -= 1
            self.runs += 1
        return JobRun("ok", {"runs": self.runs})


def _worker(db: Engine, job: Job, timing: Timing, name: str) -> Worker:
    settings = WorkerSettings(lease_seconds=60)
    return Worker(db, {job.name: job}, {job.name: timing}, settings, name=name)


def _lock(db: Engine, name: str) -> JobLock:
    with Session(db) as session:
        return session.scalars(select(JobLock).where(JobLock.name == name)).one()


def test_two_worker_loops_never_run_the_same_job_at_once(db: Engine) -> None:
    probe = Probe(pause=0.02)
    job = Job("probe", probe)
    workers = [_worker(db, job, Every(0), f"w{i}") for i in (1, 2)]
    start = threading.Barrier(2)

    def loop(worker: Worker) -> None:
        start.wait()
        for _ in range(15):
            worker.tick()

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert probe.most_at_once == 1
    assert probe.runs >= 1
    stored = _lock(db, "probe")
    assert (stored.runs, stored.lease_until, stored.last_status) == (probe.runs, None, "ok")


def test_a_due_daily_job_runs_once_however_many_workers_tick(db: Engine) -> None:
    probe = Probe()
    job = Job("nightly", probe)
    workers = [_worker(db, job, DailyAt(MORNING.time()), f"w{i}") for i in (1, 2, 3)]
    for worker in workers:
        worker.tick(moment=MORNING)
        worker.tick(moment=MORNING + timedelta(hours=5))
    assert probe.runs == 1
    assert _lock(db, "nightly").next_due_at == MORNING + timedelta(days=1)
    workers[0].tick(moment=MORNING + timedelta(days=1))
    assert probe.runs == 2


def test_a_crashed_workers_lease_blocks_the_job_until_it_expires(db: Engine) -> None:
    probe = Probe()
    job = Job("probe", probe)
    survivor = _worker(db, job, Every(60), "survivor")
    locks.ensure(db, {"probe": Every(60)}, MORNING)
    assert locks.acquire(db, "probe", worker="crashed", lease_seconds=60, moment=MORNING)
    survivor.tick(moment=MORNING + timedelta(seconds=30))
    assert probe.runs == 0
    survivor.tick(moment=MORNING + timedelta(seconds=61))
    assert probe.runs == 1
    assert _lock(db, "probe").locked_by is None


def test_a_failing_job_is_recorded_and_retried_sooner(db: Engine) -> None:
    def broken(engine: Engine, moment: datetime) -> JobRun:
        raise RuntimeError("the data is not there yet")

    worker = _worker(db, Job("broken", broken), DailyAt(MORNING.time()), "w")
    outcome = worker.tick(force=True)["broken"]
    assert outcome.status == "failed"
    stored = _lock(db, "broken")
    assert stored.last_status == "failed"
    assert stored.last_error == "RuntimeError: the data is not there yet"
    assert stored.next_due_at is not None
    assert stored.next_due_at <= now() + timedelta(seconds=worker.settings.retry_seconds)


def test_force_runs_a_job_that_is_not_due(db: Engine) -> None:
    probe = Probe()
    worker = _worker(db, Job("probe", probe), DailyAt(MORNING.time()), "w")
    worker.tick(moment=MORNING + timedelta(hours=1))
    assert probe.runs == 0
    worker.tick(moment=MORNING + timedelta(hours=1), force=True)
    assert probe.runs == 1


def test_a_shared_job_runs_in_every_worker_on_its_own_clock(db: Engine) -> None:
    probe = Probe()
    job = Job("shared", probe, exclusive=False)
    first, second = (_worker(db, job, Every(10), f"w{i}") for i in (1, 2))
    first.tick(moment=MORNING)
    second.tick(moment=MORNING)
    first.tick(moment=MORNING + timedelta(seconds=5))
    assert probe.runs == 2
    first.tick(moment=MORNING + timedelta(seconds=10))
    assert probe.runs == 3


def test_a_job_whose_function_is_missing_reports_it_unavailable(db: Engine) -> None:
    from patron.worker.jobs import _optional

    missing = _optional("Gadgets", (("patron.no_such_module", "go"),))
    outcome = _worker(db, Job("gadgets", missing), Every(60), "w").tick()["gadgets"]
    assert outcome.status == "unavailable"
    assert "patron.no_such_module.go is not installed" in outcome.summary["reason"]
    assert _lock(db, "gadgets").last_status == "unavailable"


def test_domain_functions_get_an_engine_or_a_session_and_the_moment(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    seen: dict[str, Any] = {}

    def with_session(*, session: Session, moment: datetime) -> int:
        seen["session"] = isinstance(session, Session)
        builders.customer(session)
        return 1

    def with_engine(*, engine_or_session: Engine, now: datetime) -> dict[int, int]:
        seen["engine"], seen["now"] = engine_or_session, now
        return {1: 5, 2: 7}

    assert call_with(with_session, db, MORNING) == 1
    assert call_with(with_engine, db, MORNING) == {1: 5, 2: 7}
    assert seen == {"session": True, "engine": db, "now": MORNING}
    with sessions() as session:  # the session's work was committed
        from patron.customers.models import Customer

        assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_the_scoring_job_stores_a_run(db: Engine, sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as session:
        for n in range(3):
            person = builders.customer(session, f"客户{n}")
            builders.order(session, person)
    outcome = JOBS["scoring"].run(db, now())
    assert outcome.status == "ok" and outcome.summary["customers"] == 3
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ScoringRun)) == 1
