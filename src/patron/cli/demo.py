"""`patron demo`: init, load the demo data set, score it, print the logins and serve."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from patron.cli.context import console, emit, state
from patron.config import get_settings
from patron.db import now
from patron.errors import InvalidInput

if TYPE_CHECKING:
    from patron.demo.generator import DemoSpec
    from patron.demo.loader import LoadReport

SCORING_MODULES = ("patron.rules.runs", "patron.analytics.pipeline")


def _end(as_of: str | None) -> datetime:
    """The data's end: now, or the end of the given day, or the given moment."""
    if as_of is None:
        return now()
    text = as_of.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59))
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError as exc:
        raise InvalidInput(f"'{as_of}' is not a date: use YYYY-MM-DD or an ISO datetime") from exc


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error; yields the function that advances it."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # No drawing thread: the demo load forks its generating process (`background`).
    with Progress(*columns, console=console, transient=True, auto_refresh=False) as bar:
        task = bar.add_task(label, total=total)
        bar.refresh()

        def advance(done: int) -> None:
            bar.advance(task, done)
            bar.refresh()

        yield advance


def _scoring_function() -> Callable[..., Any] | None:
    """Patron's scoring entry point, when this installation has one."""
    for module_name in SCORING_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        found: Callable[..., Any] | None = getattr(module, "run_scoring", None)
        if callable(found):
            return found
    return None


def _score(engine: Engine, as_of: datetime | None) -> dict[str, Any] | None:
    """Score the demo customers as of the data's end; None when scoring is not available."""
    run_scoring = _scoring_function()
    if run_scoring is None:
        console.print("scoring is not available yet: skipped")
        return None
    with console.status("scoring the demo customers…"):
        outcome = run_scoring(engine=engine, as_of=as_of, horizon_days=90)
    result = outcome.as_dict() if hasattr(outcome, "as_dict") else {}
    return {
        "customers": result.get("customers"),
        "run_id": result.get("run_id"),
        "grades": result.get("grades", {}),
        "stages": result.get("stages", {}),
    }


def _print_report(report: LoadReport, scoring: dict[str, Any] | None) -> None:
    if report.status == "kept":
        typer.echo("the demo data is already loaded and was kept (use --replace to load it afresh)")
    typer.echo("rows per table:")
    for name, count in report.tables.items():
        typer.echo(f"  {name:<18} {count:>12,}")
    typer.echo("customers per profile:")
    for name, count in sorted(report.profiles.items()):
        typer.echo(f"  {name:<18} {count:>12,}")
    if scoring is not None:
        grades = ", ".join(f"{k} {v:,}" for k, v in scoring["grades"].items())
        typer.echo(
            f"scored {scoring['customers'] or 0:,} customers" + (f": {grades}" if grades else "")
        )
    typer.echo("demo logins (passwords are new on every run):")
    for login in report.logins:
        team = f", team {login.team}" if login.team else ""
        typer.echo(f"  {login.username:<14} {login.password:<18} {login.role}{team}")


def _serve(ctx: typer.Context) -> None:
    """Serve the web app on http://127.0.0.1:8000 when this installation has its pages."""
    if importlib.util.find_spec("patron.web.pages") is None:
        console.print("the web app is not available yet: not serving")
        return
    from patron.cli.serve import serve

    # Called directly: re-entering the command line would parse the root's options again.
    serve(ctx)


def _export(spec: DemoSpec, out: Path, as_json: bool) -> None:
    from patron.demo.export import export_csv

    with _progress(spec.customers, "writing CSV files") as advance:
        counts = export_csv(spec, out, progress=advance)
    result = {"folder": str(out), "files": {f"{name}.csv": n for name, n in counts.items()}}

    def human() -> None:
        typer.echo(f"wrote the demo data set to {out}:")
        for name, count in counts.items():
            typer.echo(f"  {name + '.csv':<18} {count:>12,} rows")

    emit(result, as_json=as_json, human=human)


def demo(
    ctx: typer.Context,
    customers: Annotated[int, typer.Option("--customers", help="How many customers.")] = 5_000,
    locale: Annotated[
        str | None, typer.Option("--locale", help="zh_CN or en (default: PATRON_LOCALE).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same data.")] = 42,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Do not start the web app.")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The data's end date (default: now).")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Clear demo data already loaded and load afresh.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write import CSV files here instead of loading.")
    ] = None,
    orders_per_customer: Annotated[
        float | None, typer.Option("--orders-per-customer", help="Average orders per customer.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Init, load generated demo data, score it and serve (unless --no-serve)."""
    from patron.demo.generator import DemoSpec  # Faker and NumPy load only for this command
    from patron.demo.loader import load
    from patron.schema import migrate

    spec = DemoSpec(
        end=_end(as_of),
        customers=customers,
        locale=locale or get_settings().locale,
        seed=seed,
        orders_per_customer=orders_per_customer,
    )
    if out is not None:
        _export(spec, out, as_json)
        return
    cli = state(ctx)
    migrate(cli.engine)
    with _progress(spec.customers, "loading demo customers") as advance:
        report = load(cli.engine, spec, replace=replace, progress=advance)
    scoring = _score(cli.engine, spec.end if as_of else None)
    result = {
        "status": report.status,
        "tables": report.tables,
        "profiles": report.profiles,
        "scoring": scoring,
        "logins": [login.__dict__ for login in report.logins],
    }
    emit(result, as_json=as_json, human=lambda: _print_report(report, scoring))
    if not no_serve:
        _serve(ctx)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
