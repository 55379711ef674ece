"""A job's mark as running in this process belongs to the run that claimed it.

Job ids come round again when a store is emptied with its ids restarted (as the tests do
between tests): the thread of a finished job 1 must not unmark the new job 1 on its way out,
or the next read of that job takes it for dead and marks it failed.
"""

from __future__ import annotations

from sqlalchemy import Engine

from patron.config import Settings
from patron.imports import jobs


def test_a_finished_run_leaves_a_newer_claim_of_its_id_alone(db: Engine) -> None:
    old, new = object(), object()
    job_id = 424242  # no such job: the run ends at once, through its cleanup
    with jobs._live_lock:
        jobs._live[job_id] = new
    jobs.run(engine=db, job_id=job_id, settings=Settings(), claim=old)
    assert jobs._live.get(job_id) is new
    jobs.run(engine=db, job_id=job_id, settings=Settings(), claim=new)
    assert job_id not in jobs._live
