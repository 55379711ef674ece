"""The jobs the worker runs: nightly scoring, SLA checks, points expiry, planned follow-ups,
the period-end tier review, outbox delivery and the warning refreshes changes asked for.

SLA checks and points expiry live in other domains; each is looked up when its job runs, and
a job whose function is not installed reports itself unavailable instead of failing the worker.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from patron.db import session_factory, unit_of_work
from patron.errors import ConfigError

log = logging.getLogger("patron.worker")


@dataclass(frozen=True)
class JobRun:
    """What a job run reports: its status ('ok', 'unavailable', 'failed') and a summary."""

    status: str
    summary: dict[str, Any]


@dataclass(frozen=True)
class Job:
    """A named job; an exclusive one runs in one worker at a time under the job lock."""

    name: str
    run: Callable[[Engine, datetime], JobRun]
    exclusive: bool = True


def _summary(result: Any) -> dict[str, Any]:
    if hasattr(result, "as_dict"):
        plain: dict[str, Any] = result.as_dict()
        return plain
    if isinstance(result, int):
        return {"count": result}
    if isinstance(result, dict):
        numbers = [v for v in result.values() if isinstance(v, int | float)]
        return {"items": len(result), "total": sum(numbers)}
    return {}


def _find(candidates: tuple[tuple[str, str], ...]) -> Callable[..., Any] | None:
    for module_name, attribute in candidates:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only the module itself being absent means "not installed"; a broken import fails.
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            continue
        found = getattr(module, attribute, None)
        if callable(found):
            return found  # type: ignore[no-any-return]
    return None


def call_with(function: Callable[..., Any], engine: Engine, moment: datetime) -> Any:
    """Call a domain function with what it asks for: an engine or a session, and the moment."""
    params = inspect.signature(function).parameters
    timed = {name: moment for name in ("now", "moment", "as_of") if name in params}
    for name in ("engine_or_session", "engine"):
        if name in params:
            return function(**{name: engine}, **timed)
    if "session" in params:
        with unit_of_work(session_factory(engine)) as session:
            return function(session=session, **timed)
    raise ConfigError(f"{function.__module__}.{function.__name__} takes no engine or session")


def _optional(
    label: str, candidates: tuple[tuple[str, str], ...]
) -> Callable[[Engine, datetime], JobRun]:
    def run(engine: Engine, moment: datetime) -> JobRun:
        function = _find(candidates)
        if function is None:
            wanted = " or ".join(f"{m}.{a}" for m, a in candidates)
            log.warning("%s is unavailable: %s is not installed", label, wanted)
            return JobRun("unavailable", {"reason": f"{wanted} is not installed"})
        return JobRun("ok", _summary(call_with(function, engine, moment)))

    return run


def _scoring(engine: Engine, moment: datetime) -> JobRun:
    from patron.rules.runs import run_scoring  # heavy: loaded only when the job runs

    outcome = run_scoring(engine=engine, as_of=moment)
    return JobRun(
        "ok", {"run_id": outcome.run_id, "customers": outcome.customers, **outcome.applied}
    )


def _outbox(engine: Engine, moment: datetime) -> JobRun:
    from patron.notify import webhooks
    from patron.notify.worker import drain

    # Bounded, so a flood of messages cannot starve the scheduled jobs of this worker.
    return JobRun("ok", drain(engine, max_batches=20, senders=webhooks.senders(engine)).as_dict())


def _warnings(engine: Engine, moment: datetime) -> JobRun:
    from patron.notify.worker import worker_name
    from patron.rules.refresh import run_queued
    from patron.worker.schedule import get_worker_settings

    lease = timedelta(seconds=get_worker_settings().lease_seconds)
    # Bounded like the outbox: a burst of changes cannot starve the scheduled jobs.
    report = run_queued(engine, worker=worker_name(), lease=lease, max_batches=20)
    return JobRun("ok", report.as_dict())


def _follow_ups(engine: Engine, moment: datetime) -> JobRun:
    from patron.engagement.service import create_planned_follow_ups

    return JobRun("ok", {"created": create_planned_follow_ups(engine_or_session=engine,
                                                              moment=moment)})  # fmt: skip


def _tier_review(engine: Engine, moment: datetime) -> JobRun:
    from patron.loyalty.jobs import review_tiers

    with unit_of_work(session_factory(engine)) as session:
        return JobRun("ok", review_tiers(session=session, moment=moment))


JOBS: dict[str, Job] = {
    "outbox": Job("outbox", _outbox, exclusive=False),
    "warnings": Job("warnings", _warnings, exclusive=False),
    "sla": Job(
        "sla",
        _optional(
            "SLA checks",
            (
                ("patron.service.sla", "check_breaches"),
                ("patron.service.tickets", "check_breaches"),
            ),
        ),
    ),
    "scoring": Job("scoring", _scoring),
    "points_expiry": Job(
        "points_expiry",
        _optional(
            "Points expiry",
            (("patron.loyalty.service", "expire_points"), ("patron.loyalty.jobs", "expire_points")),
        ),
    ),
    "follow_ups": Job("follow_ups", _follow_ups),
    "tier_review": Job("tier_review", _tier_review),
}
