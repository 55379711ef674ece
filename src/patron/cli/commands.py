"""The command groups, each in its own module."""

from __future__ import annotations

import typer

from patron.cli import admin, customers, transfer


def register(app: typer.Typer) -> None:
    """Attach every command to the root app."""
    admin.register(app)
    customers.register(app)
    transfer.register(app)
