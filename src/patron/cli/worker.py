"""`patron worker [--once] [--now] [--jobs a,b]`: scheduled jobs, outbox delivery and warning
refreshes."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated, Any

import typer

from patron.cli.context import emit, state


def _names(jobs: str | None) -> list[str] | None:
    from patron.worker.jobs import JOBS

    if not jobs:
        return None
    names = [name.strip() for name in jobs.split(",") if name.strip()]
    unknown = [name for name in names if name not in JOBS]
    if unknown or not names:
        raise typer.BadParameter(
            f"unknown job {', '.join(unknown) or '(none given)'}; choose from {', '.join(JOBS)}",
            param_hint="--jobs",
        )
    return names


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run what is due once, then exit.")] = False,
    run_now: Annotated[
        bool, typer.Option("--now", help="With --once: run the jobs even if not yet due.")
    ] = False,
    jobs: Annotated[
        str | None,
        typer.Option(
            "--jobs",
            help="Comma-separated: outbox, warnings, sla, scoring, points_expiry, tier_review,"
            " follow_ups.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run the scheduled jobs (scoring, SLA checks, points expiry) and deliver notifications."""
    from patron.worker.runner import Worker

    if run_now and not once:
        raise typer.BadParameter("--now only goes with --once", param_hint="--now")
    names = _names(jobs)
    cli = state(ctx)
    runner = Worker.build(cli.engine, names)
    if once:
        done = runner.tick(force=run_now)
        result: dict[str, Any] = {
            name: {"status": run.status, **run.summary} for name, run in done.items()
        }
        emit({"worker": runner.name, "jobs": result}, as_json=as_json)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    typer.echo(f"worker {runner.name} running {', '.join(runner.jobs)} (Ctrl-C stops it)")
    runner.run(stop)
    typer.echo("worker stopped")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
