"""The command groups, each in its own module."""

from __future__ import annotations

import typer

from patron.cli import admin, customers, transfer
from patron.cli import backup as backup_commands
from patron.cli import demo as demo_commands
from patron.cli import explain as explain_commands
from patron.cli import kpi as kpi_commands
from patron.cli import models as model_commands
from patron.cli import privacy as privacy_commands
from patron.cli import rules as rules_commands
from patron.cli import score as score_commands
from patron.cli import serve as serve_commands
from patron.cli import spark as spark_commands
from patron.cli import worker as worker_commands


def register(app: typer.Typer) -> None:
    """Attach every command to the root app."""
    admin.register(app)
    backup_commands.register(app)
    customers.register(app)
    demo_commands.register(app)
    explain_commands.register(app)
    kpi_commands.register(app)
    model_commands.register(app)
    privacy_commands.register(app)
    rules_commands.register(app)
    score_commands.register(app)
    serve_commands.register(app)
    spark_commands.register(app)
    transfer.register(app)
    worker_commands.register(app)
