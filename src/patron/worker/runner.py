"""The worker loop: each tick runs the jobs that are due, each exclusive job under its lock."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from patron.db import now
from patron.notify.worker import worker_name
from patron.worker import locks
from patron.worker.jobs import JOBS, Job, JobRun
from patron.worker.schedule import Timing, WorkerSettings, get_worker_settings, timings

log = logging.getLogger("patron.worker")


@dataclass
class Worker:
    """One worker process's jobs and their timings; many workers may run side by side."""

    engine: Engine
    jobs: dict[str, Job]
    schedule: dict[str, Timing]
    settings: WorkerSettings
    name: str = field(default_factory=worker_name)
    # Shared jobs (outbox delivery) run in every worker, so their timing is kept per process.
    _local_due: dict[str, datetime] = field(default_factory=dict)
    _ensured: bool = False

    @classmethod
    def build(
        cls, engine: Engine, names: list[str] | None = None, settings: WorkerSettings | None = None
    ) -> Worker:
        """A worker for the named jobs (default: all), timed by the settings."""
        settings = settings or get_worker_settings()
        chosen = names or list(JOBS)
        schedule = timings(settings, chosen)
        return cls(engine, {n: JOBS[n] for n in chosen if n in schedule}, schedule, settings)

    def tick(self, *, force: bool = False, moment: datetime | None = None) -> dict[str, JobRun]:
        """Run every job that is due (every job with `force`); what each reported.

        `moment` pins the clock (tests); otherwise each job is checked at the time it is reached.
        """
        if not self._ensured:
            locks.ensure(self.engine, {n: self.schedule[n] for n in self.jobs}, moment or now())
            self._ensured = True
        done: dict[str, JobRun] = {}
        for name, job in self.jobs.items():
            at = moment or now()
            if not job.exclusive:
                if force or at >= self._local_due.get(name, at):
                    self._local_due[name] = self.schedule[name].next_due(at)
                    done[name] = self._guarded(job, at)
            elif locks.acquire(
                self.engine, name, worker=self.name, lease_seconds=self.settings.lease_seconds,
                moment=at, force=force,
            ):  # fmt: skip
                done[name] = self._exclusive(job, at)
        return done

    def _exclusive(self, job: Job, moment: datetime) -> JobRun:
        with locks.Heartbeat(
            self.engine, job.name, worker=self.name, lease_seconds=self.settings.lease_seconds
        ):
            outcome = self._guarded(job, moment)
        next_due = self.schedule[job.name].next_due(moment)
        if outcome.status == "failed":
            next_due = min(next_due, now() + timedelta(seconds=self.settings.retry_seconds))
        locks.release(
            self.engine, job.name, worker=self.name, status=outcome.status,
            error=outcome.summary.get("error"), next_due_at=next_due,
        )  # fmt: skip
        return outcome

    def _guarded(self, job: Job, moment: datetime) -> JobRun:
        # One job's failure is recorded and logged; the worker and the other jobs go on.
        try:
            outcome = job.run(self.engine, moment)
        except Exception as exc:
            log.exception("job %s failed", job.name)
            return JobRun("failed", {"error": f"{type(exc).__name__}: {exc}"})
        if job.exclusive or any(outcome.summary.values()):
            log.info("job %s: %s %s", job.name, outcome.status, outcome.summary)
        return outcome

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set, pausing `poll_seconds` between ticks."""
        log.info("worker %s running %s", self.name, ", ".join(self.jobs))
        while not stop.is_set():
            self.tick()
            stop.wait(self.settings.poll_seconds)
