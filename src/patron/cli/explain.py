"""`patron explain CUSTOMER_ID`: why a customer has its grade, stage and warnings."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import select

from patron.cli.context import emit, state
from patron.errors import NotFound


def explain(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer's external id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The latest scoring run's decisions for one customer, with the values behind them."""
    from patron.analytics.models import ScoreSnapshot, ScoringRun
    from patron.customers.models import Customer

    with state(ctx).sessions() as session:
        row = session.execute(
            select(ScoreSnapshot, ScoringRun.as_of, ScoringRun.rulebook_version)
            .join(Customer, Customer.id == ScoreSnapshot.customer_id)
            .join(ScoringRun, ScoringRun.id == ScoreSnapshot.run_id)
            .where(Customer.external_id == customer_id, ScoringRun.status == "finished")
            .order_by(ScoringRun.as_of.desc(), ScoringRun.id.desc())
            .limit(1)
        ).first()
    if row is None:
        raise NotFound(f"no scores for customer '{customer_id}': run `patron score` first")
    snapshot = row[0]
    result = {
        "customer_id": customer_id,
        "as_of": row.as_of.isoformat(),
        "rulebook_version": row.rulebook_version,
        "grade": snapshot.grade,
        "stage": snapshot.stage,
        "warnings": snapshot.warnings.split(";") if snapshot.warnings else [],
        "churn_risk": snapshot.churn_risk,
        "clv": snapshot.clv,
        "explain": snapshot.explain,
    }
    emit(result, as_json=as_json, human=lambda: _print(result))


def _values(values: dict[str, Any] | None) -> str:
    return ", ".join(f"{name} = {value}" for name, value in (values or {}).items()) or "-"


def _print(result: dict[str, Any]) -> None:
    why = result["explain"]
    typer.echo(
        f"{result['customer_id']} as of {result['as_of'][:10]} "
        f"(rulebook {result['rulebook_version'] or 'default'})"
    )
    typer.echo(
        f"grade {result['grade']}: rule {why['grade']['rule']} because "
        f"{_values(why['grade']['values'])}"
    )
    typer.echo(
        f"stage {result['stage']}: rule {why['stage']['rule']} because "
        f"{_values(why['stage']['values'])}"
    )
    for warning, values in (why.get("warnings") or {}).items():
        typer.echo(f"warning {warning}: {_values(values)}")
    if why.get("churn_drivers"):
        typer.echo(f"churn risk {result['churn_risk']:.2f}, driven by {why['churn_drivers']}")
    for offer in why.get("offers") or []:
        typer.echo(f"offer {offer['product']} {offer['name']} ({offer['reason']})")


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
