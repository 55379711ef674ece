"""`patron kpi [--from DATE] [--to DATE] [--by ...] [--cohorts] [--json]`."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from patron.analytics.cohorts import cohort_retention
from patron.analytics.kpi import headline, monthly
from patron.analytics.kpi_breakdowns import agents, breakdown
from patron.analytics.kpi_period import parse_period
from patron.cli.context import emit, state
from patron.db import now


class By(enum.StrEnum):
    grade = "grade"
    segment = "segment"
    value_class = "value_class"
    channel = "channel"
    owner = "owner"
    agent = "agent"
    month = "month"


HEADLINE = (
    ("active_customers", "Active customers", "count"),
    ("new_customers", "New customers", "count"),
    ("returning_customers", "Returning customers", "count"),
    ("retention_rate", "Retention rate", "share"),
    ("churn_rate", "Churn rate", "share"),
    ("repurchase_rate", "Repurchase rate", "share"),
    ("paid_orders", "Paid orders", "count"),
    ("revenue", "Revenue", "money"),
    ("average_order_value", "Average order value", "money"),
    ("purchase_frequency", "Purchase frequency", "number"),
    ("nps", "NPS", "number"),
    ("csat", "CSAT", "share"),
    ("average_clv", "Average CLV", "money"),
)
GROUP_COLUMNS = (
    ("active_customers", "Active", "count"),
    ("new_customers", "New", "count"),
    ("returning_customers", "Returning", "count"),
    ("retention_rate", "Retention", "share"),
    ("repurchase_rate", "Repurchase", "share"),
    ("revenue", "Revenue", "money"),
    ("average_order_value", "AOV", "money"),
    ("purchase_frequency", "Frequency", "number"),
    ("nps", "NPS", "number"),
    ("csat", "CSAT", "share"),
)
AGENT_COLUMNS = (
    ("follow_ups_due", "Follow-ups due", "count"),
    ("follow_up_completion", "Done on time", "share"),
    ("tickets_due", "Tickets due", "count"),
    ("sla_met_rate", "SLA met", "share"),
    ("csat", "CSAT", "share"),
    ("interactions", "Interactions", "count"),
)
Column = tuple[str, str, str]


def kpi(
    ctx: typer.Context,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD or ISO datetime).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last day, included (default today).")
    ] = None,
    by: Annotated[
        list[By] | None, typer.Option("--by", help="Break the KPIs down (repeatable).")
    ] = None,
    cohorts: Annotated[
        bool, typer.Option("--cohorts", help="Add the monthly acquisition cohort matrix.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Retention, churn, repurchase, NPS, CSAT, active customers, CLV and more for a period."""
    period = parse_period(date_from, date_to, today=now().date())
    cli = state(ctx)
    with cli.engine.connect() as connection:
        result = headline(connection=connection, period=period)
        for dimension in dict.fromkeys(by or []):
            if dimension is By.agent:
                rows = agents(connection=connection, period=period)
            elif dimension is By.month:
                rows = monthly(connection=connection, period=period)
            else:
                rows = breakdown(connection=connection, period=period, by=dimension.value)
            result[f"by_{dimension.value}"] = rows
        if cohorts:
            result["cohorts"] = cohort_retention(connection=connection, period=period)
    emit(result, as_json=as_json, human=lambda: _print(result))


def _print(result: dict[str, Any]) -> None:
    console = Console()
    table = Table("KPI", "Value", title=f"KPIs {result['from']} to {result['to']}")
    for key, label, kind in HEADLINE:
        table.add_row(label, _format(result[key], kind))
    console.print(table)
    for dimension in By:
        rows = result.get(f"by_{dimension.value}")
        if rows is None:
            continue
        if not rows:
            console.print(f"By {dimension.value}: nothing in this period")
            continue
        key = {By.owner: "owner", By.agent: "username"}.get(dimension, dimension.value)
        columns = AGENT_COLUMNS if dimension is By.agent else GROUP_COLUMNS
        console.print(_group_table(f"By {dimension.value}", key, rows, columns))
    if result.get("cohorts"):
        console.print(_cohort_table(result["cohorts"]))
    elif "cohorts" in result:
        console.print("Cohorts: no first purchases in this period")


def _group_table(
    title: str, key: str, rows: list[dict[str, Any]], columns: tuple[Column, ...]
) -> Table:
    shown = [column for column in columns if any(column[0] in row for row in rows)]
    table = Table(key, *(label for _, label, _ in shown), title=title)
    for row in rows:
        cells = [_format(row.get(name), kind) for name, _, kind in shown]
        table.add_row("—" if row[key] is None else str(row[key]), *cells)
    return table


def _cohort_table(rows: list[dict[str, Any]]) -> Table:
    width = max((len(row["retention"]) for row in rows), default=0)
    table = Table("Cohort", "Customers", *(f"M{k}" for k in range(width)), title="Cohorts")
    for row in rows:
        shares = [_format(share, "share") for share in row["retention"]]
        table.add_row(row["cohort"], str(row["customers"]), *shares)
    return table


FORMATS: dict[str, Callable[[Any], str]] = {
    "count": lambda value: f"{value:,}",
    "share": lambda value: f"{value:.1%}",
    "money": lambda value: f"{value:,.2f}",
    "number": lambda value: f"{value:,.2f}",
}


def _format(value: Any, kind: str) -> str:
    return "—" if value is None else FORMATS[kind](value)


def register(app: typer.Typer) -> None:
    app.command("kpi")(kpi)
