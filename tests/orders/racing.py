"""Bulk batches ingested at once, each in a thread and a transaction of its own."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from patron.db import unit_of_work
from patron.orders import service
from patron.orders.schemas import BulkResult


def ingest_at_once(
    sessions: sessionmaker[Session], batches: list[list[dict[str, Any]]], moment: datetime
) -> tuple[list[BulkResult], list[BaseException]]:
    """Start every batch together; what each stored, and what any of them raised."""
    results: list[BulkResult] = []
    failures: list[BaseException] = []
    start = threading.Barrier(len(batches))

    def ingest(rows: list[dict[str, Any]]) -> None:
        start.wait()
        try:
            with unit_of_work(sessions) as session:
                results.append(service.ingest(session=session, rows=rows, moment=moment))
        except BaseException as exc:  # reported by the caller, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=ingest, args=(rows,)) for rows in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, failures
