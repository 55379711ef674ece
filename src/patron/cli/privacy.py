"""`patron privacy export CUSTOMER` and `patron privacy erase CUSTOMER` (PIPL / GDPR requests)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from patron.cli.context import emit, state, user_id_named
from patron.db import unit_of_work
from patron.errors import InvalidInput


def export_command(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer's id (external id).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here instead of stdout.")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="User name recorded as exporting.")] = None,
) -> None:
    """Everything Patron holds about one person, as JSON; the export is audited."""
    from patron.privacy import service

    with unit_of_work(state(ctx).sessions) as session:
        customer = service.find(session=session, reference=customer_id)
        document = service.export(
            session=session, customer=customer, user_id=user_id_named(session, by)
        )
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    records = sum(len(rows) for rows in document["records"].values())
    typer.echo(f"wrote {records} records about '{customer_id}' to {out}", err=True)


def erase_command(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer's id (external id).")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Erase without asking: it cannot be undone.")
    ] = False,
    by: Annotated[str | None, typer.Option("--by", help="User name recorded as erasing.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Anonymise one person's personal data; orders stay for the totals. Audited, not undoable."""
    from patron.privacy import service

    if not yes and not (
        sys.stdin.isatty()
        and typer.confirm(
            f"Erase the personal data of '{customer_id}'? This cannot be undone", default=False
        )
    ):
        raise InvalidInput("nothing erased (confirm, or pass --yes)")
    with unit_of_work(state(ctx).sessions) as session:
        customer = service.find(session=session, reference=customer_id)
        erasure = service.erase(
            session=session, customer=customer, user_id=user_id_named(session, by)
        )
    result = erasure.as_dict()

    def human() -> None:
        if erasure.already:
            typer.echo(f"'{customer_id}' was already erased at {result['erased_at']}")
        else:
            changed = ", ".join(f"{n} {t}" for t, n in erasure.changed.items() if n)
            typer.echo(f"erased '{customer_id}': {changed}")

    emit(result, as_json=as_json, human=human)


def register(app: typer.Typer) -> None:
    privacy_app = typer.Typer(
        help="Personal data requests: export or erase one person.", no_args_is_help=True
    )
    privacy_app.command("export")(export_command)
    privacy_app.command("erase")(erase_command)
    app.add_typer(privacy_app, name="privacy")
