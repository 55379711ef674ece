"""One row per scheduled job: its lease (so two workers never run it at once) and its last run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base


class JobLock(Base):
    """A job's lease and history; claimed by one atomic conditional UPDATE."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    # Held while the job runs; past it, a crashed worker's claim no longer counts.
    lease_until: Mapped[datetime | None]
    next_due_at: Mapped[datetime | None]
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(default=0)
