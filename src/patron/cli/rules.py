"""`patron rules ...`: the rulebook and its expressions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from patron.cli.context import console, emit, parse_as_of, state
from patron.errors import FileUnreadable, InvalidInput, RuleError
from patron.rules import rulebook as rulebooks
from patron.rules.rulebook import Rulebook

rules_app = typer.Typer(
    help="The rulebook: grades, stages, warnings and actions.", no_args_is_help=True
)


@rules_app.command("check-expr")
def check_expr(
    expression: Annotated[str, typer.Argument(help='A rule expression, e.g. "recency_days > 90".')],
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Accept this extra name too (an earlier rulebook output)."),
    ] = None,
    show_sql: Annotated[bool, typer.Option("--sql", help="Also print the DuckDB SQL.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check one rule expression: print "ok" and its normalised form, or what is wrong."""
    from patron.rules.language import check, compile_duckdb

    try:
        checked = check(expression, allowed=set(allow or ()))
    except RuleError as exc:
        if not as_json:
            raise
        emit({"ok": False, "error": exc.message}, as_json=True)
        raise typer.Exit(1) from None
    result: dict[str, Any] = {
        "ok": True,
        "expression": checked.normalised,
        "features": sorted(checked.features),
    }
    if show_sql:
        result["duckdb"] = compile_duckdb(checked)

    def human() -> None:
        typer.echo(f"ok: {checked.normalised}")
        if show_sql:
            typer.echo(f"duckdb: {result['duckdb']}")

    emit(result, as_json=as_json, human=human)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FileUnreadable(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise FileUnreadable(f"{path} is not UTF-8 text") from exc


def _rulebook(path: Path) -> Rulebook:
    """A rulebook file, parsed and with every expression checked."""
    from patron.rules.engine import check_rulebook

    rulebook = rulebooks.parse(_read(path))
    check_rulebook(rulebook)
    return rulebook


@rules_app.command("show")
def show(
    ctx: typer.Context,
    default: Annotated[bool, typer.Option("--default", help="The built-in rulebook.")] = False,
) -> None:
    """Print the active (or the built-in default) rulebook as YAML."""
    if default:
        typer.echo(rulebooks.default_text(), nl=False)
        return
    from patron.rules import versions

    with state(ctx).engine.connect() as connection:
        version, text = versions.active_text(connection)
    typer.echo(f"# rulebook version {version or 'default (nothing applied yet)'}")
    typer.echo(text, nl=False)


@rules_app.command("check")
def check_file(
    path: Annotated[Path, typer.Argument(help="A rulebook YAML file.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Validate a rulebook file: structure, ids and every expression."""
    rulebook = _rulebook(path)
    counts = {
        section: len(getattr(rulebook, section))
        for section in ("grades", "stages", "segments", "warnings", "care")
    }
    summary = ", ".join(f"{n} {section}" for section, n in counts.items())
    emit({"ok": True, **counts}, as_json=as_json, human=lambda: typer.echo(f"ok: {summary}"))


@rules_app.command("apply")
def apply(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A rulebook YAML file.")],
    note: Annotated[str, typer.Option("--note", help="Why this version.")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make a checked rulebook the active version; earlier versions are kept."""
    from patron.audit.service import record
    from patron.rules import versions

    text = _read(path)
    _rulebook(path)
    with state(ctx).engine.begin() as connection:
        version = versions.apply(connection, text, note=note)
        with Session(bind=connection) as session:
            record(
                session=session,
                action="rules.apply",
                entity="rulebook",
                entity_id=version,
                note=note,
            )
            session.flush()
    emit(
        {"version": version},
        as_json=as_json,
        human=lambda: typer.echo(f"rulebook version {version} is now active"),
    )


@rules_app.command("activate")
def activate(ctx: typer.Context, version: int) -> None:
    """Go back (or forward) to a stored rulebook version."""
    from patron.audit.service import record
    from patron.rules import versions

    with state(ctx).engine.begin() as connection:
        versions.activate(connection, version)
        with Session(bind=connection) as session:
            record(session=session, action="rules.activate", entity="rulebook", entity_id=version)
            session.flush()
    typer.echo(f"rulebook version {version} is now active")


@rules_app.command("history")
def history(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every stored rulebook version, newest first."""
    from patron.rules import versions

    with state(ctx).engine.connect() as connection:
        rows = [
            {
                "version": v.version,
                "active": v.active,
                "note": v.note,
                "created_at": v.created_at.isoformat(timespec="seconds"),
            }
            for v in versions.history(connection)
        ]

    def human() -> None:
        if not rows:
            typer.echo("no rulebook applied yet: the built-in default is active")
        for row in rows:
            mark = "*" if row["active"] else " "
            typer.echo(f"{mark} {row['version']:>4}  {row['created_at']}  {row['note']}")

    emit({"versions": rows}, as_json=as_json, human=human)


@rules_app.command("dry-run")
def dry_run(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The proposed rulebook YAML file.")],
    as_of: Annotated[str | None, typer.Option("--as-of")] = None,
    horizon_days: Annotated[int, typer.Option("--horizon-days", min=1)] = 90,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What the proposed rulebook would change against the active one; changes nothing."""
    from patron.rules.dryrun import dry_run as run_dry

    proposed = _rulebook(path)
    with console.status("evaluating both rulebooks…"):
        result = run_dry(
            engine=state(ctx).engine,
            proposed=proposed,
            as_of=parse_as_of(as_of) if as_of else None,
            horizon_days=horizon_days,
        )
    emit(result, as_json=as_json, human=lambda: _print_dry_run(result))


def _print_dry_run(result: dict[str, Any]) -> None:
    out = Console()
    typer.echo(f"{result['customers']:,} customers as of {result['as_of'][:10]}")
    for section in ("grades", "stages"):
        table = Table(title=f"{section}: {result[section]['changed']:,} would change")
        for column in ("from (active)", "to (proposed)", "customers"):
            table.add_column(column)
        for cell in result[section]["matrix"]:
            table.add_row(str(cell["from"]), str(cell["to"]), f"{cell['customers']:,}")
        out.print(table)
    table = Table(title="warnings fired")
    for column in ("warning", "active", "proposed"):
        table.add_column(column)
    for row in result["warnings"]:
        table.add_row(row["id"], f"{row['active']:,}", f"{row['proposed']:,}")
    out.print(table)
    actions = ", ".join(f"{kind} {n:,}" for kind, n in result["actions"].items())
    typer.echo(f"actions the proposal would take (before cooldowns): {actions or 'none'}")


@rules_app.command("backtest")
def backtest(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="A rulebook file (default: active).")] = None,
    as_of: Annotated[str, typer.Option("--as-of", help="Evaluate as of this date.")] = "",
    until: Annotated[str, typer.Option("--until", help="Measure outcomes up to this date.")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Evaluate a rulebook as of a past date; measure it against what happened until another."""
    from patron.rules import versions
    from patron.rules.backtest import backtest as run_backtest

    if not as_of or not until:
        raise InvalidInput("a backtest needs both --as-of DATE and --until DATE")
    engine = state(ctx).engine
    if path is None:
        with engine.connect() as connection:
            rulebook = versions.active(connection)[1]
    else:
        rulebook = _rulebook(path)
    with console.status("backtesting…"):
        result = run_backtest(
            engine=engine, rulebook=rulebook, as_of=parse_as_of(as_of), until=parse_as_of(until)
        )
    emit(result, as_json=as_json, human=lambda: _print_backtest(result))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print_backtest(result: dict[str, Any]) -> None:
    out = Console()
    typer.echo(
        f"{result['customers']:,} customers as of {result['as_of']}, outcomes to "
        f"{result['until']}; base rate of no purchase {_percent(result['base_rate'])}"
    )
    table = Table(title="warnings")
    for column in ("warning", "flagged", "precision", "recall", "lift"):
        table.add_column(column)
    for row in result["warnings"]:
        lift = "-" if row["lift"] is None else f"{row['lift']:.2f}"
        table.add_row(
            row["id"],
            f"{row['flagged']:,}",
            _percent(row["precision"]),
            _percent(row["recall"]),
            lift,
        )
    out.print(table)
    table = Table(title="grades")
    for column in ("grade", "customers", "share of future revenue"):
        table.add_column(column)
    for row in result["grades"]:
        table.add_row(
            str(row["grade"]), f"{row['customers']:,}", _percent(row["future_revenue_share"])
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Attach the `rules` group to the root app."""
    app.add_typer(rules_app, name="rules")
