"""An import uploaded through the API and run in the background: its state, progress and
summary, kept in the database so any request (or a restarted server) can read them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, now


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class ImportJob(Base):
    """One uploaded file being (or having been) imported."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16), default=JobStatus.queued, index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    upload_path: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(default=0)
    # Which process runs it ("host:pid:boot") and when it last showed life: a job whose runner
    # is gone (a restart, a crash) is marked failed instead of looking busy for ever.
    runner: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None]
    rows_done: Mapped[int] = mapped_column(default=0)
    position: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    inserted: Mapped[int | None]
    updated: Mapped[int | None]
    unchanged: Mapped[int | None]
    rejected: Mapped[int | None]
    rejects_path: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
