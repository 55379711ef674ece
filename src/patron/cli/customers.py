"""`patron customer check-duplicates` and `patron customer merge`, by external customer ids."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from patron.cli.context import emit, state, user_id_named
from patron.customers import service
from patron.customers.dedupe import Candidate, Match, find_duplicates
from patron.customers.models import CustomerKind
from patron.customers.schemas import CustomerIn, DedupePolicy
from patron.db import unit_of_work
from patron.errors import InvalidInput


def _show_matches(matches: list[Match]) -> None:
    if not matches:
        typer.echo("no duplicates found")
    for match in matches:
        typer.echo(f"{match.describe()} [score {match.score:.0f}]")


def check_duplicates(
    ctx: typer.Context,
    customer_id: Annotated[
        str | None, typer.Argument(help="An existing customer to check against the others.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of a customer to check.")] = None,
    kind: Annotated[CustomerKind, typer.Option("--kind")] = CustomerKind.person,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    company: Annotated[str | None, typer.Option("--company")] = None,
    credit_code: Annotated[str | None, typer.Option("--credit-code")] = None,
    city: Annotated[str | None, typer.Option("--city")] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Fuzzy name similarity needed, 0-100.")
    ] = 90.0,
    as_user: Annotated[
        str | None, typer.Option("--as", help="User name to tell your customers from others'.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the customers a customer (existing, or described by options) probably duplicates."""
    given = {
        "name": name,
        "kind": kind,
        "phone": phone,
        "email": email,
        "company": company,
        "credit_code": credit_code,
        "city": city,
    }
    if (customer_id is None) == (name is None):
        raise InvalidInput("give either an existing customer id or --name (and other keys)")
    policy = DedupePolicy.parse({"threshold": threshold})
    with unit_of_work(state(ctx).sessions) as session:
        exclude_id = None
        if customer_id is not None:
            existing = service.by_external_id(session=session, external_id=customer_id)
            candidate = Candidate.of(existing)
            exclude_id = existing.id
        else:
            candidate = Candidate.of(CustomerIn.parse({k: v for k, v in given.items() if v}))
        matches = find_duplicates(
            session=session,
            candidate=candidate,
            policy=policy,
            exclude_id=exclude_id,
            acting_user_id=user_id_named(session, as_user),
        )
    result = {"matches": [match.as_dict() for match in matches]}
    emit(result, as_json=as_json, human=lambda: _show_matches(matches))


def _show_merge(result: dict[str, Any]) -> None:
    moved = ", ".join(f"{count} {name}" for name, count in result["moved"].items() if count)
    typer.echo(f"merged '{result['source']}' into '{result['into']}'")
    typer.echo(f"moved: {moved or 'nothing'}")
    if result["filled"]:
        typer.echo(f"filled: {', '.join(result['filled'])}")


def merge(
    ctx: typer.Context,
    source_id: Annotated[str, typer.Argument(help="The customer that goes away.")],
    into_id: Annotated[str, typer.Argument(help="The customer that stays.")],
    by: Annotated[str | None, typer.Option("--by", help="User name recorded as merging.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Merge one customer into another: its history moves over and it is marked merged."""
    with unit_of_work(state(ctx).sessions) as session:
        source = service.by_external_id(session=session, external_id=source_id)
        into = service.by_external_id(session=session, external_id=into_id)
        report = service.merge(
            session=session,
            source_id=source.id,
            into_id=into.id,
            user_id=user_id_named(session, by),
        )
    result = {
        "source": source_id,
        "into": into_id,
        "moved": report.moved,
        "filled": list(report.filled),
    }
    emit(result, as_json=as_json, human=lambda: _show_merge(result))


def register(app: typer.Typer) -> None:
    customer_app = typer.Typer(help="Customers: duplicate checks and merges.", no_args_is_help=True)
    customer_app.command("check-duplicates")(check_duplicates)
    customer_app.command("merge")(merge)
    app.add_typer(customer_app, name="customer")
