"""`patron score`: features, models, grades, stages, warnings and actions as of a date."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from patron.cli.context import console, emit, parse_as_of, state

if TYPE_CHECKING:
    from patron.analytics.pipeline import ModelChoice
    from patron.rules.runs import ScoringOutcome


def score(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD or an ISO datetime (default: now).")
    ] = None,
    horizon_days: Annotated[int, typer.Option("--horizon-days", min=1, max=3650)] = 90,
    model: Annotated[str, typer.Option("--model", help="bgnbd, pnbd or auto.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score every customer using only data dated on or before the as-of date."""
    if model not in ("bgnbd", "pnbd", "auto"):
        raise typer.BadParameter("choose bgnbd, pnbd or auto", param_hint="--model")
    from patron.rules.runs import run_scoring  # heavy: imported when the command runs

    cli = state(ctx)
    when = parse_as_of(as_of) if as_of else None
    with console.status("scoring customers…"):
        outcome = run_scoring(
            engine=cli.engine, as_of=when, horizon_days=horizon_days, model=_choice(model)
        )
    emit(outcome.as_dict(), as_json=as_json, human=lambda: _print(outcome))


def _choice(model: str) -> ModelChoice:
    return "bgnbd" if model == "bgnbd" else "pnbd" if model == "pnbd" else "auto"


def _print(outcome: ScoringOutcome) -> None:
    out = Console()
    kind = "run" if outcome.live else "backfill run (snapshots only, no actions)"
    typer.echo(
        f"scored {outcome.customers:,} customers as of {outcome.as_of:%Y-%m-%d %H:%M} "
        f"({kind} #{outcome.run_id}, rulebook {outcome.rulebook_version or 'default'}, "
        f"purchase model {outcome.purchase_model or 'none'})"
    )
    for title, counts in (
        ("grade", outcome.grades),
        ("stage", outcome.stages),
        ("warning", outcome.warnings),
        ("action", outcome.applied),
    ):
        table = Table(title=None, show_edge=False)
        table.add_column(title)
        table.add_column("customers" if title != "action" else "count", justify="right")
        for key, value in counts.items():
            table.add_row(str(key), f"{value:,}")
        if counts:
            out.print(table)
    churn: dict[str, Any] = outcome.models.get("churn", {})
    if churn.get("method") == "heuristic":
        typer.echo(f"churn risk: heuristic ({churn.get('reason')})")
    elif churn:
        typer.echo(
            f"churn risk: model, validation AUC {churn.get('auc')}, Brier {churn.get('brier')}"
        )


def register(app: typer.Typer) -> None:
    app.command("score")(score)
