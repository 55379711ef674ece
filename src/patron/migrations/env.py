"""Alembic environment: the connection comes from Patron, the metadata from patron.models."""

from alembic import context
from sqlalchemy import inspect

from patron.analytics.snapshot_keys import install_snapshot_keys
from patron.customers import bigrams
from patron.customers.models import install_score_row_trigger
from patron.models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        # Trigram indexes (customer name search) need the extension before any table.
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        # The name pieces' function, for the two-character search index made below.
        connection.exec_driver_sql(bigrams.FUNCTION_SQL)
    context.run_migrations()
    if postgres and inspect(connection).has_table("customers"):
        connection.exec_driver_sql(bigrams.INDEX_SQL)
    if inspect(connection).has_table("score_snapshots"):
        # The snapshots' keys as statement triggers (PostgreSQL; SQLite has the keys).
        install_snapshot_keys(connection)
    if inspect(connection).has_table("customer_scores"):
        # Every customer's score row, made by the database (customers.models.CustomerScore).
        install_score_row_trigger(connection)
