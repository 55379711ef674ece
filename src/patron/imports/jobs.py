"""Imports as background jobs: queue an uploaded file, run it on its own thread through the
public `import_file`, record progress and the summary, and fail jobs whose runner died.

Each state change commits at once, so any request (from any server process) reads the latest.
A job is dead when its runner process is gone from this host, or it showed no life for
`STALE_AFTER`; reading it then marks it failed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.db import now
from patron.errors import PatronError
from patron.imports.models import ImportJob, JobStatus
from patron.imports.service import import_file

log = logging.getLogger("patron.imports")
BOOT = uuid.uuid4().hex[:12]
HOST = socket.gethostname()
RUNNER = f"{HOST}:{os.getpid()}:{BOOT}"
HEARTBEAT = timedelta(seconds=10)
STALE_AFTER = timedelta(minutes=2)
OPEN = (JobStatus.queued, JobStatus.running)
# The jobs this process runs, each with the claim its thread holds: a job id can come round
# again (a store emptied with its ids restarted, as tests do), and a thread that has just
# finished the old job must not unmark the new one.
_live: dict[int, object] = {}
_live_lock = threading.Lock()


@dataclass(frozen=True)
class Upload:
    """A file saved for a job: where it is, its original name and size."""

    kind: str
    path: Path
    filename: str
    size_bytes: int


def create(*, session: Session, upload: Upload, user_id: int | None) -> ImportJob:
    """A queued job for the saved upload, claimed by this process."""
    job = ImportJob(
        kind=upload.kind, filename=upload.filename, user_id=user_id,
        upload_path=str(upload.path), size_bytes=upload.size_bytes,
        runner=RUNNER, heartbeat_at=now(),
    )  # fmt: skip
    session.add(job)
    session.flush()
    # Live from now on, so no reader in this process takes it for dead before its thread runs.
    with _live_lock:
        _live[job.id] = object()
    return job


def start(*, engine: Engine, job_id: int, settings: Settings) -> threading.Thread:
    """Run the (committed) job on its own thread; returns the thread."""
    with _live_lock:
        claim = _live.setdefault(job_id, object())
    thread = threading.Thread(
        target=run,
        kwargs={"engine": engine, "job_id": job_id, "settings": settings, "claim": claim},
        name=f"import-job-{job_id}", daemon=True,
    )  # fmt: skip
    thread.start()
    return thread


def _set(engine: Engine, job_id: int, **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))


def run(*, engine: Engine, job_id: int, settings: Settings, claim: object = None) -> None:
    """Import the job's file; every outcome, even an unexpected fault, ends in done or failed.

    `claim` is the job's mark in `_live`, removed at the end if it is still this run's."""
    stop = threading.Event()
    try:
        with Session(engine) as session:
            job = session.get(ImportJob, job_id)
            if job is None:
                return
            kind, upload = job.kind, Path(job.upload_path)
        _set(engine, job_id, status=JobStatus.running, started_at=now(), heartbeat_at=now())
        threading.Thread(target=_beat, args=(engine, job_id, stop), daemon=True).start()
        _import(engine, job_id, kind, upload, settings)
    except PatronError as exc:
        _set(engine, job_id, status=JobStatus.failed, error=exc.message, finished_at=now())
    except Exception:
        log.exception("import job %s failed", job_id)
        _set(engine, job_id, status=JobStatus.failed, finished_at=now(),
             error="the import stopped on a fault in the server; see the server log")  # fmt: skip
    finally:
        stop.set()
        with _live_lock:
            if _live.get(job_id) is claim:
                del _live[job_id]


def _import(engine: Engine, job_id: int, kind: str, upload: Path, settings: Settings) -> None:
    rejects = upload.with_name("rejects.csv")

    def progress(rows: int, position: int, total: int) -> None:
        _set(engine, job_id, rows_done=rows, position=position, total=total, heartbeat_at=now())

    result = import_file(
        engine=engine, kind=kind, path=upload, rejects_path=rejects, settings=settings,
        progress=progress,
    )  # fmt: skip
    counts = result.counts
    _set(
        engine, job_id, status=JobStatus.done, finished_at=now(), rows_done=counts.rows,
        position=ImportJob.total, inserted=counts.inserted, updated=counts.updated,
        unchanged=counts.unchanged, rejected=counts.rejected,
        rejects_path=str(rejects) if counts.rejected else None,
    )  # fmt: skip


def _beat(engine: Engine, job_id: int, stop: threading.Event) -> None:
    """Show life while the import runs, even during a long batch."""
    while not stop.wait(HEARTBEAT.total_seconds()):
        try:
            _set(engine, job_id, heartbeat_at=now())
        except OperationalError:
            # SQLite busy with the import's own batch: the next beat will do.
            log.debug("heartbeat of import job %s skipped", job_id)


def _runner_gone(runner: str | None) -> bool:
    """Whether the process named by `runner` certainly no longer runs the job."""
    if not runner or runner.count(":") != 2:
        return True
    host, pid, boot = runner.split(":")
    if host != HOST:
        return False
    if boot == BOOT:
        return False
    if pid == str(os.getpid()):
        # This very process id with another boot id: a restart (in a container, say) took it.
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return True
    except PermissionError:
        pass
    # The pid lives (perhaps as another program by now): only a stale heartbeat tells.
    return False


def is_dead(job: ImportJob, moment: datetime) -> bool:
    """Whether an unfinished job's runner is gone or it showed no life for too long."""
    if job.status not in OPEN:
        return False
    if job.runner == RUNNER:
        with _live_lock:
            return job.id not in _live
    stale = job.heartbeat_at is None or moment - job.heartbeat_at > STALE_AFTER
    return stale or _runner_gone(job.runner)


def fail_dead(*, session: Session) -> int:
    """Mark every unfinished job whose runner died as failed; returns how many."""
    moment = now()
    open_jobs = session.scalars(
        select(ImportJob).where(or_(*(ImportJob.status == s for s in OPEN)))
    ).all()
    dead = [job for job in open_jobs if is_dead(job, moment)]
    for job in dead:
        job.status = JobStatus.failed
        job.finished_at = moment
        job.error = "the server stopped while this import ran: upload the file again"
    session.flush()
    return len(dead)
